//! The Kubernetes API calls the shard set makes, behind a narrow trait, and
//! how a [`kube::Client`] is built from the coordinator's flags (a kubeconfig,
//! or what `kubectl` would infer) and from a `kubernetes_sd_configs`
//! `kubeconfig_file`.
//!
//! [`ShardCluster`] lists exactly what [`crate::shards`] needs: pods and
//! StatefulSets by label selector, the StatefulSet `scale` subresource, an
//! annotation patch on a StatefulSet, and the PVCs of a StatefulSet's pods.
//! Every call maps to one rule of [`crate::rbac::COORDINATOR_RULES`].
//! [`KubeCluster`] implements it over a [`kube::Client`]; the tests run it
//! against the in-process API server of the dev-only `promshard-fake-kube`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), promshard_k8s::cluster::ClusterError> {
//! use promshard_k8s::cluster::{ClientSource, KubeCluster, ShardCluster, client_from};
//!
//! // In a pod: the service account; on a laptop: KUBECONFIG or ~/.kube/config.
//! let client = client_from(&ClientSource::Infer).await?;
//! let cluster = KubeCluster::new(client);
//! let sets = cluster.list_stateful_sets("monitoring", "app=prometheus-shard").await?;
//! println!("{} StatefulSets", sets.len());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

/// An API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The object changed since it was read (HTTP 409): read it again.
    #[error("{call}: conflict: {message}")]
    Conflict {
        /// The call, e.g. `PATCH statefulsets/prom/scale in monitoring`.
        call: String,
        /// The API server's message.
        message: String,
    },
    /// The object does not exist (HTTP 404).
    #[error("{call}: not found")]
    NotFound {
        /// The call.
        call: String,
    },
    /// Any other failure: refused, unreachable, malformed answer.
    #[error("{call}: {reason}")]
    Api {
        /// The call.
        call: String,
        /// Why, as the client or the API server put it.
        reason: String,
    },
    /// No answer in time.
    #[error("{call}: no answer within {timeout:?}")]
    Timeout {
        /// The call.
        call: String,
        /// The limit.
        timeout: Duration,
    },
    /// No usable client configuration (flags, kubeconfig, in-cluster).
    #[error("Kubernetes client configuration: {0}")]
    Config(String),
}

impl ClusterError {
    /// Whether the call lost a race with another writer (409).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    fn from_kube(call: String, error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) if status.is_conflict() => Self::Conflict {
                call,
                message: status.message,
            },
            kube::Error::Api(status) if status.is_not_found() => Self::NotFound { call },
            kube::Error::Api(status) => Self::Api {
                call,
                reason: format!("HTTP {} {}: {}", status.code, status.reason, status.message),
            },
            other => Self::Api {
                call,
                reason: other.to_string(),
            },
        }
    }
}

/// The calls the shard set makes. All are namespaced.
pub trait ShardCluster: Send + Sync + 'static {
    /// `list statefulsets` with a label selector.
    fn list_stateful_sets(
        &self,
        namespace: &str,
        selector: &str,
    ) -> impl Future<Output = Result<Vec<StatefulSet>, ClusterError>> + Send;

    /// `get statefulsets/<name>`.
    fn get_stateful_set(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<StatefulSet, ClusterError>> + Send;

    /// `patch statefulsets/<name>` (JSON merge patch of annotations; `None`
    /// removes one). With `resource_version`, a StatefulSet changed since that
    /// version is refused with [`ClusterError::Conflict`].
    fn patch_stateful_set_annotations(
        &self,
        namespace: &str,
        name: &str,
        annotations: &BTreeMap<String, Option<String>>,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<StatefulSet, ClusterError>> + Send;

    /// `list pods` with a label selector.
    fn list_pods(
        &self,
        namespace: &str,
        selector: &str,
    ) -> impl Future<Output = Result<Vec<Pod>, ClusterError>> + Send;

    /// `get statefulsets/<name>/scale`.
    fn get_scale(
        &self,
        namespace: &str,
        stateful_set: &str,
    ) -> impl Future<Output = Result<Scale, ClusterError>> + Send;

    /// `patch statefulsets/<name>/scale` (JSON merge patch of
    /// `spec.replicas`), refused with [`ClusterError::Conflict`] when the
    /// StatefulSet changed since `resource_version`.
    fn patch_scale(
        &self,
        namespace: &str,
        stateful_set: &str,
        replicas: i32,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<Scale, ClusterError>> + Send;

    /// `list persistentvolumeclaims` with a label selector.
    fn list_pvcs(
        &self,
        namespace: &str,
        selector: &str,
    ) -> impl Future<Output = Result<Vec<PersistentVolumeClaim>, ClusterError>> + Send;

    /// `delete persistentvolumeclaims/<name>`; one already gone is not an error.
    fn delete_pvc(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
}

/// [`ShardCluster`] over a [`kube::Client`], with a timeout on every call so
/// that a hung API server cannot stall the coordinator's cycle.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    timeout: Duration,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl KubeCluster {
    /// Calls through `client`, 30 s per call at most.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            timeout: Duration::from_secs(30),
        }
    }

    /// The same, with another per-call timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn call<T>(
        &self,
        call: impl FnOnce() -> String,
        future: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ClusterError> {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(ClusterError::from_kube(call(), error)),
            Err(_) => Err(ClusterError::Timeout {
                call: call(),
                timeout: self.timeout,
            }),
        }
    }
}

fn with_resource_version(
    mut patch: serde_json::Value,
    resource_version: Option<&str>,
) -> serde_json::Value {
    if let Some(version) = resource_version {
        patch["metadata"]["resourceVersion"] = serde_json::Value::from(version);
    }
    patch
}

impl ShardCluster for KubeCluster {
    async fn list_stateful_sets(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<StatefulSet>, ClusterError> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), namespace);
        let params = ListParams::default().labels(selector);
        self.call(
            || format!("list statefulsets {selector:?} in {namespace}"),
            api.list(&params),
        )
        .await
        .map(|list| list.items)
    }

    async fn get_stateful_set(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<StatefulSet, ClusterError> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), namespace);
        self.call(
            || format!("get statefulsets/{name} in {namespace}"),
            api.get(name),
        )
        .await
    }

    async fn patch_stateful_set_annotations(
        &self,
        namespace: &str,
        name: &str,
        annotations: &BTreeMap<String, Option<String>>,
        resource_version: Option<&str>,
    ) -> Result<StatefulSet, ClusterError> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), namespace);
        let patch = with_resource_version(
            serde_json::json!({ "metadata": { "annotations": annotations } }),
            resource_version,
        );
        self.call(
            || format!("patch statefulsets/{name} in {namespace}"),
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await
    }

    async fn list_pods(&self, namespace: &str, selector: &str) -> Result<Vec<Pod>, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = ListParams::default().labels(selector);
        self.call(
            || format!("list pods {selector:?} in {namespace}"),
            api.list(&params),
        )
        .await
        .map(|list| list.items)
    }

    async fn get_scale(&self, namespace: &str, stateful_set: &str) -> Result<Scale, ClusterError> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), namespace);
        self.call(
            || format!("get statefulsets/{stateful_set}/scale in {namespace}"),
            api.get_scale(stateful_set),
        )
        .await
    }

    async fn patch_scale(
        &self,
        namespace: &str,
        stateful_set: &str,
        replicas: i32,
        resource_version: Option<&str>,
    ) -> Result<Scale, ClusterError> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), namespace);
        let patch = with_resource_version(
            serde_json::json!({ "spec": { "replicas": replicas } }),
            resource_version,
        );
        self.call(
            || format!("patch statefulsets/{stateful_set}/scale in {namespace}"),
            api.patch_scale(stateful_set, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await
    }

    async fn list_pvcs(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<PersistentVolumeClaim>, ClusterError> {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        let params = ListParams::default().labels(selector);
        self.call(
            || format!("list persistentvolumeclaims {selector:?} in {namespace}"),
            api.list(&params),
        )
        .await
        .map(|list| list.items)
    }

    async fn delete_pvc(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        match self
            .call(
                || format!("delete persistentvolumeclaims/{name} in {namespace}"),
                api.delete(name, &DeleteParams::default()),
            )
            .await
        {
            Ok(_) | Err(ClusterError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Where the API server and the credentials come from.
#[derive(Debug, Clone, Default)]
pub enum ClientSource {
    /// `KUBECONFIG` or `~/.kube/config` if there is one, else the pod's
    /// service account (what `kubectl` and client-go do).
    #[default]
    Infer,
    /// This kubeconfig file, its current context.
    Kubeconfig(PathBuf),
}

/// The client configuration `source` gives.
pub async fn config_from(source: &ClientSource) -> Result<kube::Config, ClusterError> {
    let fail = |e: &dyn std::fmt::Display| ClusterError::Config(e.to_string());
    match source {
        ClientSource::Infer => kube::Config::infer().await.map_err(|e| fail(&e)),
        ClientSource::Kubeconfig(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| ClusterError::Config(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| ClusterError::Config(format!("{}: {e}", path.display())))
        }
    }
}

/// A client for `source` (see [`config_from`]).
pub async fn client_from(source: &ClientSource) -> Result<kube::Client, ClusterError> {
    let config = config_from(source).await?;
    kube::Client::try_from(config).map_err(|e| ClusterError::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_kubeconfig_is_a_config_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, "clusters: [").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = runtime
            .block_on(config_from(&ClientSource::Kubeconfig(path.clone())))
            .unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_kubeconfig_file_gives_its_server_and_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:6443'}\ncontexts:\n- name: test\n  context: {cluster: c, user: u, namespace: shards}\nusers:\n- name: u\n  user: {token: abc}\n",
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let config = runtime
            .block_on(config_from(&ClientSource::Kubeconfig(path)))
            .unwrap();
        assert_eq!(config.cluster_url.to_string(), "http://127.0.0.1:6443/");
        assert_eq!(config.default_namespace, "shards");
    }
}
