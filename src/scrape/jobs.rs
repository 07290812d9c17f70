//! The jobs a scrape knows: for each `job_name`, the pooled upstream client,
//! the scrape timeout and the counting hooks, built from the user's config
//! (`build_jobs`) the same way for the sidecar's proxy and the
//! coordinator's explore.
//!
//! Like the assignment, the table is replaced whole when the configuration
//! changes; a scrape in flight keeps the `Arc<Job>` it started with.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use promshard::scrape::counting::ExpositionCounting;
//! use promshard::scrape::jobs::{Job, JobTable};
//! use promshard::scrape::upstream::{UpstreamClient, UpstreamSettings};
//!
//! let jobs = JobTable::default();
//! jobs.replace([Job {
//!     name: "node".into(),
//!     upstream: UpstreamClient::new(UpstreamSettings::default())?,
//!     scrape_timeout: Duration::from_secs(10),
//!     counting: Arc::new(ExpositionCounting::default()),
//! }]);
//! # Ok::<(), promshard::scrape::upstream::UpstreamError>(())
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use promshard_config::Config;

use super::counting::{CountingHooks, ExpositionCounting, MetricRelabel};
use super::metric_relabel::JobMetricRelabel;
use super::upstream::{UpstreamClient, UpstreamSettings};

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
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Job>> {
        // Under the read lock: a scrape takes only its job's `Arc`, not the
        // whole table's.
        self.read().get(name).cloned()
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

/// A job of the config cannot be scraped: its HTTP settings are not ones
/// the upstream client can use.
#[derive(Debug, thiserror::Error)]
#[error("job {job:?}: {reason}")]
pub struct JobError {
    /// The job.
    pub job: String,
    /// Why.
    pub reason: String,
}

/// The job table entries for every job of `config`.
pub(crate) fn build_jobs(config: &Config) -> Result<Vec<Job>, JobError> {
    config
        .scrape_configs
        .iter()
        .map(|job| {
            let fail = |reason: String| JobError {
                job: job.job_name.clone(),
                reason,
            };
            let settings =
                UpstreamSettings::try_from(&job.http_client).map_err(|e| fail(e.to_string()))?;
            let upstream = UpstreamClient::new(settings).map_err(|e| fail(e.to_string()))?;
            let metric_relabel =
                JobMetricRelabel::new(job.metric_relabel_configs.clone(), job.honor_labels)
                    .map(|r| Arc::new(r) as Arc<dyn MetricRelabel>);
            Ok(Job {
                name: job.job_name.clone(),
                upstream,
                scrape_timeout: job.scrape_timeout.as_std(),
                counting: Arc::new(ExpositionCounting { metric_relabel }),
            })
        })
        .collect()
}
