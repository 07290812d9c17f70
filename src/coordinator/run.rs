//! `promshard coordinator`: its settings, and the loop that runs discovery,
//! cycles, config reloads and the API until a signal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use promshard_config::Config;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::coordinator::api::{self, ApiState};
use crate::coordinator::backend::{ShardBackend, StaticBackend};
use crate::coordinator::kubernetes::{KubernetesBackend, KubernetesOptions};
use crate::coordinator::reconcile::{Coordinator, CoordinatorSettings};
use crate::http::Shutdown;

/// Which shards the coordinator manages.
#[derive(Debug, Clone)]
pub enum ShardSource {
    /// A fixed list of sidecars, read from this file (required: `None` is
    /// refused when the coordinator starts).
    Static(Option<PathBuf>),
    /// The pods of StatefulSets, scaled by the coordinator.
    Kubernetes(KubernetesOptions),
}

/// Leader election through a Lease: of several coordinator replicas, one
/// runs cycles, the others serve the API and take over when it stops.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    /// Name of the Lease.
    pub lease_name: String,
    /// Namespace of the Lease (`None`: the pod's own, else `default`).
    pub namespace: Option<String>,
    /// A standby takes over when the leader has not renewed for this long.
    pub lease_duration: Duration,
}

impl LeaderElection {
    /// Joins the election. The identity is `POD_NAME`, else the host name.
    async fn join(
        &self,
        kubeconfig: Option<&PathBuf>,
    ) -> Result<promshard_k8s::lease::LeaderHandle, CoordinatorError> {
        use promshard_k8s::lease::{KubeLeaseApi, LeaderElector, LeaseSettings};
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
        Ok(LeaderElector::spawn(
            KubeLeaseApi::new(client, &namespace),
            settings,
        ))
    }
}

/// Everything `promshard coordinator` runs with.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The user's prometheus.yml (re-read on change).
    pub config_file: PathBuf,
    /// The shards.
    pub shards: ShardSource,
    /// The kubeconfig leader election uses (`None`: `KUBECONFIG`,
    /// `~/.kube/config`, else in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Where the API and metrics listen.
    pub api_listen: SocketAddr,
    /// File with the bearer token the sidecars require.
    pub token_file: Option<PathBuf>,
    /// `None`: this replica always runs cycles.
    pub leader_election: Option<LeaderElection>,
    /// The coordinator's and the planner's tunables (the token is read from
    /// `token_file` when the coordinator starts).
    pub coordinator: CoordinatorSettings,
    /// Time between reconcile cycles.
    pub cycle_interval: Duration,
}

/// Whether this replica may run reconcile cycles: always, or while it
/// holds the leader Lease.
#[derive(Debug, Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
}

impl Leadership {
    /// A replica without leader election: it always leads.
    pub(crate) fn always() -> Self {
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
    pub(crate) fn is_leader(&self) -> bool {
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
fn read_token(path: Option<&PathBuf>) -> Result<Option<String>, CoordinatorError> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| {
        CoordinatorError::Setup(format!("reading token file {}: {e}", path.display()))
    })?;
    Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
}

/// `promshard coordinator`.
pub async fn run(settings: RunSettings) -> Result<(), CoordinatorError> {
    let token = read_token(settings.token_file.as_ref())?;
    let config = Config::load(&settings.config_file)?;
    match &settings.shards {
        ShardSource::Static(file) => {
            let file = file.as_ref().ok_or_else(|| {
                CoordinatorError::Setup("--shard.backend=static needs --shard.static-file".into())
            })?;
            let backend =
                StaticBackend::load(file).map_err(|e| CoordinatorError::Setup(e.to_string()))?;
            serve_until_signal(backend, &settings, token, config).await
        }
        ShardSource::Kubernetes(options) => {
            let backend = KubernetesBackend::connect(options)
                .await
                .map_err(|e| CoordinatorError::Setup(e.to_string()))?;
            serve_until_signal(backend, &settings, token, config).await
        }
    }
}

/// Runs the coordinator over `backend` until SIGINT/SIGTERM.
async fn serve_until_signal<B: ShardBackend>(
    backend: B,
    settings: &RunSettings,
    token: Option<String>,
    config: Config,
) -> Result<(), CoordinatorError> {
    let coordinator = CoordinatorSettings {
        token,
        ..settings.coordinator.clone()
    };
    let listener = TcpListener::bind(settings.api_listen)
        .await
        .map_err(|source| CoordinatorError::Bind {
            addr: settings.api_listen,
            source,
        })?;
    let election = match &settings.leader_election {
        Some(election) => Some(election.join(settings.kubeconfig.as_ref()).await?),
        None => None,
    };
    let leadership = election
        .as_ref()
        .map_or_else(Leadership::always, Leadership::elected);
    let running = start_with_leadership(
        Arc::new(backend),
        coordinator,
        config,
        settings.config_file.clone(),
        settings.cycle_interval,
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
