//! A small client for the Prometheus HTTP API: the calls promshard makes to
//! the Prometheus servers it runs beside (reload, head series, readiness) and
//! instant queries (used by tests and the local demo).
//!
//! Every call has a timeout and a capped response size: a hung or broken
//! Prometheus is an error naming it, never a stuck sidecar.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::http::{error_chain, read_body_limited};

/// Cap on any Prometheus API answer we read (status, query results in tests).
const MAX_RESPONSE: usize = 64 << 20;

/// A Prometheus call failed.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The URL could not be built.
    #[error("Prometheus at {base}: bad URL: {reason}")]
    Url {
        /// Base URL.
        base: String,
        /// Why.
        reason: String,
    },
    /// No answer in time.
    #[error("Prometheus at {base}: no answer within {timeout:?} ({what})")]
    Timeout {
        /// Base URL.
        base: String,
        /// The call's timeout.
        timeout: Duration,
        /// The call.
        what: &'static str,
    },
    /// Connection-level failure.
    #[error("Prometheus at {base}: {what}: {reason}")]
    Transport {
        /// Base URL.
        base: String,
        /// The call.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Prometheus answered with an error status.
    #[error("Prometheus at {base}: {what}: HTTP {status}: {body}")]
    Status {
        /// Base URL.
        base: String,
        /// The call.
        what: &'static str,
        /// The status.
        status: StatusCode,
        /// The first line of the body.
        body: String,
    },
    /// The answer was not what the API documents.
    #[error("Prometheus at {base}: {what}: unexpected answer: {reason}")]
    Decode {
        /// Base URL.
        base: String,
        /// The call.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// A Prometheus server's HTTP API.
#[derive(Debug, Clone)]
pub struct PrometheusClient {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl PrometheusClient {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base: &str, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// `POST /-/reload` (needs `--web.enable-lifecycle`).
    pub(crate) async fn reload(&self) -> Result<(), PrometheusError> {
        self.call(Method::POST, "/-/reload", "reload")
            .await
            .map(drop)
    }

    /// `GET /-/ready`: whether Prometheus finished starting (WAL replayed).
    pub(crate) async fn ready(&self) -> Result<bool, PrometheusError> {
        match self.call(Method::GET, "/-/ready", "readiness").await {
            Ok(_) => Ok(true),
            Err(PrometheusError::Status { status, .. })
                if status == StatusCode::SERVICE_UNAVAILABLE =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Head series from `GET /api/v1/status/tsdb` (`headStats.numSeries`):
    /// the shard's real load.
    pub(crate) async fn head_series(&self) -> Result<u64, PrometheusError> {
        let what = "tsdb status";
        let body = self.call(Method::GET, "/api/v1/status/tsdb", what).await?;
        let value: serde_json::Value = self.decode(&body, what)?;
        value["data"]["headStats"]["numSeries"]
            .as_u64()
            .ok_or_else(|| self.decode_error(what, "no data.headStats.numSeries".into()))
    }

    /// An instant query; returns the `data.result` array.
    pub async fn query(&self, promql: &str) -> Result<Vec<serde_json::Value>, PrometheusError> {
        let what = "query";
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let body = self.call(Method::GET, &path, what).await?;
        let value: serde_json::Value = self.decode(&body, what)?;
        match value["data"]["result"].as_array() {
            Some(result) => Ok(result.clone()),
            None => Err(self.decode_error(what, "no data.result".into())),
        }
    }

    /// `GET /api/v1/status/runtimeinfo`: the `data` object (`lastConfigTime`,
    /// `reloadConfigSuccess`, ...).
    pub async fn runtime_info(&self) -> Result<serde_json::Value, PrometheusError> {
        let what = "runtime info";
        let body = self
            .call(Method::GET, "/api/v1/status/runtimeinfo", what)
            .await?;
        let mut value: serde_json::Value = self.decode(&body, what)?;
        Ok(value["data"].take())
    }

    /// `GET /api/v1/targets`: the `data.activeTargets` array.
    pub async fn active_targets(&self) -> Result<Vec<serde_json::Value>, PrometheusError> {
        let what = "targets";
        let body = self
            .call(Method::GET, "/api/v1/targets?state=active", what)
            .await?;
        let value: serde_json::Value = self.decode(&body, what)?;
        match value["data"]["activeTargets"].as_array() {
            Some(targets) => Ok(targets.clone()),
            None => Err(self.decode_error(what, "no data.activeTargets".into())),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        what: &'static str,
    ) -> Result<Bytes, PrometheusError> {
        let url = format!("{}{path}", self.base);
        let request = Request::builder()
            .method(method)
            .uri(&url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| PrometheusError::Url {
                base: self.base.clone(),
                reason: e.to_string(),
            })?;
        let exchange = async {
            let response =
                self.client
                    .request(request)
                    .await
                    .map_err(|e| PrometheusError::Transport {
                        base: self.base.clone(),
                        what,
                        reason: error_chain(&e),
                    })?;
            let status = response.status();
            let body = read_body_limited(response.into_body(), MAX_RESPONSE)
                .await
                .map_err(|e| PrometheusError::Transport {
                    base: self.base.clone(),
                    what,
                    reason: e.to_string(),
                })?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                let first = text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect();
                return Err(PrometheusError::Status {
                    base: self.base.clone(),
                    what,
                    status,
                    body: first,
                });
            }
            Ok(body)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| PrometheusError::Timeout {
                base: self.base.clone(),
                timeout: self.timeout,
                what,
            })?
    }

    fn decode(
        &self,
        body: &[u8],
        what: &'static str,
    ) -> Result<serde_json::Value, PrometheusError> {
        serde_json::from_slice(body).map_err(|e| self.decode_error(what, e.to_string()))
    }

    fn decode_error(&self, what: &'static str, reason: String) -> PrometheusError {
        PrometheusError::Decode {
            base: self.base.clone(),
            what,
            reason,
        }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            percent_encode("up{job=\"a b\"}"),
            "up%7Bjob%3D%22a%20b%22%7D"
        );
    }

    #[tokio::test]
    async fn a_dead_prometheus_is_a_transport_error_naming_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = PrometheusClient::new(&format!("http://{addr}"), Duration::from_secs(2));
        let err = client.head_series().await.unwrap_err();
        assert!(matches!(err, PrometheusError::Transport { .. }), "{err}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
