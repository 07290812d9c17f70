//! Relabeling speed: `relabel_configs` over 100k discovered targets with 10
//! typical rules (the coordinator, on every full rebuild), and
//! `metric_relabel_configs` per scraped sample on a kube-state-metrics-like
//! body (the sidecar's counting path), with and without the name-only fast
//! path.
//!
//! `cargo bench -p promshard-benches --bench relabel`

#![allow(
    clippy::panic,
    reason = "a benchmark whose fixed inputs do not parse must stop loudly"
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use promshard_config::relabel::mutate_sample_labels;
use promshard_config::{Config, LabelSet, RelabelRules};

const TARGETS: usize = 100_000;

const CONFIG: &str = r#"
scrape_configs:
  - job_name: pods
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: 'true'
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        target_label: __metrics_path__
        regex: (.+)
      - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
        regex: '([^:]+)(?::\d+)?;(\d+)'
        replacement: $1:$2
        target_label: __address__
      - action: labelmap
        regex: __meta_kubernetes_pod_label_(.+)
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_node_name]
        target_label: node
        action: lowercase
      - source_labels: [__address__]
        modulus: 8
        target_label: __tmp_shard
        action: hashmod
      - source_labels: [namespace]
        regex: 'kube-system|test-.*'
        action: drop
      - regex: 'pod_template_hash|controller_revision_hash'
        action: labeldrop
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'kube_pod_(status_reason|container_status_last_terminated_reason|tolerations)'
        action: drop
      - source_labels: [__name__, namespace]
        regex: 'kube_pod_info;test-.*'
        action: drop
      - regex: 'uid|created_by_.*'
        action: labeldrop
  - job_name: names-only
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'kube_pod_(status_reason|container_status_last_terminated_reason|tolerations)'
        action: drop
      - source_labels: [__name__]
        regex: 'kube_.*'
        action: keep
"#;

/// Discovered labels of a Kubernetes pod, roughly as kubernetes_sd gives them.
fn pod(i: usize) -> LabelSet {
    let namespace = match i % 10 {
        0 => "kube-system".to_owned(),
        1 => format!("test-{}", i % 7),
        n => format!("team-{n}"),
    };
    let scrape = if i.is_multiple_of(5) { "false" } else { "true" };
    LabelSet::from_pairs([
        (
            "__address__",
            format!("10.{}.{}.{}:8080", i >> 16 & 255, i >> 8 & 255, i & 255),
        ),
        ("__meta_kubernetes_namespace", namespace),
        (
            "__meta_kubernetes_pod_name",
            format!("app-{}-7d9f8c-{i:05}", i % 300),
        ),
        (
            "__meta_kubernetes_pod_node_name",
            format!("Node-{}", i % 500),
        ),
        (
            "__meta_kubernetes_pod_ip",
            format!("10.0.{}.{}", i >> 8 & 255, i & 255),
        ),
        (
            "__meta_kubernetes_pod_label_app",
            format!("app-{}", i % 300),
        ),
        (
            "__meta_kubernetes_pod_label_pod_template_hash",
            "7d9f8c".to_owned(),
        ),
        ("__meta_kubernetes_pod_label_tier", "backend".to_owned()),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
            scrape.to_owned(),
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_port",
            "9102".to_owned(),
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_path",
            "/metrics".to_owned(),
        ),
        ("__meta_kubernetes_pod_container_name", "main".to_owned()),
        ("__meta_kubernetes_pod_phase", "Running".to_owned()),
        ("__meta_kubernetes_pod_ready", "true".to_owned()),
        ("__metrics_path__", "/metrics".to_owned()),
        ("__scheme__", "http".to_owned()),
        ("job", "pods".to_owned()),
    ])
}

/// Samples of a kube-state-metrics body: (metric name, labels).
fn ksm_samples() -> Vec<(String, Vec<(String, String)>)> {
    let families = [
        "kube_pod_info",
        "kube_pod_status_phase",
        "kube_pod_status_ready",
        "kube_pod_status_reason",
        "kube_pod_container_info",
        "kube_pod_container_status_restarts_total",
        "kube_pod_container_status_last_terminated_reason",
        "kube_pod_container_resource_requests",
        "kube_pod_container_resource_limits",
        "kube_pod_tolerations",
        "kube_pod_owner",
        "kube_pod_created",
    ];
    let mut samples = Vec::new();
    for pod in 0..5_000 {
        for family in families {
            let mut labels = vec![
                (
                    "namespace".to_owned(),
                    if pod % 10 == 1 {
                        "test-a".to_owned()
                    } else {
                        format!("team-{}", pod % 10)
                    },
                ),
                (
                    "pod".to_owned(),
                    format!("app-{}-7d9f8c-{pod:05}", pod % 300),
                ),
                (
                    "uid".to_owned(),
                    format!("6f1c2e4a-{pod:08}-4b2d-9e3f-0a1b2c3d4e5f"),
                ),
            ];
            if family.contains("container") {
                labels.push(("container".to_owned(), "main".to_owned()));
            }
            if family.ends_with("phase") {
                labels.push(("phase".to_owned(), "Running".to_owned()));
            }
            samples.push((family.to_owned(), labels));
        }
    }
    samples
}

fn relabel_targets(c: &mut Criterion) {
    let config = Config::from_yaml_str(CONFIG, "bench.yml").unwrap_or_else(|e| panic!("{e}"));
    let job = config.job("pods").unwrap_or_else(|| panic!("job"));
    let rules = &job.relabel_configs;
    assert_eq!(rules.len(), 10);
    let pods: Vec<LabelSet> = (0..TARGETS).map(pod).collect();
    let mut scratch = LabelSet::new();
    let kept = pods
        .iter()
        .filter(|p| {
            scratch.copy_from(p);
            rules.process(&mut scratch)
        })
        .count();
    // Of every ten pods, two are not annotated for scraping (one of them in
    // kube-system) and one is in a test-* namespace: seven are kept.
    assert_eq!(kept, TARGETS / 10 * 7, "{kept} kept");
    scratch.copy_from(&pods[12]);
    assert!(rules.process(&mut scratch));
    for (name, want) in [
        ("__address__", Some("10.0.0.12:9102")),
        ("namespace", Some("team-2")),
        ("node", Some("node-12")),
        ("app", Some("app-12")),
        ("tier", Some("backend")),
        ("pod_template_hash", None),
    ] {
        assert_eq!(scratch.get(name), want, "{name} of pod 12");
    }

    let mut group = c.benchmark_group("relabel_configs");
    group.throughput(Throughput::Elements(TARGETS as u64));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("targets_10_rules", TARGETS), |b| {
        b.iter(|| {
            let mut kept = 0usize;
            for p in &pods {
                scratch.copy_from(p);
                if rules.process(&mut scratch) {
                    kept += 1;
                }
            }
            black_box(kept)
        });
    });
    group.finish();
}

fn metric_relabel(c: &mut Criterion) {
    let config = Config::from_yaml_str(CONFIG, "bench.yml").unwrap_or_else(|e| panic!("{e}"));
    let full: &RelabelRules = &config
        .job("pods")
        .unwrap_or_else(|| panic!("job"))
        .metric_relabel_configs;
    let names_only: &RelabelRules = &config
        .job("names-only")
        .unwrap_or_else(|| panic!("job"))
        .metric_relabel_configs;
    assert!(names_only.is_name_only() && !full.is_name_only());
    let samples = ksm_samples();
    let target =
        LabelSet::from_pairs([("instance", "10.0.0.1:8080"), ("job", "kube-state-metrics")]);
    let mut labels = LabelSet::new();
    let mut count_kept = |rules: &RelabelRules| {
        let mut kept = 0usize;
        for (name, sample_labels) in &samples {
            labels.clear();
            labels.push_unsorted("__name__", name);
            for (n, v) in sample_labels {
                labels.push_unsorted(n, v);
            }
            labels.sort();
            mutate_sample_labels(&mut labels, &target, false);
            if rules.process(&mut labels) {
                kept += 1;
            }
        }
        kept
    };
    let kept_full = count_kept(full);
    // 3 of 12 families dropped, plus kube_pod_info of test-* pods.
    assert_eq!(kept_full, samples.len() / 12 * 9 - 500);
    let kept_names = samples
        .iter()
        .filter(|(name, _)| names_only.keep_name(name))
        .count();
    assert_eq!(kept_names, samples.len() / 12 * 9);

    let mut group = c.benchmark_group("metric_relabel_configs");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.sample_size(10);
    group.bench_function("per_sample_full_label_set", |b| {
        b.iter(|| black_box(count_kept(full)))
    });
    group.bench_function("per_sample_name_only_fast_path", |b| {
        b.iter(|| {
            black_box(
                samples
                    .iter()
                    .filter(|(name, _)| names_only.keep_name(name))
                    .count(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, relabel_targets, metric_relabel);
criterion_main!(benches);
