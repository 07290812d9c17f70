//! Per-target scrape statistics: the last few scrapes of every target, the
//! peak that packing uses, the heaviest metric families, the last error, and
//! the counting schedule.
//!
//! The scrape path records one [`ScrapeRecord`] per scrape; the API serves
//! [`TargetStatsSnapshot`]s. Memory is bounded per target ([`HISTORY`]
//! records and one older counted record, [`HISTORY`] counted sizes and
//! [`TOP_FAMILIES`](super::counting::TOP_FAMILIES) families), and targets that
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
//!
//! ```
//! use promshard::sidecar::assignment::{Role, ScrapeTarget, TargetId};
//! use promshard::sidecar::stats::{ScrapeOutcome, ScrapeRecord, StatsRegistry};
//!
//! let target = ScrapeTarget {
//!     id: TargetId("t1".into()),
//!     job: "node".into(),
//!     url: "http://127.0.0.1:9100/metrics".into(),
//!     labels: Default::default(),
//!     role: Role::Active,
//! };
//! let stats = StatsRegistry::default();
//! for samples in [10, 30, 20] {
//!     let record = ScrapeRecord { counted: true, samples: Some(samples), ..ScrapeRecord::default() };
//!     stats.record(&target, record, Vec::new());
//! }
//! // A scrape that was not counted leaves the sizes as they were.
//! stats.record(&target, ScrapeRecord::default(), Vec::new());
//! let snapshot = stats.snapshot("t1").unwrap();
//! assert_eq!(snapshot.peak_samples, Some(30));
//! assert_eq!(snapshot.last_counted.unwrap().samples, Some(20));
//! assert_eq!((snapshot.scrapes_total, snapshot.counted_total), (4, 3));
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::assignment::{ScrapeTarget, TargetId};
use super::counting::{FamilyCount, ResponseMeta, ScrapeFormat};

/// Scrapes kept per target, and counted scrapes the peak is taken over.
pub const HISTORY: usize = 8;

/// How a scrape ended, from Prometheus's point of view.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ScrapeOutcome {
    /// HTTP 200 and the whole body forwarded.
    #[default]
    Success,
    /// Prometheus recorded (or will record) a failed scrape.
    Failed,
}

/// Why a scrape failed, one value per step that can fail. Also the `cause`
/// label of the sidecar's scrape counter, so the set is closed and small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCause {
    /// The path named no assigned target.
    UnknownTarget,
    /// Not `GET`, or not a scrape path.
    BadRequest,
    /// The sidecar has no settings for the target's job, or cannot use them.
    Settings,
    /// The target's host name did not resolve.
    Dns,
    /// No TCP connection to the target.
    Connect,
    /// The HTTP proxy failed.
    Proxy,
    /// The TLS handshake failed.
    Tls,
    /// The target broke HTTP or closed the connection early.
    Protocol,
    /// Too many or unusable redirects.
    Redirect,
    /// The target did not answer within the scrape timeout.
    Timeout,
    /// The target answered with a status other than 200.
    Status,
    /// The body failed after its first byte.
    BodyCut,
    /// The body was still streaming when the scrape timeout passed.
    BodyTimeout,
    /// Prometheus went away before the body ended.
    ClientGone,
}

impl ErrorCause {
    /// The label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownTarget => "unknown_target",
            Self::BadRequest => "bad_request",
            Self::Settings => "settings",
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Proxy => "proxy",
            Self::Tls => "tls",
            Self::Protocol => "protocol",
            Self::Redirect => "redirect",
            Self::Timeout => "timeout",
            Self::Status => "status",
            Self::BodyCut => "body_cut",
            Self::BodyTimeout => "body_timeout",
            Self::ClientGone => "client_gone",
        }
    }
}

/// One scrape of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScrapeRecord {
    /// When the scrape started, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// From request to the end of the body (or the failure), milliseconds.
    pub duration_ms: u64,
    /// Success or failure.
    pub outcome: ScrapeOutcome,
    /// Why it failed, when it did.
    pub cause: Option<ErrorCause>,
    /// The one-line reason, when it failed.
    pub error: Option<String>,
    /// The target's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Samples (`scrape_samples_scraped`), when counted.
    pub samples: Option<u64>,
    /// Samples kept after metric relabeling, when known.
    pub kept: Option<u64>,
    /// Body bytes as forwarded (compressed if the target compressed).
    pub wire_bytes: u64,
    /// Body bytes after inflating.
    pub decoded_bytes: u64,
    /// The exposition format counted.
    pub format: Option<ScrapeFormat>,
    /// Why counting failed, when the scrape succeeded but counting did not.
    pub count_error: Option<String>,
    /// Whether the body was counted. When false (the counting schedule
    /// skipped it, or the target answered with a status other than 200),
    /// `samples`, `kept`, `decoded_bytes` and `format` are empty.
    #[serde(default)]
    pub counted: bool,
}

/// The last error of a target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastError {
    /// When the failed scrape started, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The cause.
    pub cause: ErrorCause,
    /// The one-line reason.
    pub message: String,
}

/// What the API reports for one target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetStatsSnapshot {
    /// The target's id.
    pub id: TargetId,
    /// Its job.
    pub job: String,
    /// The latest scrapes, counted or not, oldest first (at most
    /// [`HISTORY`]).
    pub history: Vec<ScrapeRecord>,
    /// The latest counted scrape, whatever its outcome: its
    /// `started_unix_ms` is when the target was last counted, its `samples`
    /// what that count found.
    #[serde(default)]
    pub last_counted: Option<ScrapeRecord>,
    /// The peak samples over the last [`HISTORY`] successful counted
    /// scrapes: the size packing should use.
    pub peak_samples: Option<u64>,
    /// The peak kept samples over the same counted scrapes.
    pub peak_kept: Option<u64>,
    /// The heaviest families of the latest successfully counted scrape.
    pub top_families: Vec<FamilyCount>,
    /// The latest failure, if any since the sidecar started.
    pub last_error: Option<LastError>,
    /// Scrapes recorded since the sidecar started.
    pub scrapes_total: u64,
    /// Failed scrapes since the sidecar started.
    pub failures_total: u64,
    /// Counted scrapes since the sidecar started.
    #[serde(default)]
    pub counted_total: u64,
}

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
    use crate::sidecar::assignment::Role;

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
