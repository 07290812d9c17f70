//! The coordinator's memory with 100k targets (10M series over 20 shards):
//! not a pass/fail test but a measurement, ignored by default.
//!
//! ```text
//! cargo test -p promshard --release --test coordinator_memory -- --ignored --nocapture
//! ```
//!
//! A child process (this binary again) writes the fixture: a `file_sd` file
//! of 100k targets and, for 20 shards, the answers a sidecar gives the
//! coordinator's `GET /api/v1/shard?stats=summary` for them (real report
//! types: every target with its latest scrape, peaks and totals), laid out
//! so that the planner keeps everything where it is. A static HTTP server (`python3 -m http.server`)
//! plays the sidecars. This process then only runs the coordinator:
//! discovery over the file, cycles polling the 20 "sidecars" and planning;
//! it prints its peak and current resident memory (`VmHWM`, `VmRSS`) and
//! the cycle times.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    reason = "a measurement harness: it fails loudly and prints its figures"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promshard::coordinator::backend::StaticBackend;
use promshard::coordinator::reconcile::{Coordinator, CoordinatorSettings};
use promshard::shard_api::{
    Role, ScrapeFormat, ScrapeOutcome, ScrapeRecord, ShardStatus, TargetId, TargetStatsSnapshot,
    TargetStatus,
};
use promshard_config::Config;
use promshard_config::discovery::DiscoveryManager;
use promshard_config::discovery::file::read_file;
use promshard_config::target::{Compat, build_targets};
use promshard_plan::synth::synthetic_targets;

const TARGETS: usize = 100_000;
const SHARDS: usize = 20;
const FIXTURE_ENV: &str = "PROMSHARD_MEMORY_FIXTURE";

fn config_text(dir: &Path) -> String {
    format!(
        "global: {{scrape_interval: 30s}}\nscrape_configs:\n  - job_name: fleet\n    file_sd_configs: [{{files: ['{}']}}]\n",
        dir.join("targets.json").display()
    )
}

/// `VmHWM` and `VmRSS` of this process, in MiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap()
            / 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The child's job: the fixture in `$PROMSHARD_MEMORY_FIXTURE`.
#[test]
#[ignore = "run by coordinator_memory_with_100k_targets in a child process"]
fn write_fixture() {
    let Some(dir) = std::env::var_os(FIXTURE_ENV).map(PathBuf::from) else {
        return;
    };
    // 100k targets, one group each, with a few labels like a pod's.
    let groups: Vec<serde_json::Value> = (0..TARGETS)
        .map(|i| {
            serde_json::json!({
                "targets": [format!("10.{}.{}.{}:9100", i >> 16, (i >> 8) & 255, i & 255)],
                "labels": {
                    "zone": format!("zone-{}", i % 3),
                    "team": format!("team-{}", i % 17),
                    "pod": format!("app-{}-{:05}", i % 50, i),
                },
            })
        })
        .collect();
    let file = dir.join("targets.json");
    std::fs::write(&file, serde_json::to_vec(&groups).unwrap()).unwrap();
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config_text(&dir)).unwrap();

    // The ids the coordinator will compute, from the same config and file.
    let config = Config::load(&config_file).unwrap();
    let groups = read_file(file.to_str().unwrap()).unwrap();
    let built = build_targets(config.job("fleet").unwrap(), &groups, Compat::default());
    assert_eq!(built.targets.len(), TARGETS, "{:?}", built.errors.first());
    // Heavy-tailed sizes, 10M series in all; placed largest first on the
    // least-loaded shard, so that no shard is anywhere near its high
    // watermark and the planner moves nothing.
    let mut sizes: Vec<u64> = synthetic_targets(TARGETS, 100, 100_000, 2026)
        .iter()
        .map(|t| t.series)
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut shards: Vec<(u64, Vec<TargetStatus>)> = (0..SHARDS).map(|_| (0, Vec::new())).collect();
    let now = 1_800_000_000_000u64;
    for (target, size) in built.targets.iter().zip(sizes) {
        let shard = (0..SHARDS).min_by_key(|&s| (shards[s].0, s)).unwrap();
        // The summary form: the latest scrape only, no top families.
        let history: Vec<ScrapeRecord> = (7..8)
            .map(|k| ScrapeRecord {
                started_unix_ms: now - (8 - k) * 30_000,
                duration_ms: 12,
                outcome: ScrapeOutcome::Success,
                cause: None,
                error: None,
                status: Some(200),
                samples: Some(size),
                kept: Some(size),
                wire_bytes: size * 20,
                decoded_bytes: size * 60,
                format: Some(ScrapeFormat::PrometheusText),
                count_error: None,
                counted: true,
            })
            .collect();
        let stats = TargetStatsSnapshot {
            id: TargetId(target.id.to_string()),
            job: "fleet".into(),
            history,
            last_counted: None,
            peak_samples: Some(size),
            peak_kept: Some(size),
            top_families: Vec::new(),
            last_error: None,
            scrapes_total: 1_000,
            failures_total: 0,
            counted_total: 200,
        };
        shards[shard].0 += size;
        shards[shard].1.push(TargetStatus {
            id: TargetId(target.id.to_string()),
            job: "fleet".into(),
            role: Role::Active,
            assigned_at: Some(now - 86_400_000),
            stats: Some(serde_json::to_value(stats).unwrap()),
        });
    }
    for (i, (series, mut targets)) in shards.into_iter().enumerate() {
        targets.sort_by(|a, b| a.id.cmp(&b.id));
        let status = ShardStatus {
            shard: format!("shard-{i}"),
            config_hash: "fixture".into(),
            generation: 1,
            head_series: Some(series + 5 * targets.len() as u64),
            // A fixed file: no clock to age its scrapes against.
            reported_at: 0,
            prometheus: Default::default(),
            jobs_version: None,
            targets,
        };
        let path = dir.join(format!("shard{i}/api/v1"));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("shard"), serde_json::to_vec(&status).unwrap()).unwrap();
    }
}

/// A static file server on 127.0.0.1, killed on drop.
struct FileServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (about a minute): run with --ignored --nocapture"]
async fn coordinator_memory_with_100k_targets() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "write_fixture", "--test-threads=1"])
        .env(FIXTURE_ENV, dir.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(child.success(), "writing the fixture failed");
    let report_bytes: u64 = (0..SHARDS)
        .map(|i| {
            std::fs::metadata(dir.path().join(format!("shard{i}/api/v1/shard")))
                .unwrap()
                .len()
        })
        .sum();
    eprintln!(
        "fixture written in {:?}: {TARGETS} targets, {SHARDS} sidecar reports of {} MiB in all",
        started.elapsed(),
        report_bytes >> 20
    );

    let port = promshard::local::process::free_port().unwrap();
    let mut server = FileServer {
        child: Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 serves the fake sidecars"),
        port,
    };
    let base = format!("http://127.0.0.1:{}", server.port);
    let ready = async {
        loop {
            let client = promshard::shard_api::SidecarClient::new(
                &format!("{base}/shard0"),
                None,
                Duration::from_secs(30),
            );
            if client.status().await.is_ok() {
                return;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the file server exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), ready)
        .await
        .expect("file server up");

    let listed: Vec<String> = (0..SHARDS)
        .map(|i| format!("- {{sidecar: '{base}/shard{i}'}}"))
        .collect();
    let backend =
        Arc::new(StaticBackend::from_yaml(&format!("shards:\n{}\n", listed.join("\n"))).unwrap());
    let (hwm_before, rss_before) = memory();
    let settings = CoordinatorSettings {
        sidecar_timeout: Duration::from_secs(60),
        ..CoordinatorSettings::default()
    };
    let config = Config::load(dir.path().join("prometheus.yml")).unwrap();
    let coordinator = Arc::new(Coordinator::new(backend, settings, config).unwrap());
    let discovery = coordinator.spawn_discovery(DiscoveryManager::new());
    let synced = Instant::now();
    while coordinator
        .desired_targets()
        .is_none_or(|t| t.len() < TARGETS)
    {
        assert!(synced.elapsed() < Duration::from_secs(120), "discovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (hwm_discovered, rss_discovered) = memory();
    eprintln!(
        "discovery of {TARGETS} targets: {:?}; VmHWM {hwm_discovered} MiB, VmRSS {rss_discovered} MiB (before: {hwm_before}/{rss_before})",
        synced.elapsed()
    );
    for cycle in 1..=3 {
        let report = coordinator.cycle().await;
        let plan = report.plan.as_ref().expect("planned");
        let (hwm, rss) = memory();
        eprintln!(
            "cycle {cycle}: {} ms (plan {} targets, {} series, {} moves, {} pending); errors {}; VmHWM {hwm} MiB, VmRSS {rss} MiB",
            report.duration_ms,
            plan.targets.len(),
            plan.summary.series,
            plan.moves.len(),
            plan.summary.pending_targets,
            report.errors.len(),
        );
        assert!(report.errors.is_empty(), "{:?}", report.errors.first());
        assert_eq!(plan.targets.len(), TARGETS);
        assert!(plan.moves.is_empty() && plan.summary.pending_targets == 0);
        assert!(plan.targets.iter().all(|t| !t.estimated));
    }
    assert_eq!(
        coordinator.metrics.assignments_pushed.get(),
        0,
        "the fixture's layout is kept as it is"
    );
    let (hwm, rss) = memory();
    eprintln!(
        "coordinator with {TARGETS} targets over {SHARDS} shards: peak RSS (VmHWM) {hwm} MiB, RSS {rss} MiB"
    );
    discovery.stop().await.unwrap();
}
