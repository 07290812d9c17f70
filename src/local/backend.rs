//! The `local` shard backend: each shard is a real `prometheus` process with
//! an in-process sidecar, on loopback ports, in its own directory.
//!
//! Scaling up starts shards (sidecar first, so the shard config exists, then
//! Prometheus on it); removing stops both and deletes the shard's directory
//! unless asked to keep it. Dropping the backend kills every process.
//!
//! A Prometheus that exits on its own (an OOM kill, a crash) is restarted
//! by [`LocalBackend::spawn_supervisor`] with exponential backoff, on the
//! same port and data directory, its exit status and the tail of its log
//! logged. The shard stays listed meanwhile: its sidecar reports its
//! Prometheus not ready, so the coordinator gives it no new targets and,
//! if it does not come back within `--shard.failover-after` (a crash loop,
//! a port taken, a WAL replay of many minutes), moves its targets away.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::coordinator::backend::{BackendError, ShardBackend, ShardEndpoint};
use crate::local::process::{PrometheusOptions, PrometheusProcess, free_port};
use crate::sidecar::run::{RulesMode, RunningSidecar, SidecarSettings};

/// One local shard.
#[derive(Debug)]
struct LocalShard {
    prometheus: PrometheusProcess,
    sidecar: RunningSidecar,
    dir: PathBuf,
    restarts: Restarts,
}

/// The first wait before restarting a Prometheus that exited.
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
/// The longest wait between restarts of a Prometheus that keeps exiting.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);
/// A Prometheus that ran this long since its last restart is well again:
/// its next exit is restarted after the first delay.
const STABLE_AFTER: Duration = Duration::from_secs(120);

/// How a shard's Prometheus has been restarted.
#[derive(Debug)]
struct Restarts {
    count: u32,
    /// The wait before the next restart.
    delay: Duration,
    /// When it was last (re)started.
    started_at: Instant,
    /// While it is down: when to start it again.
    retry_at: Option<Instant>,
    /// Its last exit status, for humans.
    last_exit: Option<String>,
}

impl Restarts {
    fn new(now: Instant) -> Self {
        Self {
            count: 0,
            delay: FIRST_RESTART_DELAY,
            started_at: now,
            retry_at: None,
            last_exit: None,
        }
    }

    /// What the shard list says of it: a restart pending or recent.
    fn detail(&self, now: Instant) -> Option<String> {
        let exit = self.last_exit.as_deref()?;
        Some(match self.retry_at {
            Some(at) => format!(
                "prometheus exited ({exit}); restart {} in {}s",
                self.count + 1,
                at.saturating_duration_since(now).as_secs()
            ),
            None => format!(
                "prometheus restarted {} times, last exit: {exit}",
                self.count
            ),
        })
    }
}

/// Restarts `shard`'s Prometheus if it exited and its delay has passed.
fn supervise(group: u32, index: u32, shard: &mut LocalShard, now: Instant) {
    let restarts = &mut shard.restarts;
    let Some(status) = shard.prometheus.exit_status() else {
        if restarts.retry_at.is_none()
            && now.saturating_duration_since(restarts.started_at) >= STABLE_AFTER
        {
            restarts.delay = FIRST_RESTART_DELAY;
        }
        return;
    };
    let retry_at = match restarts.retry_at {
        Some(at) => at,
        None => {
            let at = now + restarts.delay;
            restarts.retry_at = Some(at);
            restarts.last_exit = Some(status.to_string());
            tracing::warn!(
                group,
                index,
                %status,
                restart_in = ?restarts.delay,
                log = %shard.prometheus.log_tail(),
                "shard's Prometheus exited; restarting it"
            );
            at
        }
    };
    if now < retry_at {
        return;
    }
    restarts.count += 1;
    let next_delay = restarts.delay.saturating_mul(2).min(MAX_RESTART_DELAY);
    match shard.prometheus.respawn() {
        Ok(()) => {
            tracing::info!(
                group,
                index,
                restarts = restarts.count,
                "shard's Prometheus restarted"
            );
            restarts.retry_at = None;
            restarts.started_at = now;
        }
        Err(e) => {
            tracing::error!(group, index, error = %e, retry_in = ?next_delay, "restarting the shard's Prometheus failed");
            restarts.retry_at = Some(now + next_delay);
        }
    }
    restarts.delay = next_delay;
}

/// The supervisor task of a [`LocalBackend`]; stops when dropped.
#[derive(Debug)]
pub struct Supervisor {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How local shards are made.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The user's prometheus.yml, shared by every shard's sidecar.
    pub config_file: PathBuf,
    /// Shards live in `<dir>/shard-<group>-<index>`.
    pub dir: PathBuf,
    /// Replica groups.
    pub replicas: u32,
    /// Keep a removed shard's directory (TSDB) instead of deleting it.
    pub keep: bool,
    /// Token the sidecars require on mutating calls.
    pub token_file: Option<PathBuf>,
    /// Extra flags for every Prometheus.
    pub prometheus_args: Vec<String>,
    /// Where the user's rules are evaluated (`--shard.rules`).
    pub rules: RulesMode,
}

impl Default for LocalOptions {
    /// One replica group, nothing kept, no token, no extra flags, rules on
    /// the global view; empty paths: a base for `..LocalOptions::default()`.
    fn default() -> Self {
        Self {
            config_file: PathBuf::new(),
            dir: PathBuf::new(),
            replicas: 1,
            keep: false,
            token_file: None,
            prometheus_args: Vec::new(),
            rules: RulesMode::default(),
        }
    }
}

/// The local backend.
#[derive(Debug)]
pub struct LocalBackend {
    options: LocalOptions,
    shards: tokio::sync::Mutex<BTreeMap<(u32, u32), LocalShard>>,
    removing: Mutex<BTreeSet<u32>>,
}

impl LocalBackend {
    /// A backend with no shards yet.
    pub fn new(options: LocalOptions) -> Self {
        Self {
            options,
            shards: tokio::sync::Mutex::default(),
            removing: Mutex::default(),
        }
    }

    fn removing(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        match self.removing.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    async fn start_shard(&self, group: u32, index: u32) -> Result<LocalShard, BackendError> {
        let fail = |reason: String| BackendError::Shard { index, reason };
        let dir = self.options.dir.join(format!("shard-{group}-{index}"));
        let prom_port = free_port().map_err(|e| fail(e.to_string()))?;
        let sidecar = crate::sidecar::run::start(SidecarSettings {
            listen: "127.0.0.1:0"
                .parse()
                .map_err(|e: std::net::AddrParseError| fail(e.to_string()))?,
            api_listen: "127.0.0.1:0"
                .parse()
                .map_err(|e: std::net::AddrParseError| fail(e.to_string()))?,
            config_file: self.options.config_file.clone(),
            output_dir: dir.join("config"),
            storage_path: dir.join("state"),
            prometheus_url: format!("http://127.0.0.1:{prom_port}"),
            token_file: self.options.token_file.clone(),
            shard_name: Some(format!("shard-{group}-{index}")),
            scrape_address: None,
            config_check_interval: Duration::from_secs(2),
            count_min_interval: crate::sidecar::proxy::DEFAULT_COUNT_MIN_INTERVAL,
            standalone: false,
            rules: self.options.rules,
            ..SidecarSettings::default()
        })
        .await
        .map_err(|e| fail(format!("sidecar: {e}")))?;
        let mut options = PrometheusOptions::new(&sidecar.shard_config, dir.join("prometheus"));
        options.port = prom_port;
        options.extra_args = self.options.prometheus_args.clone();
        let prometheus = match PrometheusProcess::start(options).await {
            Ok(p) => p,
            Err(e) => {
                sidecar.stop().await;
                return Err(fail(e.to_string()));
            }
        };
        tracing::info!(group, index, prometheus = %prometheus.url(), "shard started");
        Ok(LocalShard {
            prometheus,
            sidecar,
            dir,
            restarts: Restarts::new(Instant::now()),
        })
    }

    /// Restarts the Prometheus of every shard that exited, once its backoff
    /// delay has passed (see the module docs).
    pub(crate) async fn supervise_once(&self) {
        let mut shards = self.shards.lock().await;
        let now = Instant::now();
        for (&(group, index), shard) in shards.iter_mut() {
            supervise(group, index, shard, now);
        }
    }

    /// Runs `LocalBackend::supervise_once` every `period` until the
    /// returned handle is dropped (or the backend is).
    pub fn spawn_supervisor(self: &Arc<Self>, period: Duration) -> Supervisor {
        let backend: Weak<Self> = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(backend) = backend.upgrade() else {
                    return;
                };
                backend.supervise_once().await;
            }
        });
        Supervisor { task }
    }

    /// The process id of a shard's Prometheus while it runs (for tests and
    /// fault drills).
    pub async fn prometheus_pid(&self, group: u32, index: u32) -> Option<u32> {
        let mut shards = self.shards.lock().await;
        let shard = shards.get_mut(&(group, index))?;
        if shard.prometheus.exit_status().is_some() {
            return None;
        }
        shard.prometheus.pid()
    }

    /// The port of a shard's Prometheus (it keeps it across restarts).
    pub async fn prometheus_port(&self, group: u32, index: u32) -> Option<u16> {
        let shards = self.shards.lock().await;
        shards.get(&(group, index)).map(|s| s.prometheus.port())
    }

    /// Stops every shard (and deletes their directories unless `keep`).
    pub async fn shutdown(&self) {
        let mut shards = self.shards.lock().await;
        let all = std::mem::take(&mut *shards);
        for (_, shard) in all {
            self.stop_shard(shard).await;
        }
    }

    async fn stop_shard(&self, shard: LocalShard) {
        shard.sidecar.stop().await;
        shard.prometheus.stop(Duration::from_secs(15)).await;
        if !self.options.keep {
            let _ = std::fs::remove_dir_all(&shard.dir);
        }
    }
}

impl ShardBackend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    fn can_scale(&self) -> bool {
        true
    }

    async fn shards(&self) -> Result<Vec<ShardEndpoint>, BackendError> {
        let shards = self.shards.lock().await;
        let removing = self.removing().clone();
        let now = Instant::now();
        Ok(shards
            .iter()
            .map(|(&(group, index), shard)| ShardEndpoint {
                index,
                group,
                api_url: format!("http://{}", shard.sidecar.api_addr),
                prometheus_url: Some(shard.prometheus.url()),
                removing: removing.contains(&index),
                // Started once its Prometheus was first ready. Whether it is
                // ready now (not crashed, not restarting) its sidecar says,
                // and the coordinator fails it over on that.
                started: true,
                detail: shard.restarts.detail(now),
            })
            .collect())
    }

    async fn scale_up(&self, count: u32) -> Result<(), BackendError> {
        let mut shards = self.shards.lock().await;
        for group in 0..self.options.replicas.max(1) {
            for index in 0..count {
                if shards.contains_key(&(group, index)) {
                    continue;
                }
                let shard = self.start_shard(group, index).await?;
                shards.insert((group, index), shard);
            }
        }
        Ok(())
    }

    async fn set_removing(&self, index: u32, removing: bool) -> Result<(), BackendError> {
        let mut set = self.removing();
        if removing {
            set.insert(index);
        } else {
            set.remove(&index);
        }
        Ok(())
    }

    async fn remove(&self, index: u32) -> Result<(), BackendError> {
        let mut shards = self.shards.lock().await;
        let keys: Vec<(u32, u32)> = shards
            .keys()
            .filter(|(_, i)| *i == index)
            .copied()
            .collect();
        for key in keys {
            if let Some(shard) = shards.remove(&key) {
                self.stop_shard(shard).await;
            }
        }
        self.removing().remove(&index);
        tracing::info!(index, "shard removed");
        Ok(())
    }
}
