//! The scrape path: `GET /scrape/<target-id>` fetches the assigned target
//! and streams its answer back to Prometheus unchanged, counting on the side.
//!
//! - Only assigned ids are fetched ([`AssignmentTable`]); the request carries
//!   no URL, so the sidecar is never an open proxy.
//! - Prometheus's `Accept`, `Accept-Encoding`, `User-Agent` and
//!   `X-Prometheus-Scrape-Timeout-Seconds` are passed through; the timeout
//!   (capped by the job's) is enforced on the whole scrape.
//! - The body is forwarded frame by frame as Prometheus polls for it
//!   (`ScrapeBody`), so the target is read no faster than Prometheus reads.
//!   Counting never changes the bytes.
//! - Only some scrapes are counted: a target's scrape is counted when its
//!   last counted scrape started at least [`ProxyState::count_min_interval`]
//!   ago, or it was never counted, or its last count failed, or its
//!   `Content-Type`/`Content-Encoding` changed
//!   (`StatsRegistry::claim_count`). Any other scrape is forwarded the
//!   same way with no counter at all (no inflate, no parse) and recorded with
//!   its status, bytes, duration and errors.
//! - A counted scrape's body is handed chunk by chunk to a `Tee`, which
//!   decides where the counting runs (on the forwarding task, or a
//!   blocking-pool thread for a large body) and may hold forwarding back
//!   while too much waits to be counted (see `tee`).
//! - Before the first byte, failures become the target's own status, or 502 /
//!   504 with a one-line reason (also in the HTTP reason phrase, which
//!   Prometheus shows as the target's last error). After it, the body stream
//!   fails, so hyper aborts the connection and Prometheus records a failed
//!   scrape, never a truncated success. `ScrapeError::status` is the one
//!   place errors map to statuses.
//!
//! Start it with [`serve_scrapes`]:
//!
//! ```no_run
//! use std::sync::Arc;
//! use promshard::http::Shutdown;
//! use promshard::sidecar::assignment::AssignmentTable;
//! use promshard::scrape::jobs::JobTable;
//! use promshard::sidecar::proxy::{ProxyState, serve_scrapes};
//!
//! # async fn run() -> std::io::Result<()> {
//! let state = Arc::new(ProxyState::new(Arc::new(AssignmentTable::default()), Arc::new(JobTable::default())));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8008").await?;
//! let (_trigger, shutdown) = Shutdown::new();
//! serve_scrapes(listener, state, shutdown).await;
//! # Ok(())
//! # }
//! ```

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::ext::ReasonPhrase;
use tokio::net::TcpListener;
use tokio::time::Sleep;

use super::assignment::{AssignmentTable, Lookup};
use super::metrics::{InFlight, ProxyMetrics};
use super::stats::StatsRegistry;
use super::tee::Tee;
use crate::http::Shutdown;
use crate::http::error_chain;
use crate::scrape::SCRAPE_TIMEOUT_HEADER;
use crate::scrape::counting::{Counts, ResponseMeta};
use crate::scrape::jobs::JobTable;
use crate::scrape::upstream::{UpstreamError, authority_of};
use crate::shard_api::{ErrorCause, FamilyCount, ScrapeOutcome, ScrapeRecord, ScrapeTarget};

/// The path prefix of scrape requests.
pub(crate) const SCRAPE_PATH: &str = "/scrape/";

/// Used when neither Prometheus nor the job gives a timeout.
const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// The default of [`ProxyState::count_min_interval`] and of
/// `--counting.min-interval`: packing plans on a scale of minutes, from the
/// peak of a short history, so one count a minute per target is plenty.
pub const DEFAULT_COUNT_MIN_INTERVAL: Duration = Duration::from_secs(60);

/// Longest reason phrase sent back; Prometheus shows it as the last error.
const MAX_REASON: usize = 240;

/// Request headers passed from Prometheus to the target.
const FORWARDED_REQUEST_HEADERS: [HeaderName; 4] = [
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::USER_AGENT,
    HeaderName::from_static(SCRAPE_TIMEOUT_HEADER),
];

/// Hop-by-hop response headers, which belong to one connection and are not
/// forwarded.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Everything the scrape path reads: the assignment, the jobs, and where it
/// records statistics and metrics.
#[derive(Debug)]
pub struct ProxyState {
    /// The targets this shard may fetch.
    pub assignment: Arc<AssignmentTable>,
    /// Per-job clients and counting hooks.
    pub jobs: Arc<JobTable>,
    /// Per-target scrape statistics (served by the API).
    pub stats: Arc<StatsRegistry>,
    /// The sidecar's own scrape metrics (register them with
    /// `ProxyMetrics::register`).
    pub metrics: ProxyMetrics,
    /// A target's scrape is counted only when its last counted scrape
    /// started at least this long ago (see `StatsRegistry::claim_count`);
    /// zero counts every scrape.
    pub count_min_interval: Duration,
}

impl ProxyState {
    /// A state over the given assignment and jobs, with empty statistics,
    /// counting each target at most every [`DEFAULT_COUNT_MIN_INTERVAL`].
    pub fn new(assignment: Arc<AssignmentTable>, jobs: Arc<JobTable>) -> Self {
        Self {
            assignment,
            jobs,
            stats: Arc::new(StatsRegistry::default()),
            metrics: ProxyMetrics::default(),
            count_min_interval: DEFAULT_COUNT_MIN_INTERVAL,
        }
    }

    /// The same state counting each target at most every `min_interval`
    /// (zero: every scrape).
    #[must_use]
    pub fn with_count_min_interval(mut self, min_interval: Duration) -> Self {
        self.count_min_interval = min_interval;
        self
    }

    /// Forgets the statistics of targets no longer assigned, so that churned
    /// targets do not accumulate; the running sidecar calls it when the
    /// assignment's generation changes.
    pub fn prune_stats(&self) {
        let assigned = self.assignment.snapshot();
        self.stats.retain(|id| assigned.by_id.contains_key(id));
    }
}

/// Serves scrapes on `listener` until `shutdown`, then lets in-flight
/// scrapes finish for a grace period.
pub async fn serve_scrapes(listener: TcpListener, state: Arc<ProxyState>, shutdown: Shutdown) {
    let handler = move |request: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move { handle_scrape(&state, &request).await }
    };
    crate::http::serve(listener, handler, shutdown).await;
}

/// Why a scrape failed before its first byte. [`ScrapeError::status`] is the
/// single mapping from failures to the status Prometheus sees.
#[derive(Debug, thiserror::Error)]
enum ScrapeError {
    /// The path is not `/scrape/<id>`.
    #[error("sidecar: {0:?} is not a scrape path; use GET /scrape/<target-id>")]
    NotScrapePath(String),
    /// Not a `GET`.
    #[error("sidecar: method {0} not allowed; use GET /scrape/<target-id>")]
    MethodNotAllowed(Method),
    /// No such target is assigned to this shard.
    #[error("sidecar: target id {0:?} is not assigned to this shard")]
    UnknownTarget(String),
    /// The target's job has no settings in the sidecar.
    #[error("sidecar: no scrape settings for job {0:?}")]
    UnknownJob(String),
    /// Reaching the target failed.
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    /// The target did not answer within the scrape timeout.
    #[error("target {authority}: no answer within the {timeout:?} scrape timeout")]
    Timeout {
        /// `host:port` of the target.
        authority: String,
        /// The timeout that passed.
        timeout: Duration,
    },
}

impl ScrapeError {
    /// The status Prometheus gets for this failure.
    fn status(&self) -> StatusCode {
        match self {
            Self::NotScrapePath(_) | Self::UnknownTarget(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnknownJob(_)
            | Self::Upstream(UpstreamError::Settings(_) | UpstreamError::BadUrl { .. }) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The cause recorded in statistics and metrics.
    fn cause(&self) -> ErrorCause {
        match self {
            Self::NotScrapePath(_) | Self::MethodNotAllowed(_) => ErrorCause::BadRequest,
            Self::UnknownTarget(_) => ErrorCause::UnknownTarget,
            Self::UnknownJob(_) => ErrorCause::Settings,
            Self::Upstream(e) => match e {
                UpstreamError::Settings(_) | UpstreamError::BadUrl { .. } => ErrorCause::Settings,
                UpstreamError::Dns { .. } => ErrorCause::Dns,
                UpstreamError::Connect { .. } => ErrorCause::Connect,
                UpstreamError::Proxy { .. } => ErrorCause::Proxy,
                UpstreamError::Tls { .. } => ErrorCause::Tls,
                UpstreamError::Protocol { .. } => ErrorCause::Protocol,
                UpstreamError::Redirect { .. } => ErrorCause::Redirect,
            },
            Self::Timeout { .. } => ErrorCause::Timeout,
        }
    }

    /// The response: the status, the reason as reason phrase and as a
    /// one-line text body.
    fn response(&self) -> Response<ScrapeBody> {
        let text = self.to_string();
        let mut response = Response::new(ScrapeBody::message(format!("{text}\n")));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Ok(reason) = ReasonPhrase::try_from(reason_phrase(self.status(), &text)) {
            response.extensions_mut().insert(reason);
        }
        if let Self::MethodNotAllowed(_) = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
        }
        response
    }
}

/// A reason phrase Prometheus will show: the canonical one, then the reason,
/// cut to printable ASCII of bounded length.
fn reason_phrase(status: StatusCode, text: &str) -> String {
    let canonical = status.canonical_reason().unwrap_or("Error");
    let mut phrase = format!("{canonical}: ");
    for c in text.chars() {
        if phrase.len() >= MAX_REASON {
            break;
        }
        phrase.push(if c.is_ascii_graphic() || c == ' ' {
            c
        } else {
            '?'
        });
    }
    phrase
}

/// Handles one scrape request. Reads nothing of the request but its method,
/// path and the forwarded headers.
async fn handle_scrape<B>(state: &Arc<ProxyState>, request: &Request<B>) -> Response<ScrapeBody> {
    let started = Instant::now();
    let started_unix_ms = super::unix_millis();
    let in_flight = state.metrics.in_flight();
    let (target, assigned) = match resolve(state, request, started) {
        Ok(Lookup::Assigned(target)) => (target, true),
        // Prometheus has not dropped it yet: answered as before, so that it
        // records no failed scrape, but no longer this shard's to count.
        Ok(Lookup::Released(target)) => (target, false),
        Err(error) => {
            state.metrics.scrape_finished(
                ScrapeOutcome::Failed,
                Some(error.cause()),
                started.elapsed().as_secs_f64(),
            );
            return error.response();
        }
    };
    let recorder = Recorder {
        state: Arc::clone(state),
        target: Arc::clone(&target),
        started,
        started_unix_ms,
        keeps_stats: assigned,
    };
    let Some(job) = state.jobs.get(&target.job) else {
        let error = ScrapeError::UnknownJob(target.job.clone());
        recorder.failed_before_body(&error);
        return error.response();
    };
    let timeout = scrape_timeout(request.headers(), job.scrape_timeout);
    // One timer for the whole scrape: it bounds the wait for the target's
    // headers here, then the body in `ScrapeBody`.
    let mut deadline = Box::pin(tokio::time::sleep_until(
        tokio::time::Instant::from_std(started) + answer_within(timeout),
    ));
    let mut forward = HeaderMap::with_capacity(FORWARDED_REQUEST_HEADERS.len());
    for name in &FORWARDED_REQUEST_HEADERS {
        for value in request.headers().get_all(name) {
            forward.append(name, value.clone());
        }
    }
    let fetched = tokio::select! {
        // As `tokio::time::timeout`: the fetch first, then the timer.
        biased;
        fetched = job.upstream.fetch(&target.url, &forward) => Some(fetched),
        () = &mut deadline => None,
    };
    let upstream = match fetched {
        Some(Ok(fetched)) => fetched,
        Some(Err(error)) => {
            let error = ScrapeError::from(error);
            recorder.failed_before_body(&error);
            return error.response();
        }
        None => {
            let authority = target
                .url
                .parse()
                .map(|uri| authority_of(&uri))
                .unwrap_or_else(|_| target.url.clone());
            let error = ScrapeError::Timeout { authority, timeout };
            recorder.failed_before_body(&error);
            return error.response();
        }
    };
    state
        .metrics
        .upstream_answered(started.elapsed().as_secs_f64());

    let (mut parts, body) = upstream.into_parts();
    let tee = if parts.status == StatusCode::OK && assigned {
        let meta = ResponseMeta::from_headers(&parts.headers);
        let count = state
            .stats
            .claim_count(&target, started, &meta, state.count_min_interval);
        state.metrics.counting_decided(count);
        count.then(|| Tee::new(job.counting.observer(&target, &meta)))
    } else {
        None
    };
    let mut response = Response::new(ScrapeBody {
        kind: Kind::Stream(Box::new(Streaming {
            body,
            deadline,
            timeout,
            tee,
            status: parts.status,
            wire_bytes: 0,
            recorder: Some(recorder),
            _in_flight: in_flight,
        })),
    });
    *response.status_mut() = parts.status;
    for name in &HOP_BY_HOP {
        parts.headers.remove(name);
    }
    *response.headers_mut() = parts.headers;
    if let Some(reason) = parts.extensions.remove::<ReasonPhrase>() {
        response.extensions_mut().insert(reason);
    }
    response
}

fn resolve<B>(
    state: &ProxyState,
    request: &Request<B>,
    now: Instant,
) -> Result<Lookup, ScrapeError> {
    let path = request.uri().path();
    let id = path
        .strip_prefix(SCRAPE_PATH)
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| ScrapeError::NotScrapePath(path.chars().take(100).collect()))?;
    if request.method() != Method::GET {
        return Err(ScrapeError::MethodNotAllowed(request.method().clone()));
    }
    state
        .assignment
        .lookup_for_scrape(id, now)
        .ok_or_else(|| ScrapeError::UnknownTarget(id.chars().take(100).collect()))
}

/// Prometheus's timeout for this scrape, capped by the job's.
fn scrape_timeout(headers: &HeaderMap, job_timeout: Duration) -> Duration {
    let job_timeout = if job_timeout.is_zero() {
        DEFAULT_SCRAPE_TIMEOUT
    } else {
        job_timeout
    };
    headers
        .get(SCRAPE_TIMEOUT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .map_or(job_timeout, |asked| asked.min(job_timeout))
}

/// The sidecar gives up slightly before Prometheus does, so that its 504 and
/// reason reach Prometheus instead of Prometheus's own "context deadline
/// exceeded", which would not say whether the target or the sidecar was slow.
fn answer_within(timeout: Duration) -> Duration {
    timeout.saturating_sub((timeout / 20).min(Duration::from_millis(250)))
}

/// Records the end of one scrape in statistics and metrics.
#[derive(Debug)]
struct Recorder {
    state: Arc<ProxyState>,
    target: Arc<ScrapeTarget>,
    started: Instant,
    started_unix_ms: u64,
    /// False for a released target: its scrapes are no longer this
    /// shard's statistics.
    keeps_stats: bool,
}

impl Recorder {
    fn failed_before_body(self, error: &ScrapeError) {
        let record = ScrapeRecord {
            outcome: ScrapeOutcome::Failed,
            cause: Some(error.cause()),
            error: Some(error.to_string()),
            ..ScrapeRecord::default()
        };
        self.finish(record, Vec::new(), Instant::now());
    }

    /// Records a scrape whose body ended at `ended`, with what counting found.
    fn counted(self, mut record: ScrapeRecord, counts: Counts, ended: Instant) {
        record.samples = counts.samples;
        record.kept = counts.kept;
        record.decoded_bytes = counts.decoded_bytes;
        record.format = counts.format;
        record.count_error = counts.error;
        self.finish(record, counts.top_families, ended);
    }

    fn finish(self, mut record: ScrapeRecord, top_families: Vec<FamilyCount>, ended: Instant) {
        let elapsed = ended.saturating_duration_since(self.started);
        record.started_unix_ms = self.started_unix_ms;
        record.duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let metrics = &self.state.metrics;
        metrics.scrape_finished(record.outcome, record.cause, elapsed.as_secs_f64());
        metrics.bytes(record.wire_bytes, record.decoded_bytes);
        metrics.samples(record.samples, record.kept);
        if record.outcome == ScrapeOutcome::Failed {
            tracing::debug!(target_id = %self.target.id, error = record.error.as_deref().unwrap_or(""), "scrape failed");
        }
        if self.keeps_stats {
            self.state.stats.record(&self.target, record, top_families);
        }
    }
}

/// A scrape response body: a short error message, or the target's body
/// streaming through.
#[derive(Debug)]
struct ScrapeBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Message(Option<Bytes>),
    Stream(Box<Streaming>),
}

impl ScrapeBody {
    fn message(text: String) -> Self {
        Self {
            kind: Kind::Message(Some(Bytes::from(text))),
        }
    }
}

/// A body that failed after its first byte; hyper aborts the connection.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ScrapeBodyError(String);

struct Streaming {
    body: Incoming,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    /// Counts the body on the side; `None` when the scrape is not counted.
    tee: Option<Tee>,
    status: StatusCode,
    wire_bytes: u64,
    /// `Some` until the scrape is recorded.
    recorder: Option<Recorder>,
    _in_flight: InFlight,
}

impl std::fmt::Debug for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("status", &self.status)
            .field("wire_bytes", &self.wire_bytes)
            .finish_non_exhaustive()
    }
}

impl Streaming {
    fn finish(&mut self, failure: Option<(ErrorCause, String)>) {
        let Some(recorder) = self.recorder.take() else {
            return;
        };
        let ended = Instant::now();
        let complete = failure.is_none();
        let counted = self.tee.is_some();
        let (outcome, cause, error) = match failure {
            Some((cause, message)) => (ScrapeOutcome::Failed, Some(cause), Some(message)),
            None if self.status != StatusCode::OK => (
                ScrapeOutcome::Failed,
                Some(ErrorCause::Status),
                Some(format!("target returned HTTP status {}", self.status)),
            ),
            None => (ScrapeOutcome::Success, None, None),
        };
        let record = ScrapeRecord {
            outcome,
            cause,
            error,
            status: Some(self.status.as_u16()),
            wire_bytes: self.wire_bytes,
            counted,
            ..ScrapeRecord::default()
        };
        match self.tee.take() {
            Some(tee) => tee.finish(complete, move |counts| {
                recorder.counted(record, counts, ended);
            }),
            None => recorder.finish(record, Vec::new(), ended),
        }
    }

    fn authority(&self) -> String {
        self.recorder
            .as_ref()
            .and_then(|r| r.target.url.parse().ok())
            .map_or_else(|| "?".to_owned(), |uri| authority_of(&uri))
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if self.recorder.is_some() {
            let reason = "Prometheus closed the connection before the body ended".to_owned();
            self.finish(Some((ErrorCause::ClientGone, reason)));
        }
    }
}

impl Body for ScrapeBody {
    type Data = Bytes;
    type Error = ScrapeBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let stream = match &mut self.kind {
            Kind::Message(text) => return Poll::Ready(text.take().map(|t| Ok(Frame::data(t)))),
            Kind::Stream(stream) => stream,
        };
        if stream.recorder.is_none() {
            return Poll::Ready(None);
        }
        if stream.deadline.as_mut().poll(cx).is_ready() {
            let message = format!(
                "target {}: body still streaming after the {:?} scrape timeout",
                stream.authority(),
                stream.timeout
            );
            stream.finish(Some((ErrorCause::BodyTimeout, message.clone())));
            return Poll::Ready(Some(Err(ScrapeBodyError(message))));
        }
        if let Some(tee) = &mut stream.tee
            && tee.poll_room(cx).is_pending()
        {
            return Poll::Pending;
        }
        match Pin::new(&mut stream.body).poll_frame(cx) {
            Poll::Pending => {
                // hyper flushes what it has before it polls again.
                if let Some(tee) = &mut stream.tee {
                    tee.flushed();
                }
                Poll::Pending
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    stream.wire_bytes += data.len() as u64;
                    if let Some(tee) = &mut stream.tee {
                        tee.chunk(data, !stream.body.is_end_stream());
                    }
                }
                // With a Content-Length, hyper stops polling once it has
                // written that many bytes; the end is known now.
                if stream.body.is_end_stream() {
                    stream.finish(None);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                let message = format!(
                    "target {}: body failed mid-stream: {}",
                    stream.authority(),
                    error_chain(&error)
                );
                stream.finish(Some((ErrorCause::BodyCut, message.clone())));
                Poll::Ready(Some(Err(ScrapeBodyError(message))))
            }
            Poll::Ready(None) => {
                stream.finish(None);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Message(text) => text.is_none(),
            // Never claim the end before the upstream body said so: the
            // scrape is recorded when `poll_frame` sees the end.
            Kind::Stream(stream) => stream.recorder.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Message(Some(text)) => SizeHint::with_exact(text.len() as u64),
            Kind::Message(None) => SizeHint::with_exact(0),
            Kind::Stream(stream) => stream.body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body much larger than [`COUNT_INLINE_UP_TO`] is counted partly
    /// inline and partly on a lane; the recorded count is still exact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_body_is_counted_exactly_across_inline_and_lane() {
        use http_body_util::BodyExt as _;

        use crate::scrape::counting::ExpositionCounting;
        use crate::scrape::jobs::Job;
        use crate::scrape::upstream::{UpstreamClient, UpstreamSettings};
        use crate::shard_api::{Assignment, Role, TargetId};
        use crate::sidecar::tee::COUNT_INLINE_UP_TO;

        const LINES: usize = 400_000;
        let line = b"m{a=\"x\"} 1\n";
        let body = Bytes::from(line.repeat(LINES));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = body.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let body = served.clone();
                let service = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                            body,
                        )))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        let assignment = Arc::new(AssignmentTable::default());
        assignment.replace(&Assignment {
            generation: 1,
            targets: vec![ScrapeTarget {
                id: TargetId("big".into()),
                job: "j".into(),
                url: format!("http://{addr}/metrics"),
                labels: Default::default(),
                role: Role::Active,
            }],
            ..Assignment::default()
        });
        let jobs = Arc::new(JobTable::default());
        jobs.replace([Job {
            name: "j".into(),
            upstream: UpstreamClient::new(UpstreamSettings::default()).unwrap(),
            scrape_timeout: Duration::from_secs(30),
            counting: Arc::new(ExpositionCounting::default()),
        }]);
        let state = Arc::new(ProxyState::new(assignment, jobs));
        let request = Request::get("/scrape/big").body(()).unwrap();
        let response = handle_scrape(&state, &request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut received = Vec::new();
        let mut body_stream = response.into_body();
        while let Some(frame) = body_stream.frame().await {
            if let Some(data) = frame.unwrap().data_ref() {
                received.extend_from_slice(data);
            }
        }
        assert_eq!(received, body);
        assert!(body.len() as u64 > 3 * COUNT_INLINE_UP_TO);
        let mut record = None;
        for _ in 0..1000 {
            if let Some(stats) = state.stats.snapshot("big")
                && stats.scrapes_total == 1
            {
                record = stats.history.last().cloned();
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let record = record.expect("the scrape is recorded once counting ends");
        assert_eq!(record.samples, Some(LINES as u64));
        assert_eq!(record.decoded_bytes, body.len() as u64);
        assert_eq!(record.wire_bytes, body.len() as u64);
        assert_eq!(record.outcome, ScrapeOutcome::Success);
    }

    #[test]
    fn timeout_is_prometheus_capped_by_the_job() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            scrape_timeout(&headers, Duration::from_secs(7)),
            Duration::from_secs(7)
        );
        headers.insert(SCRAPE_TIMEOUT_HEADER, HeaderValue::from_static("2.5"));
        assert_eq!(
            scrape_timeout(&headers, Duration::from_secs(7)),
            Duration::from_millis(2500)
        );
        assert_eq!(
            scrape_timeout(&headers, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        headers.insert(SCRAPE_TIMEOUT_HEADER, HeaderValue::from_static("nan"));
        assert_eq!(
            scrape_timeout(&headers, Duration::ZERO),
            DEFAULT_SCRAPE_TIMEOUT
        );
    }

    #[test]
    fn reason_phrases_are_printable_and_bounded() {
        let phrase = reason_phrase(
            StatusCode::BAD_GATEWAY,
            &format!("a\r\nb{}", "x".repeat(1000)),
        );
        assert!(phrase.starts_with("Bad Gateway: a??b"));
        assert!(phrase.len() <= MAX_REASON + 1);
        assert!(ReasonPhrase::try_from(phrase).is_ok());
    }

    #[test]
    fn every_error_maps_to_one_status() {
        let cases = [
            (ScrapeError::UnknownTarget("x".into()), 404),
            (ScrapeError::MethodNotAllowed(Method::POST), 405),
            (ScrapeError::UnknownJob("j".into()), 500),
            (
                ScrapeError::Upstream(UpstreamError::Connect {
                    authority: "a:1".into(),
                    reason: "r".into(),
                }),
                502,
            ),
            (
                ScrapeError::Upstream(UpstreamError::Tls {
                    authority: "a:1".into(),
                    reason: "r".into(),
                }),
                502,
            ),
            (
                ScrapeError::Timeout {
                    authority: "a:1".into(),
                    timeout: Duration::from_secs(1),
                },
                504,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error}");
        }
    }
}
