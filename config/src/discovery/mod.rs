//! Service discovery: providers publish target groups keyed by source, a
//! manager merges them and reports only the groups that changed.
//!
//! Each `*_sd_configs` entry of a job is one provider ([`Discoverer`]). A
//! provider sends [`ProviderMessage`]s: the groups that changed (a group with
//! no targets removes its source), a full snapshot, or an error (the last good
//! groups stay). The [`DiscoveryManager`] keys groups by [`GroupKey`] (job,
//! provider, source) and emits a [`DiscoveryEvent`] per changed group, so a
//! consumer rebuilds the targets of that group only ([`TargetIndex`]).
//!
//! Built in: `static_configs`, `file_sd_configs`, `http_sd_configs`,
//! `dns_sd_configs`. Other providers (Kubernetes) plug in through
//! [`DiscoveryManager::register`].

pub mod dns;
pub mod file;
pub mod http;
mod static_sd;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_yaml_ng::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, ScrapeConfig};
use crate::duration::PromDuration;
use crate::target::{BuiltTargets, Compat, Target, build_targets};
use crate::target_group::TargetGroup;

pub use static_sd::StaticDiscoverer;

/// A boxed future, for object-safe async trait methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A discovery failure, naming the provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct SdError {
    /// The provider, e.g. `file_sd_configs[0]`.
    pub provider: String,
    /// What failed.
    pub message: String,
}

/// What a provider tells the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderMessage {
    /// These groups changed; a group without targets removes its source.
    Update(Vec<TargetGroup>),
    /// The provider's complete set: sources not listed are removed.
    Snapshot(Vec<TargetGroup>),
    /// A refresh failed; the last good groups stay.
    Error(String),
}

/// Where a provider sends its messages.
pub type ProviderSender = mpsc::Sender<ProviderMessage>;

/// One service discovery provider of one job.
pub trait Discoverer: Send + Sync + fmt::Debug + 'static {
    /// Name unique within the job, e.g. `file_sd_configs[0]`.
    fn name(&self) -> &str;

    /// Discovers once: the provider's current groups.
    fn refresh(&self) -> BoxFuture<'_, Result<Vec<TargetGroup>, SdError>>;

    /// Runs until `tx` is closed, sending changes as they happen.
    fn run(self: Arc<Self>, tx: ProviderSender) -> BoxFuture<'static, ()>;
}

/// Makes the providers of one `*_sd_configs` key of a job (for providers not
/// built in, like Kubernetes): gets the job and the raw list under the key.
pub type ProviderFactory =
    Arc<dyn Fn(&ScrapeConfig, &Value) -> Result<Vec<Arc<dyn Discoverer>>, SdError> + Send + Sync>;

/// A job's providers, and the `*_sd_configs` keys no provider handles.
pub type JobProviders = (Vec<Arc<dyn Discoverer>>, Vec<String>);

/// Identifies a target group: job, provider within the job, source within
/// the provider.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Job name.
    pub job: Arc<str>,
    /// Provider name within the job.
    pub provider: Arc<str>,
    /// Group source within the provider.
    pub source: String,
}

/// A change reported by the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryEvent {
    /// The group at `key` is new or changed.
    Upsert {
        /// Which group.
        key: GroupKey,
        /// Its new content.
        group: TargetGroup,
    },
    /// The group at `key` is gone.
    Remove {
        /// Which group.
        key: GroupKey,
    },
    /// A provider failed; its last good groups stay.
    Error {
        /// Job name.
        job: String,
        /// Provider name.
        provider: String,
        /// What failed.
        message: String,
    },
    /// Every provider has delivered its first result (sent once, after that
    /// result's groups): from here on, a target missing from the index is
    /// really gone, not just not discovered yet. A provider whose first
    /// refreshes fail holds this back.
    Synced,
}

/// Builds providers from a config and runs them.
#[derive(Clone, Default)]
pub struct DiscoveryManager {
    factories: HashMap<String, ProviderFactory>,
}

impl fmt::Debug for DiscoveryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryManager")
            .field("registered", &self.factories.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Running providers; dropping it stops them.
#[derive(Debug)]
pub struct DiscoveryHandle {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DiscoveryHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DiscoveryManager {
    /// A manager with the built-in providers only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a provider for the `key` list of scrape configs (e.g.
    /// `kubernetes_sd_configs`).
    pub fn register(&mut self, key: &str, factory: ProviderFactory) {
        self.factories.insert(key.to_owned(), factory);
    }

    /// The providers of `job`, in config order. Keys no factory handles are
    /// returned as names in the second list.
    pub fn providers(&self, job: &ScrapeConfig) -> Result<JobProviders, SdError> {
        let sd = &job.service_discovery;
        let mut out: Vec<Arc<dyn Discoverer>> = Vec::new();
        if !sd.static_configs.is_empty() {
            out.push(Arc::new(StaticDiscoverer::new(job)));
        }
        for (i, c) in sd.file_sd_configs.iter().enumerate() {
            out.push(Arc::new(file::FileDiscoverer::new(
                format!("file_sd_configs[{i}]"),
                c.clone(),
            )));
        }
        for (i, c) in sd.http_sd_configs.iter().enumerate() {
            out.push(Arc::new(http::HttpDiscoverer::new(
                format!("http_sd_configs[{i}]"),
                c.clone(),
            )?));
        }
        for (i, c) in sd.dns_sd_configs.iter().enumerate() {
            out.push(Arc::new(dns::DnsDiscoverer::new(
                format!("dns_sd_configs[{i}]"),
                c.clone(),
            )));
        }
        let mut unsupported = Vec::new();
        for (key, value) in &sd.other {
            match self.factories.get(key) {
                Some(factory) => out.extend(factory(job, value)?),
                None => unsupported.push(key.clone()),
            }
        }
        Ok((out, unsupported))
    }

    /// Starts every provider of every job of `config`. Events arrive on the
    /// returned receiver; unsupported provider keys are reported as errors.
    pub fn start(
        &self,
        config: &Config,
    ) -> Result<(DiscoveryHandle, mpsc::Receiver<DiscoveryEvent>), SdError> {
        let (events_tx, events_rx) = mpsc::channel(1024);
        let mut tasks = Vec::new();
        let mut pending_errors = Vec::new();
        let mut started = Vec::new();
        for job in &config.scrape_configs {
            let (providers, unsupported) = self.providers(job)?;
            for key in unsupported {
                pending_errors.push(DiscoveryEvent::Error {
                    job: job.job_name.clone(),
                    provider: key.clone(),
                    message: format!("{key} is not supported by this build"),
                });
            }
            let job_name: Arc<str> = Arc::from(job.job_name.as_str());
            started.extend(providers.into_iter().map(|p| (job_name.clone(), p)));
        }
        let unsynced = Arc::new(AtomicUsize::new(started.len()));
        if started.is_empty() {
            pending_errors.push(DiscoveryEvent::Synced);
        }
        for (job_name, provider) in started {
            let (tx, rx) = mpsc::channel(16);
            let name: Arc<str> = Arc::from(provider.name());
            tasks.push(tokio::spawn(provider.run(tx)));
            tasks.push(tokio::spawn(forward(
                job_name,
                name,
                rx,
                events_tx.clone(),
                Arc::clone(&unsynced),
            )));
        }
        if !pending_errors.is_empty() {
            let tx = events_tx.clone();
            tasks.push(tokio::spawn(async move {
                for e in pending_errors {
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
            }));
        }
        Ok((DiscoveryHandle { tasks }, events_rx))
    }
}

/// Turns one provider's messages into per-group events, skipping groups
/// that did not change; the last provider to deliver a first result sends
/// [`DiscoveryEvent::Synced`].
async fn forward(
    job: Arc<str>,
    provider: Arc<str>,
    mut rx: mpsc::Receiver<ProviderMessage>,
    tx: mpsc::Sender<DiscoveryEvent>,
    unsynced: Arc<AtomicUsize>,
) {
    let mut current: BTreeMap<String, TargetGroup> = BTreeMap::new();
    let mut synced = false;
    while let Some(message) = rx.recv().await {
        let first_result = !synced && !matches!(message, ProviderMessage::Error(_));
        let mut events = apply_message(&job, &provider, &mut current, message);
        if first_result {
            synced = true;
            if unsynced.fetch_sub(1, Ordering::AcqRel) == 1 {
                events.push(DiscoveryEvent::Synced);
            }
        }
        for event in events {
            if tx.send(event).await.is_err() {
                return;
            }
        }
    }
}

fn apply_message(
    job: &Arc<str>,
    provider: &Arc<str>,
    current: &mut BTreeMap<String, TargetGroup>,
    message: ProviderMessage,
) -> Vec<DiscoveryEvent> {
    let key = |source: &str| GroupKey {
        job: job.clone(),
        provider: provider.clone(),
        source: source.to_owned(),
    };
    let mut events = Vec::new();
    let upsert = |current: &mut BTreeMap<String, TargetGroup>,
                  group: TargetGroup,
                  events: &mut Vec<DiscoveryEvent>| {
        if group.targets.is_empty() {
            if current.remove(&group.source).is_some() {
                events.push(DiscoveryEvent::Remove {
                    key: key(&group.source),
                });
            }
        } else if current.get(&group.source) != Some(&group) {
            current.insert(group.source.clone(), group.clone());
            events.push(DiscoveryEvent::Upsert {
                key: key(&group.source),
                group,
            });
        }
    };
    match message {
        ProviderMessage::Update(groups) => {
            for group in groups {
                upsert(current, group, &mut events);
            }
        }
        ProviderMessage::Snapshot(groups) => {
            let listed: std::collections::HashSet<String> =
                groups.iter().map(|g| g.source.clone()).collect();
            let gone: Vec<String> = current
                .keys()
                .filter(|s| !listed.contains(*s))
                .cloned()
                .collect();
            for source in gone {
                current.remove(&source);
                events.push(DiscoveryEvent::Remove { key: key(&source) });
            }
            for group in groups {
                upsert(current, group, &mut events);
            }
        }
        ProviderMessage::Error(message) => events.push(DiscoveryEvent::Error {
            job: job.to_string(),
            provider: provider.to_string(),
            message,
        }),
    }
    events
}

/// The pause between two polls of a provider: its `refresh_interval`, at
/// least 10 ms so that a zero interval cannot spin.
fn poll_interval(refresh_interval: PromDuration) -> Duration {
    refresh_interval.as_std().max(Duration::from_millis(10))
}

/// Waits `interval`; false when the manager stopped listening meanwhile.
async fn wait_unless_closed(interval: Duration, tx: &ProviderSender) -> bool {
    tokio::select! {
        () = tokio::time::sleep(interval) => true,
        () = tx.closed() => false,
    }
}

/// A one-off refresh of a provider with several sources (files, names):
/// an error only when no source gave groups; other failures are logged.
fn groups_unless_all_failed(
    provider: &str,
    groups: Vec<TargetGroup>,
    errors: Vec<String>,
) -> Result<Vec<TargetGroup>, SdError> {
    if groups.is_empty() && !errors.is_empty() {
        return Err(SdError {
            provider: provider.to_owned(),
            message: errors.join("; "),
        });
    }
    for e in errors {
        tracing::warn!(provider, "{e}");
    }
    Ok(groups)
}

/// Discovers the groups of `job` once, every provider concurrently, each
/// bounded by `timeout`. Returns groups in provider order, and the errors.
pub async fn discover_once(
    manager: &DiscoveryManager,
    job: &ScrapeConfig,
    timeout: Duration,
) -> (Vec<TargetGroup>, Vec<SdError>) {
    let (providers, unsupported) = match manager.providers(job) {
        Ok(p) => p,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut errors: Vec<SdError> = unsupported
        .into_iter()
        .map(|key| SdError {
            message: format!("{key} is not supported by this build"),
            provider: key,
        })
        .collect();
    let mut handles = Vec::new();
    for provider in providers {
        handles.push(tokio::spawn(async move {
            let name = provider.name().to_owned();
            match tokio::time::timeout(timeout, provider.refresh()).await {
                Ok(result) => result,
                Err(_) => Err(SdError {
                    provider: name,
                    message: format!("no answer within {timeout:?}"),
                }),
            }
        }));
    }
    let mut groups = Vec::new();
    for handle in handles {
        match handle.await {
            Ok(Ok(g)) => groups.extend(g),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(SdError {
                provider: "discovery".into(),
                message: e.to_string(),
            }),
        }
    }
    (groups, errors)
}

/// The targets of every group, rebuilt per changed group only.
///
/// ```
/// use promshard_config::{Config, discovery::{DiscoveryEvent, GroupKey, TargetIndex}, target::Compat};
/// let config = Config::from_yaml_str(
///     "scrape_configs:\n- job_name: node\n  static_configs:\n  - targets: ['a:9100']\n",
///     "prometheus.yml",
/// )?;
/// let mut index = TargetIndex::new(Compat::Prometheus3);
/// let group = config.job("node").expect("job").service_discovery.static_configs[0].to_group("0".into());
/// let key = GroupKey { job: "node".into(), provider: "static_configs".into(), source: "0".into() };
/// index.apply(&config, DiscoveryEvent::Upsert { key, group });
/// assert_eq!(index.targets().count(), 1);
/// # Ok::<(), promshard_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct TargetIndex {
    compat: Compat,
    groups: BTreeMap<GroupKey, BuiltTargets>,
}

impl TargetIndex {
    /// An empty index.
    pub fn new(compat: Compat) -> Self {
        Self {
            compat,
            groups: BTreeMap::new(),
        }
    }

    /// Applies an event; returns true when targets changed. Events of jobs
    /// not in `config` remove nothing and add nothing.
    pub fn apply(&mut self, config: &Config, event: DiscoveryEvent) -> bool {
        match event {
            DiscoveryEvent::Upsert { key, group } => {
                let Some(job) = config.job(&key.job) else {
                    return false;
                };
                let built = build_targets(job, [&group], self.compat);
                let changed = self.groups.get(&key) != Some(&built);
                self.groups.insert(key, built);
                changed
            }
            DiscoveryEvent::Remove { key } => self.groups.remove(&key).is_some(),
            DiscoveryEvent::Error { .. } | DiscoveryEvent::Synced => false,
        }
    }

    /// Every target, unique by id, in key order (job, provider, source).
    pub fn targets(&self) -> impl Iterator<Item = &Target> + '_ {
        let mut seen = std::collections::HashSet::new();
        self.groups
            .values()
            .flat_map(|b| b.targets.iter())
            .filter(move |t| seen.insert(t.id))
    }

    /// Every group's build result (targets, dropped, errors).
    pub fn groups(&self) -> impl Iterator<Item = (&GroupKey, &BuiltTargets)> + '_ {
        self.groups.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelSet;

    fn group(source: &str, addrs: &[&str]) -> TargetGroup {
        TargetGroup {
            source: source.into(),
            targets: addrs
                .iter()
                .map(|a| LabelSet::from_pairs([("__address__", *a)]))
                .collect(),
            labels: LabelSet::new(),
        }
    }

    #[test]
    fn only_changed_groups_are_reported() {
        let job: Arc<str> = Arc::from("j");
        let provider: Arc<str> = Arc::from("p");
        let mut current = BTreeMap::new();
        let events = apply_message(
            &job,
            &provider,
            &mut current,
            ProviderMessage::Snapshot(vec![group("a", &["x"]), group("b", &["y"])]),
        );
        assert_eq!(events.len(), 2);
        let events = apply_message(
            &job,
            &provider,
            &mut current,
            ProviderMessage::Snapshot(vec![group("a", &["x"]), group("b", &["z"])]),
        );
        assert!(matches!(&events[..], [DiscoveryEvent::Upsert { key, .. }] if key.source == "b"));
        let events = apply_message(
            &job,
            &provider,
            &mut current,
            ProviderMessage::Snapshot(vec![group("b", &["z"])]),
        );
        assert!(matches!(&events[..], [DiscoveryEvent::Remove { key }] if key.source == "a"));
        let events = apply_message(
            &job,
            &provider,
            &mut current,
            ProviderMessage::Update(vec![group("b", &[])]),
        );
        assert!(matches!(&events[..], [DiscoveryEvent::Remove { key }] if key.source == "b"));
        let events = apply_message(
            &job,
            &provider,
            &mut current,
            ProviderMessage::Error("boom".into()),
        );
        assert!(matches!(&events[..], [DiscoveryEvent::Error { .. }]));
    }

    #[tokio::test]
    async fn synced_follows_every_providers_first_result_once() {
        let config = Config::from_yaml_str(
            "scrape_configs:\n- job_name: a\n  static_configs: [{targets: ['x:1']}]\n- job_name: b\n  static_configs: [{targets: ['y:1']}]\n",
            "prometheus.yml",
        )
        .unwrap();
        let (_handle, mut rx) = DiscoveryManager::new().start(&config).unwrap();
        let mut upserts = 0;
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap();
            match event {
                DiscoveryEvent::Upsert { .. } => upserts += 1,
                DiscoveryEvent::Synced => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(upserts, 2, "both jobs' groups come before Synced");
        let more = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
        assert!(more.is_err(), "Synced is sent once: {more:?}");

        let empty = Config::from_yaml_str("scrape_configs: []\n", "prometheus.yml").unwrap();
        let (_handle, mut rx) = DiscoveryManager::new().start(&empty).unwrap();
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert!(
            matches!(event, Ok(Some(DiscoveryEvent::Synced))),
            "{event:?}"
        );
    }
}
