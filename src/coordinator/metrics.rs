//! The coordinator's own metrics: what the fleet needs and has
//! (`promshard_desired_shards`, which an external autoscaler follows), the
//! load of each shard, moves, explores and errors.
//!
//! The cycle updates them ([`CoordinatorMetrics::observe`]) from its plan
//! and shard views; the API serves them on `/metrics`. Per-shard gauges are
//! labelled by shard index only: the shard count is small and bounded,
//! targets are not.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use promshard_plan::{Plan, Warning};

use crate::coordinator::explore::ExploreLoad;
use crate::coordinator::reconcile::ShardView;

/// Label of per-shard gauges: the shard count is small and bounded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ShardLabels {
    /// Shard index.
    pub shard: String,
}

/// Labels of per-shard, per-dimension gauges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ShardDimensionLabels {
    /// Shard index.
    pub shard: String,
    /// `series` or `samples_per_second`.
    pub dimension: &'static str,
}

/// Labels of the prometheus-operator resource gauge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct OperatorStateLabels {
    /// `ServiceMonitor`, `PodMonitor`, `Probe` or `ScrapeConfig`.
    pub kind: &'static str,
    /// `accepted`, `rejected` or `not_selected`.
    pub state: &'static str,
}

/// The coordinator's metrics.
#[derive(Debug, Clone, Default)]
pub struct CoordinatorMetrics {
    desired_shards: Gauge,
    shards: Gauge,
    targets: Gauge,
    unassigned_targets: Gauge,
    estimated_targets: Gauge,
    oversize_targets: Gauge,
    shard_active_series: Family<ShardLabels, Gauge>,
    shard_active_samples: Family<ShardLabels, Gauge<f64, AtomicU64>>,
    shard_utilization: Family<ShardDimensionLabels, Gauge<f64, AtomicU64>>,
    shard_head_series: Family<ShardLabels, Gauge>,
    moves: Counter,
    explore_failures: Gauge,
    explores_queued: Gauge,
    explores_running: Gauge,
    /// Scale actions carried out.
    pub scale_events: Counter,
    /// Assignments sent to sidecars.
    pub assignments_pushed: Counter,
    /// Job sets sent to sidecars.
    pub jobs_pushed: Counter,
    operator_resources: Family<OperatorStateLabels, Gauge>,
    operator_problems: Gauge,
    /// Failed sidecar calls.
    pub sidecar_errors: Counter,
    /// Service discovery errors (last good targets kept).
    pub discovery_errors: Counter,
    cycles: Counter,
    cycle_seconds: Gauge<f64, AtomicU64>,
}

impl CoordinatorMetrics {
    /// Registers every metric.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry;
        r.register("promshard_desired_shards", "Shards the fleet needs (per replica group) at the target utilisation, in head series and samples per second; scale on this with an external autoscaler", self.desired_shards.clone());
        r.register(
            "promshard_shards",
            "Shards known to the coordinator",
            self.shards.clone(),
        );
        r.register(
            "promshard_targets",
            "Desired targets after discovery and relabeling",
            self.targets.clone(),
        );
        r.register(
            "promshard_unassigned_targets",
            "Targets no shard scrapes yet",
            self.unassigned_targets.clone(),
        );
        r.register(
            "promshard_estimated_targets",
            "Targets placed by an estimate (never measured)",
            self.estimated_targets.clone(),
        );
        r.register(
            "promshard_oversize_targets",
            "Targets larger than one shard's capacity (alone on a shard)",
            self.oversize_targets.clone(),
        );
        r.register(
            "promshard_shard_active_series",
            "Series of the targets a shard owns, as measured",
            self.shard_active_series.clone(),
        );
        r.register(
            "promshard_shard_active_samples_per_second",
            "Samples per second of the targets a shard owns (their series per scrape interval)",
            self.shard_active_samples.clone(),
        );
        r.register(
            "promshard_shard_utilization",
            "A shard's load as a share of its capacity, per dimension (series: head series over --shard.max-series; samples_per_second: over --shard.max-samples-per-second)",
            self.shard_utilization.clone(),
        );
        r.register(
            "promshard_shard_head_series",
            "Head series a shard's Prometheus reports",
            self.shard_head_series.clone(),
        );
        r.register(
            "promshard_jobs_pushed",
            "Job sets (from prometheus-operator resources) sent to sidecars",
            self.jobs_pushed.clone(),
        );
        r.register(
            "promshard_operator_resources",
            "prometheus-operator resources by kind and outcome (accepted, rejected with the operator's reason, not selected); /api/v1/operator lists them",
            self.operator_resources.clone(),
        );
        r.register(
            "promshard_operator_problems",
            "prometheus-operator objects that could not be read and referenced Secrets that could not be fetched",
            self.operator_problems.clone(),
        );
        r.register(
            "promshard_moves",
            "Targets moved between shards",
            self.moves.clone(),
        );
        r.register(
            "promshard_explore_failures",
            "Targets whose measuring scrape failed and is being retried",
            self.explore_failures.clone(),
        );
        r.register(
            "promshard_explores_queued",
            "Measuring scrapes of new targets waiting for a free slot",
            self.explores_queued.clone(),
        );
        r.register(
            "promshard_explores_running",
            "Measuring scrapes of new targets running",
            self.explores_running.clone(),
        );
        r.register(
            "promshard_scale_events",
            "Scale actions carried out",
            self.scale_events.clone(),
        );
        r.register(
            "promshard_assignments_pushed",
            "Assignments sent to sidecars",
            self.assignments_pushed.clone(),
        );
        r.register(
            "promshard_sidecar_call_errors",
            "Failed calls to sidecars",
            self.sidecar_errors.clone(),
        );
        r.register(
            "promshard_discovery_errors",
            "Service discovery errors (last good targets kept)",
            self.discovery_errors.clone(),
        );
        r.register(
            "promshard_cycles",
            "Reconcile cycles run",
            self.cycles.clone(),
        );
        r.register(
            "promshard_cycle_duration_seconds",
            "Duration of the last reconcile cycle",
            self.cycle_seconds.clone(),
        );
    }

    /// The outcomes of the prometheus-operator resources.
    pub(crate) fn observe_operator(&self, operator: &super::operator::OperatorJobs) {
        self.operator_resources.clear();
        for kind in ["ServiceMonitor", "PodMonitor", "Probe", "ScrapeConfig"] {
            for state in ["accepted", "rejected", "not_selected"] {
                let count = operator
                    .resources
                    .iter()
                    .filter(|r| r.kind == kind && r.state == state)
                    .count();
                self.operator_resources
                    .get_or_create(&OperatorStateLabels { kind, state })
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
        self.operator_problems
            .set(i64::try_from(operator.problems.len()).unwrap_or(i64::MAX));
    }

    pub(crate) fn observe(
        &self,
        plan: &Plan,
        shards: &[ShardView],
        moves: usize,
        explores: ExploreLoad,
    ) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.cycles.inc();
        self.desired_shards
            .set(i64::from(plan.summary.needed_shards));
        self.shards.set(gauge(shards.len()));
        self.targets.set(gauge(plan.targets.len()));
        self.unassigned_targets.set(gauge(
            plan.targets.iter().filter(|t| t.shard.is_none()).count(),
        ));
        self.estimated_targets
            .set(gauge(plan.targets.iter().filter(|t| t.estimated).count()));
        self.oversize_targets.set(gauge(
            plan.warnings
                .iter()
                .filter(|w| matches!(w, Warning::Oversize { .. }))
                .count(),
        ));
        self.shard_active_series.clear();
        self.shard_active_samples.clear();
        self.shard_utilization.clear();
        for shard in &plan.shards {
            let labels = ShardLabels {
                shard: shard.index.to_string(),
            };
            self.shard_active_series
                .get_or_create(&labels)
                .set(i64::try_from(shard.active_series).unwrap_or(i64::MAX));
            self.shard_active_samples
                .get_or_create(&labels)
                .set(shard.active_samples_per_second);
            for (dimension, value) in [
                ("series", shard.utilization.series),
                ("samples_per_second", shard.utilization.samples_per_second),
            ] {
                self.shard_utilization
                    .get_or_create(&ShardDimensionLabels {
                        shard: shard.index.to_string(),
                        dimension,
                    })
                    .set(value);
            }
        }
        self.shard_head_series.clear();
        for shard in shards.iter().filter(|s| s.group == 0) {
            if let Some(head) = shard.head_series {
                let labels = ShardLabels {
                    shard: shard.index.to_string(),
                };
                self.shard_head_series
                    .get_or_create(&labels)
                    .set(i64::try_from(head).unwrap_or(i64::MAX));
            }
        }
        self.moves.inc_by(u64::try_from(moves).unwrap_or(u64::MAX));
        self.explore_failures.set(gauge(explores.failed));
        self.explores_queued.set(gauge(explores.queued));
        self.explores_running.set(gauge(explores.running));
    }

    pub(crate) fn cycle_took(&self, seconds: f64) {
        self.cycle_seconds.set(seconds);
    }
}
