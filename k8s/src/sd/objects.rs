//! The objects discovery knows about, keyed like the API names them, and
//! the lookups target group builders make (a pod behind an endpoint, the
//! service of an endpoint slice, the node a pod runs on).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// `(namespace, name)` of a namespaced object.
pub type ObjectKey = (String, String);

/// Objects a target group builder may look up besides the object it builds.
pub trait Lookup {
    /// The pod `namespace/name`.
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod>;
    /// The service `namespace/name`.
    fn service(&self, namespace: &str, name: &str) -> Option<&Service>;
    /// The node `name`.
    fn node(&self, name: &str) -> Option<&Node>;
    /// The namespace `name`.
    fn namespace(&self, name: &str) -> Option<&Namespace>;
}

/// Objects of every kind discovery watches, in name order.
#[derive(Debug, Clone, Default)]
pub struct ObjectIndex {
    /// Pods by namespace and name.
    pub pods: BTreeMap<ObjectKey, Pod>,
    /// Services by namespace and name.
    pub services: BTreeMap<ObjectKey, Service>,
    /// Endpoints by namespace and name.
    pub endpoints: BTreeMap<ObjectKey, Endpoints>,
    /// Endpoint slices by namespace and name.
    pub endpoint_slices: BTreeMap<ObjectKey, EndpointSlice>,
    /// Ingresses by namespace and name.
    pub ingresses: BTreeMap<ObjectKey, Ingress>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// Namespaces by name.
    pub namespaces: BTreeMap<String, Namespace>,
}

/// The key of a namespaced object.
pub fn key_of(meta: &ObjectMeta) -> ObjectKey {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn get<'a, V>(map: &'a BTreeMap<ObjectKey, V>, namespace: &str, name: &str) -> Option<&'a V> {
    // A tuple of Strings cannot be borrowed as (&str, &str); the lookups are
    // rare enough (one per endpoint address) that building the key is fine.
    map.get(&(namespace.to_owned(), name.to_owned()))
}

impl Lookup for ObjectIndex {
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        get(&self.pods, namespace, name)
    }

    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        get(&self.services, namespace, name)
    }

    fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name)
    }
}

/// A Kubernetes object of a kind discovery handles.
#[derive(Debug, Clone)]
pub enum KubeObject {
    /// A pod.
    Pod(Box<Pod>),
    /// A service.
    Service(Box<Service>),
    /// An endpoints object.
    Endpoints(Box<Endpoints>),
    /// An endpoint slice.
    EndpointSlice(Box<EndpointSlice>),
    /// An ingress.
    Ingress(Box<Ingress>),
    /// A node.
    Node(Box<Node>),
    /// A namespace.
    Namespace(Box<Namespace>),
}

/// Why an object document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Not YAML/JSON, or not the shape of its kind.
    #[error("object {index}: {message}")]
    Invalid {
        /// Position in the document stream.
        index: usize,
        /// What was wrong.
        message: String,
    },
    /// A kind discovery does not use.
    #[error("object {index}: unsupported kind {api_version}/{kind}")]
    UnsupportedKind {
        /// Position in the document stream.
        index: usize,
        /// `apiVersion`.
        api_version: String,
        /// `kind`.
        kind: String,
    },
}

impl KubeObject {
    /// Reads one object from its JSON form, dispatching on `apiVersion` and
    /// `kind`; a `*List` is flattened into its items.
    pub fn from_json(value: serde_json::Value, index: usize) -> Result<Vec<Self>, ObjectError> {
        let invalid = |message: String| ObjectError::Invalid { index, message };
        let field = |name: &str| {
            value
                .get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        if kind.ends_with("List")
            && let Some(items) = value.get("items").and_then(serde_json::Value::as_array)
        {
            let mut out = Vec::new();
            for item in items {
                out.extend(Self::from_json(item.clone(), index)?);
            }
            return Ok(out);
        }
        fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
        let object = match (api_version.as_str(), kind.as_str()) {
            ("v1", "Pod") => Self::Pod(Box::new(decode(value).map_err(invalid)?)),
            ("v1", "Service") => Self::Service(Box::new(decode(value).map_err(invalid)?)),
            ("v1", "Endpoints") => Self::Endpoints(Box::new(decode(value).map_err(invalid)?)),
            ("v1", "Node") => Self::Node(Box::new(decode(value).map_err(invalid)?)),
            ("v1", "Namespace") => Self::Namespace(Box::new(decode(value).map_err(invalid)?)),
            ("discovery.k8s.io/v1", "EndpointSlice") => {
                Self::EndpointSlice(Box::new(decode(value).map_err(invalid)?))
            }
            ("networking.k8s.io/v1", "Ingress") => {
                Self::Ingress(Box::new(decode(value).map_err(invalid)?))
            }
            _ => {
                return Err(ObjectError::UnsupportedKind {
                    index,
                    api_version,
                    kind,
                });
            }
        };
        Ok(vec![object])
    }

    /// Reads a stream of YAML documents (`---` separated) or JSON objects.
    pub fn from_yaml_documents(text: &str) -> Result<Vec<Self>, ObjectError> {
        use serde::Deserialize;
        let mut out = Vec::new();
        for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let value =
                serde_json::Value::deserialize(document).map_err(|e| ObjectError::Invalid {
                    index,
                    message: e.to_string(),
                })?;
            if value.is_null() {
                continue;
            }
            out.extend(Self::from_json(value, index)?);
        }
        Ok(out)
    }
}

impl ObjectIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `object`.
    pub fn insert(&mut self, object: KubeObject) {
        match object {
            KubeObject::Pod(o) => {
                self.pods.insert(key_of(&o.metadata), *o);
            }
            KubeObject::Service(o) => {
                self.services.insert(key_of(&o.metadata), *o);
            }
            KubeObject::Endpoints(o) => {
                self.endpoints.insert(key_of(&o.metadata), *o);
            }
            KubeObject::EndpointSlice(o) => {
                self.endpoint_slices.insert(key_of(&o.metadata), *o);
            }
            KubeObject::Ingress(o) => {
                self.ingresses.insert(key_of(&o.metadata), *o);
            }
            KubeObject::Node(o) => {
                self.nodes
                    .insert(o.metadata.name.clone().unwrap_or_default(), *o);
            }
            KubeObject::Namespace(o) => {
                self.namespaces
                    .insert(o.metadata.name.clone().unwrap_or_default(), *o);
            }
        }
    }

    /// An index of the objects in `text` (YAML documents or JSON, lists
    /// flattened).
    pub fn from_yaml_documents(text: &str) -> Result<Self, ObjectError> {
        let mut index = Self::new();
        for object in KubeObject::from_yaml_documents(text)? {
            index.insert(object);
        }
        Ok(index)
    }
}
