//! Renderers from the [`model`](crate::model) to the three wire formats.
//!
//! Each renderer takes families one at a time and keeps the running sample
//! count that a Prometheus scrape of the finished body would report.

use std::fmt::Write as _;

use crate::model::{Exemplar, Family, Kind, Metric, Value};
use crate::protobuf;

/// An exposition format the loadgen can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Varint-delimited protobuf `io.prometheus.client.MetricFamily`.
    Protobuf,
}

impl Format {
    /// Every format, in a fixed order.
    pub const ALL: [Format; 3] = [Format::Text, Format::OpenMetrics, Format::Protobuf];

    /// The `Content-Type` a client library sends with this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// Short name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::OpenMetrics => "openmetrics",
            Format::Protobuf => "protobuf",
        }
    }

    /// Parses [`Format::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Accumulates one body in one format.
#[derive(Debug)]
pub(crate) struct Renderer {
    format: Format,
    text: String,
    binary: Vec<u8>,
    samples: u64,
    families: usize,
}

impl Renderer {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            text: String::new(),
            binary: Vec::new(),
            samples: 0,
            families: 0,
        }
    }

    /// Renders one family (empty families are skipped, as client libraries do).
    pub(crate) fn family(&mut self, family: &Family) {
        if family.metrics.is_empty() {
            return;
        }
        self.families += 1;
        match self.format {
            Format::Text => {
                text_family(&mut self.text, family);
                self.samples += family.samples(false);
            }
            Format::OpenMetrics => {
                om_family(&mut self.text, family);
                self.samples += family.samples(true);
            }
            Format::Protobuf => {
                protobuf::delimited_family(&mut self.binary, family);
                self.samples += family.samples(false);
            }
        }
    }

    /// The finished body, its sample count and its family count.
    pub(crate) fn finish(mut self) -> (Vec<u8>, u64, usize) {
        match self.format {
            Format::Text => (self.text.into_bytes(), self.samples, self.families),
            Format::OpenMetrics => {
                self.text.push_str("# EOF\n");
                (self.text.into_bytes(), self.samples, self.families)
            }
            Format::Protobuf => (self.binary, self.samples, self.families),
        }
    }
}

fn type_word(kind: Kind, open_metrics: bool) -> &'static str {
    match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Untyped if open_metrics => "unknown",
        Kind::Untyped => "untyped",
        Kind::Histogram => "histogram",
        Kind::Summary => "summary",
    }
}

/// Backslash and newline escaped, and `"` too with `quote_too` (label
/// values, OpenMetrics HELP; Prometheus text HELP leaves quotes alone).
fn escape(out: &mut String, text: &str, quote_too: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote_too => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Go-like float text: integers without a fraction, `NaN`, `+Inf`, `-Inf`.
pub(crate) fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// OpenMetrics canonical `le`/`quantile` text: always with a fraction or exponent.
fn push_canonical_float(out: &mut String, v: f64) {
    let start = out.len();
    push_float(out, v);
    let written = &out[start..];
    if v.is_finite() && !written.contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// `{a="1",b="2",extra="x"}`, or nothing when there are no labels at all.
fn push_labels(
    out: &mut String,
    labels: &[(String, String)],
    extra: Option<(&str, f64)>,
    canonical_extra: bool,
) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (name, value) in labels {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        escape(out, value, true);
        out.push('"');
    }
    if let Some((name, value)) = extra {
        if !first {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        if canonical_extra {
            push_canonical_float(out, value);
        } else {
            push_float(out, value);
        }
        out.push('"');
    }
    out.push('}');
}

fn text_name(family: &Family) -> String {
    match family.kind {
        Kind::Counter => format!("{}_total", family.name),
        _ => family.name.clone(),
    }
}

fn text_family(out: &mut String, family: &Family) {
    let name = text_name(family);
    out.push_str("# HELP ");
    out.push_str(&name);
    out.push(' ');
    escape(out, &family.help, false);
    out.push_str("\n# TYPE ");
    out.push_str(&name);
    out.push(' ');
    out.push_str(type_word(family.kind, false));
    out.push('\n');
    for metric in &family.metrics {
        let ts = metric.timestamp_ms;
        let line = |out: &mut String, suffix: &str, extra: Option<(&str, f64)>, v: f64| {
            out.push_str(&name);
            out.push_str(suffix);
            push_labels(out, &metric.labels, extra, false);
            out.push(' ');
            push_float(out, v);
            if let Some(ts) = ts {
                let _ = write!(out, " {ts}");
            }
            out.push('\n');
        };
        match &metric.value {
            Value::Counter { value, .. } => line(out, "", None, *value),
            Value::Gauge(v) | Value::Untyped(v) => line(out, "", None, *v),
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                for b in buckets {
                    let cumulative = b.cumulative_count as f64;
                    line(out, "_bucket", Some(("le", b.upper_bound)), cumulative);
                }
                line(out, "_sum", None, *sum);
                line(out, "_count", None, *count as f64);
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                for (q, v) in quantiles {
                    line(out, "", Some(("quantile", *q)), *v);
                }
                line(out, "_sum", None, *sum);
                line(out, "_count", None, *count as f64);
            }
        }
    }
}

fn push_exemplar(out: &mut String, exemplar: Option<&Exemplar>) {
    let Some(ex) = exemplar else { return };
    out.push_str(" # ");
    push_labels(out, &ex.labels, None, false);
    if ex.labels.is_empty() {
        out.push_str("{}");
    }
    out.push(' ');
    push_float(out, ex.value);
    if let Some(ts) = ex.timestamp {
        let _ = write!(out, " {ts:.3}");
    }
}

fn push_om_timestamp(out: &mut String, metric: &Metric) {
    if let Some(ts) = metric.timestamp_ms {
        let secs = ts.div_euclid(1000);
        let millis = ts.rem_euclid(1000);
        let _ = write!(out, " {secs}.{millis:03}");
    }
}

fn om_family(out: &mut String, family: &Family) {
    let name = &family.name;
    out.push_str("# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(type_word(family.kind, true));
    out.push('\n');
    if let Some(unit) = family.unit {
        out.push_str("# UNIT ");
        out.push_str(name);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape(out, &family.help, true);
    out.push('\n');
    for metric in &family.metrics {
        let sample = |out: &mut String, suffix: &str, extra: Option<(&str, f64)>| {
            out.push_str(name);
            out.push_str(suffix);
            push_labels(out, &metric.labels, extra, true);
            out.push(' ');
        };
        let end = |out: &mut String| {
            push_om_timestamp(out, metric);
            out.push('\n');
        };
        let count_and_sum = |out: &mut String, count: u64, sum: f64| {
            sample(out, "_count", None);
            let _ = write!(out, "{count}");
            end(out);
            sample(out, "_sum", None);
            push_float(out, sum);
            end(out);
        };
        match &metric.value {
            Value::Counter { value, exemplar } => {
                sample(out, "_total", None);
                push_float(out, *value);
                push_om_timestamp(out, metric);
                push_exemplar(out, exemplar.as_ref());
                out.push('\n');
            }
            Value::Gauge(v) | Value::Untyped(v) => {
                sample(out, "", None);
                push_float(out, *v);
                end(out);
            }
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                for b in buckets {
                    sample(out, "_bucket", Some(("le", b.upper_bound)));
                    let _ = write!(out, "{}", b.cumulative_count);
                    push_om_timestamp(out, metric);
                    push_exemplar(out, b.exemplar.as_ref());
                    out.push('\n');
                }
                count_and_sum(out, *count, *sum);
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                for (q, v) in quantiles {
                    sample(out, "", Some(("quantile", *q)));
                    push_float(out, *v);
                    end(out);
                }
                count_and_sum(out, *count, *sum);
            }
        }
        if let (Some(created), Kind::Counter | Kind::Histogram | Kind::Summary) =
            (metric.created, family.kind)
        {
            sample(out, "_created", None);
            push_float(out, created);
            end(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bucket, labels};

    fn histogram_family() -> Family {
        let mut f = Family::new(
            "req_seconds",
            "Request \"latency\"\nsecond line",
            Kind::Histogram,
        );
        f.unit = Some("seconds");
        f.metrics.push(Metric {
            labels: labels(&[("path", "/a\"b\\c")]),
            value: Value::Histogram {
                buckets: vec![
                    Bucket {
                        upper_bound: 0.5,
                        cumulative_count: 1,
                        exemplar: Some(Exemplar {
                            labels: labels(&[("trace_id", "abc")]),
                            value: 0.25,
                            timestamp: Some(1_700_000_000.5),
                        }),
                    },
                    Bucket {
                        upper_bound: 1.0,
                        cumulative_count: 2,
                        exemplar: None,
                    },
                    Bucket {
                        upper_bound: f64::INFINITY,
                        cumulative_count: 3,
                        exemplar: None,
                    },
                ],
                sum: 2.5,
                count: 3,
            },
            timestamp_ms: None,
            created: Some(1_600_000_000.0),
        });
        f
    }

    #[test]
    fn text_histogram_is_exact() {
        let mut r = Renderer::new(Format::Text);
        r.family(&histogram_family());
        let (bytes, samples, families) = r.finish();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "# HELP req_seconds Request \"latency\"\\nsecond line\n\
             # TYPE req_seconds histogram\n\
             req_seconds_bucket{path=\"/a\\\"b\\\\c\",le=\"0.5\"} 1\n\
             req_seconds_bucket{path=\"/a\\\"b\\\\c\",le=\"1\"} 2\n\
             req_seconds_bucket{path=\"/a\\\"b\\\\c\",le=\"+Inf\"} 3\n\
             req_seconds_sum{path=\"/a\\\"b\\\\c\"} 2.5\n\
             req_seconds_count{path=\"/a\\\"b\\\\c\"} 3\n"
        );
        assert_eq!(samples, 5);
        assert_eq!(families, 1);
    }

    #[test]
    fn openmetrics_histogram_has_exemplar_created_and_eof() {
        let mut r = Renderer::new(Format::OpenMetrics);
        r.family(&histogram_family());
        let (bytes, samples, _) = r.finish();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "# TYPE req_seconds histogram\n\
             # UNIT req_seconds seconds\n\
             # HELP req_seconds Request \\\"latency\\\"\\nsecond line\n\
             req_seconds_bucket{path=\"/a\\\"b\\\\c\",le=\"0.5\"} 1 # {trace_id=\"abc\"} 0.25 1700000000.500\n\
             req_seconds_bucket{path=\"/a\\\"b\\\\c\",le=\"1.0\"} 2\n\
             req_seconds_bucket{path=\"/a\\\"b\\\\c\",le=\"+Inf\"} 3\n\
             req_seconds_count{path=\"/a\\\"b\\\\c\"} 3\n\
             req_seconds_sum{path=\"/a\\\"b\\\\c\"} 2.5\n\
             req_seconds_created{path=\"/a\\\"b\\\\c\"} 1600000000\n\
             # EOF\n"
        );
        assert_eq!(samples, 6, "5 series + _created");
    }

    #[test]
    fn empty_family_is_skipped_and_counter_gets_total() {
        let mut r = Renderer::new(Format::Text);
        r.family(&Family::new("nothing", "h", Kind::Gauge));
        let mut c = Family::new("hits", "h", Kind::Counter);
        c.push(
            Vec::new(),
            Value::Counter {
                value: 3.0,
                exemplar: None,
            },
        );
        r.family(&c);
        let (bytes, samples, families) = r.finish();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "# HELP hits_total h\n# TYPE hits_total counter\nhits_total 3\n"
        );
        assert_eq!((samples, families), (1, 1));
    }
}
