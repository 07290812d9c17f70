//! prometheus-operator resources to Prometheus scrape configs, exactly as
//! the operator generates them, so that moving a kube-prometheus-stack
//! fleet onto promshard changes no label of any stored series.
//!
//! ```
//! use promshard_operator::generate::{Status, generate};
//! use promshard_operator::load::load_documents;
//! use promshard_operator::selection::{ResourceKind, Selection};
//! use promshard_operator::settings::Settings;
//!
//! let manifests = r#"
//! apiVersion: monitoring.coreos.com/v1
//! kind: Prometheus
//! metadata: {name: k8s, namespace: monitoring}
//! spec:
//!   serviceMonitorSelector: {matchLabels: {release: kps}}
//! ---
//! apiVersion: monitoring.coreos.com/v1
//! kind: ServiceMonitor
//! metadata: {name: node-exporter, namespace: monitoring, labels: {release: kps}}
//! spec:
//!   selector: {matchLabels: {app: node-exporter}}
//!   endpoints: [{port: metrics, interval: 15s}]
//! ---
//! apiVersion: monitoring.coreos.com/v1
//! kind: ServiceMonitor
//! metadata: {name: broken, namespace: monitoring, labels: {release: kps}}
//! spec:
//!   endpoints: [{port: web, interval: 10s, scrapeTimeout: 1m}]
//! "#;
//! let loaded = load_documents([("kps.yaml", manifests)])?;
//! let prometheus = &loaded.resources.prometheuses[0];
//! let generated = generate(
//!     &Settings::from_prometheus(prometheus),
//!     &Selection::from_prometheus(prometheus),
//!     &loaded.resources,
//! )?;
//!
//! let jobs: Vec<&str> = generated.scrape_configs.iter().map(|j| j.job_name()).collect();
//! assert_eq!(jobs, ["serviceMonitor/monitoring/node-exporter/0"]);
//! let broken = generated.outcome(ResourceKind::ServiceMonitor, "monitoring", "broken");
//! assert_eq!(
//!     broken.map(|o| &o.status),
//!     Some(&Status::Rejected {
//!         reason: "endpoints[0]: scrapeTimeout \"1m\" greater than scrapeInterval \"10s\"".into()
//!     })
//! );
//! // A Prometheus config (`global` + `scrape_configs`) promshard loads as is.
//! let config = promshard_config::Config::from_yaml_str(&generated.to_yaml_string()?, "kps")?;
//! assert_eq!(config.scrape_configs.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is followed
//!
//! prometheus-operator **v0.89.0**: `pkg/prometheus/promcfg.go` for
//! generation, `resource_selector.go` and the `validation` package for what
//! is rejected, the asset store for Secret/ConfigMap lookups and TLS file
//! names, and the config reloader for `$(VAR)` expansion. Without
//! `spec.version` the Prometheus version is
//! [`version::DEFAULT_PROMETHEUS_VERSION`]; the scrape configs are the same
//! for any version from 3.8.0 on.
//!
//! # How the pieces fit
//!
//! - [`load`]: manifests (YAML or JSON, multi-document, `List` kinds) to
//!   [`load::Resources`]. A caller with a Kubernetes client fills
//!   `Resources` from its watch caches instead.
//! - [`selection`]: which resources a Prometheus selects ([`Selection`],
//!   from the Prometheus resource or from flags).
//! - [`settings`]: the Prometheus fields that change generation.
//! - [`generate`]: everything to a [`generate::Generated`]: the jobs in the
//!   operator's order, the scrape part of `global`, the TLS files the jobs
//!   refer to, and an outcome per resource (accepted with its jobs,
//!   rejected with the operator's reason, or not selected and why).
//!   Generation is pure and linear in the number of resources (about 90 ms
//!   for 2,000 ServiceMonitors and 500 PodMonitors, see the
//!   `generate_many` example), so a watcher regenerates on every change.
//! - [`config_secret`]: the operator's own `prometheus.yaml.gz` and the
//!   reloader's `$(POD_NAME)`/`$(SHARD)` expansion. The generated sharding
//!   rules keep every target once `SHARD` is `0` of one shard.
//!
//! Secret values (basic auth, tokens, OAuth2 client secrets, TLS keys) are
//! written inline as the operator writes them, but typed
//! ([`yaml::Node::Secret`]): `Debug` and [`generate::Generated::to_redacted_yaml_string`]
//! print `<secret>`.
//!
//! # Not covered
//!
//! - ScrapeConfig service discoveries other than static, file, HTTP,
//!   Kubernetes and DNS (Consul, EC2, Azure, GCE, OpenStack, DigitalOcean,
//!   Kuma, Eureka, Docker, Docker Swarm, Linode, Hetzner, Nomad, PuppetDB,
//!   Lightsail, OVHcloud, Scaleway, IONOS): such fields are ignored.
//! - `apiserverConfig` (the Kubernetes SD `api_server` and its auth),
//!   DaemonSet mode, `additionalScrapeConfigs`, the non-scrape parts of the
//!   configuration (alerting, remote write/read, rule files, storage, OTLP,
//!   tracing, runtime, `evaluation_interval`, `scrape_failure_log_file`).
//! - TLS material is checked for presence and PEM framing, not parsed as
//!   X.509, and a client certificate is not matched with its key.
#![forbid(unsafe_code)]

pub mod config_secret;
pub mod generate;
pub mod load;
pub mod model;
pub mod selection;
pub mod settings;
mod store;
mod validate;
pub mod version;
pub mod yaml;

pub use selection::Selection;
pub use settings::Settings;
