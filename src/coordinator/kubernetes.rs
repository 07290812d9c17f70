//! The `kubernetes` shard backend: shards are the pods of the StatefulSets
//! matching `--shard.selector` in `--shard.namespace`, one StatefulSet per
//! replica group, scaled through the StatefulSet `scale` subresource.
//!
//! The shard set itself (pods to shards, scaling with conflict retry, the
//! draining mark kept as a StatefulSet annotation, PVC clean-up) lives in
//! [`promshard_k8s::shards`]; this module adapts it to [`ShardBackend`].
//!
//! What the coordinator sees during a rolling update: a pod being replaced
//! is listed as not started, and while it is gone its sidecar URL does not
//! answer, so the shard is unresponsive and keeps its targets for
//! `--shard.failover-after`; the new pod gets its assignment back as soon as
//! its sidecar answers.

use std::path::PathBuf;

use promshard_k8s::cluster::{ClientSource, KubeCluster, ShardCluster, client_from};
use promshard_k8s::shards::{ShardSet, ShardSetError, ShardSetOptions};

use crate::coordinator::backend::{BackendError, ShardBackend, ShardEndpoint};

/// How the backend finds the cluster and the shards (the coordinator's
/// `--shard.*` and `--kubeconfig` flags).
#[derive(Debug, Clone)]
pub struct KubernetesOptions {
    /// Namespace of the shard StatefulSets; `None`: the client's default
    /// (the coordinator pod's own namespace in a cluster).
    pub namespace: Option<String>,
    /// Label selector of the shard StatefulSets.
    pub selector: String,
    /// Port of the sidecar API in the shard pods.
    pub sidecar_port: u16,
    /// Delete a removed shard's PVCs once its pod is gone.
    pub delete_pvc: bool,
    /// Leave the shard count to an external autoscaler (HPA, KEDA) that
    /// follows `promshard_desired_shards`: never patch the scale subresource.
    pub external_autoscaler: bool,
    /// A kubeconfig file; `None`: `KUBECONFIG`, `~/.kube/config`, else the
    /// pod's service account.
    pub kubeconfig: Option<PathBuf>,
}

/// The `kubernetes` backend over any [`ShardCluster`] (a real API server
/// through [`KubeCluster`] unless a test says otherwise).
#[derive(Debug)]
pub struct KubernetesBackend<C = KubeCluster> {
    shard_set: ShardSet<C>,
    /// Two writers of `replicas` would undo each other's changes, so with an
    /// external autoscaler the coordinator only reports the count it wants.
    scales: bool,
}

impl KubernetesBackend<KubeCluster> {
    /// Connects to the cluster `options` name.
    pub(crate) async fn connect(options: &KubernetesOptions) -> Result<Self, BackendError> {
        let source = options
            .kubeconfig
            .clone()
            .map_or(ClientSource::Infer, ClientSource::Kubeconfig);
        let client = client_from(&source)
            .await
            .map_err(|e| BackendError::ShardList {
                path: "kubernetes".into(),
                reason: e.to_string(),
            })?;
        Ok(Self::with_client(client, options))
    }

    /// A backend over `client` (its default namespace unless `options` names one).
    pub fn with_client(client: kube::Client, options: &KubernetesOptions) -> Self {
        let namespace = options
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let mut shard_options = ShardSetOptions::new(namespace, options.selector.clone());
        shard_options.sidecar_port = options.sidecar_port;
        shard_options.delete_pvc = options.delete_pvc;
        let backend = Self::new(ShardSet::new(KubeCluster::new(client), shard_options));
        if options.external_autoscaler {
            backend.with_external_autoscaler()
        } else {
            backend
        }
    }
}

impl<C: ShardCluster> KubernetesBackend<C> {
    /// A backend over `shard_set`.
    pub(crate) fn new(shard_set: ShardSet<C>) -> Self {
        Self {
            shard_set,
            scales: true,
        }
    }

    /// Leaves scaling to an external autoscaler: [`ShardBackend::can_scale`]
    /// is false, so the coordinator exports the count it wants and changes
    /// nothing in the cluster.
    fn with_external_autoscaler(mut self) -> Self {
        self.scales = false;
        self
    }

    fn list_error(&self, error: &ShardSetError) -> BackendError {
        let options = self.shard_set.options();
        BackendError::ShardList {
            path: format!(
                "StatefulSets {:?} in namespace {}",
                options.selector, options.namespace
            ),
            reason: error.to_string(),
        }
    }
}

impl<C: ShardCluster> ShardBackend for KubernetesBackend<C> {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn can_scale(&self) -> bool {
        self.scales
    }

    async fn shards(&self) -> Result<Vec<ShardEndpoint>, BackendError> {
        let shards = self
            .shard_set
            .shards()
            .await
            .map_err(|e| self.list_error(&e))?;
        Ok(shards
            .into_iter()
            .map(|shard| ShardEndpoint {
                index: shard.index,
                group: shard.group,
                api_url: shard.sidecar_url,
                prometheus_url: shard.prometheus_url,
                removing: shard.removing,
                started: shard.ready,
                detail: (!shard.ready).then(|| format!("pod {} is not Ready", shard.pod)),
            })
            .collect())
    }

    async fn scale_up(&self, count: u32) -> Result<(), BackendError> {
        self.shard_set
            .scale_up(count)
            .await
            .map_err(|e| BackendError::Shard {
                index: count.saturating_sub(1),
                reason: format!("scaling up to {count} shards: {e}"),
            })
    }

    async fn set_removing(&self, index: u32, removing: bool) -> Result<(), BackendError> {
        self.shard_set
            .set_removing(index, removing)
            .await
            .map_err(|e| BackendError::Shard {
                index,
                reason: format!(
                    "{} the draining mark: {e}",
                    if removing { "setting" } else { "clearing" }
                ),
            })
    }

    async fn remove(&self, index: u32) -> Result<(), BackendError> {
        self.shard_set
            .remove(index)
            .await
            .map_err(|e| BackendError::Shard {
                index,
                reason: format!("removing: {e}"),
            })
    }
}
