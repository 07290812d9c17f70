//! The shard set on Kubernetes: the pods of the StatefulSets matching a label
//! selector in one namespace, scaled through the StatefulSet `scale`
//! subresource.
//!
//! - **Replica groups**: one StatefulSet per group. When the StatefulSets carry
//!   the label [`REPLICA_GROUP_LABEL`] (`promshard.io/replica-group: "1"`),
//!   its value is the group number (then every one must carry a distinct
//!   one); otherwise groups are numbered in StatefulSet name order, so a
//!   single StatefulSet is group 0.
//! - **Shards**: shard `i` of a group is pod `<statefulset>-<i>`, for `i` below
//!   the StatefulSet's `spec.replicas`. It is ready when the pod's `Ready`
//!   condition is true and the pod is not being deleted (the coordinator
//!   checks on its own that the sidecar answers).
//! - **Sidecar URL**: `http://<pod IP>:<sidecar port>`. Not the headless
//!   service's DNS name: that only resolves once the pod is Ready, and the
//!   coordinator must reach a sidecar whose Prometheus is still starting.
//!   The Prometheus URL (for humans) is the pod's container port named `web`.
//! - **Restarts**: a pod this shard set has seen running that is gone or has
//!   no IP yet (a rolling update recreates pods one by one) stays listed, with
//!   the headless-service DNS name as its URL: that name does not resolve
//!   while the pod is away, so the coordinator sees the shard unresponsive and
//!   keeps its targets there for its failover window. A pod never seen running
//!   (just added by a scale-up, or unschedulable) is left out until it gets
//!   an IP, so a slow start is not mistaken for a failure that needs yet more
//!   shards.
//! - **Scaling**: a merge patch of `spec.replicas` on the `scale`
//!   subresource, carrying the `resourceVersion` it was decided on; a 409 is
//!   retried after reading the scale again. One scale operation per
//!   StatefulSet per call, never a scale-down by [`ShardSet::scale_up`].
//! - **Removal**: shards being drained are listed in the StatefulSet
//!   annotation [`DRAINING_ANNOTATION`] (`promshard.io/draining-shards:
//!   "3"`), so a drain survives a coordinator restart. [`ShardSet::remove`]
//!   scales the StatefulSet down by one; once the removed pod is gone,
//!   [`ShardSet::shards`] deletes its PVCs (only with
//!   [`ShardSetOptions::delete_pvc`]) and then drops it from the annotation.
//!   Scaling back up over a removed shard whose clean-up is pending cancels
//!   the clean-up, so a pod that is coming back never loses its volume.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
//! use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
//! use promshard_k8s::cluster::KubeCluster;
//! use promshard_fake_kube::FakeApiServer;
//! use promshard_k8s::shards::{ShardSet, ShardSetOptions};
//!
//! // In a cluster: KubeCluster::new(client_from(&ClientSource::Infer).await?).
//! let server = FakeApiServer::start().await?;
//! server.upsert(&StatefulSet {
//!     metadata: ObjectMeta {
//!         name: Some("prom".into()),
//!         labels: Some([("app".to_owned(), "prom".to_owned())].into()),
//!         ..ObjectMeta::default()
//!     },
//!     spec: StatefulSetSpec { replicas: Some(1), ..StatefulSetSpec::default() },
//!     status: None,
//! });
//! let shard_set = ShardSet::new(
//!     KubeCluster::new(server.client()),
//!     ShardSetOptions::new("default", "app=prom"),
//! );
//! // No pod runs yet, so no shard is listed.
//! assert!(shard_set.shards().await?.is_empty());
//! shard_set.scale_up(3).await?;
//! let scaled: StatefulSet = server.object(Some("default"), "prom").ok_or("gone")?;
//! assert_eq!(scaled.spec.replicas, Some(3));
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

use crate::cluster::{ClusterError, ShardCluster};
use crate::sd::meta::join_host_port;

/// StatefulSet label naming its replica group (`"0"`, `"1"`, ...).
pub const REPLICA_GROUP_LABEL: &str = "promshard.io/replica-group";

/// StatefulSet annotation listing the shards being drained for removal, or
/// removed and awaiting clean-up (`"3"`, `"3,4"`).
pub const DRAINING_ANNOTATION: &str = "promshard.io/draining-shards";

/// Container port name of Prometheus's web UI/API in the shard pods.
pub const PROMETHEUS_PORT_NAME: &str = "web";

/// Attempts of one scale or annotation change that keeps conflicting.
const MAX_ATTEMPTS: u32 = 4;

/// Where the shards are and how they are handled.
#[derive(Debug, Clone)]
pub struct ShardSetOptions {
    /// Namespace of the StatefulSets.
    pub namespace: String,
    /// Label selector of the StatefulSets (one per replica group).
    pub selector: String,
    /// Port of the sidecar API in each pod.
    pub sidecar_port: u16,
    /// Delete a removed shard's PVCs once its pod is gone.
    pub delete_pvc: bool,
}

impl ShardSetOptions {
    /// Sidecar port 8080 (the sidecar's default `--api.listen`), PVCs kept.
    pub fn new(namespace: impl Into<String>, selector: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            selector: selector.into(),
            sidecar_port: 8080,
            delete_pvc: false,
        }
    }
}

/// One shard: a pod of a StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Replica group.
    pub group: u32,
    /// Index within the group (the pod's ordinal).
    pub index: u32,
    /// The StatefulSet.
    pub stateful_set: String,
    /// The pod (`<statefulset>-<index>`).
    pub pod: String,
    /// The sidecar API base URL.
    pub sidecar_url: String,
    /// Prometheus, for humans, when the pod has an IP and a `web` port.
    pub prometheus_url: Option<String>,
    /// The pod is Ready and not being deleted.
    pub ready: bool,
    /// Being drained for removal.
    pub removing: bool,
}

/// A shard set operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ShardSetError {
    /// No StatefulSet matches the selector.
    #[error("no StatefulSet in namespace {namespace} matches the selector {selector:?}")]
    NoStatefulSets {
        /// The namespace.
        namespace: String,
        /// The selector.
        selector: String,
    },
    /// A StatefulSet cannot be used as a replica group.
    #[error("StatefulSet {namespace}/{name}: {reason}")]
    Invalid {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Removal was asked for a shard that is not the last one.
    #[error("shard {index} is not the highest: StatefulSet {stateful_set} has {replicas} replicas")]
    NotHighest {
        /// The shard.
        index: u32,
        /// The StatefulSet.
        stateful_set: String,
        /// Its replicas.
        replicas: u32,
    },
    /// An API call failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// One StatefulSet as a replica group.
#[derive(Debug)]
struct Group {
    number: u32,
    name: String,
    replicas: u32,
    resource_version: Option<String>,
    /// Label selector of its pods.
    pod_selector: String,
    /// `matchLabels` only: what its PVCs carry.
    claim_selector: String,
    claim_templates: Vec<String>,
    service: Option<String>,
    draining: BTreeSet<u32>,
}

/// The shard set over a [`ShardCluster`].
#[derive(Debug)]
pub struct ShardSet<C> {
    cluster: C,
    options: ShardSetOptions,
    /// Pods (StatefulSet, ordinal) seen with an IP: their absence is a
    /// restart, not a shard that never started.
    seen: Mutex<BTreeSet<(String, u32)>>,
}

fn replicas_of(value: Option<i32>) -> u32 {
    u32::try_from(value.unwrap_or(1)).unwrap_or(0)
}

fn parse_draining(value: &str) -> Result<BTreeSet<u32>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>().map_err(|_| {
                format!(
                    "annotation {DRAINING_ANNOTATION}: {value:?} is not a list of shard indexes"
                )
            })
        })
        .collect()
}

fn format_draining(set: &BTreeSet<u32>) -> Option<String> {
    (!set.is_empty()).then(|| set.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
}

fn draining_of(set: &StatefulSet) -> Result<BTreeSet<u32>, String> {
    set.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DRAINING_ANNOTATION))
        .map_or_else(|| Ok(BTreeSet::new()), |v| parse_draining(v))
}

fn pod_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
}

fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

fn http_url(host: &str, port: impl std::fmt::Display) -> String {
    format!("http://{}", join_host_port(host, port))
}

fn web_port(pod: &Pod) -> Option<i32> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(PROMETHEUS_PORT_NAME))
        .map(|p| p.container_port)
}

impl<C: ShardCluster> ShardSet<C> {
    /// A shard set over `cluster`.
    pub fn new(cluster: C, options: ShardSetOptions) -> Self {
        Self {
            cluster,
            options,
            seen: Mutex::default(),
        }
    }

    /// The options.
    pub fn options(&self) -> &ShardSetOptions {
        &self.options
    }

    /// The cluster calls go to.
    pub fn cluster(&self) -> &C {
        &self.cluster
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, u32)>> {
        match self.seen.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn invalid(&self, name: &str, reason: String) -> ShardSetError {
        ShardSetError::Invalid {
            namespace: self.options.namespace.clone(),
            name: name.to_owned(),
            reason,
        }
    }

    /// The StatefulSets as replica groups, by group number.
    async fn groups(&self) -> Result<Vec<Group>, ShardSetError> {
        let namespace = &self.options.namespace;
        let sets = self
            .cluster
            .list_stateful_sets(namespace, &self.options.selector)
            .await?;
        if sets.is_empty() {
            return Err(ShardSetError::NoStatefulSets {
                namespace: namespace.clone(),
                selector: self.options.selector.clone(),
            });
        }
        let labelled = sets
            .iter()
            .filter(|s| {
                s.metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(REPLICA_GROUP_LABEL))
            })
            .count();
        let mut groups = Vec::with_capacity(sets.len());
        for set in sets {
            let name = set.metadata.name.clone().unwrap_or_default();
            let label = set
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REPLICA_GROUP_LABEL));
            let number = match label {
                Some(value) => value.parse::<u32>().map_err(|_| {
                    self.invalid(
                        &name,
                        format!("label {REPLICA_GROUP_LABEL}: {value:?} is not a group number"),
                    )
                })?,
                None if labelled > 0 => {
                    return Err(self.invalid(
                        &name,
                        format!(
                            "no label {REPLICA_GROUP_LABEL}, but other StatefulSets matching the selector have one"
                        ),
                    ));
                }
                // Numbered by name below.
                None => 0,
            };
            let spec = &set.spec;
            let pod_selector = kube::core::Selector::try_from(spec.selector.clone())
                .map_err(|e| self.invalid(&name, format!("spec.selector: {e}")))?
                .to_string();
            let claim_selector = spec
                .selector
                .match_labels
                .iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let draining = draining_of(&set).map_err(|e| self.invalid(&name, e))?;
            groups.push(Group {
                number,
                replicas: replicas_of(spec.replicas),
                resource_version: set.metadata.resource_version.clone(),
                pod_selector,
                claim_selector,
                claim_templates: spec
                    .volume_claim_templates
                    .iter()
                    .flatten()
                    .filter_map(|t| t.metadata.name.clone())
                    .collect(),
                service: spec.service_name.clone().filter(|s| !s.is_empty()),
                draining,
                name,
            });
        }
        if labelled == 0 {
            groups.sort_by(|a, b| a.name.cmp(&b.name));
            for (number, group) in groups.iter_mut().enumerate() {
                group.number = u32::try_from(number).unwrap_or(u32::MAX);
            }
        } else {
            groups.sort_by_key(|g| g.number);
            if let Some(pair) = groups.windows(2).find(|w| w[0].number == w[1].number) {
                return Err(self.invalid(
                    &pair[1].name,
                    format!(
                        "replica group {} is also StatefulSet {}",
                        pair[1].number, pair[0].name
                    ),
                ));
            }
        }
        Ok(groups)
    }

    /// Every shard of every replica group, by group then index.
    ///
    /// Also finishes the removal of shards whose pod is gone: their PVCs are
    /// deleted (with [`ShardSetOptions::delete_pvc`]) and they leave the
    /// draining annotation. A failure there is logged and retried on the
    /// next call; it does not fail the listing.
    pub async fn shards(&self) -> Result<Vec<Shard>, ShardSetError> {
        let groups = self.groups().await?;
        let mut shards = Vec::new();
        for group in &groups {
            let pods = self
                .cluster
                .list_pods(&self.options.namespace, &group.pod_selector)
                .await?;
            let by_name: BTreeMap<&str, &Pod> = pods
                .iter()
                .filter_map(|p| Some((p.metadata.name.as_deref()?, p)))
                .collect();
            {
                let mut seen = self.seen();
                seen.retain(|(set, index)| *set != group.name || *index < group.replicas);
                for index in 0..group.replicas {
                    let pod_name = format!("{}-{index}", group.name);
                    let pod = by_name.get(pod_name.as_str()).copied();
                    let key = (group.name.clone(), index);
                    let (sidecar_url, prometheus_url, ready) =
                        match pod.and_then(|p| Some((p, pod_ip(p)?))) {
                            Some((pod, ip)) => {
                                seen.insert(key);
                                (
                                    http_url(ip, self.options.sidecar_port),
                                    web_port(pod).map(|port| http_url(ip, port)),
                                    pod_ready(pod),
                                )
                            }
                            None if seen.contains(&key) => {
                                let service = group.service.as_deref().unwrap_or(&group.name);
                                let host =
                                    format!("{pod_name}.{service}.{}.svc", self.options.namespace);
                                (http_url(&host, self.options.sidecar_port), None, false)
                            }
                            None => continue,
                        };
                    shards.push(Shard {
                        group: group.number,
                        index,
                        stateful_set: group.name.clone(),
                        pod: pod_name,
                        sidecar_url,
                        prometheus_url,
                        ready,
                        removing: group.draining.contains(&index),
                    });
                }
            }
            if let Err(e) = self.finish_removals(group, &by_name).await {
                tracing::warn!(stateful_set = %group.name, error = %e, "clean-up of removed shards failed; retrying next cycle");
            }
        }
        Ok(shards)
    }

    /// PVC deletion and annotation clean-up for removed shards whose pod is gone.
    async fn finish_removals(
        &self,
        group: &Group,
        pods: &BTreeMap<&str, &Pod>,
    ) -> Result<(), ShardSetError> {
        let gone: BTreeSet<u32> = group
            .draining
            .iter()
            .copied()
            .filter(|&index| {
                index >= group.replicas
                    && !pods.contains_key(format!("{}-{index}", group.name).as_str())
            })
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        let namespace = &self.options.namespace;
        if self.options.delete_pvc && !group.claim_templates.is_empty() {
            // `<template>-<statefulset>-<ordinal>`, as the StatefulSet controller names them.
            let claims: BTreeSet<String> = gone
                .iter()
                .flat_map(|index| {
                    group
                        .claim_templates
                        .iter()
                        .map(move |t| format!("{t}-{}-{index}", group.name))
                })
                .collect();
            let pvcs = self
                .cluster
                .list_pvcs(namespace, &group.claim_selector)
                .await?;
            for pvc in pvcs {
                let Some(name) = pvc.metadata.name.as_deref() else {
                    continue;
                };
                if claims.contains(name) {
                    self.cluster.delete_pvc(namespace, name).await?;
                    tracing::info!(stateful_set = %group.name, pvc = name, "deleted the PVC of a removed shard");
                }
            }
        }
        self.update_draining(group, |set| {
            for index in &gone {
                set.remove(index);
            }
        })
        .await?;
        Ok(())
    }

    /// Changes a StatefulSet's draining annotation, re-reading on conflict.
    /// Returns the resourceVersion after the change (or the one it had).
    async fn update_draining(
        &self,
        group: &Group,
        change: impl Fn(&mut BTreeSet<u32>),
    ) -> Result<Option<String>, ShardSetError> {
        let namespace = &self.options.namespace;
        let mut current = group.draining.clone();
        let mut version = group.resource_version.clone();
        let mut attempt = 1;
        loop {
            let mut wanted = current.clone();
            change(&mut wanted);
            if wanted == current {
                return Ok(version);
            }
            let annotations =
                BTreeMap::from([(DRAINING_ANNOTATION.to_owned(), format_draining(&wanted))]);
            match self
                .cluster
                .patch_stateful_set_annotations(
                    namespace,
                    &group.name,
                    &annotations,
                    version.as_deref(),
                )
                .await
            {
                Ok(set) => return Ok(set.metadata.resource_version),
                Err(e) if e.is_conflict() && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    let set = self
                        .cluster
                        .get_stateful_set(namespace, &group.name)
                        .await?;
                    current = draining_of(&set).map_err(|e| self.invalid(&group.name, e))?;
                    version = set.metadata.resource_version;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sets a StatefulSet's replicas to what `decide` says given the current
    /// replicas (`None`: leave them), re-reading the scale on conflict.
    async fn scale(
        &self,
        group: &Group,
        resource_version: Option<String>,
        decide: impl Fn(u32) -> Result<Option<u32>, ShardSetError>,
    ) -> Result<(), ShardSetError> {
        let namespace = &self.options.namespace;
        let mut current = group.replicas;
        let mut version = resource_version;
        let mut attempt = 1;
        loop {
            let Some(replicas) = decide(current)? else {
                return Ok(());
            };
            let replicas_i32 = i32::try_from(replicas).unwrap_or(i32::MAX);
            match self
                .cluster
                .patch_scale(namespace, &group.name, replicas_i32, version.as_deref())
                .await
            {
                Ok(_) => {
                    tracing::info!(stateful_set = %group.name, from = current, to = replicas, "scaled");
                    return Ok(());
                }
                Err(e) if e.is_conflict() && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    let scale = self.cluster.get_scale(namespace, &group.name).await?;
                    current = replicas_of(scale.spec.and_then(|s| s.replicas).or(Some(0)));
                    version = scale.metadata.resource_version;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Makes every replica group have at least `count` shards.
    pub async fn scale_up(&self, count: u32) -> Result<(), ShardSetError> {
        for group in self.groups().await? {
            if group.replicas >= count {
                continue;
            }
            // Shards removed but not cleaned up are coming back: keep their PVCs.
            let replicas = group.replicas;
            let version = self
                .update_draining(&group, |set| set.retain(|&i| i < replicas || i >= count))
                .await?;
            self.scale(&group, version, |current| {
                Ok((current < count).then_some(count))
            })
            .await?;
        }
        Ok(())
    }

    /// Marks shard `index` of every group as draining for removal, or clears
    /// the mark.
    pub async fn set_removing(&self, index: u32, removing: bool) -> Result<(), ShardSetError> {
        for group in self.groups().await? {
            if removing && index >= group.replicas {
                continue;
            }
            self.update_draining(&group, |set| {
                if removing {
                    set.insert(index);
                } else {
                    set.remove(&index);
                }
            })
            .await?;
        }
        Ok(())
    }

    /// Removes shard `index` from every group: it must be the highest.
    /// Groups that no longer have it are left alone.
    pub async fn remove(&self, index: u32) -> Result<(), ShardSetError> {
        let groups = self.groups().await?;
        let not_highest = |group: &Group, replicas: u32| ShardSetError::NotHighest {
            index,
            stateful_set: group.name.clone(),
            replicas,
        };
        // Refuse before changing anything, so groups keep the same layout.
        if let Some(group) = groups.iter().find(|g| g.replicas > index.saturating_add(1)) {
            return Err(not_highest(group, group.replicas));
        }
        for group in &groups {
            let version = group.resource_version.clone();
            self.scale(group, version, |current| {
                if current <= index {
                    Ok(None)
                } else if current == index + 1 {
                    Ok(Some(index))
                } else {
                    Err(not_highest(group, current))
                }
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::StatefulSetSpec;
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, PersistentVolumeClaim, PodCondition, PodSpec, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
    use promshard_fake_kube::{ApiRequest, FakeApiServer, Fault};

    use super::*;
    use crate::cluster::KubeCluster;

    const NAMESPACE: &str = "mon";

    fn stateful_set(name: &str, replicas: i32, group_label: Option<&str>) -> StatefulSet {
        let mut labels = BTreeMap::from([("app".to_owned(), "shard".to_owned())]);
        if let Some(group) = group_label {
            labels.insert(REPLICA_GROUP_LABEL.into(), group.into());
        }
        StatefulSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(NAMESPACE.into()),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            spec: StatefulSetSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some(BTreeMap::from([("set".to_owned(), name.to_owned())])),
                    ..LabelSelector::default()
                },
                service_name: Some("shards".into()),
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some("data".into()),
                        ..ObjectMeta::default()
                    },
                    ..PersistentVolumeClaim::default()
                }]),
                ..StatefulSetSpec::default()
            },
            status: None,
        }
    }

    fn with_draining(mut set: StatefulSet, draining: &str) -> StatefulSet {
        set.metadata.annotations = Some(BTreeMap::from([(
            DRAINING_ANNOTATION.to_owned(),
            draining.to_owned(),
        )]));
        set
    }

    fn pod(set: &str, index: u32, ip: Option<&str>, ready: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(format!("{set}-{index}")),
                namespace: Some(NAMESPACE.into()),
                labels: Some(BTreeMap::from([("set".to_owned(), set.to_owned())])),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![
                    Container {
                        name: "prometheus".into(),
                        ports: Some(vec![ContainerPort {
                            name: Some("web".into()),
                            container_port: 9090,
                            ..ContainerPort::default()
                        }]),
                        ..Container::default()
                    },
                    Container {
                        name: "sidecar".into(),
                        ..Container::default()
                    },
                ],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                pod_ip: ip.map(str::to_owned),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }

    fn pvc(name: &str, set: &str) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(NAMESPACE.into()),
                labels: Some(BTreeMap::from([("set".to_owned(), set.to_owned())])),
                ..ObjectMeta::default()
            },
            ..PersistentVolumeClaim::default()
        }
    }

    fn shard_set(server: &FakeApiServer, delete_pvc: bool) -> ShardSet<KubeCluster> {
        let mut options = ShardSetOptions::new(NAMESPACE, "app=shard");
        options.delete_pvc = delete_pvc;
        ShardSet::new(KubeCluster::new(server.client()), options)
    }

    fn stored_set(server: &FakeApiServer, name: &str) -> StatefulSet {
        server.object(Some(NAMESPACE), name).unwrap()
    }

    fn replicas(server: &FakeApiServer, name: &str) -> i32 {
        stored_set(server, name).spec.replicas.unwrap()
    }

    fn annotation(server: &FakeApiServer, name: &str) -> Option<String> {
        stored_set(server, name)
            .metadata
            .annotations
            .and_then(|a| a.get(DRAINING_ANNOTATION).cloned())
    }

    fn pvc_exists(server: &FakeApiServer, name: &str) -> bool {
        server
            .object::<PersistentVolumeClaim>(Some(NAMESPACE), name)
            .is_some()
    }

    /// The requests since the last call, each granted by the coordinator's
    /// RBAC rules, as `METHOD path-in-namespace?labelSelector` plus what a
    /// patch sets. Whether a patch carried the right resourceVersion shows
    /// as a conflict (a 409 and a re-read) when it did not.
    fn calls(server: &FakeApiServer) -> Vec<String> {
        let requests = server.requests();
        server.clear_requests();
        requests.iter().map(describe).collect()
    }

    fn describe(request: &ApiRequest) -> String {
        assert!(
            request.is_granted(),
            "not granted by COORDINATOR_RULES: {request:?}"
        );
        let in_namespace = format!("/namespaces/{NAMESPACE}/");
        let path = request
            .path
            .split_once(&in_namespace)
            .map_or(request.path.as_str(), |(_, path)| path);
        let mut text = format!("{} {path}", request.method);
        if let Some(selector) = request.query_param("labelSelector") {
            text = format!("{text}?{selector}");
        }
        if request.method == http::Method::PATCH {
            let body = request.body.clone().unwrap_or_default();
            if let Some(replicas) = body.pointer("/spec/replicas") {
                text = format!("{text} replicas={replicas}");
            }
            if let Some(draining) = body
                .pointer("/metadata/annotations")
                .and_then(|annotations| annotations.get(DRAINING_ANNOTATION))
            {
                text = format!("{text} draining={draining}");
            }
        }
        text
    }

    fn conflicts(times: usize) -> Fault {
        Fault {
            method: http::Method::PATCH,
            path_contains: "/statefulsets/a/scale".into(),
            status: 409,
            times,
        }
    }

    fn summary(shards: &[Shard]) -> Vec<String> {
        shards
            .iter()
            .map(|s| {
                format!(
                    "{}/{} {} {} {} ready={} removing={}",
                    s.group,
                    s.index,
                    s.pod,
                    s.sidecar_url,
                    s.prometheus_url.as_deref().unwrap_or("-"),
                    s.ready,
                    s.removing
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn pods_of_each_statefulset_are_the_shards_of_its_group() {
        let server = FakeApiServer::start().await.unwrap();
        // Named so that name order and creation order differ.
        server.upsert(&stateful_set("shard-b", 2, None));
        server.upsert(&stateful_set("shard-a", 3, None));
        server.upsert(&pod("shard-a", 0, Some("10.0.0.1"), true));
        server.upsert(&pod("shard-a", 1, Some("10.0.0.2"), false));
        // Not started yet: no IP, never seen.
        server.upsert(&pod("shard-a", 2, None, false));
        server.upsert(&pod("shard-b", 0, Some("fd00::7"), true));
        server.upsert(&pod("shard-b", 1, Some("10.0.1.2"), true));
        // Beyond spec.replicas (scaled down, terminating): not a shard.
        server.upsert(&pod("shard-b", 2, Some("10.0.1.3"), true));
        let shards = shard_set(&server, false).shards().await.unwrap();
        assert_eq!(
            summary(&shards),
            [
                "0/0 shard-a-0 http://10.0.0.1:8080 http://10.0.0.1:9090 ready=true removing=false",
                "0/1 shard-a-1 http://10.0.0.2:8080 http://10.0.0.2:9090 ready=false removing=false",
                "1/0 shard-b-0 http://[fd00::7]:8080 http://[fd00::7]:9090 ready=true removing=false",
                "1/1 shard-b-1 http://10.0.1.2:8080 http://10.0.1.2:9090 ready=true removing=false",
            ]
        );
        assert_eq!(
            calls(&server),
            [
                "GET statefulsets?app=shard",
                "GET pods?set=shard-a",
                "GET pods?set=shard-b",
            ]
        );
    }

    #[tokio::test]
    async fn the_group_label_orders_groups_and_must_be_on_every_statefulset() {
        let server = FakeApiServer::start().await.unwrap();
        server.upsert(&stateful_set("a", 1, Some("1")));
        server.upsert(&stateful_set("b", 1, Some("0")));
        server.upsert(&pod("a", 0, Some("10.0.0.1"), true));
        server.upsert(&pod("b", 0, Some("10.0.0.2"), true));
        let shards = shard_set(&server, false).shards().await.unwrap();
        let groups: Vec<(u32, &str)> = shards.iter().map(|s| (s.group, s.pod.as_str())).collect();
        assert_eq!(groups, [(0, "b-0"), (1, "a-0")]);

        server.upsert(&stateful_set("c", 1, None));
        let err = shard_set(&server, false).shards().await.unwrap_err();
        assert!(
            err.to_string().contains("StatefulSet mon/c: no label"),
            "{err}"
        );

        server.upsert(&stateful_set("c", 1, Some("1")));
        let err = shard_set(&server, false).shards().await.unwrap_err();
        assert!(
            err.to_string()
                .contains("replica group 1 is also StatefulSet"),
            "{err}"
        );

        server.upsert(&stateful_set("c", 1, Some("two")));
        let err = shard_set(&server, false).shards().await.unwrap_err();
        assert!(
            err.to_string().contains("\"two\" is not a group number"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn no_statefulset_or_a_bad_annotation_is_an_error_naming_it() {
        let server = FakeApiServer::start().await.unwrap();
        let err = shard_set(&server, false).shards().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "no StatefulSet in namespace mon matches the selector \"app=shard\""
        );
        server.upsert(&with_draining(stateful_set("s", 1, None), "1,x"));
        let err = shard_set(&server, false).shards().await.unwrap_err();
        assert!(
            err.to_string().starts_with("StatefulSet mon/s: annotation"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_restarting_pod_stays_a_shard_that_is_not_ready() {
        let server = FakeApiServer::start().await.unwrap();
        server.upsert(&stateful_set("s", 2, None));
        server.upsert(&pod("s", 0, Some("10.0.0.1"), true));
        server.upsert(&pod("s", 1, Some("10.0.0.2"), true));
        let set = shard_set(&server, false);
        assert_eq!(set.shards().await.unwrap().len(), 2);

        // Rolling update: terminating (IP kept, being deleted), then gone,
        // then recreated without an IP, then running elsewhere.
        let mut terminating = pod("s", 1, Some("10.0.0.2"), true);
        terminating.metadata.deletion_timestamp =
            Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        server.upsert(&terminating);
        let shards = set.shards().await.unwrap();
        assert_eq!(
            summary(&shards[1..]),
            ["0/1 s-1 http://10.0.0.2:8080 http://10.0.0.2:9090 ready=false removing=false"]
        );
        server.remove::<Pod>(Some(NAMESPACE), "s-1");
        let gone = ["0/1 s-1 http://s-1.shards.mon.svc:8080 - ready=false removing=false"];
        assert_eq!(summary(&set.shards().await.unwrap()[1..]), gone);
        server.upsert(&pod("s", 1, None, false));
        assert_eq!(summary(&set.shards().await.unwrap()[1..]), gone);
        server.upsert(&pod("s", 1, Some("10.0.0.9"), true));
        assert_eq!(
            summary(&set.shards().await.unwrap()[1..]),
            ["0/1 s-1 http://10.0.0.9:8080 http://10.0.0.9:9090 ready=true removing=false"]
        );

        // A new shard set (coordinator restart) has not seen it: a pod
        // without an IP is left out until it runs.
        server.remove::<Pod>(Some(NAMESPACE), "s-1");
        assert_eq!(shard_set(&server, false).shards().await.unwrap().len(), 1);
        // Scaled down: forgotten, so a later scale-up starts fresh.
        server.upsert(&stateful_set("s", 1, None));
        set.shards().await.unwrap();
        server.upsert(&stateful_set("s", 2, None));
        assert_eq!(set.shards().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn scale_up_patches_each_statefulset_once_and_never_scales_down() {
        let server = FakeApiServer::start().await.unwrap();
        server.upsert(&stateful_set("a", 2, None));
        server.upsert(&stateful_set("b", 4, None));
        let set = shard_set(&server, false);
        set.scale_up(3).await.unwrap();
        assert_eq!(
            calls(&server),
            [
                "GET statefulsets?app=shard",
                "PATCH statefulsets/a/scale replicas=3",
            ]
        );
        assert_eq!((replicas(&server, "a"), replicas(&server, "b")), (3, 4));
        set.scale_up(3).await.unwrap();
        assert_eq!(calls(&server), ["GET statefulsets?app=shard"]);
    }

    #[tokio::test]
    async fn a_scale_conflict_is_retried_after_reading_the_scale_again() {
        let server = FakeApiServer::start().await.unwrap();
        server.upsert(&stateful_set("a", 1, None));
        server.inject(conflicts(1));
        shard_set(&server, false).scale_up(2).await.unwrap();
        assert_eq!(
            calls(&server),
            [
                "GET statefulsets?app=shard",
                "PATCH statefulsets/a/scale replicas=2",
                "GET statefulsets/a/scale",
                "PATCH statefulsets/a/scale replicas=2",
            ]
        );
        assert_eq!(replicas(&server, "a"), 2);

        // Another writer scaled between the listing and the patch, far
        // enough: the server refuses the stale patch, nothing more to do.
        let set = shard_set(&server, false);
        let groups = set.groups().await.unwrap();
        server.upsert(&stateful_set("a", 5, None));
        calls(&server);
        set.scale(&groups[0], groups[0].resource_version.clone(), |current| {
            Ok((current < 3).then_some(3))
        })
        .await
        .unwrap();
        assert_eq!(
            calls(&server),
            [
                "PATCH statefulsets/a/scale replicas=3",
                "GET statefulsets/a/scale",
            ]
        );
        assert_eq!(replicas(&server, "a"), 5);

        // Conflicts that never stop: a bounded number of attempts, then the error.
        server.inject(conflicts(100));
        let err = shard_set(&server, false).scale_up(9).await.unwrap_err();
        assert!(err.to_string().contains("conflict"), "{err}");
        let patches = calls(&server)
            .iter()
            .filter(|c| c.starts_with("PATCH"))
            .count();
        assert_eq!(patches, MAX_ATTEMPTS as usize);
        assert_eq!(replicas(&server, "a"), 5);
    }

    #[tokio::test]
    async fn the_draining_mark_lives_on_the_statefulset() {
        let server = FakeApiServer::start().await.unwrap();
        server.upsert(&stateful_set("a", 3, None));
        server.upsert(&stateful_set("b", 3, None));
        for set in ["a", "b"] {
            for index in 0..3 {
                let ip = format!("10.0.{}.{index}", set.len());
                server.upsert(&pod(set, index, Some(&ip), true));
            }
        }
        shard_set(&server, false)
            .set_removing(2, true)
            .await
            .unwrap();
        assert_eq!(
            calls(&server),
            [
                "GET statefulsets?app=shard",
                r#"PATCH statefulsets/a draining="2""#,
                r#"PATCH statefulsets/b draining="2""#,
            ]
        );
        // A new instance (coordinator restart) sees the drain.
        let set = shard_set(&server, false);
        let removing: Vec<(u32, u32)> = set
            .shards()
            .await
            .unwrap()
            .iter()
            .filter(|s| s.removing)
            .map(|s| (s.group, s.index))
            .collect();
        assert_eq!(removing, [(0, 2), (1, 2)]);
        calls(&server);
        // Marking again changes nothing and calls nothing but the list.
        set.set_removing(2, true).await.unwrap();
        assert_eq!(calls(&server), ["GET statefulsets?app=shard"]);
        set.set_removing(2, false).await.unwrap();
        assert_eq!(annotation(&server, "a"), None);
        assert!(set.shards().await.unwrap().iter().all(|s| !s.removing));
    }

    #[tokio::test]
    async fn an_annotation_conflict_rereads_the_statefulset() {
        let server = FakeApiServer::start().await.unwrap();
        server.upsert(&stateful_set("a", 3, None));
        let set = shard_set(&server, false);
        let groups = set.groups().await.unwrap();
        // Changed between the list and the patch by someone else.
        server.upsert(&with_draining(stateful_set("a", 3, None), "1"));
        calls(&server);
        set.update_draining(&groups[0], |s| {
            s.insert(2);
        })
        .await
        .unwrap();
        assert_eq!(
            calls(&server),
            [
                r#"PATCH statefulsets/a draining="2""#,
                "GET statefulsets/a",
                r#"PATCH statefulsets/a draining="1,2""#,
            ]
        );
        assert_eq!(annotation(&server, "a").as_deref(), Some("1,2"));
    }

    #[tokio::test]
    async fn remove_takes_only_the_highest_shard_and_pvcs_go_only_after_the_pod() {
        for delete_pvc in [false, true] {
            let server = FakeApiServer::start().await.unwrap();
            server.upsert(&stateful_set("a", 3, None));
            for index in 0..3 {
                server.upsert(&pod("a", index, Some(&format!("10.0.0.{index}")), true));
                server.upsert(&pvc(&format!("data-a-{index}"), "a"));
            }
            // Another StatefulSet's PVC with a look-alike name stays.
            server.upsert(&pvc("data-a-2-copy", "a"));
            let pvcs = ["data-a-0", "data-a-1", "data-a-2", "data-a-2-copy"];
            let existing = || -> Vec<&str> {
                pvcs.iter()
                    .copied()
                    .filter(|name| pvc_exists(&server, name))
                    .collect()
            };
            let set = shard_set(&server, delete_pvc);
            let err = set.remove(1).await.unwrap_err();
            assert_eq!(
                err.to_string(),
                "shard 1 is not the highest: StatefulSet a has 3 replicas"
            );
            set.set_removing(2, true).await.unwrap();
            calls(&server);
            set.remove(2).await.unwrap();
            assert_eq!(
                calls(&server),
                [
                    "GET statefulsets?app=shard",
                    "PATCH statefulsets/a/scale replicas=2",
                ]
            );
            // The pod is still terminating: nothing is cleaned up.
            assert_eq!(set.shards().await.unwrap().len(), 2);
            assert_eq!(annotation(&server, "a").as_deref(), Some("2"));
            assert_eq!(existing(), pvcs);
            calls(&server);
            // Gone: PVCs deleted (with the flag), then the mark cleared.
            server.remove::<Pod>(Some(NAMESPACE), "a-2");
            assert_eq!(set.shards().await.unwrap().len(), 2);
            let mut expected = vec!["GET statefulsets?app=shard", "GET pods?set=a"];
            if delete_pvc {
                expected.extend([
                    "GET persistentvolumeclaims?set=a",
                    "DELETE persistentvolumeclaims/data-a-2",
                ]);
            }
            expected.push("PATCH statefulsets/a draining=null");
            assert_eq!(calls(&server), expected, "delete_pvc={delete_pvc}");
            let mut kept = vec!["data-a-0", "data-a-1", "data-a-2-copy"];
            if !delete_pvc {
                kept.insert(2, "data-a-2");
            }
            assert_eq!(existing(), kept);
            assert_eq!(annotation(&server, "a"), None);
            // Removing what is already gone does nothing.
            set.remove(2).await.unwrap();
            assert_eq!(calls(&server), ["GET statefulsets?app=shard"]);
        }
    }

    #[tokio::test]
    async fn scaling_back_up_cancels_a_pending_clean_up() {
        let server = FakeApiServer::start().await.unwrap();
        server.upsert(&stateful_set("a", 2, None));
        server.upsert(&pvc("data-a-1", "a"));
        let set = shard_set(&server, true);
        set.set_removing(1, true).await.unwrap();
        set.remove(1).await.unwrap();
        // The pod has not terminated yet when capacity is needed again.
        server.upsert(&pod("a", 1, Some("10.0.0.1"), false));
        calls(&server);
        set.scale_up(2).await.unwrap();
        assert_eq!(
            calls(&server),
            [
                "GET statefulsets?app=shard",
                "PATCH statefulsets/a draining=null",
                "PATCH statefulsets/a/scale replicas=2",
            ]
        );
        server.remove::<Pod>(Some(NAMESPACE), "a-1");
        set.shards().await.unwrap();
        assert!(pvc_exists(&server, "data-a-1"));
    }
}
