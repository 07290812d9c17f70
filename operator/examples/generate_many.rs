//! Measures generation for a large fleet: 2,000 ServiceMonitors (two
//! endpoints each, a label selector, relabelings, basic auth from a
//! Secret) plus 500 PodMonitors, under one Prometheus. Prints the time of
//! one full generation (best of several runs) and of rendering it to YAML.
//!
//! `cargo run --release -p promshard-operator --example generate_many`

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use promshard_operator::generate::generate;
use promshard_operator::load::load_documents;
use promshard_operator::selection::Selection;
use promshard_operator::settings::Settings;

const SERVICE_MONITORS: usize = 2_000;
const POD_MONITORS: usize = 500;
const NAMESPACES: usize = 100;

fn manifests() -> String {
    let mut text = String::from(
        "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: monitoring}\nspec:\n  serviceMonitorSelector: {matchLabels: {release: kps}}\n  serviceMonitorNamespaceSelector: {}\n  podMonitorSelector: {}\n  podMonitorNamespaceSelector: {}\n  enforcedSampleLimit: 100000\n",
    );
    for ns in 0..NAMESPACES {
        let _ = write!(
            text,
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: scrape, namespace: ns-{ns}}}\nstringData: {{user: u, password: p}}\n"
        );
    }
    for i in 0..SERVICE_MONITORS {
        let ns = i % NAMESPACES;
        let _ = write!(
            text,
            r#"---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {{name: svc-{i}, namespace: ns-{ns}, labels: {{release: kps}}}}
spec:
  jobLabel: app.kubernetes.io/name
  selector:
    matchLabels: {{app.kubernetes.io/name: svc-{i}}}
    matchExpressions: [{{key: tier, operator: In, values: [web, api]}}]
  endpoints:
  - port: metrics
    interval: 30s
    relabelings:
    - {{sourceLabels: [__meta_kubernetes_pod_node_name], targetLabel: node_name}}
    metricRelabelings:
    - {{sourceLabels: [__name__], regex: "go_gc_.*", action: drop}}
  - port: admin
    basicAuth:
      username: {{name: scrape, key: user}}
      password: {{name: scrape, key: password}}
"#
        );
    }
    for i in 0..POD_MONITORS {
        let ns = i % NAMESPACES;
        let _ = write!(
            text,
            "---\napiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {{name: pods-{i}, namespace: ns-{ns}}}\nspec:\n  selector: {{matchLabels: {{app: pods-{i}}}}}\n  podMetricsEndpoints: [{{port: metrics}}]\n"
        );
    }
    text
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let text = manifests();
    let started = Instant::now();
    let loaded = load_documents([("fleet.yaml", text.as_str())])?;
    let load_time = started.elapsed();
    let prometheus = &loaded.resources.prometheuses[0];
    let settings = Settings::from_prometheus(prometheus);
    let selection = Selection::from_prometheus(prometheus);

    let mut best = Duration::MAX;
    let mut jobs = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let generated = generate(&settings, &selection, &loaded.resources)?;
        best = best.min(started.elapsed());
        jobs = generated.scrape_configs.len();
    }
    let generated = generate(&settings, &selection, &loaded.resources)?;
    let started = Instant::now();
    let yaml = generated.to_yaml_string()?;
    let render = started.elapsed();
    println!(
        "{SERVICE_MONITORS} ServiceMonitors + {POD_MONITORS} PodMonitors -> {jobs} jobs: \
         generate {:.1} ms (best of 5), render YAML {:.1} ms ({} KiB), parse manifests {:.1} ms",
        best.as_secs_f64() * 1e3,
        render.as_secs_f64() * 1e3,
        yaml.len() / 1024,
        load_time.as_secs_f64() * 1e3,
    );
    Ok(())
}
