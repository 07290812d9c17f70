//! The sidecar's own metrics: of the scrape path ([`ProxyMetrics`]: scrapes
//! by outcome and cause, scrapes counted or skipped by the counting
//! schedule, upstream latency, bytes and counted samples), and of the
//! control side ([`ControlMetrics`]: the assignment, config loads and
//! Prometheus reloads).
//!
//! No metric carries a per-target label: targets churn, and the sidecar must
//! not leak cardinality into the Prometheus that scrapes it. Per-target
//! figures are in the API ([`super::stats`]).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::shard_api::{ErrorCause, ScrapeOutcome};

/// Labels of the scrape counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ScrapeLabels {
    /// `success` or `failed`.
    pub outcome: &'static str,
    /// An [`ErrorCause`] label value, `none` on success.
    pub cause: &'static str,
}

/// Labels of the byte counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct BytesLabels {
    /// `wire` (as forwarded) or `decoded` (inflated).
    pub kind: &'static str,
}

/// Labels of the sample counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct SamplesLabels {
    /// `scraped` or `kept` (after metric relabeling).
    pub kind: &'static str,
}

/// Labels of the counting-schedule counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct CountingLabels {
    /// `counted`, or `skipped` (counted recently enough).
    pub decision: &'static str,
}

/// The scrape path's metrics.
#[derive(Debug, Clone)]
pub struct ProxyMetrics {
    scrapes: Family<ScrapeLabels, Counter>,
    upstream_latency: Histogram,
    scrape_duration: Histogram,
    bytes: Family<BytesLabels, Counter>,
    samples: Family<SamplesLabels, Counter>,
    counting: Family<CountingLabels, Counter>,
    in_flight: Gauge,
    /// Handles on the series every scrape touches, looked up once here so
    /// that a scrape costs no label hashing or family lock (the families
    /// keep them: they are the same counters).
    hot: HotCounters,
}

#[derive(Debug, Clone)]
struct HotCounters {
    succeeded: Counter,
    wire_bytes: Counter,
    decoded_bytes: Counter,
    scraped_samples: Counter,
    kept_samples: Counter,
    counted: Counter,
    skipped: Counter,
}

impl HotCounters {
    fn new(
        scrapes: &Family<ScrapeLabels, Counter>,
        bytes: &Family<BytesLabels, Counter>,
        samples: &Family<SamplesLabels, Counter>,
        counting: &Family<CountingLabels, Counter>,
    ) -> Self {
        let byte_kind = |kind| bytes.get_or_create(&BytesLabels { kind }).clone();
        let sample_kind = |kind| samples.get_or_create(&SamplesLabels { kind }).clone();
        let decision = |decision| counting.get_or_create(&CountingLabels { decision }).clone();
        Self {
            succeeded: scrapes
                .get_or_create(&ScrapeLabels {
                    outcome: "success",
                    cause: "none",
                })
                .clone(),
            wire_bytes: byte_kind("wire"),
            decoded_bytes: byte_kind("decoded"),
            scraped_samples: sample_kind("scraped"),
            kept_samples: sample_kind("kept"),
            counted: decision("counted"),
            skipped: decision("skipped"),
        }
    }
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        let scrapes = Family::default();
        let bytes = Family::default();
        let samples = Family::default();
        let counting = Family::default();
        let hot = HotCounters::new(&scrapes, &bytes, &samples, &counting);
        Self {
            scrapes,
            // 0.5 ms .. ~65 s.
            upstream_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 18)),
            scrape_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 18)),
            bytes,
            samples,
            counting,
            in_flight: Gauge::default(),
            hot,
        }
    }
}

impl ProxyMetrics {
    /// Adds the metrics to `registry` (under `promshard_sidecar_`).
    pub fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("promshard_sidecar");
        sub.register(
            "scrapes",
            "Scrapes proxied, by outcome and failure cause",
            self.scrapes.clone(),
        );
        sub.register(
            "upstream_latency_seconds",
            "Time from the scrape request to the target's response headers",
            self.upstream_latency.clone(),
        );
        sub.register(
            "scrape_duration_seconds",
            "Time from the scrape request to the end of the forwarded body",
            self.scrape_duration.clone(),
        );
        sub.register(
            "body_bytes",
            "Scrape body bytes, as forwarded (wire) and inflated (decoded; counted scrapes only)",
            self.bytes.clone(),
        );
        sub.register(
            "counted_samples",
            "Samples counted in scrape bodies, scraped and kept",
            self.samples.clone(),
        );
        sub.register(
            "counting_scrapes",
            "Scrapes answered with HTTP 200, by whether their body was counted or skipped \
             (the target was counted less than --counting.min-interval ago)",
            self.counting.clone(),
        );
        sub.register(
            "scrapes_in_flight",
            "Scrapes currently being proxied",
            self.in_flight.clone(),
        );
    }

    /// Counts one finished scrape.
    pub(crate) fn scrape_finished(
        &self,
        outcome: ScrapeOutcome,
        cause: Option<ErrorCause>,
        seconds: f64,
    ) {
        match (outcome, cause) {
            (ScrapeOutcome::Success, None) => {
                self.hot.succeeded.inc();
            }
            _ => {
                let labels = ScrapeLabels {
                    outcome: match outcome {
                        ScrapeOutcome::Success => "success",
                        ScrapeOutcome::Failed => "failed",
                    },
                    cause: cause.map_or("none", ErrorCause::as_str),
                };
                self.scrapes.get_or_create(&labels).inc();
            }
        }
        self.scrape_duration.observe(seconds);
    }

    /// Whether a 200 response is counted.
    pub(crate) fn counting_decided(&self, counted: bool) {
        if counted {
            self.hot.counted.inc();
        } else {
            self.hot.skipped.inc();
        }
    }

    /// Time to the target's response headers.
    pub(crate) fn upstream_answered(&self, seconds: f64) {
        self.upstream_latency.observe(seconds);
    }

    /// Body bytes of one scrape.
    pub(crate) fn bytes(&self, wire: u64, decoded: u64) {
        self.hot.wire_bytes.inc_by(wire);
        self.hot.decoded_bytes.inc_by(decoded);
    }

    /// Samples counted in one scrape.
    pub(crate) fn samples(&self, scraped: Option<u64>, kept: Option<u64>) {
        if let Some(scraped) = scraped {
            self.hot.scraped_samples.inc_by(scraped);
        }
        if let Some(kept) = kept {
            self.hot.kept_samples.inc_by(kept);
        }
    }

    /// A scrape started; the guard ends it.
    pub(crate) fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight {
            gauge: self.in_flight.clone(),
        }
    }
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Gauges and counters of the control side.
#[derive(Debug, Clone, Default)]
pub(super) struct ControlMetrics {
    /// Generation of the applied assignment.
    pub(super) generation: Gauge,
    /// Targets assigned.
    pub(super) targets: Gauge,
    /// Failed reloads of Prometheus.
    pub(super) reload_failures: Counter,
    /// Changes of the user's config that did not load.
    pub(super) config_load_failures: Counter,
    /// Whether the last shard config change was loaded by Prometheus.
    pub(super) config_last_reload_success: Gauge,
}

impl ControlMetrics {
    /// Registers every metric.
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "promshard_sidecar_assignment_generation",
            "Generation of the applied assignment",
            self.generation.clone(),
        );
        registry.register(
            "promshard_sidecar_assigned_targets",
            "Targets assigned to this shard",
            self.targets.clone(),
        );
        registry.register(
            "promshard_sidecar_prometheus_reload_failures",
            "Failed POST /-/reload calls to the local Prometheus",
            self.reload_failures.clone(),
        );
        registry.register(
            "promshard_sidecar_config_load_failures",
            "Times the user's config changed but could not be loaded (the last good one stays)",
            self.config_load_failures.clone(),
        );
        registry.register(
            "promshard_sidecar_config_last_reload_successful",
            "Whether the last shard config change was loaded by Prometheus",
            self.config_last_reload_success.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(metrics: &ProxyMetrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    /// The handles a scrape increments are the families' own series, and a
    /// clone of the metrics (the API's copy) sees the same values.
    #[test]
    fn hot_counters_are_the_family_series() {
        let metrics = ProxyMetrics::default();
        let served = metrics.clone();
        served.scrape_finished(ScrapeOutcome::Success, None, 0.01);
        served.scrape_finished(ScrapeOutcome::Failed, Some(ErrorCause::Connect), 0.01);
        served.counting_decided(true);
        served.counting_decided(false);
        served.counting_decided(false);
        served.bytes(100, 700);
        served.samples(Some(7), Some(5));
        served.samples(None, None);
        let text = exposition(&metrics);
        for line in [
            r#"promshard_sidecar_scrapes_total{outcome="success",cause="none"} 1"#,
            r#"promshard_sidecar_scrapes_total{outcome="failed",cause="connect"} 1"#,
            r#"promshard_sidecar_counting_scrapes_total{decision="counted"} 1"#,
            r#"promshard_sidecar_counting_scrapes_total{decision="skipped"} 2"#,
            r#"promshard_sidecar_body_bytes_total{kind="wire"} 100"#,
            r#"promshard_sidecar_body_bytes_total{kind="decoded"} 700"#,
            r#"promshard_sidecar_counted_samples_total{kind="scraped"} 7"#,
            r#"promshard_sidecar_counted_samples_total{kind="kept"} 5"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    /// Series of the hot path exist from the start, at zero, so that
    /// `rate()` sees the first scrape.
    #[test]
    fn hot_series_start_at_zero() {
        let text = exposition(&ProxyMetrics::default());
        assert!(
            text.contains(r#"promshard_sidecar_scrapes_total{outcome="success",cause="none"} 0"#)
        );
        assert!(text.contains(r#"promshard_sidecar_body_bytes_total{kind="wire"} 0"#));
        assert!(!text.contains(r#"outcome="failed""#));
    }
}
