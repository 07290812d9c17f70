//! The target server: a fleet of synthetic targets behind one HTTP port.
//!
//! Routes:
//! - `GET /target/<n>/metrics`: target `n`'s body, negotiated like a client
//!   library (protobuf, OpenMetrics or text by `Accept`; gzip by
//!   `Accept-Encoding`). With per-target ports, each target's own port also
//!   serves it at `GET /metrics`.
//! - `GET /targets`: JSON list of the targets and their URLs.
//! - `GET /file_sd`: the same as a Prometheus `file_sd` target-group list.
//! - `GET /control/targets`, `POST /control/targets?count=N`: read or change
//!   the number of targets (growing adds targets `len..N`; shrinking removes
//!   the highest indices).
//! - `POST /control/churn`: advance the churn epoch by one now.
//! - `GET /control/faults`, `POST /control/fault?target=N&mode=M`: make
//!   target `N` misbehave ([`TargetFault`]): `hang` (never answers),
//!   `cut` (declares its whole body, sends half, closes), `error` (500),
//!   `grow&factor=F` (F times its series), `none` (well again). For fault
//!   drills against the whole system (`scripts/chaos`).
//!
//! Bodies are rendered once per (target, format, gzip, churn epoch) on a
//! blocking thread and then served from memory; stale epochs are dropped.
//! Bodies with explicit timestamps (cAdvisor, exemplars) are stamped near the
//! current time by default ([`Timestamps::Clock`]) and so are also rendered
//! again once per clock step.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{OnceCell, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::{FIXED_TIME_MS, FleetSpec, Format, TargetSpec};

/// What time the explicit timestamps of served bodies carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamps {
    /// Always [`FIXED_TIME_MS`]: every run serves the same bytes, and
    /// Prometheus drops the timestamped samples as out of bounds unless the
    /// job sets `honor_timestamps: false`.
    Fixed,
    /// The wall clock rounded down to a multiple of `step`, as a real
    /// cAdvisor stamps each collection: bodies with timestamps are rendered
    /// again once per step; their series and values stay the same.
    Clock {
        /// How often the stamp moves on (and such bodies are re-rendered).
        step: Duration,
    },
}

impl Timestamps {
    /// The default: the clock, moving on every 60 s.
    pub const CLOCK: Timestamps = Timestamps::Clock {
        step: Duration::from_secs(60),
    };

    fn now_ms(self) -> i64 {
        match self {
            Timestamps::Fixed => FIXED_TIME_MS,
            Timestamps::Clock { step } => {
                crate::clock_time_ms(i64::try_from(step.as_millis()).unwrap_or(i64::MAX))
            }
        }
    }
}

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Main listen address (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// How targets are drawn.
    pub fleet: FleetSpec,
    /// Targets at start.
    pub targets: usize,
    /// Upper bound for the control endpoint (and the start count).
    pub max_targets: usize,
    /// Share (0..=1) of entities whose label values change every churn epoch.
    pub churn_share: f64,
    /// Length of a churn epoch; `None`: the epoch only moves by `POST /control/churn`.
    pub churn_interval: Option<Duration>,
    /// Also serve each target on a port of its own, at `/metrics`.
    pub per_target_ports: bool,
    /// Serve this format whatever the `Accept` header says (a target that
    /// only speaks one format, e.g. an old exporter that only knows text).
    pub force_format: Option<Format>,
    /// The time explicit sample and exemplar timestamps are near.
    pub timestamps: Timestamps,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            fleet: FleetSpec::default(),
            targets: 10,
            max_targets: 100_000,
            churn_share: 0.0,
            churn_interval: None,
            per_target_ports: false,
            force_format: None,
            timestamps: Timestamps::CLOCK,
        }
    }
}

/// Why the server could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listen socket could not be opened.
    #[error("loadgen server: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// More targets were asked for than `max_targets` allows.
    #[error("loadgen server: {requested} targets asked for, the limit is {limit}")]
    TooManyTargets {
        /// Requested count.
        requested: usize,
        /// Configured limit.
        limit: usize,
    },
}

/// One entry of `GET /targets`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetInfo {
    /// Target index.
    pub index: usize,
    /// Full scrape URL.
    pub url: String,
    /// Shape name.
    pub shape: &'static str,
    /// Approximate samples.
    pub series: usize,
}

/// How a target misbehaves, for fault drills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum TargetFault {
    /// Well.
    #[default]
    None,
    /// Accepts the request and never answers (until the server stops).
    Hang,
    /// Declares its whole body's length, sends the first half and closes
    /// the connection: a scrape cut mid-body.
    Cut,
    /// Answers 500 with a one-line body.
    Error,
    /// Serves `factor` times its series (a target that grew).
    Grow {
        /// How many times its usual size.
        factor: u32,
    },
}

impl TargetFault {
    /// Reads `mode` (and `factor` for `grow`) as the control endpoint does.
    pub fn parse(mode: &str, factor: Option<&str>) -> Result<Self, String> {
        match mode {
            "none" => Ok(Self::None),
            "hang" => Ok(Self::Hang),
            "cut" => Ok(Self::Cut),
            "error" => Ok(Self::Error),
            "grow" => {
                let factor = factor
                    .unwrap_or("10")
                    .parse::<u32>()
                    .ok()
                    .filter(|f| (1..=1000).contains(f))
                    .ok_or("grow needs factor=<1..1000>")?;
                Ok(Self::Grow { factor })
            }
            other => Err(format!(
                "unknown fault mode {other:?} (none, hang, cut, error, grow)"
            )),
        }
    }

    fn factor(self) -> u32 {
        match self {
            Self::Grow { factor } => factor,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey {
    target: usize,
    /// Size factor of a growing target (1 when well).
    factor: u32,
    format: Format,
    gzip: bool,
    epoch: u64,
    /// The body's stamp, or 0 for shapes without explicit timestamps.
    time_ms: i64,
}

#[derive(Debug)]
struct PortListener {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Inner {
    count: usize,
    faults: std::collections::BTreeMap<usize, TargetFault>,
    ports: Vec<PortListener>,
    cache: HashMap<CacheKey, Arc<OnceCell<Bytes>>>,
    cache_epoch: u64,
    cache_time_ms: i64,
}

#[derive(Debug)]
struct State {
    config: ServerConfig,
    main_addr: SocketAddr,
    started: Instant,
    epoch_offset: AtomicU64,
    inner: Mutex<Inner>,
    shutdown: watch::Receiver<bool>,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in
        // a way that matters for synthetic data: keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn epoch(&self) -> u64 {
        let timed = self.config.churn_interval.map_or(0, |interval| {
            let nanos = interval.as_nanos().max(1);
            u64::try_from(self.started.elapsed().as_nanos() / nanos).unwrap_or(u64::MAX)
        });
        timed.saturating_add(self.epoch_offset.load(Ordering::Relaxed))
    }

    fn advertised(addr: SocketAddr) -> SocketAddr {
        if addr.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        } else {
            addr
        }
    }

    fn target(&self, index: usize) -> TargetSpec {
        self.config.fleet.target(index)
    }

    fn targets(&self) -> Vec<TargetInfo> {
        let inner = self.lock();
        (0..inner.count)
            .map(|index| {
                let spec = self.target(index);
                let url = match inner.ports.get(index) {
                    Some(port) => format!("http://{}/metrics", Self::advertised(port.addr)),
                    None => format!(
                        "http://{}/target/{index}/metrics",
                        Self::advertised(self.main_addr)
                    ),
                };
                TargetInfo {
                    index,
                    url,
                    shape: spec.shape.name(),
                    series: spec.series,
                }
            })
            .collect()
    }
}

/// A running target server. Dropping it also stops it (the listeners notice
/// the handle is gone), without waiting; [`TargetServer::shutdown`] waits.
#[derive(Debug)]
pub struct TargetServer {
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    main_task: JoinHandle<()>,
}

/// Binds the main port (and the per-target ports) and starts serving.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use promshard_loadgen::server::{start, ServerConfig};
/// let server = start(ServerConfig { targets: 3, ..ServerConfig::default() }).await.unwrap();
/// let addr = server.local_addr();
/// assert_eq!(server.targets()[2].url, format!("http://{addr}/target/2/metrics"));
/// server.shutdown().await;
/// # });
/// ```
pub async fn start(config: ServerConfig) -> Result<TargetServer, ServerError> {
    if config.targets > config.max_targets {
        return Err(ServerError::TooManyTargets {
            requested: config.targets,
            limit: config.max_targets,
        });
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let main_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let initial = config.targets;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let state = Arc::new(State {
        config,
        main_addr,
        started: Instant::now(),
        epoch_offset: AtomicU64::new(0),
        inner: Mutex::new(Inner::default()),
        shutdown: shutdown_rx.clone(),
    });
    let main_task = tokio::spawn(accept_loop(listener, state.clone(), None, shutdown_rx));
    let server = TargetServer {
        state,
        shutdown,
        main_task,
    };
    server.set_target_count(initial)?;
    Ok(server)
}

impl TargetServer {
    /// The bound main address.
    pub fn local_addr(&self) -> SocketAddr {
        self.state.main_addr
    }

    /// The current targets with their URLs.
    pub fn targets(&self) -> Vec<TargetInfo> {
        self.state.targets()
    }

    /// The current churn epoch.
    pub fn epoch(&self) -> u64 {
        self.state.epoch()
    }

    /// Moves to the next churn epoch now; returns it.
    pub fn advance_epoch(&self) -> u64 {
        self.state.epoch_offset.fetch_add(1, Ordering::Relaxed);
        self.state.epoch()
    }

    /// What target `index` is (whether or not it is currently served).
    pub fn target_spec(&self, index: usize) -> TargetSpec {
        self.state.target(index)
    }

    /// Grows or shrinks the fleet to `count` targets.
    pub fn set_target_count(&self, count: usize) -> Result<usize, ServerError> {
        set_target_count(&self.state, count)
    }

    /// Makes target `index` misbehave as `fault` ([`TargetFault::None`]:
    /// well again).
    pub fn set_fault(&self, index: usize, fault: TargetFault) {
        set_fault(&self.state, index, fault);
    }

    /// Stops accepting and closes every connection.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.main_task.await;
        let ports = std::mem::take(&mut self.state.lock().ports);
        for port in ports {
            port.task.abort();
        }
    }
}

fn set_fault(state: &State, index: usize, fault: TargetFault) {
    let mut inner = state.lock();
    if fault == TargetFault::None {
        inner.faults.remove(&index);
    } else {
        inner.faults.insert(index, fault);
    }
}

fn set_target_count(state: &Arc<State>, count: usize) -> Result<usize, ServerError> {
    let limit = state.config.max_targets;
    if count > limit {
        return Err(ServerError::TooManyTargets {
            requested: count,
            limit,
        });
    }
    let mut inner = state.lock();
    if state.config.per_target_ports {
        while inner.ports.len() > count {
            if let Some(port) = inner.ports.pop() {
                port.task.abort();
            }
        }
        while inner.ports.len() < count {
            let index = inner.ports.len();
            let addr = SocketAddr::new(state.main_addr.ip(), 0);
            // A std bind is a quick syscall; it keeps the lock free of awaits.
            let bound = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(TcpListener::from_std)
                .and_then(|l| l.local_addr().map(|a| (l, a)));
            let (listener, bound_addr) =
                bound.map_err(|source| ServerError::Bind { addr, source })?;
            let stop = state.shutdown.clone();
            let task = tokio::spawn(accept_loop(listener, state.clone(), Some(index), stop));
            inner.ports.push(PortListener {
                addr: bound_addr,
                task,
            });
        }
    }
    inner.count = count;
    inner.cache.retain(|key, _| key.target < count);
    Ok(count)
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    fixed_target: Option<usize>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Connections live in the set so that ending the loop closes them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, fixed_target, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            changed = shutdown.changed() => {
                // Shutdown asked for, or the server handle is gone.
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    resp
}

fn json_response<T: Serialize>(value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => text_response(StatusCode::OK, "application/json", body),
        Err(e) => text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("loadgen: cannot encode JSON: {e}\n"),
        ),
    }
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A response body: whole, or cut short on purpose ([`TargetFault::Cut`]).
type ServedBody = Either<Full<Bytes>, CutBody>;

/// A body that declares `declared` bytes, yields `sent`, and fails a
/// moment later (after hyper has flushed what was sent), so that the
/// client sees the head and part of the body, then the connection closes.
#[derive(Debug)]
struct CutBody {
    sent: Option<Bytes>,
    declared: u64,
    pause: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for CutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Some(data) = self.sent.take() {
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::data(data))));
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
        std::task::ready!(pause.as_mut().poll(cx));
        std::task::Poll::Ready(Some(Err(std::io::Error::other("cut mid-body on purpose"))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.declared)
    }
}

async fn handle(
    state: &Arc<State>,
    fixed_target: Option<usize>,
    req: Request<Incoming>,
) -> Response<ServedBody> {
    if let Some(served) = serve_target_route(state, fixed_target, &req).await {
        return served;
    }
    handle_control(state, fixed_target, &req).map(Either::Left)
}

/// The target a request asks for, served; `None` for other routes.
async fn serve_target_route(
    state: &Arc<State>,
    fixed_target: Option<usize>,
    req: &Request<Incoming>,
) -> Option<Response<ServedBody>> {
    let path = req.uri().path();
    let target = match fixed_target {
        Some(n) if path == "/metrics" => Some(n),
        Some(_) => None,
        None => path
            .strip_prefix("/target/")
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .and_then(|n| n.parse::<usize>().ok()),
    };
    let index = target?;
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return Some(
            text_response(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n")
                .map(Either::Left),
        );
    }
    Some(serve_target(state, index, req).await)
}

fn handle_control(
    state: &Arc<State>,
    fixed_target: Option<usize>,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let method = req.method();
    if fixed_target.is_some() {
        return text_response(StatusCode::NOT_FOUND, "text/plain", "only /metrics here\n");
    }
    match (method, path) {
        (&Method::GET, "/targets") => json_response(&state.targets()),
        (&Method::GET, "/file_sd") => json_response(&file_sd(state)),
        (&Method::GET, "/control/targets") => json_response(&control_state(state)),
        (&Method::POST, "/control/targets") => {
            let Some(count) = query_param(req.uri().query(), "count").and_then(|c| c.parse().ok())
            else {
                return text_response(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "loadgen: POST /control/targets needs ?count=<non-negative integer>\n",
                );
            };
            match set_target_count(state, count) {
                Ok(_) => json_response(&control_state(state)),
                Err(e) => text_response(StatusCode::BAD_REQUEST, "text/plain", format!("{e}\n")),
            }
        }
        (&Method::GET, "/control/faults") => json_response(&state.lock().faults),
        (&Method::POST, "/control/fault") => {
            let query = req.uri().query();
            let target = query_param(query, "target").and_then(|t| t.parse::<usize>().ok());
            let fault = query_param(query, "mode")
                .ok_or_else(|| "needs mode=<none|hang|cut|error|grow>".to_owned())
                .and_then(|mode| TargetFault::parse(mode, query_param(query, "factor")));
            match (target, fault) {
                (Some(target), Ok(fault)) => {
                    set_fault(state, target, fault);
                    json_response(&state.lock().faults)
                }
                (None, _) => text_response(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "loadgen: POST /control/fault needs ?target=<index>\n",
                ),
                (_, Err(e)) => text_response(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("loadgen: POST /control/fault: {e}\n"),
                ),
            }
        }
        (&Method::POST, "/control/churn") => {
            state.epoch_offset.fetch_add(1, Ordering::Relaxed);
            json_response(&control_state(state))
        }
        (&Method::GET, "/-/healthy") => text_response(StatusCode::OK, "text/plain", "OK\n"),
        _ => text_response(
            StatusCode::NOT_FOUND,
            "text/plain",
            "loadgen: no such route\n",
        ),
    }
}

#[derive(Debug, Serialize)]
struct ControlState {
    count: usize,
    epoch: u64,
}

fn control_state(state: &State) -> ControlState {
    ControlState {
        count: state.lock().count,
        epoch: state.epoch(),
    }
}

#[derive(Debug, Serialize)]
struct FileSdGroup {
    targets: Vec<String>,
    labels: std::collections::BTreeMap<String, String>,
}

fn file_sd(state: &State) -> Vec<FileSdGroup> {
    state
        .targets()
        .into_iter()
        .map(|t| {
            let rest = t.url.strip_prefix("http://").unwrap_or(&t.url);
            let (host, path) = rest.split_once('/').unwrap_or((rest, "metrics"));
            let mut labels = std::collections::BTreeMap::new();
            labels.insert("__metrics_path__".to_owned(), format!("/{path}"));
            labels.insert("loadgen_shape".to_owned(), t.shape.to_owned());
            labels.insert("loadgen_target".to_owned(), t.index.to_string());
            FileSdGroup {
                targets: vec![host.to_owned()],
                labels,
            }
        })
        .collect()
}

/// Picks the exposition format from an `Accept` header the way
/// `client_golang`'s `expfmt.NegotiateIncludingOpenMetrics` does: media ranges
/// by descending `q` (ties keep header order), first one the target can serve
/// wins; nothing usable means text 0.0.4. Called per scrape, so it reads the
/// header in place, without allocating.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    // The usable range with the highest `q`; on a tie the earlier one stays.
    let mut best: Option<(f64, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let mut q: f64 = 1.0;
        let (mut proto, mut encoding, mut version) = (None, None, None);
        for param in parts {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim().trim_matches('"'));
            if k.eq_ignore_ascii_case("q") {
                q = v.parse().unwrap_or(0.0);
            } else if k.eq_ignore_ascii_case("proto") {
                proto = Some(v);
            } else if k.eq_ignore_ascii_case("encoding") {
                encoding = Some(v);
            } else if k.eq_ignore_ascii_case("version") {
                version = Some(v);
            }
        }
        if q.is_nan() || q <= 0.0 {
            continue;
        }
        let format = if media.eq_ignore_ascii_case("application/vnd.google.protobuf")
            && proto == Some("io.prometheus.client.MetricFamily")
            && encoding == Some("delimited")
        {
            Format::Protobuf
        } else if media.eq_ignore_ascii_case("text/plain")
            && matches!(version, None | Some("0.0.4"))
        {
            Format::Text
        } else if media.eq_ignore_ascii_case("application/openmetrics-text")
            && matches!(version, None | Some("0.0.1" | "1.0.0"))
        {
            Format::OpenMetrics
        } else {
            continue;
        };
        if best.is_none_or(|(best_q, _)| q > best_q) {
            best = Some((q, format));
        }
    }
    best.map_or(Format::Text, |(_, format)| format)
}

/// Whether `Accept-Encoding` allows gzip: listed, and not with `q=0`.
pub fn gzip_accepted(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|h| {
        h.split(',').any(|part| {
            let mut params = part.split(';').map(str::trim);
            let is_gzip = params
                .next()
                .is_some_and(|c| c.eq_ignore_ascii_case("gzip"));
            let refused = params.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q")
                        && v.trim().parse::<f64>().is_ok_and(|q| q <= 0.0)
                })
            });
            is_gzip && !refused
        })
    })
}

async fn serve_target(
    state: &Arc<State>,
    index: usize,
    req: &Request<Incoming>,
) -> Response<ServedBody> {
    match serve_target_body(state, index, req).await {
        Ok(response) => response,
        Err(response) => response.map(Either::Left),
    }
}

async fn serve_target_body(
    state: &Arc<State>,
    index: usize,
    req: &Request<Incoming>,
) -> Result<Response<ServedBody>, Response<Full<Bytes>>> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let format = state
        .config
        .force_format
        .unwrap_or_else(|| negotiate(header(ACCEPT)));
    let gzip = gzip_accepted(header(ACCEPT_ENCODING));
    let epoch = state.epoch();
    let mut spec = state.target(index);
    let now_ms = state.config.timestamps.now_ms();
    let fault = state.lock().faults.get(&index).copied().unwrap_or_default();
    match fault {
        TargetFault::Hang => {
            let mut stop = state.shutdown.clone();
            let _ = stop.wait_for(|stopped| *stopped).await;
            return Err(text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "stopping\n",
            ));
        }
        TargetFault::Error => {
            return Err(text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("loadgen: target {index} fails on purpose\n"),
            ));
        }
        TargetFault::None | TargetFault::Cut | TargetFault::Grow { .. } => {}
    }
    spec.series = spec
        .series
        .saturating_mul(usize::try_from(fault.factor()).unwrap_or(1));
    let key = CacheKey {
        target: index,
        factor: fault.factor(),
        format,
        gzip,
        epoch,
        time_ms: if spec.shape.has_timestamps() {
            now_ms
        } else {
            0
        },
    };
    let cell = {
        let mut inner = state.lock();
        if index >= inner.count {
            return Err(text_response(
                StatusCode::NOT_FOUND,
                "text/plain",
                format!("loadgen: no target {index} (there are {})\n", inner.count),
            ));
        }
        if inner.cache_epoch != epoch || inner.cache_time_ms != now_ms {
            inner
                .cache
                .retain(|k, _| k.epoch >= epoch && (k.time_ms == 0 || k.time_ms >= now_ms));
            inner.cache_epoch = epoch;
            inner.cache_time_ms = now_ms;
        }
        inner.cache.entry(key).or_default().clone()
    };
    let spec = spec.body(state.config.churn_share, epoch).at_time(now_ms);
    let rendered = cell
        .get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || {
                let body = spec.render(format);
                if gzip {
                    Bytes::from(body.gzip())
                } else {
                    Bytes::from(body.bytes)
                }
            })
            .await
        })
        .await;
    match rendered {
        Ok(bytes) => {
            let mut resp = text_response(StatusCode::OK, format.content_type(), Bytes::new());
            let body = if fault == TargetFault::Cut {
                // The whole length declared, half of it sent, then an error:
                // hyper closes the connection mid-body.
                Either::Right(CutBody {
                    sent: Some(bytes.slice(..bytes.len() / 2)),
                    declared: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
                    pause: None,
                })
            } else {
                Either::Left(Full::new(bytes.clone()))
            };
            if gzip {
                resp.headers_mut()
                    .insert(CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
            }
            Ok(resp.map(|_| body))
        }
        Err(e) => Err(text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("loadgen: rendering target {index} failed: {e}\n"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_q_order() {
        let prom_default = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prom_default)), Format::OpenMetrics);
        let prom_proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prom_proto)), Format::Protobuf);
        assert_eq!(
            negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
            Format::Text
        );
        assert_eq!(
            negotiate(Some("application/vnd.google.protobuf;encoding=text")),
            Format::Text
        );
        assert_eq!(negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text
        );
        assert_eq!(negotiate(None), Format::Text);
    }

    #[test]
    fn gzip_detection() {
        assert!(gzip_accepted(Some("gzip")));
        assert!(gzip_accepted(Some("deflate, gzip;q=0.5")));
        assert!(!gzip_accepted(Some("gzip;q=0")));
        assert!(!gzip_accepted(Some("identity")));
        assert!(!gzip_accepted(None));
    }
}
