//! The in-process API server driven through an unmodified `kube::Client`:
//! what the server answers and exactly which calls it records.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{Stream, StreamExt, TryStreamExt};
use http::Method;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetStatus};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{
    Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::runtime::watcher;
use promshard_fake_kube::{ApiRequest, FakeApiServer, Fault};
use serde_json::json;

const STEP: Duration = Duration::from_secs(10);

fn pod(namespace: &str, name: &str, labels: &[(&str, &str)], node: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn names<K: kube::Resource>(items: &[K]) -> Vec<String> {
    items
        .iter()
        .map(|item| item.meta().name.clone().unwrap_or_default())
        .collect()
}

/// (verb, group, resource, namespace) of each request.
fn calls(requests: &[ApiRequest]) -> Vec<(String, String, String, Option<String>)> {
    requests
        .iter()
        .map(|r| {
            (
                r.verb.clone(),
                r.api_group.clone(),
                r.resource.clone(),
                r.namespace.clone(),
            )
        })
        .collect()
}

fn call(
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> (String, String, String, Option<String>) {
    (
        verb.to_owned(),
        group.to_owned(),
        resource.to_owned(),
        namespace.map(str::to_owned),
    )
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(STEP, stream.next())
        .await
        .expect("no event within the step timeout")
        .expect("stream ended")
}

fn event_name(event: &WatchEvent<Pod>) -> (String, String) {
    match event {
        WatchEvent::Added(p) => ("ADDED".into(), p.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(p) => (
            "MODIFIED".into(),
            p.metadata.name.clone().unwrap_or_default(),
        ),
        WatchEvent::Deleted(p) => (
            "DELETED".into(),
            p.metadata.name.clone().unwrap_or_default(),
        ),
        WatchEvent::Bookmark(b) => ("BOOKMARK".into(), b.metadata.resource_version.clone()),
        WatchEvent::Error(e) => ("ERROR".into(), e.code.to_string()),
    }
}

#[tokio::test]
async fn list_with_label_and_field_selectors() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod(
        "a",
        "web-0",
        &[("app", "web"), ("tier", "front")],
        "n1",
    ));
    server.upsert(&pod("a", "web-1", &[("app", "web")], "n2"));
    server.upsert(&pod("a", "db-0", &[("app", "db")], "n1"));
    server.upsert(&pod("b", "web-9", &[("app", "web")], "n1"));

    let in_a: Api<Pod> = Api::namespaced(server.client(), "a");
    let all: Api<Pod> = Api::all(server.client());
    let cases: Vec<(&Api<Pod>, ListParams, Vec<&str>)> = vec![
        (&in_a, ListParams::default(), vec!["db-0", "web-0", "web-1"]),
        (
            &in_a,
            ListParams::default().labels("app=web"),
            vec!["web-0", "web-1"],
        ),
        (
            &in_a,
            ListParams::default().labels("app!=web"),
            vec!["db-0"],
        ),
        (
            &in_a,
            ListParams::default().labels("app in (db,cache)"),
            vec!["db-0"],
        ),
        (
            &in_a,
            ListParams::default().labels("app notin (db),!tier"),
            vec!["web-1"],
        ),
        (&in_a, ListParams::default().labels("tier"), vec!["web-0"]),
        (
            &in_a,
            ListParams::default().fields("spec.nodeName=n1"),
            vec!["db-0", "web-0"],
        ),
        (
            &in_a,
            ListParams::default()
                .fields("metadata.name!=web-0")
                .labels("app==web"),
            vec!["web-1"],
        ),
        (
            &all,
            ListParams::default().labels("app=web"),
            vec!["web-0", "web-1", "web-9"],
        ),
        (
            &all,
            ListParams::default().fields("metadata.namespace=b"),
            vec!["web-9"],
        ),
    ];
    for (api, params, want) in &cases {
        let list = api.list(params).await.unwrap();
        assert_eq!(names(&list.items), *want, "{params:?}");
        assert_eq!(list.metadata.resource_version.as_deref(), Some("4"));
    }
    let requests = server.requests();
    assert_eq!(requests.len(), cases.len());
    assert_eq!(requests[0].path, "/api/v1/namespaces/a/pods");
    assert_eq!(
        calls(&requests[..1]),
        vec![call("list", "", "pods", Some("a"))]
    );
    assert_eq!(requests[8].path, "/api/v1/pods");
    assert_eq!(calls(&requests[8..9]), vec![call("list", "", "pods", None)]);
    assert_eq!(
        requests[1].query_param("labelSelector").as_deref(),
        Some("app=web")
    );

    let bad = in_a
        .list(&ListParams::default().labels("app in (x"))
        .await
        .unwrap_err();
    match bad {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let server = FakeApiServer::start().await.unwrap();
    for i in 0..5 {
        server.upsert(&pod("a", &format!("p{i}"), &[], "n"));
    }
    let api: Api<Pod> = Api::namespaced(server.client(), "a");
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(names(&first.items), ["p0", "p1"]);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().unwrap();
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second.items), ["p2", "p3"]);
    let token = second.metadata.continue_.clone().unwrap();
    let last = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&last.items), ["p4"]);
    assert_eq!(last.metadata.continue_, None);
}

#[tokio::test]
async fn watch_sends_added_modified_deleted_and_selector_transitions() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("a", "old", &[("app", "web")], "n1"));
    let api: Api<Pod> = Api::namespaced(server.client(), "a");
    let list = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut events = api
        .watch(&WatchParams::default().labels("app=web"), &rv)
        .await
        .unwrap()
        .boxed();

    server.upsert(&pod("a", "new", &[("app", "web")], "n1"));
    server.upsert(&pod("b", "other-namespace", &[("app", "web")], "n1"));
    server.upsert(&pod("a", "not-selected", &[("app", "db")], "n1"));
    server.upsert(&pod("a", "new", &[("app", "web")], "n2"));
    server.upsert(&pod("a", "old", &[("app", "db")], "n1"));
    server.upsert(&pod("a", "not-selected", &[("app", "web")], "n1"));
    assert!(server.remove::<Pod>(Some("a"), "new"));
    assert!(!server.remove::<Pod>(Some("a"), "new"));

    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(event_name(&next(&mut events).await.unwrap()));
    }
    let want = [
        ("ADDED", "new"),
        ("MODIFIED", "new"),
        ("DELETED", "old"),
        ("ADDED", "not-selected"),
        ("DELETED", "new"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).into(), (*b).into()))
        .collect();
    assert_eq!(seen, want);

    let request = server.requests().last().cloned().unwrap();
    assert_eq!(
        calls(std::slice::from_ref(&request)),
        vec![call("watch", "", "pods", Some("a"))]
    );
    assert_eq!(request.query_param("resourceVersion"), Some(rv));
    assert_eq!(
        request.query_param("allowWatchBookmarks").as_deref(),
        Some("true")
    );
}

#[tokio::test]
async fn watch_without_resource_version_starts_with_current_state_and_honours_timeout() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("a", "p0", &[], "n1"));
    let api: Api<Pod> = Api::namespaced(server.client(), "a");
    let mut events = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        event_name(&next(&mut events).await.unwrap()),
        ("ADDED".into(), "p0".into())
    );
    // timeoutSeconds=1 ends the stream without further events.
    let end = tokio::time::timeout(STEP, events.next()).await.unwrap();
    assert!(end.is_none(), "{end:?}");
}

#[tokio::test]
async fn bookmarks_reach_watches_that_asked_for_them() {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<Pod> = Api::namespaced(server.client(), "a");
    let rv = server.upsert(&pod("a", "p0", &[], "n1"));
    let mut with = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let mut without = api
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap()
        .boxed();
    // Both watches are registered once their responses arrived; a change to
    // another type moves the resourceVersion the bookmark carries.
    server.upsert(&Node {
        metadata: ObjectMeta {
            name: Some("n1".into()),
            ..ObjectMeta::default()
        },
        ..Node::default()
    });
    server.bookmark();
    match next(&mut with).await.unwrap() {
        WatchEvent::Bookmark(bookmark) => {
            assert_eq!(bookmark.metadata.resource_version, "2");
            assert_eq!(bookmark.types.kind, "Pod");
            assert_eq!(bookmark.types.api_version, "v1");
        }
        other => panic!("{other:?}"),
    }
    server.upsert(&pod("a", "p1", &[], "n1"));
    assert_eq!(
        event_name(&next(&mut without).await.unwrap()),
        ("ADDED".into(), "p1".into())
    );
}

#[tokio::test]
async fn watch_from_expired_resource_version_gets_410() {
    let server = FakeApiServer::start().await.unwrap();
    let old = server.upsert(&pod("a", "p0", &[], "n1"));
    server.upsert(&pod("a", "p1", &[], "n1"));
    server.expire_watches();
    let api: Api<Pod> = Api::namespaced(server.client(), "a");
    let mut events = api
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match next(&mut events).await.unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        tokio::time::timeout(STEP, events.next())
            .await
            .unwrap()
            .is_none()
    );
    // The current resourceVersion is still fine to watch from.
    let mut events = api
        .watch(&WatchParams::default(), &server.resource_version())
        .await
        .unwrap()
        .boxed();
    server.upsert(&pod("a", "p2", &[], "n1"));
    assert_eq!(
        event_name(&next(&mut events).await.unwrap()),
        ("ADDED".into(), "p2".into())
    );
}

#[tokio::test]
async fn runtime_watcher_relists_after_410() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("a", "p0", &[("app", "web")], "n1"));
    server.upsert(&pod("a", "p1", &[("app", "web")], "n1"));
    let api: Api<Pod> = Api::namespaced(server.client(), "a");
    let mut events = watcher(api, watcher::Config::default().labels("app=web")).boxed();

    let mut initial = Vec::new();
    loop {
        match next(&mut events).await.unwrap() {
            watcher::Event::Init => initial.push("init".to_owned()),
            watcher::Event::InitApply(p) => initial.push(p.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(initial, ["init", "p0", "p1"]);

    server.upsert(&pod("a", "p2", &[("app", "web")], "n1"));
    match next(&mut events).await.unwrap() {
        watcher::Event::Apply(p) => assert_eq!(p.metadata.name.as_deref(), Some("p2")),
        other => panic!("{other:?}"),
    }

    server.clear_requests();
    server.expire_watches();
    // A change the watch never saw: only the re-list can report it.
    server.remove::<Pod>(Some("a"), "p0");
    match next(&mut events).await {
        Err(watcher::Error::WatchError(status)) => assert_eq!(status.code, 410),
        other => panic!("{other:?}"),
    }
    let mut relisted = Vec::new();
    loop {
        match next(&mut events).await.unwrap() {
            watcher::Event::Init => relisted.push("init".to_owned()),
            watcher::Event::InitApply(p) => relisted.push(p.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(relisted, ["init", "p1", "p2"]);
    server.upsert(&pod("a", "p3", &[("app", "web")], "n1"));
    match next(&mut events).await.unwrap() {
        watcher::Event::Apply(p) => assert_eq!(p.metadata.name.as_deref(), Some("p3")),
        other => panic!("{other:?}"),
    }
    let requests = server.requests();
    assert_eq!(
        calls(&requests),
        vec![
            call("list", "", "pods", Some("a")),
            call("watch", "", "pods", Some("a")),
        ]
    );
    assert_eq!(
        requests[0].query_param("labelSelector").as_deref(),
        Some("app=web")
    );
    let list_rv = requests[1].query_param("resourceVersion").unwrap();
    assert_eq!(list_rv, "4");
}

fn statefulset(name: &str, replicas: i32, ready: i32) -> StatefulSet {
    StatefulSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("shards".into()),
            ..ObjectMeta::default()
        },
        spec: StatefulSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([("app".to_owned(), "prom".to_owned())])),
                ..LabelSelector::default()
            },
            service_name: Some(name.into()),
            ..StatefulSetSpec::default()
        },
        status: Some(StatefulSetStatus {
            replicas: ready,
            ..StatefulSetStatus::default()
        }),
    }
}

#[tokio::test]
async fn statefulset_scale_subresource_get_and_patch() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&statefulset("prom", 2, 2));
    let api: Api<StatefulSet> = Api::namespaced(server.client(), "shards");

    let scale = api.get_scale("prom").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(2));
    let status = scale.status.as_ref().unwrap();
    assert_eq!(
        (status.replicas, status.selector.as_deref()),
        (2, Some("app=prom"))
    );
    let rv = scale.metadata.resource_version.clone().unwrap();

    let patched = api
        .patch_scale(
            "prom",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(4));
    let stored: StatefulSet = server.object(Some("shards"), "prom").unwrap();
    assert_eq!(stored.spec.replicas, Some(4));
    assert_ne!(stored.metadata.resource_version, Some(rv.clone()));

    // A patch carrying the old resourceVersion conflicts.
    let stale = api
        .patch_scale(
            "prom",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": rv}, "spec": {"replicas": 1}})),
        )
        .await
        .unwrap_err();
    match stale {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"))
        }
        other => panic!("{other:?}"),
    }
    // Strategic merge patch is what `kubectl scale` style clients send.
    api.patch_scale(
        "prom",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();
    let stored: StatefulSet = server.object(Some("shards"), "prom").unwrap();
    assert_eq!(stored.spec.replicas, Some(3));

    let requests = server.requests();
    assert_eq!(
        calls(&requests),
        vec![
            call("get", "apps", "statefulsets/scale", Some("shards")),
            call("patch", "apps", "statefulsets/scale", Some("shards")),
            call("patch", "apps", "statefulsets/scale", Some("shards")),
            call("patch", "apps", "statefulsets/scale", Some("shards")),
        ]
    );
    assert_eq!(
        requests[0].path,
        "/apis/apps/v1/namespaces/shards/statefulsets/prom/scale"
    );
    assert_eq!(requests[1].body, Some(json!({"spec": {"replicas": 4}})));
    assert!(requests.iter().all(ApiRequest::is_granted));

    let missing = api.get_scale("nope").await.unwrap_err();
    match missing {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn injected_faults_fail_matching_requests_only() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&statefulset("prom", 2, 2));
    let api: Api<StatefulSet> = Api::namespaced(server.client(), "shards");
    server.inject(Fault {
        method: Method::PATCH,
        path_contains: "/statefulsets/prom/scale".into(),
        status: 409,
        times: 1,
    });
    // A GET to the same path is not affected.
    api.get_scale("prom").await.unwrap();
    let patch = Patch::Merge(json!({"spec": {"replicas": 5}}));
    match api
        .patch_scale("prom", &PatchParams::default(), &patch)
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
        }
        other => panic!("{other:?}"),
    }
    let stored: StatefulSet = server.object(Some("shards"), "prom").unwrap();
    assert_eq!(stored.spec.replicas, Some(2));
    api.patch_scale("prom", &PatchParams::default(), &patch)
        .await
        .unwrap();
    let stored: StatefulSet = server.object(Some("shards"), "prom").unwrap();
    assert_eq!(stored.spec.replicas, Some(5));
    // Injected failures are recorded like any request.
    assert_eq!(server.requests().len(), 3);

    server.inject(Fault {
        method: Method::GET,
        path_contains: "/pods".into(),
        status: 500,
        times: 2,
    });
    let pods: Api<Pod> = Api::namespaced(server.client(), "shards");
    for _ in 0..2 {
        match pods.list(&ListParams::default()).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(
                    (status.code, status.reason.as_str()),
                    (500, "InternalError")
                );
            }
            other => panic!("{other:?}"),
        }
    }
    pods.list(&ListParams::default()).await.unwrap();
}

fn lease(holder: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some("leader".into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }),
    }
}

#[tokio::test]
async fn lease_create_get_replace_with_optimistic_concurrency() {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<Lease> = Api::default_namespaced(server.client());

    match api.get("leader").await {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
        }
        other => panic!("{other:?}"),
    }
    let created = api
        .create(&PostParams::default(), &lease("a"))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());

    match api.create(&PostParams::default(), &lease("b")).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                (status.code, status.reason.as_str()),
                (409, "AlreadyExists")
            );
        }
        other => panic!("{other:?}"),
    }

    let mut current = api.get("leader").await.unwrap();
    current.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let replaced = api
        .replace("leader", &PostParams::default(), &current)
        .await
        .unwrap();
    assert_eq!(replaced.metadata.uid, created.metadata.uid);
    assert_ne!(
        replaced.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );

    // `current` still carries the resourceVersion it was read at.
    current.spec.as_mut().unwrap().holder_identity = Some("c".into());
    match api
        .replace("leader", &PostParams::default(), &current)
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
            assert!(
                status
                    .message
                    .contains("leases.coordination.k8s.io \"leader\""),
                "{}",
                status.message
            );
        }
        other => panic!("{other:?}"),
    }
    let stored: Lease = server.object(Some("default"), "leader").unwrap();
    assert_eq!(stored.spec.unwrap().holder_identity.as_deref(), Some("b"));

    let requests = server.requests();
    assert_eq!(
        calls(&requests),
        vec![
            call("get", "coordination.k8s.io", "leases", Some("default")),
            call("create", "coordination.k8s.io", "leases", Some("default")),
            call("create", "coordination.k8s.io", "leases", Some("default")),
            call("get", "coordination.k8s.io", "leases", Some("default")),
            call("update", "coordination.k8s.io", "leases", Some("default")),
            call("update", "coordination.k8s.io", "leases", Some("default")),
        ]
    );
    assert_eq!(requests[1].method, Method::POST);
    assert_eq!(requests[4].method, Method::PUT);
    assert_eq!(
        requests[1].body.as_ref().unwrap()["spec"]["holderIdentity"],
        json!("a")
    );
    assert!(requests.iter().all(ApiRequest::is_granted));
}

#[tokio::test]
async fn delete_and_delete_collection_emit_events() {
    let server = FakeApiServer::start().await.unwrap();
    for name in ["a", "b", "c"] {
        server.upsert(&pod(
            "x",
            name,
            &[("app", if name == "a" { "keep" } else { "drop" })],
            "n",
        ));
    }
    let api: Api<Pod> = Api::namespaced(server.client(), "x");
    let rv = server.resource_version();
    let mut events = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();

    api.delete("a", &DeleteParams::default()).await.unwrap();
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=drop"),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(event_name(&next(&mut events).await.unwrap()));
    }
    let names: Vec<&str> = seen.iter().map(|(_, n)| n.as_str()).collect();
    assert!(seen.iter().all(|(kind, _)| kind == "DELETED"), "{seen:?}");
    assert_eq!(names, ["a", "b", "c"]);
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    match api.delete("a", &DeleteParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404),
        other => panic!("{other:?}"),
    }
    let verbs: Vec<String> = server.requests().iter().map(|r| r.verb.clone()).collect();
    assert_eq!(
        verbs,
        ["watch", "delete", "deletecollection", "list", "delete"]
    );
}

#[tokio::test]
async fn metadata_only_lists_and_cluster_scoped_objects() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("a", "p0", &[("app", "web")], "n1"));
    server.upsert(&Node {
        metadata: ObjectMeta {
            name: Some("n1".into()),
            labels: Some(BTreeMap::from([("zone".to_owned(), "z1".to_owned())])),
            ..ObjectMeta::default()
        },
        ..Node::default()
    });
    let pods: Api<Pod> = Api::all(server.client());
    let metadata = pods.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(metadata.items.len(), 1);
    assert_eq!(metadata.items[0].metadata.name.as_deref(), Some("p0"));

    let nodes: Api<Node> = Api::all(server.client());
    let node = nodes.get("n1").await.unwrap();
    assert_eq!(node.metadata.namespace, None);
    let listed = nodes
        .list(&ListParams::default().labels("zone=z1"))
        .await
        .unwrap();
    assert_eq!(names(&listed.items), ["n1"]);
    let requests = server.requests();
    assert_eq!(
        calls(&requests[1..]),
        vec![
            call("get", "", "nodes", None),
            call("list", "", "nodes", None)
        ]
    );
}

#[tokio::test]
async fn dropping_the_server_ends_open_watches() {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<Pod> = Api::namespaced(server.client(), "a");
    let mut events = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    drop(server);
    let end = tokio::time::timeout(STEP, events.try_next()).await.unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
}
