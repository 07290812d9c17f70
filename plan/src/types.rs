//! The planner's inputs, settings and output.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch.
///
/// The planner never reads a clock; the caller passes `now`, so that a plan is
/// a pure function of its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The time `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This time plus `duration`, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(millis_of(duration)))
    }

    /// How long after `earlier` this time is (zero if it is not after it).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// `duration` in whole milliseconds, saturating rather than truncating.
pub(crate) fn millis_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Everything the planner knows in one cycle.
///
/// The coordinator keeps no state between cycles apart from
/// [`scale_down_candidate_since`](Self::scale_down_candidate_since): the
/// current placement is what the sidecars report, so a restarted coordinator
/// rebuilds it and the plan moves nothing because of the restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanInputs {
    /// The targets that should be scraped (after service discovery and
    /// relabeling). Order does not matter.
    pub targets: Vec<TargetInput>,
    /// Every shard of every replica group, with what its sidecar reports.
    /// Order does not matter.
    pub shards: Vec<ShardInput>,
    /// Since when the fleet has continuously fitted in fewer shards: the
    /// previous plan's [`Plan::scale_down_candidate_since`]. `None` after a
    /// coordinator restart, which only delays a scale-down.
    pub scale_down_candidate_since: Option<Timestamp>,
}

/// One desired scrape target.
///
/// Its id and job are shared strings: the plan hands out clones of them
/// (no copy per target and cycle), and a caller that keeps its inputs
/// between cycles pays for them once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInput {
    /// Stable id (hex hash of job, labels and URL).
    #[serde(with = "arc_str")]
    pub id: Arc<str>,
    /// The scrape job it belongs to.
    #[serde(with = "arc_str")]
    pub job: Arc<str>,
    /// Its size in series: the peak of its recent scrapes, as the sidecars
    /// (or the coordinator's explore scrape) measured it. `None` if it has
    /// never been measured: the planner then uses the job's median measured
    /// size, or [`PlanSettings::default_target_series`].
    pub measured_series: Option<u64>,
    /// How often it is scraped (its job's `scrape_interval`, or what its
    /// `__scrape_interval__` label says): each scrape appends one sample per
    /// series, so its ingestion is its series per interval. `None`:
    /// Prometheus's default of one minute.
    #[serde(default)]
    pub scrape_interval: Option<Duration>,
}

impl TargetInput {
    /// A target of `job` scraped every minute.
    pub fn new(
        id: impl Into<Arc<str>>,
        job: impl Into<Arc<str>>,
        measured_series: Option<u64>,
    ) -> Self {
        Self {
            id: id.into(),
            job: job.into(),
            measured_series,
            scrape_interval: None,
        }
    }

    /// The same target scraped every `interval`.
    #[must_use]
    pub fn every(mut self, interval: Duration) -> Self {
        self.scrape_interval = Some(interval);
        self
    }
}

/// One of the two things a shard runs out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Head series: the memory of the shard's Prometheus.
    Series,
    /// Samples appended per second: its ingestion CPU.
    SamplesPerSecond,
}

/// How full a load makes one shard, in each dimension (1.0 = its
/// capacity), and which of the two is the larger.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    /// Series over [`PlanSettings::max_series`].
    pub series: f64,
    /// Samples per second over [`PlanSettings::max_samples_per_second`]
    /// (0 when that is unbounded).
    pub samples_per_second: f64,
    /// The larger of the two: what packing goes by.
    pub bound_by: Dimension,
}

/// The health of one shard as the coordinator sees it.
///
/// Both states other than [`Ready`](Self::Ready) carry the time they began,
/// so that a shard that never gets well (a crash loop, a WAL replay of many
/// minutes, a pod that never turns Ready) fails over after
/// [`PlanSettings::failover_after`] instead of holding its targets, and
/// holding back placement, for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ShardHealth {
    /// Its sidecar answers, its Prometheus is ready and scraping.
    Ready,
    /// Created (scaled up, or restarted by its backend) and not ready yet
    /// since `since`: it gets no new targets until it is, and targets that
    /// need a new shard wait for it. After `failover_after` it counts as
    /// failed.
    Starting {
        /// When it was first seen not ready.
        since: Timestamp,
    },
    /// Not working since `since`: its sidecar does not answer, or answers
    /// that its Prometheus is not ready or has stopped scraping. Until
    /// `failover_after` it keeps its targets and gets no new ones; then they
    /// move.
    Unhealthy {
        /// When it was first seen not working.
        since: Timestamp,
    },
}

/// One shard (one Prometheus server and its sidecar) of one replica group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInput {
    /// Shard index: shard `i` of every replica group holds the same targets.
    pub index: u32,
    /// Replica group, `0..replicas`.
    pub group: u32,
    /// Whether it answers.
    pub health: ShardHealth,
    /// Marked for removal (a scale-down drain is in progress). Kept by the
    /// shard backend, so that it survives a coordinator restart.
    pub removing: bool,
    /// Its Prometheus head series (`headStats.numSeries`), if reported.
    pub head_series: Option<u64>,
    /// Since when it has held no targets at all, if it holds none.
    pub idle_since: Option<Timestamp>,
    /// The targets its sidecar currently serves.
    pub targets: Vec<ReportedTarget>,
}

/// A target as one sidecar reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedTarget {
    /// Target id.
    pub id: String,
    /// Active, or draining (being handed over to another shard).
    pub role: Role,
    /// Successful scrapes of it by this shard since the shard got it.
    pub scrapes: u64,
    /// When this shard got it in its current role (the sidecar's clock), if
    /// known. When a target is active on two shards (a shard back after its
    /// targets failed over), the most recent assignment wins: it is the
    /// coordinator's latest decision. An unknown time counts as older than
    /// any known one.
    #[serde(default)]
    pub assigned_at: Option<Timestamp>,
}

/// Why a shard serves a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The target's home.
    Active,
    /// The target's former home, still scraping it until its new home has
    /// reported [`PlanSettings::handover_scrapes`] successful scrapes.
    Draining,
}

/// Tunables of the planner; [`Default`] gives the documented defaults.
///
/// A shard has two capacities, head series (its memory) and samples
/// appended per second (its ingestion CPU); a load's utilisation is the
/// larger of its two fractions, and every threshold below applies to both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanSettings {
    /// Capacity of one shard in head series (`--shard.max-series`).
    pub max_series: u64,
    /// Capacity of one shard in samples appended per second
    /// (`--shard.max-samples-per-second`); 0: unbounded, series alone
    /// decide. Default 100,000: a large Prometheus ingests up to about a
    /// million samples per second and holds several million series, so a
    /// shard of a million series gets a tenth of it; the two bind together
    /// at a 10 s scrape interval, and faster-scraped fleets are limited by
    /// ingestion rather than memory.
    pub max_samples_per_second: u64,
    /// Fraction of `max_series` the packing fills shards to
    /// (`--shard.target-utilization`).
    pub target_utilization: f64,
    /// Fraction of `max_series` above which a shard sheds targets. Default
    /// 0.9: halfway between the packing goal and full, so that normal
    /// growth of sticky targets does not cause moves, and a shard still has
    /// a tenth of its capacity left when it starts shedding.
    pub high_watermark: f64,
    /// Series that may start moving in one cycle (`--plan.max-moves`). Moves
    /// off an overloaded shard and scale-down drains count; failover does
    /// not (those targets are not being scraped at all). A single target
    /// larger than the budget may still move alone in a cycle; `0` disables
    /// such moves entirely.
    pub max_moves: u64,
    /// Fewest shards per replica group (`--shard.min`).
    pub min_shards: u32,
    /// Most shards per replica group (`--shard.max`).
    pub max_shards: u32,
    /// Replica groups with identical layouts (`--shard.replicas`).
    pub replicas: u32,
    /// Successful scrapes the new shard must report before the old one drops
    /// a moved target (`--handover.scrapes`).
    pub handover_scrapes: u64,
    /// How long the fleet must fit in fewer shards before one is drained
    /// (`--shard.scale-down-after`).
    pub scale_down_after: Duration,
    /// How long a shard may be unhealthy, or starting, before its targets
    /// move (`--shard.failover-after`).
    pub failover_after: Duration,
    /// How long a drained shard must have been empty before it is removed.
    /// With a Thanos sidecar uploading blocks, raise it above the head block
    /// span (3h) so that the shard's last data is uploaded first.
    pub idle_before_remove: Duration,
    /// Size assumed for a target that was never measured, when its job has
    /// no measured target either.
    pub default_target_series: u64,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            max_series: 1_000_000,
            max_samples_per_second: 100_000,
            target_utilization: 0.8,
            high_watermark: 0.9,
            max_moves: 200_000,
            min_shards: 1,
            max_shards: 64,
            replicas: 1,
            handover_scrapes: 2,
            scale_down_after: Duration::from_secs(3600),
            failover_after: Duration::from_secs(120),
            idle_before_remove: Duration::from_secs(600),
            default_target_series: 1_000,
        }
    }
}

/// Settings the planner cannot work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// `max_series` is zero.
    #[error("plan settings: max_series must be at least 1")]
    ZeroCapacity,
    /// A utilisation fraction is out of range.
    #[error(
        "plan settings: need 0 < target_utilization ({target}) <= high_watermark ({high}) <= 1"
    )]
    Utilization {
        /// The target utilisation given.
        target: f64,
        /// The high watermark given.
        high: f64,
    },
    /// Shard bounds are inconsistent.
    #[error("plan settings: need 1 <= min_shards ({min}) <= max_shards ({max})")]
    ShardBounds {
        /// `min_shards` given.
        min: u32,
        /// `max_shards` given.
        max: u32,
    },
    /// `replicas` is zero.
    #[error("plan settings: replicas must be at least 1")]
    ZeroReplicas,
}

impl PlanSettings {
    /// Checks that the settings make sense.
    ///
    /// # Errors
    /// [`PlanError`] naming the offending setting.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.max_series == 0 {
            return Err(PlanError::ZeroCapacity);
        }
        let target = self.target_utilization;
        let high = self.high_watermark;
        let in_range =
            target.is_finite() && high.is_finite() && target > 0.0 && target <= high && high <= 1.0;
        if !in_range {
            return Err(PlanError::Utilization { target, high });
        }
        if self.min_shards == 0 || self.min_shards > self.max_shards {
            return Err(PlanError::ShardBounds {
                min: self.min_shards,
                max: self.max_shards,
            });
        }
        if self.replicas == 0 {
            return Err(PlanError::ZeroReplicas);
        }
        Ok(())
    }

    /// Series a shard is packed to: `max_series * target_utilization`.
    pub fn target_series(&self) -> u64 {
        fraction_of(self.max_series, self.target_utilization)
    }

    /// Series above which a shard sheds: `max_series * high_watermark`.
    pub fn high_watermark_series(&self) -> u64 {
        fraction_of(self.max_series, self.high_watermark)
    }
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "a validated fraction in (0, 1] of a u64 fits in a u64; capacities are far below 2^53"
)]
fn fraction_of(value: u64, fraction: f64) -> u64 {
    let scaled = (value as f64 * fraction).floor();
    if scaled <= 0.0 {
        0
    } else if scaled >= value as f64 {
        value
    } else {
        scaled as u64
    }
}

/// What the planner decided in one cycle. Serialisable: the coordinator
/// serves the last one at `GET /api/v1/plan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The `now` the plan was made for.
    pub generated_at: Timestamp,
    /// Desired assignment of each shard index `0..shard_count`. Shard `i`
    /// of every replica group gets the same assignment.
    pub shards: Vec<ShardPlan>,
    /// Every desired target, sorted by id: where it is and why.
    pub targets: Vec<TargetPlan>,
    /// Moves started in this cycle.
    pub moves: Vec<Move>,
    /// The one scale decision of this cycle.
    pub scale: ScaleDecision,
    /// Things an operator should know about.
    pub warnings: Vec<Warning>,
    /// Pass this back as [`PlanInputs::scale_down_candidate_since`] next cycle.
    pub scale_down_candidate_since: Option<Timestamp>,
    /// Fleet-wide figures.
    pub summary: PlanSummary,
}

/// Fleet-wide figures of a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Desired targets.
    pub targets: usize,
    /// Sum of their sizes (measured or estimated).
    pub series: u64,
    /// Sum of their samples per second.
    pub samples_per_second: f64,
    /// Targets whose size is an estimate.
    pub estimated_targets: usize,
    /// Shards per replica group the targets need at the target utilisation,
    /// in both dimensions.
    pub needed_shards: u32,
    /// Fill level new targets were packed to, in series (the fleet's mean
    /// load, never above the target utilisation).
    pub fill_level: u64,
    /// The same level as a fraction of a shard's capacity, in both
    /// dimensions.
    pub fill_utilization: f64,
    /// Series moved this cycle under the move budget (shed and drain).
    pub budgeted_move_series: u64,
    /// Series moved this cycle by failover.
    pub failover_move_series: u64,
    /// Targets with no shard yet (waiting for one to become ready).
    pub pending_targets: usize,
    /// Handovers still waiting for the new shard's scrapes.
    pub handovers_in_progress: usize,
    /// Handovers completed this cycle (draining copies dropped).
    pub handovers_completed: usize,
    /// Reported assignments of targets that are no longer desired, dropped.
    pub dropped_unknown_targets: usize,
}

/// Aggregate state of one shard index across its replica groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotStatus {
    /// Every replica is ready.
    Ready,
    /// A replica is starting (for less than the failover delay), or is not
    /// reported at all.
    Starting,
    /// A replica has been unhealthy for less than the failover delay: it
    /// keeps its targets but gets no new ones.
    Unhealthy,
    /// A replica has been unhealthy, or starting, for longer than the
    /// failover delay: its targets move elsewhere.
    Failed,
}

/// Desired state of shard `index` (in every replica group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardPlan {
    /// Shard index.
    pub index: u32,
    /// Aggregate state of its replicas.
    pub status: SlotStatus,
    /// Being drained for removal.
    pub removing: bool,
    /// Targets it should serve, sorted by id.
    pub targets: Vec<AssignedTarget>,
    /// Series of its active targets.
    pub active_series: u64,
    /// Series of its draining targets.
    pub draining_series: u64,
    /// Series its head holds as far as the planner knows: the larger of the
    /// reported head series and active + draining.
    pub head_series: u64,
    /// Samples per second of its active targets.
    pub active_samples_per_second: f64,
    /// Samples per second of its active and draining targets (a draining
    /// target is scraped by both shards until the handover completes).
    pub samples_per_second: f64,
    /// How full it is in each dimension (head series, samples per second
    /// of active and draining targets), and which one binds.
    pub utilization: Utilization,
}

/// One entry of a shard's desired assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedTarget {
    /// Target id (shared with [`TargetPlan::id`]).
    #[serde(with = "arc_str")]
    pub id: Arc<str>,
    /// Active or draining.
    pub role: Role,
}

/// Where one target is and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetPlan {
    /// Target id.
    #[serde(with = "arc_str")]
    pub id: Arc<str>,
    /// Its job.
    #[serde(with = "arc_str")]
    pub job: Arc<str>,
    /// Size used for packing.
    pub series: u64,
    /// Its series per scrape interval.
    pub samples_per_second: f64,
    /// Which of its two loads is the larger part of a shard.
    pub bound_by: Dimension,
    /// `series` is an estimate (never measured).
    pub estimated: bool,
    /// Larger than a whole shard (`max_series` or
    /// `max_samples_per_second`).
    pub oversize: bool,
    /// The shard index it is active on; `None` while pending.
    pub shard: Option<u32>,
    /// Shards still scraping it while it is handed over.
    pub draining_on: Vec<u32>,
    /// Why it is where it is.
    pub reason: Reason,
}

/// Why a target is where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// It was already there (placement is sticky).
    Sticky,
    /// It was only draining there (its new home failed): it stays.
    Reactivated,
    /// New target, best fit under the fleet's fill level.
    NewBestFit,
    /// New target that fitted under no shard's fill level: least-loaded shard
    /// under the target utilisation.
    NewLeastLoaded,
    /// Larger than the target utilisation: alone on an empty shard.
    Alone,
    /// Moved off `from`, which was above the high watermark.
    Shed {
        /// The overloaded shard.
        from: u32,
    },
    /// Moved off `from`, which is being removed.
    Drained {
        /// The shard being removed.
        from: u32,
    },
    /// Moved off `from`, which stopped answering for longer than the failover
    /// delay.
    Failover {
        /// The failed shard.
        from: u32,
    },
    /// Its shard failed and no other shard has room yet: it stays there
    /// until one has.
    FailoverWaiting,
    /// No shard had room and the maximum shard count is reached: put on the
    /// least-loaded shard anyway (see [`Warning::CapacityExhausted`]).
    Overfilled,
    /// No shard yet: waiting for a shard to become ready.
    Pending,
}

/// Why a move happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    /// The old shard was above the high watermark.
    Shed,
    /// The old shard is being removed.
    Drain,
    /// The old shard failed.
    Failover,
}

/// One target starting to move in this cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// Target id.
    pub target: String,
    /// Shard it leaves (it drains there until the handover completes).
    pub from: u32,
    /// Shard it becomes active on.
    pub to: u32,
    /// Its size.
    pub series: u64,
    /// Why.
    pub reason: MoveReason,
}

/// The single scale decision of a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ScaleDecision {
    /// Keep the shard count.
    None,
    /// Scale every replica group to `to` shards. Targets are placed on the
    /// new shards once they report ready.
    Up {
        /// New shard count.
        to: u32,
        /// Why.
        reason: ScaleReason,
    },
    /// Mark shard `shard` (the highest) for removal; its targets are handed
    /// over to the others from the next cycle on.
    Drain {
        /// Shard to drain.
        shard: u32,
        /// Why.
        reason: ScaleReason,
    },
    /// The fleet needs the shard being drained after all: unmark it.
    CancelDrain {
        /// Shard to keep.
        shard: u32,
    },
    /// Remove shard `shard`: it has held no targets for the idle period.
    Remove {
        /// Shard to remove (the highest).
        shard: u32,
    },
}

/// Why the shard count changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleReason {
    /// The targets need more shards at the target utilisation.
    NeedCapacity,
    /// Fewer shards than `min_shards`.
    BelowMinimum,
    /// More shards than `max_shards`.
    AboveMaximum,
    /// The fleet fitted in fewer shards for `scale_down_after`.
    Underutilized,
}

/// Something an operator should know about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// A target larger than a whole shard: it gets a shard of its own.
    Oversize {
        /// Target id.
        target: String,
        /// Its size.
        series: u64,
        /// Its samples per second, rounded.
        samples_per_second: u64,
        /// Which capacity it exceeds most.
        bound_by: Dimension,
    },
    /// No room and no more shards allowed: targets were put on shards
    /// beyond the target utilisation.
    CapacityExhausted {
        /// Targets overfilled.
        targets: usize,
        /// Their series.
        series: u64,
    },
    /// A shard above its capacity after this plan.
    OverCapacity {
        /// Shard index.
        shard: u32,
        /// Its active series.
        series: u64,
        /// Its active samples per second, rounded.
        samples_per_second: u64,
        /// The capacity it exceeds most.
        bound_by: Dimension,
    },
    /// A shard above the high watermark that could not shed enough this cycle.
    Overloaded {
        /// Shard index.
        shard: u32,
        /// Its active series.
        series: u64,
        /// Its active samples per second, rounded.
        samples_per_second: u64,
        /// The capacity it exceeds most.
        bound_by: Dimension,
        /// Series it could not shed for lack of room elsewhere.
        no_room_series: u64,
        /// Series it could not shed within the move budget.
        over_budget_series: u64,
    },
    /// Targets without a shard until one becomes ready.
    Pending {
        /// How many.
        targets: usize,
        /// Their series.
        series: u64,
    },
    /// Targets whose shard failed and that no other shard can take yet.
    FailoverWaiting {
        /// How many.
        targets: usize,
        /// Their series.
        series: u64,
    },
    /// A shard reported targets also active elsewhere (typically a shard back
    /// from a failover): its copies are drained and dropped.
    StaleCopies {
        /// Shard index.
        shard: u32,
        /// Targets concerned.
        targets: usize,
    },
    /// The same target id appeared more than once in the desired targets.
    DuplicateTarget {
        /// Target id.
        target: String,
    },
    /// A shard reported a replica group outside `0..replicas`: ignored.
    UnknownReplicaGroup {
        /// Shard index.
        shard: u32,
        /// The group it claimed.
        group: u32,
    },
    /// A shard being removed is not the highest one, so it cannot be
    /// removed yet; it stays empty.
    RemovingNotHighest {
        /// Shard index.
        shard: u32,
    },
}

/// Serde for the shared strings of a plan (without serde's `rc` feature):
/// plain JSON strings.
mod arc_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Arc<str>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Arc<str>, D::Error> {
        String::deserialize(deserializer).map(Arc::from)
    }
}
