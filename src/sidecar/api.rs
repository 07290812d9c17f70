//! The sidecar's API for the coordinator and for humans.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/shard` | identity, config hash, generation, head series, Prometheus's state, per-target stats |
//! | `GET /api/v1/shard?stats=summary` | the same with each target's stats cut to what the coordinator reads |
//! | `PUT /api/v1/shard/targets` | the full desired assignment (needs the token if one is set) |
//! | `PUT /api/v1/shard/jobs` | jobs not in the user's file, pushed by the coordinator (token); 422 if they do not load |
//! | `GET /metrics` | the sidecar's own metrics |
//! | `GET /-/healthy`, `GET /-/ready` | liveness; readiness = assignment restored and config written |
//!
//! Every failure maps to a status code in [`ApiError::status`], and the body
//! is one line saying who failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::http::respond::{json, text};
use crate::http::{BodyTooLarge, read_body_limited};
use crate::shard_api::{
    Assignment, MAX_ASSIGNMENT_BYTES, PrometheusState, PushedJobs, ShardStatus, TargetId,
    TargetStatus,
};
use crate::sidecar::control::{ApplyError, ShardControl};

/// What the API reads besides the assignment; implemented by the running
/// sidecar so this module does not depend on how stats are kept.
pub(super) trait ShardInfo: Send + Sync {
    /// The shard's name (e.g. the pod name).
    fn shard(&self) -> String;
    /// Hash of the user's config this shard runs.
    fn config_hash(&self) -> String;
    /// Prometheus's head series (`/api/v1/status/tsdb`), if known yet.
    fn head_series(&self) -> Option<u64>;
    /// Whether Prometheus is ready and scraping.
    fn prometheus_state(&self) -> PrometheusState;
    /// Version of the pushed jobs in force.
    fn jobs_version(&self) -> Option<String>;
    /// Per-target scrape statistics as JSON, if the target was scraped.
    fn target_stats(&self, id: &TargetId) -> Option<serde_json::Value>;
    /// The sidecar's own metrics in the Prometheus text format.
    fn render_metrics(&self) -> String;
}

/// State shared by the API handlers.
pub(super) struct ApiState {
    /// The assignment.
    pub control: Arc<ShardControl>,
    /// Stats, identity and metrics.
    pub info: Arc<dyn ShardInfo>,
    /// Bearer token required on mutating calls, if configured.
    pub token: Option<String>,
    /// Set once the restored assignment and the shard config are written.
    pub ready: AtomicBool,
    /// Where pushed jobs go: the config watch applies them and answers.
    pub jobs: tokio::sync::mpsc::Sender<JobsPush>,
}

/// Pushed jobs on their way to the config watch, with where its answer
/// goes: why they could not be used, if they could not.
pub(super) type JobsPush = (PushedJobs, tokio::sync::oneshot::Sender<Result<(), String>>);

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("token", &self.token.as_ref().map(|_| "<secret>"))
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    /// No route.
    #[error("no such endpoint: {0}")]
    NotFound(String),
    /// Route exists, method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Missing or wrong bearer token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The body could not be read or was too large.
    #[error(transparent)]
    Body(#[from] BodyTooLarge),
    /// The body is not an assignment.
    #[error("the request body is not valid JSON: {0}")]
    BadJson(#[from] serde_json::Error),
    /// The assignment was refused or failed to apply.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Pushed jobs do not load with the user's config.
    #[error("pushed jobs refused: {0}")]
    Jobs(String),
    /// The sidecar is stopping.
    #[error("the sidecar is stopping")]
    Stopping,
}

impl ApiError {
    /// The one place errors become status codes.
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Body(BodyTooLarge::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Body(BodyTooLarge::Read(_)) | Self::BadJson(_) => StatusCode::BAD_REQUEST,
            Self::Apply(ApplyError::Stale { .. } | ApplyError::Conflict { .. }) => {
                StatusCode::CONFLICT
            }
            Self::Apply(ApplyError::Invalid(_)) | Self::Jobs(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            Self::Apply(ApplyError::Write(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Handles one API request.
pub(super) async fn handle(state: Arc<ApiState>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match route(&state, req).await {
        Ok(response) => response,
        Err(err) => {
            let status = err.status();
            if status.is_server_error() {
                tracing::error!(error = %err, "API call failed");
            } else {
                tracing::debug!(error = %err, %status, "API call refused");
            }
            text(status, format!("{err}\n"))
        }
    }
}

async fn route(
    state: &ApiState,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (path.as_str(), method) {
        ("/api/v1/shard", Method::GET) => {
            let summary = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "stats=summary"));
            Ok(json(StatusCode::OK, &status(state, summary)))
        }
        ("/api/v1/shard/targets", Method::PUT) => {
            authorize(state, &req)?;
            let body = read_body_limited(req.into_body(), MAX_ASSIGNMENT_BYTES).await?;
            let assignment: Assignment = serde_json::from_slice(&body)?;
            let applied = state.control.apply(assignment).await?;
            if applied.changed {
                tracing::info!(
                    generation = applied.generation,
                    jobs = ?applied.jobs_written,
                    "applied assignment"
                );
            }
            if !applied.pending_jobs.is_empty() {
                tracing::info!(
                    jobs = ?applied.pending_jobs,
                    "assignment names jobs this shard's config does not have yet; their targets are scraped once it does"
                );
            }
            Ok(json(StatusCode::OK, &applied))
        }
        ("/api/v1/shard/jobs", Method::PUT) => {
            authorize(state, &req)?;
            let body = read_body_limited(req.into_body(), MAX_ASSIGNMENT_BYTES).await?;
            let jobs: PushedJobs = serde_json::from_slice(&body)?;
            let version = jobs.version.clone();
            let count = jobs.jobs.len();
            let (reply, answer) = tokio::sync::oneshot::channel();
            state
                .jobs
                .send((jobs, reply))
                .await
                .map_err(|_| ApiError::Stopping)?;
            answer
                .await
                .map_err(|_| ApiError::Stopping)?
                .map_err(ApiError::Jobs)?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({"version": version, "jobs": count}),
            ))
        }
        ("/metrics", Method::GET) => {
            let mut response = text(StatusCode::OK, state.info.render_metrics());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            Ok(response)
        }
        ("/-/healthy", Method::GET) => Ok(text(StatusCode::OK, "Healthy.\n".into())),
        ("/-/ready", Method::GET) => Ok(if state.ready.load(Ordering::Acquire) {
            text(StatusCode::OK, "Ready.\n".into())
        } else {
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not ready: restoring assignment.\n".into(),
            )
        }),
        (
            "/api/v1/shard"
            | "/api/v1/shard/targets"
            | "/api/v1/shard/jobs"
            | "/metrics"
            | "/-/healthy"
            | "/-/ready",
            _,
        ) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound(path)),
    }
}

/// The shard's status; with `summary`, each target's stats keep only what
/// the coordinator reads (peaks, totals, the last scrape and error): a
/// tenth of the size, for a coordinator polling many shards with many
/// targets.
fn status(state: &ApiState, summary: bool) -> ShardStatus {
    let snapshot = state.control.snapshot();
    ShardStatus {
        shard: state.info.shard(),
        config_hash: state.info.config_hash(),
        generation: snapshot.generation,
        head_series: state.info.head_series(),
        reported_at: crate::sidecar::unix_millis(),
        prometheus: state.info.prometheus_state(),
        jobs_version: state.info.jobs_version(),
        targets: snapshot
            .by_id
            .values()
            .map(|t| TargetStatus {
                id: t.id.clone(),
                job: t.job.clone(),
                role: t.role,
                assigned_at: snapshot.assigned_at.get(&t.id).copied(),
                stats: state.info.target_stats(&t.id).map(|mut stats| {
                    if summary {
                        summarize(&mut stats);
                    }
                    stats
                }),
            })
            .collect(),
    }
}

/// Cuts a target's stats to the latest scrape, with no latest counted scrape
/// and no top families (the peaks and totals stay), in the same shape, so
/// that one reader handles both forms.
fn summarize(stats: &mut serde_json::Value) {
    if let Some(last_counted) = stats.get_mut("last_counted") {
        *last_counted = serde_json::Value::Null;
    }
    if let Some(history) = stats
        .get_mut("history")
        .and_then(serde_json::Value::as_array_mut)
    {
        let last = history.pop();
        history.clear();
        history.extend(last);
    }
    if let Some(families) = stats
        .get_mut("top_families")
        .and_then(serde_json::Value::as_array_mut)
    {
        families.clear();
    }
}

fn authorize(state: &ApiState, req: &Request<Incoming>) -> Result<(), ApiError> {
    let Some(expected) = &state.token else {
        return Ok(());
    };
    let offered = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    if constant_time_eq(offered.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Compares without an early exit, so the time taken does not reveal how
/// much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_keeps_the_latest_scrape_and_the_totals_in_the_same_shape() {
        use crate::shard_api::{Role, ScrapeRecord, ScrapeTarget, TargetStatsSnapshot};
        use crate::sidecar::stats::StatsRegistry;

        let target = ScrapeTarget {
            id: TargetId("t1".into()),
            job: "node".into(),
            url: "http://a/metrics".into(),
            labels: Default::default(),
            role: Role::Active,
        };
        let registry = StatsRegistry::default();
        for samples in [30, 50, 40] {
            let record = ScrapeRecord {
                counted: true,
                samples: Some(samples),
                ..ScrapeRecord::default()
            };
            registry.record(&target, record, Vec::new());
        }
        let full = registry.snapshot("t1").unwrap();
        let mut value = serde_json::to_value(&full).unwrap();
        summarize(&mut value);
        let summary: TargetStatsSnapshot = serde_json::from_value(value).unwrap();
        assert_eq!(summary.peak_samples, Some(50));
        assert_eq!(summary.scrapes_total, 3);
        assert_eq!(summary.history, full.history[2..]);
        assert_eq!(full.last_counted.unwrap().samples, Some(40));
        assert_eq!((summary.last_counted, summary.counted_total), (None, 3));
        assert!(summary.top_families.is_empty());
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
