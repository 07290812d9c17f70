//! Reading Kubernetes manifests: YAML or JSON files, several documents per
//! file, `List` kinds (`kind: List` or `<Kind>List`), sorted into
//! [`Resources`] by kind. Objects of other kinds are skipped with a
//! [`LoadNote`]; a document that does not parse as its kind is a
//! [`LoadError`] naming the file, the document, the object and the field.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use crate::model::{
    ConfigMap, Namespace, PodMonitor, Probe, Prometheus, ScrapeConfig, Secret, ServiceMonitor,
};

/// Every object generation can use, by kind.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// `Prometheus` objects.
    pub prometheuses: Vec<Prometheus>,
    /// `ServiceMonitor` objects.
    pub service_monitors: Vec<ServiceMonitor>,
    /// `PodMonitor` objects.
    pub pod_monitors: Vec<PodMonitor>,
    /// `Probe` objects.
    pub probes: Vec<Probe>,
    /// `ScrapeConfig` objects.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// `Secret` objects.
    pub secrets: Vec<Secret>,
    /// `ConfigMap` objects.
    pub config_maps: Vec<ConfigMap>,
    /// `Namespace` objects.
    pub namespaces: Vec<Namespace>,
}

/// An object that was read but not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadNote {
    /// The file.
    pub file: String,
    /// 1-based document number in the file.
    pub document: usize,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
}

impl std::fmt::Display for LoadNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} document {}: ignored {} {:?} ({}): not a kind promshard reads",
            self.file, self.document, self.kind, self.name, self.api_version
        )
    }
}

/// What [`load_documents`] read.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The objects, by kind, in input order.
    pub resources: Resources,
    /// Objects of other kinds, skipped.
    pub notes: Vec<LoadNote>,
}

/// A document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} document {document}: {object}: {message}")]
pub struct LoadError {
    /// The file.
    pub file: String,
    /// 1-based document number in the file.
    pub document: usize,
    /// `Kind/name` of the object (or `document` when it has none).
    pub object: String,
    /// What is wrong, starting with the field path when there is one.
    pub message: String,
}

impl Loaded {
    /// Adds one object read from elsewhere than a file (a Kubernetes watch),
    /// named `origin` in errors. A `List` adds its items.
    ///
    /// # Errors
    /// [`LoadError`] if the object is not a valid object of its kind; the
    /// objects added before it stay.
    pub fn add(&mut self, origin: &str, value: Value) -> Result<(), LoadError> {
        let mut at = Location {
            file: origin,
            document: 1,
            loaded: self,
        };
        at.object(value, None)
    }
}

/// Namespace given to namespaced objects written without one (what
/// `kubectl apply` does without `-n`).
pub const DEFAULT_NAMESPACE: &str = "default";

/// Reads `(file name, text)` pairs into [`Resources`].
pub fn load_documents<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    for (file, text) in files {
        for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let number = index + 1;
            let value = Value::deserialize(document).map_err(|e| LoadError {
                file: file.to_owned(),
                document: number,
                object: "document".into(),
                message: e.to_string(),
            })?;
            let mut at = Location {
                file,
                document: number,
                loaded: &mut loaded,
            };
            at.object(value, None)?;
        }
    }
    Ok(loaded)
}

struct Location<'a, 'b> {
    file: &'a str,
    document: usize,
    loaded: &'b mut Loaded,
}

impl Location<'_, '_> {
    fn object(&mut self, value: Value, list_kind: Option<(&str, &str)>) -> Result<(), LoadError> {
        if value.is_null() {
            return Ok(());
        }
        let Value::Mapping(map) = &value else {
            return Err(self.error("document", "not a Kubernetes object (a mapping)".into()));
        };
        let field = |name: &str| {
            map.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let mut kind = field("kind");
        let mut api_version = field("apiVersion");
        if kind.is_empty()
            && let Some((k, v)) = list_kind
        {
            kind = k.to_owned();
            api_version = v.to_owned();
        }
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let object = format!("{kind}/{name}");

        if kind == "List" || (kind.ends_with("List") && map.contains_key("items")) {
            let item_kind = kind.strip_suffix("List").unwrap_or_default().to_owned();
            let items = match map.get("items") {
                None | Some(Value::Null) => return Ok(()),
                Some(Value::Sequence(items)) => items.clone(),
                Some(_) => return Err(self.error(&object, "items: not a list".into())),
            };
            let inherited =
                (!item_kind.is_empty()).then_some((item_kind.as_str(), api_version.as_str()));
            for item in items {
                self.object(item, inherited)?;
            }
            return Ok(());
        }

        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        match (group, kind.as_str()) {
            ("monitoring.coreos.com", "ServiceMonitor") => {
                let mut o: ServiceMonitor = typed(value, &object, self)?;
                default_namespace(&mut o.metadata.namespace);
                self.loaded.resources.service_monitors.push(o);
            }
            ("monitoring.coreos.com", "PodMonitor") => {
                let mut o: PodMonitor = typed(value, &object, self)?;
                default_namespace(&mut o.metadata.namespace);
                self.loaded.resources.pod_monitors.push(o);
            }
            ("monitoring.coreos.com", "Probe") => {
                let mut o: Probe = typed(value, &object, self)?;
                default_namespace(&mut o.metadata.namespace);
                self.loaded.resources.probes.push(o);
            }
            ("monitoring.coreos.com", "ScrapeConfig") => {
                let mut o: ScrapeConfig = typed(value, &object, self)?;
                default_namespace(&mut o.metadata.namespace);
                self.loaded.resources.scrape_configs.push(o);
            }
            ("monitoring.coreos.com", "Prometheus") => {
                let mut o: Prometheus = typed(value, &object, self)?;
                default_namespace(&mut o.metadata.namespace);
                self.loaded.resources.prometheuses.push(o);
            }
            ("", "Secret") => {
                let mut o: Secret = typed(value, &object, self)?;
                default_namespace(&mut o.metadata.namespace);
                self.loaded.resources.secrets.push(o);
            }
            ("", "ConfigMap") => {
                let mut o: ConfigMap = typed(value, &object, self)?;
                default_namespace(&mut o.metadata.namespace);
                self.loaded.resources.config_maps.push(o);
            }
            ("", "Namespace") => {
                let o: Namespace = typed(value, &object, self)?;
                self.loaded.resources.namespaces.push(o);
            }
            _ => {
                self.loaded.notes.push(LoadNote {
                    file: self.file.to_owned(),
                    document: self.document,
                    api_version,
                    kind,
                    name,
                });
            }
        }
        Ok(())
    }

    fn error(&self, object: &str, message: String) -> LoadError {
        LoadError {
            file: self.file.to_owned(),
            document: self.document,
            object: object.to_owned(),
            message,
        }
    }
}

fn default_namespace(namespace: &mut String) {
    if namespace.is_empty() {
        *namespace = DEFAULT_NAMESPACE.to_owned();
    }
}

/// Converts a document to its type. The fast path reads the parsed value;
/// only when that fails is the document printed and parsed again as text,
/// because only the text deserializer reports the path of the bad field.
fn typed<T: DeserializeOwned>(
    value: Value,
    object: &str,
    at: &Location<'_, '_>,
) -> Result<T, LoadError> {
    match serde_yaml_ng::from_value::<T>(value.clone()) {
        Ok(t) => Ok(t),
        Err(first) => {
            let message = serde_yaml_ng::to_string(&value)
                .ok()
                .and_then(|text| serde_yaml_ng::from_str::<T>(&text).err())
                .map(|e| strip_location(&e.to_string()))
                .unwrap_or_else(|| first.to_string());
            Err(at.error(object, message))
        }
    }
}

/// Drops the line/column suffix: it refers to the re-printed document, not
/// to the file.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
