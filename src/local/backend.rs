//! The `local` shard backend: each shard is a real `prometheus` process with
//! an in-process sidecar, on loopback ports, in its own directory.
//!
//! Scaling up starts shards (sidecar first, so the shard config exists, then
//! Prometheus on it); removing stops both and deletes the shard's directory
//! unless asked to keep it. Dropping the backend kills every process.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::coordinator::backend::{BackendError, ShardBackend, ShardEndpoint};
use crate::local::process::{PrometheusOptions, PrometheusProcess, free_port};
use crate::sidecar::run::{RunningSidecar, SidecarArgs};

/// One local shard.
#[derive(Debug)]
struct LocalShard {
    prometheus: PrometheusProcess,
    sidecar: RunningSidecar,
    dir: PathBuf,
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
        let sidecar = crate::sidecar::run::start(SidecarArgs {
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
        })
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
        let mut shards = self.shards.lock().await;
        let removing = self.removing().clone();
        Ok(shards
            .iter_mut()
            .map(|(&(group, index), shard)| ShardEndpoint {
                index,
                group,
                api_url: format!("http://{}", shard.sidecar.api_addr),
                prometheus_url: Some(shard.prometheus.url()),
                removing: removing.contains(&index),
                // A crashed Prometheus leaves the sidecar answering; the
                // shard then only counts as starting, so it gets no new targets.
                started: shard.prometheus.is_running(),
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
