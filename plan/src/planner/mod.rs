//! The planning cycle, as phases that hand their results to the next:
//!
//! 1. [`reports`]: the desired targets with their loads, the shard
//!    indexes with their health, and each target's home and handover state
//!    rebuilt from what the sidecars report.
//! 2. [`decide`]: the outlook (shards needed, the fill level), placing what
//!    nobody scrapes, shedding and draining within the move budget, the
//!    scale decision, and what cannot be placed yet.
//! 3. [`assemble`]: the [`Plan`] with every target's reason and the
//!    warnings.
//!
//! Loads are two-dimensional ([`load`]): head series and samples per
//! second, each held to its own capacity.

mod assemble;
mod bins;
mod decide;
mod hash;
mod load;
mod reports;

use std::sync::Arc;

use crate::types::{
    Plan, PlanError, PlanInputs, PlanSettings, Reason, SlotStatus, Timestamp, Warning,
};
use load::{Load, Scale};

/// Plans one coordinator cycle.
///
/// Pure and deterministic: the same inputs (in any order) and `now` give a
/// byte-identical plan. See the crate documentation for the rules.
///
/// # Errors
/// [`PlanError`] if `settings` are invalid; inputs never cause an error.
pub fn plan(
    inputs: &PlanInputs,
    settings: &PlanSettings,
    now: Timestamp,
) -> Result<Plan, PlanError> {
    settings.validate()?;
    let mut planner = Planner::new(inputs, settings, now);
    planner.collect_targets();
    planner.collect_slots();
    planner.reconcile();
    planner.count_loads();
    let outlook = planner.outlook();
    let mut bins = planner.bins(&outlook);
    let unplaced = planner.place_unscraped(&mut bins, &outlook);
    let moved = planner.shed_and_drain(&mut bins);
    let scale = planner.decide_scale(&outlook, &unplaced, &moved);
    let waiting = planner.settle_unplaced(&mut bins, &unplaced, &outlook, &scale);
    Ok(planner.assemble(&outlook, &moved, &scale, &waiting))
}

/// What a target without a usable home needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Nothing: it has a home.
    Nothing,
    /// Never placed.
    New,
    /// Its only copies are on failed shards; `from` is the one it was
    /// active on.
    Failover { from: u32 },
}

/// One desired target while a cycle is planned.
///
/// Kept small (one per target, visited in every pass): a boxed slice for
/// the rarely non-empty draining list, a 32-bit input position.
#[derive(Debug)]
struct Target<'a> {
    id: &'a Arc<str>,
    job: &'a Arc<str>,
    load: Load,
    /// Larger than the packing goal in some dimension: it needs a shard of
    /// its own.
    large: bool,
    draining: Box<[u32]>,
    /// Position in the inputs.
    input: u32,
    home: Option<u32>,
    need: Need,
    reason: Reason,
    estimated: bool,
}

impl Target<'_> {
    fn in_handover(&self) -> bool {
        !self.draining.is_empty()
    }

    /// Drains on `from` (its old home) while `to` becomes its home.
    fn hand_over(&mut self, from: u32, to: u32) {
        let mut draining = std::mem::take(&mut self.draining).into_vec();
        draining.retain(|&s| s != to);
        draining.push(from);
        draining.sort_unstable();
        draining.dedup();
        self.draining = draining.into_boxed_slice();
    }
}

/// One shard index, aggregated over its replica groups.
#[derive(Debug, Clone)]
struct Slot {
    status: SlotStatus,
    removing: bool,
    replicas_seen: u32,
    head_reported: Option<u64>,
    /// Latest `idle_since` over the replicas; `None` unless every replica
    /// reports one.
    idle_since: Option<Timestamp>,
    idle_replicas: u32,
    reported_entries: usize,
    /// Load of the targets active here.
    steady: Load,
    /// Load of the targets draining here.
    draining: Load,
    stale_copies: usize,
}

impl Slot {
    fn new() -> Self {
        Self {
            status: SlotStatus::Ready,
            removing: false,
            replicas_seen: 0,
            head_reported: None,
            idle_since: None,
            idle_replicas: 0,
            reported_entries: 0,
            steady: Load::default(),
            draining: Load::default(),
            stale_copies: 0,
        }
    }

    fn usable(&self) -> bool {
        self.status == SlotStatus::Ready && !self.removing
    }

    /// What its head holds as far as the planner knows: the larger of the
    /// reported head series and its active plus draining series (moved
    /// series stay in a head until compaction), and the samples per second
    /// of its active and draining targets (both are scraped).
    fn head_load(&self) -> Load {
        let scraped = self.steady.add(self.draining);
        Load {
            series: self.head_reported.unwrap_or(0).max(scraped.series),
            rate: scraped.rate,
        }
    }

    fn holds_nothing(&self) -> bool {
        self.steady.is_zero() && self.draining.is_zero()
    }
}

/// The state of one cycle's planning.
struct Planner<'a> {
    settings: &'a PlanSettings,
    inputs: &'a PlanInputs,
    now: Timestamp,
    scale: Scale,
    targets: Vec<Target<'a>>,
    slots: Vec<Slot>,
    warnings: Vec<Warning>,
    moves: Vec<crate::types::Move>,
    dropped_unknown: usize,
    handovers_completed: usize,
}

impl<'a> Planner<'a> {
    fn new(inputs: &'a PlanInputs, settings: &'a PlanSettings, now: Timestamp) -> Self {
        Self {
            settings,
            inputs,
            now,
            scale: Scale::new(settings),
            targets: Vec::new(),
            slots: Vec::new(),
            warnings: Vec::new(),
            moves: Vec::new(),
            dropped_unknown: 0,
            handovers_completed: 0,
        }
    }

    fn slot_count(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }
}

fn count_u32<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

/// The first 8 bytes of `s`, zero-padded, as a big-endian integer: ordering
/// these orders the strings, except on ties.
fn prefix_key(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut key = [0u8; 8];
    let n = bytes.len().min(8);
    key[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(key)
}
