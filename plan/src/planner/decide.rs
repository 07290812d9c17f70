//! Phase 2: the cycle's decisions, each a function of what the earlier ones
//! returned. The outlook (how many shards the targets need, the level to
//! fill shards to); placing what nobody scrapes; shedding overloaded shards
//! and draining removed ones within the move budget; the one scale
//! decision; and what is left without a shard.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::bins::{Bins, shards_needed};
use super::load::Load;
use super::{Need, Planner, count_u32};
use crate::types::{
    Move, MoveReason, Reason, ScaleDecision, ScaleReason, SlotStatus, Timestamp, Warning,
};

/// What the targets need against what the fleet has, before anything is
/// placed.
#[derive(Debug)]
pub(super) struct Outlook {
    /// Shards the targets need at the packing goal.
    pub(super) needed: u32,
    pub(super) slot_count: u32,
    /// Shards not failed and not being removed.
    available: u32,
    /// Shards to add for `needed`.
    pub(super) extra_needed: u32,
    /// Shards there will be once this cycle's scale-up (if any) is done.
    desired_total: u32,
    /// Shards on their way (starting within the failover delay, not being
    /// removed): capacity that targets without room may wait for.
    pub(super) starting: u32,
    /// The level new targets are packed to: the fleet's mean load once
    /// scaled, never above the packing goal.
    pub(super) level: Load,
}

/// What shedding and draining did.
#[derive(Debug, Default)]
pub(super) struct Moved {
    /// Series moved under the move budget.
    pub(super) budget_used: u64,
    /// Per shard, load it should have shed but no shard could take.
    pub(super) no_room: BTreeMap<u32, Load>,
    /// Of those, targets that needed a shard of their own.
    no_room_large: u32,
    /// Per shard, series it could not shed within the move budget.
    pub(super) over_budget: BTreeMap<u32, u64>,
}

/// The scale decision and what it leaves for the next cycle.
#[derive(Debug)]
pub(super) struct Scaling {
    pub(super) decision: ScaleDecision,
    pub(super) candidate_since: Option<Timestamp>,
}

/// How many targets (and series) ended where, for want of a shard.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    pub(super) pending: usize,
}

impl Planner<'_> {
    /// How many shards the targets need, against what is there.
    pub(super) fn outlook(&self) -> Outlook {
        let settings = self.settings;
        let slot_count = self.slot_count();
        let mut items: Vec<(Reverse<u64>, u32)> = Vec::with_capacity(self.targets.len());
        let mut large = 0u32;
        let mut small_total = Load::default();
        for (t, target) in self.targets.iter().enumerate() {
            if target.large {
                large = large.saturating_add(1);
            } else {
                small_total = small_total.add(target.load);
            }
            items.push((
                Reverse(self.scale.key(target.load)),
                u32::try_from(t).unwrap_or(u32::MAX),
            ));
        }
        items.sort_unstable();
        let loads: Vec<Load> = items
            .iter()
            .map(|&(_, t)| self.targets[t as usize].load)
            .collect();
        let needed = shards_needed(&loads, &self.scale);
        let failed = count_u32(self.slots.iter().filter(|s| s.status == SlotStatus::Failed));
        let removing = count_u32(
            self.slots
                .iter()
                .filter(|s| s.removing && s.status != SlotStatus::Failed),
        );
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
        Outlook {
            needed,
            slot_count,
            available,
            extra_needed,
            desired_total,
            starting,
            level: self.scale.level(small_total, planned_usable),
        }
    }

    /// Placement bookkeeping over the shards that take targets this cycle.
    pub(super) fn bins(&self, outlook: &Outlook) -> Bins {
        let mut bins = Bins::new(
            self.slots.iter().map(super::Slot::head_load).collect(),
            outlook.level,
            self.scale,
        );
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.usable() {
                bins.open(u32::try_from(i).unwrap_or(u32::MAX), slot.holds_nothing());
            }
        }
        bins
    }

    /// Pass A: targets nobody scrapes (new, or on a failed shard), largest
    /// first, outside the move budget. Returns those left without a shard.
    pub(super) fn place_unscraped(&mut self, bins: &mut Bins, outlook: &Outlook) -> Vec<usize> {
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
                (Reverse(self.scale.key(target.load)), t, failover)
            })
            .collect();
        order.sort_unstable();
        // While shards are on their way (starting, or asked for this cycle),
        // a new target that does not fit under the fill level waits for them
        // rather than filling the ready shards beyond it: the fleet stays
        // even.
        let shards_coming = outlook.starting > 0 || outlook.desired_total > outlook.slot_count;
        let mut unplaced: Vec<usize> = Vec::new();
        // Decided in size order from the sort keys alone, recorded in target
        // order: the targets are then visited once, in memory order.
        let mut placements: Vec<(usize, u32, Reason)> = Vec::with_capacity(order.len());
        for (_, t, failover) in order {
            let target = &self.targets[t];
            let load = target.load;
            let placed = if target.large {
                bins.place_alone(load).map(|slot| (slot, Reason::Alone))
            } else if let Some((slot, best)) = bins.place_regular(load, shards_coming && !failover)
            {
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
                bins.place_under(load, self.scale.high)
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
        unplaced
    }

    /// Pass B: sheds overloaded shards and drains removed ones, within the
    /// move budget, largest first.
    pub(super) fn shed_and_drain(&mut self, bins: &mut Bins) -> Moved {
        let mut homes: Vec<Vec<usize>> = vec![Vec::new(); self.slots.len()];
        for (t, target) in self.targets.iter().enumerate() {
            if target.need == Need::Nothing
                && let Some(home) = target.home
            {
                homes[home as usize].push(t);
            }
        }
        let mut moved = Moved::default();
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
            } else if slot.usable() && !slot.steady.within(self.scale.high) {
                let largest = on_slot
                    .iter()
                    .copied()
                    .max_by_key(|&t| (self.scale.key(self.targets[t].load), Reverse(t)));
                match largest {
                    Some(big) if self.targets[big].large => {
                        // A target above the packing goal keeps the shard to
                        // itself.
                        budgeted.extend(
                            movable()
                                .filter(|&t| t != big)
                                .map(|t| (t, from, MoveReason::Shed)),
                        );
                    }
                    _ => {
                        // Targets that fit nowhere are not worth choosing to
                        // shed: a shard sheds the fewest targets that other
                        // shards can take.
                        let mut candidates: Vec<usize> = movable()
                            .filter(|&t| bins.could_take(self.targets[t].load))
                            .collect();
                        candidates
                            .sort_by_key(|&t| (Reverse(self.scale.key(self.targets[t].load)), t));
                        let excess = slot.steady.excess_over(self.scale.target);
                        let chosen = fewest_covering(&candidates, |t| self.targets[t].load, excess);
                        let covered = chosen
                            .iter()
                            .fold(Load::default(), |sum, &t| sum.add(self.targets[t].load));
                        let uncovered = excess.sub(covered);
                        if !uncovered.is_zero() {
                            let entry = moved.no_room.entry(from).or_default();
                            *entry = entry.add(uncovered);
                        }
                        budgeted.extend(chosen.into_iter().map(|t| (t, from, MoveReason::Shed)));
                    }
                }
            }
        }
        budgeted.sort_by_key(|&(t, _, _)| (Reverse(self.scale.key(self.targets[t].load)), t));
        let max_moves = self.settings.max_moves;
        for (t, from, why) in budgeted {
            let load = self.targets[t].load;
            let series = load.series;
            let within = max_moves > 0
                && (moved.budget_used == 0
                    || moved.budget_used.saturating_add(series) <= max_moves);
            if !within {
                *moved.over_budget.entry(from).or_default() += series;
                continue;
            }
            let large = self.targets[t].large;
            let placed = if large {
                bins.place_alone(load)
            } else {
                bins.place_regular(load, false).map(|(slot, _)| slot)
            };
            let Some(to) = placed else {
                let entry = moved.no_room.entry(from).or_default();
                *entry = entry.add(load);
                if large {
                    moved.no_room_large = moved.no_room_large.saturating_add(1);
                }
                continue;
            };
            moved.budget_used = moved.budget_used.saturating_add(series);
            // The old shard keeps its head load: the moved series stay in its
            // head until compaction, and it keeps scraping until the handover.
            let old = &mut self.slots[from as usize];
            old.steady = old.steady.sub(load);
            old.draining = old.draining.add(load);
            let new = &mut self.slots[to as usize];
            new.steady = new.steady.add(load);
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
        moved
    }

    /// The one scale decision of the cycle.
    pub(super) fn decide_scale(
        &mut self,
        outlook: &Outlook,
        unplaced: &[usize],
        moved: &Moved,
    ) -> Scaling {
        let settings = self.settings;
        let slot_count = outlook.slot_count;
        let mut unplaced_load = Load::default();
        let mut unplaced_large = moved.no_room_large;
        for &t in unplaced {
            let target = &self.targets[t];
            if target.large {
                unplaced_large = unplaced_large.saturating_add(1);
            } else {
                unplaced_load = unplaced_load.add(target.load);
            }
        }
        for load in moved.no_room.values() {
            unplaced_load = unplaced_load.add(*load);
        }
        let need_more = !unplaced.is_empty() || !moved.no_room.is_empty();
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
            let target = self.scale.target;
            let extra = unplaced_load
                .series
                .div_ceil(target.series.max(1))
                .max(unplaced_load.rate.div_ceil(target.rate.max(1)));
            let extra = u32::try_from(extra)
                .unwrap_or(u32::MAX)
                .saturating_add(unplaced_large)
                .max(1)
                .saturating_sub(outlook.starting);
            if extra > 0 {
                slot_count.saturating_add(extra)
            } else {
                0
            }
        } else {
            0
        };
        let up_to = slot_count
            .saturating_add(outlook.extra_needed)
            .max(settings.min_shards)
            .max(for_unplaced)
            .min(settings.max_shards);
        let mut decision = ScaleDecision::None;
        if let Some(shard) = highest_removing
            && (outlook.extra_needed > 0 || need_more)
        {
            decision = ScaleDecision::CancelDrain { shard };
        } else if up_to > slot_count {
            let reason =
                if slot_count < settings.min_shards && outlook.extra_needed == 0 && !need_more {
                    ScaleReason::BelowMinimum
                } else {
                    ScaleReason::NeedCapacity
                };
            decision = ScaleDecision::Up { to: up_to, reason };
        } else if let Some(shard) = highest_removing {
            let slot = &self.slots[shard as usize];
            let idle_long_enough = slot
                .idle_since
                .is_some_and(|idle| self.now.since(idle) >= settings.idle_before_remove);
            let nothing_left = slot.reported_entries == 0 && slot.holds_nothing();
            if shard + 1 != slot_count {
                self.warnings.push(Warning::RemovingNotHighest { shard });
            } else if slot.status == SlotStatus::Ready && nothing_left && idle_long_enough {
                decision = ScaleDecision::Remove { shard };
            }
        } else if slot_count > settings.max_shards && !any_removing {
            decision = ScaleDecision::Drain {
                shard: slot_count - 1,
                reason: ScaleReason::AboveMaximum,
            };
        }

        // Scale-down candidacy: every shard ready, nothing waiting, and the
        // targets fit in one shard fewer at the packing goal.
        let candidate = slot_count > settings.min_shards
            && slot_count <= settings.max_shards
            && !any_removing
            && self.slots.iter().all(|s| s.status == SlotStatus::Ready)
            && outlook.needed < slot_count
            && !need_more
            && self.moves.is_empty();
        let mut candidate_since = candidate.then(|| {
            self.inputs
                .scale_down_candidate_since
                .unwrap_or(self.now)
                .min(self.now)
        });
        if decision == ScaleDecision::None
            && let Some(since) = candidate_since
            && self.now.since(since) >= settings.scale_down_after
        {
            decision = ScaleDecision::Drain {
                shard: slot_count - 1,
                reason: ScaleReason::Underutilized,
            };
            candidate_since = None;
        }
        let _ = outlook.available;
        Scaling {
            decision,
            candidate_since,
        }
    }

    /// What could not be placed: waits for a shard being added, else is put
    /// on the least-loaded shard beyond the packing goal; a failed shard's
    /// target with nowhere to go stays where it was.
    pub(super) fn settle_unplaced(
        &mut self,
        bins: &mut Bins,
        unplaced: &[usize],
        outlook: &Outlook,
        scaling: &Scaling,
    ) -> Waiting {
        let waiting_for_shard = outlook.starting > 0
            || matches!(
                scaling.decision,
                ScaleDecision::Up { .. } | ScaleDecision::CancelDrain { .. }
            );
        let mut overfilled = (0usize, 0u64);
        let mut pending = (0usize, 0u64);
        let mut failover_waiting = (0usize, 0u64);
        for &t in unplaced {
            let load = self.targets[t].load;
            let placed = if waiting_for_shard {
                None
            } else {
                bins.place_over(load, self.targets[t].large)
            };
            match placed {
                Some(slot) => {
                    overfilled.0 += 1;
                    overfilled.1 += load.series;
                    self.settle_placed(t, slot, Reason::Overfilled);
                }
                None => {
                    let target = &mut self.targets[t];
                    if let Need::Failover { from } = target.need {
                        failover_waiting.0 += 1;
                        failover_waiting.1 += load.series;
                        target.home = Some(from);
                        target.reason = Reason::FailoverWaiting;
                        let slot = &mut self.slots[from as usize];
                        slot.steady = slot.steady.add(load);
                        for &d in &target.draining {
                            let slot = &mut self.slots[d as usize];
                            slot.draining = slot.draining.add(load);
                        }
                    } else {
                        pending.0 += 1;
                        pending.1 += load.series;
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
        Waiting { pending: pending.0 }
    }

    /// Records a target placed by this cycle (new, or moved by failover).
    fn settle_placed(&mut self, t: usize, slot: u32, reason: Reason) {
        let target = &mut self.targets[t];
        let load = target.load;
        let reason = match (target.need, reason) {
            (Need::Failover { from }, _) => {
                self.moves.push(Move {
                    target: target.id.to_string(),
                    from,
                    to: slot,
                    series: load.series,
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
        let home = &mut self.slots[slot as usize];
        home.steady = home.steady.add(load);
        for &d in &target.draining {
            let slot = &mut self.slots[d as usize];
            slot.draining = slot.draining.add(load);
        }
    }
}

/// Few items (sorted largest first) whose loads cover `excess` in both
/// dimensions, moving little: while no single remaining item covers what
/// is left, the one covering the most of it; then the smallest that covers
/// it all. In one dimension that is the fewest items, and among those the
/// least load moved; in two it is a greedy approximation.
fn fewest_covering(sorted: &[usize], load: impl Fn(usize) -> Load, excess: Load) -> Vec<usize> {
    let mut chosen = Vec::new();
    let mut remaining = excess;
    let mut taken = vec![false; sorted.len()];
    while !remaining.is_zero() {
        let covering = sorted
            .iter()
            .enumerate()
            .rev()
            .find(|&(i, &t)| !taken[i] && remaining.within(load(t)));
        if let Some((_, &t)) = covering {
            chosen.push(t);
            return chosen;
        }
        // Covered share of what remains, per dimension, in each
        // dimension's own scale: the item reducing the larger of the two
        // remaining fractions the most.
        let best = sorted
            .iter()
            .enumerate()
            .filter(|&(i, _)| !taken[i])
            .max_by_key(|&(i, &t)| {
                let l = load(t);
                let gain = |covered: u64, of: u64| {
                    if of == 0 {
                        0
                    } else {
                        u128::from(covered.min(of)) * 1_000_000 / u128::from(of)
                    }
                };
                (
                    gain(l.series, remaining.series) + gain(l.rate, remaining.rate),
                    Reverse(i),
                )
            });
        let Some((i, &t)) = best else {
            break;
        };
        taken[i] = true;
        chosen.push(t);
        remaining = remaining.sub(load(t));
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(series: u64, rate: u64) -> Load {
        Load { series, rate }
    }

    #[test]
    fn covering_in_one_dimension_takes_the_largest_then_the_smallest_that_suffices() {
        let sizes = [l(50, 0), l(30, 0), l(20, 0), l(10, 0)];
        let sorted = [0, 1, 2, 3];
        let take = |excess| fewest_covering(&sorted, |t| sizes[t], l(excess, 0));
        assert_eq!(take(15), vec![2], "the smallest single one that covers");
        assert_eq!(
            take(60),
            vec![0, 3],
            "the largest, then the smallest that covers the rest"
        );
        assert_eq!(take(200), vec![0, 1, 2, 3], "everything, still short");
        assert!(take(0).is_empty());
    }

    #[test]
    fn covering_in_two_dimensions_needs_both() {
        // Excess: 30 series and 30 of rate. One item is series-heavy, one
        // rate-heavy, one balanced but small.
        let sizes = [l(40, 5), l(5, 40), l(20, 20)];
        let sorted = [0, 1, 2];
        let chosen = fewest_covering(&sorted, |t| sizes[t], l(30, 30));
        let sum = chosen.iter().fold(Load::default(), |s, &t| s.add(sizes[t]));
        assert!(l(30, 30).within(sum), "{chosen:?}");
        // A rate excess alone is covered by the rate-heavy item, not the
        // larger series-heavy one.
        assert_eq!(fewest_covering(&sorted, |t| sizes[t], l(0, 30)), vec![1]);
    }
}
