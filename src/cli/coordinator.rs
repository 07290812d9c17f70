//! `promshard coordinator`'s flags, the planner flags it shares with
//! `promshard local` ([`PlanArgs`]), and the settings they give.

use std::net::SocketAddr;
use std::path::PathBuf;

use promshard_config::PromDuration;
use promshard_config::target::Compat;
use promshard_plan::PlanSettings;

use crate::coordinator::kubernetes::KubernetesOptions;
use crate::coordinator::reconcile::CoordinatorSettings;
use crate::coordinator::run::{LeaderElection, RunSettings, ShardSource};

/// Planner and coordinator flags shared by `coordinator` and `local`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Capacity of one shard in head series.
    #[arg(long = "shard.max-series", default_value_t = 1_000_000)]
    pub max_series: u64,
    /// Capacity of one shard in samples appended per second (its ingestion
    /// CPU; 0: unbounded). A large Prometheus ingests about a million a
    /// second and holds several million series, so a shard of the default
    /// million series gets a tenth: series and ingestion bind together at a
    /// 10 s scrape interval, and faster-scraped fleets are packed by ingestion.
    #[arg(long = "shard.max-samples-per-second", default_value_t = 100_000)]
    pub max_samples_per_second: u64,
    /// Fill shards up to this share of capacity (in both dimensions).
    #[arg(long = "shard.target-utilization", default_value_t = 0.8)]
    pub target_utilization: f64,
    /// Shed targets from a shard above this share of capacity (in either
    /// dimension).
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
    #[arg(long = "shard.scale-down-after", default_value = "1h")]
    pub scale_down_after: PromDuration,
    /// Move the targets of a shard that has not worked this long: its sidecar
    /// silent, its Prometheus not ready (crashed, restarting, replaying its
    /// WAL) or not scraping, or its pod not Ready.
    #[arg(long = "shard.failover-after", default_value = "2m")]
    pub failover_after: PromDuration,
    /// Remove a drained shard after it has been empty this long.
    #[arg(long = "shard.idle-before-remove", default_value = "10m")]
    pub idle_before_remove: PromDuration,
    /// Series moved per cycle at most (moved series stay in the old head for hours).
    #[arg(long = "plan.max-moves", default_value_t = 200_000)]
    pub max_moves: u64,
    /// Successful scrapes on the new shard before the old one drops a moved target.
    #[arg(long = "handover.scrapes", default_value_t = 2)]
    pub handover_scrapes: u64,
    /// Time between reconcile cycles.
    #[arg(long = "cycle.interval", default_value = "15s")]
    pub cycle_interval: PromDuration,
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
    /// The coordinator settings these flags give (no token: that is read
    /// from its file when the coordinator starts).
    pub fn settings(&self) -> CoordinatorSettings {
        CoordinatorSettings {
            plan: PlanSettings {
                max_series: self.max_series,
                max_samples_per_second: self.max_samples_per_second,
                target_utilization: self.target_utilization,
                high_watermark: self.high_watermark,
                max_moves: self.max_moves,
                min_shards: self.min_shards,
                max_shards: self.max_shards,
                replicas: self.replicas,
                handover_scrapes: self.handover_scrapes,
                scale_down_after: self.scale_down_after.as_std(),
                failover_after: self.failover_after.as_std(),
                idle_before_remove: self.idle_before_remove.as_std(),
                ..PlanSettings::default()
            },
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
    #[arg(long = "leader-elect.lease-duration", default_value = "15s")]
    pub lease_duration: PromDuration,
}

/// `--shard.backend`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    // A fixed list of shards; no scaling.
    Static,
    // Kubernetes StatefulSets, scaled by the coordinator.
    Kubernetes,
}

impl From<CoordinatorArgs> for RunSettings {
    fn from(args: CoordinatorArgs) -> Self {
        let shards = match args.backend {
            BackendArg::Static => ShardSource::Static(args.static_file),
            BackendArg::Kubernetes => ShardSource::Kubernetes(KubernetesOptions {
                namespace: args.shard_namespace,
                selector: args.shard_selector,
                sidecar_port: args.sidecar_port,
                delete_pvc: args.delete_pvc,
                external_autoscaler: args.external_autoscaler,
                kubeconfig: args.kubeconfig.clone(),
            }),
        };
        let leader_election = args.leader.enabled.then_some(LeaderElection {
            lease_name: args.leader.lease_name,
            namespace: args.leader.namespace,
            lease_duration: args.leader.lease_duration.as_std(),
        });
        Self {
            config_file: args.config_file,
            shards,
            kubeconfig: args.kubeconfig,
            api_listen: args.api_listen,
            token_file: args.token_file,
            leader_election,
            coordinator: args.plan.settings(),
            cycle_interval: args.plan.cycle_interval.as_std(),
        }
    }
}
