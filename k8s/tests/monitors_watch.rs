//! prometheus-operator resources watched from the in-process API server
//! serving real CRD JSON: a ServiceMonitor created, changed and deleted
//! shows in the next snapshot; a malformed one is reported and the others
//! stay; a kind whose CRD is not installed does not hold the others back;
//! Secrets are read by name only; every call is one the RBAC rules grant.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use promshard_fake_kube::{CustomResource, FakeApiServer, Fault};
use promshard_k8s::monitors::{MonitorKind, MonitorOptions, MonitorSnapshot, MonitorWatch};
use promshard_k8s::rbac::{COORDINATOR_RULES, OPERATOR_RULES, Rule};
use serde_json::json;

const SERVICE_MONITORS: CustomResource = CustomResource {
    group: "monitoring.coreos.com",
    version: "v1",
    plural: "servicemonitors",
    kind: "ServiceMonitor",
    namespaced: true,
};
const POD_MONITORS: CustomResource = CustomResource {
    plural: "podmonitors",
    kind: "PodMonitor",
    ..SERVICE_MONITORS
};
const PROBES: CustomResource = CustomResource {
    plural: "probes",
    kind: "Probe",
    ..SERVICE_MONITORS
};

fn service_monitor(name: &str, port: &str) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "namespace": "apps", "labels": {"release": "kps"}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "endpoints": [{
                "port": port,
                "basicAuth": {
                    "username": {"name": "creds", "key": "user"},
                    "password": {"name": "creds", "key": "pass"}
                }
            }]
        }
    })
}

async fn start() -> (FakeApiServer, MonitorWatch) {
    let server = FakeApiServer::start().await.unwrap();
    for resource in [SERVICE_MONITORS, POD_MONITORS, PROBES] {
        server.install(&resource);
    }
    // The ScrapeConfig CRD is not installed (an older operator).
    server.inject(Fault {
        method: http::Method::GET,
        path_contains: "/scrapeconfigs".into(),
        status: 404,
        times: usize::MAX,
    });
    server.upsert(&Namespace {
        metadata: ObjectMeta {
            name: Some("apps".into()),
            labels: Some(BTreeMap::from([("team".into(), "a".into())])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    });
    server.upsert(&Secret {
        metadata: ObjectMeta {
            name: Some("creds".into()),
            namespace: Some("apps".into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            ("user".into(), ByteString(b"scraper".to_vec())),
            ("pass".into(), ByteString(b"s3cret".to_vec())),
        ])),
        ..Secret::default()
    });
    // A Secret nothing refers to: never read.
    server.upsert(&Secret {
        metadata: ObjectMeta {
            name: Some("unrelated".into()),
            namespace: Some("apps".into()),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    });
    server.upsert_json(&SERVICE_MONITORS, service_monitor("api", "web"));
    let watch = MonitorWatch::start(
        server.client(),
        MonitorOptions {
            prometheus: None,
            refresh: Duration::from_secs(60),
            sync_timeout: Duration::from_secs(30),
        },
    );
    (server, watch)
}

/// Waits for a snapshot for which `check` holds.
async fn snapshot_where(
    watch: &MonitorWatch,
    what: &str,
    check: impl Fn(&MonitorSnapshot) -> bool,
) -> Arc<MonitorSnapshot> {
    let mut snapshots = watch.snapshots();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(snapshot) = snapshots.borrow_and_update().clone()
            && check(&snapshot)
        {
            return snapshot;
        }
        tokio::select! {
            changed = snapshots.changed() => changed.unwrap(),
            () = tokio::time::sleep_until(deadline) => panic!("no snapshot where {what}"),
        }
    }
}

fn ports(snapshot: &MonitorSnapshot) -> Vec<(String, String)> {
    snapshot
        .resources
        .service_monitors
        .iter()
        .map(|m| (m.metadata.name.clone(), m.spec.endpoints[0].port.clone()))
        .collect()
}

#[tokio::test]
async fn monitors_are_watched_and_their_secrets_read_by_name() {
    let (server, watch) = start().await;
    let first = snapshot_where(&watch, "the first list is in", |s| {
        !s.resources.service_monitors.is_empty()
    })
    .await;
    assert_eq!(ports(&first), [("api".into(), "web".into())]);
    assert!(first.unsynced.is_empty(), "{:?}", first.unsynced);
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    assert_eq!(first.resources.namespaces.len(), 1);
    assert_eq!(first.resources.namespaces[0].metadata.labels["team"], "a");
    let secrets: Vec<&str> = first
        .resources
        .secrets
        .iter()
        .map(|s| s.metadata.name.as_str())
        .collect();
    assert_eq!(secrets, ["creds"], "only the referenced Secret is read");
    assert_eq!(first.resources.secrets[0].data["pass"].expose(), "s3cret");
    assert!(!format!("{:?}", first.resources.secrets).contains("s3cret"));

    // Changed: the new port shows; added: a second one shows.
    server.upsert_json(&SERVICE_MONITORS, service_monitor("api", "metrics"));
    server.upsert_json(&SERVICE_MONITORS, service_monitor("db", "exporter"));
    let changed = snapshot_where(&watch, "the change is in", |s| {
        ports(s)
            == [
                ("api".into(), "metrics".into()),
                ("db".into(), "exporter".into()),
            ]
    })
    .await;
    assert!(changed.problems.is_empty());

    // A malformed one (endpoints not a list) is reported; the others stay.
    let mut bad = service_monitor("broken", "web");
    bad["spec"]["endpoints"] = json!("everything");
    server.upsert_json(&SERVICE_MONITORS, bad);
    let with_bad = snapshot_where(&watch, "the malformed one is reported", |s| {
        !s.problems.is_empty()
    })
    .await;
    assert_eq!(ports(&with_bad).len(), 2, "{:?}", ports(&with_bad));
    let problem = with_bad.problems[0].to_string();
    assert!(
        problem.contains("apps/broken") && problem.contains("endpoints"),
        "{problem}"
    );

    // Deleted: gone.
    assert!(server.remove_json(&SERVICE_MONITORS, Some("apps"), "db"));
    snapshot_where(&watch, "the deletion is in", |s| {
        ports(s) == [("api".into(), "metrics".into())]
    })
    .await;

    // Every call granted by the coordinator's rules plus the operator's;
    // Secrets only ever read by name.
    let rules: Vec<Rule> = COORDINATOR_RULES
        .iter()
        .chain(OPERATOR_RULES)
        .copied()
        .collect();
    for request in server.requests() {
        assert!(request.is_granted_by(&rules), "not granted: {request:?}");
        if request.resource == "secrets" {
            assert_eq!(request.verb, "get", "{request:?}");
        }
    }
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.resource == "secrets" && r.path.ends_with("/unrelated")),
        "an unreferenced Secret was read"
    );
    drop(watch);
}

#[tokio::test]
async fn a_named_prometheus_resource_is_watched_alone() {
    let (server, _) = start().await;
    let prometheuses = CustomResource {
        plural: "prometheuses",
        kind: "Prometheus",
        ..SERVICE_MONITORS
    };
    server.install(&prometheuses);
    for name in ["k8s", "other"] {
        server.upsert_json(
            &prometheuses,
            json!({
                "metadata": {"name": name, "namespace": "monitoring"},
                "spec": {"serviceMonitorSelector": {"matchLabels": {"release": name}}}
            }),
        );
    }
    let watch = MonitorWatch::start(
        server.client(),
        MonitorOptions {
            prometheus: Some(("monitoring".into(), "k8s".into())),
            ..MonitorOptions::default()
        },
    );
    let snapshot = snapshot_where(&watch, "the Prometheus is in", |s| {
        !s.resources.prometheuses.is_empty()
    })
    .await;
    let names: Vec<&str> = snapshot
        .resources
        .prometheuses
        .iter()
        .map(|p| p.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["k8s"]);
    assert!(!snapshot.unsynced.contains(&MonitorKind::Prometheus));
}
