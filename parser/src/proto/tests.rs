//! The fast paths of the metric scan against the generic field-by-field
//! walk, on generated, mutated and cut `Metric` messages.

use promshard_test_support::varint as put_varint;
use proptest::prelude::*;

use super::metric::scan_metric;

/// The generic field-by-field walk every fast path must agree with
/// (the scanner as it was before the fast paths). It calls the parts of
/// the scanner that have no fast path: the label pair, exemplar,
/// quantile and two-varint walks, the value message and bucket walks,
/// the generic handling of histogram and summary fields, and
/// `MetricScan`'s label and bucket bookkeeping.
mod generic {
    use crate::proto::messages::{
        bucket_walk, exemplar_walk, label_pair_walk, quantile_walk, value_msg_walk,
    };
    use crate::proto::metric::{MetricScan, histogram_field, summary_field};
    use crate::proto::wire::{WResult, bytes, varint, walk};

    fn check_histogram(b: &[u8], scan: &mut MetricScan) -> WResult<()> {
        walk(b, |f, v, at| {
            histogram_field(scan, f, v, at, |b| bucket_walk(b, exemplar_walk))
        })
    }

    fn check_summary(b: &[u8], scan: &mut MetricScan) -> WResult<()> {
        walk(b, |f, v, at| summary_field(scan, f, v, at, quantile_walk))
    }

    pub(super) fn scan_metric(b: &[u8]) -> WResult<MetricScan> {
        let mut scan = MetricScan::default();
        walk(b, |f, v, at| {
            match f {
                1 => {
                    let (name, value) = label_pair_walk(bytes(v, at)?)?;
                    scan.label(name, value, at);
                }
                2 | 5 => {
                    value_msg_walk(bytes(v, at)?, false, exemplar_walk)?;
                }
                3 => {
                    value_msg_walk(bytes(v, at)?, true, exemplar_walk)?;
                }
                4 => check_summary(bytes(v, at)?, &mut scan)?,
                7 => check_histogram(bytes(v, at)?, &mut scan)?,
                6 => {
                    varint(v, at)?;
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(scan)
    }
}

/// A small deterministic generator (xorshift) for message shapes.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn index(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap_or(0)
    }
}

fn put_tag(field: u64, wire: u64, out: &mut Vec<u8>) {
    put_varint(out, field << 3 | wire);
}

fn put_bytes(field: u64, b: &[u8], out: &mut Vec<u8>) {
    put_tag(field, 2, out);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_double(field: u64, v: f64, out: &mut Vec<u8>) {
    put_tag(field, 1, out);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_uint(field: u64, v: u64, out: &mut Vec<u8>) {
    put_tag(field, 0, out);
    put_varint(out, v);
}

fn text(g: &mut Gen) -> Vec<u8> {
    match g.below(8) {
        0 => Vec::new(),
        1 => vec![b'x'; 100 + g.index(200)],
        2 => vec![0xff, b'a'],
        3 => "é".repeat(g.index(80)).into_bytes(),
        4 if g.chance(20) => vec![b'y'; 16_400],
        _ => format!("l{}", g.next() % 100_000).into_bytes(),
    }
}

fn number(g: &mut Gen) -> u64 {
    match g.below(4) {
        0 => g.below(128),
        1 => g.below(1 << 14),
        2 => g.below(1 << 28),
        _ => g.next(),
    }
}

fn float(g: &mut Gen) -> f64 {
    [
        0.0,
        0.1,
        1.0,
        2.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -1.0,
    ][g.index(8)]
}

fn label_pair(g: &mut Gen) -> Vec<u8> {
    let mut p = Vec::new();
    let (name, value) = (text(g), text(g));
    match g.below(6) {
        0 => {
            put_bytes(2, &value, &mut p);
            put_bytes(1, &name, &mut p);
        }
        1 => {
            put_bytes(1, &name, &mut p);
            put_bytes(2, &value, &mut p);
            extra_field(g, &mut p);
        }
        2 => put_bytes(1, &name, &mut p),
        _ => {
            put_bytes(1, &name, &mut p);
            put_bytes(2, &value, &mut p);
        }
    }
    p
}

/// A field the message does not know, or a known one with another
/// wire type.
fn extra_field(g: &mut Gen, out: &mut Vec<u8>) {
    let field = 1 + g.below(16);
    match g.below(5) {
        0 => put_uint(field, number(g), out),
        1 => put_double(field, float(g), out),
        2 => put_bytes(field, &text(g), out),
        3 => {
            put_tag(field, 5, out);
            out.extend_from_slice(&[1, 2, 3, 4]);
        }
        _ => {
            put_tag(field, 3, out);
            put_uint(1, number(g), out);
            put_tag(field, 4, out);
        }
    }
}

fn exemplar(g: &mut Gen) -> Vec<u8> {
    let mut e = Vec::new();
    for _ in 0..g.below(3) {
        put_bytes(1, &label_pair(g), &mut e);
    }
    if !g.chance(4) {
        put_double(2, float(g), &mut e);
    }
    if !g.chance(3) {
        let mut t = Vec::new();
        put_uint(1, number(g), &mut t);
        if g.chance(2) {
            put_uint(2, number(g), &mut t);
        }
        put_bytes(3, &t, &mut e);
    }
    if g.chance(10) {
        extra_field(g, &mut e);
    }
    e
}

fn value_msg(g: &mut Gen, with_exemplar: bool) -> Vec<u8> {
    let mut v = Vec::new();
    if !g.chance(8) {
        put_double(1, float(g), &mut v);
    }
    if with_exemplar && g.chance(2) {
        put_bytes(2, &exemplar(g), &mut v);
    }
    if g.chance(10) {
        extra_field(g, &mut v);
    }
    v
}

fn histogram(g: &mut Gen) -> Vec<u8> {
    let mut h = Vec::new();
    put_uint(1, number(g), &mut h);
    put_double(2, float(g), &mut h);
    for _ in 0..g.below(14) {
        let mut b = Vec::new();
        if !g.chance(10) {
            put_uint(1, number(g), &mut b);
        }
        put_double(2, float(g), &mut b);
        if g.chance(5) {
            put_bytes(3, &exemplar(g), &mut b);
        }
        if g.chance(6) {
            put_double(4, float(g), &mut b);
        }
        if g.chance(15) {
            extra_field(g, &mut b);
        }
        put_bytes(3, &b, &mut h);
    }
    if g.chance(4) {
        put_double(4, float(g), &mut h);
    }
    if g.chance(4) {
        // Native histogram fields.
        put_uint(5, g.below(8), &mut h);
        put_double(6, [0.0, 1e-9][g.index(2)], &mut h);
        put_uint(7, g.below(2), &mut h);
        put_double(8, float(g), &mut h);
        let mut span = Vec::new();
        put_uint(1, number(g), &mut span);
        put_uint(2, number(g), &mut span);
        put_bytes(9 + 3 * g.below(2), &span, &mut h);
        let mut deltas = Vec::new();
        for _ in 0..g.below(3) {
            put_varint(&mut deltas, number(g));
        }
        put_bytes(10 + 3 * g.below(2), &deltas, &mut h);
        if g.chance(2) {
            put_uint(13, number(g), &mut h);
        }
        let counts: Vec<u8> = (0..8 * g.below(3)).map(|i| i.to_le_bytes()[0]).collect();
        put_bytes(11 + 3 * g.below(2), &counts, &mut h);
        if g.chance(2) {
            put_double(14, float(g), &mut h);
        }
    }
    if g.chance(8) {
        extra_field(g, &mut h);
    }
    h
}

fn summary(g: &mut Gen) -> Vec<u8> {
    let mut s = Vec::new();
    put_uint(1, number(g), &mut s);
    put_double(2, float(g), &mut s);
    for _ in 0..g.below(6) {
        let mut q = Vec::new();
        if g.chance(6) {
            put_double(2, float(g), &mut q);
            put_double(1, float(g), &mut q);
        } else {
            put_double(1, float(g), &mut q);
            put_double(2, float(g), &mut q);
        }
        if g.chance(10) {
            extra_field(g, &mut q);
        }
        put_bytes(3, &q, &mut s);
    }
    if g.chance(8) {
        extra_field(g, &mut s);
    }
    s
}

/// A `Metric` message of any shape, mostly well-formed.
fn metric(seed: u64) -> Vec<u8> {
    let mut g = Gen(seed | 1);
    let mut m = Vec::new();
    for _ in 0..g.below(6) {
        put_bytes(1, &label_pair(&mut g), &mut m);
    }
    for _ in 0..1 + g.below(2) {
        match g.below(6) {
            0 => put_bytes(2, &value_msg(&mut g, false), &mut m),
            1 => put_bytes(3, &value_msg(&mut g, true), &mut m),
            2 => put_bytes(5, &value_msg(&mut g, false), &mut m),
            3 => put_bytes(4, &summary(&mut g), &mut m),
            _ => put_bytes(7, &histogram(&mut g), &mut m),
        }
    }
    if g.chance(3) {
        put_uint(6, number(&mut g), &mut m);
    }
    if g.chance(6) {
        extra_field(&mut g, &mut m);
    }
    m
}

fn agree(m: &[u8]) {
    assert_eq!(
        format!("{:?}", scan_metric(m)),
        format!("{:?}", generic::scan_metric(m)),
        "{m:02x?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn fast_metric_scan_agrees_with_the_generic_walk(
        seed in any::<u64>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0..4u8), 0..4),
    ) {
        let mut m = metric(seed);
        agree(&m);
        for (at, byte, kind) in edits {
            let at = at % (m.len() + 1);
            match kind {
                0 if at < m.len() => m[at] = byte,
                1 => m.insert(at, byte),
                2 if at < m.len() => {
                    m.remove(at);
                }
                _ => m.truncate(at),
            }
            agree(&m);
        }
    }
}

#[test]
fn every_cut_of_a_metric_agrees_with_the_generic_walk() {
    for seed in 1..200u64 {
        let m = metric(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for cut in 0..=m.len().min(600) {
            agree(&m[..cut]);
        }
    }
}

/// Buckets that end like `count, upper_bound` but hold something else
/// before the double: only the generic walk may judge them.
#[test]
fn odd_bucket_bodies_agree_with_the_generic_walk() {
    let bytes = [
        0x00, 0x03, 0x04, 0x05, 0x08, 0x0a, 0x0c, 0x10, 0x11, 0x19, 0x1a, 0x21, 0x7f, 0x80, 0xff,
    ];
    let mut middles: Vec<Vec<u8>> = Vec::new();
    for &x in &bytes {
        middles.push(vec![x]);
        for &y in &bytes {
            middles.push(vec![x, y]);
            for &z in &bytes {
                middles.push(vec![x, y, z]);
            }
        }
    }
    middles.push(vec![0x80; 8]);
    middles.push(vec![0x80; 9]);
    for middle in middles {
        let mut bucket = vec![0x08];
        bucket.extend_from_slice(&middle);
        put_double(2, f64::INFINITY, &mut bucket);
        let mut h = Vec::new();
        put_bytes(3, &bucket, &mut h);
        put_bytes(3, &bucket, &mut h);
        let mut m = Vec::new();
        put_bytes(7, &h, &mut m);
        agree(&m);
    }
}
