//! Secret and ConfigMap lookups, with the operator's error messages for
//! missing objects and keys.

use std::collections::HashMap;

use promshard_config::Secret as SecretValue;

use crate::model::{ConfigMap, ConfigMapKeySelector, Secret, SecretKeySelector, SecretOrConfigMap};

/// The Secrets and ConfigMaps given, by namespace and name.
#[derive(Debug, Default)]
pub(crate) struct Store<'a> {
    secrets: HashMap<(&'a str, &'a str), &'a Secret>,
    config_maps: HashMap<(&'a str, &'a str), &'a ConfigMap>,
}

impl<'a> Store<'a> {
    pub(crate) fn new(secrets: &'a [Secret], config_maps: &'a [ConfigMap]) -> Self {
        Self {
            secrets: secrets
                .iter()
                .map(|s| ((s.metadata.namespace.as_str(), s.metadata.name.as_str()), s))
                .collect(),
            config_maps: config_maps
                .iter()
                .map(|c| ((c.metadata.namespace.as_str(), c.metadata.name.as_str()), c))
                .collect(),
        }
    }

    /// A Secret key of `namespace`.
    pub(crate) fn secret(
        &self,
        namespace: &str,
        sel: &SecretKeySelector,
    ) -> Result<&'a SecretValue, String> {
        let secret = self
            .secrets
            .get(&(namespace, sel.name.as_str()))
            .ok_or_else(|| {
                format!(
                    "unable to get secret {:?}: secrets {:?} not found",
                    sel.name, sel.name
                )
            })?;
        secret
            .data
            .get(&sel.key)
            .ok_or_else(|| format!("key {:?} in secret {:?} not found", sel.key, sel.name))
    }

    /// A ConfigMap key of `namespace`.
    pub(crate) fn config_map(
        &self,
        namespace: &str,
        sel: &ConfigMapKeySelector,
    ) -> Result<&'a str, String> {
        let cm = self
            .config_maps
            .get(&(namespace, sel.name.as_str()))
            .ok_or_else(|| {
                format!(
                    "unable to get configmap {:?}: configmaps {:?} not found",
                    sel.name, sel.name
                )
            })?;
        cm.data
            .get(&sel.key)
            .map(String::as_str)
            .ok_or_else(|| format!("key {:?} in configmap {:?} not found", sel.key, sel.name))
    }

    /// A Secret or ConfigMap key; `Ok(None)` when neither is referenced.
    pub(crate) fn key(
        &self,
        namespace: &str,
        sel: &SecretOrConfigMap,
    ) -> Result<Option<Value<'a>>, String> {
        match (&sel.secret, &sel.config_map) {
            (Some(s), _) => self.secret(namespace, s).map(|v| Some(Value::Secret(v))),
            (None, Some(c)) => self.config_map(namespace, c).map(|v| Some(Value::Plain(v))),
            (None, None) => Ok(None),
        }
    }
}

/// A value from a Secret (kept secret) or a ConfigMap (plain).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Secret(&'a SecretValue),
    Plain(&'a str),
}

impl Value<'_> {
    pub(crate) fn text(&self) -> &str {
        match self {
            Self::Secret(s) => s.expose(),
            Self::Plain(s) => s,
        }
    }
}
