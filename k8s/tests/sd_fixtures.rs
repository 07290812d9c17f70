//! Kubernetes objects to target groups, checked against the expectations of
//! Prometheus's own tests (fixtures under `testdata/k8s/`).
#![allow(clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use promshard_config::TargetGroup;
use promshard_k8s::sd::{AttachMetadata, KubeObject, ObjectIndex, Role};
use serde_yaml_ng::Value;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/k8s")
}

type Labels = BTreeMap<String, String>;

/// A group as compared: labels with empty values dropped (Prometheus drops
/// them from targets), targets sorted.
#[derive(Debug, PartialEq, Eq)]
struct Comparable {
    labels: Labels,
    targets: Vec<Labels>,
}

fn non_empty(pairs: impl IntoIterator<Item = (String, String)>) -> Labels {
    pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

fn comparable(group: &TargetGroup) -> Comparable {
    let mut targets: Vec<Labels> = group
        .targets
        .iter()
        .map(|t| non_empty(t.to_map()))
        .collect();
    targets.sort();
    Comparable {
        labels: non_empty(group.labels.to_map()),
        targets,
    }
}

fn yaml_labels(value: &Value) -> Labels {
    let map: BTreeMap<String, String> =
        serde_yaml_ng::from_value(value.clone()).expect("labels are a string map");
    non_empty(map)
}

fn expected_groups(value: &Value) -> BTreeMap<String, Comparable> {
    let mut out = BTreeMap::new();
    for group in value.as_sequence().expect("expected is a list") {
        let source = group["source"].as_str().expect("source").to_owned();
        let mut targets: Vec<Labels> = group["targets"]
            .as_sequence()
            .map(|ts| ts.iter().map(yaml_labels).collect())
            .unwrap_or_default();
        targets.sort();
        let labels = yaml_labels(&group["labels"]);
        out.insert(source, Comparable { labels, targets });
    }
    out
}

fn run_case(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let mut doc: Value = serde_yaml_ng::from_str(&text).expect("fixture is YAML");
    doc.apply_merge().expect("merge keys");
    let role = Role::parse(doc["role"].as_str().expect("role")).expect("known role");
    let attach = AttachMetadata {
        node: doc["attach_metadata"]["node"].as_bool().unwrap_or(false),
        namespace: doc["attach_metadata"]["namespace"]
            .as_bool()
            .unwrap_or(false),
    };
    let mut index = ObjectIndex::new();
    for (i, object) in doc["objects"]
        .as_sequence()
        .expect("objects")
        .iter()
        .enumerate()
    {
        let json = serde_json::to_value(object).expect("object as JSON");
        for object in KubeObject::from_json(json, i).expect("a real API object") {
            index.insert(object);
        }
    }
    let got: BTreeMap<String, Comparable> = index
        .groups(role, attach)
        .iter()
        .map(|g| (g.source.clone(), comparable(g)))
        .collect();
    let want = expected_groups(&doc["expected"]);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{}: sources",
        path.display()
    );
    for (source, want) in &want {
        let got = &got[source];
        assert_eq!(
            got.labels,
            want.labels,
            "{}: {source} labels",
            path.display()
        );
        assert_eq!(
            got.targets,
            want.targets,
            "{}: {source} targets",
            path.display()
        );
    }
}

#[test]
fn every_fixture_matches_prometheus() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "fixtures missing: {cases:?}");
    for case in &cases {
        run_case(case);
    }
}

#[test]
fn a_list_document_is_flattened_and_unknown_kinds_are_named() {
    let text = r#"
apiVersion: v1
kind: PodList
metadata: {resourceVersion: "7"}
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: default}
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: default}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
"#;
    let index = ObjectIndex::from_yaml_documents(text).expect("valid documents");
    assert_eq!(index.pods.len(), 2);
    assert_eq!(index.nodes.len(), 1);
    let err = ObjectIndex::from_yaml_documents("apiVersion: apps/v1\nkind: Deployment\n")
        .expect_err("not a discovery kind");
    assert!(err.to_string().contains("apps/v1/Deployment"), "{err}");
}
