//! The API client of a `kubernetes_sd_configs` entry, built the way
//! Prometheus builds it: a kubeconfig file, or `api_server` with the entry's
//! TLS and auth settings, or (neither) the pod's service account through
//! `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`.
//!
//! Every mode is expressed as a kubeconfig document handed to kube, so TLS
//! and token-file refresh behave the same in all of them. Secrets live only
//! in that document and in headers marked sensitive; nothing here logs them.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use kube::config::{KubeConfigOptions, Kubeconfig};
use promshard_config::discovery::http::{authorization_header, read_secret_file};
use promshard_config::http_client::HttpClientConfig;

use super::config::{KubernetesSdConfig, SERVICE_ACCOUNT_DIR};
use crate::cluster::{ClientSource, ClusterError, config_from};

/// Where in-cluster settings come from; tests point it elsewhere.
#[derive(Debug, Clone)]
pub struct InCluster {
    /// `KUBERNETES_SERVICE_HOST`.
    pub host: Option<String>,
    /// `KUBERNETES_SERVICE_PORT`.
    pub port: Option<String>,
    /// Directory holding `token`, `ca.crt` and `namespace`.
    pub service_account_dir: PathBuf,
}

impl InCluster {
    /// From the process environment and the standard service account mount.
    pub fn from_env() -> Self {
        Self {
            host: std::env::var("KUBERNETES_SERVICE_HOST").ok(),
            port: std::env::var("KUBERNETES_SERVICE_PORT").ok(),
            service_account_dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
        }
    }

    /// The namespace this pod runs in (for `namespaces.own_namespace`).
    pub fn own_namespace(&self) -> Result<String, String> {
        let path = self.service_account_dir.join("namespace");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("could not determine the pod's namespace: {e}"))?;
        let namespace = text.trim();
        if namespace.is_empty() {
            return Err("could not read own namespace name (empty file)".into());
        }
        Ok(namespace.to_owned())
    }
}

/// Standard base64 with padding (kubeconfig `*-data` fields).
fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A single-cluster kubeconfig document.
fn kubeconfig(
    server: &str,
    cluster: serde_json::Value,
    user: serde_json::Value,
) -> serde_json::Value {
    let mut cluster = cluster;
    cluster["server"] = server.into();
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sd", "cluster": cluster}],
        "users": [{"name": "sd", "user": user}],
        "contexts": [{"name": "sd", "context": {"cluster": "sd", "user": "sd"}}],
        "current-context": "sd",
    })
}

/// The kubeconfig for `api_server` with `http`'s settings, and the
/// `Authorization` header kube cannot express (non-Bearer types).
fn api_server_kubeconfig(
    server: &str,
    http: &HttpClientConfig,
) -> Result<(serde_json::Value, Option<String>), String> {
    if http.oauth2.is_some() {
        return Err("oauth2 is not supported for kubernetes_sd_configs".into());
    }
    if http.proxy_url.is_some() || http.proxy_from_environment {
        return Err("HTTP proxies are not supported for kubernetes_sd_configs".into());
    }
    let tls = &http.tls_config;
    let mut cluster = serde_json::json!({});
    if tls.insecure_skip_verify {
        cluster["insecure-skip-tls-verify"] = true.into();
    }
    if let Some(ca) = &tls.ca {
        cluster["certificate-authority-data"] = base64(ca.as_bytes()).into();
    }
    if let Some(file) = &tls.ca_file {
        cluster["certificate-authority"] = file.clone().into();
    }
    if let Some(name) = &tls.server_name {
        cluster["tls-server-name"] = name.clone().into();
    }
    let mut user = serde_json::json!({});
    if let Some(cert) = &tls.cert {
        user["client-certificate-data"] = base64(cert.as_bytes()).into();
    }
    if let Some(file) = &tls.cert_file {
        user["client-certificate"] = file.clone().into();
    }
    if !tls.key.is_empty() {
        user["client-key-data"] = base64(tls.key.expose().as_bytes()).into();
    }
    if let Some(file) = &tls.key_file {
        user["client-key"] = file.clone().into();
    }
    let mut header = None;
    if let Some(basic) = &http.basic_auth {
        let password = match &basic.password_file {
            Some(path) => read_secret_file(path)?,
            None => basic.password.expose().to_owned(),
        };
        user["username"] = basic.username.clone().into();
        user["password"] = password.into();
    }
    if let Some(auth) = &http.authorization {
        if auth.kind == "Bearer" {
            match &auth.credentials_file {
                // kube re-reads a token file, as Prometheus does.
                Some(file) => user["tokenFile"] = file.clone().into(),
                None => user["token"] = auth.credentials.expose().into(),
            }
        } else {
            // `<type> <credentials>`; basic_auth cannot be set beside
            // `authorization` (validated), so this is the authorization one.
            header = authorization_header(http)?;
        }
    }
    Ok((kubeconfig(server, cluster, user), header))
}

/// The in-cluster kubeconfig: `https://$KUBERNETES_SERVICE_HOST:$PORT`, the
/// service account's CA and token file.
fn in_cluster_kubeconfig(env: &InCluster) -> Result<serde_json::Value, String> {
    let (Some(host), Some(port)) = (
        env.host.as_deref().filter(|h| !h.is_empty()),
        env.port.as_deref().filter(|p| !p.is_empty()),
    ) else {
        return Err("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined".into());
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let dir: &Path = &env.service_account_dir;
    let token = dir.join("token");
    if !token.exists() {
        return Err(format!(
            "unable to load in-cluster configuration: no service account token at {}",
            token.display()
        ));
    }
    Ok(kubeconfig(
        &format!("https://{host}:{port}"),
        serde_json::json!({"certificate-authority": dir.join("ca.crt").to_string_lossy()}),
        serde_json::json!({"tokenFile": token.to_string_lossy()}),
    ))
}

async fn client_from_kubeconfig(
    document: serde_json::Value,
    header: Option<String>,
) -> Result<kube::Client, String> {
    let kubeconfig: Kubeconfig =
        serde_json::from_value(document).map_err(|e| format!("kubeconfig: {e}"))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    if let Some(value) = header {
        let mut value = http::HeaderValue::from_str(&value)
            .map_err(|_| "authorization credentials are not a valid header value".to_owned())?;
        value.set_sensitive(true);
        config.headers.push((http::header::AUTHORIZATION, value));
    }
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

impl KubernetesSdConfig {
    /// The API client for this entry. Must run inside a Tokio runtime.
    pub async fn client(&self, in_cluster: &InCluster) -> Result<kube::Client, String> {
        if let Some(path) = &self.kubeconfig_file {
            let config = config_from(&ClientSource::Kubeconfig(path.clone()))
                .await
                .map_err(|e| match e {
                    // Already names the file; say which field gave it.
                    ClusterError::Config(message) => format!("kubeconfig_file {message}"),
                    other => other.to_string(),
                })?;
            return kube::Client::try_from(config).map_err(|e| e.to_string());
        }
        match &self.api_server {
            Some(server) => {
                let (document, header) = api_server_kubeconfig(server, &self.http_client)?;
                client_from_kubeconfig(document, header).await
            }
            None => client_from_kubeconfig(in_cluster_kubeconfig(in_cluster)?, None).await,
        }
    }

    /// The namespaces to watch; `None` means all namespaces.
    pub fn watched_namespaces(
        &self,
        in_cluster: &InCluster,
    ) -> Result<Option<Vec<String>>, String> {
        let mut names = self.namespaces.names.clone();
        if self.namespaces.own_namespace {
            names.push(in_cluster.own_namespace()?);
        } else if names.is_empty() {
            return Ok(None);
        }
        names.sort();
        names.dedup();
        Ok(Some(names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn in_cluster_needs_the_environment() {
        let env = InCluster {
            host: None,
            port: Some("443".into()),
            service_account_dir: PathBuf::from("/nonexistent"),
        };
        let err = in_cluster_kubeconfig(&env).expect_err("no host");
        assert!(err.contains("KUBERNETES_SERVICE_HOST"), "{err}");
    }

    #[test]
    fn in_cluster_uses_the_service_account() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("token"), "abc").expect("token");
        std::fs::write(dir.path().join("namespace"), "monitoring\n").expect("ns");
        let env = InCluster {
            host: Some("10.96.0.1".into()),
            port: Some("443".into()),
            service_account_dir: dir.path().to_owned(),
        };
        let doc = in_cluster_kubeconfig(&env).expect("config");
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"],
            "https://10.96.0.1:443"
        );
        assert_eq!(
            doc["users"][0]["user"]["tokenFile"],
            dir.path().join("token").to_string_lossy().as_ref()
        );
        assert_eq!(env.own_namespace().expect("namespace"), "monitoring");
    }
}
