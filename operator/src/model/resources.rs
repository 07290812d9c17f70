//! The scrape resources: ServiceMonitor, PodMonitor, Probe
//! (`monitoring.coreos.com/v1`) and ScrapeConfig (`v1alpha1`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::common::{
    AttachMetadata, BasicAuth, NamespaceSelector, NativeHistogramConfig, OAuth2, ProxyConfig,
    RelabelConfig, SafeAuthorization, SafeTlsConfig, TlsConfig,
};
use super::meta::{IntOrString, LabelSelector, ObjectMeta, SecretKeySelector};

/// The per-job limits every scrape resource has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// `sampleLimit`.
    #[serde(default)]
    pub sample_limit: Option<u64>,
    /// `targetLimit`.
    #[serde(default)]
    pub target_limit: Option<u64>,
    /// `labelLimit`.
    #[serde(default)]
    pub label_limit: Option<u64>,
    /// `labelNameLengthLimit`.
    #[serde(default)]
    pub label_name_length_limit: Option<u64>,
    /// `labelValueLengthLimit`.
    #[serde(default)]
    pub label_value_length_limit: Option<u64>,
    /// `keepDroppedTargets`.
    #[serde(default)]
    pub keep_dropped_targets: Option<u64>,
}

/// A `ServiceMonitor`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServiceMonitor {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: ServiceMonitorSpec,
}

/// `ServiceMonitor.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// `jobLabel`.
    #[serde(default)]
    pub job_label: String,
    /// `targetLabels`.
    #[serde(default)]
    pub target_labels: Vec<String>,
    /// `podTargetLabels`.
    #[serde(default)]
    pub pod_target_labels: Vec<String>,
    /// `endpoints`.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// `selector` (of Services).
    #[serde(default)]
    pub selector: LabelSelector,
    /// `selectorMechanism`: `RelabelSelector` (default) or `RoleSelector`.
    #[serde(default)]
    pub selector_mechanism: Option<String>,
    /// `namespaceSelector`.
    #[serde(default)]
    pub namespace_selector: NamespaceSelector,
    /// The limits.
    #[serde(flatten)]
    pub limits: Limits,
    /// `scrapeProtocols`.
    #[serde(default)]
    pub scrape_protocols: Vec<String>,
    /// `fallbackScrapeProtocol`.
    #[serde(default)]
    pub fallback_scrape_protocol: Option<String>,
    /// `attachMetadata`.
    #[serde(default)]
    pub attach_metadata: Option<AttachMetadata>,
    /// `scrapeClass`.
    #[serde(default, rename = "scrapeClass")]
    pub scrape_class_name: Option<String>,
    /// `bodySizeLimit`.
    #[serde(default)]
    pub body_size_limit: Option<String>,
    /// `serviceDiscoveryRole`: `Endpoints` or `EndpointSlice`.
    #[serde(default)]
    pub service_discovery_role: Option<String>,
    /// The native histogram fields.
    #[serde(flatten)]
    pub native_histograms: NativeHistogramConfig,
}

/// One `ServiceMonitor.spec.endpoints` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// `port` (a Service port name).
    #[serde(default)]
    pub port: String,
    /// `targetPort` (deprecated).
    #[serde(default)]
    pub target_port: Option<IntOrString>,
    /// `path`.
    #[serde(default)]
    pub path: String,
    /// `scheme`.
    #[serde(default)]
    pub scheme: Option<String>,
    /// `params`.
    #[serde(default)]
    pub params: Option<BTreeMap<String, Vec<String>>>,
    /// `interval`.
    #[serde(default)]
    pub interval: String,
    /// `scrapeTimeout`.
    #[serde(default)]
    pub scrape_timeout: String,
    /// `tlsConfig`.
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    /// `bearerTokenFile` (deprecated).
    #[serde(default)]
    pub bearer_token_file: String,
    /// `bearerTokenSecret` (deprecated).
    #[serde(default)]
    pub bearer_token_secret: Option<SecretKeySelector>,
    /// `authorization`.
    #[serde(default)]
    pub authorization: Option<SafeAuthorization>,
    /// `honorLabels`.
    #[serde(default)]
    pub honor_labels: bool,
    /// `honorTimestamps`.
    #[serde(default)]
    pub honor_timestamps: Option<bool>,
    /// `trackTimestampsStaleness`.
    #[serde(default)]
    pub track_timestamps_staleness: Option<bool>,
    /// `basicAuth`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// `oauth2`.
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    /// `metricRelabelings`.
    #[serde(default)]
    pub metric_relabelings: Vec<RelabelConfig>,
    /// `relabelings`.
    #[serde(default)]
    pub relabelings: Vec<RelabelConfig>,
    /// Proxy settings.
    #[serde(flatten)]
    pub proxy: ProxyConfig,
    /// `followRedirects`.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// `enableHttp2`.
    #[serde(default, alias = "enableHTTP2")]
    pub enable_http2: Option<bool>,
    /// `filterRunning`.
    #[serde(default)]
    pub filter_running: Option<bool>,
}

/// A `PodMonitor`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PodMonitor {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: PodMonitorSpec,
}

/// `PodMonitor.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMonitorSpec {
    /// `jobLabel`.
    #[serde(default)]
    pub job_label: String,
    /// `podTargetLabels`.
    #[serde(default)]
    pub pod_target_labels: Vec<String>,
    /// `podMetricsEndpoints`.
    #[serde(default)]
    pub pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
    /// `selector` (of Pods).
    #[serde(default)]
    pub selector: LabelSelector,
    /// `selectorMechanism`.
    #[serde(default)]
    pub selector_mechanism: Option<String>,
    /// `namespaceSelector`.
    #[serde(default)]
    pub namespace_selector: NamespaceSelector,
    /// The limits.
    #[serde(flatten)]
    pub limits: Limits,
    /// `scrapeProtocols`.
    #[serde(default)]
    pub scrape_protocols: Vec<String>,
    /// `fallbackScrapeProtocol`.
    #[serde(default)]
    pub fallback_scrape_protocol: Option<String>,
    /// `attachMetadata`.
    #[serde(default)]
    pub attach_metadata: Option<AttachMetadata>,
    /// `scrapeClass`.
    #[serde(default, rename = "scrapeClass")]
    pub scrape_class_name: Option<String>,
    /// `bodySizeLimit`.
    #[serde(default)]
    pub body_size_limit: Option<String>,
    /// The native histogram fields.
    #[serde(flatten)]
    pub native_histograms: NativeHistogramConfig,
}

/// One `PodMonitor.spec.podMetricsEndpoints` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetricsEndpoint {
    /// `port` (a container port name).
    #[serde(default)]
    pub port: Option<String>,
    /// `portNumber`.
    #[serde(default)]
    pub port_number: Option<i64>,
    /// `targetPort` (deprecated).
    #[serde(default)]
    pub target_port: Option<IntOrString>,
    /// `path`.
    #[serde(default)]
    pub path: String,
    /// `scheme`.
    #[serde(default)]
    pub scheme: Option<String>,
    /// `params`.
    #[serde(default)]
    pub params: Option<BTreeMap<String, Vec<String>>>,
    /// `interval`.
    #[serde(default)]
    pub interval: String,
    /// `scrapeTimeout`.
    #[serde(default)]
    pub scrape_timeout: String,
    /// `honorLabels`.
    #[serde(default)]
    pub honor_labels: bool,
    /// `honorTimestamps`.
    #[serde(default)]
    pub honor_timestamps: Option<bool>,
    /// `trackTimestampsStaleness`.
    #[serde(default)]
    pub track_timestamps_staleness: Option<bool>,
    /// `metricRelabelings`.
    #[serde(default)]
    pub metric_relabelings: Vec<RelabelConfig>,
    /// `relabelings`.
    #[serde(default)]
    pub relabelings: Vec<RelabelConfig>,
    /// `filterRunning`.
    #[serde(default)]
    pub filter_running: Option<bool>,
    /// `tlsConfig`.
    #[serde(default)]
    pub tls_config: Option<SafeTlsConfig>,
    /// `bearerTokenSecret` (deprecated).
    #[serde(default)]
    pub bearer_token_secret: Option<SecretKeySelector>,
    /// `basicAuth`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// `oauth2`.
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    /// `authorization`.
    #[serde(default)]
    pub authorization: Option<SafeAuthorization>,
    /// Proxy settings.
    #[serde(flatten)]
    pub proxy: ProxyConfig,
    /// `followRedirects`.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// `enableHttp2`.
    #[serde(default, alias = "enableHTTP2")]
    pub enable_http2: Option<bool>,
}

/// A `Probe`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Probe {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: ProbeSpec,
}

/// `Probe.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    /// `jobName`.
    #[serde(default)]
    pub job_name: String,
    /// `prober`.
    #[serde(default)]
    pub prober: ProberSpec,
    /// `module`.
    #[serde(default)]
    pub module: String,
    /// `targets`.
    #[serde(default)]
    pub targets: ProbeTargets,
    /// `interval`.
    #[serde(default)]
    pub interval: String,
    /// `scrapeTimeout`.
    #[serde(default)]
    pub scrape_timeout: String,
    /// `tlsConfig`.
    #[serde(default)]
    pub tls_config: Option<SafeTlsConfig>,
    /// `bearerTokenSecret` (deprecated).
    #[serde(default)]
    pub bearer_token_secret: Option<SecretKeySelector>,
    /// `basicAuth`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// `oauth2`.
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    /// `metricRelabelings`.
    #[serde(default)]
    pub metric_relabelings: Vec<RelabelConfig>,
    /// `authorization`.
    #[serde(default)]
    pub authorization: Option<SafeAuthorization>,
    /// The limits.
    #[serde(flatten)]
    pub limits: Limits,
    /// `scrapeProtocols`.
    #[serde(default)]
    pub scrape_protocols: Vec<String>,
    /// `fallbackScrapeProtocol`.
    #[serde(default)]
    pub fallback_scrape_protocol: Option<String>,
    /// `scrapeClass`.
    #[serde(default, rename = "scrapeClass")]
    pub scrape_class_name: Option<String>,
    /// `params`.
    #[serde(default)]
    pub params: Vec<ProbeParam>,
    /// The native histogram fields.
    #[serde(flatten)]
    pub native_histograms: NativeHistogramConfig,
}

/// `Probe.spec.prober`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProberSpec {
    /// `url`: the prober's `host[:port]`.
    #[serde(default)]
    pub url: String,
    /// `scheme`.
    #[serde(default)]
    pub scheme: Option<String>,
    /// `path` (the CRD defaults it to `/probe`).
    #[serde(default = "default_probe_path")]
    pub path: String,
    /// Proxy settings.
    #[serde(flatten)]
    pub proxy: ProxyConfig,
}

impl Default for ProberSpec {
    fn default() -> Self {
        Self {
            url: String::new(),
            scheme: None,
            path: default_probe_path(),
            proxy: ProxyConfig::default(),
        }
    }
}

fn default_probe_path() -> String {
    "/probe".into()
}

/// `Probe.spec.params` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ProbeParam {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `values`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// `Probe.spec.targets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeTargets {
    /// `staticConfig`.
    #[serde(default)]
    pub static_config: Option<ProbeStaticConfig>,
    /// `ingress`.
    #[serde(default)]
    pub ingress: Option<ProbeIngress>,
}

/// `Probe.spec.targets.staticConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeStaticConfig {
    /// `static`: the probed targets.
    #[serde(default, rename = "static")]
    pub targets: Vec<String>,
    /// `labels`.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// `relabelingConfigs`.
    #[serde(default)]
    pub relabeling_configs: Vec<RelabelConfig>,
}

/// `Probe.spec.targets.ingress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeIngress {
    /// `selector`.
    #[serde(default)]
    pub selector: LabelSelector,
    /// `namespaceSelector`.
    #[serde(default)]
    pub namespace_selector: NamespaceSelector,
    /// `relabelingConfigs`.
    #[serde(default)]
    pub relabeling_configs: Vec<RelabelConfig>,
}

/// A `ScrapeConfig` (`monitoring.coreos.com/v1alpha1`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ScrapeConfig {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: ScrapeConfigSpec,
}

/// `ScrapeConfig.spec` (the service discoveries modelled are static, file,
/// HTTP, Kubernetes and DNS).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeConfigSpec {
    /// `jobName`.
    #[serde(default)]
    pub job_name: Option<String>,
    /// `staticConfigs`.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// `fileSDConfigs`.
    #[serde(default, rename = "fileSDConfigs")]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// `httpSDConfigs`.
    #[serde(default, rename = "httpSDConfigs")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// `kubernetesSDConfigs`.
    #[serde(default, rename = "kubernetesSDConfigs")]
    pub kubernetes_sd_configs: Vec<K8sSdConfig>,
    /// `dnsSDConfigs`.
    #[serde(default, rename = "dnsSDConfigs")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// `relabelings`.
    #[serde(default)]
    pub relabelings: Vec<RelabelConfig>,
    /// `metricRelabelings`.
    #[serde(default)]
    pub metric_relabelings: Vec<RelabelConfig>,
    /// `honorTimestamps`.
    #[serde(default)]
    pub honor_timestamps: Option<bool>,
    /// `trackTimestampsStaleness`.
    #[serde(default)]
    pub track_timestamps_staleness: Option<bool>,
    /// `honorLabels`.
    #[serde(default)]
    pub honor_labels: Option<bool>,
    /// `params`.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// `scrapeInterval`.
    #[serde(default)]
    pub scrape_interval: Option<String>,
    /// `scrapeTimeout`.
    #[serde(default)]
    pub scrape_timeout: Option<String>,
    /// `scrapeProtocols`.
    #[serde(default)]
    pub scrape_protocols: Vec<String>,
    /// `fallbackScrapeProtocol`.
    #[serde(default)]
    pub fallback_scrape_protocol: Option<String>,
    /// `scheme`.
    #[serde(default)]
    pub scheme: Option<String>,
    /// `metricsPath`.
    #[serde(default)]
    pub metrics_path: Option<String>,
    /// `enableCompression`.
    #[serde(default)]
    pub enable_compression: Option<bool>,
    /// `enableHTTP2`.
    #[serde(default, rename = "enableHTTP2", alias = "enableHttp2")]
    pub enable_http2: Option<bool>,
    /// `basicAuth`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`.
    #[serde(default)]
    pub authorization: Option<SafeAuthorization>,
    /// `oauth2`.
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    /// `tlsConfig`.
    #[serde(default)]
    pub tls_config: Option<SafeTlsConfig>,
    /// The limits.
    #[serde(flatten)]
    pub limits: Limits,
    /// `bodySizeLimit`.
    #[serde(default)]
    pub body_size_limit: Option<String>,
    /// `nameValidationScheme`.
    #[serde(default)]
    pub name_validation_scheme: Option<String>,
    /// `nameEscapingScheme`.
    #[serde(default)]
    pub name_escaping_scheme: Option<String>,
    /// `scrapeClass`.
    #[serde(default, rename = "scrapeClass")]
    pub scrape_class_name: Option<String>,
    /// Proxy settings.
    #[serde(flatten)]
    pub proxy: ProxyConfig,
    /// The native histogram fields.
    #[serde(flatten)]
    pub native_histograms: NativeHistogramConfig,
}

/// `staticConfigs` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StaticConfig {
    /// `targets`.
    #[serde(default)]
    pub targets: Vec<String>,
    /// `labels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `fileSDConfigs` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSdConfig {
    /// `files`.
    #[serde(default)]
    pub files: Vec<String>,
    /// `refreshInterval`.
    #[serde(default)]
    pub refresh_interval: Option<String>,
}

/// `httpSDConfigs` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpSdConfig {
    /// `url`.
    #[serde(default)]
    pub url: String,
    /// `refreshInterval`.
    #[serde(default)]
    pub refresh_interval: Option<String>,
    /// `basicAuth`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`.
    #[serde(default)]
    pub authorization: Option<SafeAuthorization>,
    /// `oauth2`.
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    /// `tlsConfig`.
    #[serde(default)]
    pub tls_config: Option<SafeTlsConfig>,
    /// Proxy settings.
    #[serde(flatten)]
    pub proxy: ProxyConfig,
    /// `followRedirects`.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// `enableHTTP2`.
    #[serde(default, rename = "enableHTTP2", alias = "enableHttp2")]
    pub enable_http2: Option<bool>,
}

/// `kubernetesSDConfigs` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct K8sSdConfig {
    /// `apiServer`.
    #[serde(default)]
    pub api_server: Option<String>,
    /// `role`.
    #[serde(default)]
    pub role: String,
    /// `namespaces`.
    #[serde(default)]
    pub namespaces: Option<K8sSdNamespaces>,
    /// `attachMetadata`.
    #[serde(default)]
    pub attach_metadata: Option<AttachMetadata>,
    /// `selectors`.
    #[serde(default)]
    pub selectors: Vec<K8sSdSelector>,
    /// `basicAuth`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`.
    #[serde(default)]
    pub authorization: Option<SafeAuthorization>,
    /// `oauth2`.
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    /// Proxy settings.
    #[serde(flatten)]
    pub proxy: ProxyConfig,
    /// `followRedirects`.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// `enableHTTP2`.
    #[serde(default, rename = "enableHTTP2", alias = "enableHttp2")]
    pub enable_http2: Option<bool>,
    /// `tlsConfig`.
    #[serde(default)]
    pub tls_config: Option<SafeTlsConfig>,
}

/// `kubernetesSDConfigs[].namespaces`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct K8sSdNamespaces {
    /// `ownNamespace`.
    #[serde(default)]
    pub own_namespace: Option<bool>,
    /// `names`.
    #[serde(default)]
    pub names: Vec<String>,
}

/// `kubernetesSDConfigs[].selectors` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct K8sSdSelector {
    /// `role`.
    #[serde(default)]
    pub role: String,
    /// `label`.
    #[serde(default)]
    pub label: Option<String>,
    /// `field`.
    #[serde(default)]
    pub field: Option<String>,
}

/// `dnsSDConfigs` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsSdConfig {
    /// `names`.
    #[serde(default)]
    pub names: Vec<String>,
    /// `refreshInterval`.
    #[serde(default)]
    pub refresh_interval: Option<String>,
    /// `type`.
    #[serde(default, rename = "type")]
    pub record_type: Option<String>,
    /// `port`.
    #[serde(default)]
    pub port: Option<i64>,
}
