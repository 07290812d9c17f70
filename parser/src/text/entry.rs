//! What one parsed line is: [`Entry`] (a sample, `# HELP`, `# TYPE`,
//! `# UNIT`, a comment, a blank line or the end), the borrowed [`Sample`]
//! and [`Exemplar`], and the [`MetricType`]s a `# TYPE` line declares.
//!
//! Everything borrows from the line and keeps names, label sets and values
//! as the raw bytes the parsers validated: counting reads only the name,
//! and a visitor decodes only what it asks for (label pairs through
//! [`Labels`], values and timestamps parsed on demand).

use std::borrow::Cow;

use super::labels::Labels;
use super::names::{LabelStr, unescape};
use crate::float::{parse_go_float, parse_i64_digits};

/// The metric types a `# TYPE` line can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram` (OpenMetrics)
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info` (OpenMetrics)
    Info,
    /// `stateset` (OpenMetrics)
    Stateset,
    /// `untyped` (text) or `unknown` (OpenMetrics)
    Unknown,
}

impl MetricType {
    pub(super) fn from_prom(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"counter" => Self::Counter,
            b"gauge" => Self::Gauge,
            b"histogram" => Self::Histogram,
            b"summary" => Self::Summary,
            b"untyped" => Self::Unknown,
            _ => return None,
        })
    }

    pub(super) fn from_om(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"counter" => Self::Counter,
            b"gauge" => Self::Gauge,
            b"histogram" => Self::Histogram,
            b"gaugehistogram" => Self::GaugeHistogram,
            b"summary" => Self::Summary,
            b"info" => Self::Info,
            b"stateset" => Self::Stateset,
            b"unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// The keyword as written in a `# TYPE` line (OpenMetrics spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::GaugeHistogram => "gaugehistogram",
            Self::Summary => "summary",
            Self::Info => "info",
            Self::Stateset => "stateset",
            Self::Unknown => "unknown",
        }
    }

    /// The sample-name suffixes a family of this type may use.
    pub(crate) fn suffixes(self) -> &'static [&'static [u8]] {
        match self {
            Self::Counter => &[b"_total", b"_created"],
            Self::Histogram => &[b"_bucket", b"_sum", b"_count", b"_created"],
            Self::GaugeHistogram => &[b"_bucket", b"_gsum", b"_gcount"],
            Self::Summary => &[b"_sum", b"_count", b"_created"],
            Self::Info => &[b"_info"],
            Self::Gauge | Self::Stateset | Self::Unknown => &[],
        }
    }
}

/// One line of a text exposition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Entry<'a> {
    /// A sample line.
    Sample(Sample<'a>),
    /// `# HELP name text` (text still escaped: see [`Entry::help_text`]).
    Help {
        /// The family name.
        name: LabelStr<'a>,
        /// The raw help text.
        text: &'a [u8],
    },
    /// `# TYPE name type`
    Type {
        /// The family name.
        name: LabelStr<'a>,
        /// The declared type.
        kind: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics)
    Unit {
        /// The family name.
        name: LabelStr<'a>,
        /// The unit.
        unit: &'a [u8],
    },
    /// Any other `#` line (Prometheus text only).
    Comment(&'a [u8]),
    /// An empty or whitespace-only line (Prometheus text only).
    Blank,
    /// `# EOF` (OpenMetrics), or a NUL byte at the start of a line, which
    /// Prometheus's text lexer treats as the end of the body.
    Eof,
}

impl Entry<'_> {
    /// The unescaped text of a `# HELP` entry.
    pub fn help_text(&self) -> Option<String> {
        match self {
            Entry::Help { text, .. } => Some(unescape(text, false)),
            _ => None,
        }
    }
}

/// A sample line, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// The metric name (quoted form for `{"my.metric"}` names).
    pub name: LabelStr<'a>,
    /// Everything between `{` and `}` (empty without braces).
    pub labels_raw: &'a [u8],
    /// The value token.
    pub value_raw: &'a [u8],
    /// The timestamp token, if any.
    pub timestamp_raw: Option<&'a [u8]>,
    /// The exemplar (OpenMetrics).
    pub exemplar: Option<Exemplar<'a>>,
    pub(crate) om: bool,
}

/// An OpenMetrics exemplar: `# {labels} value [timestamp]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exemplar<'a> {
    /// Everything between `{` and `}`.
    pub labels_raw: &'a [u8],
    /// The value token.
    pub value_raw: &'a [u8],
    /// The timestamp token, if any.
    pub timestamp_raw: Option<&'a [u8]>,
    /// Column (0-based) of the `#` in the line, for error messages.
    pub(crate) col: usize,
    pub(crate) labels_col: usize,
}

impl<'a> Exemplar<'a> {
    /// The exemplar's labels.
    pub fn labels(&self) -> Labels<'a> {
        Labels::new(self.labels_raw)
    }

    /// The exemplar value.
    pub fn value(&self) -> f64 {
        parse_go_float(self.value_raw).unwrap_or(f64::NAN)
    }
}

impl<'a> Sample<'a> {
    /// The metric name with escapes resolved.
    pub fn metric_name(&self) -> Cow<'a, str> {
        self.name.to_str()
    }

    /// The labels, without the metric name, in input order.
    pub fn labels(&self) -> Labels<'a> {
        Labels::new(self.labels_raw)
    }

    /// The sample value (NaN if the token is not a float: cannot happen for
    /// a parsed sample).
    pub fn value(&self) -> f64 {
        parse_go_float(self.value_raw).unwrap_or(f64::NAN)
    }

    /// The timestamp in milliseconds (OpenMetrics seconds are converted).
    pub fn timestamp_ms(&self) -> Option<i64> {
        let raw = self.timestamp_raw?;
        if self.om {
            // Matches Prometheus: int64(ts * 1000).
            #[allow(clippy::cast_possible_truncation)] // Go's int64(f) truncates too
            parse_go_float(raw).map(|s| (s * 1000.0) as i64)
        } else {
            parse_i64_digits(raw)
        }
    }
}

/// The sample of a sample line, for the parsers' tests.
#[cfg(test)]
pub(super) fn sample(e: Entry<'_>) -> Sample<'_> {
    match e {
        Entry::Sample(s) => s,
        other => panic!("not a sample: {other:?}"),
    }
}
