//! Jobs from prometheus-operator resources: the cluster's ServiceMonitors,
//! PodMonitors, Probes and ScrapeConfigs (watched by
//! [`promshard_k8s::monitors`]) turned into scrape configs exactly as the
//! operator would generate them (`promshard_operator`), ready to join the
//! jobs of the user's file.
//!
//! What the operator's config reloader would do to its generated file is
//! done here: `$(SHARD)` is `0` (to the operator's sharding rules the
//! whole fleet is one shard; promshard does the sharding) and other
//! `$(NAME)` references come from the environment. The operator's scrape
//! defaults (its `global`: scrape interval and timeout, limits, protocols)
//! are written into each job that does not set them, so that the jobs keep
//! them beside the file's own `global`. TLS material is inline (no files),
//! so that the jobs can be handed to the sidecars as they are.
//!
//! The jobs carry Secrets' values: they reach the sidecars over the
//! authenticated API only ([`crate::shard_api::PushedJobs`]), are never
//! logged (the API shows each resource's outcome, never a job), and the
//! sidecars keep them in memory.

use std::collections::BTreeMap;

use promshard_k8s::monitors::MonitorSnapshot;
use promshard_operator::generate::{Status, generate};
use promshard_operator::selection::{ResourceKind, Selection};
use promshard_operator::settings::Settings;
use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};

/// Where the resources' selectors and generation settings come from.
#[derive(Debug, Clone)]
pub enum OperatorSource {
    /// An existing Prometheus resource (`--operator.prometheus NS/NAME`):
    /// its selectors and every field that changes generation.
    Prometheus {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Selectors given as flags (`--operator.*-selector`), with the
    /// Prometheus resource's defaults for everything else.
    Flags {
        /// The selectors; `prometheus_namespace` is what unset namespace
        /// selectors mean.
        selection: Box<Selection>,
        /// `spec.version` (`None`: the operator's default).
        version: Option<String>,
    },
}

/// `global` keys that are defaults of every job (Prometheus applies them
/// to jobs that do not set them); the others (`external_labels`,
/// `evaluation_interval`, ...) are the shards' own business.
const JOB_DEFAULTS: &[&str] = &[
    "scrape_interval",
    "scrape_timeout",
    "scrape_protocols",
    "body_size_limit",
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "keep_dropped_targets",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
    "always_scrape_classic_histograms",
    "convert_classic_histograms_to_nhcb",
    "scrape_native_histograms",
];

/// The jobs the resources give, and what became of each resource.
#[derive(Debug, Clone, Default)]
pub struct OperatorJobs {
    /// Scrape configs to add to the file's, in the operator's order.
    pub jobs: Vec<Mapping>,
    /// Every resource's outcome, for the API and metrics.
    pub resources: Vec<ResourceView>,
    /// Objects that could not be read, and Secrets that could not be
    /// fetched: reported, the rest generated.
    pub problems: Vec<String>,
}

/// One resource in `GET /api/v1/operator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceView {
    /// `ServiceMonitor`, `PodMonitor`, `Probe` or `ScrapeConfig`.
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `accepted`, `rejected` or `not_selected`.
    pub state: &'static str,
    /// The jobs generated from it.
    pub jobs: Vec<String>,
    /// Why it was rejected or not selected (the operator's words).
    pub reason: Option<String>,
}

/// Generation could not run at all (a problem with the Prometheus side,
/// not with a resource).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    /// `--operator.prometheus` names a resource the cluster does not have.
    #[error("the Prometheus resource {namespace}/{name} (--operator.prometheus) was not found")]
    PrometheusNotFound {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The operator would generate nothing for these settings.
    #[error("prometheus-operator settings: {0}")]
    Generate(#[from] promshard_operator::generate::GenerateError),
    /// A `$(NAME)` the environment does not set.
    #[error("expanding the generated jobs: {0}")]
    Expand(String),
}

fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::ServiceMonitor => "ServiceMonitor",
        ResourceKind::PodMonitor => "PodMonitor",
        ResourceKind::Probe => "Probe",
        ResourceKind::ScrapeConfig => "ScrapeConfig",
    }
}

/// The jobs `snapshot` gives under `source`. `env` expands `$(NAME)`
/// (`SHARD` is always `0`).
pub fn jobs_from(
    snapshot: &MonitorSnapshot,
    source: &OperatorSource,
    env: &BTreeMap<String, String>,
) -> Result<OperatorJobs, OperatorError> {
    let resources = &snapshot.resources;
    let (mut settings, selection) = match source {
        OperatorSource::Prometheus { namespace, name } => {
            let prometheus = resources
                .prometheuses
                .iter()
                .find(|p| p.metadata.namespace == *namespace && p.metadata.name == *name)
                .ok_or_else(|| OperatorError::PrometheusNotFound {
                    namespace: namespace.clone(),
                    name: name.clone(),
                })?;
            (
                Settings::from_prometheus(prometheus),
                Selection::from_prometheus(prometheus),
            )
        }
        OperatorSource::Flags { selection, version } => {
            let mut settings = Settings::new("promshard", selection.prometheus_namespace.clone());
            settings.prometheus.spec.version.clone_from(version);
            (settings, Selection::clone(selection))
        }
    };
    // Inline TLS material: the jobs travel to the sidecars as they are.
    settings.inline_tls = true;
    let generated = generate(&settings, &selection, resources)?;

    let mut env = env.clone();
    env.insert("SHARD".into(), "0".into());
    let defaults = match generated.global.to_value() {
        Value::Mapping(global) => global
            .into_iter()
            .filter(|(k, _)| k.as_str().is_some_and(|k| JOB_DEFAULTS.contains(&k)))
            .collect(),
        _ => Mapping::new(),
    };
    let mut jobs = Vec::with_capacity(generated.scrape_configs.len());
    for job in &generated.scrape_configs {
        let Value::Mapping(mut config) = job.config.to_value() else {
            continue;
        };
        for (key, value) in &defaults {
            if !config.contains_key(key) {
                config.insert(key.clone(), value.clone());
            }
        }
        let mut value = Value::Mapping(config);
        expand(&mut value, &env)?;
        if let Value::Mapping(config) = value {
            jobs.push(config);
        }
    }

    let resources = generated
        .outcomes
        .iter()
        .map(|o| {
            let (state, jobs, reason) = match &o.status {
                Status::Accepted { jobs } => ("accepted", jobs.clone(), None),
                Status::Rejected { reason } => ("rejected", Vec::new(), Some(reason.clone())),
                Status::NotSelected { reason } => {
                    ("not_selected", Vec::new(), Some(reason.clone()))
                }
            };
            ResourceView {
                kind: kind_name(o.kind),
                namespace: o.namespace.clone(),
                name: o.name.clone(),
                state,
                jobs,
                reason,
            }
        })
        .collect();
    let mut problems: Vec<String> = snapshot.problems.iter().map(ToString::to_string).collect();
    problems.extend(snapshot.unreadable.iter().cloned());
    problems.extend(
        snapshot
            .unsynced
            .iter()
            .map(|kind| format!("{kind:?}s not listed yet (the watch keeps trying)")),
    );
    Ok(OperatorJobs {
        jobs,
        resources,
        problems,
    })
}

/// Expands `$(NAME)` in every string of `value`.
fn expand(value: &mut Value, env: &BTreeMap<String, String>) -> Result<(), OperatorError> {
    match value {
        Value::String(text) if text.contains("$(") => {
            *text = promshard_operator::config_secret::expand_env(text, env)
                .map_err(|e| OperatorError::Expand(e.to_string()))?;
        }
        Value::Sequence(items) => {
            for item in items {
                expand(item, env)?;
            }
        }
        Value::Mapping(map) => {
            for (_, v) in map.iter_mut() {
                expand(v, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use promshard_operator::load::load_documents;

    use super::*;

    const MANIFESTS: &str = r"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  scrapeInterval: 20s
  serviceMonitorSelector: {matchLabels: {release: kps}}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: api, namespace: monitoring, labels: {release: kps}}
spec:
  selector: {matchLabels: {app: api}}
  endpoints:
    - port: web
      basicAuth:
        username: {name: creds, key: user}
        password: {name: creds, key: pass}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: broken, namespace: monitoring, labels: {release: kps}}
spec:
  endpoints: [{port: web, interval: 10s, scrapeTimeout: 1m}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: other, namespace: monitoring, labels: {release: other}}
spec:
  endpoints: [{port: web}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: monitoring}
data: {user: dXNlcg==, pass: czNjcmV0}
";

    fn snapshot() -> MonitorSnapshot {
        let loaded = load_documents([("kps.yaml", MANIFESTS)]).unwrap();
        MonitorSnapshot {
            resources: loaded.resources,
            ..MonitorSnapshot::default()
        }
    }

    #[test]
    fn a_prometheus_resource_gives_the_jobs_ready_to_join_a_file() {
        let source = OperatorSource::Prometheus {
            namespace: "monitoring".into(),
            name: "k8s".into(),
        };
        let out = jobs_from(&snapshot(), &source, &BTreeMap::new()).unwrap();
        let names: Vec<&str> = out
            .jobs
            .iter()
            .map(|j| j["job_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["serviceMonitor/monitoring/api/0"]);
        let job = &out.jobs[0];
        // The Prometheus's interval, written into the job.
        assert_eq!(job["scrape_interval"], Value::from("20s"));
        assert_eq!(job["basic_auth"]["password"], Value::from("s3cret"));
        // $(SHARD) expanded: no reference left for a reloader.
        let text = serde_yaml_ng::to_string(job).unwrap();
        assert!(!text.contains("$("), "{text}");
        // It joins a file's jobs and loads.
        let file = promshard_config::Config::from_yaml_str(
            "global: {scrape_interval: 1m}\nscrape_configs: []\n",
            "prometheus.yml",
        )
        .unwrap();
        let merged = file.with_jobs("operator", &out.jobs).unwrap();
        assert_eq!(merged.scrape_configs[0].scrape_interval.to_string(), "20s");
        let states: Vec<(&str, &str)> = out
            .resources
            .iter()
            .map(|r| (r.name.as_str(), r.state))
            .collect();
        assert_eq!(
            states,
            [
                ("api", "accepted"),
                ("broken", "rejected"),
                ("other", "not_selected")
            ]
        );
        let broken = &out.resources[1];
        assert!(broken.reason.as_deref().unwrap().contains("scrapeTimeout"));
    }

    #[test]
    fn a_missing_prometheus_resource_is_an_error_naming_it() {
        let source = OperatorSource::Prometheus {
            namespace: "monitoring".into(),
            name: "nope".into(),
        };
        let err = jobs_from(&snapshot(), &source, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("monitoring/nope"), "{err}");
    }

    #[test]
    fn flags_select_without_a_prometheus_resource() {
        let mut selection = Selection::new("monitoring");
        selection.service_monitor_selector =
            Some(promshard_operator::model::LabelSelector::parse("release=other").unwrap());
        let source = OperatorSource::Flags {
            selection: Box::new(selection),
            version: None,
        };
        let out = jobs_from(&snapshot(), &source, &BTreeMap::new()).unwrap();
        let names: Vec<&str> = out
            .jobs
            .iter()
            .map(|j| j["job_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["serviceMonitor/monitoring/other/0"]);
    }
}
