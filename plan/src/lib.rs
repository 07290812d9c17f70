//! The promshard coordinator's planner: a pure, IO-free function from what
//! the sidecars report to where every scrape target should be, plus the
//! hash-sharding baselines ([`baseline`]) it is measured against.
//!
//! ```
//! use promshard_plan::{
//!     PlanInputs, PlanSettings, ShardHealth, ShardInput, TargetInput, Timestamp, plan,
//! };
//!
//! let shard = |index| ShardInput {
//!     index,
//!     group: 0,
//!     health: ShardHealth::Ready,
//!     removing: false,
//!     head_series: Some(0),
//!     idle_since: None,
//!     targets: vec![],
//! };
//! let target = |id: &str, series| TargetInput::new(id, "node", Some(series));
//! let inputs = PlanInputs {
//!     targets: vec![target("a1", 300_000), target("b2", 200_000), target("c3", 250_000)],
//!     shards: vec![shard(0), shard(1)],
//!     scale_down_candidate_since: None,
//! };
//! let plan = plan(&inputs, &PlanSettings::default(), Timestamp::from_millis(0)).unwrap();
//! // Every target has a shard and nothing moved: they were all new.
//! assert!(plan.targets.iter().all(|t| t.shard.is_some()));
//! assert!(plan.moves.is_empty());
//! let loads: Vec<u64> = plan.shards.iter().map(|s| s.active_series).collect();
//! assert!(loads.iter().all(|&l| l <= 500_000), "{loads:?}");
//! ```
//!
//! # Rules
//!
//! - **Deterministic.** Inputs are sorted first; every decision iterates
//!   vectors or B-trees, never a hash map. The same inputs, in any order, give
//!   a byte-identical plan.
//! - **Stateless.** The current placement is what the sidecars report:
//!   per shard, each target with its role (active or draining) and the
//!   successful scrapes since the shard got it. The only memory between
//!   cycles is [`PlanInputs::scale_down_candidate_since`]. A restarted
//!   coordinator therefore rebuilds the same placement and moves nothing.
//! - **Two dimensions.** A target's load is its head series and its
//!   samples per second (series per scrape interval); a shard has a
//!   capacity in each ([`PlanSettings::max_series`],
//!   [`PlanSettings::max_samples_per_second`]). Every threshold below (the
//!   packing goal, the fill level, the high watermark, a whole shard)
//!   applies to both, and a load's utilisation is the larger of its two
//!   fractions ([`Utilization`]; [`Dimension`] says which binds). A fleet
//!   scraped every few seconds is packed by ingestion, one scraped every
//!   minute by memory, and a shard never exceeds either.
//! - **Sizes.** A target's size is the peak of its recent scrapes; one never
//!   measured gets its job's median measured size, else
//!   [`PlanSettings::default_target_series`], and is flagged as estimated.
//! - **Sticky.** A target stays on its shard unless that shard is above the
//!   high watermark, is being drained, or has failed.
//! - **New targets** are placed largest first, best fit under the fleet's
//!   fill level: the mean load the shards will have once everything is placed,
//!   never above the target utilisation. Packing to the mean rather than to
//!   the target utilisation keeps the shards even (max/mean close to 1)
//!   instead of filling them one after another. A target that fits under no
//!   shard's fill level goes to the least-loaded shard with room under the
//!   target utilisation.
//! - **Large targets.** A target above the target utilisation (in either
//!   dimension) goes alone on an empty shard; one above a whole shard is
//!   also reported ([`Warning::Oversize`]). Nothing is ever dropped.
//! - **Shedding.** A shard above the high watermark sheds few targets
//!   that bring it under the target utilisation in both dimensions (the
//!   ones covering most of what is over, the last being the smallest that
//!   suffices), within the per-cycle move budget (in series). A shard
//!   holding a target above the target utilisation sheds everything else.
//! - **Handover.** A moved target is active on its new shard and draining on
//!   the old one until every ready replica of the new shard has reported
//!   [`PlanSettings::handover_scrapes`] successful scrapes; then the old copy
//!   is dropped. Targets in a handover are not moved again.
//! - **Scaling**, one decision per cycle ([`ScaleDecision`]): up as soon as
//!   the targets need more shards than are available (best-fit decreasing at
//!   the target utilisation), before any move that needs them; targets wait
//!   ([`Reason::Pending`]) until the new shards report ready; shards still
//!   starting count as the capacity they bring, so only what they cannot
//!   take asks for more. Down only after
//!   the fleet has fitted in one shard fewer for `scale_down_after`: drain
//!   the highest shard through handovers, then remove it once it has held
//!   nothing for `idle_before_remove`. A shard holding or reporting any target
//!   is never removed. If the maximum shard count is reached, targets are put
//!   on the least-loaded shard anyway ([`Warning::CapacityExhausted`]).
//! - **Failover.** A shard unhealthy (its sidecar silent, its Prometheus
//!   not ready or not scraping) or still starting for `failover_after`
//!   loses its
//!   targets to the others (outside the move budget: nobody scrapes them),
//!   which may be filled up to the high watermark rather than the target
//!   utilisation for them; it keeps them as draining, so that if it comes
//!   back before the handover completes nothing is lost. Before
//!   `failover_after` it keeps its targets and gets no new ones. A shard that
//!   comes back with targets that moved meanwhile reports duplicates: the
//!   copy assigned last ([`ReportedTarget::assigned_at`], else the fewest
//!   scrapes) wins, the others drain and are dropped.
//! - **Replica groups** have identical layouts: a plan is per shard index
//!   and applies to that index in every group. An index is as healthy as its
//!   worst replica, so a failover moves the index's targets in every group.
//!
//! # Load model for moved series
//!
//! A target moved off a shard leaves its series in that shard's head until
//! head compaction garbage-collects them (every 2 hours), so memory does not
//! drop when a target moves. The planner places new targets against a
//! shard's *head load*: the larger of the head series its Prometheus reports
//! (which still include moved-away series) and the series of its active plus
//! draining targets. Within a cycle, a shard that sheds keeps its head load
//! (the moved series are counted on both shards), so it receives nothing new
//! until its reported head actually drops. Shedding decisions, on the other
//! hand, use the *active* load (the series of the targets it keeps), so that
//! a shard that has shed is not asked to shed again while its head still
//! holds the old series.
#![forbid(unsafe_code)]

pub mod baseline;
mod planner;
#[cfg(feature = "testing")]
pub mod synth;
mod types;

pub use planner::plan;
pub use types::*;
