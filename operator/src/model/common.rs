//! Types shared by several resources: relabel rules, TLS, authentication,
//! proxy settings, namespace selectors and native histogram settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::meta::{ConfigMapKeySelector, SecretKeySelector};

/// A `RelabelConfig` as written in a resource (`relabelings`,
/// `metricRelabelings`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelabelConfig {
    /// `sourceLabels`.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// `separator` (unset and empty differ).
    #[serde(default)]
    pub separator: Option<String>,
    /// `targetLabel`.
    #[serde(default)]
    pub target_label: String,
    /// `regex`.
    #[serde(default)]
    pub regex: String,
    /// `modulus`.
    #[serde(default)]
    pub modulus: u64,
    /// `replacement` (unset and empty differ).
    #[serde(default)]
    pub replacement: Option<String>,
    /// `action`, in any case the CRD allows.
    #[serde(default)]
    pub action: String,
}

/// `SecretOrConfigMap`: data from a Secret or a ConfigMap key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretOrConfigMap {
    /// `secret`.
    #[serde(default)]
    pub secret: Option<SecretKeySelector>,
    /// `configMap`.
    #[serde(default)]
    pub config_map: Option<ConfigMapKeySelector>,
}

impl SecretOrConfigMap {
    /// True when neither is set.
    pub fn is_empty(&self) -> bool {
        self.secret.is_none() && self.config_map.is_none()
    }

    /// The operator's rendering of the reference in messages.
    pub fn describe(&self) -> String {
        match (&self.secret, &self.config_map) {
            (Some(s), _) => format!("<secret={},key={}>", s.name, s.key),
            (None, Some(c)) => format!("<configmap={},key={}>", c.name, c.key),
            (None, None) => "<empty>".into(),
        }
    }
}

/// `SafeTLSConfig`: TLS settings that reference Secrets/ConfigMaps only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafeTlsConfig {
    /// `ca`.
    #[serde(default)]
    pub ca: SecretOrConfigMap,
    /// `cert`.
    #[serde(default)]
    pub cert: SecretOrConfigMap,
    /// `keySecret`.
    #[serde(default)]
    pub key_secret: Option<SecretKeySelector>,
    /// `serverName`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// `insecureSkipVerify`.
    #[serde(default)]
    pub insecure_skip_verify: Option<bool>,
    /// `minVersion` (`TLS10`..`TLS13`).
    #[serde(default)]
    pub min_version: Option<String>,
    /// `maxVersion`.
    #[serde(default)]
    pub max_version: Option<String>,
}

impl SafeTlsConfig {
    /// True when nothing is set (the operator treats it as absent).
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// `TLSConfig`: [`SafeTlsConfig`] plus file paths in the Prometheus
/// container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsConfig {
    /// The Secret/ConfigMap part.
    #[serde(flatten)]
    pub safe: SafeTlsConfig,
    /// `caFile`.
    #[serde(default)]
    pub ca_file: String,
    /// `certFile`.
    #[serde(default)]
    pub cert_file: String,
    /// `keyFile`.
    #[serde(default)]
    pub key_file: String,
}

/// `BasicAuth`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// `username`.
    #[serde(default)]
    pub username: SecretKeySelector,
    /// `password`.
    #[serde(default)]
    pub password: SecretKeySelector,
}

/// `SafeAuthorization`: an `Authorization` header from a Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafeAuthorization {
    /// `type` (`Bearer` when empty).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// `credentials`.
    #[serde(default)]
    pub credentials: Option<SecretKeySelector>,
}

/// `Authorization`: [`SafeAuthorization`] plus a credentials file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// The Secret part.
    #[serde(flatten)]
    pub safe: SafeAuthorization,
    /// `credentialsFile`.
    #[serde(default)]
    pub credentials_file: String,
}

/// `ProxyConfig`, inlined in the objects that have one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfig {
    /// `proxyUrl`.
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// `noProxy`.
    #[serde(default)]
    pub no_proxy: Option<String>,
    /// `proxyFromEnvironment`.
    #[serde(default)]
    pub proxy_from_environment: Option<bool>,
    /// `proxyConnectHeader`: header name to Secret references.
    #[serde(default)]
    pub proxy_connect_header: Option<BTreeMap<String, Vec<SecretKeySelector>>>,
}

impl ProxyConfig {
    /// True when nothing is set.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// `OAuth2` client credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2 {
    /// `clientId`.
    #[serde(default)]
    pub client_id: SecretOrConfigMap,
    /// `clientSecret`.
    #[serde(default)]
    pub client_secret: SecretKeySelector,
    /// `tokenUrl`.
    #[serde(default)]
    pub token_url: String,
    /// `scopes`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `endpointParams`.
    #[serde(default)]
    pub endpoint_params: BTreeMap<String, String>,
    /// `tlsConfig`.
    #[serde(default)]
    pub tls_config: Option<SafeTlsConfig>,
    /// Proxy settings for the token request.
    #[serde(flatten)]
    pub proxy: ProxyConfig,
}

/// A monitor's `namespaceSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// `any`: every namespace.
    #[serde(default)]
    pub any: bool,
    /// `matchNames`.
    #[serde(default)]
    pub match_names: Vec<String>,
}

/// `attachMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachMetadata {
    /// `node`.
    #[serde(default)]
    pub node: Option<bool>,
}

/// The native histogram fields, inlined in monitors, probes and scrape
/// configs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NativeHistogramConfig {
    /// `scrapeNativeHistograms`.
    #[serde(default)]
    pub scrape_native_histograms: Option<bool>,
    /// `scrapeClassicHistograms`.
    #[serde(default)]
    pub scrape_classic_histograms: Option<bool>,
    /// `nativeHistogramBucketLimit`.
    #[serde(default)]
    pub native_histogram_bucket_limit: Option<u64>,
    /// `nativeHistogramMinBucketFactor` (a Kubernetes quantity).
    #[serde(default, deserialize_with = "quantity")]
    pub native_histogram_min_bucket_factor: Option<f64>,
    /// `convertClassicHistogramsToNHCB`.
    #[serde(default, rename = "convertClassicHistogramsToNHCB")]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
}

impl NativeHistogramConfig {
    /// True when no field is set.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// A Kubernetes quantity as a float (`AsApproximateFloat64`): a number, or a
/// string with an optional decimal (`m`, `k`, `M`, `G`) or binary (`Ki`,
/// `Mi`, `Gi`) suffix.
fn quantity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(f64),
        Str(String),
    }
    let Some(raw) = Option::<Raw>::deserialize(d)? else {
        return Ok(None);
    };
    match raw {
        Raw::Num(n) => Ok(Some(n)),
        Raw::Str(s) => parse_quantity(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid quantity {s:?}"))),
    }
}

fn parse_quantity(s: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 7] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
    ];
    let s = s.trim();
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = s.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    s.parse().ok()
}
