//! `kubernetes_sd_configs` entries: parsing with Prometheus's validation.
//! The API client each entry talks through (in-cluster service account, a
//! kubeconfig file, or `api_server` with the entry's HTTP client settings)
//! is built by [`super::client`].
//!
//! ```
//! use promshard_k8s::sd::config::KubernetesSdConfig;
//! use promshard_k8s::sd::Role;
//! let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(r#"
//! - role: endpoints
//!   namespaces: {names: [web]}
//!   selectors:
//!   - {role: pod, label: "app=frontend"}
//! "#)?;
//! let configs = KubernetesSdConfig::parse_list(&yaml, "kubernetes_sd_configs", std::path::Path::new("/etc/prometheus"))?;
//! assert_eq!(configs[0].role, Role::Endpoints);
//! assert_eq!(configs[0].selector(Role::Pod).map(|s| s.label.as_str()), Some("app=frontend"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use promshard_config::http_client::{HTTP_CLIENT_KEYS, HttpClientConfig};
use serde_yaml_ng::Value;

use super::roles::{AttachMetadata, Role};

/// The scrape config key this module handles.
pub const CONFIG_KEY: &str = "kubernetes_sd_configs";

/// Where an in-cluster pod finds its service account.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A `kubernetes_sd_configs` entry that is not valid, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SdConfigError {
    /// e.g. `kubernetes_sd_configs[0].selectors[1].role`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// One `selectors` entry: label and field selectors for one kind of object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorConfig {
    /// The kind of object the selectors apply to.
    pub role: Role,
    /// Label selector, as the API takes it (`app=web,tier!=db`).
    pub label: String,
    /// Field selector (`metadata.name=foo`).
    pub field: String,
}

/// `namespaces`: which namespaces to watch (all when empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespaceDiscovery {
    /// Also watch the namespace this process runs in (in-cluster only).
    pub own_namespace: bool,
    /// Namespaces to watch.
    pub names: Vec<String>,
}

/// One `kubernetes_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesSdConfig {
    /// What to discover.
    pub role: Role,
    /// `api_server`; in-cluster when neither this nor a kubeconfig is set.
    pub api_server: Option<String>,
    /// `kubeconfig_file`, resolved against the config's directory.
    pub kubeconfig_file: Option<PathBuf>,
    /// Client settings for `api_server` (auth, TLS).
    pub http_client: HttpClientConfig,
    /// `namespaces`.
    pub namespaces: NamespaceDiscovery,
    /// `selectors`, at most one per role.
    pub selectors: Vec<SelectorConfig>,
    /// `attach_metadata`.
    pub attach_metadata: AttachMetadata,
}

const OWN_KEYS: &[&str] = &[
    "api_server",
    "role",
    "kubeconfig_file",
    "namespaces",
    "selectors",
    "attach_metadata",
];

fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

struct Fields<'a> {
    map: Option<&'a serde_yaml_ng::Mapping>,
    path: String,
}

impl<'a> Fields<'a> {
    fn new(value: &'a Value, path: String) -> Result<Self, SdConfigError> {
        match untag(value) {
            Value::Mapping(map) => Ok(Self {
                map: Some(map),
                path,
            }),
            Value::Null => Ok(Self { map: None, path }),
            _ => Err(SdConfigError {
                field: path,
                message: "expected a mapping".into(),
            }),
        }
    }

    fn error(&self, key: &str, message: impl Into<String>) -> SdConfigError {
        SdConfigError {
            field: format!("{}.{key}", self.path),
            message: message.into(),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map
            .and_then(|m| m.get(key))
            .map(untag)
            .filter(|v| !v.is_null())
    }

    fn keys(&self) -> impl Iterator<Item = Option<&'a str>> {
        self.map
            .into_iter()
            .flat_map(|m| m.keys().map(|k| untag(k).as_str()))
    }

    fn reject_unknown(&self, known: &[&[&str]]) -> Result<(), SdConfigError> {
        for key in self.keys() {
            match key {
                Some(k) if known.iter().any(|set| set.contains(&k)) => {}
                Some(k) => return Err(self.error(k, "unknown field")),
                None => {
                    return Err(SdConfigError {
                        field: self.path.clone(),
                        message: "field names must be strings".into(),
                    });
                }
            }
        }
        Ok(())
    }

    fn string(&self, key: &str) -> Result<Option<String>, SdConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(self.error(key, "expected a string")),
        }
    }

    fn bool(&self, key: &str) -> Result<bool, SdConfigError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.error(key, "expected true or false")),
        }
    }

    fn list(&self, key: &str) -> Result<&'a [Value], SdConfigError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Sequence(items)) => Ok(items),
            Some(_) => Err(self.error(key, "expected a list")),
        }
    }
}

fn role_list() -> String {
    Role::ALL.map(Role::as_str).join(", ")
}

/// Roles whose selectors a config of `role` may set (Prometheus's
/// `allowedSelectors`).
pub fn allowed_selector_roles(role: Role) -> &'static [Role] {
    match role {
        Role::Pod => &[Role::Pod, Role::Node],
        Role::Service => &[Role::Service],
        Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
        Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
        Role::Node => &[Role::Node],
        Role::Ingress => &[Role::Ingress],
    }
}

/// Checks the shape of a label selector: comma-separated requirements
/// `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`.
fn check_label_selector(selector: &str) -> Result<(), String> {
    let mut depth = 0usize;
    let mut start = 0usize;
    let mut terms = Vec::new();
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' in {selector:?}"))?;
            }
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in {selector:?}"));
    }
    terms.push(&selector[start..]);
    if selector.trim().is_empty() {
        return Ok(());
    }
    for term in terms {
        let term = term.trim();
        let key_ok = |k: &str| {
            let k = k.trim();
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        };
        let ok = if let Some(k) = term.strip_prefix('!') {
            key_ok(k)
        } else if let Some((k, _)) = term.split_once("!=") {
            key_ok(k)
        } else if let Some((k, _)) = term.split_once('=') {
            key_ok(k.trim_end_matches('='))
        } else if let Some((k, set)) = term
            .split_once(" notin ")
            .or_else(|| term.split_once(" in "))
        {
            key_ok(k) && set.trim().starts_with('(') && set.trim().ends_with(')')
        } else {
            key_ok(term)
        };
        if !ok {
            return Err(format!(
                "couldn't parse the selector string {selector:?}: invalid requirement {term:?}"
            ));
        }
    }
    Ok(())
}

/// Checks the shape of a field selector: comma-separated `k=v`, `k==v`,
/// `k!=v`.
fn check_field_selector(selector: &str) -> Result<(), String> {
    if selector.trim().is_empty() {
        return Ok(());
    }
    for term in selector.split(',') {
        let key = term
            .split_once("!=")
            .or_else(|| term.split_once('='))
            .map(|(k, _)| k.trim_end_matches('=').trim());
        if key.is_none_or(str::is_empty) {
            return Err(format!(
                "invalid selector: '{selector}'; can't understand '{term}'"
            ));
        }
    }
    Ok(())
}

fn parse_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("URL scheme must be http or https, not {scheme:?}"));
    }
    if rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .is_empty()
    {
        return Err(format!("host is missing in URL {url:?}"));
    }
    url.parse::<http::Uri>()
        .map(|_| ())
        .map_err(|e| format!("{url:?}: {e}"))
}

impl KubernetesSdConfig {
    /// Parses and validates one entry (`field` names it in errors, e.g.
    /// `kubernetes_sd_configs[0]`); relative paths are resolved against
    /// `base_dir`.
    pub fn parse(value: &Value, field: &str, base_dir: &Path) -> Result<Self, SdConfigError> {
        let obj = Fields::new(value, field.to_owned())?;
        obj.reject_unknown(&[OWN_KEYS, HTTP_CLIENT_KEYS])?;

        let role = match obj.string("role")? {
            None => {
                return Err(obj.error("role", format!("role missing (one of: {})", role_list())));
            }
            Some(name) => Role::parse(&name)
                .ok_or_else(|| obj.error("role", format!("unknown Kubernetes SD role {name:?}")))?,
        };
        let http_client =
            HttpClientConfig::from_yaml(value, field, base_dir).map_err(|m| SdConfigError {
                field: field.to_owned(),
                message: m,
            })?;
        let api_server = obj.string("api_server")?.filter(|s| !s.is_empty());
        if let Some(url) = &api_server {
            parse_url(url).map_err(|m| obj.error("api_server", m))?;
        }
        let kubeconfig_file = obj
            .string("kubeconfig_file")?
            .filter(|s| !s.is_empty())
            .map(|p| base_dir.join(p));

        let mut namespaces = NamespaceDiscovery::default();
        if let Some(ns) = obj.get("namespaces") {
            let ns = Fields::new(ns, format!("{field}.namespaces"))?;
            ns.reject_unknown(&[&["own_namespace", "names"]])?;
            namespaces.own_namespace = ns.bool("own_namespace")?;
            for (i, name) in ns.list("names")?.iter().enumerate() {
                match untag(name) {
                    Value::String(s) => namespaces.names.push(s.clone()),
                    _ => return Err(ns.error(&format!("names[{i}]"), "expected a string")),
                }
            }
        }

        let mut attach_metadata = AttachMetadata::default();
        if let Some(attach) = obj.get("attach_metadata") {
            let attach = Fields::new(attach, format!("{field}.attach_metadata"))?;
            attach.reject_unknown(&[&["node", "namespace"]])?;
            attach_metadata.node = attach.bool("node")?;
            attach_metadata.namespace = attach.bool("namespace")?;
        }

        let is_default_client = http_client == HttpClientConfig::default();
        let invalid = |message: &str| SdConfigError {
            field: field.to_owned(),
            message: message.to_owned(),
        };
        if api_server.is_some() && kubeconfig_file.is_some() {
            return Err(invalid(
                "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
            ));
        }
        if kubeconfig_file.is_some() && !is_default_client {
            return Err(invalid(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
            ));
        }
        if api_server.is_none() && !is_default_client {
            return Err(invalid(
                "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
            ));
        }
        if api_server.is_some() && namespaces.own_namespace {
            return Err(invalid(
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
            ));
        }
        if kubeconfig_file.is_some() && namespaces.own_namespace {
            return Err(invalid(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
            ));
        }

        let mut selectors: Vec<SelectorConfig> = Vec::new();
        for (i, item) in obj.list("selectors")?.iter().enumerate() {
            let s = Fields::new(item, format!("{field}.selectors[{i}]"))?;
            s.reject_unknown(&[&["role", "label", "field"]])?;
            let name = s.string("role")?.unwrap_or_default();
            let selector_role = Role::parse(&name)
                .ok_or_else(|| s.error("role", format!("unknown Kubernetes SD role {name:?}")))?;
            if selectors.iter().any(|x| x.role == selector_role) {
                return Err(s.error("role", format!("duplicated selector role: {selector_role}")));
            }
            let allowed = allowed_selector_roles(role);
            if !allowed.contains(&selector_role) {
                let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
                return Err(s.error(
                    "role",
                    format!("{role} role supports only {} selectors", names.join(", ")),
                ));
            }
            let label = s.string("label")?.unwrap_or_default();
            let field_selector = s.string("field")?.unwrap_or_default();
            check_label_selector(&label).map_err(|m| s.error("label", m))?;
            check_field_selector(&field_selector).map_err(|m| s.error("field", m))?;
            selectors.push(SelectorConfig {
                role: selector_role,
                label,
                field: field_selector,
            });
        }

        Ok(Self {
            role,
            api_server,
            kubeconfig_file,
            http_client,
            namespaces,
            selectors,
            attach_metadata,
        })
    }

    /// Parses the list under `kubernetes_sd_configs` (`field` names it).
    pub fn parse_list(
        value: &Value,
        field: &str,
        base_dir: &Path,
    ) -> Result<Vec<Self>, SdConfigError> {
        match untag(value) {
            Value::Null => Ok(Vec::new()),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| Self::parse(item, &format!("{field}[{i}]"), base_dir))
                .collect(),
            _ => Err(SdConfigError {
                field: field.to_owned(),
                message: "expected a list".into(),
            }),
        }
    }

    /// The selectors for objects of `role`, if configured.
    pub fn selector(&self, role: Role) -> Option<&SelectorConfig> {
        self.selectors.iter().find(|s| s.role == role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<KubernetesSdConfig, SdConfigError> {
        let value: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        KubernetesSdConfig::parse(&value, "kubernetes_sd_configs[0]", Path::new("/etc/prom"))
    }

    fn message(yaml: &str) -> String {
        parse(yaml).expect_err("invalid").to_string()
    }

    #[test]
    fn full_entry() {
        let c = parse(
            r#"
role: pod
api_server: https://k8s.example:6443
bearer_token_file: token
tls_config: {ca_file: ca.pem}
namespaces: {names: [a, b]}
selectors:
- {role: pod, label: "app in (web, api),!canary", field: "spec.nodeName=n1"}
- {role: node, label: "pool=big"}
attach_metadata: {node: true, namespace: true}
"#,
        )
        .expect("valid");
        assert_eq!(c.role, Role::Pod);
        assert_eq!(c.api_server.as_deref(), Some("https://k8s.example:6443"));
        assert_eq!(c.namespaces.names, ["a", "b"]);
        assert!(c.attach_metadata.node && c.attach_metadata.namespace);
        assert_eq!(
            c.http_client.tls_config.ca_file.as_deref(),
            Some("/etc/prom/ca.pem")
        );
        let auth = c.http_client.authorization.as_ref().expect("bearer");
        assert_eq!(auth.credentials_file.as_deref(), Some("/etc/prom/token"));
        assert_eq!(
            c.selector(Role::Node).map(|s| s.label.as_str()),
            Some("pool=big")
        );
    }

    #[test]
    fn prometheus_validation_messages() {
        assert!(message("{}").contains("role missing"));
        assert!(message("role: pods").contains("unknown Kubernetes SD role \"pods\""));
        assert!(
            message("role: pod\nfoo: 1").contains("kubernetes_sd_configs[0].foo: unknown field")
        );
        assert!(
            message("role: pod\napi_server: http://a\nkubeconfig_file: k")
                .contains("cannot use 'kubeconfig_file' and 'api_server' simultaneously")
        );
        assert!(
            message("role: pod\nkubeconfig_file: k\nbearer_token: x").contains(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
            )
        );
        assert!(message("role: pod\nbearer_token: x").contains(
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly"
        ));
        assert!(
            message("role: pod\napi_server: http://a\nnamespaces: {own_namespace: true}")
                .contains("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously")
        );
        assert!(
            message("role: node\nselectors: [{role: pod}]")
                .contains("selectors[0].role: node role supports only node selectors")
        );
        assert!(
            message("role: endpoints\nselectors: [{role: node}]")
                .contains("endpoints role supports only pod, service, endpoints selectors")
        );
        assert!(
            message("role: pod\nselectors: [{role: pod}, {role: pod}]")
                .contains("duplicated selector role: pod")
        );
        assert!(message("role: pod\nselectors: [{role: pod, field: nonsense}]").contains("field"));
        assert!(
            message("role: pod\nselectors: [{role: pod, label: \"a in (b\"}]").contains("label")
        );
        assert!(message("role: pod\napi_server: ftp://x").contains("api_server"));
        assert!(
            message("role: pod\napi_server: http://a\nbasic_auth: {username: u, password: p}\nbearer_token: t")
                .contains("at most one of basic_auth, oauth2, bearer_token & bearer_token_file")
        );
    }

    #[test]
    fn secrets_are_not_printed() {
        let c =
            parse("role: pod\napi_server: http://a\nbasic_auth: {username: u, password: hunter2}")
                .expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn selectors_syntax() {
        for ok in [
            "",
            "a",
            "!a",
            "a=b",
            "a==b",
            "a!=b",
            "a in (x,y)",
            "a notin (x), b",
        ] {
            assert!(check_label_selector(ok).is_ok(), "{ok}");
        }
        for bad in ["a in x", "=b", "a,,b", "(a"] {
            assert!(check_label_selector(bad).is_err(), "{bad}");
        }
        assert!(check_field_selector("metadata.name=x,spec.nodeName!=y").is_ok());
        assert!(check_field_selector("x").is_err());
    }
}
