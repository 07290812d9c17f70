//! The planning cycle: reconcile what the sidecars report, decide the scale,
//! shed, drain, fail over and place.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::types::{
    AssignedTarget, Move, MoveReason, Plan, PlanError, PlanInputs, PlanSettings, PlanSummary,
    Reason, Role, ScaleDecision, ScaleReason, ShardHealth, ShardPlan, SlotStatus, TargetPlan,
    Timestamp, Warning,
};

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
    Ok(Planner::new(inputs, settings, now).run())
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
    series: u64,
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
    steady: u64,
    draining: u64,
    stale_copies: usize,
}

impl Slot {
    fn usable(&self) -> bool {
        self.status == SlotStatus::Ready && !self.removing
    }
}

/// One copy of a target on one shard index, aggregated over replicas.
#[derive(Debug, Clone, Copy)]
struct Copy {
    slot: u32,
    active: bool,
    /// Ready replicas listing it.
    listing_ready: u32,
    min_scrapes_ready: u64,
    min_scrapes_any: u64,
    /// Latest time a replica got it.
    assigned_at: Option<Timestamp>,
}

struct Planner<'a> {
    settings: &'a PlanSettings,
    inputs: &'a PlanInputs,
    now: Timestamp,
    target_cap: u64,
    high_cap: u64,
    targets: Vec<Target<'a>>,
    slots: Vec<Slot>,
    warnings: Vec<Warning>,
    moves: Vec<Move>,
    dropped_unknown: usize,
    handovers_completed: usize,
}

/// Placement bookkeeping over the usable shards.
struct Bins {
    load: Vec<u64>,
    level: u64,
    target_cap: u64,
    by_room: SortedVec<(u64, u32)>,
    by_load: SortedVec<(u64, u32)>,
    empty: SortedVec<u32>,
}

impl Bins {
    fn insert(&mut self, slot: u32) {
        let load = self.load[slot as usize];
        if load <= self.level {
            self.by_room.insert((self.level - load, slot));
        }
        self.by_load.insert((load, slot));
    }

    fn remove(&mut self, slot: u32) {
        let load = self.load[slot as usize];
        if load <= self.level {
            self.by_room.remove(&(self.level - load, slot));
        }
        self.by_load.remove(&(load, slot));
    }

    fn commit(&mut self, slot: u32, series: u64) {
        self.remove(slot);
        self.load[slot as usize] = self.load[slot as usize].saturating_add(series);
        self.empty.remove(&slot);
        self.insert(slot);
    }

    /// Best fit under the fill level, else (unless `fill_only`) the
    /// least-loaded shard that stays under the target utilisation.
    fn place_regular(&mut self, series: u64, fill_only: bool) -> Option<(u32, bool)> {
        if let Some((_, slot)) = self.by_room.first_at_least((series, 0)) {
            self.commit(slot, series);
            return Some((slot, true));
        }
        if fill_only {
            return None;
        }
        let &(load, slot) = self.by_load.first()?;
        if load.saturating_add(series) <= self.target_cap {
            self.commit(slot, series);
            return Some((slot, false));
        }
        None
    }

    /// The least-loaded shard if it stays within `limit`.
    fn place_under(&mut self, series: u64, limit: u64) -> Option<u32> {
        let &(load, slot) = self.by_load.first()?;
        if load.saturating_add(series) > limit {
            return None;
        }
        self.commit(slot, series);
        Some(slot)
    }

    /// The lowest empty shard, for a target above the target utilisation.
    fn place_alone(&mut self, series: u64) -> Option<u32> {
        let slot = *self.empty.first()?;
        self.commit(slot, series);
        Some(slot)
    }

    /// Capacity exhausted: the least-loaded shard, preferring an empty one
    /// for a target that needs to be alone.
    fn place_over(&mut self, series: u64, alone: bool) -> Option<u32> {
        let slot = if alone {
            match self.empty.first() {
                Some(&slot) => slot,
                None => self.by_load.first()?.1,
            }
        } else {
            self.by_load.first()?.1
        };
        self.commit(slot, series);
        Some(slot)
    }
}

impl<'a> Planner<'a> {
    fn new(inputs: &'a PlanInputs, settings: &'a PlanSettings, now: Timestamp) -> Self {
        let target_cap = settings.target_series().max(1);
        let high_cap = settings.high_watermark_series().max(target_cap);
        Self {
            settings,
            inputs,
            now,
            target_cap,
            high_cap,
            targets: Vec::new(),
            slots: Vec::new(),
            warnings: Vec::new(),
            moves: Vec::new(),
            dropped_unknown: 0,
            handovers_completed: 0,
        }
    }

    fn run(mut self) -> Plan {
        self.collect_targets();
        self.collect_slots();
        self.reconcile();
        self.count_loads();
        self.decide_and_place()
    }

    /// Sorted, de-duplicated targets with their size estimates.
    fn collect_targets(&mut self) {
        let all = &self.inputs.targets;
        // Sorting on the ids' first bytes as an integer, then the full key on
        // ties: the same order as sorting the strings, with far fewer
        // string comparisons. The size travels with the key, so that the
        // inputs are read in their own order only (once sorted, a target
        // is made from its key without touching its input).
        let mut keyed: Vec<(u64, u32, Option<u64>)> = all
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                (prefix_key(&t.id), i, t.measured_series)
            })
            .collect();
        keyed.sort_unstable_by(|&(ka, a, ma), &(kb, b, mb)| {
            ka.cmp(&kb).then_with(|| {
                let (ta, tb) = (&all[a as usize], &all[b as usize]);
                (&*ta.id, &*ta.job, ma, a).cmp(&(&*tb.id, &*tb.job, mb, b))
            })
        });

        // Median measured size per job, for targets never measured (if any).
        let mut measured: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        if all.iter().any(|t| t.measured_series.is_none()) {
            for t in all {
                if let Some(series) = t.measured_series {
                    measured.entry(&*t.job).or_default().push(series);
                }
            }
        }
        let medians: BTreeMap<&str, u64> = measured
            .into_iter()
            .map(|(job, mut sizes)| {
                let middle = (sizes.len() - 1) / 2;
                let (_, median, _) = sizes.select_nth_unstable(middle);
                (job, *median)
            })
            .collect();
        let mut targets: Vec<Target<'a>> = Vec::with_capacity(all.len());
        let mut last_key = None;
        for (key, i, measured_series) in keyed {
            let t = &all[i as usize];
            if last_key == Some(key) && targets.last().is_some_and(|last| *last.id == t.id) {
                self.warnings.push(Warning::DuplicateTarget {
                    target: t.id.to_string(),
                });
                continue;
            }
            last_key = Some(key);
            let (series, estimated) = match measured_series {
                Some(series) => (series, false),
                None => (
                    medians
                        .get(&*t.job)
                        .copied()
                        .unwrap_or(self.settings.default_target_series),
                    true,
                ),
            };
            targets.push(Target {
                id: &t.id,
                job: &t.job,
                series,
                draining: Box::default(),
                input: i,
                home: None,
                need: Need::New,
                reason: Reason::Pending,
                estimated,
            });
        }
        self.targets = targets;
    }

    /// Aggregates the shards of every replica group into shard indexes.
    fn collect_slots(&mut self) {
        let replicas = self.settings.replicas;
        let count = self
            .inputs
            .shards
            .iter()
            .filter(|s| s.group < replicas)
            .map(|s| u64::from(s.index) + 1)
            .max()
            .unwrap_or(0);
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let mut slots = vec![
            Slot {
                status: SlotStatus::Ready,
                removing: false,
                replicas_seen: 0,
                head_reported: None,
                idle_since: None,
                idle_replicas: 0,
                reported_entries: 0,
                steady: 0,
                draining: 0,
                stale_copies: 0,
            };
            count
        ];
        // Deterministic order for the warnings below.
        let mut shards: Vec<&crate::types::ShardInput> = self.inputs.shards.iter().collect();
        shards.sort_by_key(|s| (s.index, s.group));
        let mut seen: BTreeSet<(u32, u32)> = BTreeSet::new();
        for shard in shards {
            if shard.group >= replicas {
                self.warnings.push(Warning::UnknownReplicaGroup {
                    shard: shard.index,
                    group: shard.group,
                });
                continue;
            }
            let slot = &mut slots[shard.index as usize];
            if seen.insert((shard.index, shard.group)) {
                slot.replicas_seen += 1;
            }
            let overdue = |since: Timestamp| self.now.since(since) >= self.settings.failover_after;
            let status = match shard.health {
                ShardHealth::Ready => SlotStatus::Ready,
                // A shard that never becomes ready (a crash loop, a pod that
                // never turns Ready) is as lost as one that stopped.
                ShardHealth::Starting { since } if overdue(since) => SlotStatus::Failed,
                ShardHealth::Starting { .. } => SlotStatus::Starting,
                ShardHealth::Unhealthy { since } if overdue(since) => SlotStatus::Failed,
                ShardHealth::Unhealthy { .. } => SlotStatus::Unhealthy,
            };
            slot.status = worst(slot.status, status);
            slot.removing |= shard.removing;
            if let Some(head) = shard.head_series {
                slot.head_reported = Some(slot.head_reported.unwrap_or(0).max(head));
            }
            if let Some(idle) = shard.idle_since {
                slot.idle_replicas += 1;
                slot.idle_since = Some(slot.idle_since.map_or(idle, |prev| prev.max(idle)));
            }
            slot.reported_entries += shard.targets.len();
        }
        for slot in &mut slots {
            if slot.replicas_seen < replicas {
                slot.status = worst(slot.status, SlotStatus::Starting);
            }
            if slot.idle_replicas < replicas {
                slot.idle_since = None;
            }
        }
        self.slots = slots;
    }

    /// Rebuilds each target's home and handover state from the reports.
    fn reconcile(&mut self) {
        if self.inputs.shards.iter().all(|s| s.targets.is_empty()) {
            // A first placement: nothing to reconcile, no index to build.
            return;
        }
        // A hash map for lookups only: nothing iterates it.
        // Built in input order, which is also memory order: hashing the ids
        // in sorted order would visit them at random.
        let mut by_input: Vec<(u32, u32)> = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.input, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        by_input.sort_unstable();
        let mut index: IdMap<&'a str, u32> =
            IdMap::with_capacity_and_hasher(by_input.len(), BuildHasherDefault::default());
        let all = &self.inputs.targets;
        for (input, i) in by_input {
            index.insert(&*all[input as usize].id, i);
        }
        // (target, slot, group, active, scrapes, replica ready, assigned at)
        #[expect(
            clippy::type_complexity,
            reason = "a sort key, used in this function only"
        )]
        let mut raw: Vec<(u32, u32, u32, bool, u64, bool, Option<Timestamp>)> = Vec::new();
        for shard in &self.inputs.shards {
            if shard.group >= self.settings.replicas {
                continue;
            }
            let ready = shard.health == ShardHealth::Ready;
            for reported in &shard.targets {
                match index.get(reported.id.as_str()) {
                    Some(&t) => raw.push((
                        t,
                        shard.index,
                        shard.group,
                        reported.role == Role::Active,
                        reported.scrapes,
                        ready,
                        reported.assigned_at,
                    )),
                    None => self.dropped_unknown += 1,
                }
            }
        }
        raw.sort_unstable();
        let n = self.settings.handover_scrapes;
        let replicas = self.settings.replicas;
        let mut copies: Vec<Copy> = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let target = raw[i].0;
            copies.clear();
            while i < raw.len() && raw[i].0 == target {
                let slot = raw[i].1;
                let mut copy = Copy {
                    slot,
                    active: false,
                    listing_ready: 0,
                    min_scrapes_ready: u64::MAX,
                    min_scrapes_any: u64::MAX,
                    assigned_at: None,
                };
                let mut last_group = None;
                while i < raw.len() && raw[i].0 == target && raw[i].1 == slot {
                    let (_, _, group, active, scrapes, ready, assigned_at) = raw[i];
                    copy.active |= active;
                    copy.assigned_at = copy.assigned_at.max(assigned_at);
                    copy.min_scrapes_any = copy.min_scrapes_any.min(scrapes);
                    if ready {
                        if last_group != Some(group) {
                            copy.listing_ready += 1;
                        }
                        copy.min_scrapes_ready = copy.min_scrapes_ready.min(scrapes);
                    }
                    last_group = Some(group);
                    i += 1;
                }
                copies.push(copy);
            }
            self.settle_target(target as usize, &copies, n, replicas);
        }
    }

    /// Picks the home of one reported target and decides what happens to
    /// its other copies.
    fn settle_target(&mut self, t: usize, copies: &[Copy], handover: u64, replicas: u32) {
        let slots = &self.slots;
        let status = |c: &Copy| slots[c.slot as usize].status;
        let removing = |c: &Copy| slots[c.slot as usize].removing;
        // The newest active copy on a live shard: duplicates come from a
        // shard that returns after its targets failed over, and the copy
        // assigned last is the coordinator's latest decision. Without
        // assignment times, the one with the fewest scrapes is the newest.
        let home = copies
            .iter()
            .filter(|c| c.active && status(c) != SlotStatus::Failed)
            .min_by_key(|c| {
                (
                    removing(c),
                    Reverse(c.assigned_at),
                    c.min_scrapes_any,
                    c.slot,
                )
            })
            .map(|c| (c, Reason::Sticky))
            .or_else(|| {
                // Only draining copies are live: the handover's new home was
                // lost, so the old one keeps it.
                copies
                    .iter()
                    .filter(|c| status(c) != SlotStatus::Failed)
                    .min_by_key(|c| (!slots[c.slot as usize].usable(), removing(c), c.slot))
                    .map(|c| (c, Reason::Reactivated))
            });
        let target = &mut self.targets[t];
        let Some((home, reason)) = home else {
            // Every copy is on a failed shard.
            let from = copies
                .iter()
                .filter(|c| c.active)
                .map(|c| c.slot)
                .min()
                .or_else(|| copies.iter().map(|c| c.slot).min())
                .unwrap_or(0);
            target.need = Need::Failover { from };
            target.home = Some(from);
            target.reason = Reason::FailoverWaiting;
            target.draining = copies
                .iter()
                .map(|c| c.slot)
                .filter(|&s| s != from)
                .collect();
            return;
        };
        let home_slot = &slots[home.slot as usize];
        let home_scrapes =
            if home_slot.status == SlotStatus::Ready && home.listing_ready >= replicas {
                home.min_scrapes_ready
            } else {
                0
            };
        target.need = Need::Nothing;
        target.home = Some(home.slot);
        target.reason = reason;
        let others = copies.iter().filter(|c| c.slot != home.slot);
        if home_scrapes >= handover {
            if copies.len() > 1 {
                self.handovers_completed += 1;
            }
        } else {
            target.draining = others.clone().map(|c| c.slot).collect();
        }
        for other in others.filter(|c| c.active) {
            self.slots[other.slot as usize].stale_copies += 1;
        }
    }

    fn count_loads(&mut self) {
        for target in &self.targets {
            if target.need != Need::Nothing {
                continue;
            }
            if let Some(home) = target.home {
                self.slots[home as usize].steady += target.series;
            }
            for &slot in &target.draining {
                self.slots[slot as usize].draining += target.series;
            }
        }
    }

    fn head_load(&self, slot: usize) -> u64 {
        let s = &self.slots[slot];
        s.head_reported
            .unwrap_or(0)
            .max(s.steady.saturating_add(s.draining))
    }

    /// Shards per replica group the targets need at the target utilisation:
    /// one per target above it, plus best-fit-decreasing bins for the rest.
    fn needed_shards(&self) -> (u32, u32, u64) {
        let mut sizes: Vec<u64> = Vec::with_capacity(self.targets.len());
        let mut large = 0u32;
        let mut small_total = 0u64;
        for t in &self.targets {
            if t.series > self.target_cap {
                large = large.saturating_add(1);
            } else {
                sizes.push(t.series);
                small_total = small_total.saturating_add(t.series);
            }
        }
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let mut bins: SortedVec<(u64, u32)> = SortedVec::default();
        let mut count = 0u32;
        for size in sizes {
            if let Some((room, bin)) = bins.first_at_least((size, 0)) {
                bins.remove(&(room, bin));
                bins.insert((room - size, bin));
            } else {
                bins.insert((self.target_cap - size, count));
                count = count.saturating_add(1);
            }
        }
        (large.saturating_add(count), large, small_total)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one cycle's decisions read best in order"
    )]
    fn decide_and_place(mut self) -> Plan {
        let settings = self.settings;
        let slot_count = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        let (needed, large, small_total) = self.needed_shards();
        let failed = count_u32(self.slots.iter().filter(|s| s.status == SlotStatus::Failed));
        let removing = count_u32(
            self.slots
                .iter()
                .filter(|s| s.removing && s.status != SlotStatus::Failed),
        );
        // Shards on their way (within the failover delay): capacity that
        // targets without room may wait for instead of overfilling others.
        let starting = count_u32(
            self.slots
                .iter()
                .filter(|s| s.status == SlotStatus::Starting && !s.removing),
        );
        let available = slot_count.saturating_sub(failed).saturating_sub(removing);
        let extra_needed = needed.saturating_sub(available);
        let desired_total = slot_count
            .saturating_add(extra_needed)
            .max(settings.min_shards)
            .min(settings.max_shards.max(slot_count));
        let planned_usable = available
            .saturating_add(desired_total.saturating_sub(slot_count))
            .saturating_sub(large);
        let level = small_total
            .div_ceil(u64::from(planned_usable.max(1)))
            .min(self.target_cap);

        // Placement bookkeeping over the shards that take new targets.
        let mut bins = Bins {
            load: (0..self.slots.len()).map(|s| self.head_load(s)).collect(),
            level,
            target_cap: self.target_cap,
            by_room: SortedVec::default(),
            by_load: SortedVec::default(),
            empty: SortedVec::default(),
        };
        for (i, slot) in self.slots.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            if slot.usable() {
                bins.insert(i);
                if slot.steady == 0 && slot.draining == 0 {
                    bins.empty.insert(i);
                }
            }
        }

        // Pass A: targets nobody scrapes (new, or on a failed shard), largest
        // first. Not subject to the move budget.
        // Sort keys next to the indexes: sorting by a lookup into the targets
        // would miss the cache on every comparison. Unique keys, so an
        // unstable sort is deterministic.
        let mut order: Vec<(Reverse<u64>, usize, bool)> = self
            .targets
            .iter()
            .enumerate()
            .filter(|(_, target)| target.need != Need::Nothing)
            .map(|(t, target)| {
                let failover = matches!(target.need, Need::Failover { .. });
                (Reverse(target.series), t, failover)
            })
            .collect();
        order.sort_unstable();
        let mut unplaced: Vec<usize> = Vec::new();
        // Decided in size order from the sort keys alone, recorded in target
        // order: the targets are then visited once, in memory order.
        let mut placements: Vec<(usize, u32, Reason)> = Vec::with_capacity(order.len());
        for (Reverse(series), t, failover) in order {
            // While shards are on their way (starting, or asked for this
            // cycle), a new target that does not fit under the fill level
            // waits for them rather than filling the ready shards beyond
            // it: the fleet stays even.
            let fill_only = (starting > 0 || desired_total > slot_count) && !failover;
            let placed = if series > self.target_cap {
                bins.place_alone(series).map(|slot| (slot, Reason::Alone))
            } else if let Some((slot, best)) = bins.place_regular(series, fill_only) {
                let reason = if best {
                    Reason::NewBestFit
                } else {
                    Reason::NewLeastLoaded
                };
                Some((slot, reason))
            } else if failover {
                // Targets of a failed shard are not scraped at all: they may
                // fill shards up to the high watermark rather than wait for
                // a new shard.
                bins.place_under(series, self.high_cap)
                    .map(|slot| (slot, Reason::NewLeastLoaded))
            } else {
                None
            };
            match placed {
                Some((slot, reason)) => placements.push((t, slot, reason)),
                None => unplaced.push(t),
            }
        }
        placements.sort_unstable_by_key(|&(t, _, _)| t);
        for (t, slot, reason) in placements {
            self.settle_placed(t, slot, reason);
        }

        // Pass B: shed overloaded shards and drain removed ones, within the
        // move budget, largest first.
        let mut homes: Vec<Vec<usize>> = vec![Vec::new(); self.slots.len()];
        for (t, target) in self.targets.iter().enumerate() {
            if target.need == Need::Nothing
                && let Some(home) = target.home
            {
                homes[home as usize].push(t);
            }
        }
        // Targets that fit nowhere are not worth choosing to shed: a shard
        // sheds the fewest targets that other shards can take.
        let max_room = bins
            .by_load
            .first()
            .map_or(0, |&(load, _)| self.target_cap.saturating_sub(load));
        let has_empty = !bins.empty.is_empty();
        let placeable = |series: u64| {
            if series > self.target_cap {
                has_empty
            } else {
                series <= max_room
            }
        };
        let mut no_room: BTreeMap<u32, u64> = BTreeMap::new();
        let mut budgeted: Vec<(usize, u32, MoveReason)> = Vec::new();
        for (slot_index, slot) in self.slots.iter().enumerate() {
            let from = u32::try_from(slot_index).unwrap_or(u32::MAX);
            let on_slot = &homes[slot_index];
            let movable = || {
                on_slot
                    .iter()
                    .copied()
                    .filter(|&t| !self.targets[t].in_handover())
            };
            if slot.removing && slot.status != SlotStatus::Failed {
                budgeted.extend(movable().map(|t| (t, from, MoveReason::Drain)));
            } else if slot.usable() && slot.steady > self.high_cap {
                let largest = on_slot
                    .iter()
                    .copied()
                    .max_by_key(|&t| (self.targets[t].series, Reverse(t)));
                match largest {
                    Some(big) if self.targets[big].series > self.target_cap => {
                        // A target above the target utilisation keeps the shard
                        // to itself.
                        budgeted.extend(
                            movable()
                                .filter(|&t| t != big)
                                .map(|t| (t, from, MoveReason::Shed)),
                        );
                    }
                    _ => {
                        let mut candidates: Vec<usize> = movable()
                            .filter(|&t| placeable(self.targets[t].series))
                            .collect();
                        candidates.sort_by_key(|&t| (Reverse(self.targets[t].series), t));
                        let excess = slot.steady - self.target_cap;
                        let chosen =
                            fewest_covering(&candidates, |t| self.targets[t].series, excess);
                        let covered: u64 = chosen.iter().map(|&t| self.targets[t].series).sum();
                        if covered < excess {
                            *no_room.entry(from).or_default() += excess - covered;
                        }
                        budgeted.extend(chosen.into_iter().map(|t| (t, from, MoveReason::Shed)));
                    }
                }
            }
        }
        budgeted.sort_by_key(|&(t, _, _)| (Reverse(self.targets[t].series), t));
        let mut budget_used = 0u64;
        let mut over_budget: BTreeMap<u32, u64> = BTreeMap::new();
        let mut no_room_large = 0u32;
        for (t, from, why) in budgeted {
            let series = self.targets[t].series;
            let within = settings.max_moves > 0
                && (budget_used == 0 || budget_used.saturating_add(series) <= settings.max_moves);
            if !within {
                *over_budget.entry(from).or_default() += series;
                continue;
            }
            let placed = if series > self.target_cap {
                bins.place_alone(series)
            } else {
                bins.place_regular(series, false).map(|(slot, _)| slot)
            };
            let Some(to) = placed else {
                *no_room.entry(from).or_default() += series;
                if series > self.target_cap {
                    no_room_large = no_room_large.saturating_add(1);
                }
                continue;
            };
            budget_used = budget_used.saturating_add(series);
            // The old shard keeps its head load: the moved series stay in its
            // head until compaction, and it keeps scraping until the handover.
            self.slots[from as usize].steady -= series;
            self.slots[from as usize].draining += series;
            self.slots[to as usize].steady += series;
            let target = &mut self.targets[t];
            target.hand_over(from, to);
            target.home = Some(to);
            target.reason = match why {
                MoveReason::Shed => Reason::Shed { from },
                _ => Reason::Drained { from },
            };
            self.moves.push(Move {
                target: target.id.to_string(),
                from,
                to,
                series,
                reason: why,
            });
        }

        // The scale decision: exactly one per cycle.
        let unplaced_series: u64 = unplaced
            .iter()
            .map(|&t| self.targets[t].series)
            .filter(|&s| s <= self.target_cap)
            .sum::<u64>()
            .saturating_add(no_room.values().sum::<u64>());
        let unplaced_large = count_u32(
            unplaced
                .iter()
                .filter(|&&t| self.targets[t].series > self.target_cap),
        )
        .saturating_add(no_room_large);
        let need_more = !unplaced.is_empty() || !no_room.is_empty();
        let highest_removing = self
            .slots
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| s.removing && s.status != SlotStatus::Failed)
            .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX));
        let any_removing = self.slots.iter().any(|s| s.removing);
        // Shards still starting count as the capacity they will bring: only
        // what they cannot take asks for more, so a starting shard (or one
        // stuck starting) never holds back the scale-up others need.
        let for_unplaced = if need_more {
            let extra = unplaced_series.div_ceil(self.target_cap);
            let extra = u32::try_from(extra)
                .unwrap_or(u32::MAX)
                .saturating_add(unplaced_large)
                .max(1)
                .saturating_sub(starting);
            if extra > 0 {
                slot_count.saturating_add(extra)
            } else {
                0
            }
        } else {
            0
        };
        let up_to = slot_count
            .saturating_add(extra_needed)
            .max(settings.min_shards)
            .max(for_unplaced)
            .min(settings.max_shards);
        let mut scale = ScaleDecision::None;
        if let Some(shard) = highest_removing
            && (extra_needed > 0 || need_more)
        {
            scale = ScaleDecision::CancelDrain { shard };
        } else if up_to > slot_count {
            let reason = if slot_count < settings.min_shards && extra_needed == 0 && !need_more {
                ScaleReason::BelowMinimum
            } else {
                ScaleReason::NeedCapacity
            };
            scale = ScaleDecision::Up { to: up_to, reason };
        } else if let Some(shard) = highest_removing {
            let slot = &self.slots[shard as usize];
            let idle_long_enough = slot
                .idle_since
                .is_some_and(|idle| self.now.since(idle) >= settings.idle_before_remove);
            let nothing_left = slot.reported_entries == 0 && slot.steady == 0 && slot.draining == 0;
            if shard + 1 != slot_count {
                self.warnings.push(Warning::RemovingNotHighest { shard });
            } else if slot.status == SlotStatus::Ready && nothing_left && idle_long_enough {
                scale = ScaleDecision::Remove { shard };
            }
        } else if slot_count > settings.max_shards && !any_removing {
            scale = ScaleDecision::Drain {
                shard: slot_count - 1,
                reason: ScaleReason::AboveMaximum,
            };
        }

        // Scale-down candidacy: every shard ready, nothing waiting, and the
        // targets fit in one shard fewer at the target utilisation.
        let candidate = slot_count > settings.min_shards
            && slot_count <= settings.max_shards
            && !any_removing
            && self.slots.iter().all(|s| s.status == SlotStatus::Ready)
            && needed < slot_count
            && !need_more
            && self.moves.is_empty();
        let mut candidate_since = candidate.then(|| {
            self.inputs
                .scale_down_candidate_since
                .unwrap_or(self.now)
                .min(self.now)
        });
        if scale == ScaleDecision::None
            && let Some(since) = candidate_since
            && self.now.since(since) >= settings.scale_down_after
        {
            scale = ScaleDecision::Drain {
                shard: slot_count - 1,
                reason: ScaleReason::Underutilized,
            };
            candidate_since = None;
        }

        // What cannot be placed: wait for a shard being added, else overfill.
        let waiting_for_shard = starting > 0
            || matches!(
                scale,
                ScaleDecision::Up { .. } | ScaleDecision::CancelDrain { .. }
            );
        let mut overfilled = (0usize, 0u64);
        let mut pending = (0usize, 0u64);
        let mut failover_waiting = (0usize, 0u64);
        for t in unplaced {
            let series = self.targets[t].series;
            let placed = if waiting_for_shard {
                None
            } else {
                bins.place_over(series, series > self.target_cap)
            };
            match placed {
                Some(slot) => {
                    overfilled.0 += 1;
                    overfilled.1 += series;
                    self.settle_placed(t, slot, Reason::Overfilled);
                }
                None => {
                    let target = &mut self.targets[t];
                    if let Need::Failover { from } = target.need {
                        failover_waiting.0 += 1;
                        failover_waiting.1 += series;
                        target.home = Some(from);
                        target.reason = Reason::FailoverWaiting;
                        self.slots[from as usize].steady += series;
                        for &slot in &target.draining {
                            self.slots[slot as usize].draining += series;
                        }
                    } else {
                        pending.0 += 1;
                        pending.1 += series;
                        target.home = None;
                        target.reason = Reason::Pending;
                    }
                }
            }
        }
        if overfilled.0 > 0 {
            self.warnings.push(Warning::CapacityExhausted {
                targets: overfilled.0,
                series: overfilled.1,
            });
        }
        if pending.0 > 0 {
            self.warnings.push(Warning::Pending {
                targets: pending.0,
                series: pending.1,
            });
        }
        if failover_waiting.0 > 0 {
            self.warnings.push(Warning::FailoverWaiting {
                targets: failover_waiting.0,
                series: failover_waiting.1,
            });
        }
        self.assemble(PlanFigures {
            scale,
            candidate_since,
            needed,
            level,
            budget_used,
            no_room,
            over_budget,
            pending: pending.0,
        })
    }

    /// Records a target placed by this cycle (new, or moved by failover).
    fn settle_placed(&mut self, t: usize, slot: u32, reason: Reason) {
        let target = &mut self.targets[t];
        let series = target.series;
        let reason = match (target.need, reason) {
            (Need::Failover { from }, _) => {
                self.moves.push(Move {
                    target: target.id.to_string(),
                    from,
                    to: slot,
                    series,
                    reason: MoveReason::Failover,
                });
                // The failed shard keeps it as draining: if it comes back
                // before the handover completes, nothing is lost.
                target.hand_over(from, slot);
                if reason == Reason::Overfilled {
                    reason
                } else {
                    Reason::Failover { from }
                }
            }
            (_, reason) => reason,
        };
        target.need = Need::Nothing;
        target.home = Some(slot);
        target.reason = reason;
        self.slots[slot as usize].steady += series;
        for &d in &target.draining {
            self.slots[d as usize].draining += series;
        }
    }

    fn assemble(mut self, figures: PlanFigures) -> Plan {
        let mut entries = vec![0usize; self.slots.len()];
        for target in &self.targets {
            if let Some(home) = target.home {
                entries[home as usize] += 1;
                for &slot in &target.draining {
                    entries[slot as usize] += 1;
                }
            }
        }
        let mut shard_targets: Vec<Vec<AssignedTarget>> =
            entries.into_iter().map(Vec::with_capacity).collect();
        let mut target_plans: Vec<TargetPlan> = Vec::with_capacity(self.targets.len());
        let mut handovers_in_progress = 0usize;
        let mut estimated_targets = 0usize;
        let mut total = 0u64;
        for target in &self.targets {
            // The inputs' shared strings: no copy per target.
            let id = Arc::clone(target.id);
            let job = Arc::clone(target.job);
            total = total.saturating_add(target.series);
            estimated_targets += usize::from(target.estimated);
            let oversize = target.series > self.settings.max_series;
            if oversize {
                self.warnings.push(Warning::Oversize {
                    target: target.id.to_string(),
                    series: target.series,
                });
            }
            if let Some(home) = target.home {
                shard_targets[home as usize].push(AssignedTarget {
                    id: Arc::clone(&id),
                    role: Role::Active,
                });
                for &slot in &target.draining {
                    shard_targets[slot as usize].push(AssignedTarget {
                        id: Arc::clone(&id),
                        role: Role::Draining,
                    });
                }
                handovers_in_progress += usize::from(target.in_handover());
            }
            target_plans.push(TargetPlan {
                id,
                job,
                series: target.series,
                estimated: target.estimated,
                oversize,
                shard: target.home,
                draining_on: if target.home.is_some() {
                    target.draining.to_vec()
                } else {
                    Vec::new()
                },
                reason: target.reason,
            });
        }
        let mut shards = Vec::with_capacity(self.slots.len());
        for (i, (slot, targets)) in self.slots.iter().zip(shard_targets).enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let single = targets.iter().filter(|t| t.role == Role::Active).count() <= 1;
            if slot.steady > self.settings.max_series && !single {
                self.warnings.push(Warning::OverCapacity {
                    shard: index,
                    series: slot.steady,
                });
            }
            let no_room = figures.no_room.get(&index).copied().unwrap_or(0);
            let over_budget = figures.over_budget.get(&index).copied().unwrap_or(0);
            if slot.usable() && slot.steady > self.high_cap && (no_room > 0 || over_budget > 0) {
                self.warnings.push(Warning::Overloaded {
                    shard: index,
                    series: slot.steady,
                    no_room_series: no_room,
                    over_budget_series: over_budget,
                });
            }
            if slot.stale_copies > 0 {
                self.warnings.push(Warning::StaleCopies {
                    shard: index,
                    targets: slot.stale_copies,
                });
            }
            shards.push(ShardPlan {
                index,
                status: slot.status,
                removing: slot.removing,
                targets,
                active_series: slot.steady,
                draining_series: slot.draining,
                head_series: self.head_load(i),
            });
        }
        let failover_move_series = self
            .moves
            .iter()
            .filter(|m| m.reason == MoveReason::Failover)
            .map(|m| m.series)
            .sum();
        Plan {
            generated_at: self.now,
            shards,
            targets: target_plans,
            moves: self.moves,
            scale: figures.scale,
            warnings: self.warnings,
            scale_down_candidate_since: figures.candidate_since,
            summary: PlanSummary {
                targets: self.targets.len(),
                series: total,
                estimated_targets,
                needed_shards: figures.needed,
                fill_level: figures.level,
                budgeted_move_series: figures.budget_used,
                failover_move_series,
                pending_targets: figures.pending,
                handovers_in_progress,
                handovers_completed: self.handovers_completed,
                dropped_unknown_targets: self.dropped_unknown,
            },
        }
    }
}

struct PlanFigures {
    scale: ScaleDecision,
    candidate_since: Option<Timestamp>,
    needed: u32,
    level: u64,
    budget_used: u64,
    no_room: BTreeMap<u32, u64>,
    over_budget: BTreeMap<u32, u64>,
    pending: usize,
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

/// The worse of two replica states: failed, unhealthy, starting, ready.
fn worst(a: SlotStatus, b: SlotStatus) -> SlotStatus {
    let rank = |s: SlotStatus| match s {
        SlotStatus::Ready => 0,
        SlotStatus::Starting => 1,
        SlotStatus::Unhealthy => 2,
        SlotStatus::Failed => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn count_u32<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

/// The fewest items (sorted largest first) whose sizes add up to at least
/// `excess`, and among those the one moving the fewest series: the largest
/// items until a single remaining one covers the rest, then the smallest that
/// does.
fn fewest_covering(sorted: &[usize], size: impl Fn(usize) -> u64, excess: u64) -> Vec<usize> {
    let mut chosen = Vec::new();
    let mut remaining = excess;
    let mut start = 0;
    while remaining > 0 && start < sorted.len() {
        let covering = start + sorted[start..].partition_point(|&t| size(t) >= remaining);
        if covering > start {
            chosen.push(sorted[covering - 1]);
            return chosen;
        }
        let t = sorted[start];
        chosen.push(t);
        remaining = remaining.saturating_sub(size(t));
        start += 1;
    }
    chosen
}

/// An ordered set kept as a sorted vector. The sets of the planner hold one
/// entry per shard (tens, at most a few thousand) and change on every
/// placement: a binary search and a short memmove beat a B-tree's node
/// walks and rebalancing there.
#[derive(Debug, Clone)]
struct SortedVec<T> {
    items: Vec<T>,
}

impl<T> Default for SortedVec<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<T: Ord + std::marker::Copy> SortedVec<T> {
    fn insert(&mut self, item: T) {
        if let Err(at) = self.items.binary_search(&item) {
            self.items.insert(at, item);
        }
    }

    fn remove(&mut self, item: &T) {
        if let Ok(at) = self.items.binary_search(item) {
            self.items.remove(at);
        }
    }

    fn first(&self) -> Option<&T> {
        self.items.first()
    }

    /// The smallest item not below `bound`.
    fn first_at_least(&self, bound: T) -> Option<T> {
        let at = self.items.partition_point(|item| *item < bound);
        self.items.get(at).copied()
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Lookup-only hash maps keyed by target ids: nothing iterates them, so
/// their order never decides anything.
type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash of rustc (FxHash): much faster than SipHash for
/// short keys. Keys are target ids (themselves hashes) from the
/// coordinator, and a collision only costs time.
#[derive(Debug, Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
