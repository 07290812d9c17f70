//! Opening a connection to a target for hyper's pool: DNS, TCP, the proxy
//! tunnel, TLS, each step failing with its own [`UpstreamError`] so that
//! the scrape path can tell Prometheus which one failed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::proxy::{ProxyEndpoint, tunnel};
use super::{UpstreamError, authority_of};

/// Opens connections to targets: DNS, TCP, the proxy tunnel, TLS, each step
/// failing with its own [`UpstreamError`].
#[derive(Clone)]
pub(super) struct Connector {
    pub(super) tls: TlsConnector,
    pub(super) server_name: Option<ServerName<'static>>,
    pub(super) proxy: Option<Arc<ProxyEndpoint>>,
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

/// A connection to a target, plain or TLS.
#[derive(Debug)]
pub(super) struct TargetStream {
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
