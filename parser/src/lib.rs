//! Zero-copy streaming parser and series counter for metrics expositions:
//! the Prometheus text format (0.0.4, with Prometheus 3 quoted UTF-8 names),
//! OpenMetrics 1.0 text, and the Prometheus protobuf format.
//!
//! It counts samples exactly as a Prometheus scrape does
//! (`scrape_samples_scraped`), from a body fed chunk by chunk, in memory
//! bounded by the longest line (or protobuf message) plus, for a compressed
//! body, the decoder's fixed buffers, without building label sets unless a
//! [`SampleVisitor`] asks to see them.
//!
//! # Count a body
//!
//! ```
//! use promshard_parser::{count, Format};
//! let body = b"# TYPE http_request_duration_seconds histogram
//! http_request_duration_seconds_bucket{le=\"0.1\"} 3
//! http_request_duration_seconds_bucket{le=\"+Inf\"} 5
//! http_request_duration_seconds_sum 0.9
//! http_request_duration_seconds_count 5
//! up 1
//! ";
//! let counts = count(body, Format::Text);
//! assert_eq!(counts.samples, 5);
//! assert_eq!(counts.family("http_request_duration_seconds"), 4);
//! assert_eq!(counts.top_families(1), [("http_request_duration_seconds", 4)]);
//! assert!(counts.error.is_none());
//! ```
//!
//! # Stream chunks as they arrive
//!
//! ```
//! use promshard_parser::{Encoding, DecodingCounter, Format, StreamCounter};
//! let format = Format::from_content_type(Some("application/openmetrics-text; version=1.0.0"));
//! let mut counter = StreamCounter::with_max_record(format, 64 * 1024);
//! for chunk in [&b"# TYPE jobs counter\njobs_total 3 # {trace_id=\"a"[..], b"b\"} 1\n# EOF\n"] {
//!     counter.feed(chunk); // only a partial last line is copied
//! }
//! let counts = counter.finish();
//! assert_eq!((counts.samples, counts.error), (1, None));
//!
//! // Compressed bodies: put a decoder in front.
//! let mut counter = DecodingCounter::new(Format::Text, Encoding::from_header(Some("identity")).unwrap());
//! counter.feed(b"a 1\n");
//! assert_eq!(counter.finish().samples, 1);
//! ```
//!
//! # Visit every sample (for `metric_relabel_configs`)
//!
//! ```
//! use promshard_parser::{Format, SampleRef, StreamCounter};
//! let mut kept = 0;
//! let mut visitor = |s: &SampleRef<'_>| {
//!     // __name__ first, then the labels, values unescaped only when needed.
//!     let drop = s.labels_with_name().any(|(k, v)| k == "code" && v == "500");
//!     if !drop {
//!         kept += 1;
//!     }
//! };
//! let mut counter = StreamCounter::new(Format::Text);
//! counter.feed_with(b"req{code=\"200\"} 1\nreq{code=\"500\"} 2\n", &mut visitor);
//! let counts = counter.finish_with(&mut visitor);
//! assert_eq!((counts.samples, kept), (2, 1));
//! ```
//!
//! # What is counted
//!
//! One per sample line (text, OpenMetrics; duplicates included, `_created`
//! lines included as Prometheus 2.x ingests them, `# HELP`/`# TYPE`/comments
//! not), one per expanded protobuf series (see [`Format::Protobuf`] and the
//! module docs of the wire walker: classic histograms `_count`, `_sum`, each
//! bucket up to `+Inf` and a synthetic `+Inf` bucket if missing; summaries
//! `_count`, `_sum` and each quantile; native histograms one). On an error
//! the count is the samples before the error line (Prometheus reports that
//! figure for a failed scrape), and [`Counts::error`] says where and why.
//!
//! # Counting vs validating
//!
//! The counting path ([`StreamCounter`], [`count`], [`Parser`]) accepts what
//! a Prometheus scrape accepts. The [`Validator`] (behind
//! `promshard check metrics`) follows the specifications and additionally
//! rejects:
//!
//! | rule | counting (Prometheus) | validating (spec) |
//! |---|---|---|
//! | families interleaved, or a family's samples split by another family | accepted | error |
//! | `# TYPE`/`# HELP`/`# UNIT` after the family's samples, or twice | accepted | error |
//! | sample names without the type's suffix (`_total` on OM counters, `_bucket`/`_sum`/`_count` for histograms, ...) | accepted | error |
//! | histogram buckets without `le` or not increasing in `le`, missing `le="+Inf"`, `le` not a float, decreasing cumulative counts, `_count` != `+Inf` bucket | accepted | error |
//! | summary `quantile` missing, outside [0, 1] or not a float | accepted | error |
//! | negative or NaN counter values, bucket counts and `_count`s | accepted | error |
//! | duplicate label names in a sample; the same series twice | accepted | error |
//! | exemplar labels longer than 128 UTF-8 characters or with a name twice; exemplars on types other than counter `_total` and histogram/gaugehistogram `_bucket` | accepted | error |
//! | stateset values other than 0/1, or without a label named after the family; info values other than 1; `unknown`/`untyped` suffix rules | accepted | error |
//! | label names starting with `__` (reserved) | accepted | error |
//! | text 0.0.4 whitespace leniency (spaces around `{`, `=`, `,`, missing commas between labels, trailing comma) | accepted (Prometheus's lexer allows it) | error |
//! | comment lines other than HELP/TYPE in OpenMetrics | error (both) | error |
//!
//! OpenMetrics 1.0 text adds the rules of its specification (ABNF first,
//! where the prose and the ABNF differ):
//!
//! | rule | counting (Prometheus) | validating (spec) |
//! |---|---|---|
//! | quoted metric or label names (`{"my.metric"}`, also in exemplars); family names starting with `__` | accepted | error |
//! | HELP text that is not an `escaped-string` (an unescaped `"`, a backslash ending it) or ends in `\r` | accepted | error |
//! | a unit on an info or stateset family | accepted | error |
//! | family names that clash with another family's sample names (a counter `foo` and a family `foo_total` or `foo_created`); a name the family before cannot have starts a new family | accepted | error |
//! | a Metric's samples (its labels but `le`, `quantile` or the state label) interleaved with another Metric's | accepted | error |
//! | timestamps on some samples of a Metric only, or going back; a series twice in a MetricPoint (a series may repeat with a greater timestamp) | accepted | error |
//! | histogram and gauge histogram MetricPoints without a `le="+Inf"` bucket (or without buckets), `_count` without `_sum` or the reverse, non-integer bucket counts or counts, `+Inf` spelled otherwise, `le` on a sample other than a bucket | accepted | error |
//! | histogram `_sum` NaN, negative, or with buckets below 0; gauge histogram `_gsum` NaN, or negative without buckets below 0; exemplars above their bucket's `le` | accepted | error |
//! | counter MetricPoints without `_total`, `_created` not a finite timestamp, a total lower than the MetricPoint before without a new `_created` | accepted | error |
//! | negative quantile values, summary `_sum` NaN or negative, non-integer `_count`, `quantile` on a summary's other samples | accepted | error |
//!
//! Places where counting knowingly differs from Prometheus 2.42 itself:
//!
//! - Prometheus 3 quoted UTF-8 names (`{"my.metric"}`) are accepted (2.42
//!   fails the scrape on them); protobuf metric and label names need only be
//!   non-empty UTF-8 (Prometheus 3's rule) rather than the legacy charset.
//! - A raw line break inside a quoted text-format label value is an error
//!   here; Prometheus 2.42's lexer lets the value span lines.
//! - Lines longer than the configured limit (default [`DEFAULT_MAX_LINE`]) and
//!   protobuf messages larger than [`DEFAULT_MAX_MESSAGE`] are errors here;
//!   Prometheus has only its whole-body `body_size_limit`.
//! - `deflate` bodies are decoded; Prometheus only requests and decodes
//!   `gzip`.
//! - The gzip CRC-32 (and zlib Adler-32) is not checked: a body with a bad
//!   checksum is counted here; Prometheus fails that scrape.
//! - A packed repeated double field whose length is not a multiple of 8 is an
//!   error here; gogo-protobuf would read past it.
#![forbid(unsafe_code)]

mod count;
mod decode;
mod error;
mod float;
mod format;
mod proto;
mod pull;
#[cfg(feature = "testing")]
pub mod reference;
mod sample;
mod stream;
mod text;
mod validate;

pub use count::Counts;
pub use decode::{DecodingCounter, Encoding, WHOLE_GZIP_MAX, count_gzip_whole};
pub use error::{ParseError, Position};
pub use float::FloatStr;
pub use format::Format;
pub use pull::Parser;
pub use sample::{NoVisitor, SampleLabels, SampleRef, SampleVisitor};
pub use stream::{DEFAULT_MAX_LINE, DEFAULT_MAX_MESSAGE, StreamCounter, count, count_with};
pub use text::{Entry, Exemplar, LabelStr, Labels, MetricType, Sample};
pub use validate::{ValidationReport, Validator, validate};
