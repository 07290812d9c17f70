//! Jobs the coordinator hands to the sidecars (`PUT /api/v1/shard/jobs`):
//! scrape configs that are not in the user's file, such as those generated
//! from prometheus-operator resources. A sidecar adds them to its file's
//! jobs (its shard config, its scrape clients) and reports the
//! [`PushedJobs::version`] it holds, so the coordinator sends them again
//! only when they changed or the sidecar restarted.
//!
//! They may carry credentials from Kubernetes Secrets: they travel only
//! over this authenticated call, a sidecar keeps them in memory (never in
//! its stored state), its shard config on disk keeps none of their HTTP
//! settings, and neither side logs them.

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Mapping;

/// Jobs for the sidecars, as a whole: every call replaces the last.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PushedJobs {
    /// A hash of `jobs`: what the sidecar reports back.
    pub version: String,
    /// Scrape configs, in order.
    pub jobs: Vec<Mapping>,
}

impl std::fmt::Debug for PushedJobs {
    // The jobs may hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushedJobs")
            .field("version", &self.version)
            .field("jobs", &self.jobs.len())
            .finish()
    }
}

impl PushedJobs {
    /// `jobs` with their version (empty for no jobs, as a sidecar that
    /// holds none reports).
    pub fn new(jobs: Vec<Mapping>) -> Self {
        if jobs.is_empty() {
            return Self::default();
        }
        let text = serde_json::to_vec(&jobs).unwrap_or_default();
        // FNV-1a: stable across processes and versions.
        let hash = text.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
            (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Self {
            version: format!("{hash:016x}"),
            jobs,
        }
    }

    /// Their job names.
    pub fn job_names(&self) -> impl Iterator<Item = &str> {
        self.jobs
            .iter()
            .filter_map(|job| job.get("job_name").and_then(serde_yaml_ng::Value::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_the_content_and_debug_shows_no_job() {
        let job: Mapping =
            serde_yaml_ng::from_str("job_name: a\nbasic_auth: {username: u, password: s3cret}\n")
                .unwrap();
        let one = PushedJobs::new(vec![job.clone()]);
        assert_eq!(one, PushedJobs::new(vec![job.clone()]));
        assert_ne!(one.version, PushedJobs::new(Vec::new()).version);
        assert_eq!(PushedJobs::new(Vec::new()), PushedJobs::default());
        assert_eq!(one.job_names().collect::<Vec<_>>(), ["a"]);
        let shown = format!("{one:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("jobs: 1"),
            "{shown}"
        );
        let back: PushedJobs = serde_json::from_str(&serde_json::to_string(&one).unwrap()).unwrap();
        assert_eq!(back, one);
    }
}
