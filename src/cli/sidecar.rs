//! `promshard sidecar`'s flags, and the [`SidecarSettings`] they give.

use std::net::SocketAddr;
use std::path::PathBuf;

use promshard_config::PromDuration;

use crate::sidecar::run::{RulesMode, SidecarSettings};

/// `promshard sidecar` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct SidecarArgs {
    /// Where Prometheus scrapes through the sidecar. Loopback by default: only
    /// the local Prometheus should reach it.
    #[arg(long = "listen", default_value = "127.0.0.1:8008")]
    pub listen: SocketAddr,
    /// The API for the coordinator (targets, stats, metrics, health).
    #[arg(long = "api.listen", default_value = "0.0.0.0:8080")]
    pub api_listen: SocketAddr,
    /// The user's prometheus.yml (re-read when it changes).
    #[arg(long = "config.file")]
    pub config_file: PathBuf,
    /// Where the shard's Prometheus config and per-job file_sd files go;
    /// point Prometheus's `--config.file` at `<dir>/prometheus.yml`.
    #[arg(long = "output.dir")]
    pub output_dir: PathBuf,
    /// Where the assignment is persisted (restored at start).
    #[arg(long = "storage.path")]
    pub storage_path: PathBuf,
    /// The local Prometheus (for reloads and head series).
    #[arg(long = "prometheus.url", default_value = "http://127.0.0.1:9090")]
    pub prometheus_url: String,
    /// File holding the bearer token required on PUT /api/v1/shard/targets.
    #[arg(long = "api.token-file")]
    pub token_file: Option<PathBuf>,
    /// This shard's name (default: the host name).
    #[arg(long = "shard.name")]
    pub shard_name: Option<String>,
    /// The address written into file_sd entries (default: --listen).
    #[arg(long = "scrape.address")]
    pub scrape_address: Option<String>,
    /// Run discovery and relabeling here and scrape every target of the
    /// config through this sidecar: a drop-in per-target series counter for
    /// a single Prometheus, no coordinator needed.
    #[arg(long)]
    pub standalone: bool,
    /// How often the user's config file is checked for changes.
    #[arg(long = "config.check-interval", default_value = "5s")]
    pub config_check_interval: PromDuration,
    /// Count a target's series at most this often, less 5% for scheduling jitter (0s: every
    /// scrape); every scrape is still forwarded and recorded, and a failed count or a new
    /// Content-Type or Content-Encoding counts the next one.
    #[arg(long = "counting.min-interval", default_value = "60s")]
    pub count_min_interval: PromDuration,
    /// Where the config's rule_files run: `global` (once, on the global view;
    /// this shard gets none) or `shard` (on this shard's targets only).
    #[arg(long = "shard.rules", value_enum, default_value = "global")]
    pub rules: RulesMode,
    /// Add a job `promshard-shard` scraping this shard's own Prometheus,
    /// labelled promshard_shard=<--shard.name> (for ingestion autoscaling).
    #[arg(long = "shard.self-scrape")]
    pub self_scrape: bool,
}

impl From<SidecarArgs> for SidecarSettings {
    fn from(args: SidecarArgs) -> Self {
        Self {
            listen: args.listen,
            api_listen: args.api_listen,
            config_file: args.config_file,
            output_dir: args.output_dir,
            storage_path: args.storage_path,
            prometheus_url: args.prometheus_url,
            token_file: args.token_file,
            shard_name: args.shard_name,
            scrape_address: args.scrape_address,
            standalone: args.standalone,
            config_check_interval: args.config_check_interval.as_std(),
            count_min_interval: args.count_min_interval.as_std(),
            rules: args.rules,
            self_scrape: args.self_scrape,
        }
    }
}
