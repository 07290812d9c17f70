//! Every Kubernetes API call promshard makes, as the RBAC rules it needs.
//!
//! `deploy/` grants exactly these rules (a test renders the manifests and
//! compares), and the API-call tests check that every request the code sends
//! to the test API server is covered by one of them. Adding a call means
//! adding it here first, so least privilege cannot drift.

/// Where a rule is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A `Role` in the namespace of the shard StatefulSets.
    Namespace,
    /// A `ClusterRole`: service discovery may watch any namespace, and nodes
    /// are cluster-scoped.
    Cluster,
}

/// One RBAC rule: these verbs on this resource of this API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// API group (`""` for the core group).
    pub api_group: &'static str,
    /// Plural resource name, with `/subresource` where one is used.
    pub resource: &'static str,
    /// Verbs, sorted.
    pub verbs: &'static [&'static str],
    /// Role or ClusterRole.
    pub scope: Scope,
}

const LIST_WATCH: &[&str] = &["list", "watch"];

/// The coordinator's rules: discovery for the fleet, the shard set, scaling,
/// PVC clean-up, and leader election.
pub const COORDINATOR_RULES: &[Rule] = &[
    // kubernetes_sd_configs, any namespace the user's config names.
    Rule {
        api_group: "",
        resource: "pods",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: "",
        resource: "services",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: "",
        resource: "endpoints",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: "",
        resource: "nodes",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: "",
        resource: "namespaces",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: "discovery.k8s.io",
        resource: "endpointslices",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: "networking.k8s.io",
        resource: "ingresses",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    // The shard set in its own namespace.
    Rule {
        api_group: "",
        resource: "pods",
        // The shard set lists its pods; it never watches or gets one.
        verbs: &["list"],
        scope: Scope::Namespace,
    },
    Rule {
        api_group: "apps",
        resource: "statefulsets",
        // patch: the draining-shards annotation (see crate::shards).
        verbs: &["get", "list", "patch"],
        scope: Scope::Namespace,
    },
    Rule {
        api_group: "apps",
        resource: "statefulsets/scale",
        verbs: &["get", "patch"],
        scope: Scope::Namespace,
    },
    Rule {
        api_group: "",
        resource: "persistentvolumeclaims",
        verbs: &["delete", "list"],
        scope: Scope::Namespace,
    },
    Rule {
        api_group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["create", "get", "update"],
        scope: Scope::Namespace,
    },
];

const MONITORING: &str = "monitoring.coreos.com";

/// What the coordinator needs besides [`COORDINATOR_RULES`] when it takes
/// its jobs from prometheus-operator resources (`--operator.*`, the
/// `deploy/overlays/operator` overlay): watch the monitors and the
/// Prometheus resource whose selectors apply, and read the Secrets and
/// ConfigMaps they reference, by name (`get`, never `list`: the
/// coordinator learns no other Secret).
pub const OPERATOR_RULES: &[Rule] = &[
    Rule {
        api_group: MONITORING,
        resource: "servicemonitors",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: MONITORING,
        resource: "podmonitors",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: MONITORING,
        resource: "probes",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: MONITORING,
        resource: "scrapeconfigs",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: MONITORING,
        resource: "prometheuses",
        verbs: LIST_WATCH,
        scope: Scope::Cluster,
    },
    Rule {
        api_group: "",
        resource: "secrets",
        verbs: &["get"],
        scope: Scope::Cluster,
    },
    Rule {
        api_group: "",
        resource: "configmaps",
        verbs: &["get"],
        scope: Scope::Cluster,
    },
];

/// Whether `verb` on `resource` of `api_group` in `scope` is granted by
/// [`COORDINATOR_RULES`]. A cluster-scoped rule covers namespaced calls too.
pub fn is_granted(api_group: &str, resource: &str, verb: &str, scope: Scope) -> bool {
    is_granted_by(COORDINATOR_RULES, api_group, resource, verb, scope)
}

/// Whether `verb` on `resource` of `api_group` in `scope` is granted by
/// `rules`.
pub fn is_granted_by(
    rules: &[Rule],
    api_group: &str,
    resource: &str,
    verb: &str,
    scope: Scope,
) -> bool {
    rules.iter().any(|rule| {
        rule.api_group == api_group
            && rule.resource == resource
            && rule.verbs.contains(&verb)
            && (rule.scope == scope || rule.scope == Scope::Cluster)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_sorted_and_rules_unique() {
        let all: Vec<&Rule> = COORDINATOR_RULES.iter().chain(OPERATOR_RULES).collect();
        for rule in &all {
            let mut sorted = rule.verbs.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, rule.verbs, "{rule:?}");
            let same = all
                .iter()
                .filter(|r| {
                    r.api_group == rule.api_group
                        && r.resource == rule.resource
                        && r.scope == rule.scope
                })
                .count();
            assert_eq!(same, 1, "{rule:?}");
        }
    }

    #[test]
    fn cluster_rules_cover_namespaced_calls_but_not_the_reverse() {
        assert!(is_granted("", "nodes", "watch", Scope::Namespace));
        assert!(is_granted(
            "apps",
            "statefulsets/scale",
            "patch",
            Scope::Namespace
        ));
        assert!(!is_granted(
            "apps",
            "statefulsets/scale",
            "patch",
            Scope::Cluster
        ));
        assert!(!is_granted(
            "apps",
            "statefulsets",
            "delete",
            Scope::Namespace
        ));
    }
}
