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

pub mod client;
pub mod config;
pub mod meta;
pub mod objects;
pub mod roles;

pub use objects::{KubeObject, Lookup, ObjectIndex};
pub use roles::{AttachMetadata, Context, Role};
