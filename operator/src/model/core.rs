//! The core objects resources reference: Secrets and ConfigMaps (credentials,
//! TLS material) and Namespaces (their labels, for namespace selectors).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer};

use super::meta::ObjectMeta;

/// A `v1 Secret`. Values are decoded from `data` (base64) and overlaid with
/// `stringData`, as the API server stores them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// Decoded values by key, as text.
    pub data: BTreeMap<String, promshard_config::Secret>,
    /// The bytes of `data` values, for binary ones such as the operator's
    /// `prometheus.yaml.gz` (see [`crate::config_secret::decode_config`]).
    pub raw: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("metadata", &self.metadata)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            #[serde(default)]
            metadata: ObjectMeta,
            #[serde(default)]
            data: BTreeMap<String, String>,
            #[serde(default)]
            string_data: BTreeMap<String, String>,
        }
        let raw = Raw::deserialize(d)?;
        let mut data = BTreeMap::new();
        let mut bytes_by_key = BTreeMap::new();
        for (key, encoded) in raw.data {
            // The API server accepts base64 with or without line breaks.
            let compact: String = encoded.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| {
                    serde::de::Error::custom(format!("data.{key}: invalid base64: {e}"))
                })?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            data.insert(key.clone(), promshard_config::Secret::new(text));
            bytes_by_key.insert(key, bytes);
        }
        for (key, value) in raw.string_data {
            bytes_by_key.insert(key.clone(), value.clone().into_bytes());
            data.insert(key, promshard_config::Secret::new(value));
        }
        Ok(Self {
            metadata: raw.metadata,
            data,
            raw: bytes_by_key,
        })
    }
}

/// A `v1 ConfigMap` (`data` only; `binaryData` holds nothing the operator
/// reads for scrape configs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ConfigMap {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `data`.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

/// A `v1 Namespace`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Namespace {
    /// `metadata` (its labels are what namespace selectors match).
    #[serde(default)]
    pub metadata: ObjectMeta,
}
