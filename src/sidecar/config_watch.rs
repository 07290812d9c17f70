//! The user's config as the sidecar uses it, and keeping it current.
//!
//! [`load_config`] reads the user's prometheus.yml, generates the shard's
//! Prometheus config from it (see `configgen`) and builds the scrape path's
//! job table entries. [`ConfigWatch`] re-reads the file when it changes:
//! the job table is replaced, the file_sd files of new jobs are written,
//! the shard config is rewritten and Prometheus reloaded, retrying the
//! reload with backoff until it succeeds. A config that does not load
//! keeps the last good one in force; a change that does not change the
//! generated shard config (its hash) needs no reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use promshard_config::{Config, ConfigError};

use super::configgen::{self, JobSource, RulesMode, SelfScrape, ShardConfigInput};
use super::control::ShardControl;
use super::info::SidecarInfo;
use super::metrics::ControlMetrics;
use crate::fsutil::{WriteError, off_runtime, write_atomic_mode};
use crate::http::Shutdown;
use crate::prometheus::PrometheusClient;
use crate::scrape::jobs::{Job, JobError, JobTable, build_jobs};

/// The user's config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    /// It does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The shard config could not be generated from it.
    #[error("job {job:?}: {reason}")]
    ShardConfig {
        /// The job (empty: the generator's errors concern the whole
        /// document).
        job: String,
        /// Why.
        reason: String,
    },
    /// A job's HTTP settings cannot be used.
    #[error(transparent)]
    Jobs(#[from] JobError),
}

/// The user's config as the sidecar uses it.
#[derive(Debug)]
pub(super) struct LoadedConfig {
    pub(super) config: Config,
    /// Content hash of the generated shard config (what changes need a reload).
    pub(super) hash: String,
    rendered: String,
}

impl LoadedConfig {
    /// Writes the generated shard config to `path`, readable by its owner
    /// only: it keeps the user's secrets.
    pub(super) fn write(&self, path: &Path) -> Result<(), WriteError> {
        write_atomic_mode(path, self.rendered.as_bytes(), 0o600)
    }
}

/// Loads the user's config at `path`, generates the shard config (its
/// file_sd files in `output_dir`) and builds the job table entries.
/// How this shard's config is generated beyond the user's file.
#[derive(Debug, Clone, Default)]
pub(super) struct ShardProfile {
    /// Where the user's rules are evaluated.
    pub(super) rules: RulesMode,
    /// The shard's Prometheus scraping itself, if asked for.
    pub(super) self_scrape: Option<SelfScrape>,
}

pub(super) fn load_config(
    path: &Path,
    output_dir: &Path,
    profile: &ShardProfile,
) -> Result<(LoadedConfig, Vec<Job>), ConfigLoadError> {
    let config = Config::load(path)?;
    let document = serde_yaml_ng::Value::Mapping(config.raw.clone());
    let jobs: Vec<JobSource<'_>> = config
        .scrape_configs
        .iter()
        .map(|job| JobSource {
            raw: &job.raw,
            base_dir: &job.base_dir,
        })
        .collect();
    let config_dir = promshard_config::paths::dir_of(path);
    let rendered = configgen::generate(&ShardConfigInput {
        rules: profile.rules,
        self_scrape: profile.self_scrape.as_ref(),
        document: &document,
        scrape_configs: &jobs,
        config_dir: &config_dir,
        output_dir,
    })
    .map_err(|e| ConfigLoadError::ShardConfig {
        job: String::new(),
        reason: e.to_string(),
    })?;
    let hash = format!("{:016x}", fnv1a(rendered.as_bytes()));
    let built = build_jobs(&config)?;
    let loaded = LoadedConfig {
        config,
        hash,
        rendered,
    };
    Ok((loaded, built))
}

/// FNV-1a: stable across processes and versions (unlike std's SipHash keys).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The task that keeps the sidecar on the user's current config.
#[derive(Debug)]
pub(super) struct ConfigWatch {
    /// The user's prometheus.yml.
    pub(super) config_file: PathBuf,
    /// Where the file_sd files go.
    pub(super) output_dir: PathBuf,
    /// Where the shard config is written.
    pub(super) shard_config: PathBuf,
    /// How often the file is checked.
    pub(super) check_interval: Duration,
    /// How the shard config is generated beyond the user's file.
    pub(super) profile: ShardProfile,
    pub(super) control: Arc<ShardControl>,
    pub(super) jobs: Arc<JobTable>,
    pub(super) info: Arc<SidecarInfo>,
    pub(super) prometheus: PrometheusClient,
    pub(super) metrics: ControlMetrics,
}

impl ConfigWatch {
    /// Re-reads the user's config when it changes; rewrites the shard config
    /// and reloads Prometheus. A broken config keeps the last good one in
    /// force.
    pub(super) async fn run(self, mut current: LoadedConfig, mut shutdown: Shutdown) {
        let mut last_seen = std::fs::read(&self.config_file).ok();
        let mut pending_reload = false;
        let mut backoff = Duration::from_secs(1);
        loop {
            let wait = if pending_reload {
                backoff
            } else {
                self.check_interval
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.wait() => return,
            }
            let bytes = std::fs::read(&self.config_file).ok();
            if bytes != last_seen {
                last_seen = bytes;
                match load_config(&self.config_file, &self.output_dir, &self.profile) {
                    Ok((loaded, built)) if loaded.hash != current.hash => {
                        self.jobs.replace(built);
                        let names = loaded.config.job_names().map(str::to_owned).collect();
                        if let Err(e) = self.control.set_jobs(names).await {
                            tracing::error!(error = %e, "writing file_sd files after a config change");
                        }
                        let path = self.shard_config.clone();
                        let written = path.clone();
                        // Moved to the writing thread and back, not copied.
                        let write = move || loaded.write(&written).map(|()| loaded);
                        match off_runtime(path, write).await {
                            Ok(loaded) => {
                                self.info.set_config_hash(&loaded.hash);
                                current = loaded;
                                pending_reload = true;
                                backoff = Duration::from_secs(1);
                                tracing::info!(hash = %current.hash, "user config changed; shard config rewritten");
                            }
                            Err(e) => tracing::error!(error = %e, "writing the shard config"),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.metrics.config_load_failures.inc();
                        tracing::error!(error = %e, "user config changed but is invalid; keeping the last good one");
                    }
                }
            }
            if pending_reload {
                match self.prometheus.reload().await {
                    Ok(()) => {
                        pending_reload = false;
                        self.metrics.config_last_reload_success.set(1);
                        tracing::info!("Prometheus reloaded");
                    }
                    Err(e) => {
                        self.metrics.reload_failures.inc();
                        self.metrics.config_last_reload_success.set(0);
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                        tracing::warn!(error = %e, retry_in = ?backoff, "Prometheus reload failed");
                    }
                }
            }
        }
    }
}
