//! The scrape driver: scrapes URLs like Prometheus does and measures.
//!
//! `C` workers share one scrape counter; scrape `i` goes to URL `i mod len`,
//! so every URL gets the same number of scrapes (±1). Each request carries the
//! headers a Prometheus scrape sends; bodies are streamed and only counted
//! (gzip inflated on the fly), never kept.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, USER_AGENT};
use http::{Request, Uri};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use crate::latency::LatencyHistogram;

/// The `Accept` header to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptProfile {
    /// What Prometheus 2.x sends by default (OpenMetrics preferred).
    Prometheus,
    /// What Prometheus sends with native histograms enabled (protobuf preferred).
    PrometheusProtobuf,
    /// Text 0.0.4 only.
    Text,
    /// OpenMetrics only.
    OpenMetrics,
    /// Protobuf only.
    Protobuf,
}

impl AcceptProfile {
    /// Every profile.
    pub const ALL: [AcceptProfile; 5] = [
        AcceptProfile::Prometheus,
        AcceptProfile::PrometheusProtobuf,
        AcceptProfile::Text,
        AcceptProfile::OpenMetrics,
        AcceptProfile::Protobuf,
    ];

    /// The header value.
    pub fn header(self) -> &'static str {
        match self {
            AcceptProfile::Prometheus => {
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            }
            AcceptProfile::PrometheusProtobuf => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            }
            AcceptProfile::Text => "text/plain;version=0.0.4",
            AcceptProfile::OpenMetrics => "application/openmetrics-text;version=1.0.0",
            AcceptProfile::Protobuf => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
        }
    }

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            AcceptProfile::Prometheus => "prometheus",
            AcceptProfile::PrometheusProtobuf => "prometheus-protobuf",
            AcceptProfile::Text => "text",
            AcceptProfile::OpenMetrics => "openmetrics",
            AcceptProfile::Protobuf => "protobuf",
        }
    }

    /// Parses [`AcceptProfile::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// When a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many scrapes in total.
    Count(u64),
    /// After this long (scrapes in flight at the deadline still finish).
    Duration(Duration),
}

/// A driver run.
#[derive(Debug, Clone)]
pub struct DriveConfig {
    /// `http://` URLs to scrape.
    pub urls: Vec<String>,
    /// Scrapes in flight at once.
    pub concurrency: usize,
    /// When to stop.
    pub stop: Stop,
    /// `Accept` header.
    pub accept: AcceptProfile,
    /// Send `Accept-Encoding: gzip` (Prometheus does unless compression is disabled).
    pub gzip: bool,
    /// Per-scrape timeout, also sent as `X-Prometheus-Scrape-Timeout-Seconds`.
    pub timeout: Duration,
    /// `User-Agent`.
    pub user_agent: String,
}

impl DriveConfig {
    /// Prometheus-like defaults for `urls`: 10 s timeout, gzip, OpenMetrics preferred.
    pub fn new(urls: Vec<String>, stop: Stop) -> Self {
        Self {
            urls,
            concurrency: 8,
            stop,
            accept: AcceptProfile::Prometheus,
            gzip: true,
            timeout: Duration::from_secs(10),
            user_agent: "Prometheus/2.42.0".to_owned(),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest scrape.
    pub max_ms: f64,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriveReport {
    /// Scrapes attempted.
    pub scrapes: u64,
    /// Scrapes that failed (connect, status, timeout, body, gzip).
    pub errors: u64,
    /// Wall time of the run in seconds.
    pub elapsed_secs: f64,
    /// Successful scrapes per second.
    pub scrapes_per_sec: f64,
    /// Body bytes as received (compressed if gzip).
    pub wire_bytes: u64,
    /// Body bytes after gzip decoding.
    pub decoded_bytes: u64,
    /// `wire_bytes` per second.
    pub wire_bytes_per_sec: f64,
    /// `decoded_bytes` per second.
    pub decoded_bytes_per_sec: f64,
    /// Latency of successful scrapes (request sent to last body byte).
    pub latency: LatencySummary,
    /// The first few error messages.
    pub first_errors: Vec<String>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// No URLs given.
    #[error("loadgen driver: no URLs to scrape")]
    NoUrls,
    /// A URL is not an absolute `http://` URL.
    #[error("loadgen driver: {url:?} is not an http:// URL")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// Fetching the target index failed.
    #[error("loadgen driver: fetching the target list from {url}: {reason}")]
    Index {
        /// The index URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Counts bytes written without keeping them.
#[derive(Debug, Default)]
struct CountingSink(u64);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client(pool: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(pool)
        .build(connector)
}

fn parse_urls(urls: &[String]) -> Result<Vec<Uri>, DriveError> {
    urls.iter()
        .map(|url| {
            url.parse::<Uri>()
                .ok()
                .filter(|u| u.scheme_str() == Some("http") && u.authority().is_some())
                .ok_or_else(|| DriveError::BadUrl { url: url.clone() })
        })
        .collect()
}

#[derive(Debug)]
struct WorkerStats {
    scrapes: u64,
    errors: u64,
    wire: u64,
    decoded: u64,
    latency: LatencyHistogram,
}

/// One scrape: returns (wire bytes, decoded bytes). `timeout_header` is the
/// run's timeout as Prometheus sends it (formatted once per run).
async fn scrape_once(
    client: &HttpClient,
    uri: &Uri,
    config: &DriveConfig,
    timeout_header: &str,
) -> Result<(u64, u64), String> {
    let mut builder = Request::get(uri.clone())
        .header(ACCEPT, config.accept.header())
        .header(USER_AGENT, config.user_agent.as_str())
        .header("X-Prometheus-Scrape-Timeout-Seconds", timeout_header);
    if config.gzip {
        builder = builder.header(ACCEPT_ENCODING, "gzip");
    }
    let request = builder
        .body(Empty::new())
        .map_err(|e| format!("{uri}: bad request: {e}"))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("{uri}: request failed: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{uri}: HTTP status {status}"));
    }
    let gzipped = response
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let mut body = response.into_body();
    let mut wire = 0u64;
    let mut inflater = gzipped.then(|| flate2::write::GzDecoder::new(CountingSink::default()));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("{uri}: reading body: {e}"))?;
        if let Ok(data) = frame.into_data() {
            wire += data.len() as u64;
            if let Some(inflater) = inflater.as_mut() {
                inflater
                    .write_all(&data)
                    .map_err(|e| format!("{uri}: gzip body: {e}"))?;
            }
        }
    }
    let decoded = match inflater {
        Some(inflater) => {
            inflater
                .finish()
                .map_err(|e| format!("{uri}: truncated gzip body: {e}"))?
                .0
        }
        None => wire,
    };
    Ok((wire, decoded))
}

/// Runs the scrapes and reports. Returns when the stop condition is reached.
///
/// ```no_run
/// # async fn example() -> Result<(), promshard_loadgen::driver::DriveError> {
/// use promshard_loadgen::driver::{drive, DriveConfig, Stop};
/// let report = drive(DriveConfig::new(vec!["http://127.0.0.1:9100/metrics".into()], Stop::Count(100))).await?;
/// println!("{} scrapes/s, p99 {} ms", report.scrapes_per_sec, report.latency.p99_ms);
/// # Ok(()) }
/// ```
pub async fn drive(config: DriveConfig) -> Result<DriveReport, DriveError> {
    if config.urls.is_empty() {
        return Err(DriveError::NoUrls);
    }
    let uris = Arc::new(parse_urls(&config.urls)?);
    let concurrency = config.concurrency.max(1);
    let client = client(concurrency);
    let next = Arc::new(AtomicU64::new(0));
    let first_errors = Arc::new(Mutex::new(Vec::new()));
    let timeout_header: Arc<str> = config.timeout.as_secs_f64().to_string().into();
    let config = Arc::new(config);
    let started = Instant::now();
    let deadline = match config.stop {
        Stop::Duration(d) => Some(started + d),
        Stop::Count(_) => None,
    };
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, uris, next, config, first_errors, timeout_header) = (
            client.clone(),
            uris.clone(),
            next.clone(),
            config.clone(),
            first_errors.clone(),
            timeout_header.clone(),
        );
        workers.spawn(async move {
            let mut stats = WorkerStats {
                scrapes: 0,
                errors: 0,
                wire: 0,
                decoded: 0,
                latency: LatencyHistogram::new(),
            };
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if let Stop::Count(n) = config.stop
                    && i >= n
                {
                    break;
                }
                let len = uris.len() as u64;
                let Some(uri) = usize::try_from(i % len).ok().and_then(|j| uris.get(j)) else {
                    break;
                };
                let began = Instant::now();
                let scrape = scrape_once(&client, uri, &config, &timeout_header);
                let outcome = tokio::time::timeout(config.timeout, scrape)
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!("{uri}: timed out after {:?}", config.timeout))
                    });
                stats.scrapes += 1;
                match outcome {
                    Ok((wire, decoded)) => {
                        stats.latency.record(began.elapsed());
                        stats.wire += wire;
                        stats.decoded += decoded;
                    }
                    Err(message) => {
                        stats.errors += 1;
                        let mut errors =
                            first_errors.lock().unwrap_or_else(PoisonError::into_inner);
                        if errors.len() < 5 {
                            errors.push(message);
                        }
                    }
                }
            }
            stats
        });
    }
    let mut total = WorkerStats {
        scrapes: 0,
        errors: 0,
        wire: 0,
        decoded: 0,
        latency: LatencyHistogram::new(),
    };
    while let Some(joined) = workers.join_next().await {
        if let Ok(stats) = joined {
            total.scrapes += stats.scrapes;
            total.errors += stats.errors;
            total.wire += stats.wire;
            total.decoded += stats.decoded;
            total.latency.merge(&stats.latency);
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let first_errors =
        std::mem::take(&mut *first_errors.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(DriveReport {
        scrapes: total.scrapes,
        errors: total.errors,
        elapsed_secs: elapsed,
        scrapes_per_sec: (total.scrapes - total.errors) as f64 / elapsed,
        wire_bytes: total.wire,
        decoded_bytes: total.decoded,
        wire_bytes_per_sec: total.wire as f64 / elapsed,
        decoded_bytes_per_sec: total.decoded as f64 / elapsed,
        latency: LatencySummary {
            p50_ms: total.latency.quantile_ms(0.5),
            p90_ms: total.latency.quantile_ms(0.9),
            p99_ms: total.latency.quantile_ms(0.99),
            max_ms: total.latency.max_ms(),
        },
        first_errors,
    })
}

/// Reads a loadgen `/targets` index (or any JSON list of `{"url": ...}`) and
/// returns the URLs. The index is read up to 64 MiB.
pub async fn fetch_target_urls(index_url: &str) -> Result<Vec<String>, DriveError> {
    const LIMIT: u64 = 64 << 20;
    let fail = |reason: String| DriveError::Index {
        url: index_url.to_owned(),
        reason,
    };
    let uri = parse_urls(&[index_url.to_owned()])?
        .into_iter()
        .next()
        .ok_or(DriveError::NoUrls)?;
    let response = client(1)
        .request(
            Request::get(uri)
                .body(Empty::new())
                .map_err(|e| fail(e.to_string()))?,
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP status {}", response.status())));
    }
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| fail(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if (bytes.len() + data.len()) as u64 > LIMIT {
                return Err(fail(format!("index larger than {LIMIT} bytes")));
            }
            bytes.extend_from_slice(&data);
        }
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        url: String,
    }
    let entries: Vec<Entry> =
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("bad JSON: {e}")))?;
    Ok(entries.into_iter().map(|e| e.url).collect())
}
