//! Kubernetes discovery against the in-process API server: initial groups,
//! add/modify/delete, selectors passed to the API, per-object updates,
//! dependent endpoint groups, 410 re-list, bookmarks, RBAC of every call.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Node,
    ObjectReference, Pod, PodSpec, PodStatus, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use promshard_config::TargetGroup;
use promshard_config::discovery::{Discoverer, ProviderMessage};
use promshard_fake_kube::{ApiRequest, FakeApiServer, Fault};
use promshard_k8s::sd::KubernetesDiscoverer;
use promshard_k8s::sd::config::KubernetesSdConfig;
use tokio::sync::mpsc;

fn meta(namespace: Option<&str>, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: (!labels.is_empty()).then(|| {
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>()
        }),
        ..ObjectMeta::default()
    }
}

fn pod(namespace: &str, name: &str, ip: &str, labels: &[(&str, &str)]) -> Pod {
    Pod {
        metadata: meta(Some(namespace), name, labels),
        spec: Some(PodSpec {
            node_name: Some("node-1".into()),
            containers: vec![Container {
                name: "app".into(),
                image: Some("app:1".into()),
                ports: Some(vec![ContainerPort {
                    name: Some("metrics".into()),
                    container_port: 9100,
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            pod_ip: Some(ip.to_owned()),
            phase: Some("Running".into()),
            ..PodStatus::default()
        }),
    }
}

fn endpoints(namespace: &str, name: &str, pods: &[(&str, &str)]) -> Endpoints {
    Endpoints {
        metadata: meta(Some(namespace), name, &[]),
        subsets: Some(vec![EndpointSubset {
            addresses: Some(
                pods.iter()
                    .map(|(pod, ip)| EndpointAddress {
                        ip: (*ip).to_owned(),
                        target_ref: Some(ObjectReference {
                            kind: Some("Pod".into()),
                            name: Some((*pod).to_owned()),
                            namespace: Some(namespace.to_owned()),
                            ..ObjectReference::default()
                        }),
                        ..EndpointAddress::default()
                    })
                    .collect(),
            ),
            ports: Some(vec![EndpointPort {
                name: Some("metrics".into()),
                port: 9100,
                protocol: Some("TCP".into()),
                ..EndpointPort::default()
            }]),
            ..EndpointSubset::default()
        }]),
    }
}

fn sd_config(yaml: &str) -> KubernetesSdConfig {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    KubernetesSdConfig::parse(
        &value,
        "kubernetes_sd_configs[0]",
        std::path::Path::new("."),
    )
    .unwrap()
}

fn start(
    server: &FakeApiServer,
    yaml: &str,
    tune: impl FnOnce(KubernetesDiscoverer) -> KubernetesDiscoverer,
) -> (mpsc::Receiver<ProviderMessage>, tokio::task::JoinHandle<()>) {
    let discoverer = Arc::new(tune(
        KubernetesDiscoverer::new("kubernetes_sd_configs[0]".into(), sd_config(yaml))
            .with_client(server.client()),
    ));
    let (tx, rx) = mpsc::channel(64);
    (rx, tokio::spawn(discoverer.run(tx)))
}

/// The next message that is not an error.
async fn next(rx: &mut mpsc::Receiver<ProviderMessage>) -> ProviderMessage {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("a message within 20s")
            .expect("provider running");
        if !matches!(message, ProviderMessage::Error(_)) {
            return message;
        }
    }
}

async fn snapshot(rx: &mut mpsc::Receiver<ProviderMessage>) -> Vec<TargetGroup> {
    match next(rx).await {
        ProviderMessage::Snapshot(groups) => groups,
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

async fn update(rx: &mut mpsc::Receiver<ProviderMessage>) -> Vec<TargetGroup> {
    match next(rx).await {
        ProviderMessage::Update(groups) => groups,
        other => panic!("expected an update, got {other:?}"),
    }
}

/// Nothing but errors arrives within `wait`.
async fn quiet(rx: &mut mpsc::Receiver<ProviderMessage>, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(message) = tokio::time::timeout_at(deadline, rx.recv()).await {
        match message {
            Some(ProviderMessage::Error(_)) => {}
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// Waits until `count` watch requests reached the server, so that the
/// next server-side event meets an open watch.
async fn watches_open(server: &FakeApiServer, count: usize) {
    for _ in 0..200 {
        if server
            .requests()
            .iter()
            .filter(|r| r.verb == "watch")
            .count()
            >= count
        {
            // The request is logged as it arrives; let the stream start.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no watch opened: {:?}", server.requests());
}

fn sources(groups: &[TargetGroup]) -> Vec<&str> {
    groups.iter().map(|g| g.source.as_str()).collect()
}

fn assert_all_granted(requests: &[ApiRequest]) {
    assert!(!requests.is_empty());
    for r in requests {
        assert!(
            r.is_granted(),
            "{} {} {}/{} in {:?} is not in COORDINATOR_RULES",
            r.verb,
            r.path,
            r.api_group,
            r.resource,
            r.namespace
        );
    }
}

#[tokio::test]
async fn pods_initial_add_modify_delete() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("default", "a", "10.0.0.1", &[("app", "x")]));
    server.upsert(&pod("default", "b", "10.0.0.2", &[]));
    server.upsert(&pod("other", "c", "10.0.0.3", &[]));
    let (mut rx, task) = start(&server, "role: pod\nnamespaces: {names: [default]}", |d| d);

    let groups = snapshot(&mut rx).await;
    assert_eq!(sources(&groups), ["pod/default/a", "pod/default/b"]);
    assert_eq!(
        groups[0].labels.get("__meta_kubernetes_pod_label_app"),
        Some("x")
    );
    assert_eq!(
        groups[0].targets[0].get("__address__"),
        Some("10.0.0.1:9100")
    );

    server.upsert(&pod("default", "d", "10.0.0.4", &[]));
    let groups = update(&mut rx).await;
    assert_eq!(sources(&groups), ["pod/default/d"]);

    server.upsert(&pod("default", "a", "10.0.0.1", &[("app", "y")]));
    let groups = update(&mut rx).await;
    assert_eq!(sources(&groups), ["pod/default/a"]);
    assert_eq!(
        groups[0].labels.get("__meta_kubernetes_pod_label_app"),
        Some("y")
    );

    assert!(server.remove::<Pod>(Some("default"), "b"));
    let groups = update(&mut rx).await;
    assert_eq!(sources(&groups), ["pod/default/b"]);
    assert!(
        groups[0].targets.is_empty(),
        "a deleted pod empties its group"
    );

    // A change in a namespace not watched sends nothing.
    server.upsert(&pod("other", "c", "10.0.0.9", &[]));
    quiet(&mut rx, Duration::from_millis(300)).await;

    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.namespace.as_deref() == Some("default"))
    );
    assert_all_granted(&requests);
    task.abort();
}

#[tokio::test]
async fn one_changed_pod_of_many_sends_one_group() {
    let server = FakeApiServer::start().await.unwrap();
    for i in 0..1000 {
        server.upsert(&pod(
            "default",
            &format!("p{i:04}"),
            &format!("10.1.{}.{}", i / 250, i % 250),
            &[],
        ));
    }
    let (mut rx, task) = start(&server, "role: pod", |d| d);
    assert_eq!(snapshot(&mut rx).await.len(), 1000);

    server.upsert(&pod("default", "p0500", "10.1.2.0", &[("changed", "yes")]));
    let groups = update(&mut rx).await;
    assert_eq!(sources(&groups), ["pod/default/p0500"]);
    assert_eq!(
        groups[0].labels.get("__meta_kubernetes_pod_label_changed"),
        Some("yes")
    );
    quiet(&mut rx, Duration::from_millis(300)).await;
    assert_all_granted(&server.requests());
    task.abort();
}

#[tokio::test]
async fn selectors_reach_the_api() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("default", "web", "10.0.0.1", &[("app", "web")]));
    server.upsert(&pod("default", "db", "10.0.0.2", &[("app", "db")]));
    server.upsert(&Node {
        metadata: meta(None, "node-1", &[("pool", "big")]),
        ..Node::default()
    });
    let (mut rx, task) = start(
        &server,
        r#"
role: pod
attach_metadata: {node: true}
selectors:
- {role: pod, label: "app=web", field: "spec.nodeName=node-1"}
- {role: node, label: "pool=big"}
"#,
        |d| d,
    );
    let groups = snapshot(&mut rx).await;
    assert_eq!(sources(&groups), ["pod/default/web"]);
    assert_eq!(
        groups[0].labels.get("__meta_kubernetes_node_label_pool"),
        Some("big")
    );
    let requests = server.requests();
    let pods: Vec<&ApiRequest> = requests.iter().filter(|r| r.resource == "pods").collect();
    let nodes: Vec<&ApiRequest> = requests.iter().filter(|r| r.resource == "nodes").collect();
    assert!(pods.iter().any(|r| r.verb == "list") && nodes.iter().any(|r| r.verb == "list"));
    for r in &pods {
        assert_eq!(
            r.query_param("labelSelector").as_deref(),
            Some("app=web"),
            "{r:?}"
        );
        assert_eq!(
            r.query_param("fieldSelector").as_deref(),
            Some("spec.nodeName=node-1")
        );
        assert_eq!(r.namespace, None, "all namespaces");
    }
    for r in &nodes {
        assert_eq!(r.query_param("labelSelector").as_deref(), Some("pool=big"));
    }
    assert_all_granted(&requests);

    // Node metadata follows the node: only the pods on it are rebuilt.
    server.upsert(&Node {
        metadata: meta(None, "node-1", &[("pool", "big"), ("zone", "a")]),
        ..Node::default()
    });
    let groups = update(&mut rx).await;
    assert_eq!(sources(&groups), ["pod/default/web"]);
    assert_eq!(
        groups[0].labels.get("__meta_kubernetes_node_label_zone"),
        Some("a")
    );
    task.abort();
}

#[tokio::test]
async fn endpoints_follow_their_pods_and_service() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("default", "a-0", "10.0.0.1", &[("v", "1")]));
    server.upsert(&pod("default", "b-0", "10.0.0.2", &[("v", "1")]));
    server.upsert(&endpoints("default", "a", &[("a-0", "10.0.0.1")]));
    server.upsert(&endpoints("default", "b", &[("b-0", "10.0.0.2")]));
    server.upsert(&Service {
        metadata: meta(Some("default"), "a", &[("team", "x")]),
        ..Service::default()
    });
    let (mut rx, task) = start(&server, "role: endpoints", |d| d);
    let groups = snapshot(&mut rx).await;
    assert_eq!(
        sources(&groups),
        ["endpoints/default/a", "endpoints/default/b"]
    );
    assert_eq!(
        groups[0].labels.get("__meta_kubernetes_service_label_team"),
        Some("x")
    );
    assert_eq!(
        groups[1].targets[0].get("__meta_kubernetes_pod_label_v"),
        Some("1")
    );

    // A pod change rebuilds the endpoints that point at it, and only those.
    server.upsert(&pod("default", "b-0", "10.0.0.2", &[("v", "2")]));
    let groups = update(&mut rx).await;
    assert_eq!(sources(&groups), ["endpoints/default/b"]);
    assert_eq!(
        groups[0].targets[0].get("__meta_kubernetes_pod_label_v"),
        Some("2")
    );

    // So does a service change, for the endpoints of the same name.
    server.upsert(&Service {
        metadata: meta(Some("default"), "a", &[("team", "y")]),
        ..Service::default()
    });
    let groups = update(&mut rx).await;
    assert_eq!(sources(&groups), ["endpoints/default/a"]);
    assert_eq!(
        groups[0].labels.get("__meta_kubernetes_service_label_team"),
        Some("y")
    );

    // A pod no endpoints refer to changes nothing.
    server.upsert(&pod("default", "lonely", "10.0.0.9", &[]));
    quiet(&mut rx, Duration::from_millis(300)).await;
    assert_all_granted(&server.requests());
    task.abort();
}

#[tokio::test]
async fn relist_after_410_reconciles_the_gap() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("default", "keep", "10.0.0.1", &[]));
    server.upsert(&pod("default", "gone", "10.0.0.2", &[]));
    let (mut rx, task) = start(&server, "role: pod\nnamespaces: {names: [default]}", |d| d);
    assert_eq!(
        sources(&snapshot(&mut rx).await),
        ["pod/default/gone", "pod/default/keep"]
    );
    watches_open(&server, 1).await;
    let before = server.requests().len();

    // Expiry makes the open watch's resourceVersion too old to resume, and
    // the next request fails, so the changes below happen while no watch is
    // open and reach discovery only through the next successful list.
    server.upsert(&pod("elsewhere", "bump", "10.9.9.9", &[]));
    server.inject(Fault {
        method: http::Method::GET,
        path_contains: "/namespaces/default/pods".into(),
        status: 500,
        times: 1,
    });
    server.expire_watches();
    assert!(server.remove::<Pod>(Some("default"), "gone"));
    server.upsert(&pod("default", "new", "10.0.0.3", &[]));

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    while seen.len() < 2 {
        for group in update(&mut rx).await {
            seen.insert(group.source.clone(), group.targets.len());
        }
    }
    assert_eq!(seen.get("pod/default/gone"), Some(&0), "{seen:?}");
    assert_eq!(seen.get("pod/default/new"), Some(&1), "{seen:?}");
    assert!(
        !seen.contains_key("pod/default/keep"),
        "unchanged pod resent"
    );
    quiet(&mut rx, Duration::from_millis(300)).await;

    let after = &server.requests()[before..];
    assert!(
        after.iter().filter(|r| r.verb == "list").count() >= 2,
        "failed list then re-list: {after:?}"
    );
    assert_all_granted(&server.requests());
    task.abort();
}

#[tokio::test]
async fn bookmarks_move_the_watch_forward_without_sending_groups() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("default", "a", "10.0.0.1", &[]));
    let (mut rx, task) = start(&server, "role: pod\nnamespaces: {names: [default]}", |d| {
        d.with_watch_timeout(1)
    });
    snapshot(&mut rx).await;
    watches_open(&server, 1).await;

    // A change elsewhere moves the global resourceVersion past anything the
    // default-namespace watch saw; only a bookmark tells it so.
    let bookmarked = server.upsert(&pod("other", "x", "10.9.9.9", &[]));
    server.clear_requests();
    server.bookmark();
    quiet(&mut rx, Duration::from_millis(1500)).await;

    let requests = server.requests();
    let watch = requests
        .iter()
        .find(|r| r.verb == "watch")
        .expect("the watch resumed after its timeout");
    assert_eq!(
        watch.query_param("resourceVersion").as_deref(),
        Some(bookmarked.as_str()),
        "resumes from the bookmark"
    );
    assert_eq!(
        watch.query_param("allowWatchBookmarks").as_deref(),
        Some("true")
    );
    assert!(
        requests.iter().all(|r| r.verb != "list"),
        "no re-list: {requests:?}"
    );

    server.upsert(&pod("default", "b", "10.0.0.2", &[]));
    assert_eq!(sources(&update(&mut rx).await), ["pod/default/b"]);
    assert_all_granted(&server.requests());
    task.abort();
}

#[tokio::test]
async fn refresh_through_api_server_url() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&Service {
        metadata: meta(Some("default"), "web", &[]),
        spec: Some(k8s_openapi::api::core::v1::ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: Some("10.96.0.10".into()),
            ports: Some(vec![k8s_openapi::api::core::v1::ServicePort {
                name: Some("http".into()),
                port: 80,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Service::default()
    });
    // No injected client: built from api_server like a user's config.
    let discoverer = KubernetesDiscoverer::new(
        "kubernetes_sd_configs[0]".into(),
        sd_config(&format!("role: service\napi_server: {}", server.url())),
    );
    let groups = discoverer.refresh().await.expect("discovered");
    assert_eq!(sources(&groups), ["svc/default/web"]);
    assert_eq!(
        groups[0].targets[0].get("__address__"),
        Some("web.default.svc:80")
    );
    assert_all_granted(&server.requests());

    // A server that refuses answers with an error naming the provider.
    server.inject(Fault {
        method: http::Method::GET,
        path_contains: "/services".into(),
        status: 500,
        times: 1,
    });
    let err = discoverer.refresh().await.expect_err("500");
    assert_eq!(err.provider, "kubernetes_sd_configs[0]");
}

#[tokio::test]
async fn namespace_metadata_follows_the_namespace() {
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::networking::v1::{Ingress, IngressRule, IngressSpec};
    let ingress = |namespace: &str| Ingress {
        metadata: meta(Some(namespace), "site", &[]),
        spec: Some(IngressSpec {
            rules: Some(vec![IngressRule {
                host: Some(format!("{namespace}.example.com")),
                http: None,
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    };
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&Namespace {
        metadata: meta(None, "shop", &[("team", "a")]),
        ..Namespace::default()
    });
    server.upsert(&ingress("shop"));
    server.upsert(&ingress("blog"));
    let (mut rx, task) = start(
        &server,
        "role: ingress\nattach_metadata: {namespace: true}",
        |d| d,
    );
    let groups = snapshot(&mut rx).await;
    assert_eq!(sources(&groups), ["ingress/blog/site", "ingress/shop/site"]);
    assert_eq!(
        groups[1]
            .labels
            .get("__meta_kubernetes_namespace_label_team"),
        Some("a")
    );
    assert_eq!(
        groups[1].targets[0].get("__address__"),
        Some("shop.example.com")
    );

    server.upsert(&Namespace {
        metadata: meta(None, "shop", &[("team", "b")]),
        ..Namespace::default()
    });
    let groups = update(&mut rx).await;
    assert_eq!(sources(&groups), ["ingress/shop/site"]);
    assert_eq!(
        groups[0]
            .labels
            .get("__meta_kubernetes_namespace_label_team"),
        Some("b")
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.resource == "namespaces" && r.verb == "watch")
    );
    assert_all_granted(&requests);
    task.abort();
}
