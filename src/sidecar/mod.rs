//! `promshard sidecar`: the counting scrape proxy beside each Prometheus.
//!
//! Prometheus scrapes every target through the sidecar (`GET /scrape/<id>`);
//! the sidecar fetches the assigned target's URL with the job's HTTP settings,
//! streams the bytes back untouched and counts the series on the side. It also
//! writes the shard's Prometheus config from the targets it is assigned.
//!
//! - [`assignment`]: which targets this shard scrapes (the only ids it proxies).

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
