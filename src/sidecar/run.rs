//! Running a sidecar: wiring the user's config, the stored assignment, the
//! scrape path and the API together, in an order that never loses a target.
//!
//! [`start`] loads the config, restores the assignment, writes the file_sd
//! files and the shard config, then serves scrapes and the API, then
//! reports ready. The tasks it starts keep things current while it runs:
//! the config watch (`config_watch`), the poll of Prometheus's readiness,
//! scraping and head series (`poll`), and in `--standalone` mode discovery
//! (`standalone`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::api::{self, ApiState, ShardInfo};
use super::assignment::AssignmentTable;
use super::config_watch::{ConfigLoadError, ConfigWatch, ShardProfile, load_config};
pub use super::configgen::RulesMode;
use super::configgen::SelfScrape;
use super::control::ShardControl;
use super::info::SidecarInfo;
use super::metrics::ControlMetrics;
use super::poll::{READINESS_TIMEOUT, poll_prometheus};
use super::proxy::{self, ProxyState};
use super::standalone::standalone;
use super::store::{AssignmentStore, Restored};
use super::unix_millis;
use crate::fsutil::WriteError;
use crate::http::Shutdown;
use crate::prometheus::PrometheusClient;
use crate::scrape::jobs::JobTable;
use crate::shard_api::{Assignment, PushedJobs};

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
    /// Where the user's `rule_files` are evaluated.
    pub rules: RulesMode,
    /// Add a job that scrapes the shard's own Prometheus, labelled with the
    /// shard.
    pub self_scrape: bool,
}

impl Default for SidecarSettings {
    /// Loopback listeners on free ports, the flags' defaults, and empty
    /// paths: a base for `..SidecarSettings::default()`, never complete on
    /// its own.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            config_file: PathBuf::new(),
            output_dir: PathBuf::new(),
            storage_path: PathBuf::new(),
            prometheus_url: "http://127.0.0.1:9090".to_owned(),
            token_file: None,
            shard_name: None,
            scrape_address: None,
            standalone: false,
            config_check_interval: Duration::from_secs(5),
            count_min_interval: crate::sidecar::proxy::DEFAULT_COUNT_MIN_INTERVAL,
            rules: RulesMode::default(),
            self_scrape: false,
        }
    }
}

/// `host:port` of a base URL (`http://127.0.0.1:9090` -> `127.0.0.1:9090`).
fn authority_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// Says at start which mode runs the user's rules, and where.
fn log_rules_mode(config: &promshard_config::Config, rules: RulesMode) {
    let has_rules = config
        .raw
        .get("rule_files")
        .and_then(serde_yaml_ng::Value::as_sequence)
        .is_some_and(|files| !files.is_empty());
    if !has_rules {
        return;
    }
    match rules {
        RulesMode::Global => tracing::info!(
            "the config has rule_files; --shard.rules=global: this shard evaluates none of them (they run once on the global view: Thanos Ruler, or promshard local's global store)"
        ),
        RulesMode::Shard => tracing::info!(
            "the config has rule_files; --shard.rules=shard: this shard evaluates them on its own targets only"
        ),
    }
}

/// The sidecar failed to start.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// The user's config cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigLoadError),
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
    let shard_name = args.shard_name.clone().unwrap_or_else(hostname);
    let profile = ShardProfile {
        rules: args.rules,
        self_scrape: args.self_scrape.then(|| SelfScrape {
            address: authority_of(&args.prometheus_url),
            shard: shard_name.clone(),
        }),
    };
    let (loaded, built) = load_config(
        &args.config_file,
        &args.output_dir,
        &profile,
        &PushedJobs::default(),
    )?;
    log_rules_mode(&loaded.config, args.rules);
    let jobs = Arc::new(JobTable::default());
    jobs.replace(built);

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
    loaded.write(&shard_config)?;

    let proxy_state = Arc::new(
        ProxyState::new(Arc::clone(&table), Arc::clone(&jobs))
            .with_count_min_interval(args.count_min_interval),
    );
    let control_metrics = ControlMetrics::default();
    let mut registry = Registry::default();
    proxy_state.metrics.register(&mut registry);
    control_metrics.register(&mut registry);
    let info = Arc::new(SidecarInfo::new(
        shard_name,
        loaded.hash.clone(),
        unix_millis(),
        Arc::clone(&proxy_state.stats),
        registry,
    ));
    // Pushed jobs are applied one at a time by the config watch.
    let (push_jobs, pushes) = tokio::sync::mpsc::channel(1);
    let api_state = Arc::new(ApiState {
        control: Arc::clone(&control),
        info: Arc::clone(&info) as Arc<dyn ShardInfo>,
        token,
        ready: AtomicBool::new(false),
        jobs: push_jobs,
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
    let readiness = PrometheusClient::new(&args.prometheus_url, READINESS_TIMEOUT);
    let watch = ConfigWatch {
        config_file: args.config_file.clone(),
        output_dir: args.output_dir.clone(),
        shard_config: shard_config.clone(),
        check_interval: args.config_check_interval,
        profile: profile.clone(),
        pushes,
        control: Arc::clone(&control),
        jobs: Arc::clone(&jobs),
        info: Arc::clone(&info),
        prometheus: prometheus.clone(),
        metrics: control_metrics.clone(),
    };
    tasks.spawn(watch.run(loaded, shutdown.clone()));
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
            args.config_file.clone(),
            args.config_check_interval,
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
