//! Phase 3: the [`Plan`]: every shard's assignment, every target's place
//! and reason, the warnings and the fleet's figures.

use std::sync::Arc;

use super::Planner;
use super::decide::{Moved, Outlook, Scaling, Waiting};
use super::load::Load;
use crate::types::{
    AssignedTarget, MoveReason, Plan, PlanSummary, Role, ShardPlan, TargetPlan, Warning,
};

impl Planner<'_> {
    pub(super) fn assemble(
        mut self,
        outlook: &Outlook,
        moved: &Moved,
        scaling: &Scaling,
        waiting: &Waiting,
    ) -> Plan {
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
        let mut total = Load::default();
        for target in &self.targets {
            // The inputs' shared strings: no copy per target.
            let id = Arc::clone(target.id);
            let job = Arc::clone(target.job);
            total = total.add(target.load);
            estimated_targets += usize::from(target.estimated);
            let oversize = !target.load.within(self.scale.capacity);
            if oversize {
                self.warnings.push(Warning::Oversize {
                    target: target.id.to_string(),
                    series: target.load.series,
                    samples_per_second: rounded(target.load),
                    bound_by: self.scale.bound_by(target.load),
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
                series: target.load.series,
                samples_per_second: target.load.samples_per_second(),
                bound_by: self.scale.bound_by(target.load),
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
            if !slot.steady.within(self.scale.capacity) && !single {
                self.warnings.push(Warning::OverCapacity {
                    shard: index,
                    series: slot.steady.series,
                    samples_per_second: rounded(slot.steady),
                    bound_by: self.scale.bound_by(slot.steady),
                });
            }
            let no_room = moved.no_room.get(&index).copied().unwrap_or_default();
            let over_budget = moved.over_budget.get(&index).copied().unwrap_or(0);
            if slot.usable()
                && !slot.steady.within(self.scale.high)
                && (!no_room.is_zero() || over_budget > 0)
            {
                self.warnings.push(Warning::Overloaded {
                    shard: index,
                    series: slot.steady.series,
                    samples_per_second: rounded(slot.steady),
                    bound_by: self.scale.bound_by(slot.steady),
                    no_room_series: no_room.series,
                    over_budget_series: over_budget,
                });
            }
            if slot.stale_copies > 0 {
                self.warnings.push(Warning::StaleCopies {
                    shard: index,
                    targets: slot.stale_copies,
                });
            }
            let head = slot.head_load();
            shards.push(ShardPlan {
                index,
                status: slot.status,
                removing: slot.removing,
                targets,
                active_series: slot.steady.series,
                draining_series: slot.draining.series,
                head_series: head.series,
                active_samples_per_second: slot.steady.samples_per_second(),
                samples_per_second: head.samples_per_second(),
                utilization: self.scale.utilization(head),
            });
        }
        let failover_move_series = self
            .moves
            .iter()
            .filter(|m| m.reason == MoveReason::Failover)
            .map(|m| m.series)
            .sum();
        let level = outlook.level;
        Plan {
            generated_at: self.now,
            shards,
            targets: target_plans,
            moves: self.moves,
            scale: scaling.decision,
            warnings: self.warnings,
            scale_down_candidate_since: scaling.candidate_since,
            summary: PlanSummary {
                targets: self.targets.len(),
                series: total.series,
                samples_per_second: total.samples_per_second(),
                estimated_targets,
                needed_shards: outlook.needed,
                fill_level: level.series,
                fill_utilization: {
                    let u = self.scale.utilization(level);
                    u.series.max(u.samples_per_second)
                },
                budgeted_move_series: moved.budget_used,
                failover_move_series,
                pending_targets: waiting.pending,
                handovers_in_progress,
                handovers_completed: self.handovers_completed,
                dropped_unknown_targets: self.dropped_unknown,
            },
        }
    }
}

/// Samples per second, rounded to whole ones (for warnings).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a non-negative rate far below 2^53, rounded for display"
)]
fn rounded(load: Load) -> u64 {
    load.samples_per_second().round() as u64
}
