//! One target as the coordinator assigns it and a sidecar scrapes it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Stable id of a target: hex of a hash of (job, final labels, URL), the same
/// on every coordinator and sidecar. Used in the scrape path `/scrape/<id>`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct TargetId(pub String);

// Lets the scrape path look an id up by the `&str` of the request path,
// without allocating a `TargetId` per scrape. Sound because `TargetId`
// orders, compares and hashes exactly as its `String`.
impl std::borrow::Borrow<str> for TargetId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the shard scrapes a target as its owner, or only until the
/// target's new shard has proven it scrapes it (handover).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The target belongs to this shard.
    #[default]
    Active,
    /// The target moved away; this shard keeps scraping it until the new
    /// shard has reported successful scrapes, so the series have no gap.
    Draining,
}

/// One target this shard scrapes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScrapeTarget {
    /// Stable id; the last segment of `/scrape/<id>`.
    pub id: TargetId,
    /// The `job_name` of the scrape config the target came from.
    pub job: String,
    /// The full URL to scrape (scheme, host, path and `params` query).
    pub url: String,
    /// The target's final labels after relabeling (`job` and `instance`
    /// included), written into the shard's file_sd entry as they are.
    pub labels: BTreeMap<String, String>,
    /// Active or draining.
    #[serde(default)]
    pub role: Role,
}

impl ScrapeTarget {
    /// Its scrape interval: the `__scrape_interval__` label the coordinator
    /// passes on (the job's, or what relabeling set), else Prometheus's
    /// default of one minute.
    pub(crate) fn scrape_interval(&self) -> Duration {
        self.labels
            .get("__scrape_interval__")
            .and_then(|text| promshard_config::PromDuration::parse(text).ok())
            .map(promshard_config::PromDuration::as_std)
            .filter(|interval| !interval.is_zero())
            .unwrap_or(DEFAULT_SCRAPE_INTERVAL)
    }
}

/// Prometheus's `scrape_interval` when a config gives none.
const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);

impl From<&promshard_config::target::Target> for ScrapeTarget {
    /// A discovered target as assigned (and explored): its final labels
    /// without `__` names, plus the per-target interval and timeout
    /// overrides, active.
    fn from(target: &promshard_config::target::Target) -> Self {
        let mut labels: BTreeMap<String, String> = target
            .public_labels()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for name in ["__scrape_interval__", "__scrape_timeout__"] {
            if let Some(value) = target.labels.get(name).filter(|v| !v.is_empty()) {
                labels.insert(name.to_owned(), value.to_owned());
            }
        }
        Self {
            id: TargetId(target.id.to_string()),
            job: target.job.clone(),
            url: target.url.clone(),
            labels,
            role: Role::Active,
        }
    }
}
