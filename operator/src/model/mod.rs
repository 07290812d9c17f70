//! The Kubernetes objects generation reads, as serde types: the
//! prometheus-operator resources (`monitoring.coreos.com/v1` ServiceMonitor,
//! PodMonitor, Probe, Prometheus; `v1alpha1` ScrapeConfig) and the core
//! objects they reference (Secret, ConfigMap, Namespace).
//!
//! Field names are the CRDs' JSON names; fields the operator does not use
//! for scrape configs are not modelled and, like the API server pruning
//! unknown fields of a structural CRD, unknown fields are ignored. Defaults
//! the CRDs declare (the API server applies them on write) are applied on
//! deserialization, so a manifest read from disk means what it would mean in
//! a cluster.

mod common;
mod core;
mod meta;
mod prometheus;
mod resources;

pub use common::{
    AttachMetadata, Authorization, BasicAuth, NamespaceSelector, NativeHistogramConfig, OAuth2,
    ProxyConfig, RelabelConfig, SafeAuthorization, SafeTlsConfig, SecretOrConfigMap, TlsConfig,
};
pub use core::{ConfigMap, Namespace, Secret};
pub use meta::{
    ConfigMapKeySelector, IntOrString, LabelSelector, LabelSelectorRequirement, ObjectMeta,
    SecretKeySelector,
};
pub use prometheus::{ArbitraryFsAccess, ObjectReference, Prometheus, PrometheusSpec, ScrapeClass};
pub use resources::{
    DnsSdConfig, Endpoint, FileSdConfig, HttpSdConfig, K8sSdConfig, K8sSdNamespaces, K8sSdSelector,
    Limits, PodMetricsEndpoint, PodMonitor, PodMonitorSpec, Probe, ProbeIngress, ProbeParam,
    ProbeSpec, ProbeStaticConfig, ProbeTargets, ProberSpec, ScrapeConfig, ScrapeConfigSpec,
    ServiceMonitor, ServiceMonitorSpec, StaticConfig,
};
