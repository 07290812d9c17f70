//! The user's config as the sidecar uses it, and keeping it current.
//!
//! [`load_config`] reads the user's prometheus.yml, generates the shard's
//! Prometheus config from it (see `configgen`) and builds the scrape path's
//! job table entries. [`ConfigWatch`] re-reads the file when it changes:
//! the job table is replaced, the file_sd files of new jobs are written,
//! the shard config is rewritten and Prometheus reloaded, retrying the
//! reload with backoff until it succeeds. A config that does not load
//! keeps the last good one in force; a change that does not change the
//! generated shard config (its hash) needs no reload. Jobs the coordinator
//! pushes (`PUT /api/v1/shard/jobs`, kept in memory only) are added to the
//! file's the same way, and refused with the reason when they do not load.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use promshard_config::{Config, ConfigError};

use super::api::JobsPush;
use super::configgen::{self, JobSource, RulesMode, SelfScrape, ShardConfigInput};
use super::control::ShardControl;
use super::info::SidecarInfo;
use super::metrics::ControlMetrics;
use crate::fsutil::{WriteError, off_runtime, write_atomic_mode};
use crate::http::Shutdown;
use crate::prometheus::PrometheusClient;
use crate::scrape::jobs::{Job, JobError, JobTable, build_jobs};
use crate::shard_api::PushedJobs;

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

/// Where pushed jobs are said to come from, in errors.
const PUSHED_ORIGIN: &str = "jobs pushed by the coordinator";

pub(super) fn load_config(
    path: &Path,
    output_dir: &Path,
    profile: &ShardProfile,
    pushed: &PushedJobs,
) -> Result<(LoadedConfig, Vec<Job>), ConfigLoadError> {
    let config = Config::load(path)?.with_jobs(PUSHED_ORIGIN, &pushed.jobs)?;
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
    /// Jobs the coordinator pushes, with where to answer.
    pub(super) pushes: tokio::sync::mpsc::Receiver<JobsPush>,
    pub(super) control: Arc<ShardControl>,
    pub(super) jobs: Arc<JobTable>,
    pub(super) info: Arc<SidecarInfo>,
    pub(super) prometheus: PrometheusClient,
    pub(super) metrics: ControlMetrics,
}

impl ConfigWatch {
    /// Re-reads the user's config when it changes, and applies the jobs the
    /// coordinator pushes; rewrites the shard config and reloads Prometheus.
    /// A broken config, or refused jobs, keep the last good ones in force.
    pub(super) async fn run(mut self, mut current: LoadedConfig, mut shutdown: Shutdown) {
        let mut last_seen = std::fs::read(&self.config_file).ok();
        let mut pushed = PushedJobs::default();
        let mut pending_reload = false;
        let mut backoff = Duration::from_secs(1);
        loop {
            let wait = if pending_reload {
                backoff
            } else {
                self.check_interval
            };
            let mut push = None;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                received = self.pushes.recv() => push = received,
                () = shutdown.wait() => return,
            }
            if let Some((jobs, reply)) = push {
                // Jobs from the coordinator: used at once, or refused with
                // the reason (the last good ones stay).
                let outcome = self.apply(&mut current, &jobs).await;
                let answer = match outcome {
                    Ok(changed) => {
                        pending_reload |= changed;
                        self.info.set_jobs_version(&jobs.version);
                        tracing::info!(version = %jobs.version, jobs = jobs.jobs.len(), "pushed jobs in force");
                        pushed = jobs;
                        Ok(())
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "pushed jobs refused; keeping the last good ones");
                        Err(e)
                    }
                };
                let _ = reply.send(answer);
            } else {
                let bytes = std::fs::read(&self.config_file).ok();
                if bytes != last_seen {
                    last_seen = bytes;
                    match self.apply(&mut current, &pushed).await {
                        Ok(changed) => pending_reload |= changed,
                        Err(e) => {
                            self.metrics.config_load_failures.inc();
                            tracing::error!(error = %e, "user config changed but is invalid; keeping the last good one");
                        }
                    }
                }
            }
            if pending_reload {
                match self.prometheus.reload().await {
                    Ok(()) => {
                        pending_reload = false;
                        backoff = Duration::from_secs(1);
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

    /// Loads the user's file with `pushed` jobs: the scrape clients are
    /// replaced (new credentials take effect even when the shard config is
    /// the same), the file_sd files of new jobs written, and a changed
    /// shard config rewritten. Returns whether Prometheus must reload.
    async fn apply(&self, current: &mut LoadedConfig, pushed: &PushedJobs) -> Result<bool, String> {
        let (loaded, built) =
            load_config(&self.config_file, &self.output_dir, &self.profile, pushed)
                .map_err(|e| e.to_string())?;
        self.jobs.replace(built);
        let names = loaded.config.job_names().map(str::to_owned).collect();
        if let Err(e) = self.control.set_jobs(names).await {
            tracing::error!(error = %e, "writing file_sd files after a config change");
        }
        if loaded.hash == current.hash {
            *current = loaded;
            return Ok(false);
        }
        let path = self.shard_config.clone();
        let written = path.clone();
        // Moved to the writing thread and back, not copied.
        let write = move || loaded.write(&written).map(|()| loaded);
        let loaded = off_runtime(path, write)
            .await
            .map_err(|e| format!("writing the shard config: {e}"))?;
        self.info.set_config_hash(&loaded.hash);
        tracing::info!(hash = %loaded.hash, "shard config rewritten");
        *current = loaded;
        Ok(true)
    }
}
