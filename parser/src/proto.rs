//! The Prometheus protobuf format: varint-delimited
//! `io.prometheus.client.MetricFamily` messages, walked on the wire without
//! building objects.
//!
//! What is an error is what the gogo-protobuf `Unmarshal` Prometheus uses
//! rejects (truncation, bad varints, wrong wire types for known fields,
//! end-group without start), plus the checks `ProtobufParser.Next` makes
//! (name, help UTF-8, type, label names and values). Series expansion is
//! Prometheus's: counter/gauge/untyped one series; summary `_count`, `_sum`
//! and one per quantile; classic histogram `_count`, `_sum` and one `_bucket`
//! per bucket up to and including the first `le="+Inf"` bucket, plus a
//! synthetic `+Inf` bucket when there is none; a native histogram (decided by
//! the family's first metric, as Prometheus does) is one series.

use crate::float::FloatStr;

pub(crate) const COUNTER: i32 = 0;
pub(crate) const GAUGE: i32 = 1;
pub(crate) const SUMMARY: i32 = 2;
pub(crate) const UNTYPED: i32 = 3;
pub(crate) const HISTOGRAM: i32 = 4;
pub(crate) const GAUGE_HISTOGRAM: i32 = 5;

/// A field value on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
    Group,
}

/// A wire-level problem: byte offset within the buffer walked, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireError {
    pub(crate) offset: usize,
    pub(crate) what: &'static str,
    /// The buffer ended inside the field: more bytes could complete it.
    pub(crate) eof: bool,
}

type WResult<T> = Result<T, WireError>;

/// The low 32 bits as an `int32`, as Go's generated decoders accumulate.
fn low_i32(v: u64) -> i32 {
    let b = v.to_le_bytes();
    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn err<T>(offset: usize, what: &'static str) -> WResult<T> {
    Err(WireError {
        offset,
        what,
        eof: false,
    })
}

/// The buffer ended inside a field.
fn eof<T>(offset: usize, what: &'static str) -> WResult<T> {
    Err(WireError {
        offset,
        what,
        eof: true,
    })
}

#[inline(always)]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> WResult<u64> {
    // Tags and most lengths are one byte; metric lengths are often two.
    if let Some(&b) = buf.get(*pos)
        && b < 0x80
    {
        *pos += 1;
        return Ok(u64::from(b));
    }
    if let Some(&[b0, b1]) = buf.get(*pos..*pos + 2)
        && b1 < 0x80
    {
        *pos += 2;
        return Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7);
    }
    read_varint_slow(buf, pos)
}

#[inline(never)]
fn read_varint_slow(buf: &[u8], pos: &mut usize) -> WResult<u64> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    loop {
        if shift >= 64 {
            return err(*pos, "a varint of at most 10 bytes");
        }
        let Some(&b) = buf.get(*pos) else {
            return eof(*pos, "more bytes (truncated varint)");
        };
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
        shift += 7;
    }
}

fn skip_group(buf: &[u8], pos: &mut usize) -> WResult<()> {
    let mut depth = 1u32;
    while depth > 0 {
        let start = *pos;
        let tag = read_varint(buf, pos)?;
        match tag & 7 {
            0 => {
                read_varint(buf, pos)?;
            }
            1 => *pos += 8,
            2 => {
                let len = read_varint(buf, pos)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= isize::MAX as usize);
                let Some(len) = len else {
                    return err(start, "a valid length");
                };
                *pos = pos.saturating_add(len);
            }
            3 => depth += 1,
            4 => depth -= 1,
            5 => *pos += 4,
            _ => return err(start, "a known wire type"),
        }
        if *pos > buf.len() {
            return eof(start, "more bytes (truncated field)");
        }
    }
    Ok(())
}

/// Calls `f(field, value, offset)` for every field of a message.
#[inline]
pub(crate) fn walk<'a>(
    buf: &'a [u8],
    f: impl FnMut(u32, Wire<'a>, usize) -> WResult<()>,
) -> WResult<()> {
    walk_from(buf, true, 0, f).map(|_| ())
}

/// [`walk`] over a piece of a message that starts at byte `base` of it
/// (offsets passed to `f` and in errors are message offsets). When
/// `to_end` is false the message goes on after `buf`: a field cut off by the
/// end of `buf` is left for later and the walk stops before it. Returns the
/// bytes walked (all of `buf` when `to_end`).
#[inline]
pub(crate) fn walk_from<'a>(
    buf: &'a [u8],
    to_end: bool,
    base: usize,
    mut f: impl FnMut(u32, Wire<'a>, usize) -> WResult<()>,
) -> WResult<usize> {
    let mut pos = 0usize;
    while pos < buf.len() {
        let start = pos;
        let field = match read_field(buf, &mut pos) {
            Ok(x) => x,
            Err(e) if e.eof && !to_end => return Ok(start),
            Err(e) => {
                return Err(WireError {
                    offset: base + e.offset,
                    ..e
                });
            }
        };
        f(field.0, field.1, base + start)?;
    }
    Ok(pos)
}

/// Reads the field at `*pos`: its number and value.
#[inline(always)]
fn read_field<'a>(buf: &'a [u8], pos: &mut usize) -> WResult<(u32, Wire<'a>)> {
    let start = *pos;
    let tag = read_varint(buf, pos)?;
    let wt = tag & 7;
    // gogo reads the field number into an int32: high bits are dropped.
    let field = low_i32(tag >> 3);
    if wt == 4 {
        return err(start, "a field (found end-group outside a group)");
    }
    if field <= 0 {
        return err(start, "a positive field number");
    }
    let field = field.unsigned_abs();
    let v = match wt {
        0 => Wire::Varint(read_varint(buf, pos)?),
        1 => {
            let Some(b) = buf.get(*pos..*pos + 8) else {
                return eof(start, "8 more bytes (truncated fixed64)");
            };
            *pos += 8;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Wire::Fixed64(u64::from_le_bytes(a))
        }
        2 => {
            let len = read_varint(buf, pos)?;
            let Some(len) = usize::try_from(len)
                .ok()
                .filter(|&l| i64::try_from(l).is_ok())
            else {
                return err(start, "a length within the message");
            };
            let end = match pos.checked_add(len) {
                Some(e) if e <= buf.len() => e,
                _ => return eof(start, "a length within the message"),
            };
            let b = &buf[*pos..end];
            *pos = end;
            Wire::Bytes(b)
        }
        3 => {
            skip_group(buf, pos)?;
            Wire::Group
        }
        5 => {
            if buf.len() < *pos + 4 {
                return eof(start, "4 more bytes (truncated fixed32)");
            }
            *pos += 4;
            Wire::Fixed32
        }
        _ => return err(start, "a known wire type"),
    };
    Ok((field, v))
}

/// How many bytes the field at the start of `buf` takes, as far as its
/// first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldLen {
    /// The whole field is this long (it may run past its message: walking
    /// it then reports the error).
    Known(usize),
    /// The tag or length varint is not complete yet.
    MoreHeader,
    /// Only walking to the end of the message tells (a group, or a field a
    /// walk rejects).
    Unknown,
}

/// [`FieldLen`] of the field at the start of `buf`.
pub(crate) fn field_len(buf: &[u8]) -> FieldLen {
    let mut pos = 0;
    let header = |r: WResult<u64>| match r {
        Ok(v) => Ok(v),
        Err(e) if e.eof => Err(FieldLen::MoreHeader),
        Err(_) => Err(FieldLen::Unknown),
    };
    let tag = match header(read_varint(buf, &mut pos)) {
        Ok(t) => t,
        Err(l) => return l,
    };
    match tag & 7 {
        0 => match header(read_varint(buf, &mut pos)) {
            Ok(_) => FieldLen::Known(pos),
            Err(l) => l,
        },
        1 => FieldLen::Known(pos + 8),
        5 => FieldLen::Known(pos + 4),
        2 => match header(read_varint(buf, &mut pos)) {
            Ok(len) => usize::try_from(len)
                .ok()
                .and_then(|l| l.checked_add(pos))
                .map_or(FieldLen::Unknown, FieldLen::Known),
            Err(l) => l,
        },
        _ => FieldLen::Unknown,
    }
}

fn bytes<'a>(v: Wire<'a>, at: usize) -> WResult<&'a [u8]> {
    match v {
        Wire::Bytes(b) => Ok(b),
        _ => err(at, "wire type 2 for this field"),
    }
}

fn varint(v: Wire<'_>, at: usize) -> WResult<u64> {
    match v {
        Wire::Varint(x) => Ok(x),
        _ => err(at, "wire type 0 for this field"),
    }
}

fn double(v: Wire<'_>, at: usize) -> WResult<f64> {
    match v {
        Wire::Fixed64(x) => Ok(f64::from_bits(x)),
        _ => err(at, "wire type 1 for this field"),
    }
}

/// Validates a repeated packed-or-not scalar field; returns element count.
fn repeated_scalar(v: Wire<'_>, at: usize, fixed64: bool) -> WResult<usize> {
    match (v, fixed64) {
        (Wire::Varint(_), false) | (Wire::Fixed64(_), true) => Ok(1),
        (Wire::Bytes(b), true) => {
            if b.len() % 8 != 0 {
                return err(at, "a packed double array of whole 8-byte values");
            }
            Ok(b.len() / 8)
        }
        (Wire::Bytes(b), false) => {
            let mut p = 0;
            let mut n = 0;
            while p < b.len() {
                read_varint(b, &mut p).map_err(|e| WireError {
                    offset: at,
                    what: e.what,
                    eof: false,
                })?;
                n += 1;
            }
            Ok(n)
        }
        _ => err(at, "the wire type of a repeated scalar"),
    }
}

/// The end of the varint starting at `p`, when it is complete and at most
/// 10 bytes long (what [`read_varint`] accepts).
#[inline(always)]
fn varint_end(b: &[u8], p: usize) -> Option<usize> {
    for i in 0..10 {
        if *b.get(p + i)? < 0x80 {
            return Some(p + i + 1);
        }
    }
    None
}

/// The end of a fixed64 value starting at `p`, when it is all there.
#[inline(always)]
fn fixed64_end(b: &[u8], p: usize) -> Option<usize> {
    let end = p + 8;
    (end <= b.len()).then_some(end)
}

/// The body of a length-delimited field whose length varint starts at `p`,
/// when that varint is one or two bytes (every field shorter than 16 KiB)
/// and the body is all there: `(body start, body end)`.
#[inline(always)]
fn short_len(b: &[u8], p: usize) -> Option<(usize, usize)> {
    let l0 = *b.get(p)?;
    let (len, start) = if l0 < 0x80 {
        (usize::from(l0), p + 1)
    } else {
        let l1 = *b.get(p + 1)?;
        if l1 >= 0x80 {
            return None;
        }
        (usize::from(l0 & 0x7f) | usize::from(l1) << 7, p + 2)
    };
    let end = start + len;
    (end <= b.len()).then_some((start, end))
}

// The fast paths below handle the fields a well-formed body has, matched
// on their one-byte tag (field number and wire type together), and leave
// everything else (other wire types, long lengths, truncation, unknown
// fields) to the generic walk of the same field. Each one either accepts a
// field the generic walk accepts with the same result, or declines before
// changing any state, so errors and counts are the generic walk's.

/// A label pair's name and value, when it is the canonical encoding (name
/// then value).
#[inline(always)]
fn label_pair_fast(b: &[u8]) -> Option<(&[u8], &[u8])> {
    if b.first() == Some(&0x0a)
        && let Some((name_start, name_end)) = short_len(b, 1)
        && b.get(name_end) == Some(&0x12)
        && let Some((value_start, value_end)) = short_len(b, name_end + 1)
        && value_end == b.len()
    {
        return Some((&b[name_start..name_end], &b[value_start..value_end]));
    }
    None
}

#[inline]
fn check_label_pair(b: &[u8]) -> WResult<(&[u8], &[u8])> {
    match label_pair_fast(b) {
        Some(pair) => Ok(pair),
        None => label_pair_walk(b),
    }
}

#[inline(never)]
fn label_pair_walk(b: &[u8]) -> WResult<(&[u8], &[u8])> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    walk(b, |f, v, at| {
        match f {
            1 => name = bytes(v, at)?,
            2 => value = bytes(v, at)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok((name, value))
}

/// A message whose fields 1 and 2 are varints: `google.protobuf.Timestamp`
/// (seconds, nanos) and `BucketSpan` (offset, length).
fn check_two_varints(b: &[u8]) -> WResult<()> {
    walk(b, |f, v, at| {
        if f == 1 || f == 2 {
            varint(v, at)?;
        }
        Ok(())
    })
}

/// Whether [`check_two_varints`] accepts `b`, when its fields are the
/// canonical ones (`None` otherwise).
#[inline]
fn two_varints_ok(b: &[u8]) -> Option<()> {
    let mut p = 0;
    while p < b.len() {
        p = match b[p] {
            0x08 | 0x10 => varint_end(b, p + 1)?,
            _ => return None,
        };
    }
    Some(())
}

fn check_exemplar(b: &[u8]) -> WResult<()> {
    if exemplar_ok(b).is_some() {
        return Ok(());
    }
    exemplar_walk(b)
}

/// [`check_exemplar`] without fast paths, for an exemplar they decline
/// (and the tests' reference walk).
fn exemplar_walk(b: &[u8]) -> WResult<()> {
    walk(b, |f, v, at| {
        match f {
            1 => {
                label_pair_walk(bytes(v, at)?)?;
            }
            2 => {
                double(v, at)?;
            }
            3 => check_two_varints(bytes(v, at)?)?,
            _ => {}
        }
        Ok(())
    })
}

/// Whether [`check_exemplar`] accepts `b`, when its fields are the
/// canonical ones (`None` otherwise, or when it is rejected).
#[inline]
fn exemplar_ok(b: &[u8]) -> Option<()> {
    let mut p = 0;
    while p < b.len() {
        p = match b[p] {
            0x0a => {
                let (s, e) = short_len(b, p + 1)?;
                check_label_pair(&b[s..e]).ok()?;
                e
            }
            0x11 => fixed64_end(b, p + 1)?,
            0x1a => {
                let (s, e) = short_len(b, p + 1)?;
                two_varints_ok(&b[s..e])?;
                e
            }
            _ => return None,
        };
    }
    Some(())
}

fn check_value_msg(b: &[u8], with_exemplar: bool) -> WResult<f64> {
    value_msg_walk(b, with_exemplar, check_exemplar)
}

/// The walk of a gauge, counter or untyped value message, checking its
/// exemplar (when `with_exemplar`) with `exemplar`.
fn value_msg_walk(
    b: &[u8],
    with_exemplar: bool,
    exemplar: impl Fn(&[u8]) -> WResult<()>,
) -> WResult<f64> {
    let mut value = 0.0;
    walk(b, |f, v, at| {
        match f {
            1 => value = double(v, at)?,
            2 if with_exemplar => exemplar(bytes(v, at)?)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(value)
}

/// [`check_value_msg`] without the value.
#[inline]
fn value_msg_ok(b: &[u8], with_exemplar: bool) -> WResult<()> {
    // A gauge, counter or untyped value alone: field 1, a double.
    if b.len() == 9 && b[0] == 0x09 {
        return Ok(());
    }
    check_value_msg(b, with_exemplar).map(|_| ())
}

/// Scalars of one bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    count: u64,
    count_float: f64,
    upper: f64,
}

fn check_bucket(b: &[u8]) -> WResult<Bucket> {
    bucket_walk(b, check_exemplar)
}

/// The walk of a bucket, checking its exemplar with `exemplar`.
fn bucket_walk(b: &[u8], exemplar: impl Fn(&[u8]) -> WResult<()>) -> WResult<Bucket> {
    let mut bk = Bucket::default();
    walk(b, |f, v, at| {
        match f {
            1 => bk.count = varint(v, at)?,
            2 => bk.upper = double(v, at)?,
            3 => exemplar(bytes(v, at)?)?,
            4 => bk.count_float = double(v, at)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(bk)
}

/// The upper bound of a bucket [`check_bucket`] accepts, when its fields
/// are the canonical ones (`None` otherwise, or when it is rejected).
#[inline(always)]
fn bucket_upper(b: &[u8]) -> Option<f64> {
    // What client libraries write: `cumulative_count` then `upper_bound`,
    // told apart without a walk: the varint fills all but the last ten
    // bytes (its tag, the double and the double's tag). `short_buckets`
    // reads most of these first; this takes the rest (a 9- or 10-byte
    // count). Without it the `short_buckets` loop compiles to more
    // instructions per bucket.
    let n = b.len();
    if (11..=20).contains(&n)
        && b[0] == 0x08
        && b[n - 9] == 0x11
        && let Some((&last, more)) = b[1..n - 9].split_last()
        && last < 0x80
        && more.iter().all(|&x| x >= 0x80)
    {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[n - 8..]);
        return Some(f64::from_le_bytes(a));
    }
    let mut upper = 0.0;
    let mut p = 0;
    while p < b.len() {
        p = match b[p] {
            0x08 => varint_end(b, p + 1)?,
            0x11 => {
                let end = fixed64_end(b, p + 1)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[p + 1..end]);
                upper = f64::from_le_bytes(a);
                end
            }
            0x21 => fixed64_end(b, p + 1)?,
            0x1a => {
                let (s, e) = short_len(b, p + 1)?;
                exemplar_ok(&b[s..e])?;
                e
            }
            _ => return None,
        };
    }
    Some(upper)
}

/// Whether `b` is ASCII: for the few hundred bytes of a metric's label
/// pairs, inline and without the alignment work of `<[u8]>::is_ascii`.
#[inline(always)]
fn is_ascii_short(b: &[u8]) -> bool {
    fn word(w: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        u64::from_le_bytes(a)
    }
    let n = b.len();
    let mut high = 0u64;
    if n >= 8 {
        for w in b.chunks_exact(8) {
            high |= word(w);
        }
        // The last (overlapping) word covers the remainder.
        high |= word(&b[n - 8..]);
    } else {
        for &x in b {
            high |= u64::from(x);
        }
    }
    high & 0x8080_8080_8080_8080 == 0
}

/// What counting needs from one `Metric`, gathered while validating it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MetricScan {
    quantiles: u64,
    /// Classic histogram series of this metric's buckets (including the
    /// synthetic `+Inf` when no bucket is `+Inf`).
    bucket_series: u64,
    saw_inf: bool,
    buckets: u64,
    zero_threshold: f64,
    zero_count: u64,
    sparse: bool,
    /// First label problem (checked only when the series is produced).
    bad_label: Option<(usize, &'static str)>,
}

impl MetricScan {
    fn native(&self) -> bool {
        self.zero_threshold > 0.0 || self.zero_count > 0 || self.sparse
    }

    fn series(&self, ty: i32, family_native: bool) -> u64 {
        match ty {
            SUMMARY => 2 + self.quantiles,
            HISTOGRAM | GAUGE_HISTOGRAM if family_native => 1,
            HISTOGRAM | GAUGE_HISTOGRAM => {
                2 + if self.saw_inf {
                    self.bucket_series
                } else {
                    self.buckets + 1
                }
            }
            _ => 1,
        }
    }

    #[inline(always)]
    fn bucket(&mut self, upper: f64) {
        self.buckets += 1;
        if !self.saw_inf {
            self.bucket_series += 1;
            if upper == f64::INFINITY {
                self.saw_inf = true;
            }
        }
    }

    /// Checks a run of label pair fields found by [`short_label_pair`]
    /// (`at` is where it starts in the metric): when one of them may be bad,
    /// checks each in turn.
    #[inline(always)]
    fn label_run(&mut self, run: &[u8], at: usize, named: bool) {
        if (!named || !is_ascii_short(run)) && self.bad_label.is_none() {
            self.bad_label_in_run(run, at);
        }
    }

    #[inline(never)]
    fn bad_label_in_run(&mut self, run: &[u8], at: usize) {
        let mut pos = 0;
        while let Some((s, e)) = short_len(run, pos + 1)
            && let Some((name, value)) = label_pair_fast(&run[s..e])
        {
            self.label(name, value, at + pos);
            pos = e;
        }
    }

    /// Records the first bad label name or value (`at` is the label's
    /// field).
    #[inline(never)]
    fn label(&mut self, name: &[u8], value: &[u8], at: usize) {
        if self.bad_label.is_none() {
            if name.is_empty() || (!name.is_ascii() && std::str::from_utf8(name).is_err()) {
                self.bad_label = Some((at, "a non-empty UTF-8 label name"));
            } else if !value.is_ascii() && std::str::from_utf8(value).is_err() {
                self.bad_label = Some((at, "a UTF-8 label value"));
            }
        }
    }
}

/// The generic handling of one `Histogram` field, checking a bucket with
/// `bucket`.
fn histogram_field(
    scan: &mut MetricScan,
    f: u32,
    v: Wire<'_>,
    at: usize,
    bucket: impl Fn(&[u8]) -> WResult<Bucket>,
) -> WResult<()> {
    match f {
        1 | 7 => {
            let x = varint(v, at)?;
            if f == 7 {
                scan.zero_count = x;
            }
        }
        2 | 4 | 8 => {
            double(v, at)?;
        }
        6 => scan.zero_threshold = double(v, at)?,
        3 => {
            let bk = bucket(bytes(v, at)?)?;
            scan.bucket(bk.upper);
        }
        5 => {
            varint(v, at)?;
        }
        9 | 12 => check_two_varints(bytes(v, at)?)?,
        10 | 13 if repeated_scalar(v, at, false)? > 0 => {
            scan.sparse = true;
        }
        11 | 14 if repeated_scalar(v, at, true)? > 0 => {
            scan.sparse = true;
        }
        _ => {}
    }
    Ok(())
}

/// Counts the buckets from `pos` on that are written as client libraries
/// write them, back to back (field length below 128, `cumulative_count`
/// of at most 8 bytes, then `upper_bound`), with the run's state in
/// registers. Returns where the first other field starts, or `None` when
/// there is no such bucket at `pos`.
#[inline(always)]
fn short_buckets(b: &[u8], mut pos: usize, scan: &mut MetricScan) -> Option<usize> {
    let start = pos;
    let (mut buckets, mut series, mut saw_inf) = (0, 0, scan.saw_inf);
    while let Some(&[0x1a, len]) = b.get(pos..pos + 2) {
        let n = usize::from(len);
        let end = pos + 2 + n;
        // The varint fills the bytes between its tag and the double's tag.
        let Some(&[0x08, v0, v1, v2, v3, v4, v5, v6, v7]) = b.get(pos + 2..pos + 11) else {
            break;
        };
        let high = !u64::from_le_bytes([v0, v1, v2, v3, v4, v5, v6, v7]) & 0x8080_8080_8080_8080;
        let varint_len = high.trailing_zeros() / 8 + 1;
        if !(11..=18).contains(&n)
            || end > b.len()
            || usize::try_from(varint_len).ok() != Some(n - 10)
            || b[end - 9] != 0x11
        {
            break;
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[end - 8..end]);
        buckets += 1;
        if !saw_inf {
            series += 1;
            saw_inf = f64::from_le_bytes(a) == f64::INFINITY;
        }
        pos = end;
    }
    scan.buckets += buckets;
    scan.bucket_series += series;
    scan.saw_inf = saw_inf;
    (pos > start).then_some(pos)
}

fn check_histogram(b: &[u8], scan: &mut MetricScan) -> WResult<()> {
    let mut pos = 0;
    while pos < b.len() {
        let start = pos;
        let fast = match b[pos] {
            // sample_count
            0x08 => varint_end(b, pos + 1),
            // sample_sum, sample_count_float, zero_count_float
            0x11 | 0x21 | 0x41 => fixed64_end(b, pos + 1),
            // bucket
            0x1a if let Some(end) = short_buckets(b, pos, scan) => Some(end),
            0x1a => match short_len(b, pos + 1) {
                Some((s, e)) => {
                    let bucket = &b[s..e];
                    let upper = match bucket_upper(bucket) {
                        Some(u) => u,
                        None => check_bucket(bucket)?.upper,
                    };
                    scan.bucket(upper);
                    Some(e)
                }
                None => None,
            },
            _ => None,
        };
        if let Some(end) = fast {
            pos = end;
            continue;
        }
        let (f, v) = read_field(b, &mut pos)?;
        histogram_field(scan, f, v, start, check_bucket)?;
    }
    Ok(())
}

fn check_quantile(b: &[u8]) -> WResult<()> {
    // Field 1 (quantile) and 2 (value), both doubles.
    if b.len() == 18 && b[0] == 0x09 && b[9] == 0x11 {
        return Ok(());
    }
    quantile_walk(b)
}

/// [`check_quantile`] without the fast path.
fn quantile_walk(b: &[u8]) -> WResult<()> {
    walk(b, |f, v, at| {
        if f == 1 || f == 2 {
            double(v, at)?;
        }
        Ok(())
    })
}

fn check_summary(b: &[u8], scan: &mut MetricScan) -> WResult<()> {
    let mut pos = 0;
    while pos < b.len() {
        let start = pos;
        let fast = match b[pos] {
            // sample_count
            0x08 => varint_end(b, pos + 1),
            // sample_sum
            0x11 => fixed64_end(b, pos + 1),
            // quantile
            0x1a => match short_len(b, pos + 1) {
                Some((s, e)) => {
                    check_quantile(&b[s..e])?;
                    scan.quantiles += 1;
                    Some(e)
                }
                None => None,
            },
            _ => None,
        };
        if let Some(end) = fast {
            pos = end;
            continue;
        }
        let (f, v) = read_field(b, &mut pos)?;
        summary_field(scan, f, v, start, check_quantile)?;
    }
    Ok(())
}

/// The generic handling of one `Summary` field, checking a quantile with
/// `quantile`.
fn summary_field(
    scan: &mut MetricScan,
    f: u32,
    v: Wire<'_>,
    at: usize,
    quantile: impl Fn(&[u8]) -> WResult<()>,
) -> WResult<()> {
    match f {
        1 => {
            varint(v, at)?;
        }
        2 => {
            double(v, at)?;
        }
        3 => {
            quantile(bytes(v, at)?)?;
            scan.quantiles += 1;
        }
        _ => {}
    }
    Ok(())
}

/// The generic handling of one `Metric` field.
fn metric_field(scan: &mut MetricScan, f: u32, v: Wire<'_>, at: usize) -> WResult<()> {
    match f {
        1 => {
            let (name, value) = check_label_pair(bytes(v, at)?)?;
            scan.label(name, value, at);
        }
        2 | 5 => value_msg_ok(bytes(v, at)?, false)?,
        3 => value_msg_ok(bytes(v, at)?, true)?,
        4 => check_summary(bytes(v, at)?, scan)?,
        7 => check_histogram(bytes(v, at)?, scan)?,
        6 => {
            varint(v, at)?;
        }
        _ => {}
    }
    Ok(())
}

/// Validates one `Metric` the way Unmarshal does and gathers its counts.
#[inline]
pub(crate) fn scan_metric(b: &[u8]) -> WResult<MetricScan> {
    let mut scan = MetricScan::default();
    // Label pairs whose lengths are all one byte, back to back, are checked
    // for ASCII in one pass: their tags and lengths are ASCII too. `run` is
    // where the unchecked ones start, and whether all their names are
    // non-empty.
    let mut run = (0, true);
    let mut pos = 0;
    while pos < b.len() {
        let start = pos;
        let tag = b[pos];
        if tag == 0x0a {
            if let Some((end, named)) = short_label_pair(b, pos) {
                run.1 &= named;
                pos = end;
                continue;
            }
            scan.label_run(&b[run.0..pos], run.0, run.1);
            if let Some((s, e)) = short_len(b, pos + 1)
                && let Some((name, value)) = label_pair_fast(&b[s..e])
            {
                scan.label(name, value, start);
                pos = e;
                run = (pos, true);
                continue;
            }
        } else {
            scan.label_run(&b[run.0..pos], run.0, run.1);
        }
        let fast = match tag {
            // timestamp_ms
            0x30 => varint_end(b, pos + 1),
            // gauge, counter, summary, untyped, histogram
            0x12 | 0x1a | 0x22 | 0x2a | 0x3a => match short_len(b, pos + 1) {
                Some((s, e)) => {
                    // `metric_field`'s arms, matched on the tag: a call
                    // through it measured a few percent slower.
                    let body = &b[s..e];
                    match tag {
                        0x12 | 0x2a => value_msg_ok(body, false)?,
                        0x1a => value_msg_ok(body, true)?,
                        0x22 => check_summary(body, &mut scan)?,
                        _ => check_histogram(body, &mut scan)?,
                    }
                    Some(e)
                }
                None => None,
            },
            _ => None,
        };
        pos = match fast {
            Some(end) => end,
            None => {
                let (f, v) = read_field(b, &mut pos)?;
                metric_field(&mut scan, f, v, start)?;
                pos
            }
        };
        run = (pos, true);
    }
    scan.label_run(&b[run.0..], run.0, run.1);
    Ok(scan)
}

/// The end of the label pair field at `pos` and whether its name is
/// non-empty, when the field's, the name's and the value's lengths are one
/// byte each and it is the canonical encoding (name then value).
#[inline(always)]
fn short_label_pair(b: &[u8], pos: usize) -> Option<(usize, bool)> {
    let &[_, len, name_tag, name_len] = b.get(pos..pos + 4)? else {
        return None;
    };
    if len >= 0x80 || name_tag != 0x0a || name_len >= 0x80 {
        return None;
    }
    let end = pos + 2 + usize::from(len);
    let value_at = pos + 4 + usize::from(name_len);
    let &[value_tag, value_len] = b.get(value_at..value_at + 2)? else {
        return None;
    };
    if value_tag != 0x12 || value_at + 2 + usize::from(value_len) != end || end > b.len() {
        return None;
    }
    Some((end, name_len > 0))
}

/// The result of walking one family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FamilyScan {
    pub(crate) series: u64,
    /// Error found after `series` series were produced.
    pub(crate) error: Option<WireError>,
    pub(crate) ty: i32,
    pub(crate) native: bool,
    /// Number of metrics whose series are all produced.
    pub(crate) metrics_ok: usize,
}

/// Walks one `MetricFamily` message field by field: validates it and counts
/// its series. The fields may come from separate buffers (a message that
/// arrives in pieces), so the little it keeps (the name) is copied.
#[derive(Debug, Default)]
pub(crate) struct FamilyScanner {
    name: Vec<u8>,
    help_utf8: bool,
    ty_raw: u64,
    n_metrics: usize,
    first: Option<MetricScan>,
    // Sums per possible type, because `type` may follow the metrics on the wire.
    sum_summary: u64,
    sum_classic: u64,
    n_before_bad: u64,
    bad: Option<WireError>,
}

impl FamilyScanner {
    /// Starts a new family.
    pub(crate) fn reset(&mut self) {
        self.name.clear();
        self.help_utf8 = true;
        self.ty_raw = 0;
        self.n_metrics = 0;
        self.first = None;
        self.sum_summary = 0;
        self.sum_classic = 0;
        self.n_before_bad = 0;
        self.bad = None;
    }

    /// The family name (the last one on the wire).
    pub(crate) fn name(&self) -> &[u8] {
        &self.name
    }

    /// One top-level field of the family at byte `at` of the message.
    #[inline(always)]
    pub(crate) fn field(&mut self, f: u32, v: Wire<'_>, at: usize) -> WResult<()> {
        match f {
            1 => {
                let name = bytes(v, at)?;
                self.name.clear();
                self.name.extend_from_slice(name);
            }
            2 => {
                let help = bytes(v, at)?;
                self.help_utf8 = help.is_ascii() || std::str::from_utf8(help).is_ok();
            }
            3 => self.ty_raw = varint(v, at)?,
            4 => {
                let scan = scan_metric(bytes(v, at)?)?;
                if self.first.is_none() {
                    self.first = Some(scan);
                }
                self.n_metrics += 1;
                if self.bad.is_none() {
                    if let Some((off, what)) = scan.bad_label {
                        self.bad = Some(WireError {
                            offset: at + off,
                            what,
                            eof: false,
                        });
                    } else {
                        self.sum_summary += scan.series(SUMMARY, false);
                        self.sum_classic += scan.series(HISTOGRAM, false);
                        self.n_before_bad += 1;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The family's outcome, given how walking its fields ended.
    pub(crate) fn finish(&self, walked: WResult<()>) -> FamilyScan {
        // gogo decodes the enum into an int32: high bits are dropped.
        let ty = low_i32(self.ty_raw);
        let mut out = FamilyScan {
            series: 0,
            error: None,
            ty,
            native: false,
            metrics_ok: 0,
        };
        let fail = |what| {
            Some(WireError {
                offset: 0,
                what,
                eof: false,
            })
        };
        if let Err(e) = walked {
            out.error = Some(e);
            return out;
        }
        if self.n_metrics == 0 {
            return out;
        }
        if self.name.is_empty() || std::str::from_utf8(&self.name).is_err() {
            out.error = fail("a non-empty UTF-8 metric family name");
            return out;
        }
        if !self.help_utf8 {
            out.error = fail("UTF-8 help text");
            return out;
        }
        if !(COUNTER..=GAUGE_HISTOGRAM).contains(&ty) {
            out.error = fail("a known metric type (0 to 5)");
            return out;
        }
        let native =
            matches!(ty, HISTOGRAM | GAUGE_HISTOGRAM) && self.first.is_some_and(|m| m.native());
        out.native = native;
        out.series = match ty {
            SUMMARY => self.sum_summary,
            HISTOGRAM | GAUGE_HISTOGRAM if !native => self.sum_classic,
            _ => self.n_before_bad,
        };
        out.metrics_ok = usize::try_from(self.n_before_bad).unwrap_or(usize::MAX);
        out.error = self.bad;
        out
    }

    /// Walks a whole `MetricFamily` message.
    pub(crate) fn scan(&mut self, msg: &[u8]) -> FamilyScan {
        self.reset();
        let walked = walk(msg, |f, v, at| self.field(f, v, at));
        self.finish(walked)
    }
}

/// One expanded series of a protobuf metric, as a visitor sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProtoSeries<'a> {
    pub(crate) family: &'a [u8],
    pub(crate) suffix: &'static str,
    pub(crate) metric: &'a [u8],
    pub(crate) magic: Option<(&'static str, FloatStr)>,
    pub(crate) value: f64,
    pub(crate) timestamp_ms: Option<i64>,
    pub(crate) native_histogram: bool,
    pub(crate) ty: i32,
}

impl ProtoSeries<'_> {
    pub(crate) fn family_type(&self) -> crate::text::MetricType {
        use crate::text::MetricType as T;
        match self.ty {
            COUNTER => T::Counter,
            GAUGE => T::Gauge,
            SUMMARY => T::Summary,
            HISTOGRAM => T::Histogram,
            GAUGE_HISTOGRAM => T::GaugeHistogram,
            _ => T::Unknown,
        }
    }
}

/// Label pairs of a (validated) `Metric` message, in wire order.
#[derive(Debug, Clone)]
pub(crate) struct MetricLabels<'a> {
    metric: &'a [u8],
    pos: usize,
}

pub(crate) fn metric_labels(metric: &[u8]) -> MetricLabels<'_> {
    MetricLabels { metric, pos: 0 }
}

impl<'a> Iterator for MetricLabels<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let metric = self.metric;
        while self.pos < metric.len() {
            let mut p = self.pos;
            let tag = read_varint(metric, &mut p).ok()?;
            let mut item = None;
            match tag & 7 {
                0 => {
                    read_varint(metric, &mut p).ok()?;
                }
                1 => p += 8,
                5 => p += 4,
                2 => {
                    let len = usize::try_from(read_varint(metric, &mut p).ok()?).ok()?;
                    let body = metric.get(p..p.checked_add(len)?)?;
                    if tag >> 3 == 1 {
                        item = check_label_pair(body).ok();
                    }
                    p += len;
                }
                3 => skip_group(metric, &mut p).ok()?,
                _ => return None,
            }
            self.pos = p;
            if item.is_some() {
                return item;
            }
        }
        None
    }
}

/// Calls `emit` for each series of the first `metrics_ok` metrics of a
/// validated family, in Prometheus's order.
pub(crate) fn for_each_series<'a>(
    msg: &'a [u8],
    family: &'a [u8],
    scan: &FamilyScan,
    mut emit: impl FnMut(&ProtoSeries<'a>),
) {
    let mut left = scan.metrics_ok;
    let _ = walk(msg, |f, v, _| {
        if left > 0
            && f == 4
            && let Wire::Bytes(m) = v
        {
            left -= 1;
            emit_metric(family, scan, m, &mut emit);
        }
        Ok(())
    });
}

#[derive(Default)]
struct MetricValues {
    ts: i64,
    simple: [f64; 3], // gauge, counter, untyped
    s_count: u64,
    s_sum: f64,
    h_count: u64,
    h_count_float: f64,
    h_sum: f64,
}

fn emit_metric<'a>(
    family: &'a [u8],
    scan: &FamilyScan,
    m: &'a [u8],
    emit: &mut impl FnMut(&ProtoSeries<'a>),
) {
    let mut mv = MetricValues::default();
    let _ = walk(m, |f, v, _| {
        match (f, v) {
            (6, Wire::Varint(x)) => mv.ts = x as i64,
            (2 | 3 | 5, Wire::Bytes(b)) => {
                let i = match f {
                    2 => 0,
                    3 => 1,
                    _ => 2,
                };
                mv.simple[i] = check_value_msg(b, f == 3).unwrap_or(0.0);
            }
            (4, Wire::Bytes(b)) => {
                let _ = walk(b, |f, v, _| {
                    match (f, v) {
                        (1, Wire::Varint(x)) => mv.s_count = x,
                        (2, Wire::Fixed64(x)) => mv.s_sum = f64::from_bits(x),
                        _ => {}
                    }
                    Ok(())
                });
            }
            (7, Wire::Bytes(b)) => {
                let _ = walk(b, |f, v, _| {
                    match (f, v) {
                        (1, Wire::Varint(x)) => mv.h_count = x,
                        (4, Wire::Fixed64(x)) => mv.h_count_float = f64::from_bits(x),
                        (2, Wire::Fixed64(x)) => mv.h_sum = f64::from_bits(x),
                        _ => {}
                    }
                    Ok(())
                });
            }
            _ => {}
        }
        Ok(())
    });
    let timestamp_ms = (mv.ts != 0).then_some(mv.ts);
    let mut series = ProtoSeries {
        family,
        suffix: "",
        metric: m,
        magic: None,
        value: 0.0,
        timestamp_ms,
        native_histogram: false,
        ty: scan.ty,
    };
    let h_count = if mv.h_count_float != 0.0 {
        mv.h_count_float
    } else {
        mv.h_count as f64
    };
    match scan.ty {
        COUNTER | GAUGE | UNTYPED => {
            series.value = match scan.ty {
                GAUGE => mv.simple[0],
                COUNTER => mv.simple[1],
                _ => mv.simple[2],
            };
            emit(&series);
        }
        HISTOGRAM | GAUGE_HISTOGRAM if scan.native => {
            series.native_histogram = true;
            series.value = h_count;
            emit(&series);
        }
        SUMMARY => {
            series.suffix = "_count";
            series.value = mv.s_count as f64;
            emit(&series);
            series.suffix = "_sum";
            series.value = mv.s_sum;
            emit(&series);
            series.suffix = "";
            let _ = walk(m, |f, v, _| {
                if let (4, Wire::Bytes(b)) = (f, v) {
                    let _ = walk(b, |f, v, _| {
                        if let (3, Wire::Bytes(q)) = (f, v) {
                            let (mut qq, mut qv) = (0.0, 0.0);
                            let _ = walk(q, |f, v, _| {
                                match (f, v) {
                                    (1, Wire::Fixed64(x)) => qq = f64::from_bits(x),
                                    (2, Wire::Fixed64(x)) => qv = f64::from_bits(x),
                                    _ => {}
                                }
                                Ok(())
                            });
                            series.magic = Some(("quantile", FloatStr::new(qq)));
                            series.value = qv;
                            emit(&series);
                        }
                        Ok(())
                    });
                }
                Ok(())
            });
        }
        _ => {
            series.suffix = "_count";
            series.value = h_count;
            emit(&series);
            series.suffix = "_sum";
            series.value = mv.h_sum;
            emit(&series);
            series.suffix = "_bucket";
            let mut done = false;
            let _ = walk(m, |f, v, _| {
                if let (7, Wire::Bytes(b)) = (f, v) {
                    let _ = walk(b, |f, v, _| {
                        if let (3, Wire::Bytes(bb)) = (f, v) {
                            if done {
                                return Ok(());
                            }
                            let bk = check_bucket(bb).unwrap_or_default();
                            series.magic = Some(("le", FloatStr::new(bk.upper)));
                            series.value = if bk.count_float != 0.0 {
                                bk.count_float
                            } else {
                                bk.count as f64
                            };
                            emit(&series);
                            if bk.upper == f64::INFINITY {
                                done = true;
                            }
                        }
                        Ok(())
                    });
                }
                Ok(())
            });
            if !done {
                series.magic = Some(("le", FloatStr::new(f64::INFINITY)));
                series.value = h_count;
                emit(&series);
            }
        }
    }
}

/// Reads the varint length prefix at the start of `buf`: `Ok(None)` if more
/// bytes are needed, `Ok(Some((prefix_len, message_len)))` otherwise.
/// Prometheus rejects prefixes longer than 5 bytes.
pub(crate) fn length_prefix(buf: &[u8]) -> Result<Option<(usize, u64)>, &'static str> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(5) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(Some((i + 1, v)));
        }
    }
    if buf.len() >= 5 {
        return Err("a length prefix of at most 5 bytes");
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use promshard_test_support::varint as put_varint;
    use proptest::prelude::*;

    use super::{read_varint, read_varint_slow, scan_metric};

    /// The generic field-by-field walk every fast path must agree with
    /// (the scanner as it was before the fast paths). It calls the parts of
    /// the scanner that have no fast path: the label pair, exemplar,
    /// quantile and two-varint walks, the value message and bucket walks,
    /// the generic handling of histogram and summary fields, and
    /// `MetricScan`'s label and bucket bookkeeping.
    mod generic {
        use super::super::{
            MetricScan, WResult, bucket_walk, bytes, exemplar_walk, histogram_field,
            label_pair_walk, quantile_walk, summary_field, value_msg_walk, varint, walk,
        };

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
            0x00, 0x03, 0x04, 0x05, 0x08, 0x0a, 0x0c, 0x10, 0x11, 0x19, 0x1a, 0x21, 0x7f, 0x80,
            0xff,
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

    #[test]
    fn two_byte_varints_read_as_the_slow_path_does() {
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                for buf in [&[b0, b1][..], &[b0, b1, 0x01], &[b0]] {
                    let (mut fast, mut slow) = (0, 0);
                    let got = read_varint(buf, &mut fast);
                    let want = read_varint_slow(buf, &mut slow);
                    assert_eq!((got, fast), (want, slow), "{buf:02x?}");
                }
            }
        }
    }
}
