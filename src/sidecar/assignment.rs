//! The targets assigned to this shard: the sidecar proxies these ids and no
//! others, which is what keeps it from being an open proxy.
//!
//! The table is replaced whole on every accepted assignment (a new
//! generation), so a scrape in flight keeps the `Arc` of the target it started
//! with and never sees a half-applied update.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

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

impl ScrapeTarget {
    /// Its scrape interval: the `__scrape_interval__` label the coordinator
    /// passes on (the job's, or what relabeling set), else Prometheus's
    /// default of one minute.
    pub fn scrape_interval(&self) -> Duration {
        self.labels
            .get("__scrape_interval__")
            .and_then(|text| promshard_config::PromDuration::parse(text).ok())
            .map(promshard_config::PromDuration::as_std)
            .filter(|interval| !interval.is_zero())
            .unwrap_or(DEFAULT_SCRAPE_INTERVAL)
    }
}

/// Prometheus's `scrape_interval` when a config gives none.
const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);

/// How long a target that left the assignment is still answered: long
/// enough for Prometheus to re-read its file_sd file and stop the target's
/// scrape loop (its discovery manager passes changes on every 5 s), so
/// that a moved target's old shard records no failed scrape (`up == 0`)
/// for it; two intervals and some, never more than ten minutes.
pub fn release_grace(target: &ScrapeTarget) -> Duration {
    (target.scrape_interval().saturating_mul(2) + Duration::from_secs(10))
        .min(Duration::from_secs(600))
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
    /// Targets that left the assignment, still answered until the instant
    /// given ([`release_grace`]).
    pub released: BTreeMap<TargetId, (Arc<ScrapeTarget>, Instant)>,
}

/// What a scrape finds under an id.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// An assigned target.
    Assigned(Arc<ScrapeTarget>),
    /// A target that left the assignment moments ago: scraped as before,
    /// but no longer part of this shard's statistics.
    Released(Arc<ScrapeTarget>),
}

impl Lookup {
    /// The target found.
    pub fn target(&self) -> &Arc<ScrapeTarget> {
        match self {
            Self::Assigned(target) | Self::Released(target) => target,
        }
    }
}

impl AssignmentTable {
    /// Looks up an assigned target. `None` means the sidecar must refuse
    /// (404): it only ever fetches URLs it was assigned.
    pub fn lookup(&self, id: &str) -> Option<Arc<ScrapeTarget>> {
        // Under the read lock: a scrape takes only its target's `Arc`, not
        // the whole assignment's.
        self.read().by_id.get(id).cloned()
    }

    /// Looks up a target for a scrape: assigned, or released less than its
    /// grace ago. `None` means 404.
    pub fn lookup_for_scrape(&self, id: &str, now: Instant) -> Option<Lookup> {
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
    pub fn snapshot(&self) -> Arc<Indexed> {
        Arc::clone(&self.read())
    }

    fn read(&self) -> RwLockReadGuard<'_, Arc<Indexed>> {
        // A poisoned lock only means a writer panicked between two whole
        // values; the `Arc` inside is still a complete assignment.
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the assignment whole. Targets it no longer holds stay
    /// answerable for their [`release_grace`].
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
        assert!(table.lookup("fast").is_none(), "no longer assigned");
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
