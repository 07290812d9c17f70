//! Scenario tests: a simulated fleet through growth, shrink, a giant target,
//! shard loss and return, a coordinator restart and handovers.

#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test helpers fail the test on set-up errors; test sizes are tiny"
)]

use std::collections::BTreeSet;
use std::time::Duration;

use promshard_plan::synth::{Fleet, SyntheticTarget, synthetic_targets};
use promshard_plan::{
    MoveReason, Plan, PlanSettings, Reason, Role, ScaleDecision, ScaleReason, ShardHealth,
    ShardInput, TargetInput, Timestamp, Warning, plan,
};

fn target(id: &str, series: u64) -> TargetInput {
    TargetInput::new(id, "job", Some(series))
}

fn small_settings() -> PlanSettings {
    PlanSettings {
        max_series: 100_000,
        max_shards: 10,
        max_moves: 1_000_000,
        scale_down_after: Duration::from_secs(600),
        idle_before_remove: Duration::from_secs(120),
        ..PlanSettings::default()
    }
}

/// `count` targets of 10k series each, ids `t00`, `t01`, ...
fn targets_of_10k(count: usize) -> Vec<TargetInput> {
    (0..count)
        .map(|i| target(&format!("t{i:02}"), 10_000))
        .collect()
}

/// `shards` ready, empty shards (per replica group) and `targets`, at time 0.
fn fleet_of(settings: PlanSettings, shards: u32, targets: Vec<TargetInput>) -> Fleet {
    let mut fleet = Fleet::new(settings, shards, Timestamp(0));
    fleet.targets = targets;
    fleet
}

/// The ids the shard at `position` in the fleet reports.
fn ids_on<C: FromIterator<String>>(fleet: &Fleet, position: usize) -> C {
    fleet.shards[position]
        .targets
        .iter()
        .map(|t| t.id.clone())
        .collect()
}

/// The shard at `position` stops answering now, and the failover delay
/// passes. Returns since when it is unhealthy.
fn fail_past_failover(fleet: &mut Fleet, position: usize) -> Timestamp {
    let since = fleet.now;
    fleet.shards[position].health = ShardHealth::Unhealthy { since };
    fleet.now = fleet.now.saturating_add(fleet.settings.failover_after);
    since
}

/// The shard indexes `plan` has `id` active on.
fn active_on(plan: &Plan, id: &str) -> Vec<u32> {
    plan.shards
        .iter()
        .filter(|s| {
            s.targets
                .iter()
                .any(|t| *t.id == *id && t.role == Role::Active)
        })
        .map(|s| s.index)
        .collect()
}

/// Every desired target is active on exactly one shard index, in the fleet's
/// reports (group 0), and never on a shard that is still starting.
fn assert_each_active_once(fleet: &Fleet) {
    for t in &fleet.targets {
        let on: Vec<u32> = fleet
            .shards
            .iter()
            .filter(|s| s.group == 0)
            .filter(|s| {
                s.targets
                    .iter()
                    .any(|r| *r.id == *t.id && r.role == Role::Active)
            })
            .map(|s| s.index)
            .collect();
        assert_eq!(on.len(), 1, "{} active on {on:?}", t.id);
    }
}

fn shard_of(plan: &Plan, id: &str) -> Option<u32> {
    plan.targets
        .iter()
        .find(|t| &*t.id == id)
        .and_then(|t| t.shard)
}

#[test]
fn growth_scales_up_before_placing_on_new_shards() {
    // 30 targets of 10k: 300k series, 4 shards at 80k each.
    let mut fleet = fleet_of(small_settings(), 1, targets_of_10k(30));
    let first = plan(&fleet.inputs(), &fleet.settings, fleet.now).unwrap();
    assert_eq!(
        first.scale,
        ScaleDecision::Up {
            to: 4,
            reason: ScaleReason::NeedCapacity
        }
    );
    assert!(first.moves.is_empty());
    // Shard 0 is filled to the fleet's eventual mean (75k), not beyond it
    // to the packing goal: the rest waits for the new shards.
    assert_eq!(first.summary.fill_level, 75_000);
    assert_eq!(first.shards[0].active_series, 70_000);
    assert_eq!(first.summary.pending_targets, 23);
    assert!(
        first
            .warnings
            .iter()
            .any(|w| matches!(w, Warning::Pending { targets: 23, .. }))
    );
    fleet.apply(&first);

    // The new shards are still starting: nothing goes there, and the planner
    // does not scale again.
    let waiting = plan(&fleet.inputs(), &fleet.settings, fleet.now).unwrap();
    assert_eq!(waiting.scale, ScaleDecision::None);
    assert!(waiting.shards[1..].iter().all(|s| s.targets.is_empty()));
    assert_eq!(waiting.summary.pending_targets, 23);

    fleet.tick();
    let placed = fleet.step().unwrap();
    assert_eq!(placed.summary.pending_targets, 0);
    assert!(placed.moves.is_empty());
    assert_eq!(fleet.settle(10).unwrap(), Some(1));
    assert_each_active_once(&fleet);
    let loads = fleet.active_loads();
    assert_eq!(loads.iter().sum::<u64>(), 300_000);
    assert!(
        loads.iter().all(|&l| (60_000..=80_000).contains(&l)),
        "{loads:?}"
    );

    // Growth of a sticky target: one of shard 0's targets doubles, taking it
    // above the high watermark. It sheds the fewest targets the others can
    // take (two of 10k, not the grown one), without scaling.
    let heaviest = fleet.active_loads()[0];
    let grown = fleet.shards[0].targets[0].id.clone();
    for t in fleet.targets.iter_mut().filter(|t| *t.id == *grown) {
        t.measured_series = Some(10_000 + 91_000 - heaviest);
    }
    let shed = fleet.step().unwrap();
    assert_eq!(shed.scale, ScaleDecision::None);
    assert_eq!(shed.moves.len(), 2, "{:?}", shed.moves);
    assert!(
        shed.moves
            .iter()
            .all(|m| m.target != grown && m.series == 10_000)
    );
    assert!(
        shed.moves
            .iter()
            .all(|m| m.reason == MoveReason::Shed && m.from == 0)
    );
    assert!(fleet.settle(10).unwrap().is_some());
    assert!(
        fleet.active_loads()[0] <= 80_000,
        "{:?}",
        fleet.active_loads()
    );
    assert_each_active_once(&fleet);
}

#[test]
fn overload_with_no_room_scales_up_first_and_moves_once_ready() {
    let mut fleet = fleet_of(small_settings(), 2, targets_of_10k(16));
    assert!(fleet.settle(10).unwrap().is_some());
    assert_eq!(fleet.active_loads(), vec![80_000, 80_000]);
    // Everything grows by 25%: both shards at 100k, above the watermark, and
    // neither has room for the other's excess.
    for t in &mut fleet.targets {
        t.measured_series = Some(12_500);
    }
    let grow = fleet.step().unwrap();
    assert!(
        matches!(grow.scale, ScaleDecision::Up { to: 3, .. }),
        "{:?}",
        grow.scale
    );
    assert!(
        grow.moves.is_empty(),
        "moved before the new shard exists: {:?}",
        grow.moves
    );
    assert!(
        grow.warnings
            .iter()
            .any(|w| matches!(w, Warning::Overloaded { .. }))
    );
    let moved = fleet.step().unwrap();
    assert!(!moved.moves.is_empty());
    assert!(moved.moves.iter().all(|m| m.to == 2));
    assert!(fleet.settle(10).unwrap().is_some());
    assert!(
        fleet.active_loads().iter().all(|&l| l <= 80_000),
        "{:?}",
        fleet.active_loads()
    );
}

#[test]
fn shrink_drains_after_the_delay_and_removes_only_when_idle() {
    let settings = small_settings();
    let mut fleet = fleet_of(settings.clone(), 1, targets_of_10k(30));
    assert!(fleet.settle(10).unwrap().is_some());
    assert_eq!(fleet.shard_count(), 4);
    // Two thirds of the targets go away: 100k series fit in 2 shards.
    fleet.targets.truncate(10);
    let start = fleet.now;
    let mut drained_at = None;
    let mut removed_at = None;
    for _ in 0..200 {
        let before = fleet.shards.clone();
        let plan = fleet.step().unwrap();
        match plan.scale {
            ScaleDecision::Drain { shard, reason } => {
                assert_eq!(reason, ScaleReason::Underutilized);
                assert_eq!(shard + 1, before.iter().map(|s| s.index + 1).max().unwrap());
                assert!(
                    plan.generated_at.since(start) >= settings.scale_down_after,
                    "drained after {:?}",
                    plan.generated_at.since(start)
                );
                drained_at.get_or_insert(plan.generated_at);
            }
            ScaleDecision::Remove { shard } => {
                let reported: Vec<&ShardInput> =
                    before.iter().filter(|s| s.index == shard).collect();
                assert!(
                    reported.iter().all(|s| s.targets.is_empty()),
                    "removed a shard with targets"
                );
                let idle = reported[0].idle_since.unwrap();
                assert!(plan.generated_at.since(idle) >= settings.idle_before_remove);
                removed_at = Some(plan.generated_at);
            }
            ScaleDecision::Up { .. } | ScaleDecision::CancelDrain { .. } => {
                panic!("unexpected {:?}", plan.scale)
            }
            ScaleDecision::None => {}
        }
        // Every drain move is a handover: the target stays scraped.
        for m in &plan.moves {
            assert_eq!(m.reason, MoveReason::Drain);
        }
        assert_each_active_once(&fleet);
        if fleet.shard_count() == 2 {
            break;
        }
    }
    assert!(drained_at.is_some() && removed_at.is_some());
    assert_eq!(fleet.shard_count(), 2);
    assert_eq!(fleet.active_loads().iter().sum::<u64>(), 100_000);
    assert!(fleet.settle(5).unwrap().is_some());
}

#[test]
fn a_giant_target_gets_a_shard_of_its_own_and_a_warning() {
    let mut fleet = fleet_of(small_settings(), 2, targets_of_10k(10));
    assert!(fleet.settle(10).unwrap().is_some());
    fleet.targets.push(target("giant", 350_000));
    let plan = fleet.step().unwrap();
    assert!(plan.warnings.contains(&Warning::Oversize {
        target: "giant".into(),
        series: 350_000,
        samples_per_second: 5_833,
        bound_by: promshard_plan::Dimension::Series,
    }));
    let giant = plan.targets.iter().find(|t| &*t.id == "giant").unwrap();
    assert!(giant.oversize);
    // Both shards hold targets: it waits for an empty one, never dropped.
    assert_eq!(giant.reason, Reason::Pending);
    assert!(matches!(plan.scale, ScaleDecision::Up { to: 3, .. }));
    let plan = fleet.step().unwrap();
    let giant = plan.targets.iter().find(|t| &*t.id == "giant").unwrap();
    assert_eq!((giant.shard, giant.reason), (Some(2), Reason::Alone));
    let alone = &plan.shards[2];
    assert_eq!(alone.targets.len(), 1);
    assert!(
        !plan
            .warnings
            .iter()
            .any(|w| matches!(w, Warning::OverCapacity { .. }))
    );
    // It stays alone: new targets go elsewhere.
    fleet.targets.push(target("late", 5_000));
    assert!(fleet.settle(10).unwrap().is_some());
    let plan = plan_now(&fleet);
    assert_eq!(plan.shards[2].targets.len(), 1);
    assert_ne!(shard_of(&plan, "late"), Some(2));
}

fn plan_now(fleet: &Fleet) -> Plan {
    plan(&fleet.inputs(), &fleet.settings, fleet.now).unwrap()
}

#[test]
fn a_giant_target_with_no_shard_left_is_overfilled_not_dropped() {
    let settings = PlanSettings {
        max_shards: 2,
        ..small_settings()
    };
    let mut fleet = fleet_of(settings, 2, targets_of_10k(10));
    fleet.targets.push(target("giant", 350_000));
    let plan = fleet.step().unwrap();
    assert_eq!(plan.scale, ScaleDecision::None);
    let giant = plan.targets.iter().find(|t| &*t.id == "giant").unwrap();
    assert!(giant.shard.is_some());
    assert!(
        plan.warnings
            .iter()
            .any(|w| matches!(w, Warning::CapacityExhausted { .. }))
    );
    assert!(plan.targets.iter().all(|t| t.shard.is_some()));
}

#[test]
fn shard_loss_fails_over_after_the_delay_and_a_returning_shard_is_reconciled() {
    let settings = small_settings();
    let mut fleet = fleet_of(settings.clone(), 3, targets_of_10k(18));
    assert!(fleet.settle(10).unwrap().is_some());
    let lost: BTreeSet<String> = ids_on(&fleet, 1);
    assert!(!lost.is_empty());
    let since = fleet.now;
    fleet.shards[1].health = ShardHealth::Unhealthy { since };
    // Within the failover delay: it keeps its targets, nothing moves.
    while fleet.now.since(since) < settings.failover_after {
        let plan = fleet.step().unwrap();
        assert!(
            plan.moves.is_empty(),
            "moved after {:?}",
            fleet.now.since(since)
        );
        for id in &lost {
            assert_eq!(shard_of(&plan, id), Some(1));
        }
    }
    // Then its targets move, all at once (failover is not budgeted).
    let plan = fleet.step().unwrap();
    let moved: BTreeSet<String> = plan.moves.iter().map(|m| m.target.clone()).collect();
    assert_eq!(moved, lost);
    assert!(
        plan.moves
            .iter()
            .all(|m| m.reason == MoveReason::Failover && m.from == 1)
    );
    for id in &lost {
        let t = plan.targets.iter().find(|t| *t.id == **id).unwrap();
        assert_eq!(t.reason, Reason::Failover { from: 1 });
        assert_eq!(t.draining_on, vec![1]);
    }
    for _ in 0..3 {
        fleet.step().unwrap();
    }
    // The shard comes back with its stale assignment: no target is active
    // twice in the plan, the stale copies are dropped.
    assert!(
        fleet.shards[1]
            .targets
            .iter()
            .all(|t| t.role == Role::Active)
    );
    fleet.shards[1].health = ShardHealth::Ready;
    let back = plan_now(&fleet);
    assert!(
        back.warnings
            .iter()
            .any(|w| matches!(w, Warning::StaleCopies { shard: 1, .. }))
    );
    for id in &lost {
        let active: Vec<u32> = active_on(&back, id);
        assert_eq!(active.len(), 1);
        assert_ne!(active[0], 1);
    }
    assert!(back.shards[1].targets.is_empty());
    assert!(back.moves.is_empty());
    fleet.apply(&back);
    fleet.tick();
    assert!(fleet.settle(10).unwrap().is_some());
    assert_each_active_once(&fleet);
}

#[test]
fn a_shard_stuck_starting_fails_over_after_the_delay_and_gets_nothing_back_early() {
    // A shard whose Prometheus crash-loops after a restart: its sidecar
    // answers with its old assignment, its backend reports it not started.
    let settings = small_settings();
    let mut fleet = fleet_of(settings.clone(), 3, targets_of_10k(18));
    assert!(fleet.settle(10).unwrap().is_some());
    let lost: BTreeSet<String> = ids_on(&fleet, 2);
    assert!(!lost.is_empty());
    let since = fleet.now;
    // The simulated fleet makes starting shards ready at each tick: this one
    // stays stuck.
    let stuck = |fleet: &mut Fleet| fleet.shards[2].health = ShardHealth::Starting { since };
    while fleet.now.since(since) < settings.failover_after {
        stuck(&mut fleet);
        let plan = fleet.step().unwrap();
        assert!(plan.moves.is_empty());
        assert_eq!(plan.shards[2].status, promshard_plan::SlotStatus::Starting);
        for id in &lost {
            assert_eq!(shard_of(&plan, id), Some(2));
        }
    }
    stuck(&mut fleet);
    let plan = fleet.step().unwrap();
    let moved: BTreeSet<String> = plan.moves.iter().map(|m| m.target.clone()).collect();
    assert_eq!(moved, lost);
    assert_eq!(plan.shards[2].status, promshard_plan::SlotStatus::Failed);
    for _ in 0..3 {
        stuck(&mut fleet);
        fleet.step().unwrap();
    }
    // Ready again: the targets stay where they went, its copies are dropped.
    fleet.shards[2].health = ShardHealth::Ready;
    let back = plan_now(&fleet);
    assert!(back.moves.is_empty());
    for id in &lost {
        let active = active_on(&back, id);
        assert_eq!(active.len(), 1);
        assert_ne!(active[0], 2);
    }
    fleet.apply(&back);
    fleet.tick();
    assert!(fleet.settle(10).unwrap().is_some());
    assert_each_active_once(&fleet);
}

#[test]
fn a_starting_shard_does_not_hold_back_the_scale_up_others_need() {
    let settings = small_settings();
    // Two ready shards whose heads are full (they still hold the series of
    // targets moved away), and one shard starting for less than the
    // failover delay: it will take 80k series once ready, but 120k arrive.
    // The targets alone fit the three shards, so only the placement shows
    // that more shards are needed.
    let mut fleet = fleet_of(settings, 2, targets_of_10k(8));
    assert!(fleet.settle(10).unwrap().is_some());
    for shard in &mut fleet.shards {
        shard.head_series = Some(80_000);
    }
    fleet.shards.push(ShardInput {
        index: 2,
        group: 0,
        health: ShardHealth::Starting { since: fleet.now },
        removing: false,
        head_series: None,
        idle_since: None,
        targets: Vec::new(),
    });
    fleet
        .targets
        .extend((0..12).map(|i| target(&format!("n{i:02}"), 10_000)));
    let plan = plan_now(&fleet);
    assert_eq!(plan.summary.needed_shards, 3);
    match plan.scale {
        ScaleDecision::Up { to, .. } => assert_eq!(to, 4),
        other => panic!("no scale-up while a shard starts: {other:?}"),
    }
    // The new targets wait for the shards on their way; none goes to the
    // starting one yet.
    assert_eq!(plan.summary.pending_targets, 12);
    assert!(plan.shards[2].targets.is_empty());
}

#[test]
fn a_shard_back_before_the_handover_completes_keeps_draining() {
    let settings = PlanSettings {
        handover_scrapes: 4,
        ..small_settings()
    };
    let mut fleet = fleet_of(settings, 2, targets_of_10k(6));
    fleet.scrapes_per_cycle = 1;
    assert!(fleet.settle(10).unwrap().is_some());
    let on_one: Vec<String> = ids_on(&fleet, 1);
    fail_past_failover(&mut fleet, 1);
    let plan = fleet.step().unwrap();
    assert_eq!(plan.moves.len(), on_one.len());
    // Back one cycle later: its copies are still needed (the new home has
    // one scrape of the four), so they drain rather than vanish.
    fleet.shards[1].health = ShardHealth::Ready;
    let plan = plan_now(&fleet);
    for id in &on_one {
        assert!(
            plan.shards[1]
                .targets
                .iter()
                .any(|t| *t.id == **id && t.role == Role::Draining)
        );
        assert_eq!(shard_of(&plan, id), Some(0));
    }
    assert!(fleet.settle(10).unwrap().is_some());
    assert_each_active_once(&fleet);
}

#[test]
fn coordinator_restart_rebuilds_from_reports_and_moves_nothing() {
    let targets = synthetic_targets(500, 2_000, 40_000, 3);
    let settings = PlanSettings {
        max_series: 300_000,
        ..PlanSettings::default()
    };
    let mut fleet = fleet_of(
        settings.clone(),
        1,
        targets.iter().map(SyntheticTarget::input).collect(),
    );
    assert!(fleet.settle(20).unwrap().is_some());
    let before = plan_now(&fleet);
    // A new coordinator: no memory, inputs listed in another order.
    let mut inputs = fleet.inputs();
    inputs.scale_down_candidate_since = None;
    inputs.shards.reverse();
    inputs.targets.reverse();
    let after = plan(&inputs, &settings, fleet.now).unwrap();
    assert!(after.moves.is_empty());
    assert_eq!(after.scale, ScaleDecision::None);
    assert_eq!(after.shards, before.shards);
    assert_eq!(after.targets, before.targets);
}

#[test]
fn handover_completes_after_n_scrapes_without_a_gap() {
    let settings = PlanSettings {
        handover_scrapes: 3,
        ..small_settings()
    };
    let mut fleet = fleet_of(settings.clone(), 2, targets_of_10k(8));
    fleet.scrapes_per_cycle = 1;
    assert!(fleet.settle(10).unwrap().is_some());
    // One target on shard 0 grows so that shard 0 sheds it.
    let grown = fleet.shards[0].targets[0].id.clone();
    for t in fleet.targets.iter_mut().filter(|t| *t.id == *grown) {
        t.measured_series = Some(70_000);
    }
    let plan = fleet.step().unwrap();
    let m = plan
        .moves
        .iter()
        .find(|m| m.reason == MoveReason::Shed)
        .expect("a shed");
    let (moved, from, to) = (m.target.clone(), m.from, m.to);
    let mut overlap_cycles = 0;
    for cycle in 0..10 {
        let plan = fleet.step().unwrap();
        let active: Vec<u32> = active_on(&plan, &moved);
        assert_eq!(active, vec![to], "cycle {cycle}: no gap, no second move");
        let draining = plan.shards[from as usize]
            .targets
            .iter()
            .any(|t| *t.id == *moved);
        let new_home_scrapes = fleet
            .shards
            .iter()
            .find(|s| s.index == to)
            .and_then(|s| s.targets.iter().find(|t| *t.id == *moved))
            .map(|t| t.scrapes)
            .unwrap();
        if draining {
            overlap_cycles += 1;
        } else {
            break;
        }
        assert!(
            new_home_scrapes <= settings.handover_scrapes,
            "still draining at {new_home_scrapes}"
        );
    }
    // The old shard scraped it until the new one had 3 scrapes (one a cycle).
    assert_eq!(overlap_cycles, 2, "overlap of {overlap_cycles} cycles");
    assert!(
        fleet.shards[from as usize]
            .targets
            .iter()
            .all(|t| t.id != moved)
    );
}

#[test]
fn moved_away_series_still_count_against_the_old_head() {
    let settings = small_settings();
    let mut fleet = fleet_of(
        settings.clone(),
        2,
        vec![target("a", 20_000), target("b", 20_000)],
    );
    assert!(fleet.settle(5).unwrap().is_some());
    let mut inputs = fleet.inputs();
    // Shard 0's head still holds 70k series of targets that moved away;
    // shard 1 holds what its targets say.
    let emptiest = inputs
        .shards
        .iter()
        .min_by_key(|s| s.targets.len())
        .unwrap()
        .index;
    for s in &mut inputs.shards {
        s.head_series = Some(if s.index == emptiest { 75_000 } else { 20_000 });
    }
    inputs.targets.push(target("new", 20_000));
    let plan = plan(&inputs, &settings, fleet.now).unwrap();
    assert_ne!(shard_of(&plan, "new"), Some(emptiest));
    assert_eq!(plan.shards[emptiest as usize].head_series, 75_000);
}

#[test]
fn replica_groups_share_one_layout_and_a_lost_replica_fails_over_the_index() {
    let settings = PlanSettings {
        replicas: 2,
        ..small_settings()
    };
    let mut fleet = fleet_of(settings, 3, targets_of_10k(18));
    assert!(fleet.settle(10).unwrap().is_some());
    let layout = |fleet: &Fleet, group: u32| -> Vec<(u32, Vec<String>)> {
        let mut shards: Vec<&ShardInput> =
            fleet.shards.iter().filter(|s| s.group == group).collect();
        shards.sort_by_key(|s| s.index);
        shards
            .iter()
            .map(|s| (s.index, s.targets.iter().map(|t| t.id.clone()).collect()))
            .collect()
    };
    assert_eq!(layout(&fleet, 0), layout(&fleet, 1));
    // A replica that lost its assignment (restarted empty) moves nothing: it
    // is told to scrape the same targets again.
    let index = fleet
        .shards
        .iter()
        .position(|s| s.group == 1 && s.index == 2)
        .unwrap();
    fleet.shards[index].targets.clear();
    let plan = fleet.step().unwrap();
    assert!(plan.moves.is_empty());
    assert_eq!(layout(&fleet, 0), layout(&fleet, 1));
    // One replica of shard 1 fails: the index fails over in both groups.
    let index = fleet
        .shards
        .iter()
        .position(|s| s.group == 1 && s.index == 1)
        .unwrap();
    fail_past_failover(&mut fleet, index);
    let plan = fleet.step().unwrap();
    assert!(!plan.moves.is_empty());
    assert!(
        plan.moves
            .iter()
            .all(|m| m.from == 1 && m.reason == MoveReason::Failover)
    );
    assert!(
        plan.shards[1]
            .targets
            .iter()
            .all(|t| t.role == Role::Draining),
        "index 1 keeps only draining copies"
    );
}

#[test]
fn a_returning_shard_whose_sidecar_restarted_loses_to_the_newer_assignment() {
    let settings = small_settings();
    let mut fleet = fleet_of(settings.clone(), 3, targets_of_10k(18));
    assert!(fleet.settle(10).unwrap().is_some());
    let lost: BTreeSet<String> = ids_on(&fleet, 1);
    let since = fail_past_failover(&mut fleet, 1);
    assert_eq!(fleet.step().unwrap().moves.len(), lost.len());
    for _ in 0..3 {
        fleet.step().unwrap();
    }
    // Back after a restart: its sidecar lost its scrape statistics (so it
    // has the fewest scrapes of every copy), but restored its assignment
    // with the times it got each target, all before the failure.
    fleet.shards[1].health = ShardHealth::Ready;
    for t in &mut fleet.shards[1].targets {
        t.scrapes = 0;
        assert!(t.assigned_at.is_some_and(|at| at <= since), "{t:?}");
    }
    let back = plan_now(&fleet);
    assert!(back.moves.is_empty());
    for id in &lost {
        assert_ne!(shard_of(&back, id), Some(1), "{id} went back");
    }
    assert!(back.shards[1].targets.is_empty());

    // The times decide: without them, the fewest scrapes would make the
    // stale copies look newest and every lost target would go back.
    let mut untimed = fleet.inputs();
    for shard in &mut untimed.shards {
        for t in &mut shard.targets {
            t.assigned_at = None;
        }
    }
    let without = plan(&untimed, &settings, fleet.now).unwrap();
    for id in &lost {
        assert_eq!(shard_of(&without, id), Some(1));
    }
}

#[test]
fn a_copy_made_active_again_is_newer_than_the_failed_home_it_replaced() {
    let settings = PlanSettings {
        handover_scrapes: 4,
        ..small_settings()
    };
    let mut fleet = fleet_of(settings, 2, targets_of_10k(6));
    fleet.scrapes_per_cycle = 1;
    assert!(fleet.settle(10).unwrap().is_some());
    let on_zero: Vec<String> = ids_on(&fleet, 0);
    assert!(!on_zero.is_empty());
    // Shard 0 fails: its targets move to shard 1 (0 keeps draining copies).
    fail_past_failover(&mut fleet, 0);
    fleet.step().unwrap();
    fleet.shards[0].health = ShardHealth::Ready;
    fleet.step().unwrap();
    // Shard 1 fails before the handover completes: shard 0's draining
    // copies become the targets' home again.
    fail_past_failover(&mut fleet, 1);
    let plan = fleet.step().unwrap();
    for id in &on_zero {
        let t = plan.targets.iter().find(|t| *t.id == **id).unwrap();
        assert_eq!((t.shard, t.reason), (Some(0), Reason::Reactivated), "{id}");
    }
    fleet.step().unwrap();
    // Shard 1 returns still listing them as active, assigned before shard
    // 0 got them back: shard 0's newer decision stands.
    fleet.shards[1].health = ShardHealth::Ready;
    let back = plan_now(&fleet);
    assert!(back.moves.is_empty());
    for id in &on_zero {
        assert_eq!(shard_of(&back, id), Some(0), "{id}");
    }
    assert!(fleet.settle(10).unwrap().is_some());
    assert_each_active_once(&fleet);
}

/// Ten targets scraped every minute and ten of the same size every second:
/// packed by series alone they share shards whose ingestion is many times
/// its capacity; packed by both dimensions no shard exceeds either.
#[test]
fn packing_by_series_alone_overloads_ingestion_and_two_dimensions_do_not() {
    use std::time::Duration;

    let fleet_targets: Vec<TargetInput> = (0..20)
        .map(|i| {
            let every = if i % 2 == 0 { 60 } else { 1 };
            target(&format!("t{i:02}"), 2_000).every(Duration::from_secs(every))
        })
        .collect();
    let rate_of = |plan: &Plan, shard: &promshard_plan::ShardPlan| -> f64 {
        shard
            .targets
            .iter()
            .filter(|t| t.role == Role::Active)
            .map(|t| {
                plan.targets
                    .iter()
                    .find(|p| p.id == t.id)
                    .unwrap()
                    .samples_per_second
            })
            .sum()
    };
    let settle = |settings: PlanSettings| {
        let mut fleet = fleet_of(settings, 1, fleet_targets.clone());
        assert!(fleet.settle(20).unwrap().is_some());
        fleet.step().unwrap()
    };
    // 40k series fit one shard of 100k at 80%; the 10 fast targets append
    // 20k samples/s, ten times a shard's 2k.
    let series_only = settle(PlanSettings {
        max_samples_per_second: 0,
        ..small_settings()
    });
    let worst = series_only
        .shards
        .iter()
        .map(|s| rate_of(&series_only, s))
        .fold(0.0, f64::max);
    assert!(
        worst > 2_000.0,
        "series-only packing kept ingestion at {worst}/s"
    );

    let both = settle(PlanSettings {
        max_samples_per_second: 2_000,
        max_shards: 20,
        ..small_settings()
    });
    for shard in &both.shards {
        let active = shard
            .targets
            .iter()
            .filter(|t| t.role == Role::Active)
            .count();
        let rate = rate_of(&both, shard);
        assert!(
            rate <= 2_000.0 || active == 1,
            "shard {} at {rate} samples/s with {active} targets",
            shard.index
        );
        assert!((shard.active_samples_per_second - rate).abs() < 1e-6);
    }
    // Each fast target (2,000/s) is above the 80% packing goal: one shard
    // each; the slow ones share.
    assert!(both.shards.len() >= 11, "{} shards", both.shards.len());
    assert_eq!(both.summary.needed_shards, both.shards.len() as u32);
    let fast = both
        .targets
        .iter()
        .find(|t| t.id.as_ref() == "t01")
        .unwrap();
    assert_eq!(fast.bound_by, promshard_plan::Dimension::SamplesPerSecond);
    assert_eq!(fast.reason, Reason::Sticky);
    let slow = both
        .targets
        .iter()
        .find(|t| t.id.as_ref() == "t00")
        .unwrap();
    assert_eq!(slow.bound_by, promshard_plan::Dimension::Series);
}
