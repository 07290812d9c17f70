//! `promshard sidecar`: the counting scrape proxy beside each Prometheus.
//!
//! Prometheus scrapes every target through the sidecar (`GET /scrape/<id>`);
//! the sidecar fetches the assigned target's URL with the job's HTTP settings,
//! streams the bytes back untouched and counts the series on the side. It also
//! writes the shard's Prometheus config from the targets it is assigned.
//!
//! It runs on one tokio thread by default (`--runtime.worker-threads`): one
//! thread forwards a scrape with the fewest wake-ups. Counting of large
//! bodies runs on blocking-pool threads (`tee`), and so do file writes with
//! fsync once it serves (`fsutil::off_runtime`), so neither stalls
//! forwarding.
//!
//! Start-up and what keeps it current:
//! - [`run`]: settings and the start-up order;
//! - `config_watch`: the user's config, the shard config and reloads;
//! - `poll`: Prometheus's readiness, scraping and head series; `health`
//!   judges them;
//! - `standalone`: `--standalone` discovery.
//!
//! The assignment:
//! - `control`: applying one (generations, persisting, file_sd);
//! - [`assignment`]: which targets this shard scrapes (the only ids it
//!   proxies);
//! - `store`, `filesd`, `configgen`: the files it writes.
//!
//! The scrape path and what it reports:
//! - [`proxy`]: `GET /scrape/<id>`; `tee`: counting while forwarding;
//! - `stats`: per-target history and the counting schedule; `metrics`: the
//!   sidecar's own metrics; `info` and `api`: what the coordinator reads.

mod api;
pub mod assignment;
mod config_watch;
mod configgen;
mod control;
mod filesd;
mod health;
mod info;
mod metrics;
mod poll;
pub mod proxy;
pub mod run;
mod standalone;
mod stats;
mod store;
mod tee;

/// Now, in milliseconds since the Unix epoch (scrape start times, assignment
/// stamps, standalone generations).
pub(crate) fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
