//! Line parsers for the Prometheus text format (0.0.4, with Prometheus 3
//! quoted UTF-8 names) and OpenMetrics 1.0 text.
//!
//! Each function parses one line (without its `\n`) into an [`Entry`] whose
//! parts are slices of the line. The rules are Prometheus's own lexers
//! (`model/textparse/promlex.l`, `openmetricslex.l`) transcribed: what
//! Prometheus rejects is an error here, what it accepts is accepted, so the
//! counting path counts what a scrape ingests. Label values stay escaped;
//! [`LabelStr::to_str`] unescapes on demand.
//!
//! Counting without a visitor first tries a fast path
//! ([`quick_prom_sample`], [`quick_om_sample`]) that only recognises sample
//! lines in the common strict shape and their metric name, resuming after
//! the prefix a line shares with the previous one; every other line goes to
//! the full line parser.
//!
//! The parts, each in its own file:
//!
//! - [`entry`]: what a parsed line is ([`Entry`], [`Sample`], [`Exemplar`],
//!   [`MetricType`]).
//! - [`prom`] and [`openmetrics`]: the line parser of each format.
//! - [`names`]: names and quoted strings as written ([`LabelStr`]): scanning,
//!   validating and unescaping them.
//! - [`labels`]: iterating a parsed label set ([`Labels`]).
//! - [`bytes`]: the character classes and the word-at-a-time scanning the
//!   others share.
//! - [`quick`]: the counting fast path.

mod bytes;
mod entry;
mod labels;
mod names;
mod openmetrics;
mod prom;
mod quick;

pub(crate) use bytes::label_name_end;
pub use entry::{Entry, Exemplar, MetricType, Sample};
pub use labels::Labels;
pub(crate) use labels::separator_is_strict;
pub use names::LabelStr;
pub(crate) use names::quoted_str;
pub(crate) use openmetrics::parse_om;
pub(crate) use prom::parse_prom;
pub(crate) use quick::{QuickPrev, quick_om_sample, quick_prom_sample};
