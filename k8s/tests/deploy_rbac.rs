//! The RBAC in `deploy/` grants the coordinator exactly
//! [`COORDINATOR_RULES`]: no verb more, none missing.
//!
//! `deploy/base/rbac.yaml` is generated from the rules (run this test with
//! `UPDATE_DEPLOY_RBAC=1` to rewrite it), and every kustomization under
//! `deploy/` is rendered with `kubectl kustomize` and its Roles and
//! ClusterRoles, followed through their bindings to the coordinator's
//! ServiceAccount, are compared with the rules. `kubectl` is required:
//! `scripts/ensure-deps --test` checks for it.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use promshard_k8s::rbac::{COORDINATOR_RULES, Scope};
use promshard_test_support::{kustomizations, kustomize};
use serde_yaml_ng::Value;

const ROLE_NAME: &str = "promshard-coordinator";
const SERVICE_ACCOUNT: &str = "promshard-coordinator";
const UPDATE_ENV: &str = "UPDATE_DEPLOY_RBAC";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

/// `deploy/...` as a reader of the failure wants to see it.
fn shown(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The RBAC manifest for [`COORDINATOR_RULES`]: cluster-scoped rules in a
/// ClusterRole, namespaced ones in a Role (its namespace comes from the
/// kustomization), one rule entry per rule, in order.
fn generated_rbac_yaml() -> String {
    let mut out = String::from(
        "# Generated from COORDINATOR_RULES in k8s/src/rbac.rs: every Kubernetes API\n\
         # call the coordinator makes, and nothing else. Do not edit; after changing\n\
         # the rules run\n\
         #   UPDATE_DEPLOY_RBAC=1 cargo test -p promshard-k8s --test deploy_rbac\n",
    );
    for (scope, role_kind, binding_kind) in [
        (Scope::Cluster, "ClusterRole", "ClusterRoleBinding"),
        (Scope::Namespace, "Role", "RoleBinding"),
    ] {
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {role_kind}\nmetadata:\n  name: {ROLE_NAME}\n  labels:\n    app.kubernetes.io/name: promshard-coordinator\n    app.kubernetes.io/component: coordinator\nrules:\n"
        ));
        for rule in COORDINATOR_RULES.iter().filter(|r| r.scope == scope) {
            let verbs = rule
                .verbs
                .iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!(
                "  - apiGroups: [\"{}\"]\n    resources: [\"{}\"]\n    verbs: [{verbs}]\n",
                rule.api_group, rule.resource
            ));
        }
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {binding_kind}\nmetadata:\n  name: {ROLE_NAME}\n  labels:\n    app.kubernetes.io/name: promshard-coordinator\n    app.kubernetes.io/component: coordinator\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: {role_kind}\n  name: {ROLE_NAME}\nsubjects:\n  - kind: ServiceAccount\n    name: {SERVICE_ACCOUNT}\n    namespace: promshard\n"
        ));
    }
    out
}

#[test]
fn rbac_manifest_is_generated_from_the_rules() {
    let path = deploy_dir().join("base/rbac.yaml");
    let want = generated_rbac_yaml();
    if std::env::var_os(UPDATE_ENV).is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(
        have == want,
        "{} is not what COORDINATOR_RULES generate; rerun with {UPDATE_ENV}=1 to rewrite it",
        shown(&path)
    );
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(*key))
        .and_then(Value::as_str)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_sequence)
        .map(|seq| {
            seq.iter()
                .map(|v| v.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// (scope, api group, resource, verb): one granted permission.
type Grant = (&'static str, String, String, String);

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Cluster => "cluster",
        Scope::Namespace => "namespace",
    }
}

fn wanted_grants() -> BTreeSet<Grant> {
    COORDINATOR_RULES
        .iter()
        .flat_map(|rule| {
            rule.verbs.iter().map(move |verb| {
                (
                    scope_name(rule.scope),
                    rule.api_group.to_owned(),
                    rule.resource.to_owned(),
                    (*verb).to_owned(),
                )
            })
        })
        .collect()
}

/// What the rendered objects grant the coordinator's ServiceAccount.
fn granted(objects: &[Value], where_: &str) -> BTreeSet<Grant> {
    let kind = |o: &Value| str_at(o, &["kind"]).unwrap_or_default().to_owned();
    let coordinator = objects
        .iter()
        .find(|o| {
            kind(o) == "Deployment"
                && str_at(o, &["metadata", "name"]) == Some("promshard-coordinator")
        })
        .unwrap_or_else(|| panic!("{where_}: no promshard-coordinator Deployment"));
    let namespace = str_at(coordinator, &["metadata", "namespace"])
        .unwrap_or_else(|| panic!("{where_}: the coordinator has no namespace"));
    let account = str_at(
        coordinator,
        &["spec", "template", "spec", "serviceAccountName"],
    )
    .unwrap_or_else(|| panic!("{where_}: the coordinator names no ServiceAccount"));
    assert_eq!(account, SERVICE_ACCOUNT, "{where_}");
    let shards = objects
        .iter()
        .find(|o| {
            kind(o) == "StatefulSet" && str_at(o, &["metadata", "name"]) == Some("promshard-shard")
        })
        .unwrap_or_else(|| panic!("{where_}: no promshard-shard StatefulSet"));
    assert_eq!(
        str_at(shards, &["metadata", "namespace"]),
        Some(namespace),
        "{where_}: the Role must be in the shards' namespace"
    );

    let mut grants = BTreeSet::new();
    for binding in objects.iter().filter(|o| {
        let k = kind(o);
        k == "RoleBinding" || k == "ClusterRoleBinding"
    }) {
        let binding_kind = kind(binding);
        let binding_ns = str_at(binding, &["metadata", "namespace"]);
        let subjects = binding
            .get("subjects")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        let binds_coordinator = subjects.iter().any(|s| {
            str_at(s, &["kind"]) == Some("ServiceAccount")
                && str_at(s, &["name"]) == Some(account)
                && (str_at(s, &["namespace"]).or(binding_ns) == Some(namespace))
        });
        // Any other subject would share the coordinator's rights.
        for subject in &subjects {
            assert!(
                str_at(subject, &["kind"]) == Some("ServiceAccount")
                    && str_at(subject, &["name"]) == Some(account),
                "{where_}: {binding_kind} binds someone other than the coordinator: {subject:?}"
            );
        }
        if !binds_coordinator {
            continue;
        }
        let role_kind = str_at(binding, &["roleRef", "kind"]).unwrap();
        let role_name = str_at(binding, &["roleRef", "name"]).unwrap();
        let scope = match (binding_kind.as_str(), role_kind) {
            ("ClusterRoleBinding", "ClusterRole") => "cluster",
            ("RoleBinding", _) => {
                assert_eq!(
                    binding_ns,
                    Some(namespace),
                    "{where_}: RoleBinding outside the coordinator's namespace"
                );
                "namespace"
            }
            other => panic!("{where_}: unexpected binding {other:?}"),
        };
        let role = objects
            .iter()
            .find(|o| {
                kind(o) == role_kind
                    && str_at(o, &["metadata", "name"]) == Some(role_name)
                    && (role_kind == "ClusterRole"
                        || str_at(o, &["metadata", "namespace"]) == Some(namespace))
            })
            .unwrap_or_else(|| {
                panic!("{where_}: {binding_kind} refers to missing {role_kind} {role_name}")
            });
        assert!(
            role.get("aggregationRule").is_none(),
            "{where_}: aggregated roles grant what others add"
        );
        for rule in role
            .get("rules")
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{where_}: {role_kind} {role_name} has no rules"))
        {
            for key in ["resourceNames", "nonResourceURLs"] {
                assert!(
                    rule.get(key).is_none(),
                    "{where_}: unexpected {key} in {rule:?}"
                );
            }
            let groups = strings(rule.get("apiGroups"));
            let resources = strings(rule.get("resources"));
            let verbs = strings(rule.get("verbs"));
            assert!(
                !groups.is_empty() && !resources.is_empty() && !verbs.is_empty(),
                "{where_}: incomplete rule {rule:?}"
            );
            for group in &groups {
                for resource in &resources {
                    for verb in &verbs {
                        assert!(
                            group != "*" && resource != "*" && verb != "*",
                            "{where_}: wildcard in {rule:?}"
                        );
                        grants.insert((scope, group.clone(), resource.clone(), verb.clone()));
                    }
                }
            }
        }
    }
    grants
}

#[test]
fn every_kustomization_grants_exactly_the_coordinator_rules() {
    let kustomizations = kustomizations(&deploy_dir());
    assert!(
        kustomizations.iter().any(|k| k.ends_with("base")),
        "no deploy/base kustomization found: {kustomizations:?}"
    );
    let want = wanted_grants();
    for kustomization in &kustomizations {
        let where_ = shown(kustomization);
        let objects = kustomize(kustomization);
        let have = granted(&objects, &where_);
        let extra: Vec<_> = have.difference(&want).collect();
        let missing: Vec<_> = want.difference(&have).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{where_}: RBAC differs from COORDINATOR_RULES\n  granted but not in the rules: {extra:?}\n  in the rules but not granted: {missing:?}"
        );
    }
}

#[test]
fn no_statefulset_pod_gets_an_api_token() {
    for kustomization in kustomizations(&deploy_dir()) {
        let where_ = shown(&kustomization);
        for object in kustomize(&kustomization) {
            if str_at(&object, &["kind"]) != Some("StatefulSet") {
                continue;
            }
            let pod = object
                .get("spec")
                .and_then(|s| s.get("template"))
                .and_then(|t| t.get("spec"))
                .unwrap();
            assert_eq!(
                pod.get("automountServiceAccountToken"),
                Some(&Value::Bool(false)),
                "{where_}: StatefulSet {:?} mounts an API token",
                str_at(&object, &["metadata", "name"])
            );
        }
    }
}

#[test]
fn the_check_catches_an_extra_verb() {
    // Guards the comparison itself: one more verb in a rendered Role must show.
    let mut objects = kustomize(&deploy_dir().join("base"));
    let before = granted(&objects, "base");
    let role = objects
        .iter_mut()
        .find(|o| str_at(o, &["kind"]) == Some("Role"))
        .unwrap();
    let rules = role
        .get_mut("rules")
        .and_then(Value::as_sequence_mut)
        .unwrap();
    let first = &mut rules[0];
    let group = strings(first.get("apiGroups")).remove(0);
    let resource = strings(first.get("resources")).remove(0);
    first
        .get_mut("verbs")
        .and_then(Value::as_sequence_mut)
        .unwrap()
        .push(Value::from("deletecollection"));
    let after = granted(&objects, "base with an extra verb");
    let added: Vec<_> = after.difference(&before).cloned().collect();
    assert_eq!(
        added,
        vec![("namespace", group, resource, "deletecollection".to_owned())]
    );
}
