//! Kubernetes metadata and selector types shared by every resource.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// `metadata`: what generation and selection use of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name`.
    #[serde(default)]
    pub name: String,
    /// `metadata.namespace` (empty for cluster-scoped objects).
    #[serde(default)]
    pub namespace: String,
    /// `metadata.labels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// `matchLabels`.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// `key`.
    pub key: String,
    /// `operator`: `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// `values`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A `SecretKeySelector`: a key of a Secret in the referencing object's
/// namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// `name` of the Secret.
    #[serde(default)]
    pub name: String,
    /// `key` in its data.
    #[serde(default)]
    pub key: String,
    /// `optional`.
    #[serde(default)]
    pub optional: Option<bool>,
}

/// A `ConfigMapKeySelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeySelector {
    /// `name` of the ConfigMap.
    #[serde(default)]
    pub name: String,
    /// `key` in its data.
    #[serde(default)]
    pub key: String,
    /// `optional`.
    #[serde(default)]
    pub optional: Option<bool>,
}

/// A Kubernetes `IntOrString` (ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrString {
    /// A number.
    Int(i64),
    /// A name.
    String(String),
}

impl std::fmt::Display for IntOrString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            String(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Int(i) => Self::Int(i),
            Raw::String(s) => Self::String(s),
        })
    }
}
