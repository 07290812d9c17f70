//! Leader election against the in-process API server: acquisition, renewal,
//! hand-back, takeover after a crash, conflicts, failing renewals, and the
//! exact Lease calls made (all granted by the coordinator's RBAC rules).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use promshard_fake_kube::{ApiRequest, FakeApiServer, Fault};
use promshard_k8s::lease::{
    KubeLeaseApi, LeaderElector, LeaderHandle, LeaseApi, LeaseError, LeaseSettings,
};
use serde_json::Value;
use tokio::time::{Instant, sleep, timeout};

const LEASE: &str = "promshard-coordinator";
const STEP: Duration = Duration::from_secs(10);

fn settings(identity: &str, lease_duration: Duration) -> LeaseSettings {
    LeaseSettings::new(LEASE, identity, lease_duration)
        .with_renew_interval(Duration::from_millis(200))
        .with_retry_interval(Duration::from_millis(100))
}

fn elector(server: &FakeApiServer, identity: &str, lease_duration: Duration) -> LeaderHandle {
    LeaderElector::spawn(
        KubeLeaseApi::new(server.client(), "default"),
        settings(identity, lease_duration),
    )
}

async fn wait_leading(handle: &LeaderHandle, leading: bool) {
    let mut watch = handle.watch();
    timeout(STEP, watch.wait_for(|now| *now == leading))
        .await
        .unwrap_or_else(|_| panic!("{} never became leading={leading}", handle.identity()))
        .unwrap();
}

async fn wait_requests(server: &FakeApiServer, count: usize) -> Vec<ApiRequest> {
    let deadline = Instant::now() + STEP;
    loop {
        let requests = server.requests();
        if requests.len() >= count {
            return requests;
        }
        assert!(
            Instant::now() < deadline,
            "only {} requests",
            requests.len()
        );
        sleep(Duration::from_millis(20)).await;
    }
}

fn stored(server: &FakeApiServer) -> LeaseSpec {
    server
        .object::<Lease>(Some("default"), LEASE)
        .unwrap()
        .spec
        .unwrap()
}

fn verbs(requests: &[ApiRequest]) -> Vec<&str> {
    requests.iter().map(|r| r.verb.as_str()).collect()
}

fn spec_field<'a>(request: &'a ApiRequest, field: &str) -> Option<&'a Value> {
    request
        .body
        .as_ref()
        .and_then(|b| b.get("spec"))
        .and_then(|s| s.get(field))
}

fn assert_lease_calls_granted(requests: &[ApiRequest]) {
    for request in requests {
        assert_eq!(request.api_group, "coordination.k8s.io", "{request:?}");
        assert_eq!(request.resource, "leases", "{request:?}");
        assert_eq!(request.namespace.as_deref(), Some("default"), "{request:?}");
        assert!(request.is_granted(), "not granted by RBAC: {request:?}");
    }
}

#[tokio::test]
async fn first_acquire_gets_then_creates_then_renews_with_put_and_hands_back() {
    let server = FakeApiServer::start().await.unwrap();
    let a = elector(&server, "a", Duration::from_secs(2));
    wait_leading(&a, true).await;
    let requests = wait_requests(&server, 4).await;
    a.release().await;
    let requests_after = server.requests();

    assert_eq!(verbs(&requests[..4]), ["get", "create", "update", "update"]);
    assert_eq!(requests[0].method, Method::GET);
    assert_eq!(
        requests[0].path,
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/promshard-coordinator"
    );
    assert_eq!(requests[1].method, Method::POST);
    assert_eq!(requests[2].method, Method::PUT);
    let created = &requests[1];
    assert_eq!(spec_field(created, "holderIdentity").unwrap(), "a");
    assert_eq!(spec_field(created, "leaseDurationSeconds").unwrap(), 2);
    assert_eq!(spec_field(created, "leaseTransitions").unwrap(), 0);
    let acquired = spec_field(created, "acquireTime").unwrap();
    let mut renew_times = vec![spec_field(created, "renewTime").unwrap().clone()];
    for renewal in &requests[2..4] {
        assert_eq!(spec_field(renewal, "holderIdentity").unwrap(), "a");
        assert_eq!(spec_field(renewal, "acquireTime").unwrap(), acquired);
        assert_eq!(spec_field(renewal, "leaseTransitions").unwrap(), 0);
        renew_times.push(spec_field(renewal, "renewTime").unwrap().clone());
        // Renewals are conditional on the version last written.
        assert!(
            renewal.body.as_ref().unwrap()["metadata"]["resourceVersion"].is_string(),
            "{renewal:?}"
        );
    }
    renew_times.dedup();
    assert_eq!(renew_times.len(), 3, "renewTime moves on each renewal");

    // While leading, only renewals; on release one more PUT without a holder.
    let (last, before) = requests_after.split_last().unwrap();
    assert!(verbs(&before[2..]).iter().all(|verb| *verb == "update"));
    assert_eq!(last.verb, "update");
    assert_eq!(spec_field(last, "holderIdentity"), None);
    assert_eq!(spec_field(last, "leaseDurationSeconds").unwrap(), 1);
    let spec = stored(&server);
    assert_eq!(spec.holder_identity, None);
    assert_eq!(spec.lease_duration_seconds, Some(1));
    assert_lease_calls_granted(&requests_after);
}

#[tokio::test]
async fn two_electors_one_leads_and_release_hands_over_at_once() {
    let server = FakeApiServer::start().await.unwrap();
    // Long enough that a takeover by expiry could not pass for a hand-over.
    let lease_duration = Duration::from_secs(4);
    let a = elector(&server, "a", lease_duration);
    wait_leading(&a, true).await;
    let b = elector(&server, "b", lease_duration);
    for _ in 0..10 {
        sleep(Duration::from_millis(100)).await;
        assert!(a.is_leader() && !b.is_leader());
    }
    assert_eq!(stored(&server).holder_identity.as_deref(), Some("a"));

    let released = Instant::now();
    a.release().await;
    wait_leading(&b, true).await;
    assert!(
        released.elapsed() < lease_duration,
        "took {:?}: the standby waited for expiry instead of taking the handed-back lease",
        released.elapsed()
    );
    let spec = stored(&server);
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
    assert_eq!(spec.lease_duration_seconds, Some(4));
    b.release().await;
    assert_lease_calls_granted(&server.requests());
}

#[tokio::test]
async fn a_killed_leader_is_replaced_once_its_lease_expires() {
    let server = FakeApiServer::start().await.unwrap();
    let lease_duration = Duration::from_secs(2);
    let a = elector(&server, "a", lease_duration);
    wait_leading(&a, true).await;
    let b = elector(&server, "b", lease_duration);
    sleep(Duration::from_millis(300)).await;
    assert!(!b.is_leader());

    // Dropping the handle stops renewing without handing the lease back.
    drop(a);
    // Let a renewal already on the wire land before reading a's last word.
    sleep(Duration::from_millis(50)).await;
    let last_renewal = stored(&server).renew_time.unwrap().0;
    assert_eq!(stored(&server).holder_identity.as_deref(), Some("a"));
    wait_leading(&b, true).await;
    // b saw that renewal no earlier than it was written and waited the full
    // duration on its own clock before taking over.
    let acquired = stored(&server).acquire_time.unwrap().0;
    let waited = acquired.duration_since(last_renewal);
    assert!(
        waited >= k8s_openapi::jiff::SignedDuration::try_from(lease_duration).unwrap(),
        "b took over {waited:?} after a's last renewal, before the lease expired"
    );
    let spec = stored(&server);
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
    b.release().await;
    assert_lease_calls_granted(&server.requests());
}

#[tokio::test]
async fn a_renewal_conflict_rereads_and_keeps_leading() {
    let server = FakeApiServer::start().await.unwrap();
    let a = elector(&server, "a", Duration::from_secs(2));
    wait_leading(&a, true).await;
    wait_requests(&server, 3).await;
    let watch = a.watch();
    server.clear_requests();
    server.inject(Fault {
        method: Method::PUT,
        path_contains: format!("/leases/{LEASE}"),
        status: 409,
        times: 1,
    });
    let requests = wait_requests(&server, 4).await;
    // The renewal without a read conflicted: read, then write on the fresh
    // version. (A renewal in flight while the fault was set may come first.)
    let calls = verbs(&requests);
    let first_get = calls.iter().position(|verb| *verb == "get").unwrap();
    assert!(first_get <= 2, "{calls:?}");
    assert!(
        calls[..first_get].iter().all(|verb| *verb == "update"),
        "{calls:?}"
    );
    assert_eq!(calls[first_get + 1], "update", "{calls:?}");
    assert_eq!(
        calls.iter().filter(|verb| **verb == "get").count(),
        1,
        "{calls:?}"
    );
    assert!(a.is_leader());
    assert!(!watch.has_changed().unwrap(), "leadership flickered");
    a.release().await;
    assert_lease_calls_granted(&server.requests());
}

/// A [`LeaseApi`] through which a rival replica wins every race once: it
/// writes the Lease just before our create or replace reaches the server.
struct RivalWinsOnce {
    inner: KubeLeaseApi,
    server: Arc<FakeApiServer>,
    outcomes: Arc<Mutex<Vec<String>>>,
    raced: Mutex<bool>,
}

impl RivalWinsOnce {
    fn race(&self) {
        let mut raced = self.raced.lock().unwrap();
        if !*raced {
            *raced = true;
            let now = MicroTime(Timestamp::now());
            let previous = self.server.object::<Lease>(Some("default"), LEASE);
            self.server.upsert(&Lease {
                metadata: ObjectMeta {
                    name: Some(LEASE.into()),
                    namespace: Some("default".into()),
                    ..previous.map(|l| l.metadata).unwrap_or_default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some("rival".into()),
                    lease_duration_seconds: Some(2),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            });
        }
    }

    fn note<T>(&self, call: &str, result: &Result<T, LeaseError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(LeaseError::Conflict { .. }) => "conflict",
            Err(_) => "error",
        };
        self.outcomes
            .lock()
            .unwrap()
            .push(format!("{call}:{outcome}"));
    }
}

impl LeaseApi for RivalWinsOnce {
    async fn get(&self, name: &str) -> Result<Option<Lease>, LeaseError> {
        self.inner.get(name).await
    }

    async fn create(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        self.race();
        let result = self.inner.create(lease).await;
        self.note("create", &result);
        result
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        self.race();
        let result = self.inner.replace(lease).await;
        self.note("replace", &result);
        result
    }
}

async fn lose_a_race_then_take_over(server: Arc<FakeApiServer>, first_write: &str) {
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let api = RivalWinsOnce {
        inner: KubeLeaseApi::new(server.client(), "default"),
        server: Arc::clone(&server),
        outcomes: Arc::clone(&outcomes),
        raced: Mutex::new(false),
    };
    let b = LeaderElector::spawn(api, settings("b", Duration::from_secs(2)));
    let started = Instant::now();
    // The rival never renews; b may take over only after seeing its record
    // unchanged for the rival's 2 s.
    sleep(Duration::from_millis(1000)).await;
    assert!(!b.is_leader());
    assert_eq!(stored(&server).holder_identity.as_deref(), Some("rival"));
    wait_leading(&b, true).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(
        outcomes,
        [format!("{first_write}:conflict"), "replace:ok".to_owned()]
    );
    let spec = stored(&server);
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
    b.release().await;
    assert_lease_calls_granted(&server.requests());
}

#[tokio::test]
async fn losing_the_create_race_means_standing_by() {
    let server = Arc::new(FakeApiServer::start().await.unwrap());
    lose_a_race_then_take_over(Arc::clone(&server), "create").await;
    let requests = server.requests();
    assert_eq!(verbs(&requests[..3]), ["get", "create", "get"]);
}

#[tokio::test]
async fn losing_the_takeover_race_means_standing_by() {
    let server = Arc::new(FakeApiServer::start().await.unwrap());
    // A lease handed back by a previous leader: free to take.
    server.upsert(&Lease {
        metadata: ObjectMeta {
            name: Some(LEASE.into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            lease_duration_seconds: Some(1),
            lease_transitions: Some(3),
            ..LeaseSpec::default()
        }),
    });
    lose_a_race_then_take_over(Arc::clone(&server), "replace").await;
    let requests = server.requests();
    assert_eq!(verbs(&requests[..3]), ["get", "update", "get"]);
}

#[tokio::test]
async fn failing_renewals_step_down_before_the_lease_expires_and_recover() {
    let server = FakeApiServer::start().await.unwrap();
    let lease_duration = Duration::from_secs(2);
    let a = elector(&server, "a", lease_duration);
    wait_leading(&a, true).await;
    wait_requests(&server, 3).await;
    let failing_since = Instant::now();
    for method in [Method::PUT, Method::GET] {
        server.inject(Fault {
            method,
            path_contains: "/leases/".into(),
            status: 500,
            times: 10_000,
        });
    }
    // One failed renewal is not enough to give up.
    sleep(Duration::from_millis(400)).await;
    assert!(a.is_leader());
    wait_leading(&a, false).await;
    assert!(
        failing_since.elapsed() < lease_duration,
        "still leading {:?} after renewals began to fail: a standby could lead too",
        failing_since.elapsed()
    );
    // The record still names a; once the API answers again a renews it.
    server.clear_faults();
    wait_leading(&a, true).await;
    assert_eq!(stored(&server).lease_transitions, Some(0));
    a.release().await;
    assert_lease_calls_granted(&server.requests());
}

#[tokio::test]
async fn a_standby_release_writes_nothing() {
    let server = FakeApiServer::start().await.unwrap();
    let a = elector(&server, "a", Duration::from_secs(2));
    wait_leading(&a, true).await;
    let b = elector(&server, "b", Duration::from_secs(2));
    sleep(Duration::from_millis(300)).await;
    b.release().await;
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.verb == "get" || spec_field(r, "holderIdentity").is_some_and(|h| h == "a")),
        "the standby wrote: {requests:?}"
    );
    assert_eq!(stored(&server).holder_identity.as_deref(), Some("a"));
    assert!(a.is_leader());
    a.release().await;
}
