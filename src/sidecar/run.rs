//! Running a sidecar: wiring the user's config, the stored assignment, the
//! scrape path and the API together, and keeping them current.
//!
//! Start-up order matters for "never lose a target": restore the assignment,
//! write the file_sd files and the shard config, then serve scrapes and the
//! API, then report ready. While running, the user's config is re-read when it
//! changes (the shard config is rewritten and Prometheus reloaded, with
//! backoff), and Prometheus's readiness, whether it scrapes what it was
//! assigned ([`health`](crate::sidecar::health)) and its head series are
//! polled for the coordinator.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use promshard_config::{Config, ConfigError};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::fsutil::{WriteError, off_runtime, write_atomic_mode};
use crate::http::Shutdown;
use crate::prometheus::PrometheusClient;
use crate::scrape::jobs::{JobError, JobTable, build_jobs};
use crate::shard_api::{Assignment, PrometheusState, ScrapeTarget, TargetId};
use crate::sidecar::api::{self, ApiState, ShardInfo};
use crate::sidecar::assignment::AssignmentTable;
use crate::sidecar::configgen::{self, JobSource, ShardConfigInput};
use crate::sidecar::control::ShardControl;
use crate::sidecar::health::{HealthTracker, TargetClock, not_scraping};
use crate::sidecar::proxy::{self, ProxyState};
use crate::sidecar::stats::StatsRegistry;
use crate::sidecar::store::{AssignmentStore, Restored};
use crate::sidecar::unix_millis;

/// File name of the generated Prometheus config in the output directory.
pub const SHARD_CONFIG_FILE: &str = "prometheus.yml";

/// Everything a sidecar runs with (`promshard sidecar`'s flags; `promshard
/// local` and the tests fill it in directly).
#[derive(Debug, Clone)]
pub struct SidecarSettings {
    /// Where Prometheus scrapes through the sidecar (port 0: any free one).
    pub listen: SocketAddr,
    /// Where the API for the coordinator listens (port 0: any free one).
    pub api_listen: SocketAddr,
    /// The user's prometheus.yml (re-read when it changes).
    pub config_file: PathBuf,
    /// Where the shard's Prometheus config ([`SHARD_CONFIG_FILE`]) and the
    /// per-job file_sd files are written.
    pub output_dir: PathBuf,
    /// Where the assignment is persisted (restored at start).
    pub storage_path: PathBuf,
    /// The local Prometheus (for reloads, readiness and head series).
    pub prometheus_url: String,
    /// File holding the bearer token required on `PUT /api/v1/shard/targets`.
    pub token_file: Option<PathBuf>,
    /// This shard's name (`None`: the host name).
    pub shard_name: Option<String>,
    /// The address written into file_sd entries (`None`: where it listens).
    pub scrape_address: Option<String>,
    /// Discover and relabel every target of the config here and assign them
    /// all to this sidecar (no coordinator).
    pub standalone: bool,
    /// How often the user's config file is checked for changes.
    pub config_check_interval: Duration,
    /// A target is counted at most this often (zero: every scrape); see
    /// [`ProxyState::count_min_interval`].
    pub count_min_interval: Duration,
}

/// The sidecar failed to start.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// The user's config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A job's HTTP settings cannot be used.
    #[error(transparent)]
    Jobs(#[from] JobError),
    /// The shard config could not be generated from the user's.
    #[error("job {job:?}: {reason}")]
    Job {
        /// The job.
        job: String,
        /// Why.
        reason: String,
    },
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A port could not be bound or a file read.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// The user's config as the sidecar uses it.
#[derive(Debug)]
struct LoadedConfig {
    config: Config,
    /// Content hash of the generated shard config (what changes need a reload).
    hash: String,
    rendered: String,
}

fn load_config(path: &Path, output_dir: &Path) -> Result<LoadedConfig, SidecarError> {
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
        document: &document,
        scrape_configs: &jobs,
        config_dir: &config_dir,
        output_dir,
    })
    .map_err(|e| SidecarError::Job {
        job: String::new(),
        reason: e.to_string(),
    })?;
    let hash = format!("{:016x}", fnv1a(rendered.as_bytes()));
    Ok(LoadedConfig {
        config,
        hash,
        rendered,
    })
}

/// FNV-1a: stable across processes and versions (unlike std's SipHash keys).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Identity, stats and metrics for the API.
struct SidecarInfo {
    shard: String,
    config_hash: RwLock<String>,
    head_series: AtomicU64,
    head_series_known: AtomicBool,
    health: HealthTracker,
    /// When this sidecar started (ms since the epoch): no target is overdue
    /// before Prometheus has had its pickup grace from then.
    started_ms: u64,
    stats: Arc<StatsRegistry>,
    registry: Registry,
}

impl std::fmt::Debug for SidecarInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SidecarInfo")
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

impl ShardInfo for SidecarInfo {
    fn shard(&self) -> String {
        self.shard.clone()
    }
    fn config_hash(&self) -> String {
        match self.config_hash.read() {
            Ok(hash) => hash.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
    fn head_series(&self) -> Option<u64> {
        self.head_series_known
            .load(Ordering::Acquire)
            .then(|| self.head_series.load(Ordering::Acquire))
    }
    fn prometheus_state(&self) -> PrometheusState {
        self.health.state()
    }
    fn target_stats(&self, id: &TargetId) -> Option<serde_json::Value> {
        self.stats
            .snapshot(&id.0)
            .and_then(|s| serde_json::to_value(s).ok())
    }
    fn render_metrics(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Gauges and counters of the control side.
#[derive(Debug, Clone, Default)]
struct ControlMetrics {
    generation: Gauge,
    targets: Gauge,
    reload_failures: Counter,
    config_load_failures: Counter,
    config_last_reload_success: Gauge,
}

impl ControlMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "promshard_sidecar_assignment_generation",
            "Generation of the applied assignment",
            self.generation.clone(),
        );
        registry.register(
            "promshard_sidecar_assigned_targets",
            "Targets assigned to this shard",
            self.targets.clone(),
        );
        registry.register(
            "promshard_sidecar_prometheus_reload_failures",
            "Failed POST /-/reload calls to the local Prometheus",
            self.reload_failures.clone(),
        );
        registry.register(
            "promshard_sidecar_config_load_failures",
            "Times the user's config changed but could not be loaded (the last good one stays)",
            self.config_load_failures.clone(),
        );
        registry.register(
            "promshard_sidecar_config_last_reload_successful",
            "Whether the last shard config change was loaded by Prometheus",
            self.config_last_reload_success.clone(),
        );
    }
}

/// A started sidecar.
#[derive(Debug)]
pub struct RunningSidecar {
    /// Where it serves the API.
    pub api_addr: SocketAddr,
    /// The generated Prometheus config.
    pub shard_config: PathBuf,
    tasks: JoinSet<()>,
    trigger: crate::http::serve::ShutdownTrigger,
}

impl RunningSidecar {
    /// Stops serving and waits for in-flight requests (bounded).
    pub async fn stop(mut self) {
        self.trigger.trigger();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Starts a sidecar: binds its ports, restores and writes everything, and
/// returns once it serves (ready). Ports may be 0 (tests, `promshard local`).
pub async fn start(args: SidecarSettings) -> Result<RunningSidecar, SidecarError> {
    let io = |what: String| move |source| SidecarError::Io { what, source };
    std::fs::create_dir_all(&args.output_dir)
        .map_err(io(format!("creating {}", args.output_dir.display())))?;
    std::fs::create_dir_all(&args.storage_path)
        .map_err(io(format!("creating {}", args.storage_path.display())))?;
    let token = match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(io(format!("reading token file {}", path.display())))?;
            Some(text.trim().to_owned()).filter(|t| !t.is_empty())
        }
        None => None,
    };
    let loaded = load_config(&args.config_file, &args.output_dir)?;
    let jobs = Arc::new(JobTable::default());
    jobs.replace(build_jobs(&loaded.config)?);

    let scrape_listener = TcpListener::bind(args.listen)
        .await
        .map_err(io(format!("binding {}", args.listen)))?;
    let api_listener = TcpListener::bind(args.api_listen)
        .await
        .map_err(io(format!("binding {}", args.api_listen)))?;
    let scrape_addr = scrape_listener
        .local_addr()
        .map_err(io("scrape address".into()))?;
    let api_addr = api_listener
        .local_addr()
        .map_err(io("API address".into()))?;
    let scrape_address = args
        .scrape_address
        .clone()
        .unwrap_or_else(|| scrape_addr.to_string());

    let store = AssignmentStore::new(&args.storage_path);
    let initial = match store.load() {
        Restored::Loaded(assignment) => {
            tracing::info!(
                generation = assignment.generation,
                targets = assignment.targets.len(),
                "restored assignment"
            );
            assignment
        }
        Restored::Empty => Assignment::default(),
        Restored::Corrupt { reason, moved_to } => {
            tracing::error!(%reason, moved_to = ?moved_to, "stored assignment unusable; starting empty until the coordinator sends one");
            Assignment::default()
        }
    };
    let table = Arc::new(AssignmentTable::default());
    let job_names: BTreeSet<String> = loaded.config.job_names().map(str::to_owned).collect();
    let control = Arc::new(ShardControl::new(
        Arc::clone(&table),
        store,
        args.output_dir.clone(),
        scrape_address,
        job_names,
        initial,
    ));
    control.write_files().await?;
    let shard_config = args.output_dir.join(SHARD_CONFIG_FILE);
    write_atomic_mode(&shard_config, loaded.rendered.as_bytes(), 0o600)?;

    let proxy_state = Arc::new(
        ProxyState::new(Arc::clone(&table), Arc::clone(&jobs))
            .with_count_min_interval(args.count_min_interval),
    );
    let control_metrics = ControlMetrics::default();
    let mut registry = Registry::default();
    proxy_state.metrics.register(&mut registry);
    control_metrics.register(&mut registry);
    let info = Arc::new(SidecarInfo {
        shard: args.shard_name.clone().unwrap_or_else(hostname),
        config_hash: RwLock::new(loaded.hash.clone()),
        head_series: AtomicU64::new(0),
        head_series_known: AtomicBool::new(false),
        health: HealthTracker::default(),
        started_ms: unix_millis(),
        stats: Arc::clone(&proxy_state.stats),
        registry,
    });
    let api_state = Arc::new(ApiState {
        control: Arc::clone(&control),
        info: Arc::clone(&info) as Arc<dyn ShardInfo>,
        token,
        ready: AtomicBool::new(false),
    });

    let (trigger, shutdown) = Shutdown::new();
    let mut tasks = JoinSet::new();
    tasks.spawn(proxy::serve_scrapes(
        scrape_listener,
        Arc::clone(&proxy_state),
        shutdown.clone(),
    ));
    {
        let api_state = Arc::clone(&api_state);
        let handler = move |req| api::handle(Arc::clone(&api_state), req);
        tasks.spawn(crate::http::serve(api_listener, handler, shutdown.clone()));
    }
    let prometheus = PrometheusClient::new(&args.prometheus_url, Duration::from_secs(10));
    // Readiness checks are quick or a sign of trouble: a short timeout, so
    // that a hung Prometheus shows as not ready within one poll.
    let readiness = PrometheusClient::new(&args.prometheus_url, READINESS_TIMEOUT);
    tasks.spawn(watch_config(
        args.clone(),
        loaded,
        Arc::clone(&control),
        Arc::clone(&jobs),
        Arc::clone(&info),
        prometheus.clone(),
        control_metrics.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(poll_prometheus(
        prometheus,
        readiness,
        Arc::clone(&info),
        Arc::clone(&control),
        Arc::clone(&proxy_state),
        control_metrics,
        shutdown.clone(),
    ));
    if args.standalone {
        tasks.spawn(standalone(
            args.clone(),
            Arc::clone(&control),
            shutdown.clone(),
        ));
    }
    api_state.ready.store(true, Ordering::Release);
    tracing::info!(%scrape_addr, %api_addr, config = %shard_config.display(), "sidecar ready");
    Ok(RunningSidecar {
        api_addr,
        shard_config,
        tasks,
        trigger,
    })
}

/// Re-reads the user's config when it changes; rewrites the shard config and
/// reloads Prometheus. A broken config keeps the last good one in force.
#[allow(
    clippy::too_many_arguments,
    reason = "one long-lived task owning its inputs"
)]
async fn watch_config(
    args: SidecarSettings,
    mut current: LoadedConfig,
    control: Arc<ShardControl>,
    jobs: Arc<JobTable>,
    info: Arc<SidecarInfo>,
    prometheus: PrometheusClient,
    metrics: ControlMetrics,
    mut shutdown: Shutdown,
) {
    let mut last_seen = std::fs::read(&args.config_file).ok();
    let mut pending_reload = false;
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = if pending_reload {
            backoff
        } else {
            args.config_check_interval
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.wait() => return,
        }
        let bytes = std::fs::read(&args.config_file).ok();
        if bytes != last_seen {
            last_seen = bytes;
            match load_config(&args.config_file, &args.output_dir).and_then(|loaded| {
                let built = build_jobs(&loaded.config)?;
                Ok((loaded, built))
            }) {
                Ok((loaded, built)) if loaded.hash != current.hash => {
                    jobs.replace(built);
                    let names = loaded.config.job_names().map(str::to_owned).collect();
                    if let Err(e) = control.set_jobs(names).await {
                        tracing::error!(error = %e, "writing file_sd files after a config change");
                    }
                    let path = args.output_dir.join(SHARD_CONFIG_FILE);
                    let written = path.clone();
                    // Moved to the writing thread and back, not copied.
                    let write = move || {
                        write_atomic_mode(&written, loaded.rendered.as_bytes(), 0o600)
                            .map(|()| loaded)
                    };
                    match off_runtime(path, write).await {
                        Ok(loaded) => {
                            if let Ok(mut hash) = info.config_hash.write() {
                                hash.clone_from(&loaded.hash);
                            }
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
                    metrics.config_load_failures.inc();
                    tracing::error!(error = %e, "user config changed but is invalid; keeping the last good one");
                }
            }
        }
        if pending_reload {
            match prometheus.reload().await {
                Ok(()) => {
                    pending_reload = false;
                    metrics.config_last_reload_success.set(1);
                    tracing::info!("Prometheus reloaded");
                }
                Err(e) => {
                    metrics.reload_failures.inc();
                    metrics.config_last_reload_success.set(0);
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    tracing::warn!(error = %e, retry_in = ?backoff, "Prometheus reload failed");
                }
            }
        }
    }
}

/// `--standalone`: discovery and relabeling for the whole config, every
/// target assigned to this sidecar; restarted when the config file changes.
async fn standalone(args: SidecarSettings, control: Arc<ShardControl>, mut shutdown: Shutdown) {
    use promshard_config::discovery::TargetIndex;
    loop {
        let seen = std::fs::read(&args.config_file).ok();
        let config = match Config::load(&args.config_file) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "standalone discovery: config invalid; retrying");
                tokio::select! {
                    () = tokio::time::sleep(args.config_check_interval) => continue,
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
        let mut check = tokio::time::interval(args.config_check_interval);
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
                    if std::fs::read(&args.config_file).ok() != seen {
                        break;
                    }
                }
                () = shutdown.wait() => return,
            }
        }
        drop(handle);
    }
}

/// How often Prometheus's readiness and scraping are checked while it is
/// ready.
const HEALTH_POLL: Duration = Duration::from_secs(2);

/// How often while it is not (or not known yet): a shard coming back is
/// seen ready within a moment.
const NOT_READY_POLL: Duration = Duration::from_millis(500);

/// Timeout of one readiness check.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the head series are polled: `/api/v1/status/tsdb` walks the
/// head's postings, which costs a big Prometheus more than `/-/ready`.
const HEAD_POLL: Duration = Duration::from_secs(5);

/// Checks Prometheus's readiness and scraping, polls its head series, and
/// keeps stats and gauges in step with the assignment.
#[allow(
    clippy::too_many_arguments,
    reason = "one long-lived task owning its inputs"
)]
async fn poll_prometheus(
    prometheus: PrometheusClient,
    readiness: PrometheusClient,
    info: Arc<SidecarInfo>,
    control: Arc<ShardControl>,
    proxy: Arc<ProxyState>,
    metrics: ControlMetrics,
    mut shutdown: Shutdown,
) {
    let mut seen_generation = None;
    let mut next_head_poll = tokio::time::Instant::now();
    loop {
        check_health(&readiness, &info, &control).await;
        let now = tokio::time::Instant::now();
        if now >= next_head_poll {
            next_head_poll = now + HEAD_POLL;
            poll_head(
                &prometheus,
                &info,
                &control,
                &proxy,
                &metrics,
                &mut seen_generation,
            )
            .await;
        }
        let wait = if info.health.state() == PrometheusState::Ready {
            HEALTH_POLL
        } else {
            NOT_READY_POLL
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.wait() => return,
        }
    }
}

/// Polls head series, and keeps stats and gauges in step with the
/// assignment.
async fn poll_head(
    prometheus: &PrometheusClient,
    info: &SidecarInfo,
    control: &ShardControl,
    proxy: &ProxyState,
    metrics: &ControlMetrics,
    seen_generation: &mut Option<u64>,
) {
    let snapshot = control.snapshot();
    if *seen_generation != Some(snapshot.generation) {
        *seen_generation = Some(snapshot.generation);
        proxy.prune_stats();
        metrics
            .generation
            .set(i64::try_from(snapshot.generation).unwrap_or(i64::MAX));
        metrics
            .targets
            .set(i64::try_from(snapshot.by_id.len()).unwrap_or(i64::MAX));
    }
    match prometheus.head_series().await {
        Ok(series) => {
            info.head_series.store(series, Ordering::Release);
            info.head_series_known.store(true, Ordering::Release);
        }
        Err(e) => tracing::debug!(error = %e, "head series unavailable"),
    }
}

/// One readiness check and, when ready, the scraping verdict.
async fn check_health(readiness: &PrometheusClient, info: &SidecarInfo, control: &ShardControl) {
    let now = unix_millis();
    let ready = match readiness.ready().await {
        Ok(true) => Ok(()),
        Ok(false) => Err("/-/ready did not answer 200 (starting or replaying its WAL)".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(reason) = ready {
        let was = info.health.state();
        info.health.not_ready(now, reason.clone());
        if was == PrometheusState::Ready {
            tracing::warn!(%reason, "Prometheus is not ready");
        } else if was == PrometheusState::Unknown {
            tracing::info!(%reason, "waiting for Prometheus to be ready");
        }
        return;
    }
    let baseline = info
        .health
        .ready_since_ms()
        .unwrap_or(now)
        .max(info.started_ms);
    let snapshot = control.snapshot();
    let known_jobs = control.jobs();
    let mut last_scrape: std::collections::HashMap<TargetId, u64> =
        std::collections::HashMap::with_capacity(snapshot.by_id.len());
    info.stats.for_each_last_scrape(|id, at| {
        if snapshot.by_id.contains_key(id) {
            last_scrape.insert(id.clone(), at);
        }
    });
    // Targets of a job Prometheus is not configured for yet are not its
    // to scrape.
    let clocks = snapshot
        .by_id
        .values()
        .filter(|t| known_jobs.contains(&t.job))
        .map(|t| TargetClock {
            interval: t.scrape_interval(),
            last_scrape_ms: last_scrape.get(&t.id).copied(),
            assigned_at_ms: snapshot.assigned_at.get(&t.id).copied(),
        });
    let stalled = not_scraping(now, baseline, clocks);
    let was = info.health.state();
    info.health.ready(now, stalled.clone());
    match (was, stalled) {
        (PrometheusState::Ready, Some(reason)) => {
            tracing::warn!(%reason, "Prometheus is not scraping")
        }
        (
            PrometheusState::Starting { .. }
            | PrometheusState::NotReady { .. }
            | PrometheusState::NotScraping { .. },
            None,
        ) => {
            tracing::info!("Prometheus is ready and scraping");
        }
        _ => {}
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "sidecar".to_owned())
}

/// `promshard sidecar`: runs until SIGINT/SIGTERM.
pub async fn run(args: SidecarSettings) -> Result<(), SidecarError> {
    let sidecar = start(args).await?;
    crate::signal::wait_for_signal().await;
    tracing::info!("shutting down");
    sidecar.stop().await;
    Ok(())
}
