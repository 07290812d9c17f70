//! The coordinator's planning cycle on a large fleet: 100k targets, 10M
//! series, 20 shards. The bar is under 100 ms per cycle; a cycle with no
//! change must move nothing (asserted before measuring).
//!
//! `cargo bench -p promshard-benches --bench plan`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use promshard_plan::synth::{Fleet, SyntheticTarget, synthetic_targets};
use promshard_plan::{PlanInputs, PlanSettings, ScaleDecision, Timestamp, plan};

const TARGETS: usize = 100_000;
const MEAN_SERIES: u64 = 100;
const SHARDS: u32 = 20;

fn settings() -> PlanSettings {
    PlanSettings {
        min_shards: SHARDS,
        max_shards: SHARDS,
        ..PlanSettings::default()
    }
}

/// A fleet of 20 ready shards, empty, and the targets to place.
fn fresh_fleet() -> Fleet {
    let mut fleet = Fleet::new(
        settings(),
        SHARDS,
        Timestamp::from_millis(1_700_000_000_000),
    );
    fleet.targets = synthetic_targets(TARGETS, MEAN_SERIES, 100_000, 2026)
        .iter()
        .map(SyntheticTarget::input)
        .collect();
    fleet
}

/// The same fleet once every target is placed and every handover is done.
fn settled_inputs() -> (PlanInputs, Timestamp) {
    let mut fleet = fresh_fleet();
    let settled = fleet.settle(10).ok().flatten();
    assert!(settled.is_some(), "the fleet did not settle");
    let inputs = fleet.inputs();
    let steady = plan(&inputs, &settings(), fleet.now).ok();
    let steady = steady.as_ref();
    assert!(
        steady.is_some_and(|p| p.moves.is_empty()),
        "a cycle with no change moved targets"
    );
    assert!(steady.is_some_and(|p| p.scale == ScaleDecision::None));
    assert!(steady.is_some_and(|p| p.summary.pending_targets == 0));
    let series: u64 = inputs
        .targets
        .iter()
        .filter_map(|t| t.measured_series)
        .sum();
    assert!(
        (9_000_000..=11_000_000).contains(&series),
        "{series} series"
    );
    (inputs, fleet.now)
}

fn planning(c: &mut Criterion) {
    let settings = settings();
    let (steady, now) = settled_inputs();
    let fresh = fresh_fleet();
    let fresh_inputs = fresh.inputs();
    // The first placement must plan every target and give most a home, so
    // a fast plan that placed nothing cannot pass for a good figure.
    let first = plan(&fresh_inputs, &settings, fresh.now).ok();
    let first = first.as_ref();
    assert!(first.is_some_and(|p| p.targets.len() == fresh_inputs.targets.len()));
    let placed = first.map_or(0, |p| {
        p.targets.iter().filter(|t| t.shard.is_some()).count()
    });
    assert!(
        placed * 2 > fresh_inputs.targets.len(),
        "the first placement placed only {placed} targets"
    );

    let mut group = c.benchmark_group("plan");
    group.sample_size(20);
    group.bench_function("100k_targets_20_shards/steady_cycle", |b| {
        b.iter(|| plan(black_box(&steady), &settings, now));
    });
    group.bench_function("100k_targets_20_shards/initial_placement", |b| {
        b.iter(|| plan(black_box(&fresh_inputs), &settings, fresh.now));
    });
    group.finish();
}

criterion_group!(benches, planning);
criterion_main!(benches);
