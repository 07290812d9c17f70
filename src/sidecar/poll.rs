//! Watching the shard's Prometheus for the coordinator: its readiness and
//! whether it scrapes what it was assigned (every couple of seconds, more
//! often while it is not ready; see `health`), and its head series (less
//! often: that query costs a big Prometheus more). The same loop keeps the
//! statistics and the assignment gauges in step with the assignment.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::control::ShardControl;
use super::health::{TargetClock, not_scraping};
use super::info::SidecarInfo;
use super::metrics::ControlMetrics;
use super::proxy::ProxyState;
use super::unix_millis;
use crate::http::Shutdown;
use crate::prometheus::PrometheusClient;
use crate::shard_api::{PrometheusState, TargetId};

/// How often Prometheus's readiness and scraping are checked while it is
/// ready.
const HEALTH_POLL: Duration = Duration::from_secs(2);

/// How often while it is not (or not known yet): a shard coming back is
/// seen ready within a moment.
const NOT_READY_POLL: Duration = Duration::from_millis(500);

/// Timeout of one readiness check: readiness checks are quick or a sign of
/// trouble, so that a hung Prometheus shows as not ready within one poll.
pub(super) const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the head series are polled: `/api/v1/status/tsdb` walks the
/// head's postings, which costs a big Prometheus more than `/-/ready`.
const HEAD_POLL: Duration = Duration::from_secs(5);

/// Checks Prometheus's readiness and scraping, polls its head series, and
/// keeps stats and gauges in step with the assignment.
#[allow(
    clippy::too_many_arguments,
    reason = "one long-lived task owning its inputs"
)]
pub(super) async fn poll_prometheus(
    prometheus: PrometheusClient,
    readiness: PrometheusClient,
    info: Arc<SidecarInfo>,
    control: Arc<ShardControl>,
    proxy: Arc<ProxyState>,
    metrics: ControlMetrics,
    mut shutdown: Shutdown,
) {
    let mut seen_generation = None;
    let mut next_head_poll = tokio::time::Instant::now();
    loop {
        check_health(&readiness, &info, &control).await;
        let now = tokio::time::Instant::now();
        if now >= next_head_poll {
            next_head_poll = now + HEAD_POLL;
            poll_head(
                &prometheus,
                &info,
                &control,
                &proxy,
                &metrics,
                &mut seen_generation,
            )
            .await;
        }
        let wait = if info.health.state() == PrometheusState::Ready {
            HEALTH_POLL
        } else {
            NOT_READY_POLL
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.wait() => return,
        }
    }
}

/// Polls head series, and keeps stats and gauges in step with the
/// assignment.
async fn poll_head(
    prometheus: &PrometheusClient,
    info: &SidecarInfo,
    control: &ShardControl,
    proxy: &ProxyState,
    metrics: &ControlMetrics,
    seen_generation: &mut Option<u64>,
) {
    let snapshot = control.snapshot();
    if *seen_generation != Some(snapshot.generation) {
        *seen_generation = Some(snapshot.generation);
        proxy.prune_stats();
        metrics
            .generation
            .set(i64::try_from(snapshot.generation).unwrap_or(i64::MAX));
        metrics
            .targets
            .set(i64::try_from(snapshot.by_id.len()).unwrap_or(i64::MAX));
    }
    match prometheus.head_series().await {
        Ok(series) => info.set_head_series(series),
        Err(e) => tracing::debug!(error = %e, "head series unavailable"),
    }
}

/// One readiness check and, when ready, the scraping verdict.
async fn check_health(readiness: &PrometheusClient, info: &SidecarInfo, control: &ShardControl) {
    let now = unix_millis();
    let ready = match readiness.ready().await {
        Ok(true) => Ok(()),
        Ok(false) => Err("/-/ready did not answer 200 (starting or replaying its WAL)".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(reason) = ready {
        let was = info.health.state();
        info.health.not_ready(now, reason.clone());
        if was == PrometheusState::Ready {
            tracing::warn!(%reason, "Prometheus is not ready");
        } else if was == PrometheusState::Unknown {
            tracing::info!(%reason, "waiting for Prometheus to be ready");
        }
        return;
    }
    let baseline = info
        .health
        .ready_since_ms()
        .unwrap_or(now)
        .max(info.started_ms);
    let snapshot = control.snapshot();
    let known_jobs = control.jobs();
    let mut last_scrape: HashMap<TargetId, u64> = HashMap::with_capacity(snapshot.by_id.len());
    info.stats.for_each_last_scrape(|id, at| {
        if snapshot.by_id.contains_key(id) {
            last_scrape.insert(id.clone(), at);
        }
    });
    // Targets of a job Prometheus is not configured for yet are not its
    // to scrape.
    let clocks = snapshot
        .by_id
        .values()
        .filter(|t| known_jobs.contains(&t.job))
        .map(|t| TargetClock {
            interval: t.scrape_interval(),
            last_scrape_ms: last_scrape.get(&t.id).copied(),
            assigned_at_ms: snapshot.assigned_at.get(&t.id).copied(),
        });
    let stalled = not_scraping(now, baseline, clocks);
    let was = info.health.state();
    info.health.ready(now, stalled.clone());
    match (was, stalled) {
        (PrometheusState::Ready, Some(reason)) => {
            tracing::warn!(%reason, "Prometheus is not scraping")
        }
        (
            PrometheusState::Starting { .. }
            | PrometheusState::NotReady { .. }
            | PrometheusState::NotScraping { .. },
            None,
        ) => {
            tracing::info!("Prometheus is ready and scraping");
        }
        _ => {}
    }
}
