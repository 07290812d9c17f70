//! The checks the fuzz targets run: [`config`] for the config loader and
//! the relabel engine; below, one per exposition format. Any input
//! must not panic, and all of these must agree:
//!
//! - counting the whole buffer;
//! - streaming it in any split: a data-derived split point, data-derived
//!   chunk lengths, and 1-byte chunks;
//! - the visitor path (every counted sample is visited, every label
//!   iterates) and, for text formats, the pull parser and the naive
//!   reference parser (same samples, names and labels, same error line);
//! - the strict validator, whole and chunked: its counts are the counter's,
//!   and it never accepts a body the counter rejects;
//! - the decoder stage: identity and gzip-compressed bodies count the same.

pub mod config;

use std::io::Write;

use promshard_parser::{
    Counts, DecodingCounter, Encoding, Entry, Format, Parser, SampleRef, StreamCounter, Validator,
    count, reference, validate,
};

/// Bodies above this size skip the gzip round trip (compressing costs more
/// than everything else together).
const GZIP_UP_TO: usize = 4096;

fn stream(data: &[u8], format: Format, cuts: impl IntoIterator<Item = usize>) -> Counts {
    let mut c = StreamCounter::new(format);
    let mut start = 0;
    for cut in cuts {
        let end = cut.clamp(start, data.len());
        c.feed(&data[start..end]);
        start = end;
    }
    c.feed(&data[start..]);
    c.finish()
}

/// Chunk boundaries from the data itself: each byte (mod 16, plus 1) is the
/// length of the next chunk, so the fuzzer explores splits as it mutates.
fn data_cuts(data: &[u8]) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut at = 0;
    for &b in data.iter().rev() {
        at += usize::from(b % 16) + 1;
        if at >= data.len() {
            break;
        }
        cuts.push(at);
    }
    cuts
}

type Seen = Vec<(String, Vec<(String, String)>)>;

/// Runs every check on `data` read as `format`; panics (a fuzz finding) on
/// any disagreement.
pub fn check(data: &[u8], format: Format) {
    let whole = count(data, format);

    // Streaming.
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    assert_eq!(stream(data, format, [split]), whole, "split at {split}");
    assert_eq!(stream(data, format, data_cuts(data)), whole, "data cuts");
    assert_eq!(stream(data, format, 1..data.len()), whole, "1-byte chunks");

    // Counting path == full parse: every counted sample is visited, and
    // every label iterates.
    let mut seen: Seen = Vec::new();
    let mut v = |s: &SampleRef<'_>| {
        let labels = s
            .labels()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        seen.push((s.metric_name().into_owned(), labels));
        let _ = s.value();
        let _ = s.timestamp_ms();
    };
    let mut c = StreamCounter::new(format);
    for piece in data.chunks(7) {
        c.feed_with(piece, &mut v);
    }
    let counts = c.finish_with(&mut v);
    assert_eq!(counts, whole, "visitor");
    assert_eq!(seen.len() as u64, whole.samples, "visited samples");
    let per_family: u64 = whole.families().map(|(_, n)| n).sum();
    assert_eq!(per_family, whole.samples, "families add up");

    if format != Format::Protobuf {
        // Pull parser.
        let (mut n, mut err) = (0u64, None);
        for e in Parser::new(data, format) {
            match e {
                Ok(Entry::Sample(_)) => n += 1,
                Ok(_) => {}
                Err(e) => err = Some(e),
            }
        }
        assert_eq!(n, whole.samples, "pull parser count");
        assert_eq!(err, whole.error, "pull parser error");

        // The naive reference parser.
        let r = reference::parse(data, format == Format::OpenMetrics);
        let ref_seen: Seen = r
            .samples
            .iter()
            .map(|s| (s.name.clone(), s.labels.clone()))
            .collect();
        assert_eq!(seen, ref_seen, "reference samples");
        assert_eq!(
            whole.error.as_ref().map(|e| e.line()),
            r.error_line,
            "reference error line ({:?})",
            whole.error
        );
    }

    // The validator.
    let report = validate(data, format);
    assert_eq!(report.counts, whole, "validator counts");
    if whole.error.is_some() {
        assert!(report.error.is_some(), "validator accepts a rejected body");
    }
    let mut chunked = Validator::new(format);
    for cut in data.chunks(data.len().div_ceil(3).max(1)) {
        chunked.feed(cut);
    }
    assert_eq!(chunked.finish(), report, "chunked validator");

    // The decoder stage.
    let mut d = DecodingCounter::new(format, Encoding::Identity);
    d.feed(data);
    assert_eq!(d.finish(), whole, "identity decoder");
    if data.len() <= GZIP_UP_TO {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if enc.write_all(data).is_ok()
            && let Ok(gz) = enc.finish()
        {
            let mut d = DecodingCounter::new(format, Encoding::Gzip);
            for piece in gz.chunks(5) {
                d.feed(piece);
            }
            assert_eq!(d.finish(), whole, "gzip decoder");
        }
    }
}
