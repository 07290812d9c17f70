//! A coordinator replica with leader election (Lease on the in-process API
//! server, static shard backend): it runs no cycle while another replica
//! holds the Lease, serves its API meanwhile, and cycles as soon as the
//! Lease is handed back; on release it hands the Lease back itself.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use promshard::coordinator::backend::StaticBackend;
use promshard::coordinator::reconcile::CoordinatorSettings;
use promshard::coordinator::run::{ConfigSources, Leadership, start_with_leadership};
use promshard_config::Config;
use promshard_fake_kube::FakeApiServer;
use promshard_k8s::lease::{KubeLeaseApi, LeaderElector, LeaseSettings};
use tokio::net::TcpListener;

const LEASE: &str = "promshard-coordinator";

fn lease(holder: Option<&str>, duration_seconds: i32) -> Lease {
    let now = MicroTime(Timestamp::now());
    Lease {
        metadata: ObjectMeta {
            name: Some(LEASE.into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: Some(duration_seconds),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }),
    }
}

/// The value of an unlabelled sample in the coordinator's `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let got = support::get(addr, "/metrics", &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    let body = got.body.unwrap();
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn a_standby_does_not_cycle_until_the_lease_is_handed_back() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(
        &config_file,
        "global: {scrape_interval: 15s}\nscrape_configs:\n  - job_name: app\n    static_configs: [{targets: [\"127.0.0.1:9\"]}]\n",
    )
    .unwrap();
    // One shard whose sidecar does not answer: cycles still complete.
    let backend = StaticBackend::from_yaml("shards:\n  - sidecar: http://127.0.0.1:9\n").unwrap();

    let api_server = FakeApiServer::start().await.unwrap();
    // Another replica leads, with a lease far longer than the test.
    api_server.upsert(&lease(Some("other-replica"), 600));
    let election = LeaderElector::spawn(
        KubeLeaseApi::new(api_server.client(), "default"),
        LeaseSettings::new(LEASE, "this-replica", Duration::from_secs(600))
            .with_retry_interval(Duration::from_millis(100)),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = start_with_leadership(
        Arc::new(backend),
        CoordinatorSettings::default(),
        Config::load(&config_file).unwrap(),
        ConfigSources {
            file: Some(config_file.clone()),
            operator: None,
        },
        Duration::from_millis(100),
        listener,
        Leadership::elected(&election),
    )
    .unwrap();
    let addr = running.api_addr;

    // Ten cycle intervals as a standby: no cycle, but the API answers.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!election.is_leader());
    assert_eq!(
        metric(addr, "promshard_coordinator_leader").await,
        Some(0.0)
    );
    assert_eq!(metric(addr, "promshard_cycles_total").await, Some(0.0));
    assert_eq!(running.coordinator.report().at, 0);
    let healthy = support::get(addr, "/-/healthy", &[]).await;
    assert_eq!(healthy.status, StatusCode::OK);

    // The other replica hands the Lease back: this one leads and cycles.
    api_server.upsert(&lease(None, 1));
    let cycles = support::eventually(Duration::from_secs(20), || async {
        let cycles = metric(addr, "promshard_cycles_total").await?;
        (cycles >= 1.0).then_some(cycles)
    })
    .await;
    assert!(cycles.is_some(), "the new leader never ran a cycle");
    assert!(election.is_leader());
    assert_eq!(
        metric(addr, "promshard_coordinator_leader").await,
        Some(1.0)
    );
    assert!(running.coordinator.report().at > 0);
    let spec = api_server
        .object::<Lease>(Some("default"), LEASE)
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("this-replica"));
    assert_eq!(spec.lease_transitions, Some(1));

    running.stop().await;
    election.release().await;
    let spec = api_server
        .object::<Lease>(Some("default"), LEASE)
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(spec.holder_identity, None, "the lease was not handed back");
    assert!(api_server.requests().iter().all(|r| r.is_granted()));
}
