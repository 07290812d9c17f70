//! `kubernetes_sd_configs` through the `DiscoveryManager` the coordinator,
//! the standalone sidecar and `promshard check targets` use: config file in,
//! relabeled targets out, against the in-process API server.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use promshard_config::discovery::{DiscoveryEvent, DiscoveryManager, TargetIndex, discover_once};
use promshard_config::{Compat, Config};
use promshard_fake_kube::FakeApiServer;

fn pod(name: &str, ip: &str, scrape: bool) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("apps".into()),
            annotations: Some(BTreeMap::from([(
                "prometheus.io/scrape".to_owned(),
                scrape.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                ports: Some(vec![ContainerPort {
                    name: Some("metrics".into()),
                    container_port: 8080,
                    ..ContainerPort::default()
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            pod_ip: Some(ip.into()),
            ..PodStatus::default()
        }),
    }
}

fn config(url: &str) -> Config {
    Config::from_yaml_str(
        &format!(
            r#"
scrape_configs:
- job_name: pods
  kubernetes_sd_configs:
  - role: pod
    api_server: {url}
    namespaces: {{names: [apps]}}
  relabel_configs:
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
    regex: "true"
    action: keep
  - source_labels: [__meta_kubernetes_pod_name]
    target_label: pod
"#
        ),
        "prometheus.yml",
    )
    .unwrap()
}

fn manager() -> DiscoveryManager {
    let mut manager = DiscoveryManager::new();
    promshard_k8s::sd::register(&mut manager);
    manager
}

#[tokio::test]
async fn discovered_pods_become_relabeled_targets() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert(&pod("web-0", "10.0.0.1", true));
    server.upsert(&pod("batch-0", "10.0.0.2", false));
    let config = config(&server.url());
    let manager = manager();
    let job = config.job("pods").unwrap();

    // What `promshard check targets` does.
    let (groups, errors) = discover_once(&manager, job, Duration::from_secs(20)).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(groups.len(), 2);

    // What the coordinator does: events in, targets rebuilt per group.
    let (_handle, mut events) = manager.start(&config).unwrap();
    let mut index = TargetIndex::new(Compat::Prometheus3);
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("an event within 20s")
            .expect("discovery running")
    };
    // Every pod's group arrives before discovery counts as synced: the
    // provider's first result is its complete first list.
    let mut upserts = 0;
    loop {
        match next().await {
            event @ DiscoveryEvent::Upsert { .. } => {
                index.apply(&config, event);
                upserts += 1;
            }
            DiscoveryEvent::Synced => break,
            DiscoveryEvent::Error { message, .. } => panic!("{message}"),
            DiscoveryEvent::Remove { .. } => panic!("nothing was removed"),
        }
    }
    assert_eq!(upserts, 2);
    let urls: Vec<String> = index.targets().map(|t| t.url.clone()).collect();
    assert_eq!(urls, ["http://10.0.0.1:8080/metrics"]);
    let target = index.targets().next().unwrap();
    assert!(target.public_labels().any(|l| l == ("pod", "web-0")));

    // One pod starts being scraped: one group changes.
    server.upsert(&pod("batch-0", "10.0.0.2", true));
    let event = next().await;
    match &event {
        DiscoveryEvent::Upsert { key, .. } => {
            assert_eq!(key.provider.as_ref(), "kubernetes_sd_configs[0]");
            assert_eq!(key.source, "pod/apps/batch-0");
        }
        other => panic!("{other:?}"),
    }
    assert!(index.apply(&config, event));
    assert_eq!(index.targets().count(), 2);
}

#[test]
fn invalid_entries_fail_with_the_field() {
    let config = Config::from_yaml_str(
        "scrape_configs:\n- job_name: x\n  kubernetes_sd_configs:\n  - role: pod\n    selectors: [{role: service}]\n",
        "prometheus.yml",
    )
    .unwrap();
    let err = manager()
        .providers(config.job("x").unwrap())
        .expect_err("service selectors on a pod role");
    assert_eq!(err.provider, "kubernetes_sd_configs");
    assert!(
        err.message.contains(
            "kubernetes_sd_configs[0].selectors[0].role: pod role supports only pod, node selectors"
        ),
        "{}",
        err.message
    );
}
