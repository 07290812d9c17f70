//! `promshard coordinator`: discovery and relabeling once for the fleet,
//! packing by measured series, safe moves and scaling.
//!
//! One reconcile cycle ([`reconcile::Coordinator::cycle`]):
//! 1. the desired targets come from service discovery + relabeling
//!    (`promshard-config`'s discovery manager and target index);
//! 2. every shard's sidecar is asked what it serves and how big each target
//!    was ([`crate::shard_api::SidecarClient`]); a shard that does not answer is
//!    unresponsive from its first failure;
//! 3. the pure planner (`promshard-plan`) decides placement, moves and
//!    scaling from those reports alone, so a restarted coordinator rebuilds
//!    the same placement and moves nothing;
//! 4. the scale decision goes to the [`backend::ShardBackend`] first (scale
//!    up before moving), then every shard whose target list changed gets its
//!    full new assignment with a newer generation.
//!
//! A shard is ready only while its sidecar answers and reports its
//! Prometheus ready and scraping; starting, silent, not ready and not
//! scraping share one clock, and after `--shard.failover-after` its targets
//! move. A target nobody scraped for two intervals is not `up` in the API.
//!
//! What the coordinator says to sidecars and reads from them is
//! [`shard_api`](crate::shard_api); how it scrapes a target to measure it is
//! [`scrape`](crate::scrape), the same code the sidecar scrapes with.
//!
//! - [`backend`]: the shards (static list, local processes, Kubernetes).
//! - `explore`: one measuring scrape of targets no sidecar has measured.
//! - [`kubernetes`]: the `kubernetes` backend (StatefulSet pods as shards).
//! - [`reconcile`]: the cycle.
//! - `api`: `/api/v1/targets`, `/api/v1/shards`, `/api/v1/plan`, `/metrics`.
//! - `metrics`: the coordinator's own metrics.
//! - [`operator`]: jobs from prometheus-operator resources.
//! - [`run`]: the `promshard coordinator` command and its settings.

mod api;
pub mod backend;
mod explore;
pub mod kubernetes;
mod metrics;
pub mod operator;
pub mod reconcile;
pub mod run;
