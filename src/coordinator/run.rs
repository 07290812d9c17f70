//! `promshard coordinator`: its settings, and the loop that runs discovery,
//! cycles, config reloads and the API until a signal.

use std::collections::BTreeMap;
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
use crate::coordinator::operator::{OperatorJobs, OperatorSource, jobs_from};
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
    /// The user's prometheus.yml (re-read on change); `None` with jobs from
    /// prometheus-operator resources only.
    pub config_file: Option<PathBuf>,
    /// Jobs from prometheus-operator resources too (`--operator.*`).
    pub operator: Option<OperatorSource>,
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

/// The config of a coordinator without `--config.file`: Prometheus's
/// defaults, no job of its own.
fn empty_config() -> Result<Config, CoordinatorError> {
    Ok(Config::from_yaml_str("{}", "(no --config.file)")?)
}

/// `promshard coordinator`.
pub async fn run(settings: RunSettings) -> Result<(), CoordinatorError> {
    let token = read_token(settings.token_file.as_ref())?;
    let config = match &settings.config_file {
        Some(path) => Config::load(path)?,
        None if settings.operator.is_some() => empty_config()?,
        None => {
            return Err(CoordinatorError::Setup(
                "--config.file is required unless jobs come from prometheus-operator resources (--operator.*)".into(),
            ));
        }
    };
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
    let operator = match &settings.operator {
        Some(source) => {
            let client_source = settings.kubeconfig.clone().map_or(
                promshard_k8s::cluster::ClientSource::Infer,
                promshard_k8s::cluster::ClientSource::Kubeconfig,
            );
            let client = promshard_k8s::cluster::client_from(&client_source)
                .await
                .map_err(|e| CoordinatorError::Setup(format!("--operator.*: {e}")))?;
            Some((source.clone(), client))
        }
        None => None,
    };
    let sources = ConfigSources {
        file: settings.config_file.clone(),
        operator,
    };
    let running = start_with_leadership(
        Arc::new(backend),
        coordinator,
        config,
        sources,
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

/// Where the coordinator's jobs come from.
#[derive(Clone, Default)]
pub struct ConfigSources {
    /// The user's prometheus.yml, re-read on change.
    pub file: Option<PathBuf>,
    /// prometheus-operator resources, watched through this client.
    pub operator: Option<(OperatorSource, kube::Client)>,
}

impl std::fmt::Debug for ConfigSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSources")
            .field("file", &self.file)
            .field(
                "operator",
                &self.operator.as_ref().map(|(source, _)| source),
            )
            .finish()
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
        ConfigSources {
            file: Some(config_file),
            operator: None,
        },
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
    sources: ConfigSources,
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
    // With prometheus-operator resources it starts only once their jobs are
    // in the config: discovering the file's jobs alone would unassign every
    // target of theirs on the sidecars.
    let (restart_tx, restart_rx) = watch::channel(0u64);
    let sd_client = sources.operator.as_ref().map(|(_, client)| client.clone());
    let wait_for_operator = sources.operator.is_some();
    {
        let coordinator = Arc::clone(&coordinator);
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut restart_rx = restart_rx;
            if wait_for_operator {
                tokio::select! {
                    changed = restart_rx.changed() => if changed.is_err() { return },
                    () = shutdown.wait() => return,
                }
            }
            loop {
                let stop = restart_rx.clone();
                let manager = crate::discovery::discovery_manager_with(sd_client.clone());
                tokio::select! {
                    _ = coordinator.run_discovery(manager, stop) => {}
                    () = shutdown.wait() => return,
                }
                if restart_rx.changed().await.is_err() {
                    return;
                }
            }
        });
    }
    let operator_jobs = sources.operator.map(|(source, client)| {
        let (tx, rx) = watch::channel(None);
        tasks.spawn(feed_operator_jobs(source, client, tx, shutdown.clone()));
        rx
    });
    tasks.spawn(watch_config_sources(
        Arc::clone(&coordinator),
        sources.file,
        operator_jobs,
        restart_tx,
        shutdown.clone(),
    ));
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

/// Keeps the coordinator's config on its sources: the file (checked every
/// 5 s) and the jobs of prometheus-operator resources (as they change).
/// Each change that loads replaces the config and restarts discovery; one
/// that does not keeps the last good config.
async fn watch_config_sources<B: ShardBackend>(
    coordinator: Arc<Coordinator<B>>,
    file: Option<PathBuf>,
    mut operator: Option<watch::Receiver<Option<Arc<OperatorJobs>>>>,
    restart: watch::Sender<u64>,
    mut shutdown: Shutdown,
) {
    let read = |file: &Option<PathBuf>| file.as_ref().and_then(|f| std::fs::read(f).ok());
    let mut last = read(&file);
    let mut generation = 0u64;
    loop {
        let operator_changed = async {
            match operator.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        let mut changed = false;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = operator_changed => changed = true,
            () = shutdown.wait() => return,
        }
        let now = read(&file);
        if now != last {
            last = now;
            changed = true;
        }
        if !changed {
            continue;
        }
        let jobs = match &operator {
            // Not before the first jobs are in (see the discovery task).
            Some(rx) => match rx.borrow().clone() {
                Some(jobs) => Some(jobs),
                None => continue,
            },
            None => None,
        };
        let loaded = match &file {
            Some(path) => Config::load(path).map_err(|e| e.to_string()),
            None => empty_config().map_err(|e| e.to_string()),
        };
        let merged = loaded.and_then(|config| match &jobs {
            Some(jobs) => config
                .with_jobs(OPERATOR_ORIGIN, &jobs.jobs)
                .map_err(|e| e.to_string()),
            None => Ok(config),
        });
        match merged.and_then(|config| coordinator.set_config(config)) {
            Ok(()) => {
                if let Some(jobs) = jobs {
                    coordinator.set_operator_jobs(OperatorJobs::clone(&jobs));
                }
                generation += 1;
                restart.send_replace(generation);
                tracing::info!("config changed; discovery restarted");
            }
            Err(e) => {
                tracing::error!(error = %e, "config changed but does not load; keeping the last good one");
            }
        }
    }
}

/// Where the jobs of prometheus-operator resources are said to come from.
const OPERATOR_ORIGIN: &str = "prometheus-operator resources";

/// Watches the prometheus-operator resources and publishes their jobs as
/// they change (generated off the runtime: thousands of monitors take a
/// tenth of a second). A generation that fails keeps the last jobs.
async fn feed_operator_jobs(
    source: OperatorSource,
    client: kube::Client,
    tx: watch::Sender<Option<Arc<OperatorJobs>>>,
    mut shutdown: Shutdown,
) {
    let options = promshard_k8s::monitors::MonitorOptions {
        prometheus: match &source {
            OperatorSource::Prometheus { namespace, name } => {
                Some((namespace.clone(), name.clone()))
            }
            OperatorSource::Flags { .. } => None,
        },
        ..promshard_k8s::monitors::MonitorOptions::default()
    };
    let watch = promshard_k8s::monitors::MonitorWatch::start(client, options);
    let mut snapshots = watch.snapshots();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    loop {
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            () = shutdown.wait() => return,
        }
        let Some(snapshot) = snapshots.borrow_and_update().clone() else {
            continue;
        };
        let (source, env) = (source.clone(), env.clone());
        let generated =
            tokio::task::spawn_blocking(move || jobs_from(&snapshot, &source, &env)).await;
        match generated {
            Ok(Ok(jobs)) => {
                let rejected = jobs
                    .resources
                    .iter()
                    .filter(|r| r.state == "rejected")
                    .count();
                tracing::info!(
                    jobs = jobs.jobs.len(),
                    rejected,
                    problems = jobs.problems.len(),
                    "prometheus-operator resources read"
                );
                tx.send_replace(Some(Arc::new(jobs)));
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "prometheus-operator resources: no jobs generated; keeping the last ones")
            }
            Err(e) => tracing::error!(error = %e, "generating prometheus-operator jobs panicked"),
        }
    }
}
