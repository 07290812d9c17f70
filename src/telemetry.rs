//! Logging set-up for every subcommand.
//!
//! Logs go to stderr in a compact human format. The level comes from
//! `--log.level`, else `RUST_LOG`, else the subcommand's default (`info`;
//! `warn` for `local`, whose live table other lines would interrupt).
//! Secrets from the user's
//! configuration are never passed to a log macro: config types print them as
//! `<secret>` (see [`promshard_config::Secret`]).

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber. Calling it twice is harmless (the
/// second call is ignored), which keeps tests that start several components
/// in one process simple.
pub fn init(level: Option<&str>, default_level: &str) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
    };
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
