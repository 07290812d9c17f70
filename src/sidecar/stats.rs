//! Per-target scrape statistics: the last few scrapes of every target, the
//! peak that packing uses, the heaviest metric families, the last error, and
//! the counting schedule.
//!
//! The scrape path records one [`ScrapeRecord`] per scrape; the API serves
//! [`TargetStatsSnapshot`]s. Memory is bounded per target ([`HISTORY`]
//! records and one older counted record, [`HISTORY`] counted sizes and
//! [`TOP_FAMILIES`](crate::scrape::counting::TOP_FAMILIES) families), and targets that
//! leave the assignment are dropped with [`StatsRegistry::retain`].
//!
//! Not every scrape is counted: packing works from the peak of a short
//! history on a scale of minutes, so [`StatsRegistry::claim_count`] lets a
//! scrape be counted only when the target's last counted scrape started at
//! least the minimum interval ago (`--counting.min-interval`), or it was
//! never counted, or its last count failed or was incomplete, or its
//! `Content-Type` or `Content-Encoding` changed. Every scrape is recorded
//! (status, bytes, duration, errors); [`ScrapeRecord::counted`] says whether
//! its samples were counted, and the peaks are taken over the last
//! [`HISTORY`] successful counted scrapes, however many scrapes were not
//! counted in between.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::scrape::counting::ResponseMeta;
use crate::shard_api::{
    ErrorCause, FamilyCount, HISTORY, LastError, ScrapeOutcome, ScrapeRecord, ScrapeTarget,
    TargetId, TargetStatsSnapshot,
};

#[derive(Debug, Default)]
struct TargetStats {
    job: String,
    history: VecDeque<ScrapeRecord>,
    /// Samples and kept samples of the last successful counted scrapes,
    /// oldest first: what the peaks are taken over.
    counted_sizes: VecDeque<(Option<u64>, Option<u64>)>,
    /// The latest counted scrape that has left `history` (the latest
    /// counted scrape when `history` holds none).
    counted_before_history: Option<ScrapeRecord>,
    top_families: Vec<FamilyCount>,
    last_error: Option<LastError>,
    scrapes_total: u64,
    failures_total: u64,
    counted_total: u64,
    schedule: CountSchedule,
}

impl TargetStats {
    /// Adds one scrape; see [`StatsRegistry::record`].
    fn record(
        &mut self,
        target: &ScrapeTarget,
        record: ScrapeRecord,
        top_families: Vec<FamilyCount>,
    ) {
        if self.job != target.job {
            self.job.clone_from(&target.job);
        }
        self.scrapes_total += 1;
        let success = record.outcome == ScrapeOutcome::Success;
        if !success {
            self.failures_total += 1;
            self.last_error = Some(LastError {
                at_unix_ms: record.started_unix_ms,
                cause: record.cause.unwrap_or(ErrorCause::Protocol),
                message: record.error.clone().unwrap_or_default(),
            });
        }
        if record.counted {
            self.counted_total += 1;
            self.schedule.recount = !success || record.count_error.is_some();
            if success {
                if record.samples.is_some() {
                    self.top_families = top_families;
                }
                if self.counted_sizes.len() == HISTORY {
                    self.counted_sizes.pop_front();
                }
                self.counted_sizes.push_back((record.samples, record.kept));
            }
        }
        if self.history.len() == HISTORY
            && let Some(oldest) = self.history.pop_front()
            && oldest.counted
        {
            self.counted_before_history = Some(oldest);
        }
        self.history.push_back(record);
    }

    /// The latest counted scrape, in `history` or before it.
    fn last_counted(&self) -> Option<&ScrapeRecord> {
        self.history
            .iter()
            .rev()
            .find(|r| r.counted)
            .or(self.counted_before_history.as_ref())
    }
}

/// When the target was last counted, and what it was counted as.
#[derive(Debug, Default)]
struct CountSchedule {
    /// When the latest scrape chosen for counting started.
    claimed_at: Option<Instant>,
    /// The latest finished count failed or was incomplete: count the next
    /// scrape.
    recount: bool,
    content_type: String,
    content_encoding: String,
}

impl CountSchedule {
    /// Whether a scrape that started at `started` with `response`'s headers
    /// is counted; if so, it becomes the target's latest counted scrape.
    fn claim(
        &mut self,
        started: Instant,
        response: &ResponseMeta<'_>,
        min_interval: Duration,
    ) -> bool {
        let content_type = response.content_type.unwrap_or_default();
        let content_encoding = response.content_encoding.unwrap_or_default();
        // A job scraped exactly every `min_interval` must be counted every
        // scrape, though its requests arrive a little early or late.
        let due = min_interval.saturating_sub(min_interval / 20);
        let count = match self.claimed_at {
            None => true,
            Some(claimed_at) => {
                self.recount
                    || started.saturating_duration_since(claimed_at) >= due
                    || content_type != self.content_type
                    || content_encoding != self.content_encoding
            }
        };
        if count {
            self.claimed_at = Some(started);
            self.recount = false;
            content_type.clone_into(&mut self.content_type);
            content_encoding.clone_into(&mut self.content_encoding);
        }
        count
    }
}

/// Statistics of every target scraped through this sidecar.
#[derive(Debug, Default)]
pub struct StatsRegistry {
    targets: Mutex<HashMap<TargetId, TargetStats>>,
}

impl StatsRegistry {
    /// Whether the scrape of `target` that started at `started` and was
    /// answered (HTTP 200) with `response`'s headers is to be counted: when
    /// the target's last counted scrape started at least `min_interval` ago
    /// (less 5% for scheduling jitter; zero counts every scrape), or it was
    /// never counted, or its last count failed or was incomplete, or its
    /// `Content-Type` or `Content-Encoding` changed. A claimed scrape is
    /// the target's latest counted one from now on.
    pub fn claim_count(
        &self,
        target: &ScrapeTarget,
        started: Instant,
        response: &ResponseMeta<'_>,
        min_interval: Duration,
    ) -> bool {
        self.with_target(target, |stats| {
            stats.schedule.claim(started, response, min_interval)
        })
    }

    /// Records a scrape of `target`; `top_families` replaces the target's
    /// families when the scrape was counted.
    pub fn record(
        &self,
        target: &ScrapeTarget,
        record: ScrapeRecord,
        top_families: Vec<FamilyCount>,
    ) {
        self.with_target(target, |stats| stats.record(target, record, top_families));
    }

    /// Runs `update` on the statistics of `target` under the lock, adding
    /// the target if it is new (its id is copied only then).
    fn with_target<R>(
        &self,
        target: &ScrapeTarget,
        update: impl FnOnce(&mut TargetStats) -> R,
    ) -> R {
        let mut targets = self.lock();
        let stats = match targets.get_mut(&target.id) {
            Some(stats) => stats,
            None => targets.entry(target.id.clone()).or_default(),
        };
        update(stats)
    }

    /// Calls `visit` with each target's id and when its latest recorded
    /// scrape started (milliseconds since the Unix epoch), under the lock:
    /// `visit` must be quick.
    pub fn for_each_last_scrape(&self, mut visit: impl FnMut(&TargetId, u64)) {
        let targets = self.lock();
        for (id, stats) in targets.iter() {
            if let Some(last) = stats.history.back() {
                visit(id, last.started_unix_ms);
            }
        }
    }

    /// The statistics of one target, if it was scraped.
    pub fn snapshot(&self, id: &str) -> Option<TargetStatsSnapshot> {
        let targets = self.lock();
        targets
            .get_key_value(id)
            .map(|(id, stats)| snapshot_of(id, stats))
    }

    /// The statistics of every target scraped, sorted by id.
    pub fn snapshot_all(&self) -> Vec<TargetStatsSnapshot> {
        let targets = self.lock();
        let mut all: Vec<_> = targets
            .iter()
            .map(|(id, stats)| snapshot_of(id, stats))
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Forgets every target for which `keep` is false (call after an
    /// assignment change, so removed targets do not accumulate).
    pub fn retain(&self, mut keep: impl FnMut(&TargetId) -> bool) {
        self.lock().retain(|id, _| keep(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TargetId, TargetStats>> {
        match self.targets.lock() {
            Ok(guard) => guard,
            // Every update leaves the map consistent; a panic elsewhere does
            // not make the figures wrong.
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

fn snapshot_of(id: &TargetId, stats: &TargetStats) -> TargetStatsSnapshot {
    TargetStatsSnapshot {
        id: id.clone(),
        job: stats.job.clone(),
        history: stats.history.iter().cloned().collect(),
        last_counted: stats.last_counted().cloned(),
        peak_samples: stats.counted_sizes.iter().filter_map(|s| s.0).max(),
        peak_kept: stats.counted_sizes.iter().filter_map(|s| s.1).max(),
        top_families: stats.top_families.clone(),
        last_error: stats.last_error.clone(),
        scrapes_total: stats.scrapes_total,
        failures_total: stats.failures_total,
        counted_total: stats.counted_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard_api::Role;

    fn target(id: &str) -> ScrapeTarget {
        ScrapeTarget {
            id: TargetId(id.into()),
            job: "j".into(),
            url: "http://x/metrics".into(),
            labels: Default::default(),
            role: Role::Active,
        }
    }

    #[test]
    fn history_is_bounded_and_peak_ignores_failures() {
        let stats = StatsRegistry::default();
        let t = target("a");
        for samples in 0..20u64 {
            stats.record(
                &t,
                ScrapeRecord {
                    counted: true,
                    samples: Some(samples),
                    ..ScrapeRecord::default()
                },
                Vec::new(),
            );
        }
        stats.record(
            &t,
            ScrapeRecord {
                outcome: ScrapeOutcome::Failed,
                cause: Some(ErrorCause::BodyCut),
                error: Some("cut".into()),
                counted: true,
                samples: Some(1000),
                ..ScrapeRecord::default()
            },
            Vec::new(),
        );
        let snap = stats.snapshot("a").unwrap();
        assert_eq!(snap.history.len(), HISTORY);
        assert_eq!(snap.peak_samples, Some(19));
        assert_eq!(snap.last_error.unwrap().cause, ErrorCause::BodyCut);
        assert_eq!((snap.scrapes_total, snap.failures_total), (21, 1));
    }

    /// The peak covers the last [`HISTORY`] counted scrapes, however many
    /// uncounted scrapes came between them.
    #[test]
    fn peaks_cover_counted_scrapes_only() {
        let stats = StatsRegistry::default();
        let t = target("a");
        let counted = |samples| ScrapeRecord {
            counted: true,
            samples: Some(samples),
            kept: Some(samples / 2),
            ..ScrapeRecord::default()
        };
        stats.record(&t, counted(500), Vec::new());
        for _ in 0..3 * HISTORY {
            stats.record(&t, ScrapeRecord::default(), Vec::new());
        }
        let before = stats.snapshot("a").unwrap().last_counted.unwrap();
        assert_eq!(before.samples, Some(500), "kept once out of the history");
        stats.record(&t, counted(100), Vec::new());
        let snap = stats.snapshot("a").unwrap();
        assert_eq!((snap.peak_samples, snap.peak_kept), (Some(500), Some(250)));
        assert_eq!(snap.last_counted.unwrap().samples, Some(100));
        assert_eq!(snap.counted_total, 2);
        assert!(snap.history[..HISTORY - 1].iter().all(|r| !r.counted));
        for _ in 0..HISTORY {
            stats.record(&t, counted(100), Vec::new());
        }
        assert_eq!(stats.snapshot("a").unwrap().peak_samples, Some(100));
    }

    #[test]
    fn the_schedule_counts_first_due_failed_and_changed_scrapes() {
        let stats = StatsRegistry::default();
        let t = target("a");
        let text = ResponseMeta {
            content_type: Some("text/plain"),
            content_encoding: Some("gzip"),
        };
        let minute = Duration::from_secs(60);
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert!(stats.claim_count(&t, at(0), &text, minute), "never counted");
        assert!(!stats.claim_count(&t, at(10), &text, minute));
        assert!(!stats.claim_count(&t, at(50), &text, minute));
        assert!(
            stats.claim_count(&t, at(59), &text, minute),
            "due, with jitter"
        );
        assert!(!stats.claim_count(&t, at(70), &text, minute));
        let plain = ResponseMeta {
            content_encoding: None,
            ..text
        };
        assert!(
            stats.claim_count(&t, at(71), &plain, minute),
            "encoding changed"
        );
        assert!(!stats.claim_count(&t, at(72), &plain, minute));
        let incomplete = ScrapeRecord {
            counted: true,
            samples: Some(3),
            count_error: Some("body ended early".into()),
            ..ScrapeRecord::default()
        };
        stats.record(&t, incomplete, Vec::new());
        assert!(
            stats.claim_count(&t, at(73), &plain, minute),
            "last count incomplete"
        );
        stats.record(
            &t,
            ScrapeRecord {
                counted: true,
                ..ScrapeRecord::default()
            },
            Vec::new(),
        );
        assert!(!stats.claim_count(&t, at(74), &plain, minute));
        assert!(
            stats.claim_count(&t, at(74), &plain, Duration::ZERO),
            "0s counts every scrape"
        );
    }

    #[test]
    fn retain_forgets_removed_targets() {
        let stats = StatsRegistry::default();
        stats.record(&target("a"), ScrapeRecord::default(), Vec::new());
        stats.record(&target("b"), ScrapeRecord::default(), Vec::new());
        stats.retain(|id| id.0 == "b");
        let ids: Vec<_> = stats.snapshot_all().into_iter().map(|s| s.id.0).collect();
        assert_eq!(ids, ["b"]);
    }
}
