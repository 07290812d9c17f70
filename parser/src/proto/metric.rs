//! Validating one `Metric` message and gathering what counting needs from
//! it ([`MetricScan`]): its labels' validity, and for summaries and
//! histograms the quantiles, buckets and native-histogram fields that
//! decide how many series it expands to.
//!
//! [`scan_metric`] is the per-metric hot loop of protobuf counting. Like
//! the messages it contains, it matches the fields client libraries write
//! on their one-byte tags (label pairs with one-byte lengths in runs checked
//! for ASCII at once, buckets back to back in registers) and hands anything
//! else to the generic handling of that field (`metric_field`,
//! `histogram_field`, `summary_field`), so the result is always the
//! generic walk's.

use super::messages::{
    Bucket, bucket_upper, check_bucket, check_label_pair, check_quantile, check_two_varints,
    label_pair_fast, value_msg_ok,
};
use super::wire::{
    WResult, Wire, bytes, double, fixed64_end, read_field, repeated_scalar, short_len, varint,
    varint_end,
};
use super::{GAUGE_HISTOGRAM, HISTOGRAM, SUMMARY};

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
    pub(super) bad_label: Option<(usize, &'static str)>,
}

impl MetricScan {
    pub(super) fn native(&self) -> bool {
        self.zero_threshold > 0.0 || self.zero_count > 0 || self.sparse
    }

    pub(super) fn series(&self, ty: i32, family_native: bool) -> u64 {
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
    pub(super) fn label(&mut self, name: &[u8], value: &[u8], at: usize) {
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
pub(super) fn histogram_field(
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
pub(super) fn summary_field(
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
