//! Whether this shard's Prometheus does its job: ready, and scraping what it
//! was assigned.
//!
//! The sidecar answering says nothing about that: after an OOM kill, during
//! a WAL replay of many minutes or in a crash loop, the sidecar answers and
//! its Prometheus scrapes nothing. So the sidecar checks its Prometheus's
//! `/-/ready` every few seconds and watches the scrapes it serves, and
//! reports a [`PrometheusState`]; the coordinator treats a shard that is
//! not [`Ready`](PrometheusState::Ready) as unhealthy and fails its targets
//! over after `--shard.failover-after`.
//!
//! "Not scraping" is judged per target against its own scrape interval, and
//! only once Prometheus has had time to pick the target up: a target counts
//! as overdue when nothing scraped it for [`OVERDUE_INTERVALS`] intervals
//! plus [`PICKUP_GRACE`] since the latest of its last scrape, its
//! assignment, the sidecar's start and Prometheus's last turn to ready. The
//! shard is not scraping when it holds targets Prometheus knows the job of
//! and every one of them is overdue; a few overdue targets among scraped
//! ones are a target problem, not a shard problem.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::shard_api::{PICKUP_GRACE, PrometheusState};

/// Scrape intervals without a scrape after which a target is overdue.
pub(super) const OVERDUE_INTERVALS: u32 = 3;

/// What [`not_scraping`] needs to know of one assigned target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TargetClock {
    /// Its scrape interval.
    pub interval: Duration,
    /// When its last scrape (of any outcome) started, if it had one since
    /// the sidecar started.
    pub last_scrape_ms: Option<u64>,
    /// When this shard got it, if known.
    pub assigned_at_ms: Option<u64>,
}

/// Why the shard is not scraping, or `None` if it is (or holds nothing to
/// judge by). `baseline_ms` is the latest of the sidecar's start and
/// Prometheus's last turn to ready: no target is overdue before it has had
/// its grace from then.
pub(super) fn not_scraping(
    now_ms: u64,
    baseline_ms: u64,
    targets: impl IntoIterator<Item = TargetClock>,
) -> Option<String> {
    let mut count = 0usize;
    let mut least_overdue: Option<(u64, Duration)> = None;
    for target in targets {
        count += 1;
        let since = target
            .last_scrape_ms
            .max(target.assigned_at_ms)
            .unwrap_or(0)
            .max(baseline_ms);
        let quiet_ms = now_ms.saturating_sub(since);
        let allowed = target.interval.saturating_mul(OVERDUE_INTERVALS) + PICKUP_GRACE;
        if u128::from(quiet_ms) <= allowed.as_millis() {
            return None;
        }
        if least_overdue.is_none_or(|(quiet, _)| quiet_ms < quiet) {
            least_overdue = Some((quiet_ms, target.interval));
        }
    }
    let (quiet_ms, interval) = least_overdue?;
    Some(format!(
        "Prometheus served no scrape of any of its {count} targets for at least {}s (scrape interval {}s)",
        quiet_ms / 1000,
        interval.as_secs()
    ))
}

/// The current [`PrometheusState`], kept across checks so that `since`
/// stays the start of the condition.
#[derive(Debug, Default)]
pub(super) struct HealthTracker {
    inner: Mutex<Tracked>,
}

#[derive(Debug, Default)]
struct Tracked {
    state: PrometheusState,
    /// When Prometheus last turned ready (0: not ready).
    ready_since_ms: u64,
    /// Whether it was ready once since the sidecar started.
    ever_ready: bool,
}

impl HealthTracker {
    /// The state as last observed.
    pub(super) fn state(&self) -> PrometheusState {
        self.lock().state.clone()
    }

    /// When Prometheus last turned ready, if it is ready.
    pub(super) fn ready_since_ms(&self) -> Option<u64> {
        let tracked = self.lock();
        (tracked.ready_since_ms > 0).then_some(tracked.ready_since_ms)
    }

    /// Records a failed readiness check.
    pub(super) fn not_ready(&self, now_ms: u64, reason: String) {
        let mut tracked = self.lock();
        tracked.ready_since_ms = 0;
        let since = match &tracked.state {
            PrometheusState::NotReady { since, .. } | PrometheusState::Starting { since, .. } => {
                *since
            }
            _ => now_ms,
        };
        tracked.state = if tracked.ever_ready {
            PrometheusState::NotReady { since, reason }
        } else {
            PrometheusState::Starting { since, reason }
        };
    }

    /// Records a successful readiness check, and whether the assigned
    /// targets are being scraped (`stalled`: why not, from [`not_scraping`]).
    pub(super) fn ready(&self, now_ms: u64, stalled: Option<String>) {
        let mut tracked = self.lock();
        if tracked.ready_since_ms == 0 {
            tracked.ready_since_ms = now_ms;
        }
        tracked.ever_ready = true;
        tracked.state = match stalled {
            None => PrometheusState::Ready,
            Some(reason) => {
                let since = match &tracked.state {
                    PrometheusState::NotScraping { since, .. } => *since,
                    _ => now_ms,
                };
                PrometheusState::NotScraping { since, reason }
            }
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracked> {
        // Each update writes a whole state: a poisoned one is still whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(interval_s: u64, last: Option<u64>, assigned: Option<u64>) -> TargetClock {
        TargetClock {
            interval: Duration::from_secs(interval_s),
            last_scrape_ms: last,
            assigned_at_ms: assigned,
        }
    }

    #[test]
    fn a_shard_scrapes_while_any_target_is_within_its_allowance() {
        // Allowance: 3 x 10 s + 10 s = 40 s.
        let now = 1_000_000;
        let stale = clock(10, Some(now - 300_000), Some(0));
        assert!(not_scraping(now, 0, [stale]).is_some());
        assert_eq!(
            not_scraping(now, 0, [stale, clock(10, Some(now - 40_000), None)]),
            None
        );
        assert!(not_scraping(now, 0, [stale, clock(10, Some(now - 40_001), None)]).is_some());
        // A long interval gives a long allowance.
        assert_eq!(
            not_scraping(now, 0, [clock(300, Some(now - 300_000), None)]),
            None
        );
    }

    #[test]
    fn new_targets_restarts_and_an_empty_shard_are_not_stalls() {
        let now = 1_000_000;
        // Never scraped, but assigned 20 s ago.
        assert_eq!(
            not_scraping(now, 0, [clock(10, None, Some(now - 20_000))]),
            None
        );
        // Never scraped, assigned long ago, but Prometheus just turned ready.
        assert_eq!(
            not_scraping(now, now - 5_000, [clock(10, None, Some(0))]),
            None
        );
        assert_eq!(not_scraping(now, 0, []), None);
        let reason = not_scraping(now, now - 60_000, [clock(10, None, None)]).unwrap();
        assert!(
            reason.contains("of its 1 targets for at least 60s"),
            "{reason}"
        );
    }

    #[test]
    fn a_condition_keeps_the_time_it_began() {
        let tracker = HealthTracker::default();
        assert_eq!(tracker.state(), PrometheusState::Unknown);
        tracker.not_ready(50, "connection refused".into());
        assert_eq!(
            tracker.state(),
            PrometheusState::Starting {
                since: 50,
                reason: "connection refused".into()
            }
        );
        tracker.ready(60, None);
        tracker.not_ready(100, "connection refused".into());
        tracker.not_ready(200, "503".into());
        assert_eq!(
            tracker.state(),
            PrometheusState::NotReady {
                since: 100,
                reason: "503".into()
            }
        );
        assert_eq!(tracker.ready_since_ms(), None);
        tracker.ready(300, None);
        tracker.ready(400, Some("quiet".into()));
        tracker.ready(500, Some("still quiet".into()));
        assert_eq!(
            tracker.state(),
            PrometheusState::NotScraping {
                since: 400,
                reason: "still quiet".into()
            }
        );
        assert_eq!(tracker.ready_since_ms(), Some(300));
        tracker.ready(600, None);
        assert_eq!(tracker.state(), PrometheusState::Ready);
    }
}
