//! Resources the operator rejects are rejected with its reason, and the
//! others are still generated; problems with the Prometheus itself fail
//! the whole generation.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use promshard_operator::generate::{GenerateError, Generated, Status, generate};
use promshard_operator::load::load_documents;
use promshard_operator::selection::{ResourceKind, Selection};
use promshard_operator::settings::Settings;

const PROMETHEUS: &str = r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  version: v2.30.0
  serviceMonitorSelector: {}
  podMonitorSelector: {}
  probeSelector: {}
  scrapeConfigSelector: {}
  arbitraryFSAccessThroughSMs: {deny: true}
  scrapeClasses: [{name: known}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: monitoring}
stringData: {user: u, password: p, not-pem: hello}
"#;

fn generate_with(resources: &str) -> Generated {
    let text = format!("{PROMETHEUS}---\n{resources}");
    let loaded = load_documents([("input.yaml", text.as_str())]).unwrap();
    let p = &loaded.resources.prometheuses[0];
    generate(
        &Settings::from_prometheus(p),
        &Selection::from_prometheus(p),
        &loaded.resources,
    )
    .unwrap()
}

fn reason(g: &Generated, kind: ResourceKind, name: &str) -> String {
    match &g
        .outcome(kind, "monitoring", name)
        .expect("an outcome")
        .status
    {
        Status::Rejected { reason } => reason.clone(),
        other => panic!("{kind} {name} not rejected: {other:?}"),
    }
}

fn monitor(name: &str, endpoint: &str) -> String {
    format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {{name: {name}, namespace: monitoring}}\nspec:\n  selector: {{}}\n  endpoints:\n  - {endpoint}\n---\n"
    )
}

#[test]
fn invalid_service_monitors_are_rejected_with_the_operators_reason() {
    let cases = [
        (
            "token-file",
            "{port: web, bearerTokenFile: /var/run/secrets/token}",
            "endpoints[0]: it accesses file system via bearer token file which Prometheus specification prohibits",
        ),
        (
            "tls-file",
            "{port: web, tlsConfig: {caFile: /etc/ca.pem}}",
            "endpoints[0]: it accesses file system via tls config which Prometheus specification prohibits",
        ),
        (
            "no-secret",
            "{port: web, basicAuth: {username: {name: nope, key: user}, password: {name: nope, key: password}}}",
            "endpoints[0]: basicAuth: failed to get basic auth username: unable to get secret \"nope\": secrets \"nope\" not found",
        ),
        (
            "no-key",
            "{port: web, bearerTokenSecret: {name: creds, key: token}}",
            "endpoints[0]: bearerTokenSecret: key \"token\" in secret \"creds\" not found",
        ),
        (
            "bad-relabel",
            "{port: web, relabelings: [{action: replace, sourceLabels: [a]}]}",
            "endpoints[0]: relabelConfigs: [0]: relabel configuration for replace action needs targetLabel value",
        ),
        (
            "too-new-action",
            "{port: web, metricRelabelings: [{action: lowercase, sourceLabels: [a], targetLabel: b}]}",
            "endpoints[0]: metricRelabelConfigs: [0]: lowercase relabel action is only supported from Prometheus version 2.36.0",
        ),
        (
            "slow",
            "{port: web, interval: 30s, scrapeTimeout: 1m}",
            "endpoints[0]: scrapeTimeout \"1m\" greater than scrapeInterval \"30s\"",
        ),
        (
            "half-tls",
            "{port: web, tlsConfig: {cert: {secret: {name: creds, key: user}}}}",
            "endpoints[0]: tlsConfig: failed to validate TLS configuration: client cert specified without client key",
        ),
        (
            "bad-ca",
            "{port: web, tlsConfig: {ca: {secret: {name: creds, key: not-pem}}}}",
            "endpoints[0]: tlsConfig: ca <secret=creds,key=not-pem>: failed to decode PEM block",
        ),
        (
            "proxy-headers",
            "{port: web, proxyConnectHeader: {X: [{name: creds, key: user}]}}",
            "if proxyConnectHeader is configured, proxyUrl or proxyFromEnvironment must also be configured",
        ),
    ];
    let mut input = monitor("good", "{port: web}");
    for (name, endpoint, _) in &cases {
        input.push_str(&monitor(name, endpoint));
    }
    input.push_str(
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: no-class, namespace: monitoring}\nspec:\n  scrapeClass: missing\n  endpoints: [{port: web}]\n",
    );
    let g = generate_with(&input);
    for (name, _, want) in cases {
        assert_eq!(
            reason(&g, ResourceKind::ServiceMonitor, name),
            want,
            "{name}"
        );
    }
    assert_eq!(
        reason(&g, ResourceKind::ServiceMonitor, "no-class"),
        "scrapeClassName: scrapeClass \"missing\" not found in Prometheus scrapeClasses"
    );
    // The valid monitor is still generated, and only it.
    let jobs: Vec<&str> = g.scrape_configs.iter().map(|j| j.job_name()).collect();
    assert_eq!(jobs, ["serviceMonitor/monitoring/good/0"]);
}

#[test]
fn invalid_pod_monitors_probes_and_scrape_configs_are_rejected() {
    let g = generate_with(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: bad-interval, namespace: monitoring}
spec:
  podMetricsEndpoints: [{port: web, interval: 10 seconds}]
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: bad-selector, namespace: monitoring}
spec:
  selector: {matchExpressions: [{key: app, operator: In}]}
  podMetricsEndpoints: [{port: web}]
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: good-pods, namespace: monitoring}
spec:
  podMetricsEndpoints: [{port: web}]
---
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {name: no-targets, namespace: monitoring}
spec:
  prober: {url: blackbox:9115}
---
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {name: bad-url, namespace: monitoring}
spec:
  prober: {url: "http://blackbox:9115"}
  targets: {staticConfig: {static: [example.com]}}
---
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {name: good-probe, namespace: monitoring}
spec:
  prober: {url: blackbox:9115}
  targets: {staticConfig: {static: [example.com]}}
---
apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {name: dns-no-port, namespace: monitoring}
spec:
  dnsSDConfigs: [{names: [db.example.com], type: A}]
---
apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {name: two-auths, namespace: monitoring}
spec:
  basicAuth:
    username: {name: creds, key: user}
    password: {name: creds, key: password}
  authorization: {credentials: {name: creds, key: password}}
  staticConfigs: [{targets: [a:1]}]
---
apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {name: good-static, namespace: monitoring}
spec:
  staticConfigs: [{targets: [a:1]}]
"#,
    );
    let pm = |name| reason(&g, ResourceKind::PodMonitor, name);
    assert!(
        pm("bad-interval").starts_with("endpoint[0]: interval: invalid duration \"10 seconds\""),
        "{}",
        pm("bad-interval")
    );
    assert_eq!(
        pm("bad-selector"),
        "failed to parse label selector: key \"app\": for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        reason(&g, ResourceKind::Probe, "no-targets"),
        "at least one of .spec.targets.staticConfig and .spec.targets.ingress is required"
    );
    assert_eq!(
        reason(&g, ResourceKind::Probe, "bad-url"),
        "\"http://blackbox:9115\" url specified in proberSpec is invalid, it should be of the format `hostname` or `hostname:port`: invalid port: \"//blackbox\""
    );
    assert_eq!(
        reason(&g, ResourceKind::ScrapeConfig, "dns-no-port"),
        "dnsSDConfigs: [0]: port required for record type \"A\""
    );
    assert_eq!(
        reason(&g, ResourceKind::ScrapeConfig, "two-auths"),
        "at most one of basicAuth, oauth2 and authorization must be configured"
    );
    let jobs: Vec<&str> = g.scrape_configs.iter().map(|j| j.job_name()).collect();
    assert_eq!(
        jobs,
        [
            "podMonitor/monitoring/good-pods/0",
            "probe/monitoring/good-probe",
            "scrapeConfig/monitoring/good-static"
        ]
    );
    promshard_config::Config::from_yaml_str(&g.to_yaml_string().unwrap(), "generated.yaml")
        .unwrap();
}

fn prometheus_error(spec: &str) -> GenerateError {
    let text = format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {{name: k8s, namespace: monitoring}}\nspec:\n{spec}"
    );
    let loaded = load_documents([("p.yaml", text.as_str())]).unwrap();
    let p = &loaded.resources.prometheuses[0];
    generate(
        &Settings::from_prometheus(p),
        &Selection::from_prometheus(p),
        &loaded.resources,
    )
    .unwrap_err()
}

#[test]
fn an_invalid_prometheus_generates_nothing() {
    assert_eq!(
        prometheus_error("  version: v1.8.2\n").to_string(),
        "unsupported Prometheus version \"v1.8.2\""
    );
    assert!(
        prometheus_error("  version: latest\n")
            .to_string()
            .starts_with("failed to parse Prometheus version")
    );
    assert_eq!(
        prometheus_error("  scrapeClasses: [{name: a, default: true}, {name: b, default: true}]\n")
            .to_string(),
        "failed to parse scrape classes: multiple default scrape classes defined"
    );
    assert_eq!(
        prometheus_error("  scrapeInterval: 10s\n  scrapeTimeout: 20s\n").to_string(),
        "scrapeTimeout \"20s\" greater than scrapeInterval \"10s\""
    );
    assert!(matches!(
        prometheus_error(
            "  serviceMonitorSelector: {matchExpressions: [{key: a, operator: Is}]}\n"
        ),
        GenerateError::Selector(_)
    ));
}
