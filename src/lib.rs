//! promshard: shards Prometheus scraping across many small Prometheus servers
//! by measured series load.
//!
//! The crate is the `promshard` binary's library half, so that integration
//! tests reach the same code the binary runs: what they and the binary use
//! is public, the rest is private to the crate. Start with `ARCHITECTURE.md`
//! at the repository root for the map; each module's docs say what it owns.
//!
//! - [`cli`]: the command line (`sidecar`, `coordinator`, `local`, `check`).
//! - [`scrape`]: what the sidecar's proxy and the coordinator's explore
//!   share: the upstream client, the job table and counting.
//! - [`shard_api`]: what the coordinator and the sidecars exchange.
//! - [`sidecar`]: `promshard sidecar`, the scrape proxy beside each Prometheus.
//! - [`coordinator`]: `promshard coordinator`, discovery, packing and scaling.
//! - [`local`]: `promshard local`, the whole system on one machine.
//! - `check`: `promshard check ...`, the tools users run by hand.
//! - `discovery`: the service discovery providers this build runs.
//! - [`http`], [`prometheus`]: the accept loop and body reads every server
//!   uses; the client for a Prometheus's API.
//! - [`telemetry`]: logging set-up.

mod check;
pub mod cli;
pub mod coordinator;
mod discovery;
mod fsutil;
pub mod http;
pub mod local;
pub mod prometheus;
pub mod scrape;
pub mod shard_api;
pub mod sidecar;
mod signal;
pub mod telemetry;
