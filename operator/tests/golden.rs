//! Golden comparisons: each `tests/golden/<case>.input.yaml` holds a
//! Prometheus resource and the objects it selects; `<case>.golden.yaml` is
//! the configuration the operator generates for them, written for this
//! crate from the operator's rules (each file names the operator test case
//! it corresponds to). Every generated configuration must also load in
//! promshard's own config model.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::path::PathBuf;

use promshard_operator::generate::{Generated, Status, generate};
use promshard_operator::load::load_documents;
use promshard_operator::selection::{ResourceKind, Selection};
use promshard_operator::settings::Settings;
use serde_yaml_ng::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn run(case: &str) -> Generated {
    let input = std::fs::read_to_string(dir().join(format!("{case}.input.yaml"))).unwrap();
    let loaded = load_documents([(case, input.as_str())]).unwrap();
    let prometheus = loaded.resources.prometheuses.first().expect("a Prometheus");
    let settings = Settings::from_prometheus(prometheus);
    let selection = Selection::from_prometheus(prometheus);
    generate(&settings, &selection, &loaded.resources).unwrap()
}

fn check(case: &str) -> Generated {
    let generated = run(case);
    let expected_text = std::fs::read_to_string(dir().join(format!("{case}.golden.yaml"))).unwrap();
    let expected: Value = serde_yaml_ng::from_str(&expected_text).unwrap();
    let actual = serde_yaml_ng::from_str::<Value>(&generated.to_yaml_string().unwrap()).unwrap();
    for key in ["global", "scrape_configs"] {
        if let Some(want) = expected.get(key) {
            let got = actual.get(key).cloned().unwrap_or(Value::Null);
            if *want != got {
                panic!(
                    "{case}: {key} differs\n--- expected\n{}\n--- generated\n{}",
                    serde_yaml_ng::to_string(want).unwrap(),
                    serde_yaml_ng::to_string(&got).unwrap()
                );
            }
        }
    }
    let config = promshard_config::Config::from_yaml_str(
        &generated.to_yaml_string().unwrap(),
        format!("{case}.yaml"),
    );
    if let Err(e) = config {
        panic!("{case}: generated config does not load: {e}");
    }
    generated
}

fn status(g: &Generated, kind: ResourceKind, ns: &str, name: &str) -> Status {
    g.outcome(kind, ns, name)
        .expect("an outcome")
        .status
        .clone()
}

#[test]
fn service_monitor_endpoints() {
    let g = check("service_monitor_endpoints");
    assert_eq!(
        status(&g, ResourceKind::ServiceMonitor, "shop", "shop-api"),
        Status::Accepted {
            jobs: (0..3)
                .map(|i| format!("serviceMonitor/shop/shop-api/{i}"))
                .collect()
        }
    );
    assert!(matches!(
        status(&g, ResourceKind::ServiceMonitor, "shop", "other"),
        Status::NotSelected { .. }
    ));
}

#[test]
fn service_monitor_auth() {
    let g = check("service_monitor_auth");
    // Secrets are inline in the configuration, never in Debug or the
    // redacted copy.
    let text = g.to_yaml_string().unwrap();
    assert!(text.contains("hunter2") && text.contains("oauth-secret"));
    let redacted = g.to_redacted_yaml_string().unwrap();
    for secret in ["hunter2", "s3cr3t", "oauth-secret", "Basic abc", "admin"] {
        assert!(!redacted.contains(secret), "{secret} in redacted output");
        assert!(!format!("{g:?}").contains(secret), "{secret} in Debug");
    }
    assert!(redacted.contains("password: <secret>"));
    // The TLS files the jobs name, with their contents for the caller.
    let assets: Vec<&str> = g.tls_assets.keys().map(String::as_str).collect();
    assert_eq!(
        assets,
        [
            "0_monitoring_scrape-tls_cert.pem",
            "0_monitoring_scrape-tls_key.pem",
            "1_monitoring_ca-bundle_ca.crt"
        ]
    );
    assert!(
        g.tls_assets["0_monitoring_scrape-tls_key.pem"]
            .expose()
            .contains("PRIVATE KEY")
    );
}

#[test]
fn service_monitor_prometheus_settings() {
    check("service_monitor_prometheus_settings");
}

#[test]
fn service_monitor_v3_features() {
    check("service_monitor_v3_features");
}

#[test]
fn service_monitor_scrape_classes() {
    check("service_monitor_scrape_classes");
}

#[test]
fn pod_monitor() {
    let g = check("pod_monitor");
    assert!(matches!(
        status(&g, ResourceKind::PodMonitor, "scratch", "scratch"),
        Status::NotSelected { reason } if reason.contains("podMonitorNamespaceSelector")
    ));
    let jobs: Vec<&str> = g.scrape_configs.iter().map(|j| j.job_name()).collect();
    assert_eq!(
        jobs,
        [
            "podMonitor/apps/sidecars/0",
            "podMonitor/apps/workers/0",
            "podMonitor/apps/workers/1",
            "podMonitor/apps/workers/2"
        ]
    );
}

#[test]
fn probe_static() {
    check("probe_static");
}

#[test]
fn probe_ingress() {
    check("probe_ingress");
}

#[test]
fn scrape_config_sd() {
    check("scrape_config_sd");
}

#[test]
fn generated_config_expands_like_the_reloader_and_keeps_every_target() {
    // With the reloader's variables set (shard 0 of 1), the sharding rules
    // keep every target: hashmod 1 is always 0.
    let g = run("service_monitor_endpoints");
    let env = std::collections::BTreeMap::from([
        ("POD_NAME".to_string(), "prometheus-k8s-0".to_string()),
        ("SHARD".to_string(), "0".to_string()),
    ]);
    let expanded =
        promshard_operator::config_secret::expand_env(&g.to_yaml_string().unwrap(), &env).unwrap();
    let config = promshard_config::Config::from_yaml_str(&expanded, "expanded.yaml").unwrap();
    let job = config.job("serviceMonitor/shop/shop-api/1").unwrap();
    let group = promshard_config::TargetGroup {
        source: "endpoints".into(),
        targets: vec![promshard_config::LabelSet::from_pairs([
            ("__address__", "10.0.0.7:9102"),
            ("__meta_kubernetes_namespace", "shop"),
            ("__meta_kubernetes_service_name", "api"),
            (
                "__meta_kubernetes_service_label_app_kubernetes_io_name",
                "api",
            ),
            (
                "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name",
                "true",
            ),
            ("__meta_kubernetes_service_label_track", "stable"),
            ("__meta_kubernetes_service_labelpresent_track", "true"),
            ("__meta_kubernetes_pod_container_port_number", "9102"),
            ("__meta_kubernetes_pod_name", "api-7d9f"),
            ("__meta_kubernetes_pod_phase", "Running"),
            ("__meta_kubernetes_pod_label_team", "payments"),
        ])],
        labels: promshard_config::LabelSet::new(),
    };
    let built =
        promshard_config::build_targets(job, [&group], promshard_config::Compat::Prometheus3);
    assert_eq!(built.targets.len(), 1, "dropped: {:?}", built.dropped);
    let labels: Vec<_> = built.targets[0].public_labels().collect();
    assert_eq!(
        labels,
        [
            ("endpoint", "9102"),
            ("instance", "10.0.0.7:9102"),
            ("job", "api"),
            ("namespace", "shop"),
            ("pod", "api-7d9f"),
            ("service", "api"),
            ("team", "payments"),
        ]
    );
}
