//! The command line: one subcommand per way of running promshard.
//!
//! Each subcommand's `--help` fits one screen and says what it is for. The
//! clap types live here, one module per subcommand, and each turns into the
//! settings the component runs with ([`SidecarSettings`], [`RunSettings`],
//! [`LocalSettings`]): the components know nothing of the command line, and
//! nothing but the binary's `main` uses this module.
//!
//! [`SidecarSettings`]: crate::sidecar::run::SidecarSettings
//! [`RunSettings`]: crate::coordinator::run::RunSettings
//! [`LocalSettings`]: crate::local::run::LocalSettings

use clap::{Parser, Subcommand};

pub mod check;
pub mod coordinator;
pub mod local;
pub mod sidecar;

/// Shards Prometheus scraping across many small Prometheus servers by
/// measured series load, and scales them.
///
/// Keep one ordinary prometheus.yml. The coordinator runs service discovery and
/// relabeling once for the fleet, measures every target's series, and packs
/// targets into shards; a sidecar beside each Prometheus proxies and counts its
/// scrapes. Start with `promshard local --demo`.
#[derive(Debug, Parser)]
#[command(
    name = "promshard",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Log level or filter (e.g. `debug`, `info,promshard=trace`). Defaults to
    /// RUST_LOG, else `info` (`warn` for `local`, whose live table other lines
    /// would interrupt).
    #[arg(long = "log.level", global = true, value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Threads that run the async runtime (scrapes, API, control). 1 runs
    /// them all on one thread, which forwards a scrape with the fewest
    /// wake-ups; counting of large bodies and file writes still get threads
    /// of their own. Default: 1 for `sidecar`, one per core for
    /// `coordinator` and `local` (`check` ignores it).
    #[arg(long = "runtime.worker-threads", global = true, value_name = "N")]
    pub runtime_worker_threads: Option<std::num::NonZeroUsize>,

    #[command(subcommand)]
    pub command: Command,
}

/// The ways to run promshard.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scrape proxy beside one Prometheus: forwards each target's bytes
    /// untouched, counts its series, and writes the shard's Prometheus config
    /// from the targets the coordinator assigns.
    Sidecar(sidecar::SidecarArgs),
    /// Runs service discovery and relabeling once for the fleet, packs targets
    /// into shards by measured series, moves targets without gaps, and scales
    /// the shards.
    Coordinator(Box<coordinator::CoordinatorArgs>),
    /// The whole system on one machine: the coordinator plus real `prometheus`
    /// processes with their sidecars as shards. `--demo` needs no config.
    Local(local::LocalArgs),
    /// Tools to run by hand: validate an exposition, a config, or show the
    /// targets relabeling makes of a config.
    #[command(subcommand)]
    Check(check::CheckCommand),
}
