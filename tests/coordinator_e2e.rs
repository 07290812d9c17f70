//! The coordinator against real shards: sidecars in front of real
//! `prometheus` processes, scraping synthetic targets of the loadgen.
//!
//! - A shard that dies keeps its targets for `failover_after`; then they
//!   move and are scraped elsewhere; when it comes back it is reconciled
//!   without any target active twice.
//! - A shard whose sidecar answers but whose Prometheus is not ready fails
//!   over the same way, and takes nothing back once ready.
//! - `promshard local`'s backend restarts a killed Prometheus, and a shard
//!   whose Prometheus cannot be restarted fails over; no other target
//!   misses a scrape meanwhile.
//! - A restarted coordinator rebuilds the placement from what the sidecars
//!   report and moves nothing (and pushes nothing) because of the restart.
//! - Replica groups get identical layouts, each target scraped by exactly
//!   one shard per group.
//!
//! Cycles are driven by the test (one per scrape interval), so that what
//! each cycle decided can be checked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    reason = "test helpers fail loudly; timings are printed for the record"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promshard::coordinator::backend::{ShardBackend, StaticBackend};
use promshard::coordinator::reconcile::{
    Coordinator, CoordinatorSettings, CycleReport, DiscoveryTask,
};
use promshard::local::backend::{LocalBackend, LocalOptions};
use promshard::local::process::{PrometheusOptions, PrometheusProcess, free_port};
use promshard::prometheus::PrometheusClient;
use promshard::shard_api::{Role, ShardStatus, SidecarClient};
use promshard::sidecar::run::{RunningSidecar, SidecarSettings};
use promshard_config::Config;
use promshard_config::discovery::DiscoveryManager;
use promshard_plan::{MoveReason, PlanSettings, ScaleDecision};

#[path = "support/fleet.rs"]
mod fleet;
use fleet::SyntheticFleet;
#[path = "support/fake_prometheus.rs"]
mod fake_prometheus;
use fake_prometheus::FakePrometheus;

/// The scrape interval, and the time between two cycles.
const INTERVAL: Duration = Duration::from_secs(1);

/// One shard run by the test: a sidecar and its Prometheus on fixed ports,
/// so that it can die and come back where the static shard list says it is.
struct Shard {
    group: u32,
    dir: PathBuf,
    config_file: PathBuf,
    scrape_port: u16,
    api_port: u16,
    prometheus_port: u16,
    sidecar: Option<RunningSidecar>,
    prometheus: Option<PrometheusProcess>,
}

impl Shard {
    fn new(root: &Path, config_file: &Path, group: u32, index: u32) -> Self {
        Self {
            group,
            dir: root.join(format!("shard-{group}-{index}")),
            config_file: config_file.to_owned(),
            scrape_port: free_port().unwrap(),
            api_port: free_port().unwrap(),
            prometheus_port: free_port().unwrap(),
            sidecar: None,
            prometheus: None,
        }
    }

    /// Starts the sidecar (restoring its stored assignment, if any), then
    /// Prometheus on the sidecar's generated config.
    async fn start(&mut self) {
        let sidecar = promshard::sidecar::run::start(SidecarSettings {
            listen: format!("127.0.0.1:{}", self.scrape_port).parse().unwrap(),
            api_listen: format!("127.0.0.1:{}", self.api_port).parse().unwrap(),
            config_file: self.config_file.clone(),
            output_dir: self.dir.join("config"),
            storage_path: self.dir.join("state"),
            prometheus_url: self.prometheus_url(),
            token_file: None,
            shard_name: self.dir.file_name().map(|n| n.to_string_lossy().into()),
            scrape_address: None,
            config_check_interval: Duration::from_secs(1),
            count_min_interval: promshard::sidecar::proxy::DEFAULT_COUNT_MIN_INTERVAL,
            standalone: false,
            ..SidecarSettings::default()
        })
        .await
        .unwrap();
        let mut options =
            PrometheusOptions::new(&sidecar.shard_config, self.dir.join("prometheus"));
        options.port = self.prometheus_port;
        options.extra_args = vec!["--log.level=warn".into()];
        self.prometheus = Some(PrometheusProcess::start(options).await.unwrap());
        self.sidecar = Some(sidecar);
    }

    /// Stops both: the shard no longer answers at all.
    async fn kill(&mut self) {
        if let Some(sidecar) = self.sidecar.take() {
            sidecar.stop().await;
        }
        if let Some(prometheus) = self.prometheus.take() {
            prometheus.stop(Duration::from_secs(10)).await;
        }
    }

    /// Stops only its Prometheus: the sidecar keeps answering.
    async fn stop_prometheus(&mut self) {
        if let Some(prometheus) = self.prometheus.take() {
            prometheus.stop(Duration::ZERO).await;
        }
    }

    fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    fn prometheus_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.prometheus_port)
    }
}

/// A static shard list: `shards` per replica group, listed in (group, index) order.
async fn start_shards(root: &Path, config_file: &Path, groups: u32, shards: u32) -> Vec<Shard> {
    let mut all: Vec<Shard> = (0..groups)
        .flat_map(|g| (0..shards).map(move |i| (g, i)))
        .map(|(g, i)| Shard::new(root, config_file, g, i))
        .collect();
    futures_util::future::join_all(all.iter_mut().map(Shard::start)).await;
    all
}

fn static_backend(shards: &[Shard]) -> StaticBackend {
    let listed: Vec<String> = shards
        .iter()
        .map(|s| {
            format!(
                "- {{sidecar: '{}', prometheus: '{}', group: {}}}",
                s.api_url(),
                s.prometheus_url(),
                s.group
            )
        })
        .collect();
    StaticBackend::from_yaml(&format!("shards:\n{}\n", listed.join("\n"))).unwrap()
}

/// A coordinator whose cycles the test runs, with discovery in the background.
struct Driver<B> {
    coordinator: Arc<Coordinator<B>>,
    discovery: Option<DiscoveryTask>,
}

impl<B: ShardBackend> Driver<B> {
    fn new(backend: Arc<B>, plan: PlanSettings, config: Config) -> Self {
        let settings = CoordinatorSettings {
            plan,
            sidecar_timeout: Duration::from_secs(2),
            ..CoordinatorSettings::default()
        };
        let coordinator = Arc::new(Coordinator::new(backend, settings, config).unwrap());
        Self {
            coordinator,
            discovery: None,
        }
    }

    fn start_discovery(&mut self) {
        self.discovery = Some(self.coordinator.spawn_discovery(DiscoveryManager::new()));
    }

    /// One cycle, then the rest of the interval.
    async fn tick(&self) -> Arc<CycleReport> {
        let started = Instant::now();
        let report = self.coordinator.cycle().await;
        tokio::time::sleep(INTERVAL.saturating_sub(started.elapsed())).await;
        report
    }

    /// Cycles until every target is placed where it was measured, scraped
    /// and up, with no move or handover under way.
    async fn settle(&self, targets: usize, limit: Duration) -> Arc<CycleReport> {
        let started = Instant::now();
        loop {
            let report = self.tick().await;
            let settled = report.plan.as_ref().is_some_and(|plan| {
                plan.targets.len() == targets
                    && plan
                        .targets
                        .iter()
                        .all(|t| t.shard.is_some() && !t.estimated && t.draining_on.is_empty())
            }) && report.moves == 0
                && report.targets.iter().all(|t| t.health == "up");
            if settled {
                eprintln!("settled after {:?}", started.elapsed());
                return report;
            }
            assert!(
                started.elapsed() < limit,
                "not settled after {limit:?}: errors {:?}; targets {:?}",
                report.errors,
                report
                    .targets
                    .iter()
                    .map(|t| (t.shard, t.estimated, &t.draining_on, t.health))
                    .collect::<Vec<_>>()
            );
        }
    }

    async fn stop(mut self) {
        if let Some(discovery) = self.discovery.take() {
            discovery.stop().await.unwrap();
        }
    }
}

/// Home shard of every target, by instance.
fn placement(report: &CycleReport) -> BTreeMap<String, Option<u32>> {
    report
        .targets
        .iter()
        .map(|t| (t.labels["instance"].clone(), t.shard))
        .collect()
}

/// The sidecar API of each shard of a one-group list: ((0, index), URL).
fn sidecar_urls(shards: &[Shard]) -> Vec<((u32, u32), String)> {
    shards
        .iter()
        .enumerate()
        .map(|(i, s)| ((0, u32::try_from(i).unwrap()), s.api_url()))
        .collect()
}

/// What each running sidecar serves: (group, index) -> status.
async fn statuses(urls: &[((u32, u32), String)]) -> BTreeMap<(u32, u32), ShardStatus> {
    let mut out = BTreeMap::new();
    for (key, url) in urls {
        let client = SidecarClient::new(url, None, Duration::from_secs(2));
        if let Ok(status) = client.status().await {
            out.insert(*key, status);
        }
    }
    out
}

/// Shards (per group) where each target is active, by target id.
fn active_on(statuses: &BTreeMap<(u32, u32), ShardStatus>) -> BTreeMap<(String, u32), Vec<u32>> {
    let mut out: BTreeMap<(String, u32), Vec<u32>> = BTreeMap::new();
    for (&(group, index), status) in statuses {
        for t in status.targets.iter().filter(|t| t.role == Role::Active) {
            out.entry((t.id.0.clone(), group)).or_default().push(index);
        }
    }
    out
}

/// Successful scrapes of `instance` a Prometheus stored in the last `range`.
async fn scrapes(prometheus: &str, instance: &str, range: &str) -> usize {
    let client = PrometheusClient::new(prometheus, Duration::from_secs(5));
    let result = client
        .query(&format!("up{{instance=\"{instance}\"}}[{range}]"))
        .await
        .unwrap_or_default();
    result
        .iter()
        .flat_map(|series| series["values"].as_array().cloned().unwrap_or_default())
        .filter(|v| v[1] == "1")
        .count()
}

/// Capacity so that `shards` shards hold all `targets` at the packing goal
/// with room to spare: nothing is ever overloaded or waits for a shard.
fn roomy(series: usize, shards: u64) -> u64 {
    (series as u64).div_ceil(shards) * 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_shard_fails_over_after_the_delay_and_is_reconciled_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let targets = SyntheticFleet::start(dir.path(), 9, 5).await;
    let total: usize = targets.server.targets().iter().map(|t| t.series).sum();
    let mut shards = start_shards(dir.path(), &targets.config_file, 1, 3).await;
    let failover_after = Duration::from_secs(4);
    let mut driver = Driver::new(
        Arc::new(static_backend(&shards)),
        PlanSettings {
            // Two shards can hold everything, so the targets of a dead one
            // have somewhere to go.
            max_series: roomy(total, 2),
            max_shards: 3,
            failover_after,
            handover_scrapes: 2,
            ..PlanSettings::default()
        },
        targets.config(),
    );
    driver.start_discovery();
    let report = driver
        .settle(targets.addresses.len(), Duration::from_secs(60))
        .await;
    let before = placement(&report);
    // The shard with the most targets dies.
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for shard in before.values().flatten() {
        *counts.entry(*shard).or_default() += 1;
    }
    let (&victim, _) = counts
        .iter()
        .max_by_key(|(i, n)| (**n, u32::MAX - **i))
        .unwrap();
    let lost: BTreeSet<String> = before
        .iter()
        .filter(|(_, s)| **s == Some(victim))
        .map(|(instance, _)| instance.clone())
        .collect();
    eprintln!("placement {before:?}; shard {victim} dies with {lost:?}");
    shards[victim as usize].kill().await;
    let killed = Instant::now();

    // 1. Within the failover delay its targets stay put and nothing moves.
    let mut waited = 0;
    let moved = loop {
        let cycle_started = Instant::now();
        let report = driver.tick().await;
        let plan = report.plan.as_ref().unwrap();
        if cycle_started < killed + failover_after {
            waited += 1;
            assert_eq!(
                report.moves,
                0,
                "moved {:?} after {:?}",
                plan.moves,
                killed.elapsed()
            );
            let now = placement(&report);
            for instance in &lost {
                assert_eq!(now[instance], Some(victim), "{instance} left early");
            }
            let view = report.shards.iter().find(|s| s.index == victim).unwrap();
            assert_eq!(view.state, "unresponsive");
            continue;
        }
        if report.moves > 0 {
            break report;
        }
        assert!(
            killed.elapsed() < failover_after + Duration::from_secs(10),
            "no failover: {:?}",
            report.errors
        );
    };
    assert!(
        waited >= 2,
        "only {waited} cycles inside the failover delay"
    );
    eprintln!("failover {:?} after the shard died", killed.elapsed());

    // 2. Then all of them move, at once, to live shards.
    let plan = moved.plan.as_ref().unwrap();
    assert!(
        plan.moves
            .iter()
            .all(|m| m.reason == MoveReason::Failover && m.from == victim && m.to != victim),
        "{:?}",
        plan.moves
    );
    let after = placement(&moved);
    for (instance, shard) in &after {
        if lost.contains(instance) {
            assert!(
                shard.is_some_and(|s| s != victim),
                "{instance} on {shard:?}"
            );
        } else {
            assert_eq!(*shard, before[instance], "{instance} moved without cause");
        }
    }
    assert_eq!(plan.moves.len(), lost.len());

    // 3. ... and are scraped there.
    let started = Instant::now();
    loop {
        let report = driver.tick().await;
        assert_eq!(placement(&report), after, "placement changed again");
        let mut scraped = 0;
        for instance in &lost {
            let home = after[instance].unwrap() as usize;
            if scrapes(&shards[home].prometheus_url(), instance, "5s").await > 0 {
                scraped += 1;
            }
        }
        let up = report
            .targets
            .iter()
            .filter(|t| lost.contains(&t.labels["instance"]))
            .all(|t| t.health == "up" && t.draining_on.is_empty());
        if scraped == lost.len() && up {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{scraped} of {} moved targets scraped on their new shard",
            lost.len()
        );
    }

    // 4. The shard comes back with its old assignment (restored from disk,
    //    every lost target still active there). The coordinator keeps the
    //    newer homes and drops the stale copies: nothing moves, and after
    //    its first cycle no target is active on two shards.
    shards[victim as usize].start().await;
    let urls = sidecar_urls(&shards);
    let stale = statuses(&urls).await;
    let stale_active = stale[&(0, victim)]
        .targets
        .iter()
        .filter(|t| t.role == Role::Active)
        .count();
    assert_eq!(
        stale_active,
        lost.len(),
        "the returning shard restored its assignment"
    );
    // Until its sidecar has seen its Prometheus ready it gets nothing; then
    // it is ready and still gets nothing back.
    let mut ready_cycles = 0;
    for cycle in 0..8 {
        let report = driver.tick().await;
        assert_eq!(report.moves, 0, "cycle {cycle} after the return moved");
        assert_eq!(placement(&report), after, "cycle {cycle} after the return");
        let view = report.shards.iter().find(|s| s.index == victim).unwrap();
        if view.state == "ready" {
            ready_cycles += 1;
        } else {
            assert_eq!(ready_cycles, 0, "not ready again: {view:?}");
            assert_eq!(view.state, "starting", "{view:?}");
        }
        if ready_cycles == 3 {
            break;
        }
        let active = active_on(&statuses(&urls).await);
        assert_eq!(active.len(), targets.addresses.len(), "{active:?}");
        for ((id, _), on) in &active {
            assert_eq!(on.len(), 1, "{id} active on {on:?}");
            assert_ne!(on[0], victim, "{id} went back");
        }
    }
    assert_eq!(ready_cycles, 3, "the returning shard never turned ready");
    let back = statuses(&urls).await;
    assert!(
        back[&(0, victim)].targets.is_empty(),
        "stale copies left: {:?}",
        back[&(0, victim)].targets
    );

    driver.stop().await;
    for shard in &mut shards {
        shard.kill().await;
    }
    targets.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_coordinator_rebuilds_the_placement_and_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let targets = SyntheticFleet::start(dir.path(), 6, 5).await;
    let total: usize = targets.server.targets().iter().map(|t| t.series).sum();
    let mut shards = start_shards(dir.path(), &targets.config_file, 1, 2).await;
    let settings = PlanSettings {
        max_series: roomy(total, 1),
        max_shards: 2,
        ..PlanSettings::default()
    };
    let mut first = Driver::new(
        Arc::new(static_backend(&shards)),
        settings.clone(),
        targets.config(),
    );
    first.start_discovery();
    let report = first
        .settle(targets.addresses.len(), Duration::from_secs(60))
        .await;
    let before = placement(&report);
    assert!(
        before.values().collect::<BTreeSet<_>>().len() == 2,
        "both shards used: {before:?}"
    );
    first.stop().await;
    let urls = sidecar_urls(&shards);
    let generations = |statuses: &BTreeMap<(u32, u32), ShardStatus>| -> Vec<u64> {
        statuses.values().map(|s| s.generation).collect()
    };
    let assigned = statuses(&urls).await;

    // A new coordinator: no memory at all. Its first cycle runs before
    // service discovery has delivered anything; it must not take that for
    // "no targets".
    let mut second = Driver::new(
        Arc::new(static_backend(&shards)),
        settings,
        targets.config(),
    );
    let blind = second.tick().await;
    assert!(blind.plan.is_none(), "planned without discovery");
    second.start_discovery();
    let mut planned = 0;
    let started = Instant::now();
    while planned < 4 {
        let report = second.tick().await;
        let Some(plan) = &report.plan else {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "discovery never synced"
            );
            continue;
        };
        planned += 1;
        assert_eq!(
            report.moves, 0,
            "restart cycle {planned} moved {:?}",
            plan.moves
        );
        assert_eq!(plan.scale, ScaleDecision::None);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(placement(&report), before, "restart cycle {planned}");
        assert!(
            plan.targets.iter().all(|t| !t.estimated),
            "sizes come from the sidecars"
        );
        // Scraped every second: each series is one sample a second.
        for t in &report.targets {
            let series = t.series.unwrap() as f64;
            assert!(
                (t.samples_per_second - series).abs() < 1e-6,
                "{}: {} samples/s for {series} series at 1 s",
                t.id,
                t.samples_per_second
            );
        }
    }
    let mut exported = String::new();
    let mut registry = prometheus_client::registry::Registry::default();
    second.coordinator.metrics.register(&mut registry);
    prometheus_client::encoding::text::encode(&mut exported, &registry).unwrap();
    assert!(
        exported
            .contains("promshard_shard_utilization{shard=\"0\",dimension=\"samples_per_second\"}"),
        "{exported}"
    );
    // Nothing was sent to any sidecar: same generations, same targets.
    let after = statuses(&urls).await;
    assert_eq!(generations(&after), generations(&assigned));
    assert_eq!(active_on(&after), active_on(&assigned));
    assert_eq!(second.coordinator.metrics.assignments_pushed.get(), 0);
    eprintln!("restarted coordinator: {planned} cycles, nothing moved or pushed");

    second.stop().await;
    for shard in &mut shards {
        shard.kill().await;
    }
    targets.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_groups_get_identical_layouts_and_scrape_each_target_once_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let targets = SyntheticFleet::start(dir.path(), 6, 5).await;
    let total: usize = targets.server.targets().iter().map(|t| t.series).sum();
    let backend = Arc::new(LocalBackend::new(LocalOptions {
        config_file: targets.config_file.clone(),
        dir: dir.path().join("shards"),
        replicas: 2,
        keep: false,
        token_file: None,
        prometheus_args: vec!["--log.level=warn".into()],
        ..LocalOptions::default()
    }));
    let mut driver = Driver::new(
        Arc::clone(&backend),
        PlanSettings {
            max_series: roomy(total, 1),
            replicas: 2,
            min_shards: 2,
            max_shards: 2,
            ..PlanSettings::default()
        },
        targets.config(),
    );
    driver.start_discovery();
    let report = driver
        .settle(targets.addresses.len(), Duration::from_secs(90))
        .await;
    let endpoints = backend.shards().await.unwrap();
    assert_eq!(endpoints.len(), 4, "2 shards in each of 2 groups");
    let urls: Vec<((u32, u32), String)> = endpoints
        .iter()
        .map(|e| ((e.group, e.index), e.api_url.clone()))
        .collect();

    // Identical layouts: shard i of both groups serves the same targets.
    let serving = statuses(&urls).await;
    assert_eq!(serving.len(), 4);
    for index in 0..2 {
        let layout = |group| -> BTreeSet<(String, Role)> {
            serving[&(group, index)]
                .targets
                .iter()
                .map(|t| (t.id.0.clone(), t.role))
                .collect()
        };
        assert_eq!(layout(0), layout(1), "shard {index}");
        assert!(!layout(0).is_empty(), "shard {index} holds nothing");
    }
    let active = active_on(&serving);
    assert_eq!(active.len(), 2 * targets.addresses.len());
    assert!(active.values().all(|on| on.len() == 1), "{active:?}");

    // Each target is scraped by exactly one shard of each group, the one the
    // plan says.
    let home = placement(&report);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for instance in &targets.addresses {
        for group in 0..2 {
            let mut scraped_by = Vec::new();
            for e in endpoints.iter().filter(|e| e.group == group) {
                if scrapes(e.prometheus_url.as_deref().unwrap(), instance, "3s").await > 0 {
                    scraped_by.push(e.index);
                }
            }
            assert_eq!(
                scraped_by,
                vec![home[instance].unwrap()],
                "{instance} in group {group}"
            );
        }
    }

    driver.stop().await;
    backend.shutdown().await;
    targets.server.shutdown().await;
}

/// Timestamps of the `up` samples of `instance` equal to `value` that a
/// Prometheus stored in the last `range`.
async fn up_samples(prometheus: &str, instance: &str, range: &str, value: &str) -> Vec<f64> {
    let client = PrometheusClient::new(prometheus, Duration::from_secs(5));
    let result = client
        .query(&format!("up{{instance=\"{instance}\"}}[{range}]"))
        .await
        .unwrap_or_default();
    result
        .iter()
        .flat_map(|series| series["values"].as_array().cloned().unwrap_or_default())
        .filter(|v| v[1] == value)
        .filter_map(|v| v[0].as_f64())
        .collect()
}

/// Seconds since the Unix epoch, as Prometheus stamps samples.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The instances whose home is `shard`, and the shard with the most.
fn busiest(placement: &BTreeMap<String, Option<u32>>) -> (u32, BTreeSet<String>) {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for shard in placement.values().flatten() {
        *counts.entry(*shard).or_default() += 1;
    }
    let (&victim, _) = counts
        .iter()
        .max_by_key(|(i, n)| (**n, u32::MAX - **i))
        .unwrap();
    let on_it = placement
        .iter()
        .filter(|(_, s)| **s == Some(victim))
        .map(|(instance, _)| instance.clone())
        .collect();
    (victim, on_it)
}

/// Cycles until the targets of `lost` have moved off `victim` (asserting
/// nothing moved before `failover_after` since `broke`, nor anything else
/// moved at all), then until they are scraped on their new shards.
async fn await_failover<B: ShardBackend>(
    driver: &Driver<B>,
    victim: u32,
    lost: &BTreeSet<String>,
    before: &BTreeMap<String, Option<u32>>,
    broke: Instant,
    failover_after: Duration,
    prometheus_of: impl Fn(u32) -> String,
) -> BTreeMap<String, Option<u32>> {
    let moved = loop {
        let report = driver.tick().await;
        if report.moves > 0 {
            break report;
        }
        assert_eq!(&placement(&report), before, "moved before the failover");
        assert!(
            broke.elapsed() < failover_after + Duration::from_secs(15),
            "no failover after {:?}: {:?}",
            broke.elapsed(),
            report.shards
        );
    };
    assert!(
        broke.elapsed() >= failover_after,
        "failed over {:?} after the fault, before the delay",
        broke.elapsed()
    );
    eprintln!("failover {:?} after the fault", broke.elapsed());
    let plan = moved.plan.as_ref().unwrap();
    assert!(
        plan.moves
            .iter()
            .all(|m| m.reason == MoveReason::Failover && m.from == victim && m.to != victim),
        "{:?}",
        plan.moves
    );
    let after = placement(&moved);
    for (instance, shard) in &after {
        if lost.contains(instance) {
            assert!(
                shard.is_some_and(|s| s != victim),
                "{instance} on {shard:?}"
            );
        } else {
            assert_eq!(*shard, before[instance], "{instance} moved without cause");
        }
    }
    let started = Instant::now();
    loop {
        let report = driver.tick().await;
        assert_eq!(placement(&report), after, "placement changed again");
        let mut scraped = 0;
        for instance in lost {
            let home = after[instance].unwrap();
            if !up_samples(&prometheus_of(home), instance, "3s", "1")
                .await
                .is_empty()
            {
                scraped += 1;
            }
        }
        if scraped == lost.len() {
            return after;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{scraped} of {} moved targets scraped on their new shard",
            lost.len()
        );
    }
}

/// Asserts that every instance not in `except` has an `up == 1` sample at
/// least every `max_gap` seconds since `since` on its home shard.
async fn assert_no_missed_interval(
    placement: &BTreeMap<String, Option<u32>>,
    except: &BTreeSet<String>,
    since: f64,
    max_gap: f64,
    prometheus_of: impl Fn(u32) -> String,
) {
    let range = format!("{:.0}s", (unix_now() - since).ceil() + 2.0);
    for (instance, shard) in placement {
        if except.contains(instance) {
            continue;
        }
        let mut times: Vec<f64> = up_samples(&prometheus_of(shard.unwrap()), instance, &range, "1")
            .await
            .into_iter()
            .filter(|t| *t >= since - max_gap)
            .collect();
        times.push(unix_now());
        times.sort_by(f64::total_cmp);
        let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        assert!(
            gap <= max_gap,
            "{instance} on shard {shard:?}: a {gap:.1}s gap in a 1s scrape interval"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_whose_prometheus_is_not_ready_fails_over_and_takes_nothing_back() {
    let dir = tempfile::tempdir().unwrap();
    let targets = SyntheticFleet::start(dir.path(), 9, 5).await;
    let total: usize = targets.server.targets().iter().map(|t| t.series).sum();
    let mut shards = start_shards(dir.path(), &targets.config_file, 1, 3).await;
    let failover_after = Duration::from_secs(4);
    let mut driver = Driver::new(
        Arc::new(static_backend(&shards)),
        PlanSettings {
            max_series: roomy(total, 2),
            max_shards: 3,
            failover_after,
            handover_scrapes: 2,
            ..PlanSettings::default()
        },
        targets.config(),
    );
    driver.start_discovery();
    let report = driver
        .settle(targets.addresses.len(), Duration::from_secs(60))
        .await;
    let before = placement(&report);
    let (victim, lost) = busiest(&before);

    // Its Prometheus dies, and something on its port answers 503 on
    // /-/ready for ever (a WAL replay that does not end): the sidecar
    // answers, nothing scrapes.
    let port = shards[victim as usize].prometheus_port;
    shards[victim as usize].stop_prometheus().await;
    let stand_in = FakePrometheus::serve(format!("127.0.0.1:{port}").parse().unwrap(), false).await;
    let broke = Instant::now();
    let urls: Vec<String> = shards.iter().map(Shard::prometheus_url).collect();
    let prometheus_of = |shard: u32| urls[shard as usize].clone();
    // Seen as it is: not ready, its targets not up once unscraped.
    let mut seen_not_ready = false;
    let mut seen_down = false;
    while broke.elapsed() < failover_after.saturating_sub(Duration::from_secs(1)) {
        let report = driver.tick().await;
        assert_eq!(report.moves, 0);
        let view = report.shards.iter().find(|s| s.index == victim).unwrap();
        if view.state == "prometheus_not_ready" {
            seen_not_ready = true;
            assert!(view.not_ready_since.is_some(), "{view:?}");
        }
        seen_down |= report.targets.iter().any(|t| {
            lost.contains(&t.labels["instance"])
                && t.health == "down"
                && t.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("not scraped"))
        });
    }
    let after = await_failover(
        &driver,
        victim,
        &lost,
        &before,
        broke,
        failover_after,
        prometheus_of,
    )
    .await;
    assert!(seen_not_ready, "the shard was never reported not ready");
    assert!(seen_down, "unscraped targets were still reported up");

    // Ready again (but scraping nothing, as it holds nothing): no flapping,
    // nothing goes back, its copies are dropped.
    stand_in.set_ready(true);
    let mut ready_cycles = 0;
    let started = Instant::now();
    while ready_cycles < 4 {
        let report = driver.tick().await;
        assert_eq!(report.moves, 0, "moved after the shard turned ready");
        assert_eq!(placement(&report), after);
        let view = report.shards.iter().find(|s| s.index == victim).unwrap();
        if view.state == "ready" {
            ready_cycles += 1;
        } else {
            assert_eq!(ready_cycles, 0, "ready, then not: {view:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{view:?}");
    }
    let urls = sidecar_urls(&shards);
    let now = statuses(&urls).await;
    assert!(
        now[&(0, victim)].targets.is_empty(),
        "{:?}",
        now[&(0, victim)]
    );

    drop(stand_in);
    driver.stop().await;
    for shard in &mut shards {
        shard.kill().await;
    }
    targets.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_shards_restart_a_killed_prometheus_and_fail_over_one_that_cannot_restart() {
    let dir = tempfile::tempdir().unwrap();
    let targets = SyntheticFleet::start(dir.path(), 9, 5).await;
    let total: usize = targets.server.targets().iter().map(|t| t.series).sum();
    let backend = Arc::new(LocalBackend::new(LocalOptions {
        config_file: targets.config_file.clone(),
        dir: dir.path().join("shards"),
        replicas: 1,
        keep: false,
        token_file: None,
        prometheus_args: vec!["--log.level=warn".into()],
        ..LocalOptions::default()
    }));
    let supervisor = backend.spawn_supervisor(Duration::from_millis(200));
    let failover_after = Duration::from_secs(12);
    let mut driver = Driver::new(
        Arc::clone(&backend),
        PlanSettings {
            max_series: roomy(total, 2),
            min_shards: 3,
            max_shards: 3,
            failover_after,
            handover_scrapes: 2,
            ..PlanSettings::default()
        },
        targets.config(),
    );
    driver.start_discovery();
    let report = driver
        .settle(targets.addresses.len(), Duration::from_secs(90))
        .await;
    let before = placement(&report);
    let (victim, lost) = busiest(&before);
    let endpoints = backend.shards().await.unwrap();
    let urls: BTreeMap<u32, String> = endpoints
        .iter()
        .map(|e| (e.index, e.prometheus_url.clone().unwrap()))
        .collect();
    let prometheus_of = |shard: u32| urls[&shard].clone();
    let sigkill = |pid: u32| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    };

    // 1. SIGKILL: the supervisor restarts it on its port and data; its own
    //    targets are scraped there again well within the failover delay,
    //    nothing moves, and no other target misses a scrape.
    let pid = backend.prometheus_pid(0, victim).await.unwrap();
    let since = unix_now();
    let killed = Instant::now();
    sigkill(pid);
    loop {
        let report = driver.tick().await;
        assert_eq!(report.moves, 0, "moved after a restart it survived");
        let mut again = 0;
        for instance in &lost {
            let times = up_samples(&prometheus_of(victim), instance, "3s", "1").await;
            if times.iter().any(|t| *t > since + 0.5) {
                again += 1;
            }
        }
        if again == lost.len() {
            break;
        }
        assert!(
            killed.elapsed() < failover_after,
            "not scraped again after {:?}: {:?}",
            killed.elapsed(),
            report.shards
        );
    }
    eprintln!(
        "restarted and scraping again {:?} after SIGKILL",
        killed.elapsed()
    );
    assert_ne!(backend.prometheus_pid(0, victim).await, Some(pid));
    assert_no_missed_interval(&before, &lost, since, 2.5, prometheus_of).await;

    // 2. SIGKILL, and its port is taken before it can come back: every
    //    restart fails, and after the failover delay its targets move.
    let port = backend.prometheus_port(0, victim).await.unwrap();
    let pid = backend.prometheus_pid(0, victim).await.unwrap();
    let since = unix_now();
    sigkill(pid);
    let squatter = loop {
        // The dead process's socket is closed by the kernel at once.
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            break listener;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let broke = Instant::now();
    let after = await_failover(
        &driver,
        victim,
        &lost,
        &before,
        broke,
        failover_after,
        prometheus_of,
    )
    .await;
    let report = driver.coordinator.report();
    let view = report.shards.iter().find(|s| s.index == victim).unwrap();
    assert_eq!(view.state, "prometheus_not_ready", "{view:?}");
    assert!(
        view.error.as_deref().is_some_and(|e| e.contains("exited")),
        "the backend says why: {view:?}"
    );
    assert_no_missed_interval(&before, &lost, since, 2.5, prometheus_of).await;

    // 3. The port is free again: it comes back ready, and takes nothing back.
    drop(squatter);
    let started = Instant::now();
    let mut ready_cycles = 0;
    while ready_cycles < 3 {
        let report = driver.tick().await;
        assert_eq!(report.moves, 0);
        assert_eq!(placement(&report), after);
        let view = report.shards.iter().find(|s| s.index == victim).unwrap();
        if view.state == "ready" {
            ready_cycles += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "never ready again: {view:?}"
        );
    }

    drop(supervisor);
    driver.stop().await;
    backend.shutdown().await;
    targets.server.shutdown().await;
}
