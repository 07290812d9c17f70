//! A `kube::Client` wired straight to the server's socket.
//!
//! Built from a plain HTTP service rather than `kube::Config` so that making
//! one cannot fail: there is no TLS, auth or proxy to set up.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn loopback_client(address: SocketAddr, default_namespace: &str) -> kube::Client {
    let service = Loopback {
        http: HttpClient::builder(TokioExecutor::new()).build(HttpConnector::new()),
        origin: format!("http://{address}"),
    };
    kube::Client::new(service, default_namespace)
}

/// Sends kube's origin-form requests (`/api/v1/...`) to one address.
#[derive(Clone)]
struct Loopback {
    http: HttpClient<HttpConnector, kube::client::Body>,
    origin: String,
}

impl tower_service::Service<http::Request<kube::client::Body>> for Loopback {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let uri = format!("{}{path_and_query}", self.origin).parse::<http::Uri>();
        let http = self.http.clone();
        Box::pin(async move {
            parts.uri = uri?;
            Ok(http.request(http::Request::from_parts(parts, body)).await?)
        })
    }
}
