//! Which resources a Prometheus picks up, with the operator's meaning of its
//! eight selector fields:
//!
//! - a resource selector that is unset (`None`) selects nothing; an empty
//!   one (`{}`) selects every resource;
//! - a namespace selector that is unset selects only the Prometheus's own
//!   namespace; an empty one selects every namespace; otherwise the
//!   namespaces whose labels match.
//!
//! `ignoreNamespaceSelectors` does not take part here: it changes which
//! namespaces a selected *monitor* discovers targets in (generation), not
//! which monitors are selected.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{LabelSelector, LabelSelectorRequirement, Namespace, ObjectMeta, Prometheus};

/// The four scrape resource kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// `ServiceMonitor`.
    ServiceMonitor,
    /// `PodMonitor`.
    PodMonitor,
    /// `Probe`.
    Probe,
    /// `ScrapeConfig`.
    ScrapeConfig,
}

impl ResourceKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceMonitor => "ServiceMonitor",
            Self::PodMonitor => "PodMonitor",
            Self::Probe => "Probe",
            Self::ScrapeConfig => "ScrapeConfig",
        }
    }

    /// The API resource name (as `excludedFromEnforcement` names it).
    pub fn resource(self) -> &'static str {
        match self {
            Self::ServiceMonitor => "servicemonitors",
            Self::PodMonitor => "podmonitors",
            Self::Probe => "probes",
            Self::ScrapeConfig => "scrapeconfigs",
        }
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A selector that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SelectorError {
    /// The selector (`serviceMonitorSelector`, a flag, ...).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The selectors of a Prometheus: fill it from a [`Prometheus`] resource
/// ([`Selection::from_prometheus`]) or from flags ([`Selection::new`], then
/// [`LabelSelector::parse`] for each selector given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The Prometheus's namespace (what unset namespace selectors mean).
    pub prometheus_namespace: String,
    /// `serviceMonitorSelector`.
    pub service_monitor_selector: Option<LabelSelector>,
    /// `serviceMonitorNamespaceSelector`.
    pub service_monitor_namespace_selector: Option<LabelSelector>,
    /// `podMonitorSelector`.
    pub pod_monitor_selector: Option<LabelSelector>,
    /// `podMonitorNamespaceSelector`.
    pub pod_monitor_namespace_selector: Option<LabelSelector>,
    /// `probeSelector`.
    pub probe_selector: Option<LabelSelector>,
    /// `probeNamespaceSelector`.
    pub probe_namespace_selector: Option<LabelSelector>,
    /// `scrapeConfigSelector`.
    pub scrape_config_selector: Option<LabelSelector>,
    /// `scrapeConfigNamespaceSelector`.
    pub scrape_config_namespace_selector: Option<LabelSelector>,
}

/// Whether a resource is selected, and if not why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    /// Picked up.
    Yes,
    /// Not picked up, with the reason.
    No(String),
}

impl Selection {
    /// Every selector unset, as in a Prometheus resource that sets none: no
    /// resource is selected until a resource selector is given.
    pub fn new(prometheus_namespace: impl Into<String>) -> Self {
        Self {
            prometheus_namespace: prometheus_namespace.into(),
            ..Self::default()
        }
    }

    /// The selectors of a Prometheus resource.
    pub fn from_prometheus(prometheus: &Prometheus) -> Self {
        let s = &prometheus.spec;
        Self {
            prometheus_namespace: prometheus.metadata.namespace.clone(),
            service_monitor_selector: s.service_monitor_selector.clone(),
            service_monitor_namespace_selector: s.service_monitor_namespace_selector.clone(),
            pod_monitor_selector: s.pod_monitor_selector.clone(),
            pod_monitor_namespace_selector: s.pod_monitor_namespace_selector.clone(),
            probe_selector: s.probe_selector.clone(),
            probe_namespace_selector: s.probe_namespace_selector.clone(),
            scrape_config_selector: s.scrape_config_selector.clone(),
            scrape_config_namespace_selector: s.scrape_config_namespace_selector.clone(),
        }
    }

    fn selectors(&self, kind: ResourceKind) -> (&Option<LabelSelector>, &Option<LabelSelector>) {
        match kind {
            ResourceKind::ServiceMonitor => (
                &self.service_monitor_selector,
                &self.service_monitor_namespace_selector,
            ),
            ResourceKind::PodMonitor => (
                &self.pod_monitor_selector,
                &self.pod_monitor_namespace_selector,
            ),
            ResourceKind::Probe => (&self.probe_selector, &self.probe_namespace_selector),
            ResourceKind::ScrapeConfig => (
                &self.scrape_config_selector,
                &self.scrape_config_namespace_selector,
            ),
        }
    }

    /// Checks every selector can be evaluated (the operator fails the whole
    /// Prometheus otherwise).
    pub fn validate(&self) -> Result<(), SelectorError> {
        for kind in [
            ResourceKind::ServiceMonitor,
            ResourceKind::PodMonitor,
            ResourceKind::Probe,
            ResourceKind::ScrapeConfig,
        ] {
            let (resource, namespace) = self.selectors(kind);
            let name = field_name(kind);
            if let Some(s) = resource {
                s.validate().map_err(|message| SelectorError {
                    field: format!("{name}Selector"),
                    message,
                })?;
            }
            if let Some(s) = namespace {
                s.validate().map_err(|message| SelectorError {
                    field: format!("{name}NamespaceSelector"),
                    message,
                })?;
            }
        }
        Ok(())
    }

    /// Whether the Prometheus selects the resource of `kind` with `meta`.
    /// Call [`Selection::validate`] first: invalid selectors select nothing.
    pub fn selects(
        &self,
        kind: ResourceKind,
        meta: &ObjectMeta,
        namespaces: &NamespaceIndex,
    ) -> Selected {
        let (resource, namespace) = self.selectors(kind);
        let name = field_name(kind);
        let Some(resource) = resource else {
            return Selected::No(format!("{name}Selector is not set"));
        };
        match namespace {
            None if meta.namespace != self.prometheus_namespace => {
                return Selected::No(format!(
                    "{name}NamespaceSelector is not set: only namespace {:?} is selected",
                    self.prometheus_namespace
                ));
            }
            Some(sel) if !sel.matches(namespaces.labels(&meta.namespace)) => {
                return Selected::No(format!(
                    "namespace {:?} does not match {name}NamespaceSelector",
                    meta.namespace
                ));
            }
            _ => {}
        }
        if resource.matches(&meta.labels) {
            Selected::Yes
        } else {
            Selected::No(format!("labels do not match {name}Selector"))
        }
    }
}

fn field_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::ServiceMonitor => "serviceMonitor",
        ResourceKind::PodMonitor => "podMonitor",
        ResourceKind::Probe => "probe",
        ResourceKind::ScrapeConfig => "scrapeConfig",
    }
}

/// Namespace labels for namespace selectors. Every namespace carries
/// `kubernetes.io/metadata.name: <name>`, as the API server sets it; a
/// namespace known only because a resource lives in it has that label only.
#[derive(Debug, Clone, Default)]
pub struct NamespaceIndex {
    labels: BTreeMap<String, BTreeMap<String, String>>,
}

const NAME_LABEL: &str = "kubernetes.io/metadata.name";

impl NamespaceIndex {
    /// Indexes `namespaces`, plus `extra` namespace names (those resources
    /// live in) without labels of their own.
    pub fn new<'a>(namespaces: &[Namespace], extra: impl IntoIterator<Item = &'a str>) -> Self {
        let mut labels = BTreeMap::new();
        for ns in namespaces {
            let mut l = ns.metadata.labels.clone();
            l.insert(NAME_LABEL.into(), ns.metadata.name.clone());
            labels.insert(ns.metadata.name.clone(), l);
        }
        for name in extra.into_iter().collect::<BTreeSet<_>>() {
            labels
                .entry(name.to_owned())
                .or_insert_with(|| BTreeMap::from([(NAME_LABEL.into(), name.to_owned())]));
        }
        Self { labels }
    }

    fn labels(&self, namespace: &str) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.labels.get(namespace).unwrap_or(&EMPTY)
    }
}

impl LabelSelector {
    /// Checks the selector is one Kubernetes accepts.
    pub fn validate(&self) -> Result<(), String> {
        for r in &self.match_expressions {
            match r.operator.as_str() {
                "In" | "NotIn" if r.values.is_empty() => {
                    return Err(format!(
                        "key {:?}: for 'in', 'notin' operators, values set can't be empty",
                        r.key
                    ));
                }
                "Exists" | "DoesNotExist" if !r.values.is_empty() => {
                    return Err(format!(
                        "key {:?}: values set must be empty for exists and does not exist",
                        r.key
                    ));
                }
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            }
        }
        Ok(())
    }

    /// Whether `labels` match (all `matchLabels` and all `matchExpressions`;
    /// an empty selector matches everything).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }

    /// Parses the `kubectl -l` syntax: comma-separated `k=v`, `k==v`,
    /// `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. An empty string is
    /// the empty selector (everything).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut selector = Self::default();
        for term in split_terms(text)? {
            let term = term.trim();
            if term.is_empty() {
                return Err(format!("empty requirement in {text:?}"));
            }
            let requirement =
                |key: &str, operator: &str, values: Vec<String>| LabelSelectorRequirement {
                    key: key.trim().to_owned(),
                    operator: operator.into(),
                    values,
                };
            if let Some(key) = term.strip_prefix('!') {
                selector
                    .match_expressions
                    .push(requirement(key, "DoesNotExist", vec![]));
            } else if let Some((key, value)) = term.split_once("!=") {
                selector.match_expressions.push(requirement(
                    key,
                    "NotIn",
                    vec![value.trim().to_owned()],
                ));
            } else if let Some((key, value)) =
                term.split_once("==").or_else(|| term.split_once('='))
            {
                selector
                    .match_labels
                    .insert(key.trim().to_owned(), value.trim().to_owned());
            } else if let Some((key, rest)) = set_term(term, " notin ") {
                selector
                    .match_expressions
                    .push(requirement(key, "NotIn", rest?));
            } else if let Some((key, rest)) = set_term(term, " in ") {
                selector
                    .match_expressions
                    .push(requirement(key, "In", rest?));
            } else if term.contains(char::is_whitespace) || term.contains(['(', ')']) {
                return Err(format!("cannot parse requirement {term:?}"));
            } else {
                selector
                    .match_expressions
                    .push(requirement(term, "Exists", vec![]));
            }
        }
        selector.validate()?;
        Ok(selector)
    }
}

fn split_terms(text: &str) -> Result<Vec<&str>, String> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' in {text:?}"))?;
            }
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in {text:?}"));
    }
    let last = &text[start..];
    if !(terms.is_empty() && last.trim().is_empty()) {
        terms.push(last);
    }
    Ok(terms)
}

type SetTerm<'a> = Option<(&'a str, Result<Vec<String>, String>)>;

fn set_term<'a>(term: &'a str, operator: &str) -> SetTerm<'a> {
    let (key, rest) = term.split_once(operator)?;
    let values = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|inner| {
            inner
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        })
        .ok_or_else(|| format!("values of {term:?} must be in parentheses"));
    Some((key, values))
}
