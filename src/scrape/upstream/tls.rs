//! The rustls client configuration of a job: the ring provider, the job's
//! CA or the system roots (loaded once per process), a client certificate,
//! TLS 1.3 only when asked, and ALPN (`h2` only when HTTP/2 is enabled).
//! `insecure_skip_verify` accepts any certificate but still checks the
//! handshake signatures.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::{TlsSettings, UpstreamError};

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

pub(super) fn build_tls_config(
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
