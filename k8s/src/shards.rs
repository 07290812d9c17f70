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
    use std::sync::Arc;

    use k8s_openapi::api::apps::v1::StatefulSetSpec;
    use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec};
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, PersistentVolumeClaim, PodCondition, PodSpec, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};

    use super::*;

    /// An API in memory: StatefulSets, pods, PVCs, resource versions and
    /// conflicts like the real one; every call recorded.
    #[derive(Debug, Default)]
    struct Mock {
        state: Mutex<MockState>,
    }

    #[derive(Debug, Default)]
    struct MockState {
        version: u64,
        sets: BTreeMap<String, StatefulSet>,
        pods: BTreeMap<String, Pod>,
        pvcs: BTreeMap<String, PersistentVolumeClaim>,
        /// Conflicts to answer on the next scale patches.
        scale_conflicts: usize,
        /// The replicas the conflicting writer sets.
        conflicting_writer_sets: Option<i32>,
        calls: Vec<String>,
    }

    fn labels_match(labels: Option<&BTreeMap<String, String>>, selector: &str) -> bool {
        selector.split(',').filter(|s| !s.is_empty()).all(|term| {
            let (k, v) = term.split_once('=').unwrap();
            labels.and_then(|l| l.get(k)).map(String::as_str) == Some(v)
        })
    }

    fn conflict(call: &str) -> ClusterError {
        ClusterError::Conflict {
            call: call.into(),
            message: "the object has been modified".into(),
        }
    }

    impl Mock {
        fn state(&self) -> std::sync::MutexGuard<'_, MockState> {
            self.state.lock().unwrap()
        }

        fn calls(&self) -> Vec<String> {
            std::mem::take(&mut self.state().calls)
        }

        fn add_set(&self, name: &str, replicas: i32, group_label: Option<&str>) {
            let mut state = self.state();
            state.version += 1;
            let mut labels = BTreeMap::from([("app".to_owned(), "shard".to_owned())]);
            if let Some(group) = group_label {
                labels.insert(REPLICA_GROUP_LABEL.into(), group.into());
            }
            let set = StatefulSet {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(labels),
                    resource_version: Some(state.version.to_string()),
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
            };
            state.sets.insert(name.into(), set);
        }

        fn replicas(&self, name: &str) -> i32 {
            self.state().sets[name].spec.replicas.unwrap()
        }

        fn annotation(&self, name: &str) -> Option<String> {
            self.state().sets[name]
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DRAINING_ANNOTATION).cloned())
        }

        fn add_pod(&self, set: &str, index: u32, ip: Option<&str>, ready: bool) {
            let name = format!("{set}-{index}");
            let pod = Pod {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
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
            };
            self.state().pods.insert(name, pod);
        }

        fn add_pvc(&self, name: &str, set: &str) {
            let pvc = PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(BTreeMap::from([("set".to_owned(), set.to_owned())])),
                    ..ObjectMeta::default()
                },
                ..PersistentVolumeClaim::default()
            };
            self.state().pvcs.insert(name.into(), pvc);
        }

        fn pvc_names(&self) -> Vec<String> {
            self.state().pvcs.keys().cloned().collect()
        }

        fn check_version(
            state: &MockState,
            name: &str,
            version: Option<&str>,
            call: &str,
        ) -> Result<(), ClusterError> {
            let set = state
                .sets
                .get(name)
                .ok_or_else(|| ClusterError::NotFound { call: call.into() })?;
            match version {
                Some(v) if Some(v) != set.metadata.resource_version.as_deref() => {
                    Err(conflict(call))
                }
                _ => Ok(()),
            }
        }

        fn bump(state: &mut MockState, name: &str) -> StatefulSet {
            state.version += 1;
            let version = state.version.to_string();
            let set = state.sets.get_mut(name).unwrap();
            set.metadata.resource_version = Some(version);
            set.clone()
        }

        fn scale_of(set: &StatefulSet) -> Scale {
            Scale {
                metadata: set.metadata.clone(),
                spec: Some(ScaleSpec {
                    replicas: set.spec.replicas,
                }),
                status: None,
            }
        }
    }

    impl ShardCluster for Arc<Mock> {
        async fn list_stateful_sets(
            &self,
            namespace: &str,
            selector: &str,
        ) -> Result<Vec<StatefulSet>, ClusterError> {
            let mut state = self.state();
            state
                .calls
                .push(format!("list statefulsets {namespace} {selector}"));
            Ok(state
                .sets
                .values()
                .filter(|s| labels_match(s.metadata.labels.as_ref(), selector))
                .cloned()
                .collect())
        }

        async fn get_stateful_set(
            &self,
            namespace: &str,
            name: &str,
        ) -> Result<StatefulSet, ClusterError> {
            let mut state = self.state();
            let call = format!("get statefulsets/{name} {namespace}");
            state.calls.push(call.clone());
            state
                .sets
                .get(name)
                .cloned()
                .ok_or(ClusterError::NotFound { call })
        }

        async fn patch_stateful_set_annotations(
            &self,
            namespace: &str,
            name: &str,
            annotations: &BTreeMap<String, Option<String>>,
            resource_version: Option<&str>,
        ) -> Result<StatefulSet, ClusterError> {
            let mut state = self.state();
            let call = format!(
                "patch statefulsets/{name} {namespace} {} rv={}",
                serde_json::to_string(annotations).unwrap(),
                resource_version.unwrap_or("-")
            );
            state.calls.push(call.clone());
            Mock::check_version(&state, name, resource_version, &call)?;
            let set = state.sets.get_mut(name).unwrap();
            let current = set.metadata.annotations.get_or_insert_default();
            for (k, v) in annotations {
                match v {
                    Some(v) => current.insert(k.clone(), v.clone()),
                    None => current.remove(k),
                };
            }
            Ok(Mock::bump(&mut state, name))
        }

        async fn list_pods(
            &self,
            namespace: &str,
            selector: &str,
        ) -> Result<Vec<Pod>, ClusterError> {
            let mut state = self.state();
            state
                .calls
                .push(format!("list pods {namespace} {selector}"));
            Ok(state
                .pods
                .values()
                .filter(|p| labels_match(p.metadata.labels.as_ref(), selector))
                .cloned()
                .collect())
        }

        async fn get_scale(
            &self,
            namespace: &str,
            stateful_set: &str,
        ) -> Result<Scale, ClusterError> {
            let mut state = self.state();
            let call = format!("get statefulsets/{stateful_set}/scale {namespace}");
            state.calls.push(call.clone());
            let set = state
                .sets
                .get(stateful_set)
                .ok_or(ClusterError::NotFound { call })?;
            Ok(Mock::scale_of(set))
        }

        async fn patch_scale(
            &self,
            namespace: &str,
            stateful_set: &str,
            replicas: i32,
            resource_version: Option<&str>,
        ) -> Result<Scale, ClusterError> {
            let mut state = self.state();
            let call = format!(
                "patch statefulsets/{stateful_set}/scale {namespace} replicas={replicas} rv={}",
                resource_version.unwrap_or("-")
            );
            state.calls.push(call.clone());
            if state.scale_conflicts > 0 {
                state.scale_conflicts -= 1;
                // Someone else wrote in between.
                if let Some(replicas) = state.conflicting_writer_sets {
                    state.sets.get_mut(stateful_set).unwrap().spec.replicas = Some(replicas);
                }
                Mock::bump(&mut state, stateful_set);
                return Err(conflict(&call));
            }
            Mock::check_version(&state, stateful_set, resource_version, &call)?;
            state.sets.get_mut(stateful_set).unwrap().spec.replicas = Some(replicas);
            let set = Mock::bump(&mut state, stateful_set);
            Ok(Mock::scale_of(&set))
        }

        async fn list_pvcs(
            &self,
            namespace: &str,
            selector: &str,
        ) -> Result<Vec<PersistentVolumeClaim>, ClusterError> {
            let mut state = self.state();
            state.calls.push(format!(
                "list persistentvolumeclaims {namespace} {selector}"
            ));
            Ok(state
                .pvcs
                .values()
                .filter(|p| labels_match(p.metadata.labels.as_ref(), selector))
                .cloned()
                .collect())
        }

        async fn delete_pvc(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
            let mut state = self.state();
            state
                .calls
                .push(format!("delete persistentvolumeclaims/{name} {namespace}"));
            state.pvcs.remove(name);
            Ok(())
        }
    }

    fn shard_set(mock: &Arc<Mock>, delete_pvc: bool) -> ShardSet<Arc<Mock>> {
        let mut options = ShardSetOptions::new("mon", "app=shard");
        options.delete_pvc = delete_pvc;
        ShardSet::new(Arc::clone(mock), options)
    }

    fn run<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
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

    #[test]
    fn pods_of_each_statefulset_are_the_shards_of_its_group() {
        let mock = Arc::new(Mock::default());
        // Named so that name order and creation order differ.
        mock.add_set("shard-b", 2, None);
        mock.add_set("shard-a", 3, None);
        mock.add_pod("shard-a", 0, Some("10.0.0.1"), true);
        mock.add_pod("shard-a", 1, Some("10.0.0.2"), false);
        // Not started yet: no IP, never seen.
        mock.add_pod("shard-a", 2, None, false);
        mock.add_pod("shard-b", 0, Some("fd00::7"), true);
        mock.add_pod("shard-b", 1, Some("10.0.1.2"), true);
        // Beyond spec.replicas (scaled down, terminating): not a shard.
        mock.add_pod("shard-b", 2, Some("10.0.1.3"), true);
        let shards = run(shard_set(&mock, false).shards()).unwrap();
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
            mock.calls(),
            [
                "list statefulsets mon app=shard",
                "list pods mon set=shard-a",
                "list pods mon set=shard-b",
            ]
        );
    }

    #[test]
    fn the_group_label_orders_groups_and_must_be_on_every_statefulset() {
        let mock = Arc::new(Mock::default());
        mock.add_set("a", 1, Some("1"));
        mock.add_set("b", 1, Some("0"));
        mock.add_pod("a", 0, Some("10.0.0.1"), true);
        mock.add_pod("b", 0, Some("10.0.0.2"), true);
        let shards = run(shard_set(&mock, false).shards()).unwrap();
        let groups: Vec<(u32, &str)> = shards.iter().map(|s| (s.group, s.pod.as_str())).collect();
        assert_eq!(groups, [(0, "b-0"), (1, "a-0")]);

        mock.add_set("c", 1, None);
        let err = run(shard_set(&mock, false).shards()).unwrap_err();
        assert!(
            err.to_string().contains("StatefulSet mon/c: no label"),
            "{err}"
        );

        mock.add_set("c", 1, Some("1"));
        let err = run(shard_set(&mock, false).shards()).unwrap_err();
        assert!(
            err.to_string()
                .contains("replica group 1 is also StatefulSet"),
            "{err}"
        );

        mock.add_set("c", 1, Some("two"));
        let err = run(shard_set(&mock, false).shards()).unwrap_err();
        assert!(
            err.to_string().contains("\"two\" is not a group number"),
            "{err}"
        );
    }

    #[test]
    fn no_statefulset_or_a_bad_annotation_is_an_error_naming_it() {
        let mock = Arc::new(Mock::default());
        let err = run(shard_set(&mock, false).shards()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no StatefulSet in namespace mon matches the selector \"app=shard\""
        );
        mock.add_set("s", 1, None);
        mock.state().sets.get_mut("s").unwrap().metadata.annotations = Some(BTreeMap::from([(
            DRAINING_ANNOTATION.to_owned(),
            "1,x".to_owned(),
        )]));
        let err = run(shard_set(&mock, false).shards()).unwrap_err();
        assert!(
            err.to_string().starts_with("StatefulSet mon/s: annotation"),
            "{err}"
        );
    }

    #[test]
    fn a_restarting_pod_stays_a_shard_that_is_not_ready() {
        let mock = Arc::new(Mock::default());
        mock.add_set("s", 2, None);
        mock.add_pod("s", 0, Some("10.0.0.1"), true);
        mock.add_pod("s", 1, Some("10.0.0.2"), true);
        let set = shard_set(&mock, false);
        assert_eq!(run(set.shards()).unwrap().len(), 2);

        // Rolling update: terminating (IP kept, being deleted), then gone,
        // then recreated without an IP, then running elsewhere.
        mock.state()
            .pods
            .get_mut("s-1")
            .unwrap()
            .metadata
            .deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        let shards = run(set.shards()).unwrap();
        assert_eq!(
            summary(&shards[1..]),
            ["0/1 s-1 http://10.0.0.2:8080 http://10.0.0.2:9090 ready=false removing=false"]
        );
        mock.state().pods.remove("s-1");
        let gone = ["0/1 s-1 http://s-1.shards.mon.svc:8080 - ready=false removing=false"];
        assert_eq!(summary(&run(set.shards()).unwrap()[1..]), gone);
        mock.add_pod("s", 1, None, false);
        assert_eq!(summary(&run(set.shards()).unwrap()[1..]), gone);
        mock.add_pod("s", 1, Some("10.0.0.9"), true);
        assert_eq!(
            summary(&run(set.shards()).unwrap()[1..]),
            ["0/1 s-1 http://10.0.0.9:8080 http://10.0.0.9:9090 ready=true removing=false"]
        );

        // A new shard set (coordinator restart) has not seen it: a pod
        // without an IP is left out until it runs.
        mock.state().pods.remove("s-1");
        assert_eq!(run(shard_set(&mock, false).shards()).unwrap().len(), 1);
        // Scaled down: forgotten, so a later scale-up starts fresh.
        mock.state().sets.get_mut("s").unwrap().spec.replicas = Some(1);
        run(set.shards()).unwrap();
        mock.state().sets.get_mut("s").unwrap().spec.replicas = Some(2);
        assert_eq!(run(set.shards()).unwrap().len(), 1);
    }

    #[test]
    fn scale_up_patches_each_statefulset_once_and_never_scales_down() {
        let mock = Arc::new(Mock::default());
        mock.add_set("a", 2, None);
        mock.add_set("b", 4, None);
        let set = shard_set(&mock, false);
        run(set.scale_up(3)).unwrap();
        assert_eq!(
            mock.calls(),
            [
                "list statefulsets mon app=shard",
                "patch statefulsets/a/scale mon replicas=3 rv=1",
            ]
        );
        assert_eq!((mock.replicas("a"), mock.replicas("b")), (3, 4));
        run(set.scale_up(3)).unwrap();
        assert_eq!(mock.calls(), ["list statefulsets mon app=shard"]);
    }

    #[test]
    fn a_scale_conflict_is_retried_after_reading_the_scale_again() {
        let mock = Arc::new(Mock::default());
        mock.add_set("a", 1, None);
        mock.state().scale_conflicts = 1;
        run(shard_set(&mock, false).scale_up(2)).unwrap();
        assert_eq!(
            mock.calls(),
            [
                "list statefulsets mon app=shard",
                "patch statefulsets/a/scale mon replicas=2 rv=1",
                "get statefulsets/a/scale mon",
                "patch statefulsets/a/scale mon replicas=2 rv=2",
            ]
        );
        assert_eq!(mock.replicas("a"), 2);

        // The other writer already scaled far enough: nothing more to do.
        mock.state().scale_conflicts = 1;
        mock.state().conflicting_writer_sets = Some(5);
        run(shard_set(&mock, false).scale_up(3)).unwrap();
        assert_eq!(
            mock.calls(),
            [
                "list statefulsets mon app=shard",
                "patch statefulsets/a/scale mon replicas=3 rv=3",
                "get statefulsets/a/scale mon",
            ]
        );
        assert_eq!(mock.replicas("a"), 5);
        mock.state().conflicting_writer_sets = None;

        // Conflicts that never stop: a bounded number of attempts, then the error.
        mock.state().scale_conflicts = 100;
        let err = run(shard_set(&mock, false).scale_up(9)).unwrap_err();
        assert!(err.to_string().contains("conflict"), "{err}");
        let patches = mock
            .calls()
            .iter()
            .filter(|c| c.starts_with("patch"))
            .count();
        assert_eq!(patches, MAX_ATTEMPTS as usize);
    }

    #[test]
    fn the_draining_mark_lives_on_the_statefulset() {
        let mock = Arc::new(Mock::default());
        mock.add_set("a", 3, None);
        mock.add_set("b", 3, None);
        for set in ["a", "b"] {
            for index in 0..3 {
                mock.add_pod(
                    set,
                    index,
                    Some(&format!("10.0.{}.{index}", set.len())),
                    true,
                );
            }
        }
        run(shard_set(&mock, false).set_removing(2, true)).unwrap();
        assert_eq!(
            mock.calls(),
            [
                "list statefulsets mon app=shard",
                r#"patch statefulsets/a mon {"promshard.io/draining-shards":"2"} rv=1"#,
                r#"patch statefulsets/b mon {"promshard.io/draining-shards":"2"} rv=2"#,
            ]
        );
        // A new instance (coordinator restart) sees the drain.
        let set = shard_set(&mock, false);
        let removing: Vec<(u32, u32)> = run(set.shards())
            .unwrap()
            .iter()
            .filter(|s| s.removing)
            .map(|s| (s.group, s.index))
            .collect();
        assert_eq!(removing, [(0, 2), (1, 2)]);
        mock.calls();
        // Marking again changes nothing and calls nothing but the list.
        run(set.set_removing(2, true)).unwrap();
        assert_eq!(mock.calls(), ["list statefulsets mon app=shard"]);
        run(set.set_removing(2, false)).unwrap();
        assert_eq!(mock.annotation("a"), None);
        assert!(run(set.shards()).unwrap().iter().all(|s| !s.removing));
    }

    #[test]
    fn an_annotation_conflict_rereads_the_statefulset() {
        let mock = Arc::new(Mock::default());
        mock.add_set("a", 3, None);
        let set = shard_set(&mock, false);
        // Changed between the list and the patch by someone else.
        let groups = run(set.groups()).unwrap();
        mock.state().sets.get_mut("a").unwrap().metadata.annotations = Some(BTreeMap::from([(
            DRAINING_ANNOTATION.to_owned(),
            "1".to_owned(),
        )]));
        Mock::bump(&mut mock.state(), "a");
        mock.calls();
        run(set.update_draining(&groups[0], |s| {
            s.insert(2);
        }))
        .unwrap();
        assert_eq!(
            mock.calls(),
            [
                r#"patch statefulsets/a mon {"promshard.io/draining-shards":"2"} rv=1"#,
                "get statefulsets/a mon",
                r#"patch statefulsets/a mon {"promshard.io/draining-shards":"1,2"} rv=2"#,
            ]
        );
    }

    #[test]
    fn remove_takes_only_the_highest_shard_and_pvcs_go_only_after_the_pod() {
        for delete_pvc in [false, true] {
            let mock = Arc::new(Mock::default());
            mock.add_set("a", 3, None);
            for index in 0..3 {
                mock.add_pod("a", index, Some(&format!("10.0.0.{index}")), true);
                mock.add_pvc(&format!("data-a-{index}"), "a");
            }
            // Another StatefulSet's PVC with a look-alike name stays.
            mock.add_pvc("data-a-2-copy", "a");
            let set = shard_set(&mock, delete_pvc);
            let err = run(set.remove(1)).unwrap_err();
            assert_eq!(
                err.to_string(),
                "shard 1 is not the highest: StatefulSet a has 3 replicas"
            );
            run(set.set_removing(2, true)).unwrap();
            mock.calls();
            run(set.remove(2)).unwrap();
            assert_eq!(
                mock.calls(),
                [
                    "list statefulsets mon app=shard",
                    "patch statefulsets/a/scale mon replicas=2 rv=2",
                ]
            );
            // The pod is still terminating: nothing is cleaned up.
            assert_eq!(run(set.shards()).unwrap().len(), 2);
            assert_eq!(mock.annotation("a").as_deref(), Some("2"));
            assert_eq!(mock.pvc_names().len(), 4);
            mock.calls();
            // Gone: PVCs deleted (with the flag), then the mark cleared.
            mock.state().pods.remove("a-2");
            assert_eq!(run(set.shards()).unwrap().len(), 2);
            let mut expected = vec!["list statefulsets mon app=shard", "list pods mon set=a"];
            if delete_pvc {
                expected.extend([
                    "list persistentvolumeclaims mon set=a",
                    "delete persistentvolumeclaims/data-a-2 mon",
                ]);
            }
            expected.push(r#"patch statefulsets/a mon {"promshard.io/draining-shards":null} rv=3"#);
            assert_eq!(mock.calls(), expected);
            let mut pvcs = vec!["data-a-0", "data-a-1", "data-a-2-copy"];
            if !delete_pvc {
                pvcs.insert(2, "data-a-2");
            }
            assert_eq!(mock.pvc_names(), pvcs);
            assert_eq!(mock.annotation("a"), None);
            // Removing what is already gone does nothing.
            run(set.remove(2)).unwrap();
            assert_eq!(mock.calls(), ["list statefulsets mon app=shard"]);
        }
    }

    #[test]
    fn scaling_back_up_cancels_a_pending_clean_up() {
        let mock = Arc::new(Mock::default());
        mock.add_set("a", 2, None);
        mock.add_pvc("data-a-1", "a");
        let set = shard_set(&mock, true);
        run(set.set_removing(1, true)).unwrap();
        run(set.remove(1)).unwrap();
        // The pod has not terminated yet when capacity is needed again.
        mock.add_pod("a", 1, Some("10.0.0.1"), false);
        mock.calls();
        run(set.scale_up(2)).unwrap();
        assert_eq!(
            mock.calls(),
            [
                "list statefulsets mon app=shard",
                r#"patch statefulsets/a mon {"promshard.io/draining-shards":null} rv=3"#,
                "patch statefulsets/a/scale mon replicas=2 rv=4",
            ]
        );
        mock.state().pods.remove("a-1");
        run(set.shards()).unwrap();
        assert_eq!(mock.pvc_names(), ["data-a-1"]);
    }
}
