//! The shard set through a real `kube::Client` against the in-process API
//! server: which shards the StatefulSets and pods give, and exactly which
//! API calls scaling, draining and PVC clean-up make (each one granted by
//! the coordinator's RBAC rules).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::collections::BTreeMap;

use http::Method;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PersistentVolumeClaim, Pod, PodCondition, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use promshard_fake_kube::{ApiRequest, FakeApiServer, Fault};
use promshard_k8s::cluster::KubeCluster;
use promshard_k8s::shards::{DRAINING_ANNOTATION, REPLICA_GROUP_LABEL, ShardSet, ShardSetOptions};
use serde_json::json;

const NAMESPACE: &str = "monitoring";
const SELECTOR: &str = "app.kubernetes.io/name=promshard-shard";

fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn stateful_set(name: &str, replicas: i32, group: Option<&str>) -> StatefulSet {
    let mut set_labels = vec![("app.kubernetes.io/name", "promshard-shard")];
    if let Some(group) = group {
        set_labels.push((REPLICA_GROUP_LABEL, group));
    }
    StatefulSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NAMESPACE.into()),
            labels: labels(&set_labels),
            ..ObjectMeta::default()
        },
        spec: StatefulSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: labels(&[("promshard.io/set", name)]),
                ..LabelSelector::default()
            },
            service_name: Some("promshard-shard".into()),
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("data".into()),
                    ..ObjectMeta::default()
                },
                ..PersistentVolumeClaim::default()
            }]),
            ..StatefulSetSpec::default()
        },
        status: None,
    }
}

fn pod(set: &str, index: u32, ip: Option<&str>, ready: bool) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("{set}-{index}")),
            namespace: Some(NAMESPACE.into()),
            labels: labels(&[("promshard.io/set", set)]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "prometheus".into(),
                ports: Some(vec![ContainerPort {
                    name: Some("web".into()),
                    container_port: 9090,
                    ..ContainerPort::default()
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            pod_ip: ip.map(str::to_owned),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    }
}

fn pvc(name: &str, set: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NAMESPACE.into()),
            labels: labels(&[("promshard.io/set", set)]),
            ..ObjectMeta::default()
        },
        ..PersistentVolumeClaim::default()
    }
}

fn shard_set(server: &FakeApiServer, delete_pvc: bool) -> ShardSet<KubeCluster> {
    let mut options = ShardSetOptions::new(NAMESPACE, SELECTOR);
    options.delete_pvc = delete_pvc;
    ShardSet::new(KubeCluster::new(server.client()), options)
}

/// The requests since the last call, as `METHOD path?labelSelector`, after
/// checking that the coordinator's RBAC rules grant every one of them.
fn calls(server: &FakeApiServer) -> Vec<String> {
    let requests = server.requests();
    server.clear_requests();
    for request in &requests {
        assert!(
            request.is_granted(),
            "not granted by COORDINATOR_RULES: {request:?}"
        );
    }
    requests.iter().map(describe).collect()
}

fn describe(request: &ApiRequest) -> String {
    match request.query_param("labelSelector") {
        Some(selector) => format!("{} {}?{selector}", request.method, request.path),
        None => format!("{} {}", request.method, request.path),
    }
}

fn bodies(server: &FakeApiServer, method: &Method, path_end: &str) -> Vec<serde_json::Value> {
    server
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_end))
        .map(|r| r.body.clone().unwrap_or_default())
        .collect()
}

fn replicas(server: &FakeApiServer, name: &str) -> i32 {
    server
        .object::<StatefulSet>(Some(NAMESPACE), name)
        .unwrap()
        .spec
        .replicas
        .unwrap()
}

fn draining(server: &FakeApiServer, name: &str) -> Option<String> {
    server
        .object::<StatefulSet>(Some(NAMESPACE), name)
        .unwrap()
        .metadata
        .annotations
        .and_then(|a| a.get(DRAINING_ANNOTATION).cloned())
}

const STS: &str = "/apis/apps/v1/namespaces/monitoring/statefulsets";
const PODS: &str = "/api/v1/namespaces/monitoring/pods";

#[tokio::test]
async fn statefulsets_and_pods_give_the_shards_of_each_replica_group() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&stateful_set("prom-a", 2, Some("1")));
    server.upsert(&stateful_set("prom-b", 2, Some("0")));
    server.upsert(&pod("prom-a", 0, Some("10.1.0.1"), true));
    server.upsert(&pod("prom-a", 1, Some("10.1.0.2"), false));
    server.upsert(&pod("prom-b", 0, Some("10.2.0.1"), true));
    // Scheduled but not running yet: not a shard until it has an IP.
    server.upsert(&pod("prom-b", 1, None, false));
    // Not matching the selector: ignored.
    let mut other = stateful_set("other", 3, None);
    other.metadata.labels = labels(&[("app.kubernetes.io/name", "something-else")]);
    server.upsert(&other);

    let shards = shard_set(&server, false).shards().await.unwrap();
    let got: Vec<String> = shards
        .iter()
        .map(|s| {
            format!(
                "{}/{} {} {} {} ready={}",
                s.group,
                s.index,
                s.pod,
                s.sidecar_url,
                s.prometheus_url.as_deref().unwrap_or("-"),
                s.ready
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "0/0 prom-b-0 http://10.2.0.1:8080 http://10.2.0.1:9090 ready=true",
            "1/0 prom-a-0 http://10.1.0.1:8080 http://10.1.0.1:9090 ready=true",
            "1/1 prom-a-1 http://10.1.0.2:8080 http://10.1.0.2:9090 ready=false",
        ]
    );
    assert_eq!(
        calls(&server),
        [
            format!("GET {STS}?{SELECTOR}"),
            format!("GET {PODS}?promshard.io/set=prom-b"),
            format!("GET {PODS}?promshard.io/set=prom-a"),
        ]
    );
}

#[tokio::test]
async fn scale_up_patches_the_scale_subresource_once() {
    let server = FakeApiServer::start().await.unwrap();
    let version = server.upsert(&stateful_set("prom", 2, None));
    let set = shard_set(&server, false);
    set.scale_up(4).await.unwrap();
    assert_eq!(
        calls(&server),
        [
            format!("GET {STS}?{SELECTOR}"),
            format!("PATCH {STS}/prom/scale"),
        ]
    );
    assert_eq!(replicas(&server, "prom"), 4);
    // Already there: only the list.
    set.scale_up(4).await.unwrap();
    set.scale_up(3).await.unwrap();
    assert_eq!(
        calls(&server),
        [
            format!("GET {STS}?{SELECTOR}"),
            format!("GET {STS}?{SELECTOR}")
        ]
    );
    assert_eq!(replicas(&server, "prom"), 4);
    // The body as sent earlier: the merge patch carries the version it was decided on.
    server.clear_requests();
    server.upsert(&stateful_set("prom", 2, None));
    let version_now = server.resource_version();
    assert_ne!(version, version_now);
    set.scale_up(3).await.unwrap();
    assert_eq!(
        bodies(&server, &Method::PATCH, "/scale"),
        [json!({"metadata": {"resourceVersion": version_now}, "spec": {"replicas": 3}})]
    );
}

#[tokio::test]
async fn a_conflicting_scale_patch_is_retried_after_reading_the_scale() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&stateful_set("prom", 1, None));
    server.inject(Fault {
        method: Method::PATCH,
        path_contains: "/statefulsets/prom/scale".into(),
        status: 409,
        times: 1,
    });
    shard_set(&server, false).scale_up(2).await.unwrap();
    assert_eq!(
        calls(&server),
        [
            format!("GET {STS}?{SELECTOR}"),
            format!("PATCH {STS}/prom/scale"),
            format!("GET {STS}/prom/scale"),
            format!("PATCH {STS}/prom/scale"),
        ]
    );
    assert_eq!(replicas(&server, "prom"), 2);
}

#[tokio::test]
async fn the_draining_mark_survives_a_new_shard_set() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&stateful_set("prom", 3, None));
    for index in 0..3 {
        server.upsert(&pod("prom", index, Some(&format!("10.0.0.{index}")), true));
    }
    shard_set(&server, false)
        .set_removing(2, true)
        .await
        .unwrap();
    assert_eq!(
        calls(&server),
        [format!("GET {STS}?{SELECTOR}"), format!("PATCH {STS}/prom")]
    );
    assert_eq!(draining(&server, "prom").as_deref(), Some("2"));

    // A restarted coordinator builds a new shard set: the drain is still there.
    let restarted = shard_set(&server, false);
    let removing: Vec<u32> = restarted
        .shards()
        .await
        .unwrap()
        .iter()
        .filter(|s| s.removing)
        .map(|s| s.index)
        .collect();
    assert_eq!(removing, [2]);
    restarted.set_removing(2, false).await.unwrap();
    assert_eq!(draining(&server, "prom"), None);
    assert!(
        restarted
            .shards()
            .await
            .unwrap()
            .iter()
            .all(|s| !s.removing)
    );
}

#[tokio::test]
async fn pvcs_are_deleted_only_with_the_flag_and_only_after_the_pod_is_gone() {
    for delete_pvc in [false, true] {
        let server = FakeApiServer::start().await.unwrap();
        server.upsert(&stateful_set("prom", 2, None));
        for index in 0..2 {
            server.upsert(&pod("prom", index, Some(&format!("10.0.0.{index}")), true));
            server.upsert(&pvc(&format!("data-prom-{index}"), "prom"));
        }
        let set = shard_set(&server, delete_pvc);
        set.set_removing(1, true).await.unwrap();
        set.remove(1).await.unwrap();
        assert_eq!(replicas(&server, "prom"), 1);
        // The pod is still terminating: nothing is deleted.
        calls(&server);
        assert_eq!(set.shards().await.unwrap().len(), 1);
        assert_eq!(
            calls(&server),
            [
                format!("GET {STS}?{SELECTOR}"),
                format!("GET {PODS}?promshard.io/set=prom"),
            ]
        );
        assert!(
            server
                .object::<PersistentVolumeClaim>(Some(NAMESPACE), "data-prom-1")
                .is_some()
        );

        server.remove::<Pod>(Some(NAMESPACE), "prom-1");
        assert_eq!(set.shards().await.unwrap().len(), 1);
        let mut expected = vec![
            format!("GET {STS}?{SELECTOR}"),
            format!("GET {PODS}?promshard.io/set=prom"),
        ];
        if delete_pvc {
            expected.extend([
                "GET /api/v1/namespaces/monitoring/persistentvolumeclaims?promshard.io/set=prom"
                    .to_owned(),
                "DELETE /api/v1/namespaces/monitoring/persistentvolumeclaims/data-prom-1"
                    .to_owned(),
            ]);
        }
        expected.push(format!("PATCH {STS}/prom"));
        assert_eq!(calls(&server), expected, "delete_pvc={delete_pvc}");
        assert_eq!(
            server
                .object::<PersistentVolumeClaim>(Some(NAMESPACE), "data-prom-1")
                .is_some(),
            !delete_pvc
        );
        assert!(
            server
                .object::<PersistentVolumeClaim>(Some(NAMESPACE), "data-prom-0")
                .is_some()
        );
        assert_eq!(draining(&server, "prom"), None);
        // Done: the next listing calls nothing more.
        set.shards().await.unwrap();
        assert_eq!(calls(&server).len(), 2);
    }
}
