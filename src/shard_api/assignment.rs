//! The assignment a coordinator sends a sidecar (`PUT
//! /api/v1/shard/targets`), and what the sidecar answers.

use std::collections::BTreeMap;

use super::target::{Role, ScrapeTarget, TargetId};

/// Largest assignment accepted: about 100k targets with rich label sets.
pub(crate) const MAX_ASSIGNMENT_BYTES: usize = 256 << 20;

/// A full assignment as the coordinator sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    /// Monotonic per coordinator decision; older generations are rejected.
    pub generation: u64,
    /// Every target of this shard.
    pub targets: Vec<ScrapeTarget>,
    /// When this shard got each target in its current role, in milliseconds
    /// since the Unix epoch on the sidecar's clock. The sidecar keeps these
    /// (`Assignment::stamp`; whatever the coordinator sends is replaced)
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
    pub(crate) fn stamp(&mut self, previous: &Assignment, now_ms: u64) {
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

/// What applying did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// The generation now in force.
    pub generation: u64,
    /// Whether anything changed (false for a replay of the current one).
    pub changed: bool,
    /// Jobs whose file_sd file was rewritten.
    pub jobs_written: Vec<String>,
    /// Jobs of the assignment that this shard's config does not have yet:
    /// their targets are kept and scraped once the config has them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_jobs: Vec<String>,
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
}
