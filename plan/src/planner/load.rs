//! Loads in two dimensions, head series and samples per second, and the
//! per-dimension limits they are held to.
//!
//! Each dimension is kept in its own exact integer unit (series, and
//! thousandths of a sample per second) and checked against its own
//! capacity, so that a fleet bound by series packs exactly as it would on
//! series alone. Only ordering ("largest first", "least loaded") compares
//! across dimensions, through [`Scale::key`]: the larger of the two
//! fractions of a shard, in parts per billion.

use std::time::Duration;

use crate::types::{Dimension, PlanSettings, Utilization};

/// Parts per billion: the unit of [`Scale::key`].
const PPB: u128 = 1_000_000_000;

/// Thousandths of a sample per second: a target of 1 series scraped every
/// 5 minutes appends 0.0033 samples per second, which must not round to 0.
const MILLI: u128 = 1_000;

/// Prometheus's `scrape_interval` when none is given.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// A load: series, and samples per second in thousandths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Load {
    pub(crate) series: u64,
    pub(crate) rate: u64,
}

impl Load {
    /// The load of `series` series scraped every `interval`.
    pub(crate) fn of(series: u64, interval: Option<Duration>) -> Self {
        let interval_ms = interval
            .filter(|i| !i.is_zero())
            .unwrap_or(DEFAULT_INTERVAL)
            .as_millis()
            .max(1);
        let rate = u128::from(series) * MILLI * 1_000 / interval_ms;
        Self {
            series,
            rate: u64::try_from(rate).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn add(self, other: Self) -> Self {
        Self {
            series: self.series.saturating_add(other.series),
            rate: self.rate.saturating_add(other.rate),
        }
    }

    pub(crate) fn sub(self, other: Self) -> Self {
        Self {
            series: self.series.saturating_sub(other.series),
            rate: self.rate.saturating_sub(other.rate),
        }
    }

    /// Each dimension at most `limit`'s.
    pub(crate) fn within(self, limit: Self) -> bool {
        self.series <= limit.series && self.rate <= limit.rate
    }

    /// Whether `other` added still stays within `limit`.
    pub(crate) fn fits(self, other: Self, limit: Self) -> bool {
        self.add(other).within(limit)
    }

    /// What is above `limit`, per dimension.
    pub(crate) fn excess_over(self, limit: Self) -> Self {
        self.sub(limit)
    }

    pub(crate) fn is_zero(self) -> bool {
        self.series == 0 && self.rate == 0
    }

    /// Samples per second, for humans.
    pub(crate) fn samples_per_second(self) -> f64 {
        milli_to_f64(self.rate)
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "a display figure: thousandths of samples per second, far below 2^53"
)]
fn milli_to_f64(milli: u64) -> f64 {
    milli as f64 / 1_000.0
}

/// A shard's capacities and the limits derived from them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    /// One whole shard.
    pub(crate) capacity: Load,
    /// Packing goal: `target_utilization` of each capacity.
    pub(crate) target: Load,
    /// Shedding threshold: `high_watermark` of each capacity.
    pub(crate) high: Load,
}

impl Scale {
    pub(crate) fn new(settings: &PlanSettings) -> Self {
        // Unbounded ingestion: a limit nothing reaches.
        let rate_capacity = match settings.max_samples_per_second {
            0 => u64::MAX,
            sps => sps.saturating_mul(1_000),
        };
        let capacity = Load {
            series: settings.max_series,
            rate: rate_capacity,
        };
        let target = Load {
            series: settings.target_series().max(1),
            rate: fraction_of(rate_capacity, settings.target_utilization).max(1),
        };
        let high = Load {
            series: settings.high_watermark_series().max(target.series),
            rate: fraction_of(rate_capacity, settings.high_watermark).max(target.rate),
        };
        Self {
            capacity,
            target,
            high,
        }
    }

    /// The larger of `load`'s two fractions of a shard, in parts per
    /// billion: how loads are ordered.
    pub(crate) fn key(&self, load: Load) -> u64 {
        let series = ppb(load.series, self.capacity.series);
        let rate = ppb(load.rate, self.capacity.rate);
        series.max(rate)
    }

    /// Which dimension of `load` is the larger fraction of a shard.
    pub(crate) fn bound_by(&self, load: Load) -> Dimension {
        if ppb(load.rate, self.capacity.rate) > ppb(load.series, self.capacity.series) {
            Dimension::SamplesPerSecond
        } else {
            Dimension::Series
        }
    }

    /// `load` as fractions of a shard.
    pub(crate) fn utilization(&self, load: Load) -> Utilization {
        Utilization {
            series: fraction(load.series, self.capacity.series),
            samples_per_second: if self.capacity.rate == u64::MAX {
                0.0
            } else {
                fraction(load.rate, self.capacity.rate)
            },
            bound_by: self.bound_by(load),
        }
    }

    /// The level `total` spread evenly over `shards` reaches: the bound
    /// dimension's share rounded up, the other dimension at the same
    /// fraction of its capacity; never above the packing goal.
    pub(crate) fn level(&self, total: Load, shards: u32) -> Load {
        let shards = u64::from(shards.max(1));
        let share = Load {
            series: total.series.div_ceil(shards),
            rate: total.rate.div_ceil(shards),
        };
        let level = match self.bound_by(share) {
            Dimension::Series => Load {
                series: share.series,
                rate: at_fraction_of(share.series, self.capacity.series, self.capacity.rate)
                    .max(share.rate),
            },
            Dimension::SamplesPerSecond => Load {
                series: at_fraction_of(share.rate, self.capacity.rate, self.capacity.series)
                    .max(share.series),
                rate: share.rate,
            },
        };
        Load {
            series: level.series.min(self.target.series),
            rate: level.rate.min(self.target.rate),
        }
    }
}

/// `value / capacity` in parts per billion, saturating.
fn ppb(value: u64, capacity: u64) -> u64 {
    if capacity == 0 {
        return u64::MAX;
    }
    let scaled = u128::from(value) * PPB / u128::from(capacity);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// `value / of` scaled to `to`, rounded up: the same fraction of another
/// capacity.
fn at_fraction_of(value: u64, of: u64, to: u64) -> u64 {
    if of == 0 {
        return to;
    }
    let scaled = (u128::from(value) * u128::from(to)).div_ceil(u128::from(of));
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

#[expect(
    clippy::cast_precision_loss,
    reason = "a display figure: a fraction of a capacity"
)]
fn fraction(value: u64, capacity: u64) -> f64 {
    if capacity == 0 {
        0.0
    } else {
        value as f64 / capacity as f64
    }
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "a validated fraction in (0, 1] of a u64 fits in a u64"
)]
fn fraction_of(value: u64, fraction: f64) -> u64 {
    if value == u64::MAX {
        return u64::MAX;
    }
    let scaled = (value as f64 * fraction).floor();
    if scaled <= 0.0 {
        0
    } else if scaled >= value as f64 {
        value
    } else {
        scaled as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_appends_its_series_once_per_interval() {
        let load = Load::of(6_000, Some(Duration::from_secs(30)));
        assert_eq!(load.rate, 200_000, "200 samples/s in thousandths");
        assert_eq!(Load::of(6_000, None).rate, 100_000, "one minute by default");
        assert_eq!(Load::of(1, Some(Duration::from_secs(300))).rate, 3);
        assert!(
            (Load::of(6_000, Some(Duration::from_secs(5))).samples_per_second() - 1200.0).abs()
                < 1e-9
        );
    }

    #[test]
    fn the_larger_fraction_binds() {
        let settings = PlanSettings {
            max_series: 1_000_000,
            max_samples_per_second: 100_000,
            ..PlanSettings::default()
        };
        let scale = Scale::new(&settings);
        // 500k series every 10 s: 50% of both.
        let even = Load::of(500_000, Some(Duration::from_secs(10)));
        assert_eq!(scale.key(even), 500_000_000);
        // Every 5 s: ingestion binds at 100%.
        let fast = Load::of(500_000, Some(Duration::from_secs(5)));
        assert_eq!(scale.bound_by(fast), Dimension::SamplesPerSecond);
        assert_eq!(scale.key(fast), 1_000_000_000);
        assert!(!fast.within(scale.target));
        assert_eq!(scale.bound_by(Load::of(500_000, None)), Dimension::Series);
        let u = scale.utilization(fast);
        assert!((u.series - 0.5).abs() < 1e-9 && (u.samples_per_second - 1.0).abs() < 1e-9);
    }

    #[test]
    fn unbounded_ingestion_never_binds() {
        let settings = PlanSettings {
            max_samples_per_second: 0,
            ..PlanSettings::default()
        };
        let scale = Scale::new(&settings);
        let fast = Load::of(10, Some(Duration::from_millis(1)));
        assert!(fast.within(scale.target));
        assert_eq!(scale.bound_by(fast), Dimension::Series);
        assert_eq!(scale.utilization(fast).samples_per_second, 0.0);
    }

    #[test]
    fn the_level_keeps_the_bound_dimension_exact() {
        let settings = PlanSettings {
            max_series: 100_000,
            ..PlanSettings::default()
        };
        let scale = Scale::new(&settings);
        let total = Load::of(300_000, None);
        let level = scale.level(total, 4);
        assert_eq!(level.series, 75_000);
        // 75% of the ingestion capacity, in thousandths.
        assert_eq!(level.rate, 75_000_000);
        // Never above the packing goal.
        assert_eq!(scale.level(total, 1).series, 80_000);
    }
}
