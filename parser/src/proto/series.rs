//! The series of a validated family, for a visitor: each metric expanded
//! the way Prometheus expands it ([`ProtoSeries`]), with its labels read
//! from the wire on demand ([`MetricLabels`]).
//!
//! Only a visitor needs this, so it is off the counting path: it walks the
//! already validated messages again field by field and never fails (a
//! family's error was reported by [`FamilyScan`], and only its metrics
//! before the error are expanded).

use super::family::FamilyScan;
use super::messages::{check_bucket, check_label_pair, check_value_msg};
use super::wire::{Wire, read_varint, skip_group, walk};
use super::{COUNTER, GAUGE, GAUGE_HISTOGRAM, HISTOGRAM, SUMMARY, UNTYPED};
use crate::float::FloatStr;

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
