//! What a scrape of a target needs, shared by the sidecar's scrape proxy
//! and the coordinator's measuring explore, so that the coordinator measures
//! a new target exactly as its sidecar will scrape and count it.
//!
//! - [`upstream`]: the pooled HTTP client of a job (TLS, auth, proxy,
//!   redirects, secret files re-read on change).
//! - [`counting`]: counting a body chunk by chunk as it passes
//!   (inflate, parse, `metric_relabel_configs`).
//! - `metric_relabel`: which samples a job's `metric_relabel_configs`
//!   keep, decided as Prometheus does.
//! - [`jobs`]: the job table, job name to client, timeout and counting
//!   hooks, built from the user's config.

pub mod counting;
pub mod jobs;
mod metric_relabel;
pub mod upstream;

/// Prometheus's scrape timeout header: the sidecar passes Prometheus's on
/// to the target, the explore sends the job's.
pub(crate) const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";
