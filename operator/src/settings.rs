//! What the Prometheus side contributes to generation: the Prometheus
//! resource's fields (version, limits, enforcement, overrides, scrape
//! classes, service discovery role, ...) and two operator-level options.

use crate::model::Prometheus;

/// Generation settings. Fill them from a Prometheus resource
/// ([`Settings::from_prometheus`]) or start from [`Settings::new`] (every
/// field at the CRD's default) and set fields from flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The Prometheus: its name and namespace (external labels, the
    /// namespace unset namespace selectors mean) and its spec.
    pub prometheus: Prometheus,
    /// Whether the cluster serves EndpointSlices (the operator detects it;
    /// every supported Kubernetes does). Without it the `EndpointSlice`
    /// discovery role falls back to `endpoints`.
    pub endpoint_slice_supported: bool,
    /// Write TLS material inline (`ca`, `cert`, `key`) instead of file
    /// paths under `/etc/prometheus/certs` (the operator's
    /// `WithInlineTLSConfig` option).
    pub inline_tls: bool,
}

impl Settings {
    /// A Prometheus named `name` in `namespace` with every spec field at its
    /// default.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        let mut prometheus = Prometheus::default();
        prometheus.metadata.name = name.into();
        prometheus.metadata.namespace = namespace.into();
        Self {
            prometheus,
            endpoint_slice_supported: true,
            inline_tls: false,
        }
    }

    /// The settings of a Prometheus resource.
    pub fn from_prometheus(prometheus: &Prometheus) -> Self {
        Self {
            prometheus: prometheus.clone(),
            endpoint_slice_supported: true,
            inline_tls: false,
        }
    }
}
