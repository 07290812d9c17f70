//! `kubernetes_sd_configs`: Kubernetes service discovery with the same
//! `__meta_kubernetes_*` labels as Prometheus.
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

pub use discoverer::{KubernetesDiscoverer, factory, register};
pub use objects::{KubeObject, Lookup, ObjectIndex};
pub use roles::{AttachMetadata, Context, Role};
