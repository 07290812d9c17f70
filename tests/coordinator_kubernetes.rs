//! The coordinator with the `kubernetes` backend against the in-process API
//! server, the test playing the StatefulSet controller: it creates a pod
//! (a real sidecar on a loopback address of its own, as the pod IP) for
//! every ordinal below `spec.replicas`. No real Prometheus runs: a stand-in
//! on the pod IP answers `/-/ready` and scrapes the sidecar's file_sd
//! targets through it; the coordinator measures the synthetic targets
//! itself (explore) and the sidecars report what they were assigned.
//!
//! - The StatefulSet is scaled through its `scale` subresource, never more
//!   than once per cycle, to the shards the measured targets need, and every
//!   target ends up active on exactly one shard.
//! - A rolling update (pod deleted, recreated without an IP, then running on
//!   a new IP) keeps the shard's targets where they are.
//! - A pod whose Prometheus is not ready (a crash loop) while its sidecar
//!   answers loses its targets after the failover delay, not before.
//! - Every API call is granted by the coordinator's RBAC rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use promshard::coordinator::kubernetes::{KubernetesBackend, KubernetesOptions};
use promshard::coordinator::reconcile::{
    Coordinator, CoordinatorSettings, CycleReport, DiscoveryTask,
};
use promshard::local::process::free_port;
use promshard::shard_api::{Role, SidecarClient};
use promshard::sidecar::run::{RunningSidecar, SidecarSettings};
use promshard_config::Config;
use promshard_config::discovery::DiscoveryManager;
use promshard_fake_kube::FakeApiServer;
use promshard_loadgen::server::TargetServer;
use promshard_plan::{PlanSettings, ScaleDecision};

#[path = "support/fleet.rs"]
mod synthetic;
use synthetic::SyntheticFleet;
#[path = "support/fake_prometheus.rs"]
mod fake_prometheus;
use fake_prometheus::FakePrometheus;

const NAMESPACE: &str = "monitoring";
const SELECTOR: &str = "app.kubernetes.io/name=promshard-shard";
const STATEFULSET: &str = "shard";
const LIMIT: Duration = Duration::from_secs(60);

fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// A pod, Ready when it has an IP.
fn pod(index: u32, ip: Option<&str>) -> Pod {
    pod_with(index, ip, ip.is_some())
}

fn pod_with(index: u32, ip: Option<&str>, ready: bool) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("{STATEFULSET}-{index}")),
            namespace: Some(NAMESPACE.into()),
            labels: labels(&[("promshard.io/set", STATEFULSET)]),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(PodStatus {
            pod_ip: ip.map(str::to_owned),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    }
}

/// The StatefulSet controller, played by the test: pods are sidecars on
/// `127.0.0.<n>:<port>`, one loopback address per pod.
struct Controller {
    server: FakeApiServer,
    dir: PathBuf,
    config_file: PathBuf,
    sidecar_port: u16,
    /// Ordinal -> (pod IP, its sidecar).
    pods: BTreeMap<u32, (String, RunningSidecar)>,
    /// Ordinal -> the pod's stand-in Prometheus.
    prometheus: BTreeMap<u32, FakePrometheus>,
    prometheus_port: u16,
    next_address: u8,
}

impl Controller {
    fn replicas(&self) -> u32 {
        let set: StatefulSet = self.server.object(Some(NAMESPACE), STATEFULSET).unwrap();
        u32::try_from(set.spec.replicas.unwrap()).unwrap()
    }

    /// Starts a pod for `index` on a fresh IP (its volume, the sidecar's
    /// state directory, survives restarts).
    async fn start_pod(&mut self, index: u32) {
        self.next_address += 1;
        let ip = format!("127.0.0.{}", self.next_address);
        let shard_dir = self.dir.join(format!("{STATEFULSET}-{index}"));
        let sidecar = promshard::sidecar::run::start(SidecarSettings {
            listen: format!("{ip}:0").parse().unwrap(),
            api_listen: SocketAddr::new(ip.parse().unwrap(), self.sidecar_port),
            config_file: self.config_file.clone(),
            output_dir: shard_dir.join("config"),
            storage_path: shard_dir.join("state"),
            // A stand-in: reloads fail and are retried, which is fine here.
            prometheus_url: format!("http://{ip}:{}", self.prometheus_port),
            token_file: None,
            shard_name: Some(format!("{STATEFULSET}-{index}")),
            scrape_address: None,
            config_check_interval: Duration::from_secs(60),
            count_min_interval: promshard::sidecar::proxy::DEFAULT_COUNT_MIN_INTERVAL,
            standalone: false,
            ..SidecarSettings::default()
        })
        .await
        .unwrap();
        let address = SocketAddr::new(ip.parse().unwrap(), self.prometheus_port);
        let mut prometheus = FakePrometheus::serve(address, true).await;
        prometheus.scrape(shard_dir.join("config"), Duration::from_secs(1));
        self.prometheus.insert(index, prometheus);
        self.server.upsert(&pod(index, Some(&ip)));
        self.pods.insert(index, (ip, sidecar));
    }

    /// Creates the pods `spec.replicas` asks for.
    async fn reconcile(&mut self) {
        for index in 0..self.replicas() {
            if !self.pods.contains_key(&index) {
                self.start_pod(index).await;
            }
        }
    }

    /// Stops the pod's sidecar and deletes the pod.
    async fn delete_pod(&mut self, index: u32) {
        let (_, sidecar) = self.pods.remove(&index).unwrap();
        self.prometheus.remove(&index);
        sidecar.stop().await;
        assert!(
            self.server
                .remove::<Pod>(Some(NAMESPACE), &format!("{STATEFULSET}-{index}"))
        );
    }

    /// Active targets per sidecar: target id -> ordinals serving it.
    async fn active(&self) -> BTreeMap<String, Vec<u32>> {
        let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (index, (ip, _)) in &self.pods {
            let client = SidecarClient::new(
                &format!("http://{ip}:{}", self.sidecar_port),
                None,
                Duration::from_secs(2),
            );
            for target in client.status().await.unwrap().targets {
                if target.role == Role::Active {
                    out.entry(target.id.0.clone()).or_default().push(*index);
                }
            }
        }
        out
    }
}

fn placement(report: &CycleReport) -> BTreeMap<String, Option<u32>> {
    report
        .targets
        .iter()
        .map(|t| (t.id.clone(), t.shard))
        .collect()
}

/// Scale PATCHes received since the last call; every request so far granted.
fn scale_patches(server: &FakeApiServer) -> Vec<serde_json::Value> {
    let requests = server.requests();
    server.clear_requests();
    for request in &requests {
        assert!(
            request.is_granted(),
            "not granted by COORDINATOR_RULES: {request:?}"
        );
    }
    requests
        .iter()
        .filter(|r| r.method == Method::PATCH && r.resource == "statefulsets/scale")
        .map(|r| r.body.clone().unwrap_or_default())
        .collect()
}

/// The coordinator's cycles, run by the test, with the controller after each.
struct Harness {
    coordinator: Arc<Coordinator<KubernetesBackend>>,
    controller: Controller,
    /// `spec.replicas` of every scale PATCH, in order.
    scaled_to: Vec<serde_json::Value>,
}

impl Harness {
    async fn cycle(&mut self, run_controller: bool) -> Arc<CycleReport> {
        let report = self.coordinator.cycle().await;
        let patches = scale_patches(&self.controller.server);
        assert!(
            patches.len() <= 1,
            "more than one scale call in a cycle: {patches:?}"
        );
        self.scaled_to
            .extend(patches.iter().map(|p| p["spec"]["replicas"].clone()));
        if run_controller {
            self.controller.reconcile().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        report
    }
}

/// A coordinator over a one-replica shard StatefulSet in the in-process
/// API server, six synthetic targets needing two shards or more, and the
/// test as the StatefulSet controller.
struct Fleet {
    harness: Harness,
    sizes: Vec<u64>,
    sidecar_port: u16,
    discovery: DiscoveryTask,
    targets: TargetServer,
    _dir: tempfile::TempDir,
}

async fn fleet(external_autoscaler: bool, failover_after: Duration) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let SyntheticFleet {
        server: targets,
        config_file,
        ..
    } = SyntheticFleet::start(dir.path(), 6, 11).await;
    let sizes: Vec<u64> = targets.targets().iter().map(|t| t.series as u64).collect();
    let total: u64 = sizes.iter().sum();
    let largest = sizes.iter().copied().max().unwrap();
    // Room for the largest target and for half the fleet at most: two
    // shards or more are needed.
    let target_cap = (largest + largest / 10).max(total / 2);
    let max_series = target_cap * 5 / 4;

    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&StatefulSet {
        metadata: ObjectMeta {
            name: Some(STATEFULSET.into()),
            namespace: Some(NAMESPACE.into()),
            labels: labels(&[("app.kubernetes.io/name", "promshard-shard")]),
            ..ObjectMeta::default()
        },
        spec: StatefulSetSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: labels(&[("promshard.io/set", STATEFULSET)]),
                ..LabelSelector::default()
            },
            service_name: Some("promshard-shard".into()),
            ..StatefulSetSpec::default()
        },
        status: None,
    });
    // Pod 0 is scheduled but not running yet, so that nothing is placed
    // before the coordinator has measured every target.
    server.upsert(&pod(0, None));
    let sidecar_port = free_port().unwrap();
    let backend = KubernetesBackend::with_client(
        server.client(),
        &KubernetesOptions {
            namespace: Some(NAMESPACE.into()),
            selector: SELECTOR.into(),
            sidecar_port,
            delete_pvc: false,
            external_autoscaler,
            kubeconfig: None,
        },
    );
    let settings = CoordinatorSettings {
        plan: PlanSettings {
            max_series,
            target_utilization: 0.8,
            min_shards: 1,
            max_shards: 6,
            // Unmeasured targets look small, so no shard is asked for on guesses.
            default_target_series: 1,
            failover_after,
            ..PlanSettings::default()
        },
        sidecar_timeout: Duration::from_secs(2),
        ..CoordinatorSettings::default()
    };
    let config = Config::load(&config_file).unwrap();
    let coordinator = Arc::new(Coordinator::new(Arc::new(backend), settings, config).unwrap());
    let discovery = coordinator.spawn_discovery(DiscoveryManager::new());
    let controller = Controller {
        server,
        dir: dir.path().to_owned(),
        config_file,
        sidecar_port,
        pods: BTreeMap::new(),
        prometheus: BTreeMap::new(),
        prometheus_port: free_port().unwrap(),
        next_address: 1,
    };
    let harness = Harness {
        coordinator,
        controller,
        scaled_to: Vec::new(),
    };
    Fleet {
        harness,
        sizes,
        sidecar_port,
        discovery,
        targets,
        _dir: dir,
    }
}

/// Until every target is measured: no shard runs, nothing is placed. The
/// first cycle starts the explores; give them time to finish so that the
/// scale decision is taken on measured sizes in one go.
async fn measure_everything(harness: &mut Harness, sizes: &[u64], started: Instant) {
    harness.cycle(false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    loop {
        let report = harness.cycle(false).await;
        if report.targets.len() == sizes.len() && report.targets.iter().all(|t| !t.estimated) {
            return;
        }
        assert!(
            started.elapsed() < LIMIT,
            "explores did not finish: {:?}",
            report.errors
        );
    }
}

/// Starts the pods and cycles until every target has exactly one home on
/// a ready shard and the sidecars report what they were given.
async fn settle(harness: &mut Harness, sizes: &[u64], started: Instant) -> Arc<CycleReport> {
    harness.controller.reconcile().await;
    loop {
        let report = harness.cycle(true).await;
        let plan = report.plan.as_ref().unwrap();
        let done = plan.scale == ScaleDecision::None
            && report.shards.iter().all(|s| s.state == "ready")
            // The sidecars have reported what they were given.
            && report.shards.iter().map(|s| s.targets).sum::<usize>() == sizes.len()
            && plan
                .targets
                .iter()
                .all(|t| t.shard.is_some() && t.draining_on.is_empty());
        if done {
            return report;
        }
        assert!(
            started.elapsed() < LIMIT,
            "not settled: scale {:?}, errors {:?}, shards {:?}",
            plan.scale,
            report.errors,
            report.shards
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_external_autoscaler_the_coordinator_only_reports_the_count() {
    let Fleet {
        mut harness,
        sizes,
        discovery,
        // Bound so that the targets and their directory live to the end.
        targets: _targets,
        _dir,
        ..
    } = fleet(true, PlanSettings::default().failover_after).await;
    let started = Instant::now();
    measure_everything(&mut harness, &sizes, started).await;
    harness.controller.reconcile().await;
    let mut wanted = None;
    for _ in 0..5 {
        let report = harness.cycle(true).await;
        if let Some(ScaleDecision::Up { to, .. }) = report.plan.as_ref().map(|p| &p.scale) {
            wanted = Some(*to);
        }
    }
    let wanted = wanted.expect("the fleet needs more than the one shard it has");
    assert!(wanted >= 2, "{wanted}");
    assert_eq!(
        harness.scaled_to,
        Vec::<serde_json::Value>::new(),
        "no scale call"
    );
    assert_eq!(harness.controller.replicas(), 1);
    let mut metrics = String::new();
    prometheus_client::encoding::text::encode(&mut metrics, &{
        let mut registry = prometheus_client::registry::Registry::default();
        harness.coordinator.metrics.register(&mut registry);
        registry
    })
    .unwrap();
    assert!(
        metrics.contains(&format!("promshard_desired_shards {wanted}")),
        "{metrics}"
    );
    discovery.stop().await.unwrap();
    for (_, (_, sidecar)) in std::mem::take(&mut harness.controller.pods) {
        sidecar.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_scales_the_statefulset_and_keeps_targets_through_a_pod_restart() {
    let Fleet {
        mut harness,
        sizes,
        sidecar_port,
        discovery,
        targets,
        _dir,
    } = fleet(false, PlanSettings::default().failover_after).await;

    let started = Instant::now();
    measure_everything(&mut harness, &sizes, started).await;
    let settled = settle(&mut harness, &sizes, started).await;
    let replicas = harness.controller.replicas();

    assert!(
        replicas >= 2,
        "the fleet needs two shards or more, got {replicas}"
    );
    assert_eq!(
        harness.scaled_to.last(),
        Some(&serde_json::json!(replicas)),
        "scaled up through the scale subresource: {:?}",
        harness.scaled_to
    );
    let scale_calls = harness.scaled_to.len();
    let home = placement(&settled);
    let active = harness.controller.active().await;
    for (id, shard) in &home {
        assert_eq!(active.get(id), Some(&vec![shard.unwrap()]), "target {id}");
    }
    assert_eq!(active.len(), home.len());
    let busiest = *home.values().flatten().max().unwrap();
    assert_eq!(busiest + 1, replicas, "every shard asked for is used");

    // Rolling update of a shard that holds targets: deleted, recreated
    // without an IP, then running on a new IP with its volume.
    let restarted = busiest;
    harness.controller.delete_pod(restarted).await;
    let report = harness.cycle(false).await;
    let view = report.shards.iter().find(|s| s.index == restarted).unwrap();
    assert_eq!(view.state, "unresponsive");
    assert_eq!(placement(&report), home);
    harness.controller.server.upsert(&pod(restarted, None));
    let report = harness.cycle(false).await;
    assert_eq!(placement(&report), home);
    harness.controller.start_pod(restarted).await;
    let new_ip = harness.controller.pods[&restarted].0.clone();
    let report = loop {
        let report = harness.cycle(false).await;
        let view = report.shards.iter().find(|s| s.index == restarted).unwrap();
        if view.state == "ready" {
            assert_eq!(view.sidecar, format!("http://{new_ip}:{sidecar_port}"));
            break report;
        }
        assert!(
            started.elapsed() < LIMIT,
            "the restarted shard did not come back"
        );
    };
    assert_eq!(
        placement(&report),
        home,
        "nothing moved because of the restart"
    );
    assert_eq!(harness.controller.active().await, active);
    assert_eq!(
        harness.scaled_to.len(),
        scale_calls,
        "no scale call because of the restart"
    );

    discovery.stop().await.unwrap();
    for (_, (_, sidecar)) in std::mem::take(&mut harness.controller.pods) {
        sidecar.stop().await;
    }
    drop(targets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_whose_prometheus_is_not_ready_loses_its_targets_after_the_delay() {
    let failover_after = Duration::from_secs(5);
    let Fleet {
        mut harness,
        sizes,
        discovery,
        targets,
        _dir,
        ..
    } = fleet(false, failover_after).await;
    let started = Instant::now();
    measure_everything(&mut harness, &sizes, started).await;
    let settled = settle(&mut harness, &sizes, started).await;
    let home = placement(&settled);
    let victim = *home.values().flatten().max().unwrap();
    let lost: Vec<&String> = home
        .iter()
        .filter(|(_, shard)| **shard == Some(victim))
        .map(|(id, _)| id)
        .collect();
    assert!(!lost.is_empty());

    // Its Prometheus crash-loops: the kubelet marks the pod not Ready, the
    // sidecar keeps answering and sees its Prometheus not ready.
    let ip = harness.controller.pods[&victim].0.clone();
    harness.controller.prometheus[&victim].set_ready(false);
    harness
        .controller
        .server
        .upsert(&pod_with(victim, Some(&ip), false));
    let broke = Instant::now();
    let moved = loop {
        let report = harness.cycle(false).await;
        let view = report.shards.iter().find(|s| s.index == victim).unwrap();
        assert_ne!(view.state, "unresponsive", "the sidecar answers: {view:?}");
        if report.moves > 0 {
            break report;
        }
        assert_eq!(placement(&report), home, "moved before the failover");
        assert!(
            broke.elapsed() < failover_after + Duration::from_secs(10),
            "no failover: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    };
    assert!(
        broke.elapsed() >= failover_after,
        "failed over after {:?}, before the delay",
        broke.elapsed()
    );
    let plan = moved.plan.as_ref().unwrap();
    assert!(
        plan.moves
            .iter()
            .all(|m| m.reason == promshard_plan::MoveReason::Failover && m.from == victim),
        "{:?}",
        plan.moves
    );
    let now = placement(&moved);
    for id in &lost {
        assert!(
            now[*id].is_some_and(|s| s != victim),
            "{id} on {:?}",
            now[*id]
        );
    }
    // The sidecars confirm: each lost target active elsewhere.
    let active = harness.controller.active().await;
    for id in &lost {
        let on = &active[*id];
        assert!(on.iter().any(|&s| s != victim), "{id} active on {on:?}");
    }

    discovery.stop().await.unwrap();
    for (_, (_, sidecar)) in std::mem::take(&mut harness.controller.pods) {
        sidecar.stop().await;
    }
    drop(targets);
}
