//! The coordinator's client for a sidecar's API: read the shard's status,
//! send it a full assignment. Every call has a timeout, and errors say which
//! sidecar failed and how.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{Assignment, MAX_ASSIGNMENT_BYTES, PushedJobs, ShardStatus, TargetStatsSnapshot};
use crate::http::{error_chain, read_body_limited};

/// A call to a sidecar failed.
#[derive(Debug, thiserror::Error)]
pub enum SidecarCallError {
    /// No answer in time (the sidecar is hung or unreachable).
    #[error("sidecar {base}: no answer within {timeout:?}")]
    Timeout {
        /// The sidecar's API URL.
        base: String,
        /// The call's timeout.
        timeout: Duration,
    },
    /// Connection-level failure.
    #[error("sidecar {base}: {reason}")]
    Transport {
        /// The sidecar's API URL.
        base: String,
        /// Why.
        reason: String,
    },
    /// The sidecar refused the call.
    #[error("sidecar {base}: HTTP {status}: {message}")]
    Refused {
        /// The sidecar's API URL.
        base: String,
        /// The status.
        status: StatusCode,
        /// Its one-line reason.
        message: String,
    },
    /// The answer is not what the API documents.
    #[error("sidecar {base}: unexpected answer: {reason}")]
    Decode {
        /// The sidecar's API URL.
        base: String,
        /// Why.
        reason: String,
    },
}

impl SidecarCallError {
    /// Whether the sidecar refused because the generation is stale or in
    /// conflict (409): another coordinator is ahead of us.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Refused { status, .. } if *status == StatusCode::CONFLICT)
    }
}

/// A sidecar's API.
#[derive(Debug, Clone)]
pub struct SidecarClient {
    base: String,
    token: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl SidecarClient {
    /// A client for the sidecar API at `base` (e.g. `http://10.0.0.5:8080`).
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// `GET /api/v1/shard`.
    pub async fn status(&self) -> Result<ShardStatus, SidecarCallError> {
        self.get_json("/api/v1/shard").await
    }

    /// `GET /api/v1/shard?stats=summary`, each target's stats typed: what
    /// the coordinator polls (compact on the wire and in memory).
    pub(crate) async fn status_summary(
        &self,
    ) -> Result<ShardStatus<TargetStatsSnapshot>, SidecarCallError> {
        self.get_json("/api/v1/shard?stats=summary").await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, SidecarCallError> {
        let body = self.call(Method::GET, path, Bytes::new()).await?;
        serde_json::from_slice(&body).map_err(|e| SidecarCallError::Decode {
            base: self.base.clone(),
            reason: e.to_string(),
        })
    }

    /// `PUT /api/v1/shard/targets`: the full desired assignment.
    pub async fn put_targets(&self, assignment: &Assignment) -> Result<(), SidecarCallError> {
        let body = serde_json::to_vec(assignment).map_err(|e| SidecarCallError::Decode {
            base: self.base.clone(),
            reason: e.to_string(),
        })?;
        self.call(Method::PUT, "/api/v1/shard/targets", Bytes::from(body))
            .await
            .map(drop)
    }

    /// `PUT /api/v1/shard/jobs`: the jobs not in the user's file.
    pub async fn put_jobs(&self, jobs: &PushedJobs) -> Result<(), SidecarCallError> {
        let body = serde_json::to_vec(jobs).map_err(|e| SidecarCallError::Decode {
            base: self.base.clone(),
            reason: e.to_string(),
        })?;
        self.call(Method::PUT, "/api/v1/shard/jobs", Bytes::from(body))
            .await
            .map(drop)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Bytes, SidecarCallError> {
        let transport = |reason: String| SidecarCallError::Transport {
            base: self.base.clone(),
            reason,
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if !body.is_empty() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| transport(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| transport(error_chain(&e)))?;
            let status = response.status();
            let body = read_body_limited(response.into_body(), MAX_ASSIGNMENT_BYTES)
                .await
                .map_err(|e| transport(e.to_string()))?;
            if status.is_success() {
                Ok(body)
            } else {
                let message = String::from_utf8_lossy(&body)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                Err(SidecarCallError::Refused {
                    base: self.base.clone(),
                    status,
                    message,
                })
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| SidecarCallError::Timeout {
                base: self.base.clone(),
                timeout: self.timeout,
            })?
    }
}
