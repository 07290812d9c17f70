//! The targets assigned to this shard: the sidecar proxies these ids and no
//! others, which is what keeps it from being an open proxy.
//!
//! The table is replaced whole on every accepted assignment (a new
//! generation), so a scrape in flight keeps the `Arc` of the target it started
//! with and never sees a half-applied update.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::shard_api::{Assignment, ScrapeTarget, TargetId};

/// How long a target that left the assignment is still answered: long
/// enough for Prometheus to re-read its file_sd file and stop the target's
/// scrape loop (its discovery manager passes changes on every 5 s), so
/// that a moved target's old shard records no failed scrape (`up == 0`)
/// for it; two intervals and some, never more than ten minutes.
pub(crate) fn release_grace(target: &ScrapeTarget) -> Duration {
    (target.scrape_interval().saturating_mul(2) + Duration::from_secs(10))
        .min(Duration::from_secs(600))
}

/// The current assignment, indexed by id for the scrape path.
#[derive(Debug, Default)]
pub struct AssignmentTable {
    current: RwLock<Arc<Indexed>>,
}

/// An assignment with its targets indexed by id.
#[derive(Debug, Default)]
pub(crate) struct Indexed {
    /// The generation this index was built from.
    pub generation: u64,
    /// Targets by id.
    pub by_id: BTreeMap<TargetId, Arc<ScrapeTarget>>,
    /// When this shard got each target in its current role
    /// ([`Assignment::assigned_at`]).
    pub assigned_at: BTreeMap<TargetId, u64>,
    /// Targets that left the assignment, still answered until the instant
    /// given ([`release_grace`]).
    pub released: BTreeMap<TargetId, (Arc<ScrapeTarget>, Instant)>,
}

/// What a scrape finds under an id.
#[derive(Debug, Clone)]
pub(crate) enum Lookup {
    /// An assigned target.
    Assigned(Arc<ScrapeTarget>),
    /// A target that left the assignment moments ago: scraped as before,
    /// but no longer part of this shard's statistics.
    Released(Arc<ScrapeTarget>),
}

impl AssignmentTable {
    /// Looks up a target for a scrape: assigned, or released less than its
    /// grace ago. `None` means 404.
    pub(crate) fn lookup_for_scrape(&self, id: &str, now: Instant) -> Option<Lookup> {
        let current = self.read();
        if let Some(target) = current.by_id.get(id) {
            return Some(Lookup::Assigned(Arc::clone(target)));
        }
        current
            .released
            .get(id)
            .filter(|(_, until)| now < *until)
            .map(|(target, _)| Lookup::Released(Arc::clone(target)))
    }

    /// The whole current assignment.
    pub(crate) fn snapshot(&self) -> Arc<Indexed> {
        Arc::clone(&self.read())
    }

    fn read(&self) -> RwLockReadGuard<'_, Arc<Indexed>> {
        // A poisoned lock only means a writer panicked between two whole
        // values; the `Arc` inside is still a complete assignment.
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the assignment whole. Targets it no longer holds stay
    /// answerable for their `release_grace`.
    pub fn replace(&self, assignment: &Assignment) {
        self.replace_at(assignment, Instant::now());
    }

    fn replace_at(&self, assignment: &Assignment, now: Instant) {
        let by_id: BTreeMap<TargetId, Arc<ScrapeTarget>> = assignment
            .targets
            .iter()
            .map(|t| (t.id.clone(), Arc::new(t.clone())))
            .collect();
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let previous = &**guard;
        let mut released: BTreeMap<TargetId, (Arc<ScrapeTarget>, Instant)> = previous
            .released
            .iter()
            .filter(|(id, (_, until))| now < *until && !by_id.contains_key(*id))
            .map(|(id, entry)| (id.clone(), entry.clone()))
            .collect();
        for (id, target) in &previous.by_id {
            if !by_id.contains_key(id) {
                released.insert(
                    id.clone(),
                    (Arc::clone(target), now + release_grace(target)),
                );
            }
        }
        *guard = Arc::new(Indexed {
            generation: assignment.generation,
            by_id,
            assigned_at: assignment.assigned_at.clone(),
            released,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard_api::Role;

    fn target(id: &str, role: Role) -> ScrapeTarget {
        ScrapeTarget {
            id: TargetId(id.into()),
            job: "node".into(),
            url: format!("http://{id}:9100/metrics"),
            labels: BTreeMap::new(),
            role,
        }
    }

    #[test]
    fn a_released_target_is_answered_for_its_grace_then_refused() {
        let mut slow = target("slow", Role::Active);
        slow.labels
            .insert("__scrape_interval__".into(), "1m".into());
        let fast = {
            let mut t = target("fast", Role::Active);
            t.labels.insert("__scrape_interval__".into(), "5s".into());
            t
        };
        assert_eq!(release_grace(&slow), Duration::from_secs(130));
        assert_eq!(release_grace(&fast), Duration::from_secs(20));
        assert_eq!(
            release_grace(&target("default", Role::Active)),
            Duration::from_secs(130)
        );

        let table = AssignmentTable::default();
        let start = Instant::now();
        let both = Assignment {
            generation: 1,
            targets: vec![slow.clone(), fast.clone()],
            ..Assignment::default()
        };
        table.replace_at(&both, start);
        let none = Assignment {
            generation: 2,
            ..Assignment::default()
        };
        table.replace_at(&none, start);
        assert!(
            !table.snapshot().by_id.contains_key("fast"),
            "no longer assigned"
        );
        let at = |secs| start + Duration::from_secs(secs);
        assert!(matches!(
            table.lookup_for_scrape("fast", at(19)),
            Some(Lookup::Released(_))
        ));
        assert!(table.lookup_for_scrape("fast", at(20)).is_none());
        assert!(table.lookup_for_scrape("slow", at(129)).is_some());
        assert!(table.lookup_for_scrape("never", at(0)).is_none());

        // Released entries are forgotten once expired, and a target given
        // back is assigned again.
        table.replace_at(&none, at(25));
        assert!(!table.snapshot().released.contains_key("fast"));
        assert!(table.snapshot().released.contains_key("slow"));
        table.replace_at(&both, at(26));
        assert!(table.snapshot().released.is_empty());
        assert!(matches!(
            table.lookup_for_scrape("fast", at(26)),
            Some(Lookup::Assigned(_))
        ));
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
