//! Selection with the operator's nil/empty selector semantics.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeMap;

use promshard_operator::load::load_documents;
use promshard_operator::model::{LabelSelector, ObjectMeta};
use promshard_operator::selection::{NamespaceIndex, ResourceKind, Selected, Selection};

fn meta(namespace: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: "m".into(),
        namespace: namespace.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn namespaces() -> NamespaceIndex {
    let loaded = load_documents([(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: a}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ops, labels: {team: b}}\n",
    )])
    .unwrap();
    NamespaceIndex::new(&loaded.resources.namespaces, ["monitoring", "other"])
}

#[test]
fn unset_resource_selector_selects_nothing_empty_selects_everything() {
    let ns = namespaces();
    let mut s = Selection::new("monitoring");
    let m = meta("monitoring", &[("app", "x")]);
    assert!(matches!(
        s.selects(ResourceKind::ServiceMonitor, &m, &ns),
        Selected::No(why) if why.contains("serviceMonitorSelector is not set")
    ));
    s.service_monitor_selector = Some(LabelSelector::default());
    assert_eq!(
        s.selects(ResourceKind::ServiceMonitor, &m, &ns),
        Selected::Yes
    );
    // Other kinds keep their own (unset) selectors.
    assert_ne!(s.selects(ResourceKind::PodMonitor, &m, &ns), Selected::Yes);
}

#[test]
fn unset_namespace_selector_means_own_namespace_empty_means_all() {
    let ns = namespaces();
    let mut s = Selection::new("monitoring");
    s.pod_monitor_selector = Some(LabelSelector::default());
    let here = meta("monitoring", &[]);
    let there = meta("shop", &[]);
    assert_eq!(
        s.selects(ResourceKind::PodMonitor, &here, &ns),
        Selected::Yes
    );
    assert_ne!(
        s.selects(ResourceKind::PodMonitor, &there, &ns),
        Selected::Yes
    );
    s.pod_monitor_namespace_selector = Some(LabelSelector::default());
    assert_eq!(
        s.selects(ResourceKind::PodMonitor, &there, &ns),
        Selected::Yes
    );
    assert_eq!(
        s.selects(ResourceKind::PodMonitor, &meta("other", &[]), &ns),
        Selected::Yes
    );
}

#[test]
fn namespace_selector_matches_namespace_labels_and_metadata_name() {
    let ns = namespaces();
    let mut s = Selection::new("monitoring");
    s.probe_selector = Some(LabelSelector::parse("").unwrap());
    s.probe_namespace_selector = Some(LabelSelector::parse("team=a").unwrap());
    assert_eq!(
        s.selects(ResourceKind::Probe, &meta("shop", &[]), &ns),
        Selected::Yes
    );
    assert_ne!(
        s.selects(ResourceKind::Probe, &meta("ops", &[]), &ns),
        Selected::Yes
    );
    // Namespaces without an object still have their name label.
    s.probe_namespace_selector =
        Some(LabelSelector::parse("kubernetes.io/metadata.name in (other, ops)").unwrap());
    assert_eq!(
        s.selects(ResourceKind::Probe, &meta("other", &[]), &ns),
        Selected::Yes
    );
    assert_eq!(
        s.selects(ResourceKind::Probe, &meta("ops", &[]), &ns),
        Selected::Yes
    );
    assert_ne!(
        s.selects(ResourceKind::Probe, &meta("shop", &[]), &ns),
        Selected::Yes
    );
}

#[test]
fn resource_selector_expressions() {
    let ns = namespaces();
    let mut s = Selection::new("ops");
    s.scrape_config_selector =
        Some(LabelSelector::parse("release=prod,tier notin (debug),!legacy,owner").unwrap());
    let ok = meta("ops", &[("release", "prod"), ("owner", "me")]);
    assert_eq!(
        s.selects(ResourceKind::ScrapeConfig, &ok, &ns),
        Selected::Yes
    );
    for bad in [
        meta("ops", &[("release", "dev"), ("owner", "me")]),
        meta(
            "ops",
            &[("release", "prod"), ("owner", "me"), ("tier", "debug")],
        ),
        meta(
            "ops",
            &[("release", "prod"), ("owner", "me"), ("legacy", "")],
        ),
        meta("ops", &[("release", "prod")]),
    ] {
        assert_ne!(
            s.selects(ResourceKind::ScrapeConfig, &bad, &ns),
            Selected::Yes,
            "{bad:?}"
        );
    }
}

#[test]
fn from_prometheus_and_invalid_selectors() {
    let loaded = load_documents([(
        "p.yaml",
        "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: monitoring}\nspec:\n  serviceMonitorSelector: {matchLabels: {release: kps}}\n  serviceMonitorNamespaceSelector: {}\n  podMonitorSelector:\n    matchExpressions: [{key: a, operator: In}]\n",
    )])
    .unwrap();
    let s = Selection::from_prometheus(&loaded.resources.prometheuses[0]);
    assert_eq!(s.prometheus_namespace, "monitoring");
    let err = s.validate().unwrap_err();
    assert_eq!(err.field, "podMonitorSelector");
    let labels = BTreeMap::from([("release".to_string(), "kps".to_string())]);
    assert!(s.service_monitor_selector.unwrap().matches(&labels));
    assert!(LabelSelector::parse("a in b").is_err());
    assert!(LabelSelector::parse("a in (b").is_err());
}
