//! Protobuf bodies built by an independent tiny encoder, counted and visited
//! in every chunking, with Prometheus's series expansion.

// Test helpers outside #[test] fns: a panic there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use promshard_parser::{Format, SampleRef, StreamCounter, count};
use promshard_test_support::varint;

fn tag(field: u64, wt: u64, out: &mut Vec<u8>) {
    varint(out, field << 3 | wt);
}

fn bytes_field(field: u64, b: &[u8], out: &mut Vec<u8>) {
    tag(field, 2, out);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn double_field(field: u64, v: f64, out: &mut Vec<u8>) {
    tag(field, 1, out);
    out.extend_from_slice(&v.to_le_bytes());
}

fn varint_field(field: u64, v: u64, out: &mut Vec<u8>) {
    tag(field, 0, out);
    varint(out, v);
}

fn label(name: &str, value: &str) -> Vec<u8> {
    let mut m = Vec::new();
    bytes_field(1, name.as_bytes(), &mut m);
    bytes_field(2, value.as_bytes(), &mut m);
    m
}

fn metric(labels: &[(&str, &str)], body_field: u64, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    for (k, v) in labels {
        bytes_field(1, &label(k, v), &mut m);
    }
    bytes_field(body_field, body, &mut m);
    m
}

fn family(name: &str, ty: u64, metrics: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    bytes_field(1, name.as_bytes(), &mut f);
    bytes_field(2, b"help text", &mut f);
    varint_field(3, ty, &mut f);
    for m in metrics {
        bytes_field(4, m, &mut f);
    }
    let mut out = Vec::new();
    varint(&mut out, f.len() as u64);
    out.extend_from_slice(&f);
    out
}

fn value_msg(v: f64) -> Vec<u8> {
    let mut m = Vec::new();
    double_field(1, v, &mut m);
    m
}

fn histogram(buckets: &[(f64, u64)], count: u64, sum: f64, native: bool) -> Vec<u8> {
    let mut h = Vec::new();
    varint_field(1, count, &mut h);
    double_field(2, sum, &mut h);
    for (ub, c) in buckets {
        let mut b = Vec::new();
        varint_field(1, *c, &mut b);
        double_field(2, *ub, &mut b);
        bytes_field(3, &b, &mut h);
    }
    if native {
        double_field(6, 0.001, &mut h);
        tag(5, 0, &mut h);
        h.push(0x06); // sint32 schema 3
    }
    h
}

fn summary(quantiles: &[(f64, f64)]) -> Vec<u8> {
    let mut s = Vec::new();
    varint_field(1, 10, &mut s);
    double_field(2, 5.5, &mut s);
    for (q, v) in quantiles {
        let mut m = Vec::new();
        double_field(1, *q, &mut m);
        double_field(2, *v, &mut m);
        bytes_field(3, &m, &mut s);
    }
    s
}

type Seen = Vec<(String, Vec<(String, String)>, f64)>;

fn run(body: &[u8], chunk: usize) -> (promshard_parser::Counts, Seen) {
    let mut seen = Seen::new();
    let mut v = |s: &SampleRef<'_>| {
        let labels = s
            .labels()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        seen.push((s.metric_name().into_owned(), labels, s.value()));
    };
    let mut c = StreamCounter::new(Format::Protobuf);
    for piece in body.chunks(chunk.max(1)) {
        c.feed_with(piece, &mut v);
    }
    let counts = c.finish_with(&mut v);
    (counts, seen)
}

fn all_chunkings(body: &[u8]) -> (promshard_parser::Counts, Seen) {
    let whole = run(body, body.len().max(1));
    assert_eq!(whole.0, count(body, Format::Protobuf));
    for chunk in 1..body.len().min(64) {
        let r = run(body, chunk);
        assert_eq!(r.0, whole.0, "chunk {chunk}");
        assert_eq!(r.1, whole.1, "chunk {chunk}");
    }
    // Without a visitor the counter walks messages field by field as they
    // arrive instead of gathering each one: the same figures either way.
    for chunk in 1..body.len().min(64) {
        let mut c = StreamCounter::new(Format::Protobuf);
        for piece in body.chunks(chunk) {
            c.feed(piece);
        }
        assert_eq!(c.finish(), whole.0, "chunk {chunk} without a visitor");
    }
    for split in 0..=body.len() {
        let mut c = StreamCounter::new(Format::Protobuf);
        c.feed(&body[..split]);
        c.feed(&body[split..]);
        assert_eq!(c.finish(), whole.0, "split {split}");
    }
    whole
}

fn body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(family(
        "requests_total",
        0,
        &[
            metric(&[("code", "200")], 3, &value_msg(7.0)),
            metric(&[("code", "500")], 3, &value_msg(1.0)),
        ],
    ));
    b.extend(family(
        "temperature",
        1,
        &[metric(&[], 2, &value_msg(21.5))],
    ));
    // Classic histogram with an explicit +Inf bucket: 2 + 3 series.
    b.extend(family(
        "latency",
        4,
        &[metric(
            &[("path", "/")],
            7,
            &histogram(&[(0.1, 1), (1.0, 3), (f64::INFINITY, 4)], 4, 2.5, false),
        )],
    ));
    // Classic histogram without +Inf: Prometheus adds one: 2 + 2 + 1.
    b.extend(family(
        "size",
        4,
        &[metric(
            &[],
            7,
            &histogram(&[(100.0, 1), (1e6, 2)], 3, 9.0, false),
        )],
    ));
    // Summary: 2 + 2 quantiles.
    b.extend(family(
        "rpc",
        2,
        &[metric(&[], 4, &summary(&[(0.5, 1.0), (0.99, 2.0)]))],
    ));
    // Native histogram: 1 series each.
    b.extend(family(
        "native",
        4,
        &[
            metric(&[("a", "1")], 7, &histogram(&[], 5, 1.0, true)),
            metric(&[("a", "2")], 7, &histogram(&[], 5, 1.0, true)),
        ],
    ));
    // Empty family: skipped.
    b.extend(family("empty", 1, &[]));
    b.extend(family("untyped", 3, &[metric(&[], 5, &value_msg(3.0))]));
    b
}

#[test]
fn expansion_matches_prometheus() {
    let (counts, seen) = all_chunkings(&body());
    assert_eq!(counts.error, None);
    assert_eq!(counts.samples, 2 + 1 + 5 + 5 + 4 + 2 + 1);
    assert_eq!(counts.family("latency"), 5);
    assert_eq!(counts.family("size"), 5);
    assert_eq!(counts.family("rpc"), 4);
    assert_eq!(counts.family("native"), 2);
    assert_eq!(counts.family("empty"), 0);
    let names: Vec<&str> = seen.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "requests_total",
            "requests_total",
            "temperature",
            "latency_count",
            "latency_sum",
            "latency_bucket",
            "latency_bucket",
            "latency_bucket",
            "size_count",
            "size_sum",
            "size_bucket",
            "size_bucket",
            "size_bucket",
            "rpc_count",
            "rpc_sum",
            "rpc",
            "rpc",
            "native",
            "native",
            "untyped",
        ]
    );
    let le: Vec<String> = seen
        .iter()
        .filter(|(n, _, _)| n.ends_with("_bucket"))
        .map(|(_, l, _)| l.last().map(|(_, v)| v.clone()).unwrap_or_default())
        .collect();
    assert_eq!(le, ["0.1", "1.0", "+Inf", "100.0", "1e+06", "+Inf"]);
    assert_eq!(seen[0].1, vec![("code".to_owned(), "200".to_owned())]);
    assert_eq!(seen[0].2, 7.0);
    let q: Vec<&(String, String)> = seen
        .iter()
        .filter(|(n, _, _)| n == "rpc")
        .map(|(_, l, _)| &l[0])
        .collect();
    assert_eq!(q[0], &("quantile".to_owned(), "0.5".to_owned()));
    // The synthetic +Inf bucket carries the count.
    assert_eq!(seen[12].2, 3.0);
}

#[test]
fn truncated_and_corrupt_messages_are_errors_after_the_good_ones() {
    let good = body();
    let mut truncated = good.clone();
    truncated.extend(family("late", 1, &[metric(&[], 2, &value_msg(1.0))]));
    truncated.pop();
    let (c, _) = all_chunkings(&truncated);
    assert_eq!(c.samples, 20);
    assert!(c.error.is_some());

    let mut bad_wire = good.clone();
    // A family whose metric uses wire type 0 for field 4.
    let mut f = Vec::new();
    bytes_field(1, b"x", &mut f);
    varint_field(4, 1, &mut f);
    varint(&mut bad_wire, f.len() as u64);
    bad_wire.extend_from_slice(&f);
    let (c, _) = all_chunkings(&bad_wire);
    assert_eq!(c.samples, 20);
    assert!(
        c.error
            .expect("wire error")
            .to_string()
            .starts_with("message 9")
    );

    let mut bad_label = good;
    bad_label.extend(family(
        "bad",
        1,
        &[
            metric(&[("ok", "1")], 2, &value_msg(1.0)),
            metric(&[("", "1")], 2, &value_msg(1.0)),
            metric(&[("ok", "3")], 2, &value_msg(1.0)),
        ],
    ));
    let (c, seen) = all_chunkings(&bad_label);
    assert_eq!(c.samples, 21, "series before the bad label are counted");
    assert_eq!(seen.len(), 21);
    assert!(c.error.is_some());
}

#[test]
fn oversized_message_is_an_error_not_growth() {
    let b = body();
    let mut c = StreamCounter::with_max_record(Format::Protobuf, 16);
    for piece in b.chunks(3) {
        c.feed(piece);
    }
    let counts = c.finish();
    assert!(
        counts
            .error
            .expect("too big")
            .expected
            .contains("at most 16 bytes")
    );
}

#[test]
fn garbage_never_panics() {
    let mut state = 0x1234_5678_u64;
    for len in 0..300 {
        let mut b = Vec::with_capacity(len);
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b.push(state as u8);
        }
        let _ = all_chunkings(&b);
        let _ = promshard_parser::validate(&b, Format::Protobuf);
    }
}

fn group_field(field: u64, inner: &[u8], out: &mut Vec<u8>) {
    tag(field, 3, out);
    out.extend_from_slice(inner);
    tag(field, 4, out);
}

#[test]
fn unknown_fields_and_groups_are_skipped_in_every_chunking() {
    let mut inner = Vec::new();
    varint_field(1, 300, &mut inner);
    double_field(2, 1.0, &mut inner);
    bytes_field(3, b"nested", &mut inner);
    group_field(4, &[0x08, 0x01], &mut inner);
    let mut f = Vec::new();
    group_field(9, &inner, &mut f);
    bytes_field(1, b"grouped", &mut f);
    varint_field(3, 1, &mut f);
    let mut m = metric(&[("a", "b")], 2, &value_msg(1.0));
    group_field(12, &inner, &mut m);
    bytes_field(4, &m, &mut f);
    group_field(10, &inner, &mut f);
    bytes_field(4, &metric(&[("a", "c")], 2, &value_msg(2.0)), &mut f);
    tag(11, 5, &mut f);
    f.extend_from_slice(&[1, 2, 3, 4]);
    let mut b = Vec::new();
    varint(&mut b, f.len() as u64);
    b.extend_from_slice(&f);
    b.extend(family("after", 1, &[metric(&[], 2, &value_msg(3.0))]));
    let (counts, seen) = all_chunkings(&b);
    assert_eq!(counts.error, None);
    assert_eq!(counts.samples, 3);
    assert_eq!(counts.family("grouped"), 2);
    assert_eq!(seen.len(), 3);

    // The same group left open: an error at the end of its message.
    let mut bad = Vec::new();
    let mut f = Vec::new();
    bytes_field(1, b"open", &mut f);
    tag(9, 3, &mut f);
    varint_field(1, 1, &mut f);
    varint(&mut bad, f.len() as u64);
    bad.extend_from_slice(&f);
    let (counts, _) = all_chunkings(&bad);
    assert_eq!(counts.samples, 0);
    assert!(counts.error.is_some());
}

#[test]
fn a_bad_field_in_a_truncated_message_is_reported_as_truncation() {
    // Prometheus reads the whole message before decoding it.
    let mut f = Vec::new();
    bytes_field(1, b"x", &mut f);
    tag(4, 4, &mut f); // end-group outside a group
    f.extend_from_slice(&[0; 20]);
    let mut b = body();
    varint(&mut b, f.len() as u64 + 10);
    b.extend_from_slice(&f);
    let (counts, _) = all_chunkings(&b);
    assert_eq!(counts.samples, 20);
    let e = counts.error.expect("truncated");
    assert!(e.expected.contains("the rest of the message"), "{e}");
    // With the message complete, the bad field is the error.
    b.extend_from_slice(&[0; 10]);
    let (counts, _) = all_chunkings(&b);
    let e = counts.error.expect("bad field");
    assert!(e.expected.contains("end-group"), "{e}");
}

#[test]
fn a_large_family_is_walked_as_it_arrives_in_bounded_memory() {
    let metrics: Vec<Vec<u8>> = (0..3000)
        .map(|i| {
            metric(
                &[("pod", &format!("pod-{i:05}")), ("namespace", "default")],
                2,
                &value_msg(f64::from(i)),
            )
        })
        .collect();
    let largest_metric = metrics.iter().map(Vec::len).max().unwrap();
    let mut b = family("kube_pod_info", 1, &metrics);
    b.extend(family("up", 1, &[metric(&[], 2, &value_msg(1.0))]));
    let whole = count(&b, Format::Protobuf);
    assert_eq!(whole.samples, 3001);
    assert_eq!(whole.error, None);
    for chunk in [1usize, 7, 100, 4096] {
        let mut c = StreamCounter::new(Format::Protobuf);
        let mut most = 0;
        for piece in b.chunks(chunk) {
            c.feed(piece);
            most = most.max(c.buffered_bytes());
        }
        // One field (a metric plus its 3-byte header), and Vec's doubling.
        assert!(
            most <= 2 * (largest_metric + 3),
            "chunk {chunk}: {most} bytes held for metrics of at most {largest_metric}"
        );
        assert_eq!(c.finish(), whole, "chunk {chunk}");
    }
    // A visitor needs whole messages: the family is gathered, then shown.
    let mut seen = 0u64;
    let mut c = StreamCounter::new(Format::Protobuf);
    for piece in b.chunks(4096) {
        c.feed_with(piece, &mut |_: &SampleRef<'_>| seen += 1);
    }
    assert_eq!(c.finish(), whole);
    assert_eq!(seen, 3001);
}

#[test]
fn validator_rules_on_protobuf_series() {
    let report = |b: &[u8]| {
        let r = promshard_parser::validate(b, Format::Protobuf);
        assert_eq!(r.counts, count(b, Format::Protobuf));
        r.error.map(|e| e.to_string())
    };
    let hist = |buckets: &[(f64, u64)], count: u64| {
        family(
            "h",
            4,
            &[metric(&[], 7, &histogram(buckets, count, 1.0, false))],
        )
    };
    assert_eq!(report(&body()), None);
    assert_eq!(
        report(&family("c", 0, &[metric(&[], 3, &value_msg(-1.0))])).as_deref(),
        Some("message 1 (byte 0): expected a counter value >= 0, found -1")
    );
    let twice = family(
        "c",
        0,
        &[
            metric(&[("a", "1")], 3, &value_msg(1.0)),
            metric(&[("a", "1")], 3, &value_msg(2.0)),
        ],
    );
    assert_eq!(
        report(&twice).as_deref(),
        Some("message 1 (byte 0): expected each series once, found c{a=\"1\"} again")
    );
    assert_eq!(
        report(&hist(&[(2.0, 1), (1.0, 2), (f64::INFINITY, 2)], 2)).as_deref(),
        Some(
            "message 1 (byte 0): expected histogram buckets in increasing le order, found le=\"1.0\" after le=2"
        )
    );
    assert_eq!(
        report(&hist(&[(1.0, 1), (f64::INFINITY, 2)], 3)).as_deref(),
        Some("message 1 (byte 0): expected h_count{} equal to its +Inf bucket (2), found 3")
    );
    let mut interleaved = family("a", 1, &[metric(&[], 2, &value_msg(1.0))]);
    interleaved.extend(family("b", 1, &[metric(&[], 2, &value_msg(1.0))]));
    interleaved.extend(family("a", 1, &[metric(&[], 2, &value_msg(1.0))]));
    assert_eq!(
        report(&interleaved).as_deref(),
        Some(
            "message 3 (byte 0): expected all of family a in one group, found it again after another family (interleaved)"
        )
    );
    assert_eq!(
        report(&family(
            "a",
            1,
            &[metric(&[("__x", "1")], 2, &value_msg(1.0))]
        ))
        .as_deref(),
        Some(
            "message 1 (byte 0): expected label names not starting with \"__\" (reserved), found \"__x\""
        )
    );
}
