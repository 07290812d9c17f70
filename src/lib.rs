//! promshard: shards Prometheus scraping across many small Prometheus servers
//! by measured series load.
//!
//! The crate is the `promshard` binary's library half, so that integration
//! tests and benchmarks reach the same code the binary runs. Start with
//! `ARCHITECTURE.md` at the repository root for the map; each module's docs
//! say what it owns.
//!
//! - [`cli`]: the command line (`sidecar`, `coordinator`, `local`, `check`).
//! - [`check`]: `promshard check ...`, the tools users run by hand.
//! - [`telemetry`]: logging set-up.

pub mod check;
pub mod cli;
pub mod coordinator;
pub mod discovery;
pub mod fsutil;
pub mod http;
pub mod local;
pub mod prometheus;
pub mod sidecar;
pub mod telemetry;
