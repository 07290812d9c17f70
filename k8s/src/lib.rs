//! Kubernetes for promshard.
//!
//! - [`sd`]: `kubernetes_sd_configs` (roles pod, service, endpoints,
//!   endpointslice, node, ingress) with the same `__meta_kubernetes_*` labels
//!   as Prometheus, fed by watches.
//! - [`cluster`]: the narrow API the coordinator needs (pods, StatefulSet
//!   scale, PVCs, Leases) as a trait, with a `kube::Client` implementation.
//! - [`shards`]: the shard set: StatefulSet pods as shards, scaling.
//! - [`lease`]: leader election through a `coordination.k8s.io` Lease.
//! - [`monitors`]: prometheus-operator resources (ServiceMonitor, PodMonitor,
//!   Probe, ScrapeConfig, Prometheus) and the Secrets they reference, watched.
//! - [`rbac`]: every API call the code makes, as the RBAC rules it needs.
//!
//! The tests run this code against an in-process API server speaking the
//! real Kubernetes JSON, the dev-only crate `promshard-fake-kube`.

pub mod cluster;
pub mod lease;
pub mod monitors;
pub mod rbac;
pub mod sd;
pub mod shards;
