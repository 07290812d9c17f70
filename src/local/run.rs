//! `promshard local`: the coordinator with the local backend, and the demo.
//!
//! `--demo` needs no config: it starts synthetic targets of very different
//! sizes (the loadgen target server, discovered over `http_sd`), picks a
//! small shard capacity so several shards are needed, then grows and shrinks
//! the target set so scale-up, moves and scale-down all happen within a few
//! minutes, with a live table of shards and series.

use std::io::{IsTerminal, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use promshard_config::Config;
use promshard_loadgen::server::{self, ServerConfig};
use promshard_loadgen::{FleetSpec, ShapeMix};
use tokio::net::TcpListener;

use crate::coordinator::backend::ShardBackend;
use crate::coordinator::reconcile::{CoordinatorSettings, CycleReport};
use crate::coordinator::run::{RunningCoordinator, start};
use crate::local::backend::{LocalBackend, LocalOptions};
use crate::sidecar::run::RulesMode;

/// Everything `promshard local` runs with.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Run the built-in demo (synthetic targets; no config needed).
    pub demo: bool,
    /// The user's prometheus.yml (required without `demo`).
    pub config_file: Option<PathBuf>,
    /// Where shards keep their data (`None`: a new temporary directory).
    pub data_dir: Option<PathBuf>,
    /// Keep the data directories when shards stop.
    pub keep: bool,
    /// Where the coordinator's API listens.
    pub api_listen: SocketAddr,
    /// Stop by itself after this long (`None`: run until a signal).
    pub duration: Option<Duration>,
    /// Print the status as plain lines instead of a live table.
    pub plain: bool,
    /// The coordinator's and the planner's tunables (the demo sizes shards
    /// and shortens delays itself).
    pub coordinator: CoordinatorSettings,
    /// Time between reconcile cycles.
    pub cycle_interval: Duration,
    /// Where the user's rules are evaluated.
    pub rules: RulesMode,
}

/// `promshard local` failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Set-up failed.
    #[error("{0}")]
    Setup(String),
}

/// The demo's phases: (after, targets).
const DEMO_PHASES: [(u64, usize); 3] = [(0, 12), (60, 30), (150, 6)];

/// `promshard local`.
pub async fn run(mut args: LocalSettings) -> Result<(), LocalError> {
    let setup = |e: String| LocalError::Setup(e);
    let (data_dir, temp) = match &args.data_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("promshard-local-")
                .tempdir()
                .map_err(|e| setup(e.to_string()))?;
            (temp.path().to_owned(), Some(temp))
        }
    };
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| setup(format!("creating {}: {e}", data_dir.display())))?;

    let mut loadgen = None;
    let config_file = if args.demo {
        let server = server::start(ServerConfig {
            targets: DEMO_PHASES[0].1,
            max_targets: 64,
            fleet: FleetSpec {
                seed: 7,
                min_series: 300,
                max_series: 12_000,
                tail_alpha: 1.1,
                shapes: ShapeMix::Mixed,
            },
            ..ServerConfig::default()
        })
        .await
        .map_err(|e| setup(e.to_string()))?;
        // Size shards so the first target set needs about three of them,
        // and so the largest target still fits one shard comfortably.
        let targets = server.targets();
        let initial: usize = targets.iter().map(|t| t.series).sum();
        let largest = targets.iter().map(|t| t.series).max().unwrap_or(0);
        let capacity = (initial / 2).max(largest * 3 / 2);
        let capacity = u64::try_from(capacity).unwrap_or(u64::MAX);
        let plan = &mut args.coordinator.plan;
        plan.max_series = capacity.max(1_000);
        plan.scale_down_after = Duration::from_secs(30);
        plan.idle_before_remove = Duration::from_secs(10);
        plan.failover_after = Duration::from_secs(30);
        args.cycle_interval = Duration::from_secs(3);
        let path = data_dir.join("demo-prometheus.yml");
        let config = format!(
            "# The demo's prometheus.yml: one job, targets from the loadgen server over http_sd.\n\
             global:\n  scrape_interval: 5s\n  scrape_timeout: 4s\n\
             scrape_configs:\n  - job_name: demo\n    http_sd_configs:\n      - url: http://{}/file_sd\n        refresh_interval: 5s\n",
            server.local_addr()
        );
        std::fs::write(&path, config)
            .map_err(|e| setup(format!("writing {}: {e}", path.display())))?;
        loadgen = Some(server);
        path
    } else {
        args.config_file
            .clone()
            .ok_or_else(|| setup("--config.file is required without --demo".into()))?
    };

    let config = Config::load(&config_file).map_err(|e| setup(e.to_string()))?;
    let backend = Arc::new(LocalBackend::new(LocalOptions {
        config_file: config_file.clone(),
        dir: data_dir.clone(),
        replicas: args.coordinator.plan.replicas,
        keep: args.keep,
        token_file: None,
        prometheus_args: vec!["--log.level=warn".into()],
        rules: args.rules,
    }));
    let listener = TcpListener::bind(args.api_listen)
        .await
        .map_err(|e| setup(format!("binding {}: {e}", args.api_listen)))?;
    let running = start(
        Arc::clone(&backend),
        args.coordinator.clone(),
        config,
        config_file,
        args.cycle_interval,
        listener,
    )
    .map_err(|e| setup(e.to_string()))?;

    // Crashed Prometheus processes are restarted (with backoff) until the
    // fleet stops.
    let supervisor = backend.spawn_supervisor(Duration::from_secs(1));
    let outcome = supervise(&args, &running, loadgen.as_ref()).await;
    drop(supervisor);

    // Stop everything, whatever happened: no orphan Prometheus processes.
    eprintln_status("stopping: coordinator, shards, targets");
    running.stop().await;
    backend.shutdown().await;
    if let Some(server) = loadgen {
        server.shutdown().await;
    }
    if args.keep
        && let Some(temp) = temp
    {
        let kept = temp.keep();
        eprintln_status(&format!("data kept in {}", kept.display()));
    }
    outcome
}

#[allow(clippy::print_stderr, reason = "the demo's own progress lines")]
fn eprintln_status(line: &str) {
    eprintln!("promshard local: {line}");
}

async fn supervise(
    args: &LocalSettings,
    running: &RunningCoordinator<LocalBackend>,
    loadgen: Option<&server::TargetServer>,
) -> Result<(), LocalError> {
    let started = Instant::now();
    let live = !args.plain && std::io::stdout().is_terminal();
    let mut phase = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let signal = crate::signal::wait_for_signal();
    tokio::pin!(signal);
    eprintln_status(&format!(
        "coordinator API on http://{} (targets, shards, plan, metrics); Ctrl-C stops everything",
        running.api_addr
    ));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = &mut signal => return Ok(()),
        }
        let elapsed = started.elapsed();
        if let Some(server) = loadgen {
            while phase + 1 < DEMO_PHASES.len() && elapsed.as_secs() >= DEMO_PHASES[phase + 1].0 {
                phase += 1;
                let count = DEMO_PHASES[phase].1;
                if let Err(e) = server.set_target_count(count) {
                    return Err(LocalError::Setup(e.to_string()));
                }
                eprintln_status(&format!("demo: target set changed to {count} targets"));
            }
        }
        let report = running.coordinator.report();
        let shards = running
            .coordinator
            .backend()
            .shards()
            .await
            .unwrap_or_default();
        print_status(
            &report,
            shards.len(),
            elapsed,
            live,
            args.coordinator.plan.max_series,
        );
        if args.duration.is_some_and(|d| elapsed >= d) {
            return Ok(());
        }
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the live status table is the demo's output"
)]
fn print_status(
    report: &CycleReport,
    shard_count: usize,
    elapsed: Duration,
    live: bool,
    capacity: u64,
) {
    let mut out = String::new();
    if live {
        // Clear the screen and go home: a table that updates in place.
        out.push_str("\x1b[2J\x1b[H");
    }
    let Some(plan) = &report.plan else {
        out.push_str(&format!(
            "[{:>4}s] waiting for the first cycle...\n",
            elapsed.as_secs()
        ));
        print!("{out}");
        let _ = std::io::stdout().flush();
        return;
    };
    out.push_str(&format!(
        "[{:>4}s] promshard local: {} targets, {} series, {} shards (capacity {} series each), scale: {}\n",
        elapsed.as_secs(),
        plan.summary.targets,
        plan.summary.series,
        shard_count,
        capacity,
        serde_json::to_string(&plan.scale).unwrap_or_default(),
    ));
    if live {
        out.push_str(&format!(
            "{:<6} {:<13} {:>8} {:>14} {:>12}  {}\n",
            "shard", "state", "targets", "active series", "head series", "prometheus"
        ));
        for shard in &report.shards {
            let active = plan
                .shards
                .iter()
                .find(|s| s.index == shard.index)
                .map_or(0, |s| s.active_series);
            out.push_str(&format!(
                "{:<6} {:<13} {:>8} {:>14} {:>12}  {}\n",
                shard.index,
                if shard.removing {
                    "draining"
                } else {
                    shard.state
                },
                shard.targets,
                active,
                shard.head_series.map_or("-".to_owned(), |h| h.to_string()),
                shard.prometheus.as_deref().unwrap_or("-"),
            ));
        }
        out.push_str(&format!(
            "moves this cycle: {}; handovers in progress: {}\n",
            report.moves, plan.summary.handovers_in_progress
        ));
        for error in report.errors.iter().take(3) {
            out.push_str(&format!("error: {error}\n"));
        }
    } else {
        let loads: Vec<String> = plan
            .shards
            .iter()
            .map(|s| format!("{}:{}", s.index, s.active_series))
            .collect();
        out.push_str(&format!(
            "         shard loads {}; moves {}\n",
            loads.join(" "),
            report.moves
        ));
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
}
