//! `promshard local`'s flags, and the [`LocalSettings`] they give.

use std::net::SocketAddr;
use std::path::PathBuf;

use promshard_config::PromDuration;

use crate::cli::coordinator::PlanArgs;
use crate::local::run::LocalSettings;
use crate::sidecar::run::RulesMode;

/// `promshard local` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    /// Run the built-in demo (synthetic targets; no config needed).
    #[arg(long)]
    pub demo: bool,
    /// Your prometheus.yml (not needed with --demo).
    #[arg(long = "config.file", required_unless_present = "demo")]
    pub config_file: Option<PathBuf>,
    /// Where shards keep their data (default: a new temporary directory).
    #[arg(long = "data.dir")]
    pub data_dir: Option<PathBuf>,
    /// Keep the data directories when shards stop.
    #[arg(long)]
    pub keep: bool,
    /// The coordinator's API.
    #[arg(long = "api.listen", default_value = "127.0.0.1:8090")]
    pub api_listen: SocketAddr,
    /// Stop by itself after this long (default: run until Ctrl-C).
    #[arg(long = "duration")]
    pub duration: Option<PromDuration>,
    /// Print the status as plain lines instead of a live table.
    #[arg(long = "plain")]
    pub plain: bool,
    /// Where your config's rule_files run: `global` (once, on the whole
    /// fleet's data) or `shard` (by every shard on its own targets).
    #[arg(long = "shard.rules", value_enum, default_value = "global")]
    pub rules: RulesMode,
    #[command(flatten)]
    pub plan: PlanArgs,
}

impl From<LocalArgs> for LocalSettings {
    fn from(args: LocalArgs) -> Self {
        Self {
            demo: args.demo,
            config_file: args.config_file,
            data_dir: args.data_dir,
            keep: args.keep,
            api_listen: args.api_listen,
            duration: args.duration.map(PromDuration::as_std),
            plain: args.plain,
            coordinator: args.plan.settings(),
            cycle_interval: args.plan.cycle_interval.as_std(),
            rules: args.rules,
        }
    }
}
