//! Reading manifests: multi-document files, lists, JSON, kinds promshard
//! ignores, and errors that name the file, document, object and field.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use promshard_operator::load::{DEFAULT_NAMESPACE, load_documents};

#[test]
fn sorts_documents_lists_and_json_by_kind() {
    let yaml = r#"
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web, namespace: shop, labels: {team: a}}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: http, interval: 15s}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: creds}
  data: {password: aHVudGVyMg==}
  stringData: {user: admin}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitorList
items:
- metadata: {name: pods, namespace: shop}
  spec: {podMetricsEndpoints: [{portNumber: 8080}]}
"#;
    let json = r#"{"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "ScrapeConfig",
        "metadata": {"name": "static", "namespace": "ops"},
        "spec": {"staticConfigs": [{"targets": ["a:9100"]}]}}"#;
    let loaded = load_documents([("a.yaml", yaml), ("b.json", json)]).unwrap();
    let r = &loaded.resources;
    assert_eq!(r.service_monitors.len(), 1);
    assert_eq!(r.service_monitors[0].spec.endpoints[0].interval, "15s");
    assert_eq!(
        r.pod_monitors[0].spec.pod_metrics_endpoints[0].port_number,
        Some(8080)
    );
    assert_eq!(
        r.scrape_configs[0].spec.static_configs[0].targets,
        ["a:9100"]
    );
    let secret = &r.secrets[0];
    assert_eq!(secret.metadata.namespace, DEFAULT_NAMESPACE);
    assert_eq!(secret.data["password"].expose(), "hunter2");
    assert_eq!(secret.data["user"].expose(), "admin");
    assert!(!format!("{secret:?}").contains("hunter2"));
    assert_eq!(loaded.notes.len(), 1);
    assert_eq!(loaded.notes[0].kind, "Deployment");
    assert_eq!(loaded.notes[0].document, 2);
}

#[test]
fn probe_path_gets_the_crd_default() {
    let yaml = "apiVersion: monitoring.coreos.com/v1\nkind: Probe\nmetadata: {name: p}\nspec:\n  prober: {url: 'blackbox:9115'}\n";
    let loaded = load_documents([("p.yaml", yaml)]).unwrap();
    assert_eq!(loaded.resources.probes[0].spec.prober.path, "/probe");
}

#[test]
fn invalid_document_names_file_document_object_and_field() {
    let yaml = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web, namespace: shop}
spec:
  endpoints:
  - port: http
    honorLabels: "maybe"
"#;
    let err = load_documents([("monitors.yaml", yaml)]).unwrap_err();
    assert_eq!(err.file, "monitors.yaml");
    assert_eq!(err.document, 2);
    assert_eq!(err.object, "ServiceMonitor/web");
    assert!(
        err.message.contains("spec.endpoints[0].honorLabels"),
        "{}",
        err.message
    );
    assert!(
        err.to_string()
            .starts_with("monitors.yaml document 2: ServiceMonitor/web: ")
    );
}

#[test]
fn broken_yaml_is_an_error_of_its_document() {
    let err = load_documents([("x.yaml", "kind: Secret\n---\n: : :\n  - [")]).unwrap_err();
    assert_eq!((err.file.as_str(), err.document), ("x.yaml", 2));
}
