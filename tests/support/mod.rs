//! Helpers shared by the integration tests. Use from a test file with
//! `mod support;`.
//!
//! - [`corpus`]: a body of `testdata/corpus/` and its ground-truth
//!   `scrape_samples_scraped` ([`CORPUS`]).
//! - [`TargetServer`]: a scrape target on 127.0.0.1 serving [`Route`]s:
//!   corpus bodies plain or gzip, error statuses, slow answers, bodies cut
//!   mid-stream, large generated bodies with a produced-bytes counter,
//!   header echo, auth checks, redirects; over HTTP or TLS.
//! - [`TestCa`]: a throwaway CA (rcgen) issuing server and client
//!   certificates for `localhost` and 127.0.0.1.
//! - [`Sidecar`]: the scrape proxy on 127.0.0.1 over given targets and jobs.
//! - [`get`]: a plain HTTP/1 GET that reports a body that ends in an error
//!   differently from a clean end.
//! - [`prometheus_installed`] and [`scalar`]: for tests that run the real
//!   `prometheus` binary with the library's
//!   [`PrometheusProcess`](promshard::local::process::PrometheusProcess).
#![allow(dead_code, unreachable_pub, missing_debug_implementations)]
// Test scaffolding: a failed set-up step should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future as _;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use promshard::http::Shutdown;
use promshard::http::serve::ShutdownTrigger;
use promshard::local::process::PrometheusProcess;
use promshard::scrape::counting::ExpositionCounting;
use promshard::scrape::jobs::{Job, JobTable};
use promshard::scrape::upstream::{UpstreamClient, UpstreamSettings};
use promshard::shard_api::{Assignment, Role, ScrapeTarget, TargetId};
use promshard::sidecar::assignment::AssignmentTable;
use promshard::sidecar::proxy::{ProxyState, serve_scrapes};
use tokio::net::{TcpListener, TcpStream};

/// The corpus files and their `scrape_samples_scraped` from a real
/// Prometheus 2.42 (testdata/corpus/README.md).
pub const CORPUS: [(&str, u64); 4] = [
    ("node_exporter.prom", 507),
    ("prometheus.prom", 344),
    ("alertmanager.prom", 242),
    ("pushgateway.prom", 41),
];

/// Content type of the Prometheus text format.
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of delimited protobuf.
pub const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// A file of `testdata/corpus/`.
pub fn corpus(name: &str) -> Bytes {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/corpus")
        .join(name);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Gzip of `data`.
pub fn gzip(data: &[u8]) -> Bytes {
    Bytes::from(promshard_test_support::gzip(data))
}

/// What a [`TargetServer`] answers on one path.
#[derive(Clone)]
pub enum Route {
    /// 200 with this body; `gzip` sends it compressed with
    /// `Content-Encoding: gzip` (and `Content-Length` of the compressed body).
    Body {
        content_type: &'static str,
        body: Bytes,
        gzip: bool,
    },
    /// This status and a short body.
    Status { status: u16, body: &'static str },
    /// Headers only after `delay`, then the body.
    Slow { delay: Duration, body: Bytes },
    /// 200, `prefix`, then the connection fails. `content_length` announces a
    /// longer body (otherwise chunked).
    Cut {
        prefix: Bytes,
        content_length: Option<u64>,
    },
    /// 200 with `total` bytes of generated sample lines, produced as the
    /// connection asks for them; `produced` counts bytes handed to the socket.
    Generated {
        total: u64,
        produced: Arc<AtomicU64>,
    },
    /// 200, then `line` every `every`, forever.
    Trickle { line: &'static str, every: Duration },
    /// 200 with the request headers as `name: value` lines, sorted, and the
    /// HTTP version as a first line.
    Echo,
    /// 200 with `body` only when `Authorization` equals `expected`, else 401.
    RequireAuth { expected: String, body: Bytes },
    /// 302 to this location.
    Redirect(String),
    /// 200 with `openmetrics` as OpenMetrics when the request's `Accept`
    /// names OpenMetrics, else with `text` as Prometheus text.
    ByAccept { text: Bytes, openmetrics: Bytes },
}

/// One request a [`TargetServer`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
}

/// A scrape target on 127.0.0.1.
pub struct TargetServer {
    pub addr: SocketAddr,
    tls: bool,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TargetServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TargetServer {
    /// Serves `routes` over plain HTTP/1.1.
    pub async fn start(routes: Vec<(&str, Route)>) -> Self {
        Self::start_inner(routes, None).await
    }

    /// Serves `routes` over TLS with `config`.
    pub async fn start_tls(routes: Vec<(&str, Route)>, config: Arc<rustls::ServerConfig>) -> Self {
        Self::start_inner(routes, Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start_inner(
        routes: Vec<(&str, Route)>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<BTreeMap<String, Route>> =
            Arc::new(routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let is_tls = tls.is_some();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let routes = Arc::clone(&routes);
                let recorded = Arc::clone(&recorded);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let routes = Arc::clone(&routes);
                        let recorded = Arc::clone(&recorded);
                        async move { Ok::<_, Infallible>(answer(&routes, &recorded, req).await) }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            // A failed handshake is what TLS-failure tests provoke.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                // HTTP/2 when ALPN chose it, else HTTP/1.1.
                                let auto = hyper_util::server::conn::auto::Builder::new(
                                    hyper_util::rt::TokioExecutor::new(),
                                );
                                let _ = auto.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            tls: is_tls,
            requests,
            task,
        }
    }

    /// The URL of `path` on this server (`https://localhost:port` for TLS).
    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn answer(
    routes: &BTreeMap<String, Route>,
    recorded: &Mutex<Vec<Recorded>>,
    req: Request<Incoming>,
) -> Response<TestBody> {
    let path = req.uri().path().to_owned();
    recorded.lock().unwrap().push(Recorded {
        path: path.clone(),
        headers: req.headers().clone(),
    });
    let Some(route) = routes.get(&path) else {
        return plain(404, TestBody::full("no such route\n"));
    };
    match route.clone() {
        Route::Body {
            content_type,
            body,
            gzip: compress,
        } => {
            let mut response = plain(
                200,
                TestBody::full(if compress { gzip(&body) } else { body }),
            );
            response
                .headers_mut()
                .insert("content-type", content_type.parse().unwrap());
            if compress {
                response
                    .headers_mut()
                    .insert("content-encoding", "gzip".parse().unwrap());
            }
            response
        }
        Route::Status { status, body } => plain(status, TestBody::full(body)),
        Route::Slow { delay, body } => {
            tokio::time::sleep(delay).await;
            plain(200, TestBody::full(body))
        }
        Route::Cut {
            prefix,
            content_length,
        } => {
            let pause = Box::pin(tokio::time::sleep(Duration::from_millis(100)));
            let mut response = plain(200, TestBody::Cut(Some(prefix), pause));
            if let Some(length) = content_length {
                response
                    .headers_mut()
                    .insert("content-length", length.into());
            }
            response
        }
        Route::Generated { total, produced } => {
            let mut response = plain(
                200,
                TestBody::Generated {
                    remaining: total,
                    produced,
                    line: 0,
                },
            );
            response
                .headers_mut()
                .insert("content-type", TEXT.parse().unwrap());
            response
        }
        Route::Trickle { line, every } => {
            let pause = Box::pin(tokio::time::sleep(every));
            plain(200, TestBody::Trickle { line, every, pause })
        }
        Route::Echo => {
            let version = format!("{:?}", req.version());
            let mut lines: Vec<String> = req
                .headers()
                .iter()
                .map(|(n, v)| format!("{}: {}", n, v.to_str().unwrap_or("?")))
                .collect();
            lines.sort();
            lines.insert(0, version);
            plain(200, TestBody::full(lines.join("\n") + "\n"))
        }
        Route::RequireAuth { expected, body } => {
            let got = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if got == Some(expected.as_str()) {
                plain(200, TestBody::full(body))
            } else {
                plain(401, TestBody::full("unauthorized\n"))
            }
        }
        Route::ByAccept { text, openmetrics } => {
            let wants_openmetrics = req
                .headers()
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("application/openmetrics-text"));
            let (content_type, body) = if wants_openmetrics {
                (OPENMETRICS, openmetrics)
            } else {
                (TEXT, text)
            };
            let mut response = plain(200, TestBody::full(body));
            response
                .headers_mut()
                .insert("content-type", content_type.parse().unwrap());
            response
        }
        Route::Redirect(location) => {
            let mut response = plain(302, TestBody::full(""));
            response
                .headers_mut()
                .insert("location", location.parse().unwrap());
            response
        }
    }
}

fn plain(status: u16, body: TestBody) -> Response<TestBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
}

/// Bodies of the target server.
pub enum TestBody {
    Full(Option<Bytes>),
    /// The prefix, a pause (so it is flushed), then an error.
    Cut(Option<Bytes>, Pin<Box<tokio::time::Sleep>>),
    Generated {
        remaining: u64,
        produced: Arc<AtomicU64>,
        line: u64,
    },
    Trickle {
        line: &'static str,
        every: Duration,
        pause: Pin<Box<tokio::time::Sleep>>,
    },
}

impl TestBody {
    fn full(body: impl Into<Bytes>) -> Self {
        Self::Full(Some(body.into()))
    }
}

/// Lines per generated chunk (about 64 KiB).
const GENERATED_LINES_PER_CHUNK: u64 = 1500;

impl Body for TestBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match &mut *self {
            Self::Full(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            Self::Cut(prefix, pause) => match prefix.take() {
                Some(prefix) => Poll::Ready(Some(Ok(Frame::data(prefix)))),
                None => match pause.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(std::io::Error::other("cut on purpose"))))
                    }
                },
            },
            Self::Trickle { line, every, pause } => match pause.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    let next = tokio::time::Instant::now() + *every;
                    pause.as_mut().reset(next);
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(line.as_bytes())))))
                }
            },
            Self::Generated {
                remaining,
                produced,
                line,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let mut chunk = String::with_capacity(64 * 1024);
                for _ in 0..GENERATED_LINES_PER_CHUNK {
                    *line += 1;
                    let _ = writeln!(chunk, "generated_metric{{series=\"{line:012}\"}} 1");
                }
                let take = (chunk.len() as u64).min(*remaining);
                chunk.truncate(usize::try_from(take).unwrap());
                *remaining -= take;
                produced.fetch_add(take, Ordering::SeqCst);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Self::Full(Some(body)) => http_body::SizeHint::with_exact(body.len() as u64),
            Self::Full(None) => http_body::SizeHint::with_exact(0),
            _ => http_body::SizeHint::default(),
        }
    }
}

/// A throwaway certificate authority.
pub struct TestCa {
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate for `localhost` and 127.0.0.1.
    pub fn issue(&self, client: bool) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server TLS config presenting a certificate of this CA; with
    /// `client_ca`, client certificates of that CA are required.
    pub fn server_config(&self, client_ca: Option<&TestCa>) -> Arc<rustls::ServerConfig> {
        use rustls_pki_types::pem::PemObject as _;
        let issued = self.issue(false);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for der in rustls_pki_types::CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
                    roots.add(der.unwrap()).unwrap();
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let chain = rustls_pki_types::CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key =
            rustls_pki_types::PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap();
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// A target of an assignment.
pub fn target(id: &str, job: &str, url: &str) -> ScrapeTarget {
    let mut labels = BTreeMap::new();
    labels.insert("job".to_owned(), job.to_owned());
    labels.insert("instance".to_owned(), id.to_owned());
    ScrapeTarget {
        id: TargetId(id.to_owned()),
        job: job.to_owned(),
        url: url.to_owned(),
        labels,
        role: Role::Active,
    }
}

/// A job with default counting.
pub fn job(name: &str, settings: UpstreamSettings, timeout: Duration) -> Job {
    Job {
        name: name.to_owned(),
        upstream: UpstreamClient::new(settings).unwrap(),
        scrape_timeout: timeout,
        counting: Arc::new(ExpositionCounting::default()),
    }
}

/// The scrape proxy on 127.0.0.1, stopped on drop.
pub struct Sidecar {
    pub addr: SocketAddr,
    pub state: Arc<ProxyState>,
    trigger: ShutdownTrigger,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}

impl Sidecar {
    /// A sidecar that counts every scrape, so that each scrape's count can
    /// be checked.
    pub async fn start(targets: Vec<ScrapeTarget>, jobs: Vec<Job>) -> Self {
        Self::start_counting_every(targets, jobs, Duration::ZERO).await
    }

    /// A sidecar that counts a target at most every `count_min_interval`.
    pub async fn start_counting_every(
        targets: Vec<ScrapeTarget>,
        jobs: Vec<Job>,
        count_min_interval: Duration,
    ) -> Self {
        let assignment = Arc::new(AssignmentTable::default());
        assignment.replace(&Assignment {
            generation: 1,
            targets,
            ..Assignment::default()
        });
        let table = Arc::new(JobTable::default());
        table.replace(jobs);
        let state = Arc::new(
            ProxyState::new(assignment, table).with_count_min_interval(count_min_interval),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(serve_scrapes(listener, Arc::clone(&state), shutdown));
        Self {
            addr,
            state,
            trigger,
        }
    }
}

/// What [`get`] saw.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The reason phrase, when not the canonical one.
    pub reason: Option<String>,
    /// The body, or how it failed after its first bytes.
    pub body: Result<Bytes, String>,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.body.as_ref().expect("body")).into_owned()
    }
}

/// Bodies larger than this are refused by [`get`].
const GET_LIMIT: usize = 64 * 1024 * 1024;

/// `GET path` on `addr` with `headers`, on a fresh HTTP/1.1 connection.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Got {
    get_with_method(addr, "GET", path, headers).await
}

/// Like [`get`] with another method.
pub async fn get_with_method(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Got {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(http_body_util::Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, mut body) = response.into_parts();
    let reason = parts
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
    let mut collected = Vec::new();
    let body = loop {
        match body.frame().await {
            None => break Ok(Bytes::from(collected)),
            Some(Err(e)) => break Err(e.to_string()),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    collected.extend_from_slice(data);
                    assert!(collected.len() <= GET_LIMIT, "body over {GET_LIMIT} bytes");
                }
            }
        }
    };
    Got {
        status: parts.status,
        headers: parts.headers,
        reason,
        body,
    }
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the `prometheus` binary is installed (`scripts/ensure-deps`).
pub fn prometheus_installed() -> bool {
    std::process::Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The value of an instant query's first series, if any.
pub async fn scalar(prom: &PrometheusProcess, promql: &str) -> Option<f64> {
    let result = prom.client().query(promql).await.ok()?;
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// A delimited-protobuf body (`io.prometheus.client.MetricFamily`) of one
/// gauge family `name` with `series` series labelled `i="0"..`: what an
/// exporter sends when Prometheus negotiates protobuf. Prometheus counts
/// `series` samples.
pub fn protobuf_gauges(name: &str, series: usize) -> Bytes {
    let metrics: Vec<Vec<u8>> = (0..series)
        .map(|i| pb::metric(&[("i", &i.to_string())], 2, &pb::value(i as f64)))
        .collect();
    let mut body = Vec::new();
    pb::family(&mut body, name, 1, &metrics); // GAUGE
    Bytes::from(body)
}

/// A request line and its `Proxy-Authorization`, as a proxy saw them.
pub type ProxiedRequest = (String, Option<String>);

/// A minimal HTTP forward proxy on 127.0.0.1: `CONNECT host:port` tunnels,
/// and absolute-form requests (`GET http://host/path`) are forwarded to
/// their host. Records each request line and `Proxy-Authorization`.
pub struct ForwardProxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<ProxiedRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ForwardProxy {
    pub async fn start() -> Self {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let record = Arc::clone(&record);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        let Ok(byte) = client.read_u8().await else {
                            return;
                        };
                        head.push(byte);
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let request_line = text.lines().next().unwrap_or_default().to_owned();
                    let auth = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Proxy-Authorization: "))
                        .or_else(|| {
                            text.lines()
                                .find_map(|l| l.strip_prefix("proxy-authorization: "))
                        })
                        .map(str::to_owned);
                    record.lock().unwrap().push((request_line.clone(), auth));
                    let mut parts = request_line.split_whitespace();
                    let (method, target) = (
                        parts.next().unwrap_or_default(),
                        parts.next().unwrap_or_default(),
                    );
                    let host = if method == "CONNECT" {
                        target.to_owned()
                    } else {
                        target
                            .trim_start_matches("http://")
                            .split('/')
                            .next()
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let Ok(mut upstream) = TcpStream::connect(&host).await else {
                        let _ = client
                            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        return;
                    };
                    if method == "CONNECT" {
                        let _ = client
                            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                            .await;
                    } else {
                        let _ = upstream.write_all(&head).await;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        Self { addr, seen, task }
    }

    /// Request lines and `Proxy-Authorization` values received.
    pub fn seen(&self) -> Vec<ProxiedRequest> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads a whole body, returning its size.
pub async fn drain(addr: SocketAddr, path: &str) -> u64 {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get(path)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let mut body = sender.send_request(request).await.unwrap().into_body();
    let mut size = 0;
    while let Some(frame) = body.frame().await {
        size += frame.unwrap().data_ref().map_or(0, |d| d.len() as u64);
    }
    size
}

/// Protobuf encoding of `io.prometheus.client.MetricFamily` bodies for
/// tests, written from `client_model`'s `metrics.proto` (proto2, so
/// repeated scalars are not packed, as `client_golang` sends them).
pub mod pb {
    pub use promshard_test_support::varint;

    /// A length-delimited field.
    pub fn bytes(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        varint(out, (number << 3) | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    /// A varint field.
    pub fn uint(out: &mut Vec<u8>, number: u64, value: u64) {
        varint(out, number << 3);
        varint(out, value);
    }

    /// A zigzag (`sint32`/`sint64`) field.
    pub fn sint(out: &mut Vec<u8>, number: u64, value: i64) {
        uint(out, number, ((value << 1) ^ (value >> 63)) as u64);
    }

    /// A `double` field.
    pub fn double(out: &mut Vec<u8>, number: u64, value: f64) {
        varint(out, (number << 3) | 1);
        out.extend_from_slice(&value.to_le_bytes());
    }

    /// A `LabelPair`.
    pub fn label(name: &str, value: &str) -> Vec<u8> {
        let mut out = Vec::new();
        bytes(&mut out, 1, name.as_bytes());
        bytes(&mut out, 2, value.as_bytes());
        out
    }

    /// A `Metric` with `labels` and one value field (`field` = 2 gauge,
    /// 3 counter, 4 summary, 7 histogram) holding `value`.
    pub fn metric(labels: &[(&str, &str)], field: u64, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, v) in labels {
            bytes(&mut out, 1, &label(name, v));
        }
        bytes(&mut out, field, value);
        out
    }

    /// A varint-delimited `MetricFamily` of `kind` (0 counter, 1 gauge,
    /// 2 summary, 4 histogram) appended to `body`.
    pub fn family(body: &mut Vec<u8>, name: &str, kind: u64, metrics: &[Vec<u8>]) {
        let mut out = Vec::new();
        bytes(&mut out, 1, name.as_bytes());
        bytes(&mut out, 2, b"generated by the test");
        uint(&mut out, 3, kind);
        for m in metrics {
            bytes(&mut out, 4, m);
        }
        varint(body, out.len() as u64);
        body.extend_from_slice(&out);
    }

    /// A `Histogram` with classic `buckets` (upper bound, cumulative count);
    /// with `native`, also native buckets (schema 0, a zero bucket and two
    /// positive buckets), which makes Prometheus ingest it as one native
    /// histogram and ignore the classic buckets.
    pub fn histogram(count: u64, sum: f64, buckets: &[(f64, u64)], native: bool) -> Vec<u8> {
        let mut out = Vec::new();
        uint(&mut out, 1, count);
        double(&mut out, 2, sum);
        for (upper, cumulative) in buckets {
            let mut bucket = Vec::new();
            uint(&mut bucket, 1, *cumulative);
            double(&mut bucket, 2, *upper);
            bytes(&mut out, 3, &bucket);
        }
        if native {
            sint(&mut out, 5, 0); // schema
            double(&mut out, 6, 0.001); // zero_threshold
            uint(&mut out, 7, 1); // zero_count
            let mut span = Vec::new();
            sint(&mut span, 1, 0);
            uint(&mut span, 2, 2);
            bytes(&mut out, 12, &span); // positive_span
            sint(&mut out, 13, 2); // positive_delta: buckets of 2, then 1
            sint(&mut out, 13, -1);
        }
        out
    }

    /// A `Summary` with `quantiles` (quantile, value).
    pub fn summary(count: u64, sum: f64, quantiles: &[(f64, f64)]) -> Vec<u8> {
        let mut out = Vec::new();
        uint(&mut out, 1, count);
        double(&mut out, 2, sum);
        for (q, v) in quantiles {
            let mut quantile = Vec::new();
            double(&mut quantile, 1, *q);
            double(&mut quantile, 2, *v);
            bytes(&mut out, 3, &quantile);
        }
        out
    }

    /// A `Counter` or `Gauge` value.
    pub fn value(v: f64) -> Vec<u8> {
        let mut out = Vec::new();
        double(&mut out, 1, v);
        out
    }
}

/// A delimited-protobuf body with one family of each kind: a counter (3
/// series, one with `code="500"`), a summary with 2 quantiles (4 series), a
/// classic histogram with 3 buckets and no `+Inf` (6 series: Prometheus adds
/// `+Inf`), and a native histogram of 2 series that also carries classic
/// buckets (2 samples: one per native histogram). Prometheus 2.42 with
/// native histograms enabled counts [`PROTOBUF_FAMILIES_SAMPLES`].
pub fn protobuf_families() -> Bytes {
    let mut body = Vec::new();
    let counters: Vec<Vec<u8>> = ["200", "404", "500"]
        .iter()
        .map(|code| pb::metric(&[("code", code)], 3, &pb::value(7.0)))
        .collect();
    pb::family(&mut body, "pb_requests_total", 0, &counters);
    pb::family(
        &mut body,
        "pb_latency_seconds",
        2,
        &[pb::metric(
            &[],
            4,
            &pb::summary(10, 2.5, &[(0.5, 0.2), (0.99, 0.9)]),
        )],
    );
    pb::family(
        &mut body,
        "pb_size_bytes",
        4,
        &[pb::metric(
            &[],
            7,
            &pb::histogram(5, 120.0, &[(1.0, 1), (10.0, 3), (100.0, 4)], false),
        )],
    );
    let natives: Vec<Vec<u8>> = ["a", "b"]
        .iter()
        .map(|path| {
            pb::metric(
                &[("path", path)],
                7,
                &pb::histogram(4, 3.5, &[(1.0, 3), (2.0, 4)], true),
            )
        })
        .collect();
    pb::family(&mut body, "pb_native_seconds", 4, &natives);
    Bytes::from(body)
}

/// What Prometheus counts for [`protobuf_families`].
pub const PROTOBUF_FAMILIES_SAMPLES: u64 = 3 + 4 + 6 + 2;
