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
//!
//! The parts, each in its own file:
//!
//! - [`wire`]: varints, fields and the generic walk of a message.
//! - [`messages`]: the small messages inside a metric (label pairs,
//!   exemplars, values, buckets, quantiles), each with a fast path for its
//!   canonical encoding.
//! - [`metric`]: one `Metric`, validated and scanned for what counting
//!   needs.
//! - [`family`]: one `MetricFamily`, its checks and its series count.
//! - [`series`]: the expanded series of a family, for visitors.

mod family;
mod messages;
mod metric;
mod series;
#[cfg(test)]
mod tests;
mod wire;

pub(crate) use family::{FamilyScan, FamilyScanner};
pub(crate) use series::{MetricLabels, ProtoSeries, for_each_series, metric_labels};
pub(crate) use wire::{FieldLen, WireError, field_len, length_prefix, walk_from};

/// The `MetricType` enum of `metrics.proto`.
pub(crate) const COUNTER: i32 = 0;
pub(crate) const GAUGE: i32 = 1;
pub(crate) const SUMMARY: i32 = 2;
pub(crate) const UNTYPED: i32 = 3;
pub(crate) const HISTOGRAM: i32 = 4;
pub(crate) const GAUGE_HISTOGRAM: i32 = 5;
