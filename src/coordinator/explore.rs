//! Measuring a target before it is placed: one scrape by the coordinator,
//! through the same upstream client and streaming counter the sidecar uses,
//! so the first placement already knows the target's size.
//!
//! Explores wait in a queue served in the background by at most the
//! concurrency limit of worker tasks, each scrape bounded by the job's
//! timeout; a failed explore is retried with exponential backoff, and the
//! target is placed meanwhile with its job's median size (so it gets scraped
//! and its `up == 0` is visible). Once a sidecar reports the target, its
//! measured peak replaces the explore result.

use std::collections::{BTreeMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use http::{HeaderMap, HeaderValue, header};
use http_body_util::BodyExt as _;

use crate::scrape::SCRAPE_TIMEOUT_HEADER;
use crate::scrape::counting::ResponseMeta;
use crate::scrape::jobs::Job;
use crate::shard_api::ScrapeTarget;

/// What Prometheus 2.x sends; the explore measures what Prometheus will see.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The state of one target's explore.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Explore {
    /// Waiting for a free slot (at most the explore concurrency run at once).
    Queued,
    /// A scrape is running.
    Running,
    /// Measured this many series (kept after metric relabeling).
    Measured {
        /// Series.
        series: u64,
    },
    /// Failed; retried after `retry_in_ms`.
    Failed {
        /// Why.
        error: String,
        /// Failures so far.
        attempts: u32,
        /// Backoff before the next attempt, in milliseconds.
        retry_in_ms: u64,
    },
}

#[derive(Debug)]
struct Entry {
    state: Explore,
    next_attempt: Option<Instant>,
}

/// An explore waiting for a free slot.
#[derive(Debug)]
struct Queued {
    target: Arc<ScrapeTarget>,
    job: Arc<Job>,
    attempts: u32,
}

#[derive(Debug, Default)]
struct Shared {
    entries: BTreeMap<String, Entry>,
    /// Explores not started yet, oldest first. A fleet's first cycle asks
    /// for every target at once; a queue entry is a target copy, where a
    /// task per target would also hold a scrape's future for each.
    queue: VecDeque<Queued>,
    /// Worker tasks running; never more than the concurrency.
    workers: usize,
}

/// How many explores wait, run and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ExploreLoad {
    /// Waiting for a free slot.
    pub queued: usize,
    /// Scraping now (at most the concurrency).
    pub running: usize,
    /// Failed and waiting to be retried.
    pub failed: usize,
}

/// Explores targets in the background.
#[derive(Debug, Clone)]
pub(super) struct Explorer {
    shared: Arc<Mutex<Shared>>,
    concurrency: usize,
}

impl Explorer {
    /// An explorer running at most `concurrency` scrapes at once.
    pub(super) fn new(concurrency: usize) -> Self {
        Self {
            shared: Arc::default(),
            concurrency: concurrency.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        match self.shared.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The measured size of `id`, if an explore measured it.
    pub(super) fn measured(&self, id: &str) -> Option<u64> {
        match self.lock().entries.get(id)?.state {
            Explore::Measured { series } => Some(series),
            _ => None,
        }
    }

    /// The explore state of `id`.
    pub(super) fn state(&self, id: &str) -> Option<Explore> {
        self.lock().entries.get(id).map(|e| e.state.clone())
    }

    /// Explores queued, running and failed (for metrics).
    pub(super) fn load(&self) -> ExploreLoad {
        let shared = self.lock();
        ExploreLoad {
            queued: shared.queue.len(),
            running: shared.workers,
            failed: shared
                .entries
                .values()
                .filter(|e| matches!(e.state, Explore::Failed { .. }))
                .count(),
        }
    }

    /// Forgets targets that are gone or measured by a sidecar, and drops
    /// their explores that have not started.
    pub(super) fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        let mut shared = self.lock();
        shared.entries.retain(|id, _| keep(id));
        let Shared { entries, queue, .. } = &mut *shared;
        queue.retain(|queued| entries.contains_key(&queued.target.id.0));
    }

    /// Queues an explore of `target` unless one is queued, running or
    /// measured, or a failed one waits for its backoff. Asked every cycle
    /// for every unmeasured target: the target is copied only when an
    /// explore is queued.
    pub(super) fn request(&self, target: &ScrapeTarget, job: Arc<Job>) {
        let mut shared = self.lock();
        let attempts = match shared.entries.get(&target.id.0) {
            None => 0,
            Some(entry) if entry.next_attempt.is_some_and(|at| at <= Instant::now()) => {
                match entry.state {
                    Explore::Failed { attempts, .. } => attempts,
                    _ => 0,
                }
            }
            Some(_) => return,
        };
        shared.entries.insert(
            target.id.0.clone(),
            Entry {
                state: Explore::Queued,
                next_attempt: None,
            },
        );
        shared.queue.push_back(Queued {
            target: Arc::new(target.clone()),
            job,
            attempts,
        });
        if shared.workers < self.concurrency {
            shared.workers += 1;
            drop(shared);
            let this = self.clone();
            tokio::spawn(async move { this.work().await });
        }
    }

    /// Runs queued explores one after another until the queue is empty.
    async fn work(self) {
        loop {
            let next = {
                let mut shared = self.lock();
                let next = shared.queue.pop_front();
                match &next {
                    Some(queued) => {
                        if let Some(entry) = shared.entries.get_mut(&queued.target.id.0) {
                            entry.state = Explore::Running;
                        }
                    }
                    None => shared.workers -= 1,
                }
                next
            };
            let Some(Queued {
                target,
                job,
                attempts,
            }) = next
            else {
                return;
            };
            // A panic in a dependency must not take the worker (and with
            // it a slot) down: it is this target's failed explore.
            let result = AssertUnwindSafe(measure(&target, &job))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("the measuring scrape panicked".to_owned()));
            let entry = match result {
                Ok(series) => Entry {
                    state: Explore::Measured { series },
                    next_attempt: None,
                },
                Err(error) => {
                    let attempts = attempts + 1;
                    let backoff = backoff(attempts);
                    tracing::debug!(target = %target.id, %error, ?backoff, "explore failed");
                    Entry {
                        state: Explore::Failed {
                            error,
                            attempts,
                            retry_in_ms: u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                        },
                        next_attempt: Some(Instant::now() + backoff),
                    }
                }
            };
            let mut shared = self.lock();
            // A target forgotten while its scrape ran stays forgotten, and
            // one forgotten and asked for again keeps its new queued explore.
            if let Some(slot) = shared.entries.get_mut(&target.id.0)
                && slot.state == Explore::Running
            {
                *slot = entry;
            }
        }
    }
}

fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(5)
        .saturating_mul(1 << attempts.min(6))
        .min(Duration::from_secs(300))
}

/// One scrape of `target` with `job`'s client and counting; the kept series.
pub(super) async fn measure(target: &Arc<ScrapeTarget>, job: &Job) -> Result<u64, String> {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
    headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    headers.insert(
        header::USER_AGENT,
        HeaderValue::from_static(concat!("promshard/", env!("CARGO_PKG_VERSION"))),
    );
    if let Ok(timeout) = HeaderValue::from_str(&format!("{}", job.scrape_timeout.as_secs_f64())) {
        headers.insert(SCRAPE_TIMEOUT_HEADER, timeout);
    }
    let scrape = async {
        let response = job
            .upstream
            .fetch(&target.url, &headers)
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("target answered HTTP {}", response.status()));
        }
        let (parts, mut body) = response.into_parts();
        let meta = ResponseMeta::from_headers(&parts.headers);
        let mut observer = job.counting.observer(target, &meta);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("reading body: {e}"))?;
            if let Some(data) = frame.data_ref() {
                observer.chunk(data);
            }
        }
        let counts = observer.finish(true);
        counts.kept.or(counts.samples).ok_or_else(|| {
            counts
                .error
                .unwrap_or_else(|| "body could not be counted".into())
        })
    };
    tokio::time::timeout(job.scrape_timeout, scrape)
        .await
        .map_err(|_| format!("no complete answer within {:?}", job.scrape_timeout))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;
    use crate::scrape::counting::ExpositionCounting;
    use crate::scrape::upstream::{UpstreamClient, UpstreamSettings};
    use crate::shard_api::{Role, TargetId};

    fn job(timeout: Duration) -> Arc<Job> {
        Arc::new(Job {
            name: "app".into(),
            upstream: UpstreamClient::new(UpstreamSettings::default()).unwrap(),
            scrape_timeout: timeout,
            counting: Arc::new(ExpositionCounting::default()),
        })
    }

    fn target(i: usize, url: &str) -> ScrapeTarget {
        ScrapeTarget {
            id: TargetId(format!("t{i}")),
            job: "app".into(),
            url: url.to_owned(),
            labels: BTreeMap::new(),
            role: Role::Active,
        }
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A target that answers once `open` is set: until then it holds every
    /// connection, so the connections it has accepted are the explores
    /// running at once.
    async fn gated_target(open: Arc<tokio::sync::Notify>, accepted: Arc<AtomicUsize>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let open = open.clone();
                tokio::spawn(async move {
                    let mut request = vec![0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    open.notified().await;
                    let body = "up 1\nother 2\n";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn at_most_the_concurrency_runs_and_the_rest_wait_in_the_queue() {
        let open = Arc::new(tokio::sync::Notify::new());
        let accepted = Arc::new(AtomicUsize::new(0));
        let url = gated_target(open.clone(), accepted.clone()).await;
        let explorer = Explorer::new(3);
        let job = job(Duration::from_secs(10));
        for i in 0..20 {
            explorer.request(&target(i, &url), job.clone());
        }
        until("three connections", || accepted.load(Ordering::SeqCst) == 3).await;
        // Give a fourth scrape the chance to connect if one were running.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        assert_eq!(
            explorer.load(),
            ExploreLoad {
                queued: 17,
                running: 3,
                failed: 0
            }
        );
        assert_eq!(explorer.state("t0"), Some(Explore::Running));
        assert_eq!(explorer.state("t19"), Some(Explore::Queued));
        // Asking again while queued or running starts nothing new.
        explorer.request(&target(19, &url), job.clone());
        assert_eq!(explorer.load().queued, 17);

        // Forgetting a queued target drops its explore.
        explorer.retain(|id| id != "t19");
        assert_eq!(explorer.load().queued, 16);

        // Every scrape answers: all 19 are measured (2 samples), by 3 workers
        // that then stop.
        let opener = tokio::spawn({
            let open = open.clone();
            async move {
                loop {
                    open.notify_waiters();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        until("every explore measured", || {
            (0..19).all(|i| explorer.measured(&format!("t{i}")) == Some(2))
        })
        .await;
        opener.abort();
        until("workers stopped", || {
            explorer.load() == ExploreLoad::default()
        })
        .await;
        assert_eq!(accepted.load(Ordering::SeqCst), 19);
        assert_eq!(explorer.state("t19"), None);
    }

    #[tokio::test]
    async fn a_failed_explore_backs_off_and_is_counted() {
        // A port nobody listens on: connection refused.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", closed.local_addr().unwrap());
        drop(closed);
        let explorer = Explorer::new(2);
        explorer.request(&target(0, &url), job(Duration::from_secs(5)));
        until("the failure", || explorer.load().failed == 1).await;
        match explorer.state("t0") {
            Some(Explore::Failed {
                attempts,
                retry_in_ms,
                ..
            }) => {
                assert_eq!(attempts, 1);
                assert_eq!(retry_in_ms, 10_000);
            }
            other => panic!("{other:?}"),
        }
        // Within the backoff a new request starts nothing.
        explorer.request(&target(0, &url), job(Duration::from_secs(5)));
        assert_eq!(explorer.load().queued, 0);
        assert!(matches!(explorer.state("t0"), Some(Explore::Failed { .. })));
    }
}
