//! gzip and deflate bodies through the decoder stage, in every chunking.

// Test helpers outside #[test] fns: a panic there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::io::Write;

use flate2::write::{DeflateEncoder, ZlibEncoder};
use promshard_parser::{DecodingCounter, Encoding, Format, count};
use promshard_test_support::{Compression, gzip, gzip_at};

fn corpus() -> Vec<u8> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/corpus/node_exporter.prom");
    std::fs::read(p).expect("corpus file")
}

fn decode_count(encoded: &[u8], enc: Encoding, chunk: usize) -> promshard_parser::Counts {
    let mut c = DecodingCounter::new(Format::Text, enc);
    for piece in encoded.chunks(chunk) {
        c.feed(piece);
    }
    c.finish()
}

#[test]
fn gzip_zlib_and_raw_deflate_count_like_plain() {
    let plain = corpus();
    let want = count(&plain, Format::Text);
    assert_eq!(want.samples, 507);
    let gz = gzip(&plain);
    let mut zl = ZlibEncoder::new(Vec::new(), Compression::default());
    zl.write_all(&plain).unwrap();
    let zl = zl.finish().unwrap();
    let mut raw = DeflateEncoder::new(Vec::new(), Compression::default());
    raw.write_all(&plain).unwrap();
    let raw = raw.finish().unwrap();
    for (body, enc) in [
        (&gz, Encoding::Gzip),
        (&zl, Encoding::Deflate),
        (&raw, Encoding::Deflate),
    ] {
        for chunk in [1usize, 7, 1000, 1 << 20] {
            assert_eq!(
                decode_count(body, enc, chunk),
                want,
                "{enc:?} chunk {chunk}"
            );
        }
    }
    // Two gzip members, as Go's gzip reader accepts.
    let mut two = gz.clone();
    two.extend_from_slice(&gz);
    let got = decode_count(&two, Encoding::Gzip, 4096);
    assert_eq!(got.samples, 1014);
}

#[test]
fn truncated_or_corrupt_gzip_is_an_error() {
    let gz = gzip_at(&corpus(), Compression::fast());
    let got = decode_count(&gz[..gz.len() / 2], Encoding::Gzip, 512);
    assert!(got.error.is_some());
    assert!(got.samples < 507);
    let mut bad = gz.clone();
    bad[20] ^= 0xff;
    bad[21] ^= 0xff;
    let got = decode_count(&bad, Encoding::Gzip, 512);
    assert!(got.error.is_some());
}

/// Decoding goes on after counting stops, so a compressed body reports the
/// same figures as the plain one (fuzz finding: `bytes` stopped at the
/// error line).
#[test]
fn compressed_body_counts_like_plain_after_an_error_or_the_end() {
    let bodies: [(&[u8], Format); 3] = [
        (b"a 1\nbad line\nb 2\nc 3\n", Format::Text),
        (b"a 1\n\0rest is ignored\nb 2\n", Format::Text),
        (b"a 1\n# EOF\nb 2\n", Format::OpenMetrics),
    ];
    for (plain, format) in bodies {
        let want = count(plain, format);
        let gz = gzip_at(plain, Compression::fast());
        for chunk in [1usize, 5, gz.len()] {
            let mut c = DecodingCounter::new(format, Encoding::Gzip);
            for piece in gz.chunks(chunk) {
                c.feed(piece);
            }
            assert_eq!(c.finish(), want, "{plain:?} in {chunk}-byte chunks");
        }
        // A corrupt stream after the point where counting stopped is still
        // a failed body, as Prometheus reads the whole body first.
        let mut cut = gz.clone();
        cut.truncate(gz.len() - 4);
        let mut c = DecodingCounter::new(format, Encoding::Gzip);
        c.feed(&cut);
        assert!(c.finish().error.is_some(), "{plain:?} truncated");
    }
}

/// Memory for such a body is measured in `memory_bound.rs`.
#[test]
fn highly_compressible_body_counts() {
    let line = b"some_metric{label=\"value\"} 1\n";
    let gz = gzip_at(&line.repeat(200_000), Compression::best());
    let got = decode_count(&gz, Encoding::Gzip, 64 * 1024);
    assert_eq!(got.samples, 200_000);
    assert_eq!(got.bytes, 200_000 * line.len() as u64);
}

#[test]
fn headers_map_to_encodings() {
    assert_eq!(Encoding::from_header(None), Some(Encoding::Identity));
    assert_eq!(Encoding::from_header(Some("GZIP")), Some(Encoding::Gzip));
    assert_eq!(
        Encoding::from_header(Some("deflate")),
        Some(Encoding::Deflate)
    );
    assert_eq!(Encoding::from_header(Some("br")), None);
}
