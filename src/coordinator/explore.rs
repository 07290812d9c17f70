//! Measuring a target before it is placed: one scrape by the coordinator,
//! through the same upstream client and streaming counter the sidecar uses,
//! so the first placement already knows the target's size.
//!
//! Explores run in the background with a concurrency limit and the job's
//! timeout; a failed explore is retried with exponential backoff, and the
//! target is placed meanwhile with its job's median size (so it gets scraped
//! and its `up == 0` is visible). Once a sidecar reports the target, its
//! measured peak replaces the explore result.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, header};
use http_body_util::BodyExt as _;
use tokio::sync::Semaphore;

use crate::sidecar::assignment::{Role, ScrapeTarget, TargetId};
use crate::sidecar::counting::ResponseMeta;
use crate::sidecar::jobs::Job;
use crate::sidecar::proxy::SCRAPE_TIMEOUT_HEADER;

/// What Prometheus 2.x sends; the explore measures what Prometheus will see.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The state of one target's explore.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Explore {
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

/// Explores targets in the background.
#[derive(Debug, Clone)]
pub struct Explorer {
    entries: Arc<Mutex<BTreeMap<String, Entry>>>,
    limit: Arc<Semaphore>,
}

impl Explorer {
    /// An explorer running at most `concurrency` scrapes at once.
    pub fn new(concurrency: usize) -> Self {
        Self {
            entries: Arc::default(),
            limit: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The measured size of `id`, if an explore measured it.
    pub fn measured(&self, id: &str) -> Option<u64> {
        match self.lock().get(id)?.state {
            Explore::Measured { series } => Some(series),
            _ => None,
        }
    }

    /// The explore state of `id`.
    pub fn state(&self, id: &str) -> Option<Explore> {
        self.lock().get(id).map(|e| e.state.clone())
    }

    /// Failed explores so far (for metrics).
    pub fn failures(&self) -> usize {
        self.lock()
            .values()
            .filter(|e| matches!(e.state, Explore::Failed { .. }))
            .count()
    }

    /// Forgets targets that are gone or measured by a sidecar.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        self.lock().retain(|id, _| keep(id));
    }

    /// Starts an explore of `target` unless one ran, runs, or waits for its
    /// backoff. Asked every cycle for every unmeasured target: the target is
    /// copied only when an explore starts.
    pub fn request(&self, target: &ScrapeTarget, job: Arc<Job>) {
        {
            let mut entries = self.lock();
            let attempts = match entries.get(&target.id.0) {
                None => 0,
                Some(entry) if entry.next_attempt.is_some_and(|at| at <= Instant::now()) => {
                    match entry.state {
                        Explore::Failed { attempts, .. } => attempts,
                        _ => 0,
                    }
                }
                Some(_) => return,
            };
            let target = Arc::new(target.clone());
            entries.insert(
                target.id.0.clone(),
                Entry {
                    state: Explore::Running,
                    next_attempt: None,
                },
            );
            drop(entries);
            let this = self.clone();
            tokio::spawn(async move {
                let Ok(_permit) = this.limit.clone().acquire_owned().await else {
                    return;
                };
                let result = measure(&target, &job).await;
                let mut entries = this.lock();
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
                entries.insert(target.id.0.clone(), entry);
            });
        }
    }
}

fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(5)
        .saturating_mul(1 << attempts.min(6))
        .min(Duration::from_secs(300))
}

/// One scrape of `target` with `job`'s client and counting; the kept series.
pub async fn measure(target: &Arc<ScrapeTarget>, job: &Job) -> Result<u64, String> {
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
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let encoding = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let meta = ResponseMeta {
            content_type: content_type.as_deref(),
            content_encoding: encoding.as_deref(),
        };
        let mut observer = job.counting.observer(target, &meta);
        let mut body = response.into_body();
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

/// The scrape target for an explore (and for assignments): the final labels
/// without `__` names, plus the per-target interval and timeout overrides.
pub fn scrape_target(target: &promshard_config::target::Target) -> ScrapeTarget {
    let mut labels: BTreeMap<String, String> = target
        .public_labels()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for name in ["__scrape_interval__", "__scrape_timeout__"] {
        if let Some(value) = target.labels.get(name).filter(|v| !v.is_empty()) {
            labels.insert(name.to_owned(), value.to_owned());
        }
    }
    ScrapeTarget {
        id: TargetId(target.id.to_string()),
        job: target.job.clone(),
        url: target.url.clone(),
        labels,
        role: Role::Active,
    }
}
