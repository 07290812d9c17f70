//! Generation: selected, valid resources to scrape configs, in the
//! operator's order (ServiceMonitors, PodMonitors, Probes, ScrapeConfigs;
//! each kind sorted by `namespace/name`), with a per-resource outcome.
//!
//! Generation is a pure function of its inputs, linear in the number of
//! resources; a caller that watches resources calls [`generate`] again on
//! every change.

mod common;
mod global;
mod pod_monitor;
mod probe;
mod scrape_config;
mod service_monitor;

use std::collections::BTreeMap;

use promshard_config::Secret as SecretValue;
use serde_yaml_ng::Value;

use crate::load::Resources;
use crate::model::{ObjectMeta, RelabelConfig, ScrapeClass};
use crate::selection::{NamespaceIndex, ResourceKind, Selected, Selection};
use crate::settings::Settings;
use crate::store::Store;
use crate::version::{DEFAULT_PROMETHEUS_VERSION, Version};
use crate::yaml::Node;

use common::Ctx;

/// A problem with the Prometheus settings themselves: the operator
/// generates nothing for such a Prometheus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// `spec.version` is not a version, or not Prometheus 2 or 3.
    #[error("{0}")]
    Version(String),
    /// `spec.scrapeClasses` is invalid.
    #[error("failed to parse scrape classes: {0}")]
    ScrapeClasses(String),
    /// `spec.scrapeTimeout` is invalid or longer than `spec.scrapeInterval`.
    #[error("{0}")]
    ScrapeTimeout(String),
    /// A selector cannot be evaluated.
    #[error(transparent)]
    Selector(#[from] crate::selection::SelectorError),
}

/// What happened to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Selected and valid: these jobs were generated from it.
    Accepted {
        /// The job names, in order.
        jobs: Vec<String>,
    },
    /// Selected but invalid: skipped, as the operator skips it.
    Rejected {
        /// The operator's reason.
        reason: String,
    },
    /// Not selected by this Prometheus.
    NotSelected {
        /// Which selector left it out.
        reason: String,
    },
}

/// The outcome of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Its kind.
    pub kind: ResourceKind,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// Accepted, rejected or not selected.
    pub status: Status,
}

/// One generated job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The resource kind it comes from.
    pub kind: ResourceKind,
    /// The resource's namespace.
    pub namespace: String,
    /// The resource's name.
    pub name: String,
    /// The scrape config (`job_name` first), secrets typed.
    pub config: Node,
}

impl Job {
    /// `job_name`.
    pub fn job_name(&self) -> &str {
        self.config
            .get("job_name")
            .and_then(Node::as_str)
            .unwrap_or_default()
    }
}

/// Everything generation produced.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The scrape-related part of `global` (scrape interval and timeout,
    /// protocols, external labels, global limits): with Prometheus >= 2.45
    /// the operator writes enforced limits there instead of in each job.
    pub global: Node,
    /// The jobs, in the operator's order.
    pub scrape_configs: Vec<Job>,
    /// One outcome per resource given, in the same order.
    pub outcomes: Vec<Outcome>,
    /// TLS files the jobs refer to (`/etc/prometheus/certs/<name>`), by
    /// name, with their contents; empty with [`Settings::inline_tls`].
    pub tls_assets: BTreeMap<String, SecretValue>,
}

impl Generated {
    /// `scrape_configs` as the operator writes it (secrets inline).
    pub fn scrape_configs_value(&self) -> Value {
        Value::Sequence(
            self.scrape_configs
                .iter()
                .map(|j| j.config.to_value())
                .collect(),
        )
    }

    /// `scrape_configs` with secrets replaced by `<secret>`.
    pub fn scrape_configs_redacted(&self) -> Value {
        Value::Sequence(
            self.scrape_configs
                .iter()
                .map(|j| j.config.to_redacted_value())
                .collect(),
        )
    }

    /// A Prometheus config document with `global` and `scrape_configs`
    /// (secrets inline), ready for [`promshard_config::Config::from_yaml_str`].
    pub fn to_yaml_string(&self) -> Result<String, serde_yaml_ng::Error> {
        self.document(false)
    }

    /// [`Generated::to_yaml_string`] with secrets replaced by `<secret>`.
    pub fn to_redacted_yaml_string(&self) -> Result<String, serde_yaml_ng::Error> {
        self.document(true)
    }

    fn document(&self, redact: bool) -> Result<String, serde_yaml_ng::Error> {
        let mut doc = serde_yaml_ng::Mapping::new();
        let (global, jobs) = if redact {
            (
                self.global.to_redacted_value(),
                self.scrape_configs_redacted(),
            )
        } else {
            (self.global.to_value(), self.scrape_configs_value())
        };
        doc.insert("global".into(), global);
        doc.insert("scrape_configs".into(), jobs);
        serde_yaml_ng::to_string(&Value::Mapping(doc))
    }

    /// The outcome of the resource `kind` `namespace/name`.
    pub fn outcome(&self, kind: ResourceKind, namespace: &str, name: &str) -> Option<&Outcome> {
        self.outcomes
            .iter()
            .find(|o| o.kind == kind && o.namespace == namespace && o.name == name)
    }
}

/// Generates the scrape configs a Prometheus with `settings` and `selection`
/// would run for `resources` (Secrets, ConfigMaps and Namespaces are read
/// from there too).
pub fn generate(
    settings: &Settings,
    selection: &Selection,
    resources: &Resources,
) -> Result<Generated, GenerateError> {
    let spec = &settings.prometheus.spec;
    let version_text = spec.version.as_deref().filter(|v| !v.is_empty());
    let version_text = version_text.unwrap_or(DEFAULT_PROMETHEUS_VERSION);
    let version = Version::parse(version_text)
        .map_err(|e| GenerateError::Version(format!("failed to parse Prometheus version: {e}")))?;
    if version.major != 2 && version.major != 3 {
        return Err(GenerateError::Version(format!(
            "unsupported Prometheus version {version_text:?}"
        )));
    }
    let (classes, default_class) = scrape_classes(&spec.scrape_classes, &version)?;
    if !spec.scrape_timeout.is_empty() {
        compare_timeout(&spec.scrape_timeout, &spec.scrape_interval)
            .map_err(GenerateError::ScrapeTimeout)?;
    }
    selection.validate()?;

    let ctx = Ctx {
        version,
        spec,
        classes,
        default_class,
        store: Store::new(&resources.secrets, &resources.config_maps),
        inline_tls: settings.inline_tls,
        endpoint_slice_supported: settings.endpoint_slice_supported,
        shards: i64::from(spec.shards.filter(|s| *s > 1).unwrap_or(1)),
        tls_assets: Default::default(),
    };
    let namespaces = NamespaceIndex::new(
        &resources.namespaces,
        resources
            .service_monitors
            .iter()
            .map(|m| m.metadata.namespace.as_str())
            .chain(
                resources
                    .pod_monitors
                    .iter()
                    .map(|m| m.metadata.namespace.as_str()),
            )
            .chain(
                resources
                    .probes
                    .iter()
                    .map(|m| m.metadata.namespace.as_str()),
            )
            .chain(
                resources
                    .scrape_configs
                    .iter()
                    .map(|m| m.metadata.namespace.as_str()),
            ),
    );

    let mut run = Run {
        ctx: &ctx,
        selection,
        namespaces: &namespaces,
        jobs: Vec::new(),
        outcomes: Vec::new(),
    };
    run.kind(
        ResourceKind::ServiceMonitor,
        &resources.service_monitors,
        |m| &m.metadata,
        |ctx, o| ctx.checker().service_monitor(o),
        service_monitor::generate,
    );
    run.kind(
        ResourceKind::PodMonitor,
        &resources.pod_monitors,
        |m| &m.metadata,
        |ctx, o| ctx.checker().pod_monitor(o),
        pod_monitor::generate,
    );
    run.kind(
        ResourceKind::Probe,
        &resources.probes,
        |m| &m.metadata,
        |ctx, o| ctx.checker().probe(o),
        probe::generate,
    );
    run.kind(
        ResourceKind::ScrapeConfig,
        &resources.scrape_configs,
        |m| &m.metadata,
        |ctx, o| ctx.checker().scrape_config(o),
        scrape_config::generate,
    );

    Ok(Generated {
        global: global::global(&ctx, &settings.prometheus.metadata),
        scrape_configs: run.jobs,
        outcomes: run.outcomes,
        tls_assets: ctx.tls_assets.into_inner(),
    })
}

struct Run<'r, 'a> {
    ctx: &'r Ctx<'a>,
    selection: &'r Selection,
    namespaces: &'r NamespaceIndex,
    jobs: Vec<Job>,
    outcomes: Vec<Outcome>,
}

impl Run<'_, '_> {
    fn kind<T>(
        &mut self,
        kind: ResourceKind,
        objects: &[T],
        meta: impl Fn(&T) -> &ObjectMeta,
        check: impl Fn(&Ctx<'_>, &T) -> Result<(), String>,
        generate: impl Fn(&Ctx<'_>, &T) -> Vec<Node>,
    ) {
        // The operator keys objects by "namespace/name" (a later duplicate
        // replaces an earlier one) and generates in key order.
        let mut by_key: BTreeMap<String, &T> = BTreeMap::new();
        for o in objects {
            let m = meta(o);
            by_key.insert(format!("{}/{}", m.namespace, m.name), o);
        }
        for o in by_key.into_values() {
            let namespace = meta(o).namespace.as_str();
            let name = meta(o).name.as_str();
            let status = match self.selection.selects(kind, meta(o), self.namespaces) {
                Selected::No(reason) => Status::NotSelected { reason },
                Selected::Yes => match check(self.ctx, o) {
                    Err(reason) => Status::Rejected { reason },
                    Ok(()) => {
                        let configs = generate(self.ctx, o);
                        let mut names = Vec::with_capacity(configs.len());
                        for config in configs {
                            let job = Job {
                                kind,
                                namespace: namespace.to_owned(),
                                name: name.to_owned(),
                                config,
                            };
                            names.push(job.job_name().to_owned());
                            self.jobs.push(job);
                        }
                        Status::Accepted { jobs: names }
                    }
                },
            };
            self.outcomes.push(Outcome {
                kind,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                status,
            });
        }
    }
}

type ScrapeClasses<'a> = (BTreeMap<&'a str, &'a ScrapeClass>, Option<&'a ScrapeClass>);

fn scrape_classes<'a>(
    classes: &'a [ScrapeClass],
    version: &Version,
) -> Result<ScrapeClasses<'a>, GenerateError> {
    let mut by_name = BTreeMap::new();
    let mut default: Option<&ScrapeClass> = None;
    for class in classes {
        let invalid = |what: &str, rules: &[RelabelConfig]| {
            crate::validate::relabel_configs(rules, version).map_err(|e| {
                GenerateError::ScrapeClasses(format!(
                    "invalid {what} for scrapeClass {}: {e}",
                    class.name
                ))
            })
        };
        invalid("relabelings", &class.relabelings)?;
        invalid("metric relabelings", &class.metric_relabelings)?;
        if class.default == Some(true) {
            if default.is_some() {
                return Err(GenerateError::ScrapeClasses(
                    "multiple default scrape classes defined".into(),
                ));
            }
            default = Some(class);
        }
        by_name.insert(class.name.as_str(), class);
    }
    Ok((by_name, default))
}

/// `CompareScrapeTimeoutToScrapeInterval`.
pub(crate) fn compare_timeout(timeout: &str, interval: &str) -> Result<(), String> {
    let i = promshard_config::PromDuration::parse(interval)
        .map_err(|e| format!("invalid scrapeInterval {interval:?}: {e}"))?;
    let t = promshard_config::PromDuration::parse(timeout)
        .map_err(|e| format!("invalid scrapeTimeout: {timeout:?}: {e}"))?;
    if t > i {
        return Err(format!(
            "scrapeTimeout {timeout:?} greater than scrapeInterval {interval:?}"
        ));
    }
    Ok(())
}
