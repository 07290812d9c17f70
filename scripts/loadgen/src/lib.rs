//! `promshard-loadgen`: synthetic scrape targets and a scrape driver.
//!
//! Three parts, all deterministic from a seed:
//!
//! - **Bodies** ([`BodySpec`] -> [`Body`]): metric bodies shaped like real
//!   exporters ([`Shape`]: node_exporter, kube-state-metrics, cAdvisor,
//!   histogram-heavy apps, OpenMetrics with exemplars), rendered as Prometheus
//!   text 0.0.4, OpenMetrics 1.0 or varint-delimited protobuf ([`Format`]),
//!   each with the exact sample count a Prometheus scrape reports for it
//!   (`scrape_samples_scraped`), so tests and benchmarks can assert counts.
//! - **Target server** ([`server::start`]): many targets on one port, with
//!   heavy-tailed sizes, content negotiation, gzip, series churn, and a control
//!   endpoint to grow or shrink the fleet at run time.
//! - **Driver** ([`driver::drive`]): scrapes URLs like Prometheus does and
//!   reports throughput and latency.
//!
//! ```
//! use promshard_loadgen::{BodySpec, Format, Shape};
//!
//! let spec = BodySpec::new(Shape::HistogramApp, 500, 42);
//! let text = spec.render(Format::Text);
//! let proto = spec.render(Format::Protobuf);
//! // The same metrics, so the same scrape sample count in both formats.
//! assert_eq!(text.samples, proto.samples);
//! assert!(text.samples > 400);
//! // Same seed, same bytes.
//! assert_eq!(spec.render(Format::Text).bytes, text.bytes);
//! ```

pub mod driver;
pub mod fleet;
mod latency;
pub mod model;
pub mod protobuf;
mod render;
mod rng;
pub mod server;
mod shapes;
pub mod vectors;

use std::io::Write as _;

pub use fleet::{FleetSpec, ShapeMix, TargetSpec};
pub use render::Format;
pub use shapes::Shape;

use model::Family;

/// The time a body is stamped with unless told otherwise, in milliseconds
/// since the epoch (2023-11-14T22:14:29.993Z; the oldest timestamp of a body
/// is then exactly 1,700,000,000 s): fixed, so that a body is the
/// same bytes run after run. Prometheus drops samples this old (out of
/// bounds) unless the job sets `honor_timestamps: false`; targets that serve
/// Prometheus stamp bodies near the current time instead ([`BodySpec::at_time`]).
pub const FIXED_TIME_MS: i64 = 1_700_000_069_993;

/// The current wall-clock time in milliseconds since the epoch, rounded down
/// to a multiple of `step_ms` (at least 1), so bodies stamped with it change
/// only once per step.
pub fn clock_time_ms(step_ms: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let step = step_ms.max(1);
    now - now.rem_euclid(step)
}

/// Everything that determines one generated body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodySpec {
    /// What the body looks like.
    pub shape: Shape,
    /// Approximate number of samples in text format (the exact count is
    /// reported in [`Body::samples`]).
    pub series: usize,
    /// Seed of every label value and value.
    pub seed: u64,
    /// Share (0..=1) of entities whose label values change each churn epoch.
    pub churn_share: f64,
    /// Churn epoch; epoch 0 is the initial state.
    pub epoch: u64,
    /// When the body was "collected", in milliseconds since the epoch:
    /// explicit sample timestamps (cAdvisor) and exemplar timestamps lie at
    /// most 70 s before it, never after. Only the shapes
    /// of [`Shape::has_timestamps`] use it; label sets and values never
    /// depend on it.
    pub time_ms: i64,
}

impl BodySpec {
    /// A spec without churn, at epoch 0.
    pub fn new(shape: Shape, series: usize, seed: u64) -> Self {
        Self {
            shape,
            series,
            seed,
            churn_share: 0.0,
            epoch: 0,
            time_ms: FIXED_TIME_MS,
        }
    }

    /// The same spec stamped at `time_ms` (milliseconds since the epoch).
    pub fn at_time(self, time_ms: i64) -> Self {
        Self { time_ms, ..self }
    }

    /// The same spec at another churn epoch.
    pub fn at_epoch(self, churn_share: f64, epoch: u64) -> Self {
        Self {
            churn_share,
            epoch,
            ..self
        }
    }

    /// Calls `sink` with each family of the body, one at a time.
    pub fn for_each_family(&self, sink: &mut dyn FnMut(&Family)) {
        let churn = shapes::Churn {
            seed: self.seed,
            epoch: self.epoch,
            share: self.churn_share.clamp(0.0, 1.0),
        };
        shapes::generate(self.shape, self.series, churn, self.time_ms, sink);
    }

    /// Renders the body in `format`, with its expected sample count.
    pub fn render(&self, format: Format) -> Body {
        let mut renderer = render::Renderer::new(format);
        self.for_each_family(&mut |f| renderer.family(f));
        let (bytes, samples, families) = renderer.finish();
        Body {
            format,
            bytes,
            samples,
            families,
        }
    }
}

/// One rendered body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Its format.
    pub format: Format,
    /// The exact bytes a target serves (uncompressed).
    pub bytes: Vec<u8>,
    /// Samples a Prometheus scrape of these bytes reports
    /// (`scrape_samples_scraped`): classic histogram = buckets (`+Inf`
    /// included) + `_sum` + `_count`; summary = quantiles + `_sum` + `_count`;
    /// OpenMetrics `_created` lines count as samples; protobuf expands the same
    /// way as text.
    pub samples: u64,
    /// Non-empty metric families in the body.
    pub families: usize,
}

impl Body {
    /// The body gzip-compressed, as a client library sends it.
    pub fn gzip(&self) -> Vec<u8> {
        gzip(&self.bytes)
    }
}

/// gzip at the default level, like Go's `compress/gzip` in client libraries.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_and_format_is_deterministic_and_counts_agree() {
        for shape in Shape::ALL {
            let spec = BodySpec::new(shape, 300, 9);
            let text = spec.render(Format::Text);
            let om = spec.render(Format::OpenMetrics);
            let pb = spec.render(Format::Protobuf);
            assert_eq!(text, spec.render(Format::Text), "{shape:?}");
            assert_eq!(pb, spec.render(Format::Protobuf), "{shape:?}");
            assert_eq!(text.samples, pb.samples, "{shape:?}");
            assert!(om.samples >= text.samples, "{shape:?}");
            assert!(
                text.samples >= 100 && text.samples < 700,
                "{shape:?} gave {} samples for 300",
                text.samples
            );
            // Text: every non-comment line is one sample.
            let lines = text
                .bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
                .count() as u64;
            assert_eq!(lines, text.samples, "{shape:?}");
            let om_lines = om
                .bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
                .count() as u64;
            assert_eq!(om_lines, om.samples, "{shape:?}");
            assert!(om.bytes.ends_with(b"# EOF\n"));
        }
    }

    #[test]
    fn different_seeds_give_different_bodies() {
        let a = BodySpec::new(Shape::KubeStateMetrics, 200, 1).render(Format::Text);
        let b = BodySpec::new(Shape::KubeStateMetrics, 200, 2).render(Format::Text);
        assert_ne!(a.bytes, b.bytes);
        assert_eq!(a.samples, b.samples);
    }

    #[test]
    fn churn_changes_some_label_values_but_not_the_count() {
        let base = BodySpec::new(Shape::KubeStateMetrics, 2000, 5);
        let e0 = base.at_epoch(0.2, 0).render(Format::Text);
        let e1 = base.at_epoch(0.2, 1).render(Format::Text);
        let e1_again = base.at_epoch(0.2, 1).render(Format::Text);
        assert_eq!(e1, e1_again);
        assert_eq!(e0.samples, e1.samples);
        let lines = |b: &Body| {
            String::from_utf8(b.bytes.clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<std::collections::BTreeSet<_>>()
        };
        let (l0, l1) = (lines(&e0), lines(&e1));
        let changed = l0.difference(&l1).count();
        assert!(changed > 0, "churn changed nothing");
        assert!(
            changed < l0.len() / 2,
            "churn of 20% changed {changed} of {} lines",
            l0.len()
        );
        // Without churn share, epochs are identical.
        assert_eq!(
            base.at_epoch(0.0, 0).render(Format::Text),
            base.at_epoch(0.0, 3).render(Format::Text)
        );
    }

    #[test]
    fn time_moves_timestamps_only() {
        for shape in Shape::ALL {
            let fixed = BodySpec::new(shape, 300, 4);
            let later = fixed.at_time(FIXED_TIME_MS + 86_400_000);
            for format in Format::ALL {
                let a = fixed.render(format);
                let b = later.render(format);
                assert_eq!(a.samples, b.samples, "{shape:?} {format:?}");
                // Text has no exemplars, so only cAdvisor's text moves.
                let stamped = match shape {
                    Shape::Cadvisor => true,
                    Shape::OpenMetricsExemplars => format != Format::Text,
                    _ => false,
                };
                assert_eq!(stamped, shape.has_timestamps() && a.bytes != b.bytes);
                assert_eq!(a.bytes == b.bytes, !stamped, "{shape:?} {format:?}");
            }
        }
        // Text cAdvisor lines: the same series and values, the timestamp a day on.
        let text = |spec: BodySpec| String::from_utf8(spec.render(Format::Text).bytes).unwrap();
        let spec = BodySpec::new(Shape::Cadvisor, 300, 4);
        let now = 1_800_000_000_000;
        let (a, b) = (text(spec), text(spec.at_time(now)));
        for (la, lb) in a.lines().zip(b.lines()) {
            if la.starts_with('#') {
                assert_eq!(la, lb);
                continue;
            }
            let (sa, ta) = la.rsplit_once(' ').unwrap();
            let (sb, tb) = lb.rsplit_once(' ').unwrap();
            assert_eq!(sa, sb);
            let (ta, tb): (i64, i64) = (ta.parse().unwrap(), tb.parse().unwrap());
            assert_eq!(tb - ta, now - FIXED_TIME_MS);
            assert!(tb <= now && tb > now - 80_000, "{lb}");
        }
    }

    #[test]
    fn clock_time_is_a_multiple_of_the_step() {
        let t = clock_time_ms(60_000);
        assert_eq!(t % 60_000, 0);
        assert!(t > FIXED_TIME_MS);
        assert!(clock_time_ms(0) >= t);
    }

    #[test]
    fn gzip_round_trips() {
        let body = BodySpec::new(Shape::NodeExporter, 100, 1).render(Format::Text);
        let mut out = Vec::new();
        std::io::copy(
            &mut flate2::read::GzDecoder::new(&body.gzip()[..]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, body.bytes);
    }
}
