//! Parser throughput: promshard vs peer crates, on the same corpora.
//!
//! Every benchmark first asserts that the implementation finds the expected
//! sample count, so a fast wrong answer fails instead of being measured.
//! A peer that miscounts a corpus is reported and left out of that row.
//!
//! Run: `cargo bench -p promshard-benches --bench parser` (about 10 minutes
//! on 2 cores; `PROMSHARD_BENCH_PEERS=0` leaves the peers out), then
//! `python3 benches/report.py` for the tables of BENCHMARKS.md.

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use promshard_benches::{
    Corpus, gzip, inflate_only, large_corpora, peers, promshard_count, promshard_gzip_count,
    promshard_stream_count, real_corpora,
};

static LARGE: LazyLock<(Vec<Corpus>, Vec<Corpus>, Vec<Corpus>)> = LazyLock::new(large_corpora);

/// Network-sized chunks for the streaming and gzip paths.
const CHUNK: usize = 64 * 1024;

fn text_of(corpus: &Corpus) -> &str {
    std::str::from_utf8(&corpus.bytes).unwrap_or_default()
}

/// A peer parse slower than this is timed once instead of by criterion, so
/// the whole run stays bounded (some peers are quadratic in family size).
const ONE_SHOT_ABOVE: Duration = Duration::from_secs(1);

/// Runs the peer once: its count must be right, and it must be fast enough
/// for criterion's repeated runs. Prints why when a row is left out.
fn check_peer(peer: &str, corpus: &Corpus, run: impl FnOnce() -> Option<u64>) -> bool {
    // `PROMSHARD_BENCH_PEERS=0`: promshard only (profiling, quick reruns).
    if std::env::var_os("PROMSHARD_BENCH_PEERS").is_some_and(|v| v == "0") {
        return false;
    }
    let started = Instant::now();
    let found = run();
    let took = started.elapsed();
    if found != Some(corpus.samples) {
        println!(
            "NOT MEASURED: {peer} on {}: found {found:?} samples, expected {}",
            corpus.name, corpus.samples
        );
        return false;
    }
    if took > ONE_SHOT_ABOVE {
        println!(
            "ONE-SHOT: {peer} on {}: {:.2} s for {} bytes = {:.4} GB/s (too slow for repeated runs)",
            corpus.name,
            took.as_secs_f64(),
            corpus.bytes.len(),
            corpus.bytes.len() as f64 / took.as_secs_f64() / 1e9
        );
        return false;
    }
    true
}

/// Asserts promshard's count on `corpus` (and, with `stream`, its count in
/// 64 KiB chunks), then times the same calls.
fn bench_promshard(group: &mut BenchmarkGroup<'_, WallTime>, corpus: &Corpus, stream: bool) {
    assert_eq!(
        promshard_count(corpus),
        corpus.samples,
        "promshard on {}",
        corpus.name
    );
    if stream {
        assert_eq!(
            promshard_stream_count(corpus, CHUNK),
            corpus.samples,
            "{}",
            corpus.name
        );
    }
    group.throughput(Throughput::Bytes(corpus.bytes.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("promshard", &corpus.name),
        corpus,
        |b, c| {
            b.iter(|| promshard_parser::count(black_box(&c.bytes), c.format).samples);
        },
    );
    if stream {
        group.bench_with_input(
            BenchmarkId::new("promshard-stream-64k", &corpus.name),
            corpus,
            |b, c| b.iter(|| promshard_stream_count(black_box(c), CHUNK)),
        );
    }
}

/// Times `run` on `input` (the body of `corpus`, as the peer takes it) when
/// [`check_peer`] finds its count right and its speed measurable.
fn bench_peer<I: ?Sized>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    peer: &str,
    corpus: &Corpus,
    input: &I,
    run: impl Fn(&I) -> Option<u64>,
) {
    if check_peer(peer, corpus, || run(input)) {
        group.bench_with_input(BenchmarkId::new(peer, &corpus.name), input, |b, i| {
            b.iter(|| run(black_box(i)));
        });
    }
}

fn count_text(c: &mut Criterion) {
    let mut corpora = real_corpora();
    corpora.extend(LARGE.0.iter().cloned());
    let mut group = c.benchmark_group("count_text");
    group.sampling_mode(SamplingMode::Flat);
    for corpus in &corpora {
        bench_promshard(&mut group, corpus, true);
        let text = text_of(corpus);
        bench_peer(
            &mut group,
            "prometheus-parse",
            corpus,
            text,
            peers::prometheus_parse,
        );
        bench_peer(
            &mut group,
            "openmetrics-parser",
            corpus,
            text,
            peers::openmetrics_parser_text,
        );
    }
    group.finish();
}

fn count_openmetrics(c: &mut Criterion) {
    let mut group = c.benchmark_group("count_openmetrics");
    group.sampling_mode(SamplingMode::Flat);
    for corpus in &LARGE.1 {
        bench_promshard(&mut group, corpus, false);
        bench_peer(
            &mut group,
            "openmetrics-parser",
            corpus,
            text_of(corpus),
            peers::openmetrics_parser_om,
        );
    }
    group.finish();
}

fn count_protobuf(c: &mut Criterion) {
    let mut group = c.benchmark_group("count_protobuf");
    group.sampling_mode(SamplingMode::Flat);
    for corpus in &LARGE.2 {
        bench_promshard(&mut group, corpus, true);
        bench_peer(
            &mut group,
            "prost",
            corpus,
            corpus.bytes.as_slice(),
            peers::prost,
        );
    }
    group.finish();
}

/// gzip end to end: inflate + count, throughput in DECOMPRESSED bytes.
fn gzip_end_to_end(c: &mut Criterion) {
    let mut corpora: Vec<Corpus> = real_corpora().into_iter().take(1).collect();
    corpora.extend(LARGE.0.iter().take(2).cloned());
    corpora.extend(LARGE.2.iter().take(1).cloned());
    let mut group = c.benchmark_group("gzip_count");
    group.sampling_mode(SamplingMode::Flat);
    for corpus in &corpora {
        let gz = gzip(&corpus.bytes);
        let name = format!("{}-{}", corpus.name, corpus.format.as_str());
        assert_eq!(
            promshard_gzip_count(&gz, corpus.format, CHUNK),
            corpus.samples,
            "promshard gzip on {name}"
        );
        assert_eq!(inflate_only(&gz), corpus.bytes.len() as u64, "{name}");
        group.throughput(Throughput::Bytes(corpus.bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("promshard-inflate+count", &name),
            &gz,
            |b, gz| {
                b.iter(|| promshard_gzip_count(black_box(gz), corpus.format, CHUNK));
            },
        );
        // The whole-body path (libdeflate in one call) for a body already
        // in memory. The row above is the sidecar's `DecodingCounter`, which
        // takes that path too for a body up to 128 KiB compressed (and 2 MiB
        // inflated) and streams a larger one.
        assert_eq!(
            promshard_parser::count_gzip_whole(&gz, corpus.format).samples,
            corpus.samples,
            "promshard whole-body gzip on {name}"
        );
        group.bench_with_input(
            BenchmarkId::new("promshard-whole-inflate+count", &name),
            &gz,
            |b, gz| {
                b.iter(|| promshard_parser::count_gzip_whole(black_box(gz), corpus.format).samples);
            },
        );
        group.bench_with_input(
            BenchmarkId::new("flate2-inflate-only", &name),
            &gz,
            |b, gz| {
                b.iter(|| inflate_only(black_box(gz)));
            },
        );
    }
    group.finish();
}

/// Strict (spec-level) validation; every corpus must be valid.
fn validate(c: &mut Criterion) {
    let mut corpora: Vec<Corpus> = real_corpora();
    corpora.extend(LARGE.0.iter().cloned());
    corpora.extend(LARGE.1.iter().cloned());
    let mut group = c.benchmark_group("validate");
    group.sampling_mode(SamplingMode::Flat);
    for corpus in &corpora {
        let name = format!("{}-{}", corpus.name, corpus.format.as_str());
        let report = promshard_parser::validate(&corpus.bytes, corpus.format);
        assert!(report.error.is_none(), "{name}: {:?}", report.error);
        assert_eq!(
            report.counts.samples, corpus.samples,
            "validator count on {name}"
        );
        group.throughput(Throughput::Bytes(corpus.bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("promshard-validate", &name),
            corpus,
            |b, c| {
                b.iter(|| {
                    promshard_parser::validate(black_box(&c.bytes), c.format)
                        .counts
                        .samples
                });
            },
        );
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = parser;
    config = config();
    targets = count_text, count_openmetrics, count_protobuf, gzip_end_to_end, validate
}
criterion_main!(parser);
