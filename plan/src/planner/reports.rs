//! Phase 1: what the cycle starts from. The desired targets with their
//! loads (measured, else their job's median, else the default), the shard
//! indexes with their aggregate health, and each reported target's home and
//! handover state.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasherDefault;

use super::hash::IdMap;
use super::load::Load;
use super::{Need, Planner, Slot, Target, prefix_key};
use crate::types::{Reason, Role, ShardHealth, ShardInput, SlotStatus, Timestamp, Warning};

/// One copy of a target on one shard index, aggregated over replicas.
#[derive(Debug, Clone, Copy)]
struct ShardCopy {
    slot: u32,
    active: bool,
    /// Ready replicas listing it.
    listing_ready: u32,
    min_scrapes_ready: u64,
    min_scrapes_any: u64,
    /// Latest time a replica got it.
    assigned_at: Option<Timestamp>,
}

/// A reported target's copy on one shard of one group, as a sort key:
/// (target, slot, group, active, scrapes, replica ready, assigned at).
type ReportedCopy = (u32, u32, u32, bool, u64, bool, Option<Timestamp>);

impl<'a> Planner<'a> {
    /// Sorted, de-duplicated targets with their loads.
    pub(super) fn collect_targets(&mut self) {
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
                let (ia, ib) = (ta.scrape_interval, tb.scrape_interval);
                (&*ta.id, &*ta.job, ma, ia, a).cmp(&(&*tb.id, &*tb.job, mb, ib, b))
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
            let load = Load::of(series, t.scrape_interval);
            targets.push(Target {
                id: &t.id,
                job: &t.job,
                load,
                large: !load.within(self.scale.target),
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
    pub(super) fn collect_slots(&mut self) {
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
        let mut slots = vec![Slot::new(); count];
        // Deterministic order for the warnings below.
        let mut shards: Vec<&ShardInput> = self.inputs.shards.iter().collect();
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
    pub(super) fn reconcile(&mut self) {
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
        let mut raw: Vec<ReportedCopy> = Vec::new();
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
        let handover = self.settings.handover_scrapes;
        let replicas = self.settings.replicas;
        let mut copies: Vec<ShardCopy> = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let target = raw[i].0;
            copies.clear();
            while i < raw.len() && raw[i].0 == target {
                let slot = raw[i].1;
                let mut copy = ShardCopy {
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
            self.settle_target(target as usize, &copies, handover, replicas);
        }
    }

    /// Picks the home of one reported target and decides what happens to
    /// its other copies.
    fn settle_target(&mut self, t: usize, copies: &[ShardCopy], handover: u64, replicas: u32) {
        let slots = &self.slots;
        let status = |c: &ShardCopy| slots[c.slot as usize].status;
        let removing = |c: &ShardCopy| slots[c.slot as usize].removing;
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

    /// The load of every settled target on its home and draining shards.
    pub(super) fn count_loads(&mut self) {
        for target in &self.targets {
            if target.need != Need::Nothing {
                continue;
            }
            if let Some(home) = target.home {
                let slot = &mut self.slots[home as usize];
                slot.steady = slot.steady.add(target.load);
            }
            for &slot in &target.draining {
                let slot = &mut self.slots[slot as usize];
                slot.draining = slot.draining.add(target.load);
            }
        }
    }
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
