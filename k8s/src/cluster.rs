//! The Kubernetes API calls the shard set makes, behind a narrow trait, and
//! how a [`kube::Client`] is built from flags or a Prometheus config.
//!
//! [`ShardCluster`] lists exactly what [`crate::shards`] needs: pods and
//! StatefulSets by label selector, the StatefulSet `scale` subresource, an
//! annotation patch on a StatefulSet, and the PVCs of a StatefulSet's pods.
//! Every call maps to one rule of [`crate::rbac::COORDINATOR_RULES`].
//! [`KubeCluster`] implements it over a [`kube::Client`]; tests implement it
//! over memory.
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
use std::path::{Path, PathBuf};
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
    /// The pod's service account only.
    InCluster,
    /// This kubeconfig file, its current context.
    Kubeconfig(PathBuf),
    /// An explicit API server, as a Prometheus `kubernetes_sd_configs`
    /// `api_server` with its HTTP client settings gives it.
    ApiServer(Box<ApiServer>),
}

/// An explicit API server and how to authenticate to it.
#[derive(Clone, Default)]
pub struct ApiServer {
    /// `https://host:port` (or `http://` for tests).
    pub url: String,
    /// Bearer token.
    pub bearer_token: Option<String>,
    /// File holding the bearer token (re-read as it rotates).
    pub bearer_token_file: Option<PathBuf>,
    /// Basic auth user and password.
    pub basic_auth: Option<(String, String)>,
    /// CA bundle (PEM) the server certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM).
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM).
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
    /// The name the server certificate must carry, if not the URL's host.
    pub server_name: Option<String>,
    /// Namespace for calls that name none.
    pub default_namespace: Option<String>,
}

impl std::fmt::Debug for ApiServer {
    // Credentials stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("url", &self.url)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<secret>"),
            )
            .field("bearer_token_file", &self.bearer_token_file)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(user, _)| user),
            )
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("server_name", &self.server_name)
            .field("default_namespace", &self.default_namespace)
            .finish()
    }
}

fn path_string(path: &Path) -> String {
    path.display().to_string()
}

/// The client configuration `source` gives.
pub async fn config_from(source: &ClientSource) -> Result<kube::Config, ClusterError> {
    let fail = |e: &dyn std::fmt::Display| ClusterError::Config(e.to_string());
    match source {
        ClientSource::Infer => kube::Config::infer().await.map_err(|e| fail(&e)),
        ClientSource::InCluster => kube::Config::incluster().map_err(|e| fail(&e)),
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
        ClientSource::ApiServer(server) => api_server_config(server),
    }
}

fn api_server_config(server: &ApiServer) -> Result<kube::Config, ClusterError> {
    let url: http::Uri = server
        .url
        .parse()
        .map_err(|e| ClusterError::Config(format!("api_server {:?}: {e}", server.url)))?;
    let mut config = kube::Config::new(url);
    if let Some(namespace) = &server.default_namespace {
        config.default_namespace.clone_from(namespace);
    }
    config.root_cert_file.clone_from(&server.ca_file);
    config.accept_invalid_certs = server.insecure_skip_verify;
    config.tls_server_name.clone_from(&server.server_name);
    // The secret fields of AuthInfo are `secrecy` types; going through serde
    // builds them without another dependency.
    let mut auth = serde_json::Map::new();
    if let Some(token) = &server.bearer_token {
        auth.insert("token".into(), token.clone().into());
    }
    if let Some(file) = &server.bearer_token_file {
        auth.insert("tokenFile".into(), path_string(file).into());
    }
    if let Some((user, password)) = &server.basic_auth {
        auth.insert("username".into(), user.clone().into());
        auth.insert("password".into(), password.clone().into());
    }
    if let Some(file) = &server.cert_file {
        auth.insert("client-certificate".into(), path_string(file).into());
    }
    if let Some(file) = &server.key_file {
        auth.insert("client-key".into(), path_string(file).into());
    }
    config.auth_info = serde_json::from_value(serde_json::Value::Object(auth))
        .map_err(|e| ClusterError::Config(format!("api_server credentials: {e}")))?;
    Ok(config)
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
    fn api_server_settings_reach_the_client_config() {
        let config = api_server_config(&ApiServer {
            url: "https://10.0.0.1:6443".into(),
            bearer_token: Some("s3cret".into()),
            ca_file: Some(PathBuf::from("ca.pem")),
            cert_file: Some(PathBuf::from("tls.crt")),
            key_file: Some(PathBuf::from("tls.key")),
            insecure_skip_verify: true,
            default_namespace: Some("monitoring".into()),
            ..ApiServer::default()
        })
        .unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://10.0.0.1:6443/");
        assert_eq!(config.default_namespace, "monitoring");
        assert_eq!(config.root_cert_file, Some(PathBuf::from("ca.pem")));
        assert!(config.accept_invalid_certs);
        assert!(config.auth_info.token.is_some());
        assert_eq!(
            config.auth_info.client_certificate.as_deref(),
            Some("tls.crt")
        );
        assert_eq!(config.auth_info.client_key.as_deref(), Some("tls.key"));
    }

    #[test]
    fn debug_output_hides_credentials() {
        let server = ApiServer {
            url: "https://k8s:6443".into(),
            bearer_token: Some("s3cret".into()),
            basic_auth: Some(("admin".into(), "hunter2".into())),
            ..ApiServer::default()
        };
        let shown = format!("{server:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("admin"), "{shown}");
    }

    #[test]
    fn a_bad_url_or_kubeconfig_is_a_config_error_naming_it() {
        let err = api_server_config(&ApiServer {
            url: "not a url".into(),
            ..ApiServer::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("not a url"), "{err}");

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
