//! The reconcile cycle (see the [module docs](super)): idempotent, driven
//! only by discovery, the sidecars' reports and the backend, so running it
//! twice in a row changes nothing the second time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promshard_config::Config;
use promshard_config::discovery::{DiscoveryEvent, DiscoveryManager, TargetIndex};
use promshard_config::target::Compat;
use promshard_plan::{
    Plan, PlanInputs, PlanSettings, Reason, ReportedTarget, Role as PlanRole, ScaleDecision,
    ShardHealth, ShardInput, TargetInput, Timestamp,
};
use serde::Serialize;
use tokio::sync::watch;

use super::operator::OperatorJobs;
use crate::coordinator::backend::{ShardBackend, ShardEndpoint};
use crate::coordinator::explore::{Explore, Explorer};
use crate::scrape::jobs::{JobTable, build_jobs};
use crate::shard_api::{
    Assignment, PICKUP_GRACE, PrometheusState, PushedJobs, Role, ScrapeOutcome, ScrapeTarget,
    ShardStatus, SidecarClient, TargetStatsSnapshot, TargetStatus,
};

/// What a sidecar reports, with each target's stats in their summary form
/// (the latest scrape, peaks and totals): what the coordinator keeps of
/// every shard between cycles.
type ShardReport = ShardStatus<TargetStatsSnapshot>;

/// Tunables of the coordinator itself (the planner has its own).
#[derive(Debug, Clone)]
pub struct CoordinatorSettings {
    /// The planner's settings.
    pub plan: PlanSettings,
    /// Timeout of every sidecar call.
    pub sidecar_timeout: Duration,
    /// Bearer token for the sidecars' mutating API, if configured.
    pub token: Option<String>,
    /// Explore scrapes at once.
    pub explore_concurrency: usize,
    /// Target construction semantics.
    pub compat: Compat,
    /// How long to wait for every service discovery provider's first result
    /// before planning with what has been discovered. Until discovery has
    /// synced, nothing is planned or pushed: an empty or partial target set
    /// at start-up (or after a config change) would otherwise unassign
    /// targets that are merely not discovered yet.
    pub discovery_sync_timeout: Duration,
}

impl Default for CoordinatorSettings {
    fn default() -> Self {
        Self {
            plan: PlanSettings::default(),
            sidecar_timeout: Duration::from_secs(10),
            token: None,
            explore_concurrency: 8,
            compat: Compat::default(),
            discovery_sync_timeout: Duration::from_secs(60),
        }
    }
}

/// What the last cycle saw and decided, for the API and metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CycleReport {
    /// When the cycle ran (ms since the epoch).
    pub at: u64,
    /// How long it took.
    pub duration_ms: u64,
    /// The plan, if planning succeeded.
    pub plan: Option<Plan>,
    /// Every shard with what its sidecar said.
    pub shards: Vec<ShardView>,
    /// Every desired target.
    pub targets: Vec<TargetView>,
    /// Errors of this cycle (backend, sidecar calls, planning).
    pub errors: Vec<String>,
    /// Moves started in this cycle.
    pub moves: usize,
}

/// One shard in the API.
#[derive(Debug, Clone, Serialize)]
pub struct ShardView {
    /// Index.
    pub index: u32,
    /// Replica group.
    pub group: u32,
    /// Sidecar API.
    pub sidecar: String,
    /// Prometheus, for humans.
    pub prometheus: Option<String>,
    /// `ready`; `starting` (its backend does not report it started yet, or
    /// its Prometheus has not been ready since its sidecar started);
    /// `unresponsive` (its sidecar does not answer); `prometheus_not_ready`
    /// or `not_scraping` (its sidecar answers, its Prometheus does not do
    /// its job); `unknown` while the coordinator waits for service
    /// discovery and does not ask the sidecars yet.
    pub state: &'static str,
    /// Since when it has not been ready (ms since the epoch); after
    /// `--shard.failover-after` its targets move.
    pub not_ready_since: Option<u64>,
    /// Being drained for removal.
    pub removing: bool,
    /// Prometheus head series.
    pub head_series: Option<u64>,
    /// Targets it serves (active and draining).
    pub targets: usize,
    /// The last error talking to it.
    pub error: Option<String>,
}

impl ShardView {
    /// A shard the cycle did not ask anything.
    fn unpolled(endpoint: &ShardEndpoint) -> Self {
        Self {
            index: endpoint.index,
            group: endpoint.group,
            sidecar: endpoint.api_url.clone(),
            prometheus: endpoint.prometheus_url.clone(),
            state: "unknown",
            not_ready_since: None,
            removing: endpoint.removing,
            head_series: None,
            targets: 0,
            error: None,
        }
    }
}

/// One target in the API.
#[derive(Debug, Clone, Serialize)]
pub struct TargetView {
    /// Stable id.
    pub id: String,
    /// Job.
    pub job: String,
    /// Final labels (shared between cycles while the target set is the same).
    #[serde(serialize_with = "serialize_shared")]
    pub labels: Arc<BTreeMap<String, String>>,
    /// Home shard.
    pub shard: Option<u32>,
    /// Shards still scraping it during a handover.
    pub draining_on: Vec<u32>,
    /// Series used for packing.
    pub series: Option<u64>,
    /// Samples per second used for packing (its series per scrape interval).
    pub samples_per_second: f64,
    /// Which of its two loads is the larger part of a shard.
    pub bound_by: promshard_plan::Dimension,
    /// Whether the size is an estimate (never measured).
    pub estimated: bool,
    /// `up`, `down` or `unknown`, from the sidecars' last scrapes.
    pub health: &'static str,
    /// The last scrape error, if any.
    pub last_error: Option<String>,
    /// The explore state, while the target is unmeasured.
    pub explore: Option<Explore>,
    /// Why it is where it is.
    pub reason: Reason,
}

/// What the synchronous part of a cycle produced.
struct Prepared {
    names: Arc<Vec<SharedTarget>>,
    generation: u64,
    views: Vec<ShardView>,
    health: BTreeMap<String, (bool, Option<String>)>,
    reports: BTreeMap<(u32, u32), Arc<ShardReport>>,
    plan: Plan,
}

/// Memory kept between cycles; none of it is needed after a restart.
#[derive(Debug, Default)]
struct Memory {
    /// Since when each shard that is not ready (starting, silent, its
    /// Prometheus down or not scraping) has been so.
    not_ready_since: BTreeMap<(u32, u32), Timestamp>,
    idle_since: BTreeMap<(u32, u32), Timestamp>,
    // Shared with the push step of the same cycle: a status holds every
    // target's stats, too much to copy once per cycle.
    last_report: BTreeMap<(u32, u32), Arc<ShardReport>>,
    scale_down_candidate_since: Option<Timestamp>,
    generation: u64,
    names: SharedNames,
}

impl Memory {
    /// Forgets the shards the backend no longer lists: their last report
    /// holds every target's stats, and a shard that comes back under the
    /// same index is a new process, not one unresponsive since before.
    fn forget_shards_not_in(&mut self, endpoints: &[ShardEndpoint]) {
        let listed: BTreeSet<(u32, u32)> = endpoints.iter().map(|e| (e.group, e.index)).collect();
        self.not_ready_since.retain(|key, _| listed.contains(key));
        self.idle_since.retain(|key, _| listed.contains(key));
        self.last_report.retain(|key, _| listed.contains(key));
    }
}

/// The desired targets' ids and jobs as the shared strings the planner
/// takes, made once per change of the desired targets rather than once per
/// target and cycle.
#[derive(Debug, Default)]
struct SharedNames {
    /// The map they were made from (weak: identity only, the map itself
    /// is not kept alive by this).
    source: std::sync::Weak<BTreeMap<String, ScrapeTarget>>,
    names: Arc<Vec<SharedTarget>>,
}

/// One desired target's strings, shared by every cycle's planner inputs and
/// API views while the desired targets do not change.
#[derive(Debug)]
struct SharedTarget {
    id: Arc<str>,
    job: Arc<str>,
    /// The labels the API shows (no `__` names).
    labels: Arc<BTreeMap<String, String>>,
}

impl SharedNames {
    /// Every target of `desired`, in its order (by id).
    fn for_targets(
        &mut self,
        desired: &Arc<BTreeMap<String, ScrapeTarget>>,
    ) -> Arc<Vec<SharedTarget>> {
        if !std::ptr::eq(self.source.as_ptr(), Arc::as_ptr(desired)) {
            let mut jobs: BTreeMap<&str, Arc<str>> = BTreeMap::new();
            let names = desired
                .iter()
                .map(|(id, target)| {
                    let job = jobs
                        .entry(target.job.as_str())
                        .or_insert_with(|| Arc::from(target.job.as_str()));
                    SharedTarget {
                        id: Arc::from(id.as_str()),
                        job: Arc::clone(job),
                        labels: Arc::new(
                            target
                                .labels
                                .iter()
                                .filter(|(k, _)| !k.starts_with("__"))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        ),
                    }
                })
                .collect();
            self.names = Arc::new(names);
            self.source = Arc::downgrade(desired);
        }
        Arc::clone(&self.names)
    }
}

/// Serializes a shared value as the value itself.
fn serialize_shared<S: serde::Serializer, T: Serialize>(
    value: &Arc<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    T::serialize(value, serializer)
}

/// Service discovery running on a task of its own
/// ([`Coordinator::spawn_discovery`]).
#[derive(Debug)]
pub struct DiscoveryTask {
    stop: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl DiscoveryTask {
    /// Stops discovery and waits for the task to end.
    pub async fn stop(self) -> Result<(), tokio::task::JoinError> {
        self.stop.send_replace(1);
        self.task.await
    }
}

/// The coordinator: owns the desired targets and runs cycles.
pub struct Coordinator<B> {
    backend: Arc<B>,
    settings: CoordinatorSettings,
    config: RwLock<Arc<Config>>,
    jobs: Arc<JobTable>,
    /// `None` until service discovery has synced once.
    targets: watch::Receiver<Option<Arc<BTreeMap<String, ScrapeTarget>>>>,
    targets_tx: watch::Sender<Option<Arc<BTreeMap<String, ScrapeTarget>>>>,
    explorer: Explorer,
    memory: Mutex<Memory>,
    report: RwLock<Arc<CycleReport>>,
    /// Jobs for the sidecars beyond their file's (from prometheus-operator
    /// resources).
    pushed_jobs: RwLock<Arc<PushedJobs>>,
    /// What became of each prometheus-operator resource, for the API.
    operator: RwLock<Option<Arc<OperatorJobs>>>,
    /// Metrics of the coordinator.
    pub metrics: super::metrics::CoordinatorMetrics,
}

impl<B> std::fmt::Debug for Coordinator<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator").finish_non_exhaustive()
    }
}

fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

impl<B: ShardBackend> Coordinator<B> {
    /// A coordinator over `backend` for `config`.
    pub fn new(
        backend: Arc<B>,
        settings: CoordinatorSettings,
        config: Config,
    ) -> Result<Self, String> {
        let jobs = Arc::new(JobTable::default());
        jobs.replace(build_jobs(&config).map_err(|e| e.to_string())?);
        let (targets_tx, targets) = watch::channel(None);
        let explorer = Explorer::new(settings.explore_concurrency);
        Ok(Self {
            backend,
            settings,
            config: RwLock::new(Arc::new(config)),
            jobs,
            targets,
            targets_tx,
            explorer,
            memory: Mutex::new(Memory::default()),
            report: RwLock::new(Arc::new(CycleReport::default())),
            pushed_jobs: RwLock::new(Arc::new(PushedJobs::default())),
            operator: RwLock::new(None),
            metrics: super::metrics::CoordinatorMetrics::default(),
        })
    }

    /// The backend.
    pub(crate) fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// The last cycle's report.
    pub fn report(&self) -> Arc<CycleReport> {
        match self.report.read() {
            Ok(r) => Arc::clone(&r),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// The current config.
    pub(crate) fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => Arc::clone(&c),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Replaces the user's config (re-read on change by the caller).
    pub(crate) fn set_config(&self, config: Config) -> Result<(), String> {
        self.jobs
            .replace(build_jobs(&config).map_err(|e| e.to_string())?);
        match self.config.write() {
            Ok(mut c) => *c = Arc::new(config),
            Err(p) => *p.into_inner() = Arc::new(config),
        }
        Ok(())
    }

    /// The jobs generated from prometheus-operator resources: they are
    /// already in the config ([`Coordinator::set_config`]); here they are
    /// handed to every sidecar from the next cycle on, and their resources'
    /// outcomes shown by the API.
    pub(crate) fn set_operator_jobs(&self, operator: OperatorJobs) {
        let pushed = Arc::new(PushedJobs::new(operator.jobs.clone()));
        match self.pushed_jobs.write() {
            Ok(mut p) => *p = pushed,
            Err(p) => *p.into_inner() = pushed,
        }
        self.metrics.observe_operator(&operator);
        let operator = Some(Arc::new(operator));
        match self.operator.write() {
            Ok(mut o) => *o = operator,
            Err(p) => *p.into_inner() = operator,
        }
    }

    /// The prometheus-operator resources' outcomes, when jobs come from
    /// them.
    pub(crate) fn operator_jobs(&self) -> Option<Arc<OperatorJobs>> {
        match self.operator.read() {
            Ok(o) => o.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn pushed_jobs(&self) -> Arc<PushedJobs> {
        match self.pushed_jobs.read() {
            Ok(p) => Arc::clone(&p),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Hands the pushed jobs to every sidecar that answered this cycle with
    /// other ones (or none, after a restart).
    async fn push_jobs(
        &self,
        endpoints: &[ShardEndpoint],
        fresh: &BTreeSet<(u32, u32)>,
        reports: &BTreeMap<(u32, u32), Arc<ShardReport>>,
        errors: &mut Vec<String>,
    ) {
        let jobs = self.pushed_jobs();
        let calls = endpoints
            .iter()
            .filter(|e| fresh.contains(&(e.group, e.index)))
            .filter(|e| {
                reports
                    .get(&(e.group, e.index))
                    .is_some_and(|r| r.jobs_version.as_deref().unwrap_or("") != jobs.version)
            })
            .map(|e| {
                let client = SidecarClient::new(
                    &e.api_url,
                    self.settings.token.clone(),
                    self.settings.sidecar_timeout,
                );
                let jobs = Arc::clone(&jobs);
                async move {
                    client
                        .put_jobs(&jobs)
                        .await
                        .map_err(|err| format!("pushing jobs: {err}"))
                }
            });
        for result in futures_util::future::join_all(calls).await {
            match result {
                Ok(()) => {
                    self.metrics.jobs_pushed.inc();
                }
                Err(e) => {
                    self.metrics.sidecar_errors.inc();
                    errors.push(e);
                }
            }
        }
    }

    /// Sets the desired targets directly (used by discovery and tests).
    /// Cycles plan nothing until this has been called once.
    fn set_targets(&self, targets: BTreeMap<String, ScrapeTarget>) {
        self.targets_tx.send_replace(Some(Arc::new(targets)));
    }

    /// The desired targets, once discovery has synced.
    pub fn desired_targets(&self) -> Option<Arc<BTreeMap<String, ScrapeTarget>>> {
        self.targets.borrow().clone()
    }

    /// Runs service discovery for the current config until `stop` changes,
    /// publishing the desired targets as they change. The first publication
    /// waits until every provider has delivered its first result (or
    /// [`CoordinatorSettings::discovery_sync_timeout`] has passed), so that
    /// the targets of the previous config, or none at all, stay in force
    /// until then. A provider that cannot start is logged, not returned:
    /// the last published targets stay in force.
    pub(crate) async fn run_discovery(
        &self,
        manager: DiscoveryManager,
        mut stop: watch::Receiver<u64>,
    ) {
        let config = self.config();
        let (handle, mut events) = match manager.start(&config) {
            Ok(started) => started,
            Err(e) => {
                tracing::error!(error = %e, "service discovery could not start");
                return;
            }
        };
        let mut index = TargetIndex::new(self.settings.compat);
        let publish = |index: &TargetIndex| {
            let targets: BTreeMap<String, ScrapeTarget> = index
                .targets()
                .map(|t| (t.id.to_string(), ScrapeTarget::from(t)))
                .collect();
            self.set_targets(targets);
        };
        let sync_deadline = tokio::time::Instant::now() + self.settings.discovery_sync_timeout;
        let mut synced = false;
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { break };
                    let mut changed = false;
                    let mut next = Some(event);
                    // Apply what else is queued before publishing once.
                    while let Some(event) = next {
                        match &event {
                            DiscoveryEvent::Error { job, provider, message } => {
                                tracing::warn!(%job, %provider, %message, "service discovery error; last good targets kept");
                                self.metrics.discovery_errors.inc();
                            }
                            DiscoveryEvent::Synced if !synced => {
                                synced = true;
                                changed = true;
                                tracing::info!("service discovery synced");
                            }
                            _ => {}
                        }
                        changed |= index.apply(&config, event);
                        next = events.try_recv().ok();
                    }
                    if changed && synced {
                        publish(&index);
                    }
                }
                () = tokio::time::sleep_until(sync_deadline), if !synced => {
                    synced = true;
                    tracing::warn!(
                        timeout = ?self.settings.discovery_sync_timeout,
                        "service discovery has not delivered every provider's first result; planning with the targets discovered so far"
                    );
                    publish(&index);
                }
                _ = stop.changed() => break,
            }
        }
        drop(handle);
    }

    /// `Coordinator::run_discovery` on a task of its own, until
    /// [`DiscoveryTask::stop`].
    pub fn spawn_discovery(self: &Arc<Self>, manager: DiscoveryManager) -> DiscoveryTask {
        let (stop, stopped) = watch::channel(0);
        let coordinator = Arc::clone(self);
        let task = tokio::spawn(async move { coordinator.run_discovery(manager, stopped).await });
        DiscoveryTask { stop, task }
    }

    /// One reconcile cycle.
    pub async fn cycle(&self) -> Arc<CycleReport> {
        let started = Instant::now();
        let now = now();
        let mut errors = Vec::new();
        let desired = self.targets.borrow().clone();
        let endpoints = match self.backend.shards().await {
            Ok(endpoints) => {
                // Only a listing that worked says a shard is gone: a failed
                // one must not reset how long shards have been unresponsive.
                self.memory().forget_shards_not_in(&endpoints);
                endpoints
            }
            Err(e) => {
                errors.push(format!("listing shards: {e}"));
                Vec::new()
            }
        };
        let Some(desired) = desired else {
            // Planning now would unassign every target not discovered yet.
            errors.push(
                "waiting for service discovery's first results: nothing is planned or pushed yet"
                    .into(),
            );
            return self.publish(CycleReport {
                at: now.0,
                errors,
                shards: endpoints.iter().map(ShardView::unpolled).collect(),
                ..CycleReport::default()
            });
        };
        let statuses = self.poll_sidecars(&endpoints).await;
        let fresh: BTreeSet<(u32, u32)> = endpoints
            .iter()
            .zip(&statuses)
            .filter(|(_, status)| status.is_ok())
            .map(|(e, _)| (e.group, e.index))
            .collect();

        let Prepared {
            names,
            generation,
            views,
            health,
            reports,
            plan,
        } = match self.prepare(now, &endpoints, statuses, &desired, &mut errors) {
            Ok(prepared) => prepared,
            Err(views) => {
                return self.publish(CycleReport {
                    at: now.0,
                    errors,
                    shards: views,
                    ..CycleReport::default()
                });
            }
        };
        // Scale before moving: new shards get targets once they are ready.
        if let Err(e) = self.apply_scale(plan.scale).await {
            errors.push(e);
        }
        let moves = plan.moves.len();
        // Jobs first: a target of a job a sidecar does not know yet waits
        // for it (see `sidecar::control`).
        self.push_jobs(&endpoints, &fresh, &reports, &mut errors)
            .await;
        self.push_assignments(
            &plan,
            &endpoints,
            &reports,
            &desired,
            generation,
            &mut errors,
        )
        .await;

        // Both sorted by id: walk them together.
        let mut shared = names.iter().peekable();
        let targets = plan
            .targets
            .iter()
            .filter_map(|t| {
                while shared.next_if(|s| *s.id < *t.id).is_some() {}
                let target = shared.next_if(|s| *s.id == *t.id)?;
                let (up, last_error) = health
                    .get(&*t.id)
                    .cloned()
                    .map_or((None, None), |(up, e)| (Some(up), e));
                Some(TargetView {
                    id: t.id.to_string(),
                    job: t.job.to_string(),
                    labels: Arc::clone(&target.labels),
                    shard: t.shard,
                    draining_on: t.draining_on.clone(),
                    series: Some(t.series),
                    samples_per_second: t.samples_per_second,
                    bound_by: t.bound_by,
                    estimated: t.estimated,
                    health: match up {
                        Some(true) => "up",
                        Some(false) => "down",
                        None => "unknown",
                    },
                    last_error,
                    explore: self.explorer.state(&t.id),
                    reason: t.reason,
                })
            })
            .collect();
        self.metrics
            .observe(&plan, &views, moves, self.explorer.load());
        for e in &errors {
            tracing::warn!(error = %e, "cycle");
        }
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.publish(CycleReport {
            at: now.0,
            duration_ms,
            plan: Some(plan),
            shards: views,
            targets,
            errors,
            moves,
        })
    }

    /// The synchronous part of a cycle: reports to planner inputs, and the
    /// plan. Holds the memory lock, so it must not await.
    fn prepare(
        &self,
        now: Timestamp,
        endpoints: &[ShardEndpoint],
        statuses: Vec<Result<ShardReport, String>>,
        desired: &Arc<BTreeMap<String, ScrapeTarget>>,
        errors: &mut Vec<String>,
    ) -> Result<Prepared, Vec<ShardView>> {
        let mut guard = self.memory();
        // A plain `&mut` so the borrow checker sees the fields apart.
        let memory = &mut *guard;
        let mut shard_inputs = Vec::new();
        let mut views = Vec::new();
        let mut measured: BTreeMap<String, u64> = BTreeMap::new();
        let mut health: BTreeMap<String, (bool, Option<String>)> = BTreeMap::new();
        let mut reported_generation = 0;
        for (endpoint, status) in endpoints.iter().zip(statuses) {
            let key = (endpoint.group, endpoint.index);
            let (condition, fresh) = match status {
                Ok(status) => {
                    let condition = Condition::of(endpoint, &status);
                    memory.last_report.insert(key, Arc::new(status));
                    (condition, true)
                }
                Err(e) => {
                    errors.push(e.clone());
                    (Condition::Unresponsive(e), false)
                }
            };
            let report = memory.last_report.get(&key);
            // One clock for every way of not working: a pod that restarts
            // is first silent, then answers with its Prometheus replaying
            // its WAL, and its failover delay runs through both.
            let shard_health = match condition {
                Condition::Ready => {
                    memory.not_ready_since.remove(&key);
                    ShardHealth::Ready
                }
                Condition::Starting(_) => ShardHealth::Starting {
                    since: *memory.not_ready_since.entry(key).or_insert(now),
                },
                _ => ShardHealth::Unhealthy {
                    since: *memory.not_ready_since.entry(key).or_insert(now),
                },
            };
            let targets: Vec<ReportedTarget> = report
                .map(|r| {
                    r.targets
                        .iter()
                        .map(|t| ReportedTarget {
                            id: t.id.0.clone(),
                            role: match t.role {
                                Role::Active => PlanRole::Active,
                                Role::Draining => PlanRole::Draining,
                            },
                            scrapes: successes(t.stats.as_ref()),
                            assigned_at: t.assigned_at.map(Timestamp::from_millis),
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Some(report) = report {
                reported_generation = reported_generation.max(report.generation);
                for t in &report.targets {
                    if let Some(peak) = t
                        .stats
                        .as_ref()
                        .and_then(|stats| stats.peak_kept.or(stats.peak_samples))
                    {
                        let entry = measured.entry(t.id.0.clone()).or_default();
                        *entry = (*entry).max(peak);
                    }
                    if t.role != Role::Active {
                        continue;
                    }
                    let seen = if fresh {
                        let interval = desired.get(&t.id.0).map(ScrapeTarget::scrape_interval);
                        target_health(report.reported_at, t, interval)
                    } else {
                        Some(TargetHealth {
                            up: false,
                            error: Some(format!(
                                "shard {} (replica group {}) does not answer: {}",
                                endpoint.index,
                                endpoint.group,
                                condition.reason().unwrap_or_default()
                            )),
                        })
                    };
                    if let Some(seen) = seen {
                        merge_health(&mut health, &t.id.0, seen);
                    }
                }
            }
            let idle_since = if targets.is_empty() {
                Some(*memory.idle_since.entry(key).or_insert(now))
            } else {
                memory.idle_since.remove(&key);
                None
            };
            views.push(ShardView {
                index: endpoint.index,
                group: endpoint.group,
                sidecar: endpoint.api_url.clone(),
                prometheus: endpoint.prometheus_url.clone(),
                state: condition.name(),
                not_ready_since: match shard_health {
                    ShardHealth::Ready => None,
                    ShardHealth::Starting { since } | ShardHealth::Unhealthy { since } => {
                        Some(since.as_millis())
                    }
                },
                removing: endpoint.removing,
                head_series: report.and_then(|r| r.head_series),
                targets: targets.len(),
                error: match (condition.reason(), &endpoint.detail) {
                    (None, None) => None,
                    (Some(reason), None) => Some(reason.to_owned()),
                    (None, Some(detail)) => Some(detail.clone()),
                    (Some(reason), Some(detail)) if reason == detail => Some(detail.clone()),
                    (Some(reason), Some(detail)) => Some(format!("{reason}; {detail}")),
                },
            });
            shard_inputs.push(ShardInput {
                index: endpoint.index,
                group: endpoint.group,
                health: shard_health,
                removing: endpoint.removing,
                head_series: report.and_then(|r| r.head_series),
                idle_since,
                targets,
            });
        }

        // Sizes: a sidecar's measurement wins; else an explore's; else the
        // planner estimates (job median) and an explore is started.
        let names = memory.names.for_targets(desired);
        let mut target_inputs = Vec::with_capacity(desired.len());
        for ((id, target), shared) in desired.iter().zip(names.iter()) {
            let size = measured
                .get(id)
                .copied()
                .or_else(|| self.explorer.measured(id));
            if size.is_none()
                && let Some(job) = self.jobs.get(&target.job)
            {
                self.explorer.request(target, job);
            }
            target_inputs.push(TargetInput {
                id: Arc::clone(&shared.id),
                job: Arc::clone(&shared.job),
                measured_series: size,
                scrape_interval: Some(target.scrape_interval()),
            });
        }
        self.explorer
            .retain(|id| desired.contains_key(id) && !measured.contains_key(id));

        let inputs = PlanInputs {
            targets: target_inputs,
            shards: shard_inputs,
            scale_down_candidate_since: memory.scale_down_candidate_since,
        };
        let plan = match promshard_plan::plan(&inputs, &self.settings.plan, now) {
            Ok(plan) => plan,
            Err(e) => {
                errors.push(format!("planning: {e}"));
                return Err(views);
            }
        };
        memory.scale_down_candidate_since = plan.scale_down_candidate_since;
        memory.generation = memory
            .generation
            .max(reported_generation)
            .max(now.0)
            .saturating_add(1);
        let reports = memory.last_report.clone();
        let memory_generation = memory.generation;
        drop(guard);
        Ok(Prepared {
            names,
            generation: memory_generation,
            views,
            health,
            reports,
            plan,
        })
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        // A cycle that panicked left at worst part of its update, which the
        // next cycle redoes from the sidecars' reports.
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, report: CycleReport) -> Arc<CycleReport> {
        let report = Arc::new(report);
        match self.report.write() {
            Ok(mut r) => *r = Arc::clone(&report),
            Err(p) => *p.into_inner() = Arc::clone(&report),
        }
        report
    }

    async fn poll_sidecars(&self, endpoints: &[ShardEndpoint]) -> Vec<Result<ShardReport, String>> {
        let calls = endpoints.iter().map(|e| {
            let client = SidecarClient::new(
                &e.api_url,
                self.settings.token.clone(),
                self.settings.sidecar_timeout,
            );
            async move { client.status_summary().await.map_err(|e| e.to_string()) }
        });
        futures_util::future::join_all(calls).await
    }

    async fn apply_scale(&self, decision: ScaleDecision) -> Result<(), String> {
        if !self.backend.can_scale() {
            return Ok(());
        }
        let backend = self.backend.name();
        let result = match decision {
            ScaleDecision::None => return Ok(()),
            ScaleDecision::Up { to, reason } => {
                tracing::info!(to, ?reason, "scaling up");
                self.backend.scale_up(to).await
            }
            ScaleDecision::Drain { shard, reason } => {
                tracing::info!(shard, ?reason, "draining shard for removal");
                self.backend.set_removing(shard, true).await
            }
            ScaleDecision::CancelDrain { shard } => {
                tracing::info!(shard, "cancelling drain");
                self.backend.set_removing(shard, false).await
            }
            ScaleDecision::Remove { shard } => {
                tracing::info!(shard, "removing empty shard");
                self.backend.remove(shard).await
            }
        };
        if result.is_ok() {
            self.metrics.scale_events.inc();
        }
        result.map_err(|e| format!("{backend} backend: {e}"))
    }

    async fn push_assignments(
        &self,
        plan: &Plan,
        endpoints: &[ShardEndpoint],
        reports: &BTreeMap<(u32, u32), Arc<ShardReport>>,
        desired: &BTreeMap<String, ScrapeTarget>,
        generation: u64,
        errors: &mut Vec<String>,
    ) {
        let by_index: BTreeMap<u32, &promshard_plan::ShardPlan> =
            plan.shards.iter().map(|s| (s.index, s)).collect();
        let mut calls = Vec::new();
        for endpoint in endpoints {
            let Some(shard_plan) = by_index.get(&endpoint.index) else {
                continue;
            };
            let Some(report) = reports.get(&(endpoint.group, endpoint.index)) else {
                continue;
            };
            // Borrowed ids: compared every cycle for every shard, usually equal.
            let want: BTreeSet<(&str, Role)> = shard_plan
                .targets
                .iter()
                .filter(|t| desired.contains_key(&*t.id))
                .map(|t| {
                    (
                        &*t.id,
                        match t.role {
                            PlanRole::Active => Role::Active,
                            PlanRole::Draining => Role::Draining,
                        },
                    )
                })
                .collect();
            let have: BTreeSet<(&str, Role)> = report
                .targets
                .iter()
                .map(|t| (t.id.0.as_str(), t.role))
                .collect();
            if want == have {
                continue;
            }
            let targets = want
                .iter()
                .filter_map(|&(id, role)| {
                    let mut target = desired.get(id)?.clone();
                    target.role = role;
                    Some(target)
                })
                .collect();
            let client = SidecarClient::new(
                &endpoint.api_url,
                self.settings.token.clone(),
                self.settings.sidecar_timeout,
            );
            let assignment = Assignment {
                generation,
                targets,
                ..Assignment::default()
            };
            calls.push(async move {
                client
                    .put_targets(&assignment)
                    .await
                    .map_err(|e| e.to_string())
            });
        }
        for result in futures_util::future::join_all(calls).await {
            match result {
                Ok(()) => {
                    self.metrics.assignments_pushed.inc();
                }
                Err(e) => {
                    self.metrics.sidecar_errors.inc();
                    errors.push(e);
                }
            };
        }
    }
}

/// Why a shard is or is not working, this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Ready,
    /// Its backend does not report it started (pod not Ready), or its
    /// Prometheus has not been ready since its sidecar started.
    Starting(Option<String>),
    /// Its sidecar did not answer.
    Unresponsive(String),
    /// Its sidecar answers; its Prometheus is not ready.
    PrometheusNotReady(String),
    /// Its sidecar answers; its Prometheus scrapes nothing.
    NotScraping(String),
}

impl Condition {
    fn of(endpoint: &ShardEndpoint, report: &ShardReport) -> Self {
        if !endpoint.started {
            return Self::Starting(endpoint.detail.clone());
        }
        match &report.prometheus {
            PrometheusState::Starting { reason, .. } => Self::Starting(Some(reason.clone())),
            PrometheusState::NotReady { reason, .. } => Self::PrometheusNotReady(reason.clone()),
            PrometheusState::NotScraping { reason, .. } => Self::NotScraping(reason.clone()),
            PrometheusState::Ready => Self::Ready,
            // A sidecar that has not checked yet; one that never does
            // (older, no report time) is taken at its word as before.
            PrometheusState::Unknown if report.reported_at > 0 => {
                Self::Starting(Some("its sidecar has not checked Prometheus yet".into()))
            }
            PrometheusState::Unknown => Self::Ready,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Starting(_) => "starting",
            Self::Unresponsive(_) => "unresponsive",
            Self::PrometheusNotReady(_) => "prometheus_not_ready",
            Self::NotScraping(_) => "not_scraping",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::Ready => None,
            Self::Starting(detail) => detail.as_deref(),
            Self::Unresponsive(reason)
            | Self::PrometheusNotReady(reason)
            | Self::NotScraping(reason) => Some(reason),
        }
    }
}

/// A target's health as one report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetHealth {
    up: bool,
    error: Option<String>,
}

/// Scrape intervals after which a target nobody scraped is not up,
/// whatever its last scrape said.
const STALE_AFTER_INTERVALS: u32 = 2;

/// The health of an active target from a fresh report: its last scrape's
/// outcome, unless nobody scraped it for more than two intervals (ages on
/// the sidecar's clock, `reported_at`). `None` while it waits for its first
/// scrape.
fn target_health(
    reported_at: u64,
    target: &TargetStatus<TargetStatsSnapshot>,
    interval: Option<Duration>,
) -> Option<TargetHealth> {
    let stale_after = interval.map(|i| i.saturating_mul(STALE_AFTER_INTERVALS));
    let age = |since: u64| Duration::from_millis(reported_at.saturating_sub(since));
    let last = target.stats.as_ref().and_then(|s| s.history.last());
    let Some(last) = last else {
        // Never scraped here: Prometheus has its pickup grace first.
        let waited = target.assigned_at.map(age)?;
        let limit = stale_after? + PICKUP_GRACE;
        return (reported_at > 0 && waited > limit).then(|| TargetHealth {
            up: false,
            error: Some(format!(
                "never scraped since it was assigned {}s ago",
                waited.as_secs()
            )),
        });
    };
    if let Some(limit) = stale_after
        && reported_at > 0
        && age(last.started_unix_ms) > limit
    {
        return Some(TargetHealth {
            up: false,
            error: Some(format!(
                "not scraped for {}s (scrape interval {}s)",
                age(last.started_unix_ms).as_secs(),
                interval.map_or(0, |i| i.as_secs())
            )),
        });
    }
    let up = last.outcome == ScrapeOutcome::Success;
    let error = if up {
        None
    } else {
        target
            .stats
            .as_ref()
            .and_then(|s| s.last_error.as_ref())
            .map(|e| e.message.clone())
    };
    Some(TargetHealth { up, error })
}

/// Keeps the best view of a target seen by several shards this cycle: up
/// anywhere is up (a target is active on one shard, but a returning shard
/// may still list it).
fn merge_health(
    health: &mut BTreeMap<String, (bool, Option<String>)>,
    id: &str,
    seen: TargetHealth,
) {
    match health.get_mut(id) {
        Some((true, _)) => {}
        Some(existing) => *existing = (seen.up, seen.error),
        None => {
            health.insert(id.to_owned(), (seen.up, seen.error));
        }
    }
}

/// Successful scrapes in a target's stats (handover progress).
fn successes(stats: Option<&TargetStatsSnapshot>) -> u64 {
    stats.map_or(0, |s| s.scrapes_total.saturating_sub(s.failures_total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::backend::{BackendError, StaticBackend};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// An `http_sd` endpoint that answers each request after `delay`.
    async fn slow_http_sd(delay: Duration) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    tokio::time::sleep(delay).await;
                    let body = r#"[{"targets": ["slow:9100"]}]"#;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        addr
    }

    fn endpoint(group: u32, index: u32) -> ShardEndpoint {
        ShardEndpoint {
            index,
            group,
            api_url: format!("http://shard-{group}-{index}"),
            prometheus_url: None,
            removing: false,
            started: true,
            detail: None,
        }
    }

    fn report((group, index): (u32, u32)) -> ShardReport {
        ShardStatus {
            shard: format!("shard-{group}-{index}"),
            config_hash: String::new(),
            generation: 1,
            head_series: None,
            reported_at: 0,
            prometheus: PrometheusState::Unknown,
            jobs_version: None,
            targets: Vec::new(),
        }
    }

    #[test]
    fn memory_of_shards_the_backend_no_longer_lists_is_forgotten() {
        let mut memory = Memory::default();
        for key in [(0, 0), (0, 1), (1, 0)] {
            memory.not_ready_since.insert(key, Timestamp(1));
            memory.idle_since.insert(key, Timestamp(2));
            memory.last_report.insert(key, Arc::new(report(key)));
        }
        memory.forget_shards_not_in(&[endpoint(0, 0), endpoint(1, 0), endpoint(2, 5)]);
        let kept = BTreeSet::from([(0, 0), (1, 0)]);
        assert_eq!(
            memory
                .not_ready_since
                .keys()
                .copied()
                .collect::<BTreeSet<_>>(),
            kept
        );
        assert_eq!(
            memory.idle_since.keys().copied().collect::<BTreeSet<_>>(),
            kept
        );
        assert_eq!(
            memory.last_report.keys().copied().collect::<BTreeSet<_>>(),
            kept
        );
        memory.forget_shards_not_in(&[]);
        assert!(memory.not_ready_since.is_empty());
        assert!(memory.idle_since.is_empty());
        assert!(memory.last_report.is_empty());
    }

    /// One shard whose sidecar refuses connections; listing it fails while
    /// `listing_fails` is set.
    struct FlakyBackend {
        listing_fails: std::sync::atomic::AtomicBool,
    }

    impl ShardBackend for FlakyBackend {
        fn name(&self) -> &'static str {
            "flaky"
        }

        fn can_scale(&self) -> bool {
            false
        }

        async fn shards(&self) -> Result<Vec<ShardEndpoint>, BackendError> {
            if self.listing_fails.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(BackendError::ShardList {
                    path: "shards.yml".into(),
                    reason: "unreadable".into(),
                });
            }
            Ok(vec![ShardEndpoint {
                api_url: "http://127.0.0.1:1".into(),
                ..endpoint(0, 0)
            }])
        }

        async fn scale_up(&self, _count: u32) -> Result<(), BackendError> {
            Ok(())
        }

        async fn set_removing(&self, _index: u32, _removing: bool) -> Result<(), BackendError> {
            Ok(())
        }

        async fn remove(&self, _index: u32) -> Result<(), BackendError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failed_shard_listing_keeps_what_is_known_of_the_shards() {
        let backend = Arc::new(FlakyBackend {
            listing_fails: std::sync::atomic::AtomicBool::new(false),
        });
        let config = Config::from_yaml_str(
            "scrape_configs:\n- job_name: app\n  static_configs: [{targets: ['app:9100']}]\n",
            "prometheus.yml",
        )
        .unwrap();
        let coordinator =
            Coordinator::new(backend.clone(), CoordinatorSettings::default(), config).unwrap();
        coordinator.set_targets(BTreeMap::new());
        let unresponsive_since = |coordinator: &Coordinator<FlakyBackend>| {
            coordinator
                .memory
                .lock()
                .unwrap()
                .not_ready_since
                .get(&(0, 0))
                .copied()
        };
        coordinator.cycle().await;
        let since = unresponsive_since(&coordinator);
        assert!(since.is_some(), "the refusing sidecar is unresponsive");

        backend
            .listing_fails
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let report = coordinator.cycle().await;
        assert!(
            report.errors.iter().any(|e| e.contains("listing shards")),
            "{:?}",
            report.errors
        );
        assert_eq!(unresponsive_since(&coordinator), since);

        backend
            .listing_fails
            .store(false, std::sync::atomic::Ordering::SeqCst);
        coordinator.cycle().await;
        assert_eq!(unresponsive_since(&coordinator), since);
    }

    #[tokio::test]
    async fn nothing_is_planned_until_every_provider_has_delivered() {
        let sd = slow_http_sd(Duration::from_millis(800)).await;
        let config = Config::from_yaml_str(
            &format!(
                "scrape_configs:\n- job_name: fast\n  static_configs: [{{targets: ['fast:9100']}}]\n- job_name: slow\n  http_sd_configs: [{{url: 'http://{sd}/sd'}}]\n"
            ),
            "prometheus.yml",
        )
        .unwrap();
        let backend = Arc::new(
            StaticBackend::from_yaml("shards:\n- {sidecar: 'http://127.0.0.1:1'}\n").unwrap(),
        );
        let coordinator =
            Arc::new(Coordinator::new(backend, CoordinatorSettings::default(), config).unwrap());
        let discovery = coordinator.spawn_discovery(DiscoveryManager::new());
        // The static job is known at once, the http_sd one is not: publishing
        // now would unassign the slow job's targets.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(coordinator.desired_targets().is_none());
        let report = coordinator.cycle().await;
        assert!(report.plan.is_none());
        assert!(
            report.errors[0].contains("service discovery"),
            "{:?}",
            report.errors
        );

        let mut published = None;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            published = coordinator.desired_targets();
            if published.is_some() {
                break;
            }
        }
        let jobs: BTreeSet<String> = published
            .expect("published once synced")
            .values()
            .map(|t| t.job.clone())
            .collect();
        assert_eq!(jobs, BTreeSet::from(["fast".to_owned(), "slow".to_owned()]));
        discovery.stop().await.unwrap();
    }

    #[tokio::test]
    async fn a_provider_that_never_delivers_holds_planning_back_only_until_the_timeout() {
        let config = Config::from_yaml_str(
            // Nothing listens on port 1: every refresh fails.
            "scrape_configs:\n- job_name: fast\n  static_configs: [{targets: ['fast:9100']}]\n- job_name: broken\n  http_sd_configs: [{url: 'http://127.0.0.1:1/sd'}]\n",
            "prometheus.yml",
        )
        .unwrap();
        let backend = Arc::new(
            StaticBackend::from_yaml("shards:\n- {sidecar: 'http://127.0.0.1:1'}\n").unwrap(),
        );
        let settings = CoordinatorSettings {
            discovery_sync_timeout: Duration::from_millis(500),
            ..CoordinatorSettings::default()
        };
        let coordinator = Arc::new(Coordinator::new(backend, settings, config).unwrap());
        let discovery = coordinator.spawn_discovery(DiscoveryManager::new());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(coordinator.desired_targets().is_none());
        tokio::time::sleep(Duration::from_millis(800)).await;
        let published = coordinator
            .desired_targets()
            .expect("published after the timeout");
        let jobs: Vec<&str> = published.values().map(|t| t.job.as_str()).collect();
        assert_eq!(jobs, ["fast"]);
        discovery.stop().await.unwrap();
    }
}
