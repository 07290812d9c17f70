//! The assignment on disk, so a restarted sidecar scrapes what it scraped
//! before without waiting for the coordinator, and a restarted coordinator can
//! rebuild the fleet's assignment from what the sidecars report.
//!
//! A corrupt or unreadable file is reported, moved aside (kept for a human to
//! look at) and ignored: the sidecar starts empty rather than crash-looping.

use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::{WriteError, write_atomic};
use crate::shard_api::Assignment;

/// Name of the assignment file under `--storage.path`.
pub(super) const ASSIGNMENT_FILE: &str = "assignment.json";

/// Where the assignment is kept.
#[derive(Debug, Clone)]
pub(super) struct AssignmentStore {
    path: PathBuf,
}

/// How loading the stored assignment went.
#[derive(Debug)]
pub(super) enum Restored {
    /// A valid assignment was found.
    Loaded(Assignment),
    /// No file yet: a new shard.
    Empty,
    /// The file was unreadable or corrupt; it was moved to `moved_to` and the
    /// sidecar starts empty.
    Corrupt {
        /// Why it could not be used.
        reason: String,
        /// Where the bad file now is (`None` if moving it failed too).
        moved_to: Option<PathBuf>,
    },
}

impl AssignmentStore {
    /// A store in `dir`.
    pub(super) fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(ASSIGNMENT_FILE),
        }
    }

    /// The file's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Persists `assignment` atomically.
    pub(super) fn save(&self, assignment: &Assignment) -> Result<(), WriteError> {
        let json = serde_json::to_vec(assignment).map_err(|e| WriteError {
            path: self.path.clone(),
            source: io::Error::other(e),
        })?;
        write_atomic(&self.path, &json)
    }

    /// Loads the stored assignment; never fails: see [`Restored`].
    pub(super) fn load(&self) -> Restored {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Restored::Empty,
            Err(e) => return self.set_aside(format!("reading {}: {e}", self.path.display())),
        };
        match serde_json::from_slice::<Assignment>(&bytes) {
            Ok(assignment) => Restored::Loaded(assignment),
            Err(e) => self.set_aside(format!("parsing {}: {e}", self.path.display())),
        }
    }

    fn set_aside(&self, reason: String) -> Restored {
        let aside = self.path.with_extension("json.corrupt");
        let moved_to = std::fs::rename(&self.path, &aside).ok().map(|()| aside);
        Restored::Corrupt { reason, moved_to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard_api::{Role, ScrapeTarget, TargetId};

    fn assignment() -> Assignment {
        Assignment {
            generation: 7,
            targets: vec![ScrapeTarget {
                id: TargetId("ab12".into()),
                job: "node".into(),
                url: "http://a:9100/metrics".into(),
                labels: [("job".to_owned(), "node".to_owned())]
                    .into_iter()
                    .collect(),
                role: Role::Draining,
            }],
            ..Assignment::default()
        }
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = AssignmentStore::new(dir.path());
        assert!(matches!(store.load(), Restored::Empty));
        store.save(&assignment()).unwrap();
        match store.load() {
            Restored::Loaded(a) => assert_eq!(a, assignment()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_corrupt_file_is_reported_moved_aside_and_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = AssignmentStore::new(dir.path());
        std::fs::write(store.path(), b"{\"generation\": 3, \"targ").unwrap();
        match store.load() {
            Restored::Corrupt { reason, moved_to } => {
                assert!(reason.contains("assignment.json"), "{reason}");
                let moved_to = moved_to.unwrap();
                assert_eq!(
                    std::fs::read(moved_to).unwrap(),
                    b"{\"generation\": 3, \"targ"
                );
            }
            other => panic!("{other:?}"),
        }
        // The next start finds no file and starts empty, not in a loop.
        assert!(matches!(store.load(), Restored::Empty));
    }
}
