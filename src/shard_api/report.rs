//! The sidecar's report (`GET /api/v1/shard`): which targets it holds, how
//! each was scraped, and whether its Prometheus does its job.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::target::{Role, TargetId};

/// Time Prometheus may take to start scraping a target it was just given:
/// its file_sd watcher fires at once, but its discovery manager hands new
/// target sets to the scrape pools at most every 5 s, and the first scrape
/// of a target is offset within its interval. Neither the sidecar (judging
/// whether its Prometheus scrapes) nor the coordinator (judging whether a
/// target is up) expects a scrape of a target sooner.
pub(crate) const PICKUP_GRACE: Duration = Duration::from_secs(10);

/// How the shard's Prometheus is doing, as its sidecar sees it. Part of the
/// sidecar's report (`GET /api/v1/shard`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PrometheusState {
    /// Not checked yet (the sidecar has just started), or reported by a
    /// sidecar that does not check.
    #[default]
    Unknown,
    /// `/-/ready` answers 200 and the assigned targets are being scraped.
    Ready,
    /// Not ready yet since `since`, and not once since the sidecar started
    /// (a new shard, or one restarted whose Prometheus is still starting).
    Starting {
        /// When it was first seen not ready.
        since: u64,
        /// What the check said.
        reason: String,
    },
    /// `/-/ready` fails (stopped, restarting, replaying its WAL) since
    /// `since` (milliseconds since the Unix epoch, the sidecar's clock),
    /// after it was ready.
    NotReady {
        /// When it was first seen not ready.
        since: u64,
        /// What the check said.
        reason: String,
    },
    /// Ready, but it has served no scrape of any assigned target for
    /// several intervals since `since`.
    NotScraping {
        /// When it was first seen not scraping.
        since: u64,
        /// Which targets and for how long.
        reason: String,
    },
}

/// The answer of `GET /api/v1/shard`. `S` is how a client reads each
/// target's stats: as JSON, or typed
/// ([`TargetStatsSnapshot`](super::TargetStatsSnapshot)).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ShardStatus<S = serde_json::Value> {
    /// The shard's name.
    pub shard: String,
    /// Hash of the user's config.
    pub config_hash: String,
    /// Generation of the applied assignment.
    pub generation: u64,
    /// Prometheus head series, if known.
    pub head_series: Option<u64>,
    /// The sidecar's clock when it answered, in milliseconds since the Unix
    /// epoch: a reader takes the age of a scrape against it rather than
    /// against its own clock. Zero from sidecars that do not say.
    #[serde(default)]
    pub reported_at: u64,
    /// Whether its Prometheus is ready and scraping what it was assigned.
    #[serde(default)]
    pub prometheus: PrometheusState,
    /// The version of the jobs the coordinator pushed that it holds
    /// ([`PushedJobs::version`](super::PushedJobs)); `None` before the first
    /// push (or after a restart: pushed jobs are not stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs_version: Option<String>,
    /// Every assigned target with its stats.
    pub targets: Vec<TargetStatus<S>>,
}

/// One target in [`ShardStatus`].
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TargetStatus<S = serde_json::Value> {
    /// Stable id.
    pub id: TargetId,
    /// Job name.
    pub job: String,
    /// Active or draining.
    pub role: Role,
    /// When this shard got it in its current role, in milliseconds since
    /// the Unix epoch ([`Assignment::assigned_at`](super::Assignment::assigned_at));
    /// absent if unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<u64>,
    /// Scrape statistics (absent before the first scrape).
    pub stats: Option<S>,
}
