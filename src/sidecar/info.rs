//! What the sidecar reports about itself beside its assignment: its name,
//! the hash of the config it runs, its Prometheus's head series and health,
//! every target's scrape statistics and its own metrics.
//!
//! The API reads it through [`ShardInfo`]; the config watch and the poll of
//! Prometheus keep it current.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use prometheus_client::registry::Registry;

use super::api::ShardInfo;
use super::health::HealthTracker;
use super::stats::StatsRegistry;
use crate::shard_api::{PrometheusState, TargetId};

/// Identity, stats and metrics for the API.
pub(super) struct SidecarInfo {
    shard: String,
    config_hash: RwLock<String>,
    /// Version of the pushed jobs in force (`None`: none).
    jobs_version: RwLock<Option<String>>,
    head_series: AtomicU64,
    head_series_known: AtomicBool,
    /// Whether Prometheus is ready and scraping.
    pub(super) health: HealthTracker,
    /// When this sidecar started (ms since the epoch): no target is overdue
    /// before Prometheus has had its pickup grace from then.
    pub(super) started_ms: u64,
    /// Every target's scrape statistics (shared with the scrape path).
    pub(super) stats: Arc<StatsRegistry>,
    registry: Registry,
}

impl SidecarInfo {
    /// The info of shard `shard`, running the config whose shard config
    /// hashes to `config_hash`, started at `started_ms`; head series not
    /// known yet.
    pub(super) fn new(
        shard: String,
        config_hash: String,
        started_ms: u64,
        stats: Arc<StatsRegistry>,
        registry: Registry,
    ) -> Self {
        Self {
            shard,
            config_hash: RwLock::new(config_hash),
            jobs_version: RwLock::new(None),
            head_series: AtomicU64::new(0),
            head_series_known: AtomicBool::new(false),
            health: HealthTracker::default(),
            started_ms,
            stats,
            registry,
        }
    }

    /// The config now in force.
    pub(super) fn set_config_hash(&self, hash: &str) {
        if let Ok(mut current) = self.config_hash.write() {
            hash.clone_into(&mut current);
        }
    }

    /// The pushed jobs now in force (empty: none).
    pub(super) fn set_jobs_version(&self, version: &str) {
        if let Ok(mut current) = self.jobs_version.write() {
            *current = (!version.is_empty()).then(|| version.to_owned());
        }
    }

    /// Prometheus's head series, as just polled.
    pub(super) fn set_head_series(&self, series: u64) {
        self.head_series.store(series, Ordering::Release);
        self.head_series_known.store(true, Ordering::Release);
    }
}

impl std::fmt::Debug for SidecarInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SidecarInfo")
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

impl ShardInfo for SidecarInfo {
    fn jobs_version(&self) -> Option<String> {
        match self.jobs_version.read() {
            Ok(version) => version.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
    fn shard(&self) -> String {
        self.shard.clone()
    }
    fn config_hash(&self) -> String {
        match self.config_hash.read() {
            Ok(hash) => hash.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
    fn head_series(&self) -> Option<u64> {
        self.head_series_known
            .load(Ordering::Acquire)
            .then(|| self.head_series.load(Ordering::Acquire))
    }
    fn prometheus_state(&self) -> PrometheusState {
        self.health.state()
    }
    fn target_stats(&self, id: &TargetId) -> Option<serde_json::Value> {
        self.stats
            .snapshot(&id.0)
            .and_then(|s| serde_json::to_value(s).ok())
    }
    fn render_metrics(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
