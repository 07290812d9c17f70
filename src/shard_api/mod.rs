//! What crosses the wire between the coordinator and a sidecar: the
//! assignment the coordinator sends, the report the sidecar answers with,
//! and the client the coordinator calls the sidecar's API through.
//!
//! The coordinator and the sidecar both depend on this module and on
//! nothing of each other, so each JSON document they exchange is defined
//! once. Field names are the wire format: a sidecar and a coordinator of
//! different versions must still understand each other, so fields are
//! added with defaults, never renamed.
//!
//! - [`ScrapeTarget`] ([`TargetId`], [`Role`]): one target as assigned,
//!   built from a discovered target with `ScrapeTarget::from`.
//! - [`Assignment`]: a shard's whole target list under a generation
//!   (`PUT /api/v1/shard/targets`); [`Applied`]: what applying it did.
//! - [`ShardStatus`] ([`TargetStatus`], [`PrometheusState`]): the sidecar's
//!   report (`GET /api/v1/shard`), with each target's
//!   [`TargetStatsSnapshot`].
//! - [`PushedJobs`]: scrape configs not in the user's file (generated from
//!   prometheus-operator resources) the coordinator hands to every sidecar
//!   (`PUT /api/v1/shard/jobs`).
//! - [`SidecarClient`]: the coordinator's side of those calls.

mod assignment;
mod client;
mod jobs;
mod report;
mod stats;
mod target;

pub(crate) use assignment::MAX_ASSIGNMENT_BYTES;
pub use assignment::{Applied, Assignment};
pub use client::{SidecarCallError, SidecarClient};
pub use jobs::PushedJobs;
pub(crate) use report::PICKUP_GRACE;
pub use report::{PrometheusState, ShardStatus, TargetStatus};
pub(crate) use stats::HISTORY;
pub use stats::{
    ErrorCause, FamilyCount, LastError, ScrapeFormat, ScrapeOutcome, ScrapeRecord,
    TargetStatsSnapshot,
};
pub use target::{Role, ScrapeTarget, TargetId};
