//! Per-target scrape statistics as a sidecar reports them: its latest
//! scrapes, the peak sizes the coordinator packs by, the heaviest metric
//! families and the last error.

use super::target::TargetId;

/// Scrapes kept per target, and counted scrapes the peak is taken over.
pub(crate) const HISTORY: usize = 8;

/// How a scrape ended, from Prometheus's point of view.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ScrapeOutcome {
    /// HTTP 200 and the whole body forwarded.
    #[default]
    Success,
    /// Prometheus recorded (or will record) a failed scrape.
    Failed,
}

/// Why a scrape failed, one value per step that can fail. Also the `cause`
/// label of the sidecar's scrape counter, so the set is closed and small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCause {
    /// The path named no assigned target.
    UnknownTarget,
    /// Not `GET`, or not a scrape path.
    BadRequest,
    /// The sidecar has no settings for the target's job, or cannot use them.
    Settings,
    /// The target's host name did not resolve.
    Dns,
    /// No TCP connection to the target.
    Connect,
    /// The HTTP proxy failed.
    Proxy,
    /// The TLS handshake failed.
    Tls,
    /// The target broke HTTP or closed the connection early.
    Protocol,
    /// Too many or unusable redirects.
    Redirect,
    /// The target did not answer within the scrape timeout.
    Timeout,
    /// The target answered with a status other than 200.
    Status,
    /// The body failed after its first byte.
    BodyCut,
    /// The body was still streaming when the scrape timeout passed.
    BodyTimeout,
    /// Prometheus went away before the body ended.
    ClientGone,
}

impl ErrorCause {
    /// The label value for metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::UnknownTarget => "unknown_target",
            Self::BadRequest => "bad_request",
            Self::Settings => "settings",
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Proxy => "proxy",
            Self::Tls => "tls",
            Self::Protocol => "protocol",
            Self::Redirect => "redirect",
            Self::Timeout => "timeout",
            Self::Status => "status",
            Self::BodyCut => "body_cut",
            Self::BodyTimeout => "body_timeout",
            Self::ClientGone => "client_gone",
        }
    }
}

/// One scrape of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScrapeRecord {
    /// When the scrape started, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// From request to the end of the body (or the failure), milliseconds.
    pub duration_ms: u64,
    /// Success or failure.
    pub outcome: ScrapeOutcome,
    /// Why it failed, when it did.
    pub cause: Option<ErrorCause>,
    /// The one-line reason, when it failed.
    pub error: Option<String>,
    /// The target's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Samples (`scrape_samples_scraped`), when counted.
    pub samples: Option<u64>,
    /// Samples kept after metric relabeling, when known.
    pub kept: Option<u64>,
    /// Body bytes as forwarded (compressed if the target compressed).
    pub wire_bytes: u64,
    /// Body bytes after inflating.
    pub decoded_bytes: u64,
    /// The exposition format counted.
    pub format: Option<ScrapeFormat>,
    /// Why counting failed, when the scrape succeeded but counting did not.
    pub count_error: Option<String>,
    /// Whether the body was counted. When false (the counting schedule
    /// skipped it, or the target answered with a status other than 200),
    /// `samples`, `kept`, `decoded_bytes` and `format` are empty.
    #[serde(default)]
    pub counted: bool,
}

/// The last error of a target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastError {
    /// When the failed scrape started, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The cause.
    pub cause: ErrorCause,
    /// The one-line reason.
    pub message: String,
}

/// What the API reports for one target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetStatsSnapshot {
    /// The target's id.
    pub id: TargetId,
    /// Its job.
    pub job: String,
    /// The latest scrapes, counted or not, oldest first (at most
    /// `HISTORY`).
    pub history: Vec<ScrapeRecord>,
    /// The latest counted scrape, whatever its outcome: its
    /// `started_unix_ms` is when the target was last counted, its `samples`
    /// what that count found.
    #[serde(default)]
    pub last_counted: Option<ScrapeRecord>,
    /// The peak samples over the last `HISTORY` successful counted
    /// scrapes: the size packing should use.
    pub peak_samples: Option<u64>,
    /// The peak kept samples over the same counted scrapes.
    pub peak_kept: Option<u64>,
    /// The heaviest families of the latest successfully counted scrape.
    pub top_families: Vec<FamilyCount>,
    /// The latest failure, if any since the sidecar started.
    pub last_error: Option<LastError>,
    /// Scrapes recorded since the sidecar started.
    pub scrapes_total: u64,
    /// Failed scrapes since the sidecar started.
    pub failures_total: u64,
    /// Counted scrapes since the sidecar started.
    #[serde(default)]
    pub counted_total: u64,
}

/// Samples of one metric family in a scrape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FamilyCount {
    /// The family's name.
    pub name: String,
    /// Its samples in the scrape.
    pub samples: u64,
}

/// Exposition format of a scrape, from its `Content-Type` the way Prometheus
/// picks its parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrapeFormat {
    /// Prometheus text 0.0.4 (also the fallback for a missing or unknown type).
    PrometheusText,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Length-delimited protobuf `io.prometheus.client.MetricFamily`.
    Protobuf,
}

impl ScrapeFormat {
    /// The format Prometheus parses a body with this `Content-Type` as.
    pub(crate) fn from_content_type(content_type: Option<&str>) -> Self {
        let media = content_type
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Self::OpenMetrics
        } else if media.eq_ignore_ascii_case("application/vnd.google.protobuf") {
            Self::Protobuf
        } else {
            Self::PrometheusText
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_prometheus_content_type_rules() {
        assert_eq!(
            ScrapeFormat::from_content_type(Some(
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            )),
            ScrapeFormat::OpenMetrics
        );
        assert_eq!(
            ScrapeFormat::from_content_type(Some(
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            )),
            ScrapeFormat::Protobuf
        );
        assert_eq!(
            ScrapeFormat::from_content_type(Some("text/plain; version=0.0.4")),
            ScrapeFormat::PrometheusText
        );
        assert_eq!(
            ScrapeFormat::from_content_type(None),
            ScrapeFormat::PrometheusText
        );
    }
}
