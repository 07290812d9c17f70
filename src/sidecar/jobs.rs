//! The jobs the scrape path knows: for each `job_name`, the pooled upstream
//! client, the scrape timeout and the counting hooks.
//!
//! Like the assignment, the table is replaced whole when the configuration
//! changes; a scrape in flight keeps the `Arc<Job>` it started with.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use promshard::sidecar::counting::ExpositionCounting;
//! use promshard::sidecar::jobs::{Job, JobTable};
//! use promshard::sidecar::upstream::{UpstreamClient, UpstreamSettings};
//!
//! let jobs = JobTable::default();
//! jobs.replace([Job {
//!     name: "node".into(),
//!     upstream: UpstreamClient::new(UpstreamSettings::default())?,
//!     scrape_timeout: Duration::from_secs(10),
//!     counting: Arc::new(ExpositionCounting::default()),
//! }]);
//! assert!(jobs.get("node").is_some());
//! # Ok::<(), promshard::sidecar::upstream::UpstreamError>(())
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use super::counting::CountingHooks;
use super::upstream::UpstreamClient;

/// What the scrape path needs of one scrape config.
#[derive(Debug)]
pub struct Job {
    /// `job_name`.
    pub name: String,
    /// The pooled client with the job's HTTP settings.
    pub upstream: UpstreamClient,
    /// `scrape_timeout`: the cap on Prometheus's
    /// `X-Prometheus-Scrape-Timeout-Seconds`.
    pub scrape_timeout: Duration,
    /// Makes the per-scrape counter (with the job's metric relabeling).
    pub counting: Arc<dyn CountingHooks>,
}

/// Every job, by name.
#[derive(Debug, Default)]
pub struct JobTable {
    current: RwLock<Arc<BTreeMap<String, Arc<Job>>>>,
}

impl JobTable {
    /// The job named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Job>> {
        // Under the read lock, as `AssignmentTable::lookup`: a scrape takes
        // only its job's `Arc`, not the whole table's.
        self.read().get(name).cloned()
    }

    /// Every job.
    pub fn snapshot(&self) -> Arc<BTreeMap<String, Arc<Job>>> {
        Arc::clone(&self.read())
    }

    fn read(&self) -> RwLockReadGuard<'_, Arc<BTreeMap<String, Arc<Job>>>> {
        // The value is always a whole table, even after a writer panicked.
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the table whole (a later job of the same name wins).
    pub fn replace(&self, jobs: impl IntoIterator<Item = Job>) {
        let next: BTreeMap<_, _> = jobs
            .into_iter()
            .map(|job| (job.name.clone(), Arc::new(job)))
            .collect();
        let next = Arc::new(next);
        match self.current.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}
