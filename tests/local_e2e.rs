//! The whole system on one machine: the coordinator with the local backend
//! (real `prometheus` processes and sidecars) packing skewed targets served
//! by the loadgen, then shrinking: even shards, a gapless handover with no
//! failed scrape on the old shard, and a scale-down.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::print_stderr,
    reason = "test helpers fail loudly; figures are printed for the record"
)]

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use promshard::coordinator::backend::ShardBackend;
use promshard::coordinator::reconcile::CoordinatorSettings;
use promshard::coordinator::run::start;
use promshard::local::backend::{LocalBackend, LocalOptions};
use promshard::prometheus::PrometheusClient;
use promshard_config::Config;
use promshard_loadgen::{FleetSpec, ShapeMix};
use promshard_plan::PlanSettings;
use promshard_plan::baseline::{HashSharding, balance, shard_loads};
use tokio::net::TcpListener;

#[path = "support/fleet.rs"]
mod fleet;
use fleet::{SyntheticFleet, static_config};

/// The one job scraping every target.
const JOB: &str = "skewed";

/// Timestamps (seconds) of successful scrapes (`up == 1`) of `instance` in
/// the last `range` on one shard.
async fn up_times(prometheus: &str, instance: &str, range: &str) -> Vec<f64> {
    up_samples(prometheus, instance, range, "1").await
}

/// Timestamps (seconds) of the `up` samples of `instance` equal to `value`
/// in the last `range` on one shard.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packs_evenly_hands_over_without_gaps_and_scales_down() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = FleetSpec {
        seed: 11,
        min_series: 150,
        max_series: 2_500,
        tail_alpha: 1.2,
        shapes: ShapeMix::Mixed,
    };
    let SyntheticFleet {
        server: loadgen,
        config_file,
        ..
    } = SyntheticFleet::start_with(dir.path(), 24, sizes, JOB).await;
    let infos = loadgen.targets();
    let total: usize = infos.iter().map(|t| t.series).sum();

    let backend = Arc::new(LocalBackend::new(LocalOptions {
        config_file: config_file.clone(),
        dir: dir.path().join("shards"),
        replicas: 1,
        keep: false,
        token_file: None,
        prometheus_args: vec!["--log.level=warn".into()],
        ..LocalOptions::default()
    }));
    // Capacity for the whole set in three shards at 80 %.
    let max_series = (total as u64 * 10) / (8 * 3) + 1;
    let settings = CoordinatorSettings {
        plan: PlanSettings {
            max_series: max_series.max(1),
            min_shards: 1,
            max_shards: 6,
            scale_down_after: Duration::from_secs(5),
            idle_before_remove: Duration::from_secs(2),
            handover_scrapes: 2,
            max_moves: u64::MAX,
            ..PlanSettings::default()
        },
        sidecar_timeout: Duration::from_secs(5),
        ..CoordinatorSettings::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = start(
        Arc::clone(&backend),
        settings,
        Config::load(&config_file).unwrap(),
        config_file.clone(),
        Duration::from_secs(1),
        listener,
    )
    .unwrap();

    // 1. Scale up from nothing and place everything; wait for the shards'
    //    head series to settle (every target measured and scraped).
    let deadline = Instant::now() + Duration::from_secs(90);
    let heads = loop {
        if Instant::now() > deadline {
            let report = running.coordinator.report();
            let plan = report.plan.as_ref();
            panic!(
                "placement did not settle: errors {:?}; targets {:?}; estimated {:?}; moves {}; down {:?}; shards {:?}; active {:?}",
                report.errors,
                plan.map(|p| p.targets.len()),
                plan.map(|p| p.targets.iter().filter(|t| t.estimated).count()),
                report.moves,
                report
                    .targets
                    .iter()
                    .filter(|t| t.health != "up")
                    .map(|t| (&t.health, &t.last_error))
                    .collect::<Vec<_>>(),
                report
                    .shards
                    .iter()
                    .map(|s| (s.index, s.head_series, s.targets))
                    .collect::<Vec<_>>(),
                plan.map(|p| p
                    .shards
                    .iter()
                    .map(|s| (s.active_series, s.draining_series))
                    .collect::<Vec<_>>()),
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let report = running.coordinator.report();
        let Some(plan) = &report.plan else { continue };
        let settled = plan.targets.len() == infos.len()
            && plan
                .targets
                .iter()
                .all(|t| t.shard.is_some() && !t.estimated && t.draining_on.is_empty())
            && report.moves == 0
            && report.targets.iter().all(|t| t.health == "up");
        let heads: Vec<u64> = report.shards.iter().filter_map(|s| s.head_series).collect();
        if settled && heads.len() == report.shards.len() && heads.len() >= 2 {
            // Head series include `up` and the 4 other scrape series per target.
            let expected: u64 =
                plan.shards.iter().map(|s| s.active_series).sum::<u64>() + 5 * infos.len() as u64;
            if heads.iter().sum::<u64>() == expected {
                break heads;
            }
        }
    };
    let report = running.coordinator.report();
    let plan = report.plan.clone().unwrap();
    let ours = balance(&heads);
    let sizes: BTreeMap<String, u64> = plan
        .targets
        .iter()
        .map(|t| (t.id.to_string(), t.series))
        .collect();
    let by_address: Vec<(String, u64)> = report
        .targets
        .iter()
        .map(|t| (t.labels["instance"].clone(), sizes[&t.id] + 5))
        .collect();
    let pairs: Vec<(&str, u64)> = by_address.iter().map(|(a, s)| (a.as_str(), *s)).collect();
    let shards = NonZeroU32::new(u32::try_from(heads.len()).unwrap()).unwrap();
    let hashmod = balance(&shard_loads(HashSharding::HashMod, &pairs, shards));
    eprintln!(
        "{} targets over {} shards: promshard max/mean {:.3} (heads {:?}); hashmod max/mean {:.3}",
        infos.len(),
        heads.len(),
        ours.max_over_mean,
        heads,
        hashmod.max_over_mean
    );
    assert!(
        ours.max_over_mean <= 1.1,
        "promshard max/mean {:.3} > 1.1: {heads:?}",
        ours.max_over_mean
    );

    // 2. Shrink the target set to what the lowest and the highest shard hold:
    //    the fleet then fits in fewer shards, so the highest shard is drained
    //    (its targets handed over to a lower shard) and removed.
    let shards_before = backend.shards().await.unwrap();
    // The highest shard that holds targets (a higher, empty one goes first).
    let highest = report.targets.iter().filter_map(|t| t.shard).max().unwrap();
    let highest_url = shards_before
        .iter()
        .find(|s| s.index == highest)
        .unwrap()
        .prometheus_url
        .clone()
        .unwrap();
    let on_highest: Vec<String> = report
        .targets
        .iter()
        .filter(|t| t.shard == Some(highest))
        .map(|t| t.labels["instance"].clone())
        .collect();
    let kept: Vec<String> = report
        .targets
        .iter()
        .filter(|t| t.shard == Some(highest) || t.shard == Some(0))
        .map(|t| t.labels["instance"].clone())
        .collect();
    assert!(
        !on_highest.is_empty(),
        "highest {highest}: {:?}",
        report.targets.iter().map(|t| t.shard).collect::<Vec<_>>()
    );
    std::fs::write(&config_file, static_config(JOB, &kept)).unwrap();
    let shrink_started = Instant::now();
    // While the old shard exists, keep what it scraped of the targets it
    // hands over, and every failed scrape it recorded of them.
    let mut old_side: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut old_failures: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    loop {
        assert!(
            shrink_started.elapsed() < Duration::from_secs(120),
            "no scale-down: {:?}",
            running.coordinator.report().plan.as_ref().map(|p| &p.scale)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        if !backend
            .shards()
            .await
            .unwrap()
            .iter()
            .any(|s| s.index == highest)
        {
            break;
        }
        for instance in &on_highest {
            let times = up_times(&highest_url, instance, "2m").await;
            if !times.is_empty() {
                old_side.insert(instance.clone(), times);
            }
            let failed = up_samples(&highest_url, instance, "2m", "0").await;
            if !failed.is_empty() {
                old_failures.insert(instance.clone(), failed);
            }
        }
    }
    eprintln!(
        "scale-down removed shard {highest} after {:?}; {} targets handed over",
        shrink_started.elapsed(),
        on_highest.len()
    );

    // The old shard dropped them without a failed scrape: its sidecar kept
    // answering them until its Prometheus had stopped asking.
    assert!(
        old_failures.is_empty(),
        "up == 0 on the old shard for moved targets: {old_failures:?}"
    );

    // 3. No gap across the handover: the old shard's scrapes and the new
    //    shard's together have a sample for every interval.
    let remaining = backend.shards().await.unwrap();
    assert!(remaining.len() < shards_before.len());
    for instance in &on_highest {
        let old = old_side.get(instance).cloned().unwrap_or_default();
        let mut new = Vec::new();
        for shard in &remaining {
            new.extend(up_times(shard.prometheus_url.as_deref().unwrap(), instance, "2m").await);
        }
        assert!(
            !old.is_empty() && new.len() >= 2,
            "{instance}: old {} new {} samples",
            old.len(),
            new.len()
        );
        let handover_start = new.iter().copied().fold(f64::INFINITY, f64::min);
        let mut times: Vec<f64> = old
            .into_iter()
            .chain(new)
            .filter(|t| *t >= handover_start - 10.0)
            .collect();
        times.sort_by(f64::total_cmp);
        let max_gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        let overlap = times.len();
        eprintln!("{instance}: {overlap} samples around the handover, largest gap {max_gap:.2}s");
        assert!(
            max_gap <= 2.5,
            "{instance}: a {max_gap}s gap in a 1s scrape interval"
        );
    }

    running.stop().await;
    backend.shutdown().await;
    loadgen.shutdown().await;
}
