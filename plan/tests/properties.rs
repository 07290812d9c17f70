//! Properties of the planner over arbitrary (including inconsistent) reports.

#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "test helpers fail the test on set-up errors; test sizes are tiny"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use promshard_plan::synth::{Fleet, synthetic_targets};
use promshard_plan::{
    MoveReason, Plan, PlanInputs, PlanSettings, Reason, ReportedTarget, Role, ScaleDecision,
    ShardHealth, ShardInput, SlotStatus, TargetInput, Timestamp, Warning, plan,
};
use proptest::prelude::*;

const NOW: Timestamp = Timestamp(10_000_000_000);

fn settings_strategy() -> impl Strategy<Value = PlanSettings> {
    (
        prop::sample::select(vec![50_000u64, 200_000, 1_000_000]),
        50u32..=90,
        0u32..=10,
        prop::sample::select(vec![0u64, 10_000, 100_000, 10_000_000]),
        1u32..=3,
        0u32..=6,
        1u32..=2,
        1u64..=3,
        prop::sample::select(vec![0u64, 1_000, 20_000, 100_000]),
    )
        .prop_map(
            |(max_series, target, extra, max_moves, min, span, replicas, handover, max_sps)| {
                PlanSettings {
                    max_series,
                    max_samples_per_second: max_sps,
                    target_utilization: f64::from(target) / 100.0,
                    high_watermark: f64::from(target + extra) / 100.0,
                    max_moves,
                    min_shards: min,
                    max_shards: min + span,
                    replicas,
                    handover_scrapes: handover,
                    ..PlanSettings::default()
                }
            },
        )
}

/// A scrape interval: the default, or one of those fleets use.
fn interval() -> impl Strategy<Value = Option<Duration>> {
    prop::sample::select(vec![
        None,
        Some(1u64),
        Some(5),
        Some(15),
        Some(60),
        Some(300),
    ])
    .prop_map(|secs| secs.map(Duration::from_secs))
}

fn id(i: u8) -> String {
    format!("{i:02x}")
}

fn inputs_strategy(settings: &PlanSettings) -> impl Strategy<Value = PlanInputs> + use<> {
    let cap = settings.max_series;
    let replicas = settings.replicas;
    let target = (
        0u8..60,
        0u8..3,
        prop::option::weighted(0.9, 0..cap + cap / 2),
        interval(),
    )
        .prop_map(|(i, job, size, every)| TargetInput {
            scrape_interval: every,
            ..TargetInput::new(id(i), format!("job{job}"), size)
        });
    let health = prop_oneof![
        6 => Just(ShardHealth::Ready),
        1 => (0u64..600_000).prop_map(|ago| ShardHealth::Starting {
            since: Timestamp(NOW.0 - ago)
        }),
        2 => (0u64..600_000).prop_map(|ago| ShardHealth::Unhealthy {
            since: Timestamp(NOW.0 - ago)
        }),
    ];
    let reported = (
        0u8..70,
        prop::bool::weighted(0.8),
        0u64..5,
        prop::option::of(0u64..5),
    )
        .prop_map(|(i, active, scrapes, assigned)| ReportedTarget {
            id: id(i),
            role: if active { Role::Active } else { Role::Draining },
            scrapes,
            assigned_at: assigned.map(|a| Timestamp(NOW.0 - a * 60_000)),
        });
    let shard = (
        health,
        prop::bool::weighted(0.1),
        prop::option::of(0..cap * 2),
        prop::option::of((0u64..4_000_000).prop_map(|ago| Timestamp(NOW.0 - ago))),
        prop::collection::vec(reported, 0..12),
    );
    (
        prop::collection::vec(target, 0..40),
        prop::collection::vec(prop::collection::vec(shard, replicas as usize), 0..6),
        prop::option::of((0u64..8_000_000).prop_map(|ago| Timestamp(NOW.0 - ago))),
    )
        .prop_map(|(targets, slots, since)| {
            let mut shards = Vec::new();
            for (index, groups) in slots.into_iter().enumerate() {
                for (group, (health, removing, head, idle, targets)) in
                    groups.into_iter().enumerate()
                {
                    shards.push(ShardInput {
                        index: index as u32,
                        group: group as u32,
                        health,
                        removing,
                        head_series: head,
                        idle_since: if targets.is_empty() { idle } else { None },
                        targets,
                    });
                }
            }
            PlanInputs {
                targets,
                shards,
                scale_down_candidate_since: since,
            }
        })
}

/// Consistent reports: every target active on one shard in every group,
/// settled, on mostly healthy shards, with some shards overloaded.
fn consistent_inputs(settings: &PlanSettings) -> impl Strategy<Value = PlanInputs> + use<> {
    let cap = settings.max_series;
    let replicas = settings.replicas;
    let health = prop_oneof![
        8 => Just(ShardHealth::Ready),
        1 => (0u64..600_000).prop_map(|ago| ShardHealth::Unhealthy {
            since: Timestamp(NOW.0 - ago)
        }),
    ];
    (
        prop::collection::vec(
            (0..cap / 3, 0usize..6, prop::bool::weighted(0.9), interval()),
            1..60,
        ),
        prop::collection::vec((health, prop::bool::weighted(0.1)), 1..6),
    )
        .prop_map(move |(targets, slots)| {
            let mut shards: Vec<ShardInput> = Vec::new();
            for (index, (health, removing)) in slots.iter().enumerate() {
                for group in 0..replicas {
                    shards.push(ShardInput {
                        index: index as u32,
                        group,
                        health: *health,
                        removing: *removing,
                        head_series: None,
                        idle_since: None,
                        targets: Vec::new(),
                    });
                }
            }
            let mut inputs = Vec::new();
            for (i, (size, slot, placed, every)) in targets.into_iter().enumerate() {
                let id = format!("{i:03x}");
                inputs.push(TargetInput {
                    scrape_interval: every,
                    ..TargetInput::new(id.as_str(), "j", Some(size))
                });
                if placed {
                    let slot = (slot % slots.len()) as u32;
                    for shard in shards.iter_mut().filter(|s| s.index == slot) {
                        shard.targets.push(ReportedTarget {
                            id: id.clone(),
                            role: Role::Active,
                            scrapes: 10,
                            assigned_at: None,
                        });
                    }
                }
            }
            PlanInputs {
                targets: inputs,
                shards,
                scale_down_candidate_since: None,
            }
        })
}

fn case() -> impl Strategy<Value = (PlanSettings, PlanInputs)> {
    settings_strategy().prop_flat_map(|s| {
        let inputs = prop_oneof![inputs_strategy(&s), consistent_inputs(&s)];
        (Just(s), inputs)
    })
}

/// Per slot: target ids with their roles, from the plan.
fn placement(plan: &Plan) -> BTreeMap<String, Vec<(u32, Role)>> {
    let mut by_target: BTreeMap<String, Vec<(u32, Role)>> = BTreeMap::new();
    for shard in &plan.shards {
        for t in &shard.targets {
            by_target
                .entry(t.id.to_string())
                .or_default()
                .push((shard.index, t.role));
        }
    }
    by_target
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_target_is_active_exactly_once((settings, inputs) in case()) {
        let plan = plan(&inputs, &settings, NOW).unwrap();
        let desired: BTreeSet<&str> = inputs.targets.iter().map(|t| &*t.id).collect();
        let placed = placement(&plan);
        for id in placed.keys() {
            prop_assert!(desired.contains(id.as_str()), "{id} is not desired but assigned");
        }
        prop_assert_eq!(plan.targets.len(), desired.len());
        let waiting = matches!(plan.scale, ScaleDecision::Up { .. } | ScaleDecision::CancelDrain { .. })
            || plan.shards.iter().any(|s| s.status == SlotStatus::Starting)
            || !plan.shards.iter().any(|s| s.status == SlotStatus::Ready && !s.removing);
        for t in &plan.targets {
            let copies = placed.get(&*t.id).cloned().unwrap_or_default();
            let active: Vec<u32> =
                copies.iter().filter(|c| c.1 == Role::Active).map(|c| c.0).collect();
            if t.reason == Reason::Pending {
                prop_assert!(active.is_empty() && copies.is_empty());
                prop_assert!(waiting, "{} pending without a shard coming: {:?}", t.id, plan.scale);
            } else {
                prop_assert_eq!(active.len(), 1, "{} active on {:?}", &t.id, &active);
                prop_assert_eq!(t.shard, Some(active[0]));
                for (slot, role) in &copies {
                    if *role == Role::Draining {
                        prop_assert_ne!(*slot, active[0]);
                    }
                }
            }
        }
    }

    #[test]
    fn no_shard_is_filled_over_capacity((settings, inputs) in case()) {
        let plan = plan(&inputs, &settings, NOW).unwrap();
        let exhausted = plan.warnings.iter().any(|w| matches!(w, Warning::CapacityExhausted { .. }));
        for shard in &plan.shards {
            let active: Vec<&str> = shard
                .targets
                .iter()
                .filter(|t| t.role == Role::Active)
                .map(|t| &*t.id)
                .collect();
            let within_rate = settings.max_samples_per_second == 0
                || shard.active_samples_per_second <= settings.max_samples_per_second as f64 + 1e-6;
            if (shard.active_series <= settings.max_series && within_rate)
                || active.len() <= 1
                || exhausted
            {
                continue;
            }
            // Over capacity is only allowed if the planner added nothing: the
            // shard already held all of these (sticky, shedding within budget).
            let before: BTreeSet<&str> = inputs
                .shards
                .iter()
                .filter(|s| s.index == shard.index)
                .flat_map(|s| s.targets.iter().map(|t| t.id.as_str()))
                .collect();
            for id in active {
                prop_assert!(before.contains(id), "shard {} over capacity got {}", shard.index, id);
            }
        }
    }

    #[test]
    fn deterministic_in_any_input_order((settings, inputs) in case()) {
        let first = plan(&inputs, &settings, NOW).unwrap();
        let mut shuffled = inputs.clone();
        shuffled.targets.reverse();
        shuffled.shards.reverse();
        for shard in &mut shuffled.shards {
            shard.targets.reverse();
        }
        shuffled.targets.rotate_left(inputs.targets.len() / 3);
        let second = plan(&shuffled, &settings, NOW).unwrap();
        let a = serde_json::to_string(&first).unwrap();
        let b = serde_json::to_string(&second).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn moves_respect_the_budget_and_have_a_cause((settings, inputs) in case()) {
        let plan = plan(&inputs, &settings, NOW).unwrap();
        let budgeted: Vec<u64> = plan
            .moves
            .iter()
            .filter(|m| m.reason != MoveReason::Failover)
            .map(|m| m.series)
            .collect();
        let total: u64 = budgeted.iter().sum();
        if settings.max_moves == 0 {
            prop_assert!(budgeted.is_empty());
        } else {
            prop_assert!(total <= settings.max_moves || budgeted.len() == 1, "{total} > {}", settings.max_moves);
        }
        prop_assert_eq!(plan.summary.budgeted_move_series, total);
        // Shedding only from shards above the high watermark (in either
        // dimension), and, where series bind, no more targets than needed
        // to get under the target utilisation.
        let rate_of: BTreeMap<&str, f64> =
            plan.targets.iter().map(|t| (&*t.id, t.samples_per_second)).collect();
        let mut shed: BTreeMap<u32, Vec<(u64, f64)>> = BTreeMap::new();
        for m in plan.moves.iter().filter(|m| m.reason == MoveReason::Shed) {
            shed.entry(m.from).or_default().push((m.series, rate_of[m.target.as_str()]));
        }
        let max_rate = settings.max_samples_per_second as f64;
        for (from, sizes) in shed {
            let shard = &plan.shards[from as usize];
            let after = shard.active_series;
            let before = after + sizes.iter().map(|s| s.0).sum::<u64>();
            let before_rate =
                shard.active_samples_per_second + sizes.iter().map(|s| s.1).sum::<f64>();
            let rate_over = settings.max_samples_per_second > 0
                && before_rate > max_rate * settings.high_watermark - 1e-6;
            prop_assert!(
                before > settings.high_watermark_series() || rate_over,
                "shard {from} shed at {before} series, {before_rate}/s"
            );
            if !rate_over && shard.active_samples_per_second <= max_rate * settings.target_utilization {
                let smallest = sizes.iter().map(|s| s.0).min().unwrap_or(0);
                prop_assert!(
                    after + smallest > settings.target_series(),
                    "shard {from} shed more than needed: {after} + {smallest}"
                );
            }
        }
        let placed = placement(&plan);
        for m in &plan.moves {
            let to = &plan.shards[m.to as usize];
            let from = &plan.shards[m.from as usize];
            prop_assert!(to.status == SlotStatus::Ready && !to.removing, "{m:?} into {to:?}");
            match m.reason {
                MoveReason::Failover => prop_assert_eq!(from.status, SlotStatus::Failed),
                MoveReason::Drain => prop_assert!(from.removing),
                MoveReason::Shed => prop_assert!(from.status == SlotStatus::Ready && !from.removing),
            }
            let copies = &placed[&m.target];
            prop_assert!(copies.contains(&(m.to, Role::Active)));
            prop_assert!(copies.contains(&(m.from, Role::Draining)));
        }
    }

    /// A shard unhealthy or starting past the failover delay scrapes a
    /// target as its home only while no other shard can take it.
    #[test]
    fn a_shard_down_past_the_failover_delay_keeps_only_what_cannot_move(
        (settings, inputs) in case()
    ) {
        let plan = plan(&inputs, &settings, NOW).unwrap();
        for shard in plan.shards.iter().filter(|s| s.status == SlotStatus::Failed) {
            for assigned in shard.targets.iter().filter(|t| t.role == Role::Active) {
                let target = plan.targets.iter().find(|t| t.id == assigned.id).unwrap();
                prop_assert_eq!(
                    target.reason,
                    Reason::FailoverWaiting,
                    "{} stays active on failed shard {}",
                    &target.id,
                    shard.index
                );
            }
        }
        for input in &inputs.shards {
            let since = match input.health {
                ShardHealth::Starting { since } | ShardHealth::Unhealthy { since } => since,
                ShardHealth::Ready => continue,
            };
            if NOW.since(since) >= settings.failover_after && input.group < settings.replicas {
                prop_assert_eq!(plan.shards[input.index as usize].status, SlotStatus::Failed);
            }
        }
    }

    #[test]
    fn scale_decisions_are_safe((settings, inputs) in case()) {
        let plan = plan(&inputs, &settings, NOW).unwrap();
        let count = plan.shards.len() as u32;
        match plan.scale {
            ScaleDecision::None => {}
            ScaleDecision::Up { to, .. } => prop_assert!(to > count && to <= settings.max_shards),
            ScaleDecision::Drain { shard, .. } => {
                prop_assert_eq!(shard + 1, count);
                prop_assert!(!plan.shards[shard as usize].removing);
            }
            ScaleDecision::CancelDrain { shard } => prop_assert!(plan.shards[shard as usize].removing),
            ScaleDecision::Remove { shard } => {
                prop_assert_eq!(shard + 1, count);
                prop_assert!(plan.shards[shard as usize].targets.is_empty());
                for s in inputs.shards.iter().filter(|s| s.index == shard) {
                    prop_assert!(s.targets.is_empty(), "removing shard {shard} that reports targets");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// A fleet left to settle is stable: re-planning moves nothing, changes
    /// nothing, and every replica group holds the same layout.
    #[test]
    fn settled_fleets_are_sticky(
        count in 1usize..300,
        mean in 100u64..20_000,
        seed in any::<u64>(),
        shards in 1u32..5,
        replicas in 1u32..=2,
    ) {
        let settings = PlanSettings {
            max_series: 400_000,
            max_samples_per_second: 20_000,
            replicas,
            max_shards: 40,
            max_moves: 10_000_000,
            ..PlanSettings::default()
        };
        let mut fleet = Fleet::new(settings.clone(), shards, Timestamp(0));
        // Scraped at 5 s to 5 min: some shards bound by series, others by
        // ingestion.
        let intervals = [5u64, 15, 30, 60, 300];
        fleet.targets = synthetic_targets(count, mean, 500_000, seed)
            .iter()
            .enumerate()
            .map(|(i, t)| t.input().every(Duration::from_secs(intervals[i % intervals.len()])))
            .collect();
        let settled = fleet.settle(30).unwrap();
        prop_assert!(settled.is_some(), "did not settle");
        let before = plan(&fleet.inputs(), &settings, fleet.now).unwrap();
        let again = plan(&fleet.inputs(), &settings, fleet.now).unwrap();
        prop_assert_eq!(&before, &again);
        prop_assert!(before.moves.is_empty());
        prop_assert!(before.targets.iter().all(|t| t.reason == Reason::Sticky));
        // A restarted coordinator has lost its scale-down memory only.
        let mut restarted = fleet.inputs();
        restarted.scale_down_candidate_since = None;
        let after_restart = plan(&restarted, &settings, fleet.now).unwrap();
        prop_assert_eq!(&after_restart.shards, &before.shards);
        prop_assert!(after_restart.moves.is_empty());
        for shard in &fleet.shards {
            let group0 = fleet.shards.iter().find(|s| s.index == shard.index && s.group == 0).unwrap();
            let ids = |s: &ShardInput| s.targets.iter().map(|t| (t.id.clone(), t.role)).collect::<Vec<_>>();
            prop_assert_eq!(ids(shard), ids(group0));
        }
        // Nothing over capacity, in either dimension, unless alone.
        for shard in &before.shards {
            let active = shard.targets.iter().filter(|t| t.role == Role::Active).count();
            prop_assert!(
                (shard.active_series <= settings.max_series
                    && shard.active_samples_per_second <= 20_000.0 + 1e-6)
                    || active == 1,
                "{shard:?}"
            );
        }
    }
}
