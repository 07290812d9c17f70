//! `promshard coordinator`'s flags, the planner flags it shares with
//! `promshard local` ([`PlanArgs`]), and the settings they give.

use std::net::SocketAddr;
use std::path::PathBuf;

use promshard_config::PromDuration;
use promshard_config::target::Compat;
use promshard_plan::PlanSettings;

use promshard_operator::Selection;
use promshard_operator::model::LabelSelector;

use crate::coordinator::kubernetes::KubernetesOptions;
use crate::coordinator::operator::OperatorSource;
use crate::coordinator::reconcile::CoordinatorSettings;
use crate::coordinator::run::{LeaderElection, RunSettings, ShardSource};

/// Planner and coordinator flags shared by `coordinator` and `local`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Capacity of one shard in head series.
    #[arg(long = "shard.max-series", default_value_t = 1_000_000)]
    pub max_series: u64,
    /// Capacity of one shard in samples appended per second (0: unbounded);
    /// a tenth of a large Prometheus's million a second, binding at 10 s intervals.
    #[arg(long = "shard.max-samples-per-second", default_value_t = 100_000)]
    pub max_samples_per_second: u64,
    /// Fill shards up to this share of capacity (in both dimensions).
    #[arg(long = "shard.target-utilization", default_value_t = 0.8)]
    pub target_utilization: f64,
    /// Shed targets from a shard above this share of either capacity.
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
    /// Move the targets of a shard that has not worked this long (sidecar
    /// silent, Prometheus down or not scraping, pod not Ready).
    #[arg(long = "shard.failover-after", default_value = "2m")]
    pub failover_after: PromDuration,
    /// Remove a drained shard after it has been empty this long.
    #[arg(long = "shard.idle-before-remove", default_value = "10m")]
    pub idle_before_remove: PromDuration,
    /// Series moved per cycle at most (they stay in the old head for hours).
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
    /// The user's prometheus.yml (re-read on change; optional with --operator.*).
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,
    /// The shard backend.
    #[arg(long = "shard.backend", value_enum, default_value = "static")]
    pub backend: BackendArg,
    /// For `--shard.backend=static`: YAML list of the shards' sidecar URLs.
    #[arg(long = "shard.static-file")]
    pub static_file: Option<PathBuf>,
    /// For `--shard.backend=kubernetes`: namespace of the shard StatefulSets
    /// (default: the coordinator's).
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
    // Last: its help heading applies to the flags after it.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Jobs from prometheus-operator resources (ServiceMonitor, PodMonitor,
/// Probe, ScrapeConfig), generated exactly as the operator would.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "prometheus-operator resources")]
pub struct OperatorArgs {
    /// Follow this Prometheus resource's selectors and settings instead.
    #[arg(
        long = "operator.prometheus",
        value_name = "NAMESPACE/NAME",
        value_parser = parse_object_name
    )]
    pub prometheus: Option<(String, String)>,
    /// ServiceMonitors with these labels (kubectl -l syntax; "": all; unset: none).
    #[arg(long = "operator.service-monitor-selector", value_name = "SELECTOR", value_parser = parse_selector)]
    pub service_monitor_selector: Option<LabelSelector>,
    /// Namespaces ServiceMonitors come from, by label ("": all; unset: --operator.namespace).
    #[arg(long = "operator.service-monitor-namespace-selector", value_name = "SELECTOR", value_parser = parse_selector)]
    pub service_monitor_namespace_selector: Option<LabelSelector>,
    /// PodMonitors with these labels; as --operator.service-monitor-selector.
    #[arg(long = "operator.pod-monitor-selector", value_name = "SELECTOR", value_parser = parse_selector)]
    pub pod_monitor_selector: Option<LabelSelector>,
    /// Namespaces PodMonitors are taken from; as the ServiceMonitor one.
    #[arg(long = "operator.pod-monitor-namespace-selector", value_name = "SELECTOR", value_parser = parse_selector)]
    pub pod_monitor_namespace_selector: Option<LabelSelector>,
    /// Probes with these labels; as --operator.service-monitor-selector.
    #[arg(long = "operator.probe-selector", value_name = "SELECTOR", value_parser = parse_selector)]
    pub probe_selector: Option<LabelSelector>,
    /// Namespaces Probes are taken from; as the ServiceMonitor one.
    #[arg(long = "operator.probe-namespace-selector", value_name = "SELECTOR", value_parser = parse_selector)]
    pub probe_namespace_selector: Option<LabelSelector>,
    /// ScrapeConfigs with these labels; as --operator.service-monitor-selector.
    #[arg(long = "operator.scrape-config-selector", value_name = "SELECTOR", value_parser = parse_selector)]
    pub scrape_config_selector: Option<LabelSelector>,
    /// Namespaces ScrapeConfigs are taken from; as the ServiceMonitor one.
    #[arg(long = "operator.scrape-config-namespace-selector", value_name = "SELECTOR", value_parser = parse_selector)]
    pub scrape_config_namespace_selector: Option<LabelSelector>,
    /// What unset namespace selectors mean (default: the pod's namespace).
    #[arg(
        long = "operator.namespace",
        id = "operator_namespace",
        value_name = "NAMESPACE"
    )]
    pub namespace: Option<String>,
    /// The Prometheus version to generate for (default: the operator's).
    #[arg(long = "operator.prometheus-version", value_name = "VERSION")]
    pub prometheus_version: Option<String>,
}

impl OperatorArgs {
    /// Where the resources' selectors come from; `None` when no
    /// --operator.* flag is given.
    fn source(&self) -> Option<OperatorSource> {
        if let Some((namespace, name)) = &self.prometheus {
            return Some(OperatorSource::Prometheus {
                namespace: namespace.clone(),
                name: name.clone(),
            });
        }
        let any = [
            &self.service_monitor_selector,
            &self.service_monitor_namespace_selector,
            &self.pod_monitor_selector,
            &self.pod_monitor_namespace_selector,
            &self.probe_selector,
            &self.probe_namespace_selector,
            &self.scrape_config_selector,
            &self.scrape_config_namespace_selector,
        ]
        .iter()
        .any(|s| s.is_some());
        if !any {
            return None;
        }
        let namespace = self.namespace.clone().unwrap_or_else(|| {
            promshard_k8s::sd::client::InCluster::from_env()
                .own_namespace()
                .unwrap_or_else(|_| "default".to_owned())
        });
        let selection = Selection {
            prometheus_namespace: namespace,
            service_monitor_selector: self.service_monitor_selector.clone(),
            service_monitor_namespace_selector: self.service_monitor_namespace_selector.clone(),
            pod_monitor_selector: self.pod_monitor_selector.clone(),
            pod_monitor_namespace_selector: self.pod_monitor_namespace_selector.clone(),
            probe_selector: self.probe_selector.clone(),
            probe_namespace_selector: self.probe_namespace_selector.clone(),
            scrape_config_selector: self.scrape_config_selector.clone(),
            scrape_config_namespace_selector: self.scrape_config_namespace_selector.clone(),
        };
        Some(OperatorSource::Flags {
            selection: Box::new(selection),
            version: self.prometheus_version.clone(),
        })
    }
}

/// `NAMESPACE/NAME`.
pub(super) fn parse_object_name(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok((namespace.to_owned(), name.to_owned()))
        }
        _ => Err(format!("{text:?} is not NAMESPACE/NAME")),
    }
}

/// A label selector in kubectl's -l syntax.
fn parse_selector(text: &str) -> Result<LabelSelector, String> {
    LabelSelector::parse(text)
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
            operator: args.operator.source(),
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
