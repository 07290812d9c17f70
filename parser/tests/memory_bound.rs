//! Memory per stream is bounded by the line cap and the decoder's buffers,
//! not by the body: measured with a global allocator that records the peak
//! bytes allocated.
//!
//! This file holds one test on purpose. The allocator is process-wide, so a
//! second test running on another thread would add its own allocations to
//! the peak.

// Test helpers outside #[test] fns: a panic there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use peak_alloc::PeakAlloc;
use promshard_parser::{DecodingCounter, Encoding, Format, StreamCounter, count};
use promshard_test_support::{Compression, gzip_at};

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// Far above what the decoder keeps (a 2 MiB whole-body buffer, a 128 KiB
/// gathering buffer, 64 KiB inflate output, the carried partial line) and
/// far below the bodies fed here (16 MiB and more).
const BOUND: usize = 4 << 20;

const LINE: &[u8] = b"some_metric{label=\"value\"} 1\n";

/// Peak bytes allocated above what was live when `run` started.
fn peak_during<T>(run: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let out = run();
    (out, ALLOCATOR.peak_usage().saturating_sub(before))
}

#[test]
fn streamed_bodies_are_counted_in_bounded_memory() {
    // One 16 MiB member: small enough compressed for the whole-body path,
    // too large inflated for it, so it falls back to streaming.
    let member_plain = LINE.repeat((16 << 20) / LINE.len());
    let one_member = gzip_at(&member_plain, Compression::best());
    // 64 members of 1 MiB: 64 MiB inflated; the compressed body passes the
    // gathering limit part way through and streams from there.
    let small_plain = LINE.repeat((1 << 20) / LINE.len());
    let small_member = gzip_at(&small_plain, Compression::best());
    let many_members = small_member.repeat(64);
    let lines_per_small = (small_plain.len() / LINE.len()) as u64;
    let want_one = count(&member_plain, Format::Text);
    drop(small_plain);

    for (name, body, want_samples) in [
        ("one member", &one_member, want_one.samples),
        ("64 members", &many_members, 64 * lines_per_small),
    ] {
        for chunk in [1024, 64 * 1024] {
            let (got, peak) = peak_during(|| {
                let mut counter = DecodingCounter::new(Format::Text, Encoding::Gzip);
                for piece in body.chunks(chunk) {
                    counter.feed(piece);
                }
                counter.finish()
            });
            eprintln!("{name}, {chunk}-byte chunks: peak {peak} bytes");
            assert_eq!(got.error, None, "{name}, {chunk}-byte chunks");
            assert_eq!(got.samples, want_samples, "{name}, {chunk}-byte chunks");
            assert!(
                peak < BOUND,
                "{name}, {chunk}-byte chunks: peak {peak} bytes, bound {BOUND}"
            );
        }
    }

    // Plain text streamed in small chunks keeps the carried partial line only.
    let (got, peak) = peak_during(|| {
        let mut counter = StreamCounter::new(Format::Text);
        for piece in member_plain.chunks(1000) {
            counter.feed(piece);
        }
        counter.finish()
    });
    assert_eq!(got, want_one);
    assert!(peak < BOUND, "plain text: peak {peak} bytes, bound {BOUND}");

    // The allocator does see the whole body when one is built: the
    // measurement above is not blind.
    let (whole, peak) = peak_during(|| std::hint::black_box(member_plain.repeat(1)).len());
    assert_eq!(whole, member_plain.len());
    assert!(peak >= member_plain.len(), "peak {peak} bytes");
}
