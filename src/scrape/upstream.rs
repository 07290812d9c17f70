//! How the sidecar reaches a scrape target: one pooled HTTP client per job,
//! built from the job's HTTP settings ([`UpstreamSettings`]).
//!
//! The client does what Prometheus's own scrape client would do for the job:
//! TLS with the job's CA, client certificate and server name (rustls, ring
//! provider), basic auth or an `Authorization` header, a bounded number of
//! redirects, HTTP/2 when allowed, and an HTTP proxy (`CONNECT` for https
//! targets, absolute-form requests for http ones). Files named by the settings
//! (CA, certificate, key, password, credentials) are re-read when they change
//! (a `stat` per request; contents are cached by modification time, size and
//! inode), so rotated secrets take effect on the next scrape without a reload.
//!
//! Failures are classified ([`UpstreamError`]) so that the scrape path can
//! tell Prometheus which step failed: DNS, connect, proxy, TLS or protocol.
//!
//! ```
//! use promshard::scrape::upstream::{UpstreamClient, UpstreamSettings};
//!
//! let settings = UpstreamSettings { follow_redirects: true, ..UpstreamSettings::default() };
//! let client = UpstreamClient::new(settings)?;
//! # let _ = client;
//! # Ok::<(), promshard::scrape::upstream::UpstreamError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use crate::http::error_chain;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue, LOCATION, PROXY_AUTHORIZATION};
use http::{Request, Response, Uri};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Redirects followed before giving up, as Go's HTTP client (and so
/// Prometheus) does.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Longest `CONNECT` answer read from a proxy; a proxy that sends more
/// headers than this is broken.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

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
    /// Follow up to [`MAX_REDIRECTS`] redirects (Prometheus's default is
    /// true); otherwise the 3xx answer is passed to Prometheus as it is.
    pub follow_redirects: bool,
    /// Offer HTTP/2 in TLS ALPN.
    pub enable_http2: bool,
    /// An `http://[user:password@]host:port` proxy for every request.
    pub proxy_url: Option<String>,
}

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
    /// More than [`MAX_REDIRECTS`] redirects, or one without a usable
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

fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// The system's CA roots, loaded once: reading them costs milliseconds and
/// they do not change while the sidecar runs.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    Arc::clone(ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::warn!(%error, "skipping unreadable system CA certificate");
        }
        let (_added, ignored) = roots.add_parsable_certificates(loaded.certs);
        if ignored > 0 {
            tracing::warn!(ignored, "skipped unparsable system CA certificates");
        }
        Arc::new(roots)
    }))
}

fn build_tls_config(
    tls: &TlsSettings,
    ca: Option<&[u8]>,
    cert: Option<&[u8]>,
    key: Option<&[u8]>,
    enable_http2: bool,
) -> Result<ClientConfig, UpstreamError> {
    let provider = crypto_provider();
    let versions: &[&rustls::SupportedProtocolVersion] = if tls.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| UpstreamError::Settings(format!("TLS: {e}")))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
    } else {
        let roots = match ca {
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                let mut count = 0usize;
                for der in CertificateDer::pem_slice_iter(pem) {
                    let der = der.map_err(|e| {
                        UpstreamError::Settings(format!("tls_config ca: bad PEM: {e}"))
                    })?;
                    roots.add(der).map_err(|e| {
                        UpstreamError::Settings(format!("tls_config ca: bad certificate: {e}"))
                    })?;
                    count += 1;
                }
                if count == 0 {
                    return Err(UpstreamError::Settings(
                        "tls_config ca: no PEM certificate found".into(),
                    ));
                }
                Arc::new(roots)
            }
            None => system_roots(),
        };
        builder.with_root_certificates(roots)
    };
    let mut config = match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| UpstreamError::Settings(format!("tls_config cert: bad PEM: {e}")))?;
            if chain.is_empty() {
                return Err(UpstreamError::Settings(
                    "tls_config cert: no PEM certificate found".into(),
                ));
            }
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| UpstreamError::Settings(format!("tls_config key: bad PEM: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| UpstreamError::Settings(format!("tls_config cert/key: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(UpstreamError::Settings(
                "tls_config: a client certificate needs both cert and key".into(),
            ));
        }
    };
    config.alpn_protocols = if enable_http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake
/// signatures are still verified so the connection is at least consistent.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// An HTTP proxy from `proxy_url`.
#[derive(Debug)]
struct ProxyEndpoint {
    /// `host:port`.
    address: String,
    /// `Proxy-Authorization` from the URL's user info.
    authorization: Option<HeaderValue>,
}

impl ProxyEndpoint {
    fn parse(url: &str) -> Result<Self, UpstreamError> {
        let bad = |reason: &str| UpstreamError::Settings(format!("proxy_url: {reason}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// proxies are supported"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        if host_port.is_empty() {
            return Err(bad("no host"));
        }
        let address = if host_port
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
            && !host_port.ends_with(']')
        {
            host_port.to_owned()
        } else {
            format!("{host_port}:80")
        };
        let authorization = match userinfo {
            Some(userinfo) => {
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(percent_decode(userinfo));
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| bad("user info is not a valid header"))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            address,
            authorization,
        })
    }
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Some(value) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Opens connections to targets: DNS, TCP, the proxy tunnel, TLS, each step
/// failing with its own [`UpstreamError`].
#[derive(Clone)]
struct Connector {
    tls: TlsConnector,
    server_name: Option<ServerName<'static>>,
    proxy: Option<Arc<ProxyEndpoint>>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TargetStream>;
    type Error = UpstreamError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await.map(TokioIo::new) })
    }
}

impl Connector {
    async fn connect(self, uri: Uri) -> Result<TargetStream, UpstreamError> {
        let authority = authority_of(&uri);
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => {
                return Err(UpstreamError::BadUrl {
                    url: uri.to_string(),
                    reason: format!("unsupported scheme {other:?}"),
                });
            }
        };
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tcp = match &self.proxy {
            Some(proxy) => {
                let mut tcp = dial(&proxy.address).await.map_err(|e| match e {
                    UpstreamError::Dns { reason, .. } | UpstreamError::Connect { reason, .. } => {
                        UpstreamError::Proxy {
                            proxy: proxy.address.clone(),
                            authority: authority.clone(),
                            reason: format!("cannot reach the proxy: {reason}"),
                        }
                    }
                    other => other,
                })?;
                if !https {
                    return Ok(TargetStream {
                        io: Io::Plain(tcp),
                        proxied: true,
                        h2: false,
                    });
                }
                tunnel(&mut tcp, proxy, &authority).await?;
                tcp
            }
            None => dial(&authority).await?,
        };
        if !https {
            return Ok(TargetStream {
                io: Io::Plain(tcp),
                proxied: false,
                h2: false,
            });
        }
        let server_name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.clone()).map_err(|e| UpstreamError::Tls {
                authority: authority.clone(),
                reason: format!("invalid server name {host:?}: {e}"),
            })?,
        };
        let tls = self
            .tls
            .connect(server_name, tcp)
            .await
            .map_err(|e| UpstreamError::Tls {
                authority: authority.clone(),
                reason: tls_reason(&e),
            })?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(TargetStream {
            io: Io::Tls(Box::new(tls)),
            proxied: false,
            h2,
        })
    }
}

fn tls_reason(error: &io::Error) -> String {
    match error.get_ref() {
        Some(inner) => inner.to_string(),
        None => error.to_string(),
    }
}

/// Resolves and connects to `host:port`, trying each address in turn.
async fn dial(authority: &str) -> Result<TcpStream, UpstreamError> {
    let addresses: Vec<_> = tokio::net::lookup_host(authority)
        .await
        .map_err(|e| UpstreamError::Dns {
            authority: authority.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                // Scrape requests are small and latency-bound.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(UpstreamError::Connect {
        authority: authority.to_owned(),
        reason: last_error.map_or_else(|| "no address found".to_owned(), |e| e.to_string()),
    })
}

/// Asks the proxy for a tunnel to the target (`CONNECT host:port`).
async fn tunnel(
    tcp: &mut TcpStream,
    proxy: &ProxyEndpoint,
    authority: &str,
) -> Result<(), UpstreamError> {
    let fail = |reason: String| UpstreamError::Proxy {
        proxy: proxy.address.clone(),
        authority: authority.to_owned(),
        reason,
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(value) = &proxy.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(value.to_str().unwrap_or_default());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    // Read byte-wise up to the blank line so that nothing of the TLS stream
    // that follows is consumed.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_RESPONSE {
            return Err(fail("CONNECT answer too long".into()));
        }
        let byte = tcp
            .read_u8()
            .await
            .map_err(|e| fail(format!("reading CONNECT answer: {e}")))?;
        head.push(byte);
    }
    let status_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line).trim().to_owned();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if code.starts_with('2') {
        Ok(())
    } else {
        Err(fail(format!("CONNECT refused: {status_line}")))
    }
}

/// A connection to a target, plain or TLS.
#[derive(Debug)]
struct TargetStream {
    io: Io,
    proxied: bool,
    h2: bool,
}

#[derive(Debug)]
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for TargetStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new().proxy(self.proxied);
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl AsyncRead for TargetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for TargetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Contents of the files named by the settings, re-read when the file's
/// modification time, size or inode changes (a Kubernetes secret update
/// swaps a symlink, which changes the inode).
#[derive(Debug, Default)]
struct FileCache {
    entries: Mutex<HashMap<PathBuf, CachedFile>>,
    next_version: std::sync::atomic::AtomicU64,
}

/// Contents (if the setting is present) and their version.
type MaybeLoaded = (Option<Arc<[u8]>>, u64);

#[derive(Debug, Clone)]
struct CachedFile {
    stamp: FileStamp,
    contents: Arc<[u8]>,
    version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// Files larger than this are not credentials or certificates.
const MAX_SETTINGS_FILE: u64 = 4 * 1024 * 1024;

impl FileCache {
    /// The contents of `source` and a version that changes when they do
    /// (0 for inline values).
    fn load(&self, source: &SecretSource) -> Result<(Arc<[u8]>, u64), UpstreamError> {
        match source {
            SecretSource::Inline(value) => Ok((Arc::from(value.as_bytes()), 0)),
            SecretSource::File(path) => self.load_file(path),
        }
    }

    /// The version [`FileCache::load`] would give, without copying an inline
    /// value (0 for inline values and absent settings).
    fn version(&self, source: Option<&SecretSource>) -> Result<u64, UpstreamError> {
        match source {
            Some(SecretSource::File(path)) => self.load_file(path).map(|(_, version)| version),
            Some(SecretSource::Inline(_)) | None => Ok(0),
        }
    }

    fn load_opt(&self, source: Option<&SecretSource>) -> Result<MaybeLoaded, UpstreamError> {
        match source {
            Some(source) => self
                .load(source)
                .map(|(contents, version)| (Some(contents), version)),
            None => Ok((None, 0)),
        }
    }

    /// A secret as text, surrounding whitespace trimmed as Prometheus does.
    fn secret(&self, source: &SecretSource) -> Result<String, UpstreamError> {
        let (contents, _) = self.load(source)?;
        let text = std::str::from_utf8(&contents).map_err(|_| {
            UpstreamError::Settings(format!("{}: not UTF-8 text", describe(source)))
        })?;
        Ok(text.trim().to_owned())
    }

    fn load_file(&self, path: &Path) -> Result<(Arc<[u8]>, u64), UpstreamError> {
        use std::os::unix::fs::MetadataExt as _;
        let unreadable =
            |e: io::Error| UpstreamError::Settings(format!("cannot read {}: {e}", path.display()));
        let metadata = std::fs::metadata(path).map_err(unreadable)?;
        let stamp = FileStamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode: metadata.ino(),
        };
        {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(cached) = entries.get(path)
                && cached.stamp == stamp
            {
                return Ok((Arc::clone(&cached.contents), cached.version));
            }
        }
        if metadata.len() > MAX_SETTINGS_FILE {
            return Err(UpstreamError::Settings(format!(
                "{} is larger than {MAX_SETTINGS_FILE} bytes",
                path.display()
            )));
        }
        let contents: Arc<[u8]> = Arc::from(std::fs::read(path).map_err(unreadable)?);
        let version = self
            .next_version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert(
            path.to_owned(),
            CachedFile {
                stamp,
                contents: Arc::clone(&contents),
                version,
            },
        );
        Ok((contents, version))
    }
}

fn describe(source: &SecretSource) -> String {
    match source {
        SecretSource::Inline(_) => "inline secret".to_owned(),
        SecretSource::File(path) => path.display().to_string(),
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

    #[test]
    fn proxy_urls_parse_with_credentials() {
        let proxy = ProxyEndpoint::parse("http://u%40x:p@127.0.0.1:3128/").unwrap();
        assert_eq!(proxy.address, "127.0.0.1:3128");
        let auth = proxy.authorization.unwrap();
        let want = base64::engine::general_purpose::STANDARD.encode("u@x:p");
        assert_eq!(auth.to_str().unwrap(), format!("Basic {want}"));
        assert_eq!(
            ProxyEndpoint::parse("http://proxy.local").unwrap().address,
            "proxy.local:80"
        );
        assert!(ProxyEndpoint::parse("socks5://x:1").is_err());
    }

    #[test]
    fn secret_files_are_reread_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "one\n").unwrap();
        let cache = FileCache::default();
        let source = SecretSource::File(path.clone());
        assert_eq!(cache.secret(&source).unwrap(), "one");
        // A new file renamed over the old one, as secret rotation does.
        let next = dir.path().join("token.new");
        std::fs::write(&next, "second\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(cache.secret(&source).unwrap(), "second");
    }

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
