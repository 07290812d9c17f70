//! The `monitoring.coreos.com/v1 Prometheus` fields that select resources or
//! change the scrape configs generated from them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::common::{AttachMetadata, Authorization, RelabelConfig, TlsConfig};
use super::meta::{LabelSelector, ObjectMeta};

/// A `Prometheus` resource.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Prometheus {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: PrometheusSpec,
}

/// `Prometheus.spec`, the fields that matter to scrape configs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrometheusSpec {
    /// `version`.
    pub version: Option<String>,
    /// `shards` (1 when unset).
    pub shards: Option<i32>,
    /// `scrapeInterval` (the CRD defaults it to `30s`).
    pub scrape_interval: String,
    /// `scrapeTimeout`.
    pub scrape_timeout: String,
    /// `scrapeProtocols`.
    pub scrape_protocols: Vec<String>,
    /// `externalLabels`.
    pub external_labels: BTreeMap<String, String>,
    /// `replicaExternalLabelName`.
    pub replica_external_label_name: Option<String>,
    /// `prometheusExternalLabelName`.
    pub prometheus_external_label_name: Option<String>,
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
    /// `ignoreNamespaceSelectors`.
    pub ignore_namespace_selectors: bool,
    /// `enforcedNamespaceLabel`.
    pub enforced_namespace_label: String,
    /// `excludedFromEnforcement`.
    pub excluded_from_enforcement: Vec<ObjectReference>,
    /// `overrideHonorLabels`.
    pub override_honor_labels: bool,
    /// `overrideHonorTimestamps`.
    pub override_honor_timestamps: bool,
    /// `arbitraryFSAccessThroughSMs`.
    #[serde(rename = "arbitraryFSAccessThroughSMs")]
    pub arbitrary_fs_access_through_sms: ArbitraryFsAccess,
    /// `podTargetLabels`.
    pub pod_target_labels: Vec<String>,
    /// `enforcedSampleLimit`.
    pub enforced_sample_limit: Option<u64>,
    /// `enforcedTargetLimit`.
    pub enforced_target_limit: Option<u64>,
    /// `enforcedLabelLimit`.
    pub enforced_label_limit: Option<u64>,
    /// `enforcedLabelNameLengthLimit`.
    pub enforced_label_name_length_limit: Option<u64>,
    /// `enforcedLabelValueLengthLimit`.
    pub enforced_label_value_length_limit: Option<u64>,
    /// `enforcedKeepDroppedTargets`.
    pub enforced_keep_dropped_targets: Option<u64>,
    /// `enforcedBodySizeLimit`.
    pub enforced_body_size_limit: String,
    /// `sampleLimit` (global).
    pub sample_limit: Option<u64>,
    /// `targetLimit` (global).
    pub target_limit: Option<u64>,
    /// `labelLimit` (global).
    pub label_limit: Option<u64>,
    /// `labelNameLengthLimit` (global).
    pub label_name_length_limit: Option<u64>,
    /// `labelValueLengthLimit` (global).
    pub label_value_length_limit: Option<u64>,
    /// `keepDroppedTargets` (global).
    pub keep_dropped_targets: Option<u64>,
    /// `bodySizeLimit` (global).
    pub body_size_limit: Option<String>,
    /// `scrapeClasses`.
    pub scrape_classes: Vec<ScrapeClass>,
    /// `serviceDiscoveryRole`: `Endpoints` (default) or `EndpointSlice`.
    pub service_discovery_role: Option<String>,
    /// `scrapeFailureLogFile`.
    pub scrape_failure_log_file: Option<String>,
    /// `nameValidationScheme`.
    pub name_validation_scheme: Option<String>,
    /// `nameEscapingScheme`.
    pub name_escaping_scheme: Option<String>,
    /// `convertClassicHistogramsToNHCB`.
    #[serde(rename = "convertClassicHistogramsToNHCB")]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    /// `scrapeClassicHistograms`.
    pub scrape_classic_histograms: Option<bool>,
    /// `scrapeNativeHistograms`.
    pub scrape_native_histograms: Option<bool>,
}

impl Default for PrometheusSpec {
    fn default() -> Self {
        Self {
            version: None,
            shards: None,
            scrape_interval: "30s".into(),
            scrape_timeout: String::new(),
            scrape_protocols: Vec::new(),
            external_labels: BTreeMap::new(),
            replica_external_label_name: None,
            prometheus_external_label_name: None,
            service_monitor_selector: None,
            service_monitor_namespace_selector: None,
            pod_monitor_selector: None,
            pod_monitor_namespace_selector: None,
            probe_selector: None,
            probe_namespace_selector: None,
            scrape_config_selector: None,
            scrape_config_namespace_selector: None,
            ignore_namespace_selectors: false,
            enforced_namespace_label: String::new(),
            excluded_from_enforcement: Vec::new(),
            override_honor_labels: false,
            override_honor_timestamps: false,
            arbitrary_fs_access_through_sms: ArbitraryFsAccess::default(),
            pod_target_labels: Vec::new(),
            enforced_sample_limit: None,
            enforced_target_limit: None,
            enforced_label_limit: None,
            enforced_label_name_length_limit: None,
            enforced_label_value_length_limit: None,
            enforced_keep_dropped_targets: None,
            enforced_body_size_limit: String::new(),
            sample_limit: None,
            target_limit: None,
            label_limit: None,
            label_name_length_limit: None,
            label_value_length_limit: None,
            keep_dropped_targets: None,
            body_size_limit: None,
            scrape_classes: Vec::new(),
            service_discovery_role: None,
            scrape_failure_log_file: None,
            name_validation_scheme: None,
            name_escaping_scheme: None,
            convert_classic_histograms_to_nhcb: None,
            scrape_classic_histograms: None,
            scrape_native_histograms: None,
        }
    }
}

/// `arbitraryFSAccessThroughSMs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ArbitraryFsAccess {
    /// `deny`: reject ServiceMonitors that read files of the Prometheus
    /// container (bearer token file, TLS files).
    #[serde(default)]
    pub deny: bool,
}

/// An `excludedFromEnforcement` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ObjectReference {
    /// `group` (`monitoring.coreos.com` by default).
    pub group: String,
    /// `resource`: `servicemonitors`, `podmonitors`, `probes`,
    /// `scrapeconfigs` or `prometheusrules`.
    pub resource: String,
    /// `namespace`.
    pub namespace: String,
    /// `name` (empty: every object of that resource in the namespace).
    pub name: String,
}

impl Default for ObjectReference {
    fn default() -> Self {
        Self {
            group: "monitoring.coreos.com".into(),
            resource: String::new(),
            namespace: String::new(),
            name: String::new(),
        }
    }
}

/// A `scrapeClasses` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScrapeClass {
    /// `name`.
    pub name: String,
    /// `default`.
    pub default: Option<bool>,
    /// `fallbackScrapeProtocol`.
    pub fallback_scrape_protocol: Option<String>,
    /// `tlsConfig`.
    pub tls_config: Option<TlsConfig>,
    /// `authorization`.
    pub authorization: Option<Authorization>,
    /// `relabelings`.
    pub relabelings: Vec<RelabelConfig>,
    /// `metricRelabelings`.
    pub metric_relabelings: Vec<RelabelConfig>,
    /// `attachMetadata`.
    pub attach_metadata: Option<AttachMetadata>,
}
