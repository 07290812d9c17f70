//! `http_sd_configs`: polls an endpoint returning a JSON list of target
//! groups, with the SD config's own HTTP client settings (basic auth,
//! authorization, TLS). A failed poll (non-200, wrong content type, bad JSON,
//! connection error) keeps the last good groups and reports the error.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{
    BoxFuture, Discoverer, ProviderMessage, ProviderSender, SdError, poll_interval,
    wait_unless_closed,
};
use crate::config::HttpSdConfig;
use crate::http_client::{HttpClientConfig, TlsConfig};
use crate::target_group::{TargetGroup, groups_from_json};

/// Largest response body accepted.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// Label holding the URL a target came from.
pub const URL_LABEL: &str = "__meta_url";

/// An HTTP(S) client for SD endpoints.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// One `http_sd_configs` entry.
#[derive(Debug, Clone)]
pub struct HttpDiscoverer {
    name: String,
    config: HttpSdConfig,
    client: HttpsClient,
}

#[derive(Debug)]
struct AcceptAnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn pem_bytes(inline: Option<&str>, file: Option<&str>) -> Result<Option<Vec<u8>>, String> {
    if let Some(text) = inline {
        return Ok(Some(text.as_bytes().to_vec()));
    }
    match file {
        Some(path) => std::fs::read(path)
            .map(Some)
            .map_err(|e| format!("reading {path}: {e}")),
        None => Ok(None),
    }
}

/// A rustls client config from a `tls_config` (ring provider).
pub fn rustls_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version.as_deref() {
        Some("TLS13") => &[&rustls::version::TLS13],
        _ => rustls::DEFAULT_VERSIONS,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match pem_bytes(tls.ca.as_deref(), tls.ca_file.as_deref())? {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| format!("CA certificate: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("CA certificate: {e}"))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    // A system certificate rustls cannot use is skipped, as Go does.
                    let _ = roots.add(cert);
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    let cert = pem_bytes(tls.cert.as_deref(), tls.cert_file.as_deref())?;
    let key_inline = (!tls.key.is_empty()).then(|| tls.key.expose());
    let key = pem_bytes(key_inline, tls.key_file.as_deref())?;
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("client certificate: {e}"))?;
            let key =
                PrivateKeyDer::from_pem_slice(&key).map_err(|e| format!("client key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// An HTTP(S) client honouring `config`'s TLS and HTTP/2 settings. Proxies
/// and OAuth2 are not supported: such configs are rejected here.
pub fn build_client(config: &HttpClientConfig) -> Result<HttpsClient, String> {
    if config.oauth2.is_some() {
        return Err("oauth2 is not supported by promshard".into());
    }
    if config.proxy_url.is_some() || config.proxy_from_environment {
        return Err("HTTP proxies are not supported by promshard".into());
    }
    let tls = rustls_config(&config.tls_config)?;
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1();
    let connector = if config.enable_http2 {
        builder.enable_http2().build()
    } else {
        builder.build()
    };
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// The secret a `*_file` setting names (a password, a token), without the
/// surrounding whitespace, as Prometheus reads it; the error names the file.
pub fn read_secret_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("reading {path}: {e}"))
}

/// The `Authorization` header value for `config`, if any.
pub fn authorization_header(config: &HttpClientConfig) -> Result<Option<String>, String> {
    use base64::Engine;
    if let Some(basic) = &config.basic_auth {
        let password = match &basic.password_file {
            Some(path) => read_secret_file(path)?,
            None => basic.password.expose().to_owned(),
        };
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{password}", basic.username));
        return Ok(Some(format!("Basic {token}")));
    }
    if let Some(auth) = &config.authorization {
        let credentials = match &auth.credentials_file {
            Some(path) => read_secret_file(path)?,
            None => auth.credentials.expose().to_owned(),
        };
        return Ok(Some(format!("{} {credentials}", auth.kind)));
    }
    Ok(None)
}

/// `application/json`, optionally with a UTF-8 charset, like Prometheus.
fn json_content_type(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(params) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(params.trim_start(), "charset=utf-8" | "charset=\"utf-8\"")
}

impl HttpDiscoverer {
    /// A provider named `name` for `config`.
    pub fn new(name: String, config: HttpSdConfig) -> Result<Self, SdError> {
        let client = build_client(&config.http_client).map_err(|message| SdError {
            provider: name.clone(),
            message,
        })?;
        Ok(Self {
            name,
            config,
            client,
        })
    }

    async fn fetch(&self) -> Result<Vec<TargetGroup>, String> {
        let mut request = http::Request::get(&self.config.url)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("promshard/", env!("CARGO_PKG_VERSION")),
            )
            .header(
                "X-Prometheus-Refresh-Interval-Seconds",
                (self.config.refresh_interval.as_millis() / 1000).to_string(),
            );
        if let Some(auth) = authorization_header(&self.config.http_client)? {
            request = request.header(http::header::AUTHORIZATION, auth);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| {
            use std::error::Error;
            match e.source() {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            }
        })?;
        let status = response.status();
        if status != http::StatusCode::OK {
            return Err(format!("server returned HTTP status {status}"));
        }
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if !json_content_type(&content_type) {
            return Err(format!("unsupported content type {content_type:?}"));
        }
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > MAX_BODY_BYTES {
                    return Err(format!("response larger than {MAX_BODY_BYTES} bytes"));
                }
                bytes.extend_from_slice(&data);
            }
        }
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        let mut groups = groups_from_json(&json).map_err(|e| e.to_string())?;
        for (i, group) in groups.iter_mut().enumerate() {
            group.source = format!("{}:{i}", self.config.url);
            group.labels.insert(URL_LABEL, &self.config.url);
        }
        Ok(groups)
    }
}

impl Discoverer for HttpDiscoverer {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Vec<TargetGroup>, SdError>> {
        Box::pin(async move {
            self.fetch().await.map_err(|message| SdError {
                provider: self.name.clone(),
                message,
            })
        })
    }

    fn run(self: Arc<Self>, tx: ProviderSender) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let interval = poll_interval(self.config.refresh_interval);
            loop {
                let message = match tokio::time::timeout(interval, self.fetch()).await {
                    Ok(Ok(groups)) => ProviderMessage::Snapshot(groups),
                    Ok(Err(e)) => ProviderMessage::Error(e),
                    Err(_) => ProviderMessage::Error(format!("no answer within {interval:?}")),
                };
                if tx.send(message).await.is_err() {
                    return;
                }
                if !wait_unless_closed(interval, &tx).await {
                    return;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(json_content_type("application/json"));
        assert!(json_content_type("Application/JSON; charset=utf-8"));
        assert!(json_content_type("application/json;charset=\"utf-8\""));
        assert!(!json_content_type("text/plain"));
        assert!(!json_content_type("application/json; charset=latin1"));
    }
}
