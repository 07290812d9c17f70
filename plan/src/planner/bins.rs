//! Placement bookkeeping: the shards that take targets this cycle, their
//! loads in both dimensions, and best-fit search over them; and the count
//! of shards a set of targets needs.
//!
//! Shards are indexed by their load's [`Scale::key`] (the larger of its two
//! fractions), and every fit is checked exactly in both dimensions. A best
//! fit walks from the fullest shard that could fit downwards and takes the
//! first that does; with loads of similar shape (the usual fleet, whose
//! targets are scraped at a few intervals) that is the first it looks at.

use super::load::{Load, Scale};

/// The shards that take targets this cycle.
#[derive(Debug)]
pub(crate) struct Bins {
    /// Load of every shard (usable or not), indexed by slot.
    load: Vec<Load>,
    /// The fleet's fill level: new targets are packed under it.
    pub(crate) level: Load,
    scale: Scale,
    /// Usable shards by (key of their load, slot).
    by_load: SortedVec<(u64, u32)>,
    /// Usable shards holding nothing, for targets that need a shard alone.
    empty: SortedVec<u32>,
}

impl Bins {
    /// Bins over `loads`; none usable yet.
    pub(crate) fn new(loads: Vec<Load>, level: Load, scale: Scale) -> Self {
        Self {
            load: loads,
            level,
            scale,
            by_load: SortedVec::default(),
            empty: SortedVec::default(),
        }
    }

    /// Makes `slot` take targets; `empty` if it holds none.
    pub(crate) fn open(&mut self, slot: u32, empty: bool) {
        let key = self.scale.key(self.load[slot as usize]);
        self.by_load.insert((key, slot));
        if empty {
            self.empty.insert(slot);
        }
    }

    pub(crate) fn has_empty(&self) -> bool {
        !self.empty.is_empty()
    }

    fn commit(&mut self, slot: u32, item: Load) {
        let before = self.load[slot as usize];
        let after = before.add(item);
        self.by_load.remove(&(self.scale.key(before), slot));
        self.by_load.insert((self.scale.key(after), slot));
        self.load[slot as usize] = after;
        self.empty.remove(&slot);
    }

    /// The fullest usable shard `item` fits on within `limit`.
    fn best_fit(&self, item: Load, limit: Load) -> Option<u32> {
        // A shard whose fuller dimension already exceeds the room `limit`
        // leaves beside the item (in that dimension) cannot take it: only
        // shards keyed at most the key of that room are looked at.
        let clamped = Load {
            series: item.series.min(limit.series),
            rate: item.rate.min(limit.rate),
        };
        let bound = self.scale.key(limit.sub(clamped));
        fullest_fit(&self.by_load, bound, |slot| {
            self.load[slot as usize].fits(item, limit)
        })
        .map(|(_, slot)| slot)
    }

    /// The least-loaded usable shard `item` fits on within `limit`.
    fn least_loaded_fit(&self, item: Load, limit: Load) -> Option<u32> {
        self.by_load
            .items
            .iter()
            .map(|&(_, slot)| slot)
            .find(|&slot| self.load[slot as usize].fits(item, limit))
    }

    /// Best fit under the fill level, else (unless `fill_only`) the
    /// least-loaded shard that stays within the packing goal. The flag says
    /// whether it was a best fit.
    pub(crate) fn place_regular(&mut self, item: Load, fill_only: bool) -> Option<(u32, bool)> {
        if let Some(slot) = self.best_fit(item, self.level) {
            self.commit(slot, item);
            return Some((slot, true));
        }
        if fill_only {
            return None;
        }
        let slot = self.least_loaded_fit(item, self.scale.target)?;
        self.commit(slot, item);
        Some((slot, false))
    }

    /// The least-loaded shard that stays within `limit`.
    pub(crate) fn place_under(&mut self, item: Load, limit: Load) -> Option<u32> {
        let slot = self.least_loaded_fit(item, limit)?;
        self.commit(slot, item);
        Some(slot)
    }

    /// The lowest empty shard, for a target above the packing goal.
    pub(crate) fn place_alone(&mut self, item: Load) -> Option<u32> {
        let slot = *self.empty.first()?;
        self.commit(slot, item);
        Some(slot)
    }

    /// Capacity exhausted: the least-loaded shard, preferring an empty one
    /// for a target that needs to be alone.
    pub(crate) fn place_over(&mut self, item: Load, alone: bool) -> Option<u32> {
        let slot = match self.empty.first() {
            Some(&slot) if alone => slot,
            _ => self.by_load.first()?.1,
        };
        self.commit(slot, item);
        Some(slot)
    }

    /// Whether the least-loaded usable shard could take `item` within the
    /// packing goal (or, for one above it, whether an empty shard is left).
    pub(crate) fn could_take(&self, item: Load) -> bool {
        if !item.within(self.scale.target) {
            return self.has_empty();
        }
        self.by_load
            .first()
            .is_some_and(|&(_, slot)| self.load[slot as usize].fits(item, self.scale.target))
    }
}

/// Shards a set of targets needs at the packing goal: one per target above
/// it, plus best-fit-decreasing bins for the rest. `items` are sorted
/// largest first (by key).
pub(crate) fn shards_needed(items: &[Load], scale: &Scale) -> u32 {
    let limit = scale.target;
    let mut load: Vec<Load> = Vec::new();
    let mut by_load: SortedVec<(u64, u32)> = SortedVec::default();
    let mut large = 0u32;
    for &item in items {
        if !item.within(limit) {
            large = large.saturating_add(1);
            continue;
        }
        let clamped = Load {
            series: item.series.min(limit.series),
            rate: item.rate.min(limit.rate),
        };
        let bound = scale.key(limit.sub(clamped));
        let fit = fullest_fit(&by_load, bound, |bin| load[bin as usize].fits(item, limit));
        match fit {
            Some((key, bin)) => {
                let after = load[bin as usize].add(item);
                by_load.remove(&(key, bin));
                by_load.insert((scale.key(after), bin));
                load[bin as usize] = after;
            }
            None => {
                let bin = u32::try_from(load.len()).unwrap_or(u32::MAX);
                load.push(item);
                by_load.insert((scale.key(item), bin));
            }
        }
    }
    large.saturating_add(u32::try_from(load.len()).unwrap_or(u32::MAX))
}

/// Among the entries keyed at most `bound`, the one with the highest key
/// for which `fits` holds, the lowest slot among equal keys (the tightest
/// fit, deterministically).
fn fullest_fit(
    by_load: &SortedVec<(u64, u32)>,
    bound: u64,
    fits: impl Fn(u32) -> bool,
) -> Option<(u64, u32)> {
    let end = by_load.items.partition_point(|&(key, _)| key <= bound);
    let mut best: Option<(u64, u32)> = None;
    // Descending keys; within a key, descending slots, so the last fit seen
    // for the best key is its lowest slot.
    for &(key, slot) in by_load.items[..end].iter().rev() {
        if best.is_some_and(|(best_key, _)| key < best_key) {
            break;
        }
        if fits(slot) {
            best = Some((key, slot));
        }
    }
    best
}

/// An ordered set kept as a sorted vector. The sets of the planner hold one
/// entry per shard (tens, at most a few thousand) and change on every
/// placement: a binary search and a short memmove beat a B-tree's node
/// walks and rebalancing there.
#[derive(Debug, Clone)]
pub(crate) struct SortedVec<T> {
    items: Vec<T>,
}

impl<T> Default for SortedVec<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<T: Ord + Copy> SortedVec<T> {
    pub(crate) fn insert(&mut self, item: T) {
        if let Err(at) = self.items.binary_search(&item) {
            self.items.insert(at, item);
        }
    }

    pub(crate) fn remove(&mut self, item: &T) {
        if let Ok(at) = self.items.binary_search(item) {
            self.items.remove(at);
        }
    }

    pub(crate) fn first(&self) -> Option<&T> {
        self.items.first()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::types::PlanSettings;

    fn scale() -> Scale {
        Scale::new(&PlanSettings {
            max_series: 100,
            max_samples_per_second: 10,
            ..PlanSettings::default()
        })
    }

    /// `series` scraped every `secs`.
    fn item(series: u64, secs: u64) -> Load {
        Load::of(series, Some(Duration::from_secs(secs)))
    }

    #[test]
    fn fits_are_checked_in_both_dimensions() {
        let scale = scale();
        // Packing goal: 80 series and 8 samples/s. 40 series every 10 s is
        // 4 samples/s: two fit; 40 every 5 s is 8 samples/s: one does.
        let mut bins = Bins::new(vec![Load::default(); 2], scale.target, scale);
        bins.open(0, true);
        bins.open(1, true);
        assert_eq!(bins.place_regular(item(40, 10), true), Some((0, true)));
        assert_eq!(bins.place_regular(item(40, 10), true), Some((0, true)));
        assert_eq!(bins.place_regular(item(10, 5), true), Some((1, true)));
        assert_eq!(bins.place_regular(item(30, 5), true), Some((1, true)));
        assert_eq!(bins.place_regular(item(1, 1), true), None, "both full");
    }

    #[test]
    fn series_and_ingestion_heavy_targets_share_shards() {
        let scale = scale();
        // 60 series every 60 s (1/s) next to 5 series every 1 s (5/s): the
        // first is series-heavy, the second ingestion-heavy; one shard
        // holds both.
        let items = [item(60, 60), item(5, 1)];
        assert_eq!(shards_needed(&items, &scale), 1);
        // Two ingestion-heavy ones do not share.
        assert_eq!(shards_needed(&[item(5, 1), item(5, 1)], &scale), 2);
        // One above the goal in either dimension gets a shard of its own.
        assert_eq!(
            shards_needed(&[item(9, 1), item(81, 60), item(1, 60)], &scale),
            3
        );
    }
}
