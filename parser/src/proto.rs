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
    // Tags and most lengths are one byte.
    if let Some(&b) = buf.get(*pos)
        && b < 0x80
    {
        *pos += 1;
        return Ok(u64::from(b));
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

#[inline]
fn check_label_pair(b: &[u8]) -> WResult<(&[u8], &[u8])> {
    // The canonical encoding (name then value, lengths < 128) in one step.
    if b.len() >= 4 && b[0] == 0x0a && b[1] < 0x80 {
        let n_end = 2 + usize::from(b[1]);
        if b.len() >= n_end + 2 && b[n_end] == 0x12 && b[n_end + 1] < 0x80 {
            let v_end = n_end + 2 + usize::from(b[n_end + 1]);
            if v_end == b.len() {
                return Ok((&b[2..n_end], &b[n_end + 2..v_end]));
            }
        }
    }
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

fn check_exemplar(b: &[u8]) -> WResult<()> {
    walk(b, |f, v, at| {
        match f {
            1 => {
                check_label_pair(bytes(v, at)?)?;
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

fn check_value_msg(b: &[u8], with_exemplar: bool) -> WResult<f64> {
    let mut value = 0.0;
    walk(b, |f, v, at| {
        match f {
            1 => value = double(v, at)?,
            2 if with_exemplar => check_exemplar(bytes(v, at)?)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(value)
}

/// Scalars of one bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    count: u64,
    count_float: f64,
    upper: f64,
}

fn check_bucket(b: &[u8]) -> WResult<Bucket> {
    let mut bk = Bucket::default();
    walk(b, |f, v, at| {
        match f {
            1 => bk.count = varint(v, at)?,
            2 => bk.upper = double(v, at)?,
            3 => check_exemplar(bytes(v, at)?)?,
            4 => bk.count_float = double(v, at)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(bk)
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
}

fn check_histogram(b: &[u8], scan: &mut MetricScan) -> WResult<()> {
    walk(b, |f, v, at| {
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
                let bk = check_bucket(bytes(v, at)?)?;
                scan.buckets += 1;
                if !scan.saw_inf {
                    scan.bucket_series += 1;
                    if bk.upper == f64::INFINITY {
                        scan.saw_inf = true;
                    }
                }
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
    })
}

fn check_summary(b: &[u8], scan: &mut MetricScan) -> WResult<()> {
    walk(b, |f, v, at| {
        match f {
            1 => {
                varint(v, at)?;
            }
            2 => {
                double(v, at)?;
            }
            3 => {
                walk(bytes(v, at)?, |f, v, at| {
                    if f == 1 || f == 2 {
                        double(v, at)?;
                    }
                    Ok(())
                })?;
                scan.quantiles += 1;
            }
            _ => {}
        }
        Ok(())
    })
}

/// Validates one `Metric` the way Unmarshal does and gathers its counts.
#[inline(always)]
pub(crate) fn scan_metric(b: &[u8]) -> WResult<MetricScan> {
    let mut scan = MetricScan::default();
    walk(b, |f, v, at| {
        match f {
            1 => {
                let (name, value) = check_label_pair(bytes(v, at)?)?;
                if scan.bad_label.is_none() {
                    if name.is_empty() || (!name.is_ascii() && std::str::from_utf8(name).is_err()) {
                        scan.bad_label = Some((at, "a non-empty UTF-8 label name"));
                    } else if !value.is_ascii() && std::str::from_utf8(value).is_err() {
                        scan.bad_label = Some((at, "a UTF-8 label value"));
                    }
                }
            }
            2 | 5 => {
                check_value_msg(bytes(v, at)?, false)?;
            }
            3 => {
                check_value_msg(bytes(v, at)?, true)?;
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
