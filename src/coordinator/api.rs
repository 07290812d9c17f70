//! The coordinator's API; the metrics it serves are [`super::metrics`].
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/targets` | every target: job, labels, shard(s), health, series, why it is there |
//! | `GET /api/v1/shards` | every shard: state, head series, targets |
//! | `GET /api/v1/plan` | the last plan: placement, moves, scale decision, warnings |
//! | `GET /api/v1/operator` | with prometheus-operator resources: each resource's outcome (accepted with its jobs, rejected with the operator's reason, not selected and why), and the objects that could not be read; 404 without |
//! | `GET /metrics` | `promshard_desired_shards`, shard load, moves, errors... |
//! | `GET /-/healthy`, `GET /-/ready` | liveness; ready after the first cycle |

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use prometheus_client::registry::Registry;
use promshard_plan::Plan;
use serde::Serialize;

use crate::coordinator::backend::ShardBackend;
use crate::coordinator::reconcile::Coordinator;
use crate::http::respond::{json, text};

/// State of the API handlers.
pub(super) struct ApiState<B> {
    /// The coordinator.
    pub coordinator: Arc<Coordinator<B>>,
    /// The metrics registry.
    pub registry: Registry,
}

impl<B> std::fmt::Debug for ApiState<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").finish_non_exhaustive()
    }
}

/// Handles one API request.
pub(super) async fn handle<B: ShardBackend, T>(
    state: Arc<ApiState<B>>,
    req: Request<T>,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".into(),
        );
    }
    let report = state.coordinator.report();
    match req.uri().path() {
        "/api/v1/targets" => json(StatusCode::OK, &report.targets),
        "/api/v1/shards" => json(StatusCode::OK, &report.shards),
        "/api/v1/plan" => json(
            StatusCode::OK,
            &PlanView {
                at: report.at,
                duration_ms: report.duration_ms,
                errors: &report.errors,
                plan: report.plan.as_ref(),
            },
        ),
        "/api/v1/operator" => match state.coordinator.operator_jobs() {
            Some(operator) => json(
                StatusCode::OK,
                &OperatorView {
                    jobs: operator.jobs.len(),
                    resources: &operator.resources,
                    problems: &operator.problems,
                },
            ),
            None => text(
                StatusCode::NOT_FOUND,
                "jobs do not come from prometheus-operator resources (no --operator.* flag)\n"
                    .into(),
            ),
        },
        "/metrics" => {
            let mut out = String::new();
            if prometheus_client::encoding::text::encode(&mut out, &state.registry).is_err() {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "encoding metrics failed\n".into(),
                );
            }
            text(StatusCode::OK, out)
        }
        "/-/healthy" => text(StatusCode::OK, "Healthy.\n".into()),
        "/-/ready" if report.at > 0 => text(StatusCode::OK, "Ready.\n".into()),
        "/-/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: first cycle not done.\n".into(),
        ),
        other => text(
            StatusCode::NOT_FOUND,
            format!("no such endpoint: {other}\n"),
        ),
    }
}

#[derive(Serialize)]
struct PlanView<'a> {
    at: u64,
    duration_ms: u64,
    errors: &'a [String],
    plan: Option<&'a Plan>,
}

/// `GET /api/v1/operator`: never the jobs themselves (they hold Secrets'
/// values), only what became of each resource.
#[derive(Serialize)]
struct OperatorView<'a> {
    /// Jobs generated.
    jobs: usize,
    resources: &'a [crate::coordinator::operator::ResourceView],
    problems: &'a [String],
}
