//! How a scrape reaches its target: one pooled HTTP client per job, built
//! from the job's HTTP settings ([`UpstreamSettings`]), used alike by the
//! sidecar's proxy and the coordinator's explore.
//!
//! The client does what Prometheus's own scrape client would do for the job:
//! TLS with the job's CA, client certificate and server name, basic auth or
//! an `Authorization` header, a bounded number of redirects, HTTP/2 when
//! allowed, and an HTTP proxy. Failures are classified ([`UpstreamError`])
//! so that the scrape path can tell Prometheus which step failed: DNS,
//! connect, proxy, TLS or protocol.
//!
//! This module is the client itself (requests, redirects, the
//! `Authorization` header, rebuilding when the TLS files change); the rest
//! is one concern per module:
//!
//! - `settings`: the settings types, read from the config crate's
//!   `HTTPClientConfig`;
//! - `secrets`: the files the settings name, re-read when they change (a
//!   `stat` per request), so rotated secrets take effect on the next scrape
//!   without a reload;
//! - `tls`: the rustls configuration (ring provider);
//! - `proxy`: the HTTP proxy: its credentials and the `CONNECT` tunnel;
//! - `connector`: opening a connection (DNS, TCP, tunnel, TLS), each step
//!   failing with its own error.
//!
//! ```
//! use promshard::scrape::upstream::{UpstreamClient, UpstreamSettings};
//!
//! let settings = UpstreamSettings { follow_redirects: true, ..UpstreamSettings::default() };
//! let client = UpstreamClient::new(settings)?;
//! # let _ = client;
//! # Ok::<(), promshard::scrape::upstream::UpstreamError>(())
//! ```

mod connector;
mod proxy;
mod secrets;
mod settings;
mod tls;

pub use settings::{Auth, SecretSource, TlsSettings, UpstreamSettings};

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue, LOCATION, PROXY_AUTHORIZATION};
use http::{Request, Response, Uri};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

use self::connector::Connector;
use self::proxy::ProxyEndpoint;
use self::secrets::FileCache;
use self::tls::build_tls_config;
use crate::http::error_chain;

/// Redirects followed before giving up, as Go's HTTP client (and so
/// Prometheus) does.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Why reaching a target failed, by step; the scrape path maps each to the
/// status and reason Prometheus sees.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The settings cannot be used (bad PEM, unreadable file, bad proxy URL):
    /// the sidecar's configuration is at fault, not the target.
    #[error("{0}")]
    Settings(String),
    /// The target URL is not a URL the client can fetch.
    #[error("bad target URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The target's host name did not resolve.
    #[error("target {authority}: DNS lookup failed: {reason}")]
    Dns {
        /// `host:port` of the target.
        authority: String,
        /// The resolver's error.
        reason: String,
    },
    /// No TCP connection to the target.
    #[error("target {authority}: connect failed: {reason}")]
    Connect {
        /// `host:port` of the target.
        authority: String,
        /// The socket error.
        reason: String,
    },
    /// The HTTP proxy refused or failed the tunnel.
    #[error("proxy {proxy} for target {authority}: {reason}")]
    Proxy {
        /// `host:port` of the proxy.
        proxy: String,
        /// `host:port` of the target.
        authority: String,
        /// What went wrong.
        reason: String,
    },
    /// The TLS handshake with the target failed.
    #[error("target {authority}: TLS handshake failed: {reason}")]
    Tls {
        /// `host:port` of the target.
        authority: String,
        /// The TLS error.
        reason: String,
    },
    /// The target broke the HTTP protocol or closed the connection before
    /// answering.
    #[error("target {authority}: HTTP error: {reason}")]
    Protocol {
        /// `host:port` of the target.
        authority: String,
        /// The protocol error.
        reason: String,
    },
    /// More than `MAX_REDIRECTS` redirects, or one without a usable
    /// `Location`.
    #[error("target {authority}: {reason}")]
    Redirect {
        /// `host:port` of the target.
        authority: String,
        /// What went wrong.
        reason: String,
    },
}

/// The HTTP headers of a request to a target, besides those the client adds
/// (`Host`, authentication, proxy authentication).
pub(crate) type ForwardHeaders = HeaderMap;

/// A pooled client for one job's targets.
#[derive(Debug)]
pub struct UpstreamClient {
    settings: UpstreamSettings,
    proxy: Option<Arc<ProxyEndpoint>>,
    files: FileCache,
    built: Mutex<Option<Arc<Built>>>,
    /// The `Authorization` value and the version of the secret it was made
    /// from, so that a scrape does not encode it again.
    authorization: Mutex<Option<(u64, HeaderValue)>>,
}

/// A client built from one version of the TLS files.
struct Built {
    /// Versions of (CA, cert, key) the client was built from.
    tls_versions: [u64; 3],
    client: Client<Connector, Empty<Bytes>>,
}

impl fmt::Debug for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Built")
            .field("tls_versions", &self.tls_versions)
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// Builds the client; the settings' files are read now so that a bad file
    /// is reported when the configuration is applied, not at the first scrape.
    ///
    /// # Errors
    /// [`UpstreamError::Settings`] when a file cannot be read, a PEM document
    /// does not parse, or the proxy URL is not `http://host:port`.
    pub fn new(settings: UpstreamSettings) -> Result<Self, UpstreamError> {
        let proxy = match &settings.proxy_url {
            Some(url) if !url.is_empty() => Some(Arc::new(ProxyEndpoint::parse(url)?)),
            _ => None,
        };
        let client = Self {
            settings,
            proxy,
            files: FileCache::default(),
            built: Mutex::new(None),
            authorization: Mutex::new(None),
        };
        client.current()?;
        if let Some(auth) = &client.settings.auth {
            client.authorization(auth)?;
        }
        Ok(client)
    }

    /// Fetches `url` with the job's settings, following redirects when
    /// allowed, and returns the response as soon as its headers arrive (the
    /// body streams). `headers` are sent on every hop. The caller enforces
    /// the deadline.
    ///
    /// # Errors
    /// An [`UpstreamError`] naming the step that failed.
    pub(crate) async fn fetch(
        &self,
        url: &str,
        headers: &ForwardHeaders,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut uri: Uri =
            url.parse()
                .map_err(|e: http::uri::InvalidUri| UpstreamError::BadUrl {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })?;
        let mut hops = 0usize;
        loop {
            let response = self.fetch_once(&uri, headers).await?;
            if !self.settings.follow_redirects || !response.status().is_redirection() {
                return Ok(response);
            }
            let Some(location) = response.headers().get(LOCATION) else {
                // Go's client returns a 3xx without Location as it is.
                return Ok(response);
            };
            if hops == MAX_REDIRECTS {
                return Err(UpstreamError::Redirect {
                    authority: authority_of(&uri),
                    reason: format!("stopped after {MAX_REDIRECTS} redirects"),
                });
            }
            hops += 1;
            let next = location
                .to_str()
                .ok()
                .and_then(|loc| resolve_location(&uri, loc))
                .ok_or_else(|| UpstreamError::Redirect {
                    authority: authority_of(&uri),
                    reason: format!("redirect to an unusable Location {location:?}"),
                })?;
            uri = next;
        }
    }

    async fn fetch_once(
        &self,
        uri: &Uri,
        headers: &ForwardHeaders,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let built = self.current()?;
        let mut request = Request::get(uri.clone())
            .body(Empty::<Bytes>::new())
            .map_err(|e| UpstreamError::BadUrl {
                url: uri.to_string(),
                reason: e.to_string(),
            })?;
        let request_headers = request.headers_mut();
        for (name, value) in headers {
            request_headers.append(name, value.clone());
        }
        if let Some(auth) = &self.settings.auth {
            request_headers.insert(AUTHORIZATION, self.authorization(auth)?);
        }
        if let Some(proxy) = &self.proxy
            && uri.scheme_str() != Some("https")
            && let Some(value) = &proxy.authorization
        {
            // Plain-http targets go through the proxy in absolute form; the
            // proxy's credentials ride on the request itself.
            request_headers.insert(PROXY_AUTHORIZATION, value.clone());
        }
        built
            .client
            .request(request)
            .await
            .map_err(|e| classify_client_error(uri, &e))
    }

    /// The client for the current TLS files, rebuilt when one of them changed.
    /// Only the versions are looked at per scrape; contents are loaded (and
    /// inline PEM copied) only to rebuild.
    fn current(&self) -> Result<Arc<Built>, UpstreamError> {
        let tls = &self.settings.tls;
        let versions = [
            self.files.version(tls.ca.as_ref())?,
            self.files.version(tls.cert.as_ref())?,
            self.files.version(tls.key.as_ref())?,
        ];
        let mut slot = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(built) = slot.as_ref()
            && built.tls_versions == versions
        {
            return Ok(Arc::clone(built));
        }
        let (ca, ca_version) = self.files.load_opt(tls.ca.as_ref())?;
        let (cert, cert_version) = self.files.load_opt(tls.cert.as_ref())?;
        let (key, key_version) = self.files.load_opt(tls.key.as_ref())?;
        let versions = [ca_version, cert_version, key_version];
        let tls_config = build_tls_config(
            tls,
            ca.as_deref(),
            cert.as_deref(),
            key.as_deref(),
            self.settings.enable_http2,
        )?;
        let server_name = match &tls.server_name {
            Some(name) if !name.is_empty() => {
                Some(ServerName::try_from(name.clone()).map_err(|e| {
                    UpstreamError::Settings(format!("tls_config server_name {name:?}: {e}"))
                })?)
            }
            _ => None,
        };
        let connector = Connector {
            tls: TlsConnector::from(Arc::new(tls_config)),
            server_name,
            proxy: self.proxy.clone(),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        let built = Arc::new(Built {
            tls_versions: versions,
            client,
        });
        *slot = Some(Arc::clone(&built));
        Ok(built)
    }

    /// The `Authorization` value for `auth`, encoded again only when its
    /// secret file changed (a `stat` per call, like the TLS files).
    fn authorization(&self, auth: &Auth) -> Result<HeaderValue, UpstreamError> {
        let secret = match auth {
            Auth::Basic { password, .. } => password.as_ref(),
            Auth::Authorization { credentials, .. } => Some(credentials),
        };
        let version = self.files.version(secret)?;
        let mut cached = self
            .authorization
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((made_from, value)) = cached.as_ref()
            && *made_from == version
        {
            return Ok(value.clone());
        }
        // Should the file change between the `stat` above and this read, the
        // newer value is kept under the older version: the next call sees the
        // newer version and encodes it again.
        let value = self.auth_header(auth)?;
        *cached = Some((version, value.clone()));
        Ok(value)
    }

    fn auth_header(&self, auth: &Auth) -> Result<HeaderValue, UpstreamError> {
        let text = match auth {
            Auth::Basic { username, password } => {
                let password = match password {
                    Some(source) => self.files.secret(source)?,
                    None => String::new(),
                };
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                format!("Basic {encoded}")
            }
            Auth::Authorization {
                scheme,
                credentials,
            } => {
                let scheme = if scheme.is_empty() {
                    "Bearer"
                } else {
                    scheme.as_str()
                };
                format!("{scheme} {}", self.files.secret(credentials)?)
            }
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            UpstreamError::Settings(
                "credentials contain characters not allowed in an HTTP header".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Resolves a redirect `Location` against the URL that answered, the way a
/// browser (and Go's client) does for the forms servers send.
fn resolve_location(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    if location.contains("://") {
        return location.parse().ok();
    }
    let scheme = base.scheme_str()?;
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}").parse().ok();
    }
    let authority = base.authority()?.as_str();
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}").parse().ok();
    }
    if location.starts_with('?') {
        return format!("{scheme}://{authority}{}{location}", base.path())
            .parse()
            .ok();
    }
    let path = base.path();
    let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
    format!("{scheme}://{authority}{dir}{location}")
        .parse()
        .ok()
}

/// `host:port` of a URL, for error messages that name the target.
pub(crate) fn authority_of(uri: &Uri) -> String {
    let host = uri.host().unwrap_or("?");
    match uri.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => {
            let port = if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            };
            format!("{host}:{port}")
        }
    }
}

fn classify_client_error(uri: &Uri, error: &hyper_util::client::legacy::Error) -> UpstreamError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(connect) = current.downcast_ref::<UpstreamError>() {
            return connect.clone();
        }
        source = current.source();
    }
    UpstreamError::Protocol {
        authority: authority_of(uri),
        reason: error_chain(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_like_a_browser() {
        let base: Uri = "http://a.example:9100/x/metrics?y=1".parse().unwrap();
        let cases = [
            ("https://b.example/m", "https://b.example/m"),
            ("//c.example:1/m", "http://c.example:1/m"),
            ("/other", "http://a.example:9100/other"),
            ("other", "http://a.example:9100/x/other"),
            ("?z=2", "http://a.example:9100/x/metrics?z=2"),
        ];
        for (location, want) in cases {
            assert_eq!(
                resolve_location(&base, location).unwrap().to_string(),
                want,
                "{location}"
            );
        }
    }
}
