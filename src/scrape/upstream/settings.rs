//! A job's HTTP settings as the upstream client takes them, read from the
//! config crate's `HTTPClientConfig`: what the client cannot do (`oauth2`,
//! `no_proxy`, `proxy_from_environment`) is refused when the config is
//! loaded, not at the first scrape.

use std::fmt;
use std::path::PathBuf;

use super::UpstreamError;

/// Where a secret or PEM document comes from: inline in the configuration or
/// a file re-read when it changes.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value itself.
    Inline(String),
    /// A file holding the value.
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never print a secret, not even in debug output.
            Self::Inline(_) => f.write_str("Inline(<secret>)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// TLS settings for `https` targets (Prometheus `tls_config`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// CA certificates (PEM) that sign the target's certificate. `None`: the
    /// system roots.
    pub ca: Option<SecretSource>,
    /// Client certificate chain (PEM), with `key`.
    pub cert: Option<SecretSource>,
    /// Client private key (PEM), with `cert`.
    pub key: Option<SecretSource>,
    /// Name sent in SNI and checked against the certificate; `None`: the
    /// target URL's host.
    pub server_name: Option<String>,
    /// Accept any certificate (the handshake signature is still checked).
    pub insecure_skip_verify: bool,
    /// Refuse TLS 1.2 (`min_version: TLS13`). TLS 1.0 and 1.1 are never
    /// offered: rustls does not implement them.
    pub tls13_only: bool,
}

/// How the client authenticates to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `basic_auth`: username and password (inline or `password_file`).
    Basic {
        /// The username.
        username: String,
        /// The password; `None` sends an empty one.
        password: Option<SecretSource>,
    },
    /// `authorization` (and `bearer_token`/`bearer_token_file`, which are
    /// `Bearer` credentials): the header is `<scheme> <credentials>`.
    Authorization {
        /// The scheme, `Bearer` unless configured otherwise.
        scheme: String,
        /// The credentials (inline or `credentials_file`).
        credentials: SecretSource,
    },
}

/// Everything the data path needs to fetch a job's targets. URL `params` are
/// already part of each target's URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// TLS for `https` targets.
    pub tls: TlsSettings,
    /// Authentication, if any.
    pub auth: Option<Auth>,
    /// Follow up to `MAX_REDIRECTS` redirects (Prometheus's default is
    /// true); otherwise the 3xx answer is passed to Prometheus as it is.
    pub follow_redirects: bool,
    /// Offer HTTP/2 in TLS ALPN.
    pub enable_http2: bool,
    /// An `http://[user:password@]host:port` proxy for every request.
    pub proxy_url: Option<String>,
}

impl TryFrom<&promshard_config::http_client::HttpClientConfig> for UpstreamSettings {
    type Error = UpstreamError;

    /// The data-path settings of a job's `HTTPClientConfig`. Paths are used as
    /// the config crate resolved them.
    ///
    /// # Errors
    /// [`UpstreamError::Settings`] for what the sidecar cannot do: `oauth2`,
    /// `no_proxy`, `proxy_from_environment`, an unknown `min_version`.
    fn try_from(
        config: &promshard_config::http_client::HttpClientConfig,
    ) -> Result<Self, Self::Error> {
        let unsupported =
            |what: &str| UpstreamError::Settings(format!("{what} is not supported by the sidecar"));
        if config.oauth2.is_some() {
            return Err(unsupported("oauth2"));
        }
        if config.no_proxy.is_some() {
            return Err(unsupported("no_proxy"));
        }
        if config.proxy_from_environment {
            return Err(unsupported("proxy_from_environment"));
        }
        let source = |inline: Option<&str>, file: Option<&String>| match (inline, file) {
            (_, Some(path)) => Some(SecretSource::File(PathBuf::from(path))),
            (Some(value), None) if !value.is_empty() => {
                Some(SecretSource::Inline(value.to_owned()))
            }
            _ => None,
        };
        let t = &config.tls_config;
        let tls13_only = match t.min_version.as_deref() {
            None | Some("TLS10" | "TLS11" | "TLS12") => false,
            Some("TLS13") => true,
            Some(other) => {
                return Err(UpstreamError::Settings(format!(
                    "unknown TLS min_version {other:?}"
                )));
            }
        };
        let tls = TlsSettings {
            ca: source(t.ca.as_deref(), t.ca_file.as_ref()),
            cert: source(t.cert.as_deref(), t.cert_file.as_ref()),
            key: source(Some(t.key.expose()), t.key_file.as_ref()),
            server_name: t.server_name.clone(),
            insecure_skip_verify: t.insecure_skip_verify,
            tls13_only,
        };
        let auth = if let Some(basic) = &config.basic_auth {
            Some(Auth::Basic {
                username: basic.username.clone(),
                password: source(Some(basic.password.expose()), basic.password_file.as_ref()),
            })
        } else {
            config
                .authorization
                .as_ref()
                .map(|authorization| Auth::Authorization {
                    scheme: authorization.kind.clone(),
                    credentials: source(
                        Some(authorization.credentials.expose()),
                        authorization.credentials_file.as_ref(),
                    )
                    .unwrap_or_else(|| SecretSource::Inline(String::new())),
                })
        };
        Ok(Self {
            tls,
            auth,
            follow_redirects: config.follow_redirects,
            enable_http2: config.enable_http2,
            proxy_url: config.proxy_url.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_http_settings_convert_from_the_config_crate() {
        use promshard_config::Secret;
        use promshard_config::http_client::{Authorization, HttpClientConfig, TlsConfig};
        let config = HttpClientConfig {
            authorization: Some(Authorization {
                kind: "Bearer".into(),
                credentials: Secret::default(),
                credentials_file: Some("/etc/token".into()),
            }),
            tls_config: TlsConfig {
                ca: Some("PEM".into()),
                server_name: Some("node.example".into()),
                min_version: Some("TLS13".into()),
                ..TlsConfig::default()
            },
            follow_redirects: false,
            ..HttpClientConfig::default()
        };
        let settings = UpstreamSettings::try_from(&config).unwrap();
        assert_eq!(
            settings.auth,
            Some(Auth::Authorization {
                scheme: "Bearer".into(),
                credentials: SecretSource::File("/etc/token".into())
            })
        );
        assert_eq!(settings.tls.ca, Some(SecretSource::Inline("PEM".into())));
        assert_eq!(settings.tls.key, None);
        assert!(settings.tls.tls13_only && !settings.follow_redirects && settings.enable_http2);
        let oauth = HttpClientConfig {
            oauth2: Some(Default::default()),
            ..HttpClientConfig::default()
        };
        assert!(UpstreamSettings::try_from(&oauth).is_err());
    }

    #[test]
    fn debug_output_hides_inline_secrets() {
        let text = format!("{:?}", SecretSource::Inline("hunter2".into()));
        assert!(!text.contains("hunter2"));
    }
}
