//! A job's HTTP client settings (Prometheus `common/config.HTTPClientConfig`).
//!
//! Read-only typed view; the raw YAML keeps the exact text. Paths are already
//! resolved against the directory of the file that configured them.

use serde::Serialize;

use crate::paths::join_dir;
use crate::secret::Secret;
use crate::yaml::{FieldError, FieldResult, Obj};

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password, if given inline.
    pub password: Secret,
    /// File holding the password, read at each request by Prometheus.
    pub password_file: Option<String>,
}

/// `authorization` (and the 2.x `bearer_token`/`bearer_token_file`, folded in
/// with type `Bearer` as Prometheus does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Authorization {
    /// Scheme in the header (`Bearer` unless set).
    #[serde(rename = "type")]
    pub kind: String,
    /// Credentials, if given inline.
    pub credentials: Secret,
    /// File holding the credentials.
    pub credentials_file: Option<String>,
}

/// `oauth2`: parsed and validated; the sidecar does not implement the token
/// flow (it reports such jobs as unsupported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct OAuth2 {
    /// Client id.
    pub client_id: String,
    /// Client secret, if inline.
    pub client_secret: Secret,
    /// File holding the client secret.
    pub client_secret_file: Option<String>,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// Token endpoint.
    pub token_url: String,
    /// Extra parameters of the token request.
    pub endpoint_params: Vec<(String, String)>,
}

/// `tls_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TlsConfig {
    /// CA certificates, PEM, inline.
    pub ca: Option<String>,
    /// CA certificates file.
    pub ca_file: Option<String>,
    /// Client certificate, PEM, inline.
    pub cert: Option<String>,
    /// Client certificate file.
    pub cert_file: Option<String>,
    /// Client key, PEM, inline.
    pub key: Secret,
    /// Client key file.
    pub key_file: Option<String>,
    /// Server name for SNI and verification.
    pub server_name: Option<String>,
    /// Skip server certificate verification.
    pub insecure_skip_verify: bool,
    /// Minimum TLS version (`TLS12`, `TLS13`, ...).
    pub min_version: Option<String>,
}

/// The keys of Prometheus's inline `HTTPClientConfig`, wherever it appears
/// (a scrape config, an SD config): what the sidecar takes over from a job,
/// and what an SD config accepts besides its own keys.
pub const HTTP_CLIENT_KEYS: &[&str] = &[
    "basic_auth",
    "authorization",
    "bearer_token",
    "bearer_token_file",
    "oauth2",
    "tls_config",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "follow_redirects",
    "enable_http2",
    "http_headers",
];

/// HTTP client settings of a job or of an SD config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpClientConfig {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`, including folded-in `bearer_token(_file)`.
    pub authorization: Option<Authorization>,
    /// `oauth2`.
    pub oauth2: Option<OAuth2>,
    /// `tls_config`.
    pub tls_config: TlsConfig,
    /// `proxy_url`.
    pub proxy_url: Option<String>,
    /// `no_proxy`.
    pub no_proxy: Option<String>,
    /// `proxy_from_environment`.
    pub proxy_from_environment: bool,
    /// `follow_redirects` (default true).
    pub follow_redirects: bool,
    /// `enable_http2` (default true).
    pub enable_http2: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

fn path_field(obj: &Obj<'_>, key: &str, dir: &std::path::Path) -> FieldResult<Option<String>> {
    Ok(obj
        .string(key)?
        .filter(|s| !s.is_empty())
        .map(|s| join_dir(dir, &s)))
}

fn non_empty(obj: &Obj<'_>, key: &str) -> FieldResult<Option<String>> {
    Ok(obj.string(key)?.filter(|s| !s.is_empty()))
}

impl HttpClientConfig {
    /// Reads the inline HTTP client fields of a YAML mapping (e.g. one
    /// `kubernetes_sd_configs` entry named `field`), relative paths resolved
    /// against `dir`, validated like `HTTPClientConfig.Validate`. Other keys
    /// of the mapping are ignored. The error names the field that failed.
    pub fn from_yaml(
        value: &serde_yaml_ng::Value,
        field: &str,
        dir: &std::path::Path,
    ) -> Result<Self, String> {
        Obj::new(value, field)
            .and_then(|obj| Self::from_obj(&obj, dir))
            .map_err(|e| format!("{}: {}", e.field, e.message))
    }

    /// Reads the inline HTTP client fields of `obj` and validates them like
    /// `HTTPClientConfig.Validate`.
    pub(crate) fn from_obj(obj: &Obj<'_>, dir: &std::path::Path) -> FieldResult<Self> {
        let mut c = Self::default();
        let invalid = |message: &str| FieldError {
            field: obj.path.clone(),
            message: message.to_owned(),
        };
        if let Some(b) = obj.obj("basic_auth")? {
            c.basic_auth = Some(BasicAuth {
                username: b.string("username")?.unwrap_or_default(),
                password: Secret::new(b.string("password")?.unwrap_or_default()),
                password_file: path_field(&b, "password_file", dir)?,
            });
        }
        let bearer_token = non_empty(obj, "bearer_token")?;
        let bearer_token_file = path_field(obj, "bearer_token_file", dir)?;
        if let Some(a) = obj.obj("authorization")? {
            c.authorization = Some(Authorization {
                kind: a.string("type")?.unwrap_or_default().trim().to_owned(),
                credentials: Secret::new(a.string("credentials")?.unwrap_or_default()),
                credentials_file: path_field(&a, "credentials_file", dir)?,
            });
        }
        if let Some(o) = obj.obj("oauth2")? {
            let endpoint_params = o.string_map("endpoint_params")?.unwrap_or_default();
            c.oauth2 = Some(OAuth2 {
                client_id: o.string("client_id")?.unwrap_or_default(),
                client_secret: Secret::new(o.string("client_secret")?.unwrap_or_default()),
                client_secret_file: path_field(&o, "client_secret_file", dir)?,
                scopes: o.string_list("scopes")?.unwrap_or_default(),
                token_url: o.string("token_url")?.unwrap_or_default(),
                endpoint_params,
            });
        }
        if let Some(t) = obj.obj("tls_config")? {
            c.tls_config = TlsConfig {
                ca: non_empty(&t, "ca")?,
                ca_file: path_field(&t, "ca_file", dir)?,
                cert: non_empty(&t, "cert")?,
                cert_file: path_field(&t, "cert_file", dir)?,
                key: Secret::new(t.string("key")?.unwrap_or_default()),
                key_file: path_field(&t, "key_file", dir)?,
                server_name: non_empty(&t, "server_name")?,
                insecure_skip_verify: t.bool("insecure_skip_verify")?.unwrap_or(false),
                min_version: non_empty(&t, "min_version")?,
            };
            let tls = &c.tls_config;
            if tls.ca.is_some() && tls.ca_file.is_some() {
                return Err(invalid("at most one of ca and ca_file must be configured"));
            }
            if tls.cert.is_some() && tls.cert_file.is_some() {
                return Err(invalid(
                    "at most one of cert and cert_file must be configured",
                ));
            }
            if !tls.key.is_empty() && tls.key_file.is_some() {
                return Err(invalid(
                    "at most one of key and key_file must be configured",
                ));
            }
            let has_cert = tls.cert.is_some() || tls.cert_file.is_some();
            let has_key = !tls.key.is_empty() || tls.key_file.is_some();
            if has_cert && !has_key {
                return Err(invalid(
                    "exactly one of key or key_file must be configured when a client certificate is configured",
                ));
            }
            if has_key && !has_cert {
                return Err(invalid(
                    "exactly one of cert or cert_file must be configured when a client key is configured",
                ));
            }
        }
        c.proxy_url = non_empty(obj, "proxy_url")?;
        c.no_proxy = non_empty(obj, "no_proxy")?;
        c.proxy_from_environment = obj.bool("proxy_from_environment")?.unwrap_or(false);
        c.follow_redirects = obj.bool("follow_redirects")?.unwrap_or(true);
        c.enable_http2 = obj.bool("enable_http2")?.unwrap_or(true);

        // HTTPClientConfig.Validate, same order and messages.
        if bearer_token.is_some() && bearer_token_file.is_some() {
            return Err(invalid(
                "at most one of bearer_token & bearer_token_file must be configured",
            ));
        }
        if (c.basic_auth.is_some() || c.oauth2.is_some())
            && (bearer_token.is_some() || bearer_token_file.is_some())
        {
            return Err(invalid(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ));
        }
        if let Some(b) = &c.basic_auth
            && !b.password.is_empty()
            && b.password_file.is_some()
        {
            return Err(invalid(
                "at most one of basic_auth password & password_file must be configured",
            ));
        }
        if let Some(a) = &mut c.authorization {
            if bearer_token.is_some() || bearer_token_file.is_some() {
                return Err(invalid(
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            if !a.credentials.is_empty() && a.credentials_file.is_some() {
                return Err(invalid(
                    "at most one of authorization credentials & credentials_file must be configured",
                ));
            }
            if a.kind.is_empty() {
                a.kind = "Bearer".into();
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(invalid(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
                ));
            }
            if c.basic_auth.is_some() || c.oauth2.is_some() {
                return Err(invalid(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
        } else if let Some(token) = bearer_token {
            c.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials: Secret::new(token),
                credentials_file: None,
            });
        } else if let Some(file) = bearer_token_file {
            c.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials: Secret::default(),
                credentials_file: Some(file),
            });
        }
        if let Some(o) = &c.oauth2 {
            if c.basic_auth.is_some() {
                return Err(invalid(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            if o.client_id.is_empty() {
                return Err(invalid("oauth2 client_id must be configured"));
            }
            if o.client_secret.is_empty() && o.client_secret_file.is_none() {
                return Err(invalid(
                    "either oauth2 client_secret or client_secret_file must be configured",
                ));
            }
            if o.token_url.is_empty() {
                return Err(invalid("oauth2 token_url must be configured"));
            }
            if !o.client_secret.is_empty() && o.client_secret_file.is_some() {
                return Err(invalid(
                    "at most one of oauth2 client_secret & client_secret_file must be configured",
                ));
            }
        }
        Ok(c)
    }
}
