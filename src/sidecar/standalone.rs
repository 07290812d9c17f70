//! `--standalone`: the sidecar as a drop-in per-target series counter for a
//! single Prometheus, no coordinator. It runs discovery and relabeling for
//! the whole config itself and assigns every target to itself, with a
//! generation from its clock (never below the one applied); discovery
//! restarts when the config file changes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use promshard_config::Config;

use super::control::ShardControl;
use super::unix_millis;
use crate::http::Shutdown;
use crate::shard_api::{Assignment, ScrapeTarget};

/// `--standalone`: discovery and relabeling for the whole config, every
/// target assigned to this sidecar; restarted when the config file changes.
pub(super) async fn standalone(
    config_file: PathBuf,
    check_interval: Duration,
    control: Arc<ShardControl>,
    mut shutdown: Shutdown,
) {
    use promshard_config::discovery::TargetIndex;
    loop {
        let seen = std::fs::read(&config_file).ok();
        let config = match Config::load(&config_file) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "standalone discovery: config invalid; retrying");
                tokio::select! {
                    () = tokio::time::sleep(check_interval) => continue,
                    () = shutdown.wait() => return,
                }
            }
        };
        let (handle, mut events) = match crate::discovery::discovery_manager().start(&config) {
            Ok(started) => started,
            Err(e) => {
                tracing::error!(error = %e, "standalone discovery could not start");
                return;
            }
        };
        let mut index = TargetIndex::new(promshard_config::target::Compat::default());
        let mut check = tokio::time::interval(check_interval);
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { break };
                    let mut changed = index.apply(&config, event);
                    while let Ok(event) = events.try_recv() {
                        changed |= index.apply(&config, event);
                    }
                    if changed {
                        let generation = unix_millis().max(control.snapshot().generation + 1);
                        let targets = index.targets().map(ScrapeTarget::from).collect();
                        if let Err(e) = control.apply(Assignment { generation, targets, ..Assignment::default() }).await {
                            tracing::error!(error = %e, "standalone: applying discovered targets");
                        }
                    }
                }
                _ = check.tick() => {
                    if std::fs::read(&config_file).ok() != seen {
                        break;
                    }
                }
                () = shutdown.wait() => return,
            }
        }
        drop(handle);
    }
}
