//! Synthetic fleets for tests, benchmarks and the packing report: seeded
//! heavy-tailed target sizes, and [`Fleet`], a simulated set of shards that
//! applies each plan the way a well-behaved coordinator and its sidecars would.
//!
//! Test scaffolding: compiled only with the `testing` feature, which the
//! crate's tests and examples, the benchmarks and the root package's tests
//! turn on through their dev-dependencies.
//!
//! ```
//! use promshard_plan::{PlanSettings, Timestamp, synth::{Fleet, synthetic_targets}};
//!
//! let mut fleet = Fleet::new(PlanSettings::default(), 2, Timestamp::from_millis(0));
//! fleet.targets = synthetic_targets(100, 2_000, 50_000, 7).into_iter().map(|t| t.input()).collect();
//! let first = fleet.step().unwrap();
//! assert_eq!(first.summary.pending_targets, 0);
//! fleet.settle(10).unwrap();
//! assert!(fleet.step().unwrap().moves.is_empty());
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::planner::plan;
use crate::types::{
    Plan, PlanError, PlanInputs, PlanSettings, ReportedTarget, Role, ScaleDecision, ShardHealth,
    ShardInput, TargetInput, Timestamp,
};

/// SplitMix64: a tiny seeded generator, so that synthetic fleets are the
/// same on every machine.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    #[expect(
        clippy::cast_precision_loss,
        reason = "53 random bits fit a double exactly"
    )]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A synthetic scrape target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticTarget {
    /// Hex id.
    pub id: String,
    /// Job name.
    pub job: String,
    /// `__address__`, for the hash baselines.
    pub address: String,
    /// Size in series.
    pub series: u64,
}

impl SyntheticTarget {
    /// The planner input for it (measured).
    pub fn input(&self) -> TargetInput {
        TargetInput::new(self.id.as_str(), self.job.as_str(), Some(self.series))
    }
}

/// `count` targets with heavy-tailed sizes (Pareto, shape 1.2: most targets
/// small, a few kube-state-metrics-sized ones) scaled to a mean of about
/// `mean` series and capped at `max`, seeded by `seed`.
#[expect(
    clippy::cast_possible_truncation,
    reason = "sizes are positive and far below 2^53"
)]
pub fn synthetic_targets(count: usize, mean: u64, max: u64, seed: u64) -> Vec<SyntheticTarget> {
    let mut rng = SplitMix64::new(seed);
    let raw: Vec<f64> = (0..count)
        .map(|_| {
            let u = 1.0 - rng.next_f64();
            u.powf(-1.0 / 1.2).min(1_000.0)
        })
        .collect();
    let raw_mean = raw.iter().sum::<f64>() / count.max(1) as f64;
    let scale = mean as f64 / raw_mean.max(f64::MIN_POSITIVE);
    let jobs = ["node", "kubelet", "cadvisor", "app", "kube-state-metrics"];
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let series = ((r * scale).round() as u64).clamp(1, max.max(1));
            let bits = rng.next_u64();
            let job = jobs[(bits % jobs.len() as u64) as usize];
            SyntheticTarget {
                id: format!("{:016x}", rng.next_u64()),
                job: job.to_owned(),
                address: format!(
                    "10.{}.{}.{}:{}",
                    (i >> 16) & 255,
                    (i >> 8) & 255,
                    i & 255,
                    9100 + (bits >> 32) % 7
                ),
                series,
            }
        })
        .collect()
}

/// A simulated fleet: shards that apply every plan at once, scrape each of
/// their targets `scrapes_per_cycle` times per cycle, start in one cycle, and
/// report what they hold.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Planner settings.
    pub settings: PlanSettings,
    /// The current time.
    pub now: Timestamp,
    /// Length of one cycle.
    pub cycle: Duration,
    /// Successful scrapes each shard makes of each target per cycle.
    pub scrapes_per_cycle: u64,
    /// The desired targets.
    pub targets: Vec<TargetInput>,
    /// Every shard of every replica group.
    pub shards: Vec<ShardInput>,
    /// The loop's only memory.
    pub scale_down_candidate_since: Option<Timestamp>,
}

impl Fleet {
    /// `shards` ready, empty shards in each replica group.
    pub fn new(settings: PlanSettings, shards: u32, now: Timestamp) -> Self {
        let mut fleet = Self {
            shards: Vec::new(),
            settings,
            now,
            cycle: Duration::from_secs(30),
            scrapes_per_cycle: 2,
            targets: Vec::new(),
            scale_down_candidate_since: None,
        };
        for index in 0..shards {
            fleet.add_shard(index, ShardHealth::Ready);
        }
        fleet
    }

    fn add_shard(&mut self, index: u32, health: ShardHealth) {
        for group in 0..self.settings.replicas {
            self.shards.push(ShardInput {
                index,
                group,
                health,
                removing: false,
                head_series: None,
                idle_since: Some(self.now),
                targets: Vec::new(),
            });
        }
    }

    /// What the coordinator would feed the planner now.
    pub fn inputs(&self) -> PlanInputs {
        PlanInputs {
            targets: self.targets.clone(),
            shards: self.shards.clone(),
            scale_down_candidate_since: self.scale_down_candidate_since,
        }
    }

    /// Shard count per replica group.
    pub fn shard_count(&self) -> u32 {
        self.shards.iter().map(|s| s.index + 1).max().unwrap_or(0)
    }

    /// Plans, applies the plan and lets one cycle pass.
    ///
    /// # Errors
    /// [`PlanError`] for invalid settings.
    pub fn step(&mut self) -> Result<Plan, PlanError> {
        let plan = plan(&self.inputs(), &self.settings, self.now)?;
        self.apply(&plan);
        self.tick();
        Ok(plan)
    }

    /// Steps until a cycle moves nothing, changes no scale and leaves nothing
    /// pending or handing over, at most `max_cycles` times; returns the
    /// cycles taken, or `None` if it did not settle.
    ///
    /// # Errors
    /// [`PlanError`] for invalid settings.
    pub fn settle(&mut self, max_cycles: usize) -> Result<Option<usize>, PlanError> {
        for cycle in 0..max_cycles {
            let plan = self.step()?;
            let quiet = plan.moves.is_empty()
                && plan.scale == ScaleDecision::None
                && plan.summary.pending_targets == 0
                && plan.summary.handovers_in_progress == 0
                && plan.summary.handovers_completed == 0;
            if quiet {
                return Ok(Some(cycle + 1));
            }
        }
        Ok(None)
    }

    /// Applies a plan: responsive shards take their new assignment, and the
    /// scale decision is carried out.
    pub fn apply(&mut self, plan: &Plan) {
        let desired: BTreeMap<u32, &crate::types::ShardPlan> =
            plan.shards.iter().map(|s| (s.index, s)).collect();
        for shard in &mut self.shards {
            if matches!(shard.health, ShardHealth::Unhealthy { .. }) {
                continue;
            }
            let Some(want) = desired.get(&shard.index) else {
                continue;
            };
            let before: BTreeMap<&str, (u64, Option<Timestamp>, Role)> = shard
                .targets
                .iter()
                .map(|t| (t.id.as_str(), (t.scrapes, t.assigned_at, t.role)))
                .collect();
            let next: Vec<ReportedTarget> = want
                .targets
                .iter()
                .map(|t| ReportedTarget {
                    id: t.id.to_string(),
                    role: t.role,
                    scrapes: before.get(&*t.id).map_or(0, |b| b.0),
                    // Like a sidecar: the time of the current role.
                    assigned_at: match before.get(&*t.id) {
                        Some(b) if b.2 == t.role => b.1,
                        _ => Some(self.now),
                    },
                })
                .collect();
            shard.targets = next;
        }
        match plan.scale {
            ScaleDecision::None => {}
            ScaleDecision::Up { to, .. } => {
                for index in self.shard_count()..to {
                    self.add_shard(index, ShardHealth::Starting { since: self.now });
                }
            }
            ScaleDecision::Drain { shard, .. } => self.set_removing(shard, true),
            ScaleDecision::CancelDrain { shard } => self.set_removing(shard, false),
            ScaleDecision::Remove { shard } => self.shards.retain(|s| s.index != shard),
        }
        self.scale_down_candidate_since = plan.scale_down_candidate_since;
    }

    fn set_removing(&mut self, index: u32, removing: bool) {
        for shard in self.shards.iter_mut().filter(|s| s.index == index) {
            shard.removing = removing;
        }
    }

    /// One cycle passes: ready shards scrape, starting ones become ready.
    pub fn tick(&mut self) {
        self.now = self.now.saturating_add(self.cycle);
        let sizes: BTreeMap<&str, u64> = self
            .targets
            .iter()
            .map(|t| (&*t.id, t.measured_series.unwrap_or(0)))
            .collect();
        for shard in &mut self.shards {
            match shard.health {
                ShardHealth::Ready => {
                    for t in &mut shard.targets {
                        t.scrapes += self.scrapes_per_cycle;
                    }
                }
                ShardHealth::Starting { .. } => shard.health = ShardHealth::Ready,
                ShardHealth::Unhealthy { .. } => continue,
            }
            if shard.targets.is_empty() {
                shard.idle_since.get_or_insert(self.now);
            } else {
                shard.idle_since = None;
            }
            let head: u64 = shard
                .targets
                .iter()
                .filter_map(|t| sizes.get(t.id.as_str()))
                .sum();
            shard.head_series = Some(head);
        }
    }

    /// Active series per shard index (of replica group 0), by the targets'
    /// measured sizes.
    pub fn active_loads(&self) -> Vec<u64> {
        let sizes: BTreeMap<&str, u64> = self
            .targets
            .iter()
            .map(|t| (&*t.id, t.measured_series.unwrap_or(0)))
            .collect();
        let mut loads = vec![0u64; self.shard_count() as usize];
        for shard in self.shards.iter().filter(|s| s.group == 0) {
            loads[shard.index as usize] += shard
                .targets
                .iter()
                .filter(|t| t.role == Role::Active)
                .filter_map(|t| sizes.get(t.id.as_str()))
                .sum::<u64>();
        }
        loads
    }
}
