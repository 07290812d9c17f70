//! Applying assignments: the one place that changes what this shard scrapes.
//!
//! An assignment is applied in an order that never loses a target: validate,
//! persist (so a restart resumes it), swap the in-memory table (so the scrape
//! path accepts the new ids), then rewrite the file_sd files (so Prometheus
//! starts scraping them). Applies are serialised; replaying the current
//! generation is a no-op, and older generations are refused.
//!
//! Targets of a job this shard's config does not have yet are kept, not
//! refused: the coordinator may learn of a new job in the user's config
//! before this sidecar re-reads it, and refusing the whole assignment would
//! take the shard's existing targets with it. Their file_sd file is written
//! like any other; Prometheus reads it once the reloaded shard config names
//! the job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::fsutil::{WriteError, off_runtime};
use crate::shard_api::{Applied, Assignment, ScrapeTarget, TargetId};
use crate::sidecar::assignment::{AssignmentTable, Indexed};
use crate::sidecar::filesd;
use crate::sidecar::store::AssignmentStore;
use crate::sidecar::unix_millis;

/// Why an assignment was refused or could not be applied.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApplyError {
    /// The coordinator sent a generation older than the one applied: a
    /// delayed request from a previous leader, or a replay.
    #[error("generation {offered} is older than the applied generation {current}")]
    Stale {
        /// What was offered.
        offered: u64,
        /// What is applied.
        current: u64,
    },
    /// Same generation, different content: two leaders disagree.
    #[error("generation {generation} is already applied with different targets")]
    Conflict {
        /// The generation both claim.
        generation: u64,
    },
    /// The assignment is not self-consistent.
    #[error("invalid assignment: {0}")]
    Invalid(String),
    /// Writing the store or the file_sd files failed (our side).
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The shard's assignment state and where it is written.
#[derive(Debug)]
pub(super) struct ShardControl {
    table: Arc<AssignmentTable>,
    store: AssignmentStore,
    output_dir: PathBuf,
    scrape_address: String,
    jobs: std::sync::RwLock<BTreeSet<String>>,
    current: Mutex<Assignment>,
}

impl ShardControl {
    /// A control over `table`, starting from `initial` (the restored one).
    pub(super) fn new(
        table: Arc<AssignmentTable>,
        store: AssignmentStore,
        output_dir: PathBuf,
        scrape_address: String,
        jobs: BTreeSet<String>,
        initial: Assignment,
    ) -> Self {
        table.replace(&initial);
        Self {
            table,
            store,
            output_dir,
            scrape_address,
            jobs: std::sync::RwLock::new(jobs),
            current: Mutex::new(initial),
        }
    }

    /// The current assignment, indexed.
    pub(super) fn snapshot(&self) -> Arc<Indexed> {
        self.table.snapshot()
    }

    /// The jobs of the user's config.
    pub(super) fn jobs(&self) -> BTreeSet<String> {
        match self.jobs.read() {
            Ok(jobs) => jobs.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the set of known jobs (after a config change) and writes the
    /// file_sd files of every job, so new jobs get their (maybe empty) file.
    pub(super) async fn set_jobs(&self, jobs: BTreeSet<String>) -> Result<Vec<String>, WriteError> {
        let current = self.current.lock().await;
        match self.jobs.write() {
            Ok(mut guard) => guard.clone_from(&jobs),
            Err(poisoned) => poisoned.into_inner().clone_from(&jobs),
        }
        self.write_filesd(jobs, &current.targets).await
    }

    /// Writes the file_sd files for the current assignment (at start-up).
    pub(super) async fn write_files(&self) -> Result<Vec<String>, WriteError> {
        let current = self.current.lock().await;
        self.write_filesd(self.jobs(), &current.targets).await
    }

    /// Writes the file of every job in `jobs` for `targets`.
    async fn write_filesd(
        &self,
        jobs: BTreeSet<String>,
        targets: &[ScrapeTarget],
    ) -> Result<Vec<String>, WriteError> {
        let output_dir = self.output_dir.clone();
        let scrape_address = self.scrape_address.clone();
        let targets = targets.to_vec();
        off_runtime(self.output_dir.clone(), move || {
            filesd::write_all(
                &output_dir,
                &scrape_address,
                jobs.iter().map(String::as_str),
                &targets,
            )
        })
        .await
    }

    /// Applies a full desired assignment (see the module docs for the order).
    pub(super) async fn apply(&self, next: Assignment) -> Result<Applied, ApplyError> {
        let mut current = self.current.lock().await;
        if next.generation < current.generation {
            return Err(ApplyError::Stale {
                offered: next.generation,
                current: current.generation,
            });
        }
        if next.generation == current.generation && current.generation != 0 {
            return if same_targets(&current, &next) {
                Ok(Applied {
                    generation: next.generation,
                    changed: false,
                    jobs_written: vec![],
                    pending_jobs: self.pending_jobs(&next),
                })
            } else {
                Err(ApplyError::Conflict {
                    generation: next.generation,
                })
            };
        }
        self.validate(&next)?;
        let pending_jobs = self.pending_jobs(&next);
        let mut next = next;
        next.stamp(&current, unix_millis());
        let store = self.store.clone();
        // Moved to the writing thread and back, not copied.
        let next = off_runtime(self.store.path().to_owned(), move || {
            store.save(&next).map(|()| next)
        })
        .await?;
        self.table.replace(&next);
        let jobs_written = self.write_filesd(self.jobs(), &next.targets).await?;
        let generation = next.generation;
        *current = next;
        Ok(Applied {
            generation,
            changed: true,
            jobs_written,
            pending_jobs,
        })
    }

    /// Jobs of `assignment` the user's config does not have (yet).
    fn pending_jobs(&self, assignment: &Assignment) -> Vec<String> {
        let jobs = self.jobs();
        let pending: BTreeSet<&str> = assignment
            .targets
            .iter()
            .map(|t| t.job.as_str())
            .filter(|job| !jobs.contains(*job))
            .collect();
        pending.into_iter().map(str::to_owned).collect()
    }

    fn validate(&self, next: &Assignment) -> Result<(), ApplyError> {
        let mut ids = BTreeSet::new();
        for target in &next.targets {
            if target.id.0.is_empty()
                || !target
                    .id
                    .0
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ApplyError::Invalid(format!(
                    "target id {:?} must be non-empty [A-Za-z0-9_-]",
                    target.id.0
                )));
            }
            if !ids.insert(&target.id) {
                return Err(ApplyError::Invalid(format!(
                    "target id {} appears twice",
                    target.id
                )));
            }
        }
        Ok(())
    }
}

fn same_targets(a: &Assignment, b: &Assignment) -> bool {
    fn index(x: &Assignment) -> BTreeMap<&TargetId, &ScrapeTarget> {
        x.targets.iter().map(|t| (&t.id, t)).collect()
    }
    index(a) == index(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard_api::Role;

    fn target(id: &str, job: &str) -> ScrapeTarget {
        ScrapeTarget {
            id: TargetId(id.into()),
            job: job.into(),
            url: format!("http://{id}/metrics"),
            labels: [
                ("job".to_owned(), job.to_owned()),
                ("instance".to_owned(), id.to_owned()),
            ]
            .into_iter()
            .collect(),
            role: Role::Active,
        }
    }

    fn control(dir: &std::path::Path) -> ShardControl {
        ShardControl::new(
            Arc::new(AssignmentTable::default()),
            AssignmentStore::new(dir),
            dir.to_owned(),
            "127.0.0.1:8008".into(),
            ["node".to_owned(), "app".to_owned()].into_iter().collect(),
            Assignment::default(),
        )
    }

    #[tokio::test]
    async fn applies_persists_and_serves_the_new_ids() {
        let dir = tempfile::tempdir().unwrap();
        let control = control(dir.path());
        let applied = control
            .apply(Assignment {
                generation: 1,
                targets: vec![target("a1", "node")],
                ..Assignment::default()
            })
            .await
            .unwrap();
        assert_eq!(
            applied.jobs_written,
            vec!["app".to_owned(), "node".to_owned()]
        );
        assert!(control.snapshot().by_id.contains_key("a1"));
        assert!(!control.snapshot().by_id.contains_key("zz"));
        let stored: Assignment =
            serde_json::from_slice(&std::fs::read(dir.path().join("assignment.json")).unwrap())
                .unwrap();
        assert_eq!(stored.generation, 1);
    }

    #[tokio::test]
    async fn replays_are_no_ops_and_old_or_conflicting_generations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let control = control(dir.path());
        let two = Assignment {
            generation: 2,
            targets: vec![target("a1", "node")],
            ..Assignment::default()
        };
        control.apply(two.clone()).await.unwrap();
        let replay = control.apply(two).await.unwrap();
        assert!(!replay.changed);
        let old = control
            .apply(Assignment {
                generation: 1,
                targets: vec![],
                ..Assignment::default()
            })
            .await;
        assert!(matches!(
            old,
            Err(ApplyError::Stale {
                offered: 1,
                current: 2
            })
        ));
        let other = control
            .apply(Assignment {
                generation: 2,
                targets: vec![],
                ..Assignment::default()
            })
            .await;
        assert!(matches!(other, Err(ApplyError::Conflict { generation: 2 })));
        assert!(
            control.snapshot().by_id.contains_key("a1"),
            "a refused apply changes nothing"
        );
    }

    #[tokio::test]
    async fn a_job_not_in_the_config_yet_never_costs_the_shard_its_targets() {
        let dir = tempfile::tempdir().unwrap();
        let control = control(dir.path());
        control
            .apply(Assignment {
                generation: 1,
                targets: vec![target("a1", "node")],
                ..Assignment::default()
            })
            .await
            .unwrap();
        // The coordinator knows a job this sidecar has not read yet.
        let applied = control
            .apply(Assignment {
                generation: 2,
                targets: vec![target("a1", "node"), target("b1", "new")],
                ..Assignment::default()
            })
            .await
            .unwrap();
        assert_eq!(applied.pending_jobs, vec!["new".to_owned()]);
        assert!(control.snapshot().by_id.contains_key("a1"));
        assert!(control.snapshot().by_id.contains_key("b1"));
        let new_file = filesd::job_file(dir.path(), "new");
        assert!(
            std::fs::read_to_string(&new_file)
                .unwrap()
                .contains("/scrape/b1")
        );
        // Once the config has the job, nothing is pending.
        control
            .set_jobs(
                ["node", "app", "new"]
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
            )
            .await
            .unwrap();
        let replay = control
            .apply(Assignment {
                generation: 2,
                targets: vec![target("a1", "node"), target("b1", "new")],
                ..Assignment::default()
            })
            .await
            .unwrap();
        assert!(replay.pending_jobs.is_empty());
    }

    #[tokio::test]
    async fn duplicate_ids_and_unsafe_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let control = control(dir.path());
        for bad in [
            vec![target("a1", "node"), target("a1", "app")],
            vec![target("../x", "node")],
        ] {
            let err = control
                .apply(Assignment {
                    generation: 5,
                    targets: bad,
                    ..Assignment::default()
                })
                .await
                .unwrap_err();
            assert!(matches!(err, ApplyError::Invalid(_)), "{err}");
        }
        assert!(!dir.path().join("assignment.json").exists());
    }
}
