//! The targets assigned to this shard: the sidecar proxies these ids and no
//! others, which is what keeps it from being an open proxy.
//!
//! The table is replaced whole on every accepted assignment (a new
//! generation), so a scrape in flight keeps the `Arc` of the target it started
//! with and never sees a half-applied update.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

/// Stable id of a target: hex of a hash of (job, final labels, URL), the same
/// on every coordinator and sidecar. Used in the scrape path `/scrape/<id>`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct TargetId(pub String);

// Lets the scrape path look an id up by the `&str` of the request path,
// without allocating a `TargetId` per scrape. Sound because `TargetId`
// orders, compares and hashes exactly as its `String`.
impl std::borrow::Borrow<str> for TargetId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the shard scrapes a target as its owner, or only until the
/// target's new shard has proven it scrapes it (handover).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The target belongs to this shard.
    #[default]
    Active,
    /// The target moved away; this shard keeps scraping it until the new
    /// shard has reported successful scrapes, so the series have no gap.
    Draining,
}

/// One target this shard scrapes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScrapeTarget {
    /// Stable id; the last segment of `/scrape/<id>`.
    pub id: TargetId,
    /// The `job_name` of the scrape config the target came from.
    pub job: String,
    /// The full URL to scrape (scheme, host, path and `params` query).
    pub url: String,
    /// The target's final labels after relabeling (`job` and `instance`
    /// included), written into the shard's file_sd entry as they are.
    pub labels: BTreeMap<String, String>,
    /// Active or draining.
    #[serde(default)]
    pub role: Role,
}

/// A full assignment as the coordinator sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    /// Monotonic per coordinator decision; older generations are rejected.
    pub generation: u64,
    /// Every target of this shard.
    pub targets: Vec<ScrapeTarget>,
    /// When this shard got each target in its current role, in milliseconds
    /// since the Unix epoch on the sidecar's clock. The sidecar keeps these
    /// ([`Assignment::stamp`]; whatever the coordinator sends is replaced)
    /// and persists them with the assignment, so that a restarted sidecar
    /// still reports how old its assignments are: when a target is active on
    /// two shards (one back after its targets failed over), the coordinator
    /// keeps the newest. A target without an entry (an assignment stored by
    /// an older version) counts as older than any other.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub assigned_at: BTreeMap<TargetId, u64>,
}

impl Assignment {
    /// Sets [`Assignment::assigned_at`] of this (incoming) assignment from
    /// the `previous` one: a target that keeps its role keeps its time (or
    /// its lack of one); a new target, or one whose role changed (a draining
    /// copy made active again is a new decision), gets `now_ms`.
    ///
    /// ```
    /// use promshard::sidecar::assignment::{Assignment, Role, ScrapeTarget, TargetId};
    ///
    /// let target = |id: &str, role| ScrapeTarget {
    ///     id: TargetId(id.into()),
    ///     job: "node".into(),
    ///     url: format!("http://{id}:9100/metrics"),
    ///     labels: Default::default(),
    ///     role,
    /// };
    /// let mut first = Assignment { generation: 1, targets: vec![target("a", Role::Active)], ..Assignment::default() };
    /// first.stamp(&Assignment::default(), 1_000);
    /// let mut second = Assignment {
    ///     generation: 2,
    ///     targets: vec![target("a", Role::Active), target("b", Role::Active)],
    ///     ..Assignment::default()
    /// };
    /// second.stamp(&first, 2_000);
    /// assert_eq!(second.assigned_at[&TargetId("a".into())], 1_000);
    /// assert_eq!(second.assigned_at[&TargetId("b".into())], 2_000);
    /// ```
    pub fn stamp(&mut self, previous: &Assignment, now_ms: u64) {
        let before: BTreeMap<&TargetId, Role> =
            previous.targets.iter().map(|t| (&t.id, t.role)).collect();
        self.assigned_at = self
            .targets
            .iter()
            .filter_map(|t| {
                let at = if before.get(&t.id) == Some(&t.role) {
                    previous.assigned_at.get(&t.id).copied()?
                } else {
                    now_ms
                };
                Some((t.id.clone(), at))
            })
            .collect();
    }
}

/// The current assignment, indexed by id for the scrape path.
#[derive(Debug, Default)]
pub struct AssignmentTable {
    current: RwLock<Arc<Indexed>>,
}

/// An assignment with its targets indexed by id.
#[derive(Debug, Default)]
pub struct Indexed {
    /// The generation this index was built from.
    pub generation: u64,
    /// Targets by id.
    pub by_id: BTreeMap<TargetId, Arc<ScrapeTarget>>,
    /// When this shard got each target in its current role
    /// ([`Assignment::assigned_at`]).
    pub assigned_at: BTreeMap<TargetId, u64>,
}

impl AssignmentTable {
    /// Looks up an assigned target. `None` means the sidecar must refuse
    /// (404): it only ever fetches URLs it was assigned.
    pub fn lookup(&self, id: &str) -> Option<Arc<ScrapeTarget>> {
        // Under the read lock: a scrape takes only its target's `Arc`, not
        // the whole assignment's.
        self.read().by_id.get(id).cloned()
    }

    /// The whole current assignment.
    pub fn snapshot(&self) -> Arc<Indexed> {
        Arc::clone(&self.read())
    }

    fn read(&self) -> RwLockReadGuard<'_, Arc<Indexed>> {
        // A poisoned lock only means a writer panicked between two whole
        // values; the `Arc` inside is still a complete assignment.
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the assignment whole.
    pub fn replace(&self, assignment: &Assignment) {
        let by_id = assignment
            .targets
            .iter()
            .map(|t| (t.id.clone(), Arc::new(t.clone())))
            .collect();
        let next = Arc::new(Indexed {
            generation: assignment.generation,
            by_id,
            assigned_at: assignment.assigned_at.clone(),
        });
        match self.current.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, role: Role) -> ScrapeTarget {
        ScrapeTarget {
            id: TargetId(id.into()),
            job: "node".into(),
            url: format!("http://{id}:9100/metrics"),
            labels: BTreeMap::new(),
            role,
        }
    }

    fn at(assignment: &Assignment, id: &str) -> Option<u64> {
        assignment.assigned_at.get(id).copied()
    }

    #[test]
    fn stamps_keep_the_time_of_a_kept_role_and_renew_it_on_a_change() {
        let mut first = Assignment {
            generation: 1,
            targets: vec![target("a", Role::Active), target("b", Role::Active)],
            // What a coordinator sends here is not trusted.
            assigned_at: [(TargetId("a".into()), 5)].into_iter().collect(),
        };
        first.stamp(&Assignment::default(), 100);
        assert_eq!((at(&first, "a"), at(&first, "b")), (Some(100), Some(100)));

        let mut second = Assignment {
            generation: 2,
            targets: vec![
                target("a", Role::Active),
                target("b", Role::Draining),
                target("c", Role::Active),
            ],
            ..Assignment::default()
        };
        second.stamp(&first, 200);
        assert_eq!(
            (at(&second, "a"), at(&second, "b"), at(&second, "c")),
            (Some(100), Some(200), Some(200))
        );

        // Draining back to active is a new decision; a target that left and
        // came back is new again.
        let mut third = Assignment {
            generation: 3,
            targets: vec![target("a", Role::Active), target("b", Role::Active)],
            ..Assignment::default()
        };
        third.stamp(&second, 300);
        assert_eq!((at(&third, "a"), at(&third, "b")), (Some(100), Some(300)));
        let mut fourth = Assignment {
            generation: 4,
            targets: vec![target("b", Role::Active), target("c", Role::Active)],
            ..Assignment::default()
        };
        fourth.stamp(&third, 400);
        assert_eq!((at(&fourth, "b"), at(&fourth, "c")), (Some(300), Some(400)));
        assert_eq!(fourth.assigned_at.len(), 2, "removed targets are forgotten");
    }

    #[test]
    fn an_unknown_time_stays_unknown_while_the_role_is_kept() {
        // An assignment stored before times were kept.
        let old: Assignment = serde_json::from_str(
            r#"{"generation":1,"targets":[{"id":"a","job":"node","url":"http://a/metrics","labels":{}}]}"#,
        )
        .unwrap();
        assert!(old.assigned_at.is_empty());
        let mut next = Assignment {
            generation: 2,
            targets: vec![target("a", Role::Active)],
            ..Assignment::default()
        };
        next.stamp(&old, 100);
        assert_eq!(at(&next, "a"), None);
    }

    #[test]
    fn times_round_trip_through_json_and_reach_the_table() {
        let mut assignment = Assignment {
            generation: 1,
            targets: vec![target("a", Role::Active)],
            ..Assignment::default()
        };
        assignment.stamp(&Assignment::default(), 42);
        let json = serde_json::to_string(&assignment).unwrap();
        assert!(json.contains(r#""assigned_at":{"a":42}"#), "{json}");
        let back: Assignment = serde_json::from_str(&json).unwrap();
        assert_eq!(back, assignment);
        let table = AssignmentTable::default();
        table.replace(&back);
        assert_eq!(table.snapshot().assigned_at.get("a"), Some(&42));
    }
}
