//! `kubernetes_sd_configs`: Kubernetes service discovery with the same
//! `__meta_kubernetes_*` labels as Prometheus.
//!
//! ```
//! use promshard_k8s::sd::{AttachMetadata, ObjectIndex, Role};
//! let objects = ObjectIndex::from_yaml_documents(r#"
//! apiVersion: v1
//! kind: Pod
//! metadata: {name: web-0, namespace: shop, labels: {app.kubernetes.io/name: web}}
//! spec:
//!   containers: [{name: app, ports: [{name: metrics, containerPort: 9100}]}]
//! status: {podIP: 10.0.0.7}
//! "#)?;
//! let groups = objects.groups(Role::Pod, AttachMetadata::default());
//! assert_eq!(groups[0].source, "pod/shop/web-0");
//! assert_eq!(groups[0].labels.get("__meta_kubernetes_pod_label_app_kubernetes_io_name"), Some("web"));
//! assert_eq!(groups[0].targets[0].get("__address__"), Some("10.0.0.7:9100"));
//! # Ok::<(), promshard_k8s::sd::objects::ObjectError>(())
//! ```
//!
//! In a binary, [`register`] plugs the provider into a
//! `promshard_config::discovery::DiscoveryManager`; each entry then watches
//! the API and sends a group only for the objects that changed.
//!
//! - [`roles`]: objects to target groups, one pure function per role.
//! - [`objects`]: the object store the builders look pods, services, nodes
//!   and namespaces up in.
//! - [`meta`]: label name sanitizing and object metadata labels.
//! - [`config`]: `kubernetes_sd_configs` entries, validated like Prometheus.
//! - [`client`]: the API client of an entry (in-cluster, kubeconfig, or
//!   `api_server` with TLS and auth).
//! - [`engine`]: the objects of an entry and which groups each one feeds, so
//!   one change rebuilds only the groups it touches.
//! - [`discoverer`]: the provider: kube-runtime watchers per kind and
//!   namespace feeding the engine; [`register`] plugs it into a
//!   `DiscoveryManager`.

pub mod client;
pub mod config;
pub mod discoverer;
pub mod engine;
pub mod meta;
pub mod objects;
pub mod roles;

pub use discoverer::{KubernetesDiscoverer, factory, factory_with, register, register_with_client};
pub use objects::{KubeObject, Lookup, ObjectIndex};
pub use roles::{AttachMetadata, Context, Role};
