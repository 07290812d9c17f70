//! A small protobuf ENCODER for `io.prometheus.client.MetricFamily`.
//!
//! Written independently of the parser's decoder on purpose: two separate
//! implementations of the wire format make a useful differential test.
//! Field numbers follow `prometheus/client_model` `metrics.proto`. Like
//! `client_golang`, histograms are written WITHOUT the `+Inf` bucket (a scrape
//! adds it back), and `_created` is not encoded (a default Prometheus scrape
//! does not turn it into a sample), so the protobuf sample count equals the
//! text count.

use crate::model::{Bucket, Exemplar, Family, Kind, Metric, Value};

const WIRE_VARINT: u32 = 0;
const WIRE_FIXED64: u32 = 1;
const WIRE_LEN: u32 = 2;

/// `MetricType` enum values.
fn metric_type(kind: Kind) -> u64 {
    match kind {
        Kind::Counter => 0,
        Kind::Gauge => 1,
        Kind::Summary => 2,
        Kind::Untyped => 3,
        Kind::Histogram => 4,
    }
}

/// Appends `value` as a base-128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value.to_le_bytes()[0] | 0x80);
        value >>= 7;
    }
    out.push(value.to_le_bytes()[0]);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from((field << 3) | wire));
}

fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_tag(out, field, WIRE_FIXED64);
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(out, field, WIRE_VARINT);
    put_varint(out, v);
}

fn put_int64(out: &mut Vec<u8>, field: u32, v: i64) {
    // int64 is two's complement in a 10-byte varint when negative.
    put_uint(out, field, v as u64);
}

fn put_str(out: &mut Vec<u8>, field: u32, s: &str) {
    put_tag(out, field, WIRE_LEN);
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a length-delimited field whose content `body` appends; the length
/// prefix is appended afterwards and rotated to the front of the content, so
/// neither a size pre-pass nor a buffer for the prefix is needed.
fn put_message(out: &mut Vec<u8>, field: Option<u32>, body: impl FnOnce(&mut Vec<u8>)) {
    if let Some(field) = field {
        put_tag(out, field, WIRE_LEN);
    }
    let start = out.len();
    body(out);
    let len = out.len() - start;
    put_varint(out, len as u64);
    let prefix_len = out.len() - start - len;
    if let Some(message) = out.get_mut(start..) {
        message.rotate_right(prefix_len);
    }
}

fn put_label_pairs(out: &mut Vec<u8>, field: u32, labels: &[(String, String)]) {
    for (name, value) in labels {
        put_message(out, Some(field), |m| {
            put_str(m, 1, name);
            put_str(m, 2, value);
        });
    }
}

fn put_exemplar(out: &mut Vec<u8>, field: u32, ex: &Exemplar) {
    put_message(out, Some(field), |m| {
        put_label_pairs(m, 1, &ex.labels);
        put_double(m, 2, ex.value);
        if let Some(ts) = ex.timestamp {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "synthetic timestamps are far inside i64 range"
            )]
            put_message(m, Some(3), |t| {
                let secs = ts.floor();
                put_int64(t, 1, secs as i64);
                let nanos = ((ts - secs) * 1e9).round() as i64;
                if nanos != 0 {
                    put_int64(t, 2, nanos);
                }
            });
        }
    });
}

fn put_bucket(out: &mut Vec<u8>, b: &Bucket) {
    put_message(out, Some(3), |m| {
        put_uint(m, 1, b.cumulative_count);
        put_double(m, 2, b.upper_bound);
        if let Some(ex) = &b.exemplar {
            put_exemplar(m, 3, ex);
        }
    });
}

fn put_metric(out: &mut Vec<u8>, metric: &Metric) {
    put_message(out, Some(4), |m| {
        put_label_pairs(m, 1, &metric.labels);
        match &metric.value {
            Value::Gauge(v) => put_message(m, Some(2), |g| put_double(g, 1, *v)),
            Value::Counter { value, exemplar } => put_message(m, Some(3), |c| {
                put_double(c, 1, *value);
                if let Some(ex) = exemplar {
                    put_exemplar(c, 2, ex);
                }
            }),
            Value::Summary {
                quantiles,
                sum,
                count,
            } => put_message(m, Some(4), |s| {
                put_uint(s, 1, *count);
                put_double(s, 2, *sum);
                for (q, v) in quantiles {
                    put_message(s, Some(3), |qm| {
                        put_double(qm, 1, *q);
                        put_double(qm, 2, *v);
                    });
                }
            }),
            Value::Untyped(v) => put_message(m, Some(5), |u| put_double(u, 1, *v)),
            Value::Histogram {
                buckets,
                sum,
                count,
            } => put_message(m, Some(7), |h| {
                put_uint(h, 1, *count);
                put_double(h, 2, *sum);
                for b in buckets.iter().filter(|b| b.upper_bound != f64::INFINITY) {
                    put_bucket(h, b);
                }
            }),
        }
        if let Some(ts) = metric.timestamp_ms {
            put_int64(m, 6, ts);
        }
    });
}

/// Appends one varint-length-delimited `MetricFamily` message.
pub(crate) fn delimited_family(out: &mut Vec<u8>, family: &Family) {
    let name = match family.kind {
        Kind::Counter => format!("{}_total", family.name),
        _ => family.name.clone(),
    };
    put_message(out, None, |f| {
        put_str(f, 1, &name);
        put_str(f, 2, &family.help);
        put_uint(f, 3, metric_type(family.kind));
        for metric in &family.metrics {
            put_metric(f, metric);
        }
        if let Some(unit) = family.unit {
            put_str(f, 5, unit);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels;

    #[test]
    fn varints_match_the_spec_examples() {
        let mut out = Vec::new();
        put_varint(&mut out, 1);
        put_varint(&mut out, 150);
        put_varint(&mut out, 300);
        assert_eq!(out, [0x01, 0x96, 0x01, 0xAC, 0x02]);
    }

    #[test]
    fn gauge_family_bytes_are_exact() {
        let mut f = Family::new("up", "h", Kind::Gauge);
        f.push(labels(&[("a", "b")]), Value::Gauge(1.0));
        let mut out = Vec::new();
        delimited_family(&mut out, &f);
        let one = 1.0f64.to_bits().to_le_bytes();
        let mut gauge = vec![0x09];
        gauge.extend_from_slice(&one);
        // Metric: label {1:"a",2:"b"}, gauge {1: 1.0}
        let mut metric = vec![0x0A, 0x06, 0x0A, 0x01, b'a', 0x12, 0x01, b'b', 0x12, 0x09];
        metric.extend_from_slice(&gauge);
        let mut family = vec![0x0A, 0x02, b'u', b'p', 0x12, 0x01, b'h', 0x18, 0x01, 0x22];
        family.push(u8::try_from(metric.len()).unwrap());
        family.extend_from_slice(&metric);
        let mut expected = vec![u8::try_from(family.len()).unwrap()];
        expected.extend_from_slice(&family);
        assert_eq!(out, expected);
    }

    #[test]
    fn long_messages_get_multi_byte_length_prefixes() {
        let mut f = Family::new("big", &"x".repeat(300), Kind::Untyped);
        f.push(Vec::new(), Value::Untyped(2.0));
        let mut out = Vec::new();
        delimited_family(&mut out, &f);
        // Outer length: name(5) + help(3+300) + type(2) + metric(2 + untyped(2+9)) = 323.
        assert_eq!(&out[..2], &[0xC3, 0x02]);
        assert_eq!(out.len(), 2 + 323);
    }
}
