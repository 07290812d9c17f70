//! A coordinator taking its jobs from prometheus-operator resources: the
//! in-process API server serves a ServiceMonitor (real CRD JSON), the
//! Service, Endpoints and Pods it selects (pointing at targets on their own
//! loopback addresses) and the Secret holding its basic auth; real
//! Prometheus shards with their sidecars (the local backend) scrape them.
//!
//! - Every stored series carries the labels kube-prometheus-stack users
//!   query by, as the operator's generated config gives them: `job` (the
//!   Service), `namespace`, `service`, `pod`, `container`, `endpoint`,
//!   `instance`.
//! - The Secret's credentials reach the targets through the sidecars, and
//!   appear in no API answer.
//! - A ServiceMonitor changed, an invalid one added, and one deleted show
//!   in the targets within a few cycles; the invalid one is reported with
//!   the operator's reason and disturbs nothing.
//! - Every Kubernetes call is granted by the coordinator's RBAC rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Namespace,
    ObjectReference, Pod, PodCondition, PodSpec, PodStatus, Secret, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use promshard::coordinator::backend::ShardBackend as _;
use promshard::coordinator::operator::OperatorSource;
use promshard::coordinator::reconcile::{CoordinatorSettings, CycleReport};
use promshard::coordinator::run::{ConfigSources, Leadership, start_with_leadership};
use promshard::local::backend::{LocalBackend, LocalOptions};
use promshard::prometheus::PrometheusClient;
use promshard_config::Config;
use promshard_fake_kube::{CustomResource, FakeApiServer};
use promshard_k8s::rbac::{COORDINATOR_RULES, OPERATOR_RULES, Rule};
use promshard_operator::Selection;
use promshard_operator::model::LabelSelector;
use promshard_plan::PlanSettings;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const NAMESPACE: &str = "apps";
const SERVICE_MONITORS: CustomResource = CustomResource {
    group: "monitoring.coreos.com",
    version: "v1",
    plural: "servicemonitors",
    kind: "ServiceMonitor",
    namespaced: true,
};
const PASSWORD: &str = "s3cret-from-a-secret";

fn meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(NAMESPACE.into()),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..ObjectMeta::default()
    }
}

/// A target on `ip`: answers `/metrics` with two series and records the
/// `Authorization` headers it gets.
struct Target {
    authorizations: Arc<Mutex<Vec<String>>>,
}

async fn serve_target(ip: &str, port: u16) -> Target {
    let listener = TcpListener::bind((ip, port)).await.unwrap();
    let authorizations = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&authorizations);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 2048];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                if let Some(line) = text
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                {
                    seen.lock()
                        .unwrap()
                        .push(line["authorization:".len()..].trim().to_owned());
                }
                let body = "app_requests_total 7\napp_up 1\n";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Target { authorizations }
}

/// A port free on both addresses.
async fn common_port(ips: &[&str]) -> u16 {
    for _ in 0..50 {
        let probe = std::net::TcpListener::bind((ips[0], 0)).unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        if ips
            .iter()
            .all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no common free port");
}

/// The objects a ServiceMonitor for Service `api` selects: the Namespace,
/// two Pods, the Service and its Endpoints, and the Secret.
fn cluster_objects(server: &FakeApiServer, ips: &[&str], port: u16) {
    server.upsert(&Namespace {
        metadata: ObjectMeta {
            name: Some(NAMESPACE.into()),
            labels: Some(BTreeMap::from([("team".into(), "a".into())])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    });
    for (i, ip) in ips.iter().enumerate() {
        server.upsert(&Pod {
            metadata: meta(&format!("api-{i}"), &[("app", "api")]),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    ports: Some(vec![ContainerPort {
                        name: Some("web".into()),
                        container_port: i32::from(port),
                        ..ContainerPort::default()
                    }]),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                pod_ip: Some((*ip).to_owned()),
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        });
    }
    server.upsert(&Service {
        metadata: meta("api", &[("app", "api")]),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([("app".into(), "api".into())])),
            ports: Some(vec![ServicePort {
                name: Some("web".into()),
                port: 80,
                target_port: Some(IntOrString::String("web".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    });
    server.upsert(&Endpoints {
        metadata: meta("api", &[("app", "api")]),
        subsets: Some(vec![EndpointSubset {
            addresses: Some(
                ips.iter()
                    .enumerate()
                    .map(|(i, ip)| EndpointAddress {
                        ip: (*ip).to_owned(),
                        target_ref: Some(ObjectReference {
                            kind: Some("Pod".into()),
                            name: Some(format!("api-{i}")),
                            namespace: Some(NAMESPACE.into()),
                            ..ObjectReference::default()
                        }),
                        ..EndpointAddress::default()
                    })
                    .collect(),
            ),
            ports: Some(vec![EndpointPort {
                name: Some("web".into()),
                port: i32::from(port),
                ..EndpointPort::default()
            }]),
            ..EndpointSubset::default()
        }]),
    });
    server.upsert(&Secret {
        metadata: meta("creds", &[]),
        data: Some(BTreeMap::from([
            ("user".into(), ByteString(b"scraper".to_vec())),
            ("pass".into(), ByteString(PASSWORD.as_bytes().to_vec())),
        ])),
        ..Secret::default()
    });
}

fn service_monitor(name: &str, extra_endpoint: serde_json::Value) -> serde_json::Value {
    let mut endpoint = json!({
        "port": "web",
        "interval": "1s",
        "basicAuth": {
            "username": {"name": "creds", "key": "user"},
            "password": {"name": "creds", "key": "pass"}
        }
    });
    if let (Some(endpoint), Some(extra)) = (endpoint.as_object_mut(), extra_endpoint.as_object()) {
        for (k, v) in extra {
            endpoint.insert(k.clone(), v.clone());
        }
    }
    json!({
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"release": "kps"}},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "endpoints": [endpoint]
        }
    })
}

/// Polls the coordinator's last report until `done` holds.
async fn report_where(
    coordinator: &promshard::coordinator::reconcile::Coordinator<LocalBackend>,
    what: &str,
    limit: Duration,
    done: impl Fn(&CycleReport) -> bool,
) -> Arc<CycleReport> {
    let started = Instant::now();
    loop {
        let report = coordinator.report();
        if done(&report) {
            return report;
        }
        assert!(
            started.elapsed() < limit,
            "no cycle where {what}: errors {:?}, targets {:?}",
            report.errors,
            report
                .targets
                .iter()
                .map(|t| (&t.job, &t.labels, t.health))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_monitors_become_jobs_with_the_operators_labels() {
    let server = FakeApiServer::start().await.unwrap();
    for plural in ["servicemonitors", "podmonitors", "probes"] {
        server.install(&CustomResource {
            plural,
            kind: match plural {
                "servicemonitors" => "ServiceMonitor",
                "podmonitors" => "PodMonitor",
                _ => "Probe",
            },
            ..SERVICE_MONITORS
        });
    }
    server.install(&CustomResource {
        version: "v1alpha1",
        plural: "scrapeconfigs",
        kind: "ScrapeConfig",
        ..SERVICE_MONITORS
    });
    let ips = ["127.0.0.2", "127.0.0.3"];
    let port = common_port(&ips).await;
    let mut targets = Vec::new();
    for ip in ips {
        targets.push(serve_target(ip, port).await);
    }
    cluster_objects(&server, &ips, port);
    server.upsert_json(&SERVICE_MONITORS, service_monitor("api", json!({})));

    // The shards' own config: global settings only, every job comes from
    // the resources.
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(
        &config_file,
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs: []\n",
    )
    .unwrap();
    let backend = Arc::new(LocalBackend::new(LocalOptions {
        config_file: config_file.clone(),
        dir: dir.path().join("shards"),
        prometheus_args: vec!["--log.level=warn".into()],
        ..LocalOptions::default()
    }));
    let mut selection = Selection::new(NAMESPACE);
    selection.service_monitor_selector = Some(LabelSelector::parse("release=kps").unwrap());
    let source = OperatorSource::Flags {
        selection: Box::new(selection),
        version: None,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = start_with_leadership(
        Arc::clone(&backend),
        CoordinatorSettings {
            plan: PlanSettings {
                min_shards: 2,
                max_shards: 2,
                ..PlanSettings::default()
            },
            sidecar_timeout: Duration::from_secs(5),
            ..CoordinatorSettings::default()
        },
        Config::load(&config_file).unwrap(),
        ConfigSources {
            file: Some(config_file.clone()),
            operator: Some((source, server.client())),
        },
        Duration::from_secs(1),
        listener,
        Leadership::always(),
    )
    .unwrap();
    let coordinator = &running.coordinator;

    // Both Pods become targets of job "api", scraped through the sidecars.
    let job_name = "serviceMonitor/apps/api/0";
    let report = report_where(
        coordinator,
        "both pods are up",
        Duration::from_secs(90),
        |r| {
            r.targets.len() == 2
                && r.targets
                    .iter()
                    .all(|t| t.health == "up" && t.shard.is_some())
        },
    )
    .await;
    assert!(report.targets.iter().all(|t| t.job == job_name));

    // The stored series carry the operator's labels.
    let shards = backend.shards().await.unwrap();
    let mut seen_pods = Vec::new();
    for shard in &shards {
        let prometheus = shard.prometheus_url.as_deref().unwrap();
        let client = PrometheusClient::new(prometheus, Duration::from_secs(5));
        for series in client.query("app_requests_total").await.unwrap() {
            let labels = series["metric"].as_object().unwrap().clone();
            let pod = labels["pod"].as_str().unwrap().to_owned();
            let index: usize = pod.trim_start_matches("api-").parse().unwrap();
            let expected = json!({
                "__name__": "app_requests_total",
                "job": "api",
                "namespace": NAMESPACE,
                "service": "api",
                "pod": pod,
                "container": "app",
                "endpoint": "web",
                "instance": format!("{}:{port}", ips[index]),
            });
            assert_eq!(serde_json::Value::Object(labels), expected);
            seen_pods.push(index);
        }
    }
    seen_pods.sort_unstable();
    assert_eq!(seen_pods, [0, 1], "each pod stored once, by one shard");

    // The Secret's credentials reached the targets, through the sidecars.
    let basic = format!("Basic {}", base64_of(&format!("scraper:{PASSWORD}")));
    for target in &targets {
        assert!(
            target.authorizations.lock().unwrap().contains(&basic),
            "no scrape with the Secret's credentials"
        );
    }
    // ... and appear in no API answer of the coordinator.
    for path in [
        "/api/v1/targets",
        "/api/v1/plan",
        "/api/v1/shards",
        "/api/v1/operator",
        "/metrics",
    ] {
        let (status, body) = get_text(running.api_addr, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.contains(PASSWORD), "{path} shows the password");
    }
    let (_, operator) = get_text(running.api_addr, "/api/v1/operator").await;
    assert!(operator.contains("\"state\":\"accepted\""), "{operator}");

    // Changed: a relabeling adds a label to both targets.
    server.upsert_json(
        &SERVICE_MONITORS,
        service_monitor(
            "api",
            json!({"relabelings": [{"targetLabel": "team", "replacement": "payments"}]}),
        ),
    );
    report_where(
        coordinator,
        "the new label is on both targets",
        Duration::from_secs(30),
        |r| {
            r.targets.len() == 2
                && r.targets
                    .iter()
                    .all(|t| t.labels.get("team").map(String::as_str) == Some("payments"))
        },
    )
    .await;

    // An invalid one is reported with the operator's reason and disturbs
    // nothing.
    server.upsert_json(
        &SERVICE_MONITORS,
        service_monitor("broken", json!({"interval": "10s", "scrapeTimeout": "1m"})),
    );
    let (mut status, mut body) = (0, String::new());
    let started = Instant::now();
    while !body.contains("broken") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "broken never reported: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        (status, body) = get_text(running.api_addr, "/api/v1/operator").await;
    }
    assert_eq!(status, 200);
    assert!(body.contains("\"state\":\"rejected\""), "{body}");
    assert!(body.contains("scrapeTimeout"), "{body}");
    let report = coordinator.report();
    assert_eq!(report.targets.len(), 2);
    assert!(report.targets.iter().all(|t| t.job == job_name));

    // Deleted: its targets go.
    assert!(server.remove_json(&SERVICE_MONITORS, Some(NAMESPACE), "api"));
    report_where(
        coordinator,
        "the targets are gone",
        Duration::from_secs(30),
        |r| r.plan.is_some() && r.targets.is_empty(),
    )
    .await;

    // Every call granted; Secrets read by name only.
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

    running.stop().await;
    backend.shutdown().await;
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
