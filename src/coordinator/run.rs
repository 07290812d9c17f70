//! `promshard coordinator`: flags, and the loop that runs discovery, cycles,
//! config reloads and the API until a signal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use promshard_config::Config;
use promshard_config::target::Compat;
use promshard_plan::PlanSettings;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::parse_duration;
use crate::coordinator::api::{self, ApiState};
use crate::coordinator::backend::{ShardBackend, StaticBackend};
use crate::coordinator::kubernetes::{KubernetesBackend, KubernetesOptions};
use crate::coordinator::reconcile::{Coordinator, CoordinatorSettings};
use crate::http::Shutdown;

/// Planner and coordinator flags shared by `coordinator` and `local`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Capacity of one shard in head series.
    #[arg(long = "shard.max-series", default_value_t = 1_000_000)]
    pub max_series: u64,
    /// Fill shards up to this share of capacity.
    #[arg(long = "shard.target-utilization", default_value_t = 0.8)]
    pub target_utilization: f64,
    /// Shed targets from a shard above this share of capacity.
    #[arg(long = "shard.high-watermark", default_value_t = 0.9)]
    pub high_watermark: f64,
    /// Fewest shards per replica group.
    #[arg(long = "shard.min", default_value_t = 1)]
    pub min_shards: u32,
    /// Most shards per replica group.
    #[arg(long = "shard.max", default_value_t = 64)]
    pub max_shards: u32,
    /// Replica groups with identical layouts (HA pairs for Thanos dedup).
    #[arg(long = "shard.replicas", default_value_t = 1)]
    pub replicas: u32,
    /// Scale down only after the fleet fitted in fewer shards this long.
    #[arg(long = "shard.scale-down-after", default_value = "1h", value_parser = parse_duration)]
    pub scale_down_after: Duration,
    /// Move the targets of a shard that has not worked this long: its sidecar
    /// silent, its Prometheus not ready (crashed, restarting, replaying its
    /// WAL) or not scraping, or its pod not Ready.
    #[arg(long = "shard.failover-after", default_value = "2m", value_parser = parse_duration)]
    pub failover_after: Duration,
    /// Remove a drained shard after it has been empty this long.
    #[arg(long = "shard.idle-before-remove", default_value = "10m", value_parser = parse_duration)]
    pub idle_before_remove: Duration,
    /// Series moved per cycle at most (moved series stay in the old head for hours).
    #[arg(long = "plan.max-moves", default_value_t = 200_000)]
    pub max_moves: u64,
    /// Successful scrapes on the new shard before the old one drops a moved target.
    #[arg(long = "handover.scrapes", default_value_t = 2)]
    pub handover_scrapes: u64,
    /// Time between reconcile cycles.
    #[arg(long = "cycle.interval", default_value = "15s", value_parser = parse_duration)]
    pub cycle_interval: Duration,
    /// Target construction like Prometheus 2 (`prometheus2`: default ports added).
    #[arg(long = "compat", value_enum, default_value = "prometheus3")]
    pub compat: CompatArg,
}

/// `--compat`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompatArg {
    // Plain comments: variant docs would turn `--help` into the long,
    // multi-line form. Prometheus 3 semantics: no default port.
    Prometheus3,
    // Prometheus 2 semantics: `:80`/`:443` added.
    Prometheus2,
}

impl PlanArgs {
    /// The coordinator settings these flags give.
    pub fn settings(&self, token: Option<String>) -> CoordinatorSettings {
        CoordinatorSettings {
            plan: PlanSettings {
                max_series: self.max_series,
                target_utilization: self.target_utilization,
                high_watermark: self.high_watermark,
                max_moves: self.max_moves,
                min_shards: self.min_shards,
                max_shards: self.max_shards,
                replicas: self.replicas,
                handover_scrapes: self.handover_scrapes,
                scale_down_after: self.scale_down_after,
                failover_after: self.failover_after,
                idle_before_remove: self.idle_before_remove,
                ..PlanSettings::default()
            },
            token,
            compat: match self.compat {
                CompatArg::Prometheus3 => Compat::Prometheus3,
                CompatArg::Prometheus2 => Compat::Prometheus2,
            },
            ..CoordinatorSettings::default()
        }
    }
}

/// `promshard coordinator` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct CoordinatorArgs {
    /// The user's prometheus.yml (re-read on change).
    #[arg(long = "config.file")]
    pub config_file: PathBuf,
    /// The shard backend.
    #[arg(long = "shard.backend", value_enum, default_value = "static")]
    pub backend: BackendArg,
    /// For `--shard.backend=static`: YAML list of the shards' sidecar URLs.
    #[arg(long = "shard.static-file")]
    pub static_file: Option<PathBuf>,
    /// For `--shard.backend=kubernetes`: namespace of the shard StatefulSets
    /// (default: the client's, i.e. the coordinator pod's own).
    #[arg(long = "shard.namespace")]
    pub shard_namespace: Option<String>,
    /// For `--shard.backend=kubernetes`: label selector of the shard
    /// StatefulSets (one per replica group).
    #[arg(
        long = "shard.selector",
        default_value = "app.kubernetes.io/name=promshard-shard"
    )]
    pub shard_selector: String,
    /// For `--shard.backend=kubernetes`: the sidecar API port in shard pods.
    #[arg(long = "shard.sidecar-port", default_value_t = 8080)]
    pub sidecar_port: u16,
    /// For `--shard.backend=kubernetes`: delete a removed shard's PVCs once
    /// it was drained and its pod is gone.
    #[arg(long = "shard.delete-pvc")]
    pub delete_pvc: bool,
    /// For `--shard.backend=kubernetes`: never scale; an HPA or KEDA follows
    /// `promshard_desired_shards` instead.
    #[arg(long = "shard.external-autoscaler")]
    pub external_autoscaler: bool,
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, else in-cluster).
    #[arg(long = "kubeconfig")]
    pub kubeconfig: Option<PathBuf>,
    /// The API and metrics.
    #[arg(long = "api.listen", default_value = "0.0.0.0:8090")]
    pub api_listen: SocketAddr,
    /// File with the bearer token the sidecars require.
    #[arg(long = "api.token-file")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub leader: LeaderElectArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Leader election flags: several coordinator replicas, one runs cycles.
#[derive(Debug, Clone, clap::Args)]
pub struct LeaderElectArgs {
    /// Elect a leader through a Lease; standbys serve the API, run no cycles.
    #[arg(long = "leader-elect")]
    pub enabled: bool,
    /// Name of the Lease.
    #[arg(
        long = "leader-elect.lease-name",
        default_value = "promshard-coordinator"
    )]
    pub lease_name: String,
    /// Namespace of the Lease (default: the pod's own, else `default`).
    #[arg(long = "leader-elect.namespace")]
    pub namespace: Option<String>,
    /// A standby takes over when the leader has not renewed for this long.
    #[arg(long = "leader-elect.lease-duration", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
}

impl LeaderElectArgs {
    /// Joins the election, or `None` without `--leader-elect`. The identity
    /// is `POD_NAME`, else the host name.
    async fn join(
        &self,
        kubeconfig: Option<&PathBuf>,
    ) -> Result<Option<promshard_k8s::lease::LeaderHandle>, CoordinatorError> {
        use promshard_k8s::lease::{KubeLeaseApi, LeaderElector, LeaseSettings};
        if !self.enabled {
            return Ok(None);
        }
        let identity = std::env::var("POD_NAME")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                CoordinatorError::Setup(
                    "--leader-elect needs an identity: set POD_NAME (or HOSTNAME)".into(),
                )
            })?;
        let namespace = self
            .namespace
            .clone()
            .or_else(|| {
                promshard_k8s::sd::client::InCluster::from_env()
                    .own_namespace()
                    .ok()
            })
            .unwrap_or_else(|| "default".to_owned());
        let source = kubeconfig.cloned().map_or(
            promshard_k8s::cluster::ClientSource::Infer,
            promshard_k8s::cluster::ClientSource::Kubeconfig,
        );
        let client = promshard_k8s::cluster::client_from(&source)
            .await
            .map_err(|e| CoordinatorError::Setup(format!("--leader-elect: {e}")))?;
        tracing::info!(%identity, %namespace, lease = %self.lease_name, "joining leader election");
        let settings = LeaseSettings::new(self.lease_name.clone(), identity, self.lease_duration);
        Ok(Some(LeaderElector::spawn(
            KubeLeaseApi::new(client, &namespace),
            settings,
        )))
    }
}

/// Whether this replica may run reconcile cycles: always, or while it
/// holds the leader Lease.
#[derive(Debug, Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
}

impl Leadership {
    /// A replica without leader election: it always leads.
    pub fn always() -> Self {
        Self {
            leading: watch::channel(true).1,
        }
    }

    /// Leads while `handle` holds the Lease.
    pub fn elected(handle: &promshard_k8s::lease::LeaderHandle) -> Self {
        Self {
            leading: handle.watch(),
        }
    }

    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Returns when this replica starts or stops leading; never, without
    /// election.
    async fn changed(&mut self) {
        if self.leading.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// `--shard.backend`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    // A fixed list of shards; no scaling.
    Static,
    // Kubernetes StatefulSets, scaled by the coordinator.
    Kubernetes,
}

/// The coordinator failed.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// Bad flags or files.
    #[error("{0}")]
    Setup(String),
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] promshard_config::ConfigError),
    /// A port could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Reads a token file (trimmed); `None` when no file is given.
pub fn read_token(path: Option<&PathBuf>) -> Result<Option<String>, CoordinatorError> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| {
        CoordinatorError::Setup(format!("reading token file {}: {e}", path.display()))
    })?;
    Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
}

/// `promshard coordinator`.
pub async fn run(args: CoordinatorArgs) -> Result<(), CoordinatorError> {
    let token = read_token(args.token_file.as_ref())?;
    let config = Config::load(&args.config_file)?;
    match args.backend {
        BackendArg::Static => {
            let file = args.static_file.as_ref().ok_or_else(|| {
                CoordinatorError::Setup("--shard.backend=static needs --shard.static-file".into())
            })?;
            let backend =
                StaticBackend::load(file).map_err(|e| CoordinatorError::Setup(e.to_string()))?;
            serve_until_signal(backend, &args, token, config).await
        }
        BackendArg::Kubernetes => {
            let options = KubernetesOptions {
                namespace: args.shard_namespace.clone(),
                selector: args.shard_selector.clone(),
                sidecar_port: args.sidecar_port,
                delete_pvc: args.delete_pvc,
                external_autoscaler: args.external_autoscaler,
                kubeconfig: args.kubeconfig.clone(),
            };
            let backend = KubernetesBackend::connect(&options)
                .await
                .map_err(|e| CoordinatorError::Setup(e.to_string()))?;
            serve_until_signal(backend, &args, token, config).await
        }
    }
}

/// Runs the coordinator over `backend` until SIGINT/SIGTERM.
async fn serve_until_signal<B: ShardBackend>(
    backend: B,
    args: &CoordinatorArgs,
    token: Option<String>,
    config: Config,
) -> Result<(), CoordinatorError> {
    let settings = args.plan.settings(token);
    let listener =
        TcpListener::bind(args.api_listen)
            .await
            .map_err(|source| CoordinatorError::Bind {
                addr: args.api_listen,
                source,
            })?;
    let election = args.leader.join(args.kubeconfig.as_ref()).await?;
    let leadership = election
        .as_ref()
        .map_or_else(Leadership::always, Leadership::elected);
    let running = start_with_leadership(
        Arc::new(backend),
        settings,
        config,
        args.config_file.clone(),
        args.plan.cycle_interval,
        listener,
        leadership,
    )?;
    crate::signal::wait_for_signal().await;
    running.stop().await;
    // After the last cycle: hand the Lease back so a standby leads at once.
    if let Some(election) = election {
        election.release().await;
    }
    Ok(())
}

/// A running coordinator.
pub struct RunningCoordinator<B> {
    /// The coordinator.
    pub coordinator: Arc<Coordinator<B>>,
    /// Where the API listens.
    pub api_addr: SocketAddr,
    trigger: crate::http::serve::ShutdownTrigger,
    tasks: tokio::task::JoinSet<()>,
}

impl<B> std::fmt::Debug for RunningCoordinator<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCoordinator")
            .field("api_addr", &self.api_addr)
            .finish_non_exhaustive()
    }
}

impl<B> RunningCoordinator<B> {
    /// Stops every task.
    pub async fn stop(mut self) {
        self.trigger.trigger();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Starts discovery, the cycle loop, config watching and the API.
pub fn start<B: ShardBackend>(
    backend: Arc<B>,
    settings: CoordinatorSettings,
    config: Config,
    config_file: PathBuf,
    cycle_interval: Duration,
    listener: TcpListener,
) -> Result<RunningCoordinator<B>, CoordinatorError> {
    start_with_leadership(
        backend,
        settings,
        config,
        config_file,
        cycle_interval,
        listener,
        Leadership::always(),
    )
}

/// Like [`start`], with cycles only while `leadership` says this replica
/// leads (discovery, config watching and the API run regardless, so a
/// standby takes over warm).
pub fn start_with_leadership<B: ShardBackend>(
    backend: Arc<B>,
    settings: CoordinatorSettings,
    config: Config,
    config_file: PathBuf,
    cycle_interval: Duration,
    listener: TcpListener,
    leadership: Leadership,
) -> Result<RunningCoordinator<B>, CoordinatorError> {
    let api_addr = listener
        .local_addr()
        .map_err(|source| CoordinatorError::Bind {
            addr: "0.0.0.0:0"
                .parse()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            source,
        })?;
    let coordinator =
        Arc::new(Coordinator::new(backend, settings, config).map_err(CoordinatorError::Setup)?);
    let mut registry = Registry::default();
    coordinator.metrics.register(&mut registry);
    let leader_gauge = prometheus_client::metrics::gauge::Gauge::<i64>::default();
    registry.register(
        "promshard_coordinator_leader",
        "1 while this coordinator replica leads (runs cycles), 0 on a standby",
        leader_gauge.clone(),
    );
    let (trigger, shutdown) = Shutdown::new();
    let mut tasks = tokio::task::JoinSet::new();

    // Discovery restarts whenever the config changes (the generation bumps).
    let (restart_tx, restart_rx) = watch::channel(0u64);
    {
        let coordinator = Arc::clone(&coordinator);
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut restart_rx = restart_rx;
            loop {
                let stop = restart_rx.clone();
                tokio::select! {
                    _ = coordinator.run_discovery(crate::discovery::discovery_manager(), stop) => {}
                    () = shutdown.wait() => return,
                }
                if restart_rx.changed().await.is_err() {
                    return;
                }
            }
        });
    }
    {
        let coordinator = Arc::clone(&coordinator);
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut last = std::fs::read(&config_file).ok();
            let mut generation = 0u64;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = shutdown.wait() => return,
                }
                let now = std::fs::read(&config_file).ok();
                if now == last {
                    continue;
                }
                last = now;
                match Config::load(&config_file).map_err(|e| e.to_string()).and_then(|c| coordinator.set_config(c)) {
                    Ok(()) => {
                        generation += 1;
                        restart_tx.send_replace(generation);
                        tracing::info!("config changed; discovery restarted");
                    }
                    Err(e) => tracing::error!(error = %e, "config changed but is invalid; keeping the last good one"),
                }
            }
        });
    }
    {
        let coordinator = Arc::clone(&coordinator);
        let mut shutdown = shutdown.clone();
        let mut leadership = leadership;
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(cycle_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                leader_gauge.set(i64::from(leadership.is_leader()));
                tokio::select! {
                    _ = tick.tick() => {}
                    // A new leader cycles at once rather than at its next tick.
                    () = leadership.changed() => tick.reset(),
                    () = shutdown.wait() => return,
                }
                if !leadership.is_leader() {
                    continue;
                }
                leader_gauge.set(1);
                let started = std::time::Instant::now();
                coordinator.cycle().await;
                coordinator
                    .metrics
                    .cycle_took(started.elapsed().as_secs_f64());
            }
        });
    }
    let state = Arc::new(ApiState {
        coordinator: Arc::clone(&coordinator),
        registry,
    });
    let handler = move |req| api::handle(Arc::clone(&state), req);
    tasks.spawn(crate::http::serve(listener, handler, shutdown));
    Ok(RunningCoordinator {
        coordinator,
        api_addr,
        trigger,
        tasks,
    })
}
