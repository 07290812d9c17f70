//! prometheus-operator resources from the cluster, for a coordinator that
//! takes its jobs from them: ServiceMonitors, PodMonitors, Probes,
//! ScrapeConfigs, Namespaces (their labels decide namespace selectors) and,
//! when one is named, the Prometheus resource whose selectors and settings
//! apply, all watched; the Secrets and ConfigMaps they reference, read by
//! name. Each change gives a new [`MonitorSnapshot`]: what
//! [`promshard_operator::generate`] turns into scrape configs.
//!
//! - **Watched, not polled.** One kube-runtime watcher per kind (list, then
//!   watch with bookmarks, re-list after 410); events within
//!   [`SETTLE`] are taken together, so a `kubectl apply` of a hundred
//!   monitors gives one snapshot, not a hundred.
//! - **Synced first.** No snapshot is published before every kind has been
//!   listed once (a partial view would drop the jobs of the kinds not read
//!   yet). A kind whose CRD is not installed (404) counts as listed and
//!   empty; other list errors are retried with backoff, and after
//!   [`MonitorOptions::sync_timeout`] the kinds listed so far are
//!   published, with the others named in [`MonitorSnapshot::unsynced`].
//! - **Secrets by name only.** References to Secrets and ConfigMaps are
//!   found in the objects (any `{name, key}` selector; under a `configMap`
//!   field a ConfigMap, else a Secret) and fetched with `get`, cached and
//!   fetched again every [`MonitorOptions::refresh`] so that a rotated
//!   password reaches the jobs. The coordinator never lists Secrets, so it
//!   learns none but those its monitors name (see
//!   [`crate::rbac::OPERATOR_RULES`]).
//! - **One bad object stays one.** An object that does not read as its
//!   kind is left out and reported in [`MonitorSnapshot::problems`]; the
//!   others are published.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{Stream, StreamExt, select_all};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use promshard_operator::load::{LoadError, Loaded, Resources};
use serde_json::Value;
use tokio::sync::watch;

/// How long events are gathered before a snapshot is made.
pub const SETTLE: Duration = Duration::from_millis(250);

/// The kinds watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MonitorKind {
    /// `monitoring.coreos.com/v1 ServiceMonitor`.
    ServiceMonitor,
    /// `monitoring.coreos.com/v1 PodMonitor`.
    PodMonitor,
    /// `monitoring.coreos.com/v1 Probe`.
    Probe,
    /// `monitoring.coreos.com/v1alpha1 ScrapeConfig`.
    ScrapeConfig,
    /// `monitoring.coreos.com/v1 Prometheus` (the one named).
    Prometheus,
    /// `v1 Namespace`.
    Namespace,
}

impl MonitorKind {
    /// The custom resources, with their REST names.
    const CUSTOM: [(Self, &'static str, &'static str, &'static str); 5] = [
        (
            Self::ServiceMonitor,
            "v1",
            "ServiceMonitor",
            "servicemonitors",
        ),
        (Self::PodMonitor, "v1", "PodMonitor", "podmonitors"),
        (Self::Probe, "v1", "Probe", "probes"),
        (
            Self::ScrapeConfig,
            "v1alpha1",
            "ScrapeConfig",
            "scrapeconfigs",
        ),
        (Self::Prometheus, "v1", "Prometheus", "prometheuses"),
    ];

    /// The API group of the custom resources.
    pub const GROUP: &'static str = "monitoring.coreos.com";

    fn api_resource(self) -> Option<ApiResource> {
        let &(_, version, kind, plural) = Self::CUSTOM.iter().find(|c| c.0 == self)?;
        Some(ApiResource {
            group: Self::GROUP.to_owned(),
            version: version.to_owned(),
            api_version: format!("{}/{version}", Self::GROUP),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
        })
    }
}

/// What to watch.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// The Prometheus resource (namespace, name) whose selectors and
    /// settings apply (`--operator.prometheus`), if any.
    pub prometheus: Option<(String, String)>,
    /// How often referenced Secrets and ConfigMaps are read again.
    pub refresh: Duration,
    /// How long to wait for every kind's first list before publishing what
    /// has been listed.
    pub sync_timeout: Duration,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        Self {
            prometheus: None,
            refresh: Duration::from_secs(60),
            sync_timeout: Duration::from_secs(60),
        }
    }
}

/// What the cluster holds, as one consistent view.
#[derive(Debug, Clone, Default)]
pub struct MonitorSnapshot {
    /// The objects, read into the operator's model (Secrets' values typed
    /// so that they print as `<secret>`).
    pub resources: Resources,
    /// Objects left out because they do not read as their kind.
    pub problems: Vec<LoadError>,
    /// Referenced Secrets and ConfigMaps that could not be read (`kind
    /// namespace/name: reason`); generation reports the resources that
    /// need them as the operator would.
    pub unreadable: Vec<String>,
    /// Kinds not listed yet when the snapshot was published after the sync
    /// timeout.
    pub unsynced: Vec<MonitorKind>,
}

/// A running watch; stops when dropped.
#[derive(Debug)]
pub struct MonitorWatch {
    snapshots: watch::Receiver<Option<Arc<MonitorSnapshot>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MonitorWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MonitorWatch {
    /// Starts watching through `client`.
    pub fn start(client: kube::Client, options: MonitorOptions) -> Self {
        let (tx, snapshots) = watch::channel(None);
        let task = tokio::spawn(run(client, options, tx));
        Self { snapshots, task }
    }

    /// Snapshots as they are published (`None` until the first).
    pub fn snapshots(&self) -> watch::Receiver<Option<Arc<MonitorSnapshot>>> {
        self.snapshots.clone()
    }
}

type Events = Pin<Box<dyn Stream<Item = (MonitorKind, Result<Event<Value>, String>)> + Send>>;

/// An event with its object as JSON.
fn as_json<K: serde::Serialize>(event: Event<K>) -> Event<Value> {
    let json = |o: K| serde_json::to_value(o).unwrap_or(Value::Null);
    match event {
        Event::Apply(o) => Event::Apply(json(o)),
        Event::Delete(o) => Event::Delete(json(o)),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(json(o)),
        Event::InitDone => Event::InitDone,
    }
}

/// Watches one custom resource. Items of a list carry no `apiVersion` and
/// `kind` (the list says them once): they are set from `resource`, so that
/// every object reads as its kind.
fn watch_dynamic(
    api: Api<DynamicObject>,
    config: watcher::Config,
    kind: MonitorKind,
    resource: &ApiResource,
) -> Events {
    let api_version = Value::String(resource.api_version.clone());
    let kind_name = Value::String(resource.kind.clone());
    Box::pin(
        watcher::watcher(api, config)
            .default_backoff()
            .map(move |r| {
                let typed = |mut value: Value| {
                    if let Value::Object(map) = &mut value {
                        map.insert("apiVersion".into(), api_version.clone());
                        map.insert("kind".into(), kind_name.clone());
                    }
                    value
                };
                let event = r.map(as_json).map(|event| match event {
                    Event::Apply(o) => Event::Apply(typed(o)),
                    Event::Delete(o) => Event::Delete(typed(o)),
                    Event::InitApply(o) => Event::InitApply(typed(o)),
                    other => other,
                });
                (kind, event.map_err(|e| error_text(&e)))
            }),
    )
}

/// The API's own message where there is one: "404 not found" says more
/// than kube's wrapper.
fn error_text(error: &watcher::Error) -> String {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => {
            format!("{} {}", status.code, status.message)
        }
        other => other.to_string(),
    }
}

fn streams(client: &kube::Client, options: &MonitorOptions) -> Vec<Events> {
    let mut all: Vec<Events> = Vec::new();
    for (kind, ..) in MonitorKind::CUSTOM {
        let Some(resource) = kind.api_resource() else {
            continue;
        };
        if kind == MonitorKind::Prometheus {
            let Some((namespace, name)) = &options.prometheus else {
                continue;
            };
            let api = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource);
            let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
            all.push(watch_dynamic(api, config, kind, &resource));
        } else {
            let api = Api::<DynamicObject>::all_with(client.clone(), &resource);
            all.push(watch_dynamic(
                api,
                watcher::Config::default(),
                kind,
                &resource,
            ));
        }
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    all.push(Box::pin(
        watcher::watcher(namespaces, watcher::Config::default())
            .default_backoff()
            .map(|r| {
                (
                    MonitorKind::Namespace,
                    r.map(as_json).map_err(|e| error_text(&e)),
                )
            }),
    ));
    all
}

/// The objects of one kind, as listed and watched.
#[derive(Debug, Default)]
struct KindStore {
    objects: BTreeMap<(String, String), Value>,
    /// A re-list in progress: replaces `objects` when it is done.
    relisting: Option<BTreeMap<(String, String), Value>>,
    synced: bool,
}

fn key_of(value: &Value) -> (String, String) {
    let text = |field: &str| {
        value["metadata"][field]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    (text("namespace"), text("name"))
}

impl KindStore {
    fn apply(&mut self, event: Event<Value>) {
        match event {
            Event::Init => self.relisting = Some(BTreeMap::new()),
            Event::InitApply(value) => {
                if let Some(relisting) = &mut self.relisting {
                    relisting.insert(key_of(&value), value);
                }
            }
            Event::InitDone => {
                if let Some(listed) = self.relisting.take() {
                    self.objects = listed;
                }
                self.synced = true;
            }
            Event::Apply(value) => {
                self.objects.insert(key_of(&value), value);
            }
            Event::Delete(value) => {
                self.objects.remove(&key_of(&value));
            }
        }
    }
}

/// A Secret or ConfigMap an object refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    /// `Secret` or `ConfigMap`.
    pub kind: &'static str,
    /// Its namespace (the referring object's).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// The Secrets and ConfigMaps `object` refers to: every `{name, key}`
/// selector in it; under a `configMap` field a ConfigMap, else a Secret
/// (prometheus-operator's `SecretKeySelector`, `ConfigMapKeySelector` and
/// `SecretOrConfigMap`).
pub fn references(object: &Value) -> BTreeSet<Reference> {
    fn walk(value: &Value, parent: &str, namespace: &str, out: &mut BTreeSet<Reference>) {
        match value {
            Value::Object(map) => {
                if let (Some(Value::String(name)), Some(Value::String(_))) =
                    (map.get("name"), map.get("key"))
                {
                    out.insert(Reference {
                        kind: if parent == "configMap" {
                            "ConfigMap"
                        } else {
                            "Secret"
                        },
                        namespace: namespace.to_owned(),
                        name: name.clone(),
                    });
                }
                for (field, child) in map {
                    if field != "metadata" {
                        walk(child, field, namespace, out);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, parent, namespace, out);
                }
            }
            _ => {}
        }
    }
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let mut out = BTreeSet::new();
    walk(&object["spec"], "spec", namespace, &mut out);
    out
}

/// Secrets and ConfigMaps read by name, with when.
#[derive(Debug, Default)]
struct Referenced {
    fetched: BTreeMap<Reference, (Instant, Result<Option<Value>, String>)>,
}

impl Referenced {
    /// Reads what `wanted` holds that is missing or older than `refresh`,
    /// and forgets what is no longer wanted. Returns whether anything
    /// read differs from before.
    async fn refresh(
        &mut self,
        client: &kube::Client,
        wanted: &BTreeSet<Reference>,
        refresh: Duration,
    ) -> bool {
        let before = self.fetched.len();
        self.fetched.retain(|r, _| wanted.contains(r));
        let mut changed = self.fetched.len() != before;
        let now = Instant::now();
        for reference in wanted {
            let fresh = self
                .fetched
                .get(reference)
                .is_some_and(|(at, _)| now.duration_since(*at) < refresh);
            if fresh {
                continue;
            }
            let read = get(client, reference).await;
            let same = self
                .fetched
                .get(reference)
                .is_some_and(|(_, old)| *old == read);
            changed |= !same;
            self.fetched.insert(reference.clone(), (now, read));
        }
        changed
    }
}

async fn get(client: &kube::Client, reference: &Reference) -> Result<Option<Value>, String> {
    let to_value = |o: Result<Option<Value>, kube::Error>| {
        o.map_err(|e| match e {
            kube::Error::Api(status) => format!("{} {}", status.code, status.message),
            other => other.to_string(),
        })
    };
    match reference.kind {
        "ConfigMap" => {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), &reference.namespace);
            to_value(
                api.get_opt(&reference.name)
                    .await
                    .map(|o| o.and_then(|o| serde_json::to_value(o).ok())),
            )
        }
        _ => {
            let api: Api<Secret> = Api::namespaced(client.clone(), &reference.namespace);
            to_value(
                api.get_opt(&reference.name)
                    .await
                    .map(|o| o.and_then(|o| serde_json::to_value(o).ok())),
            )
        }
    }
}

/// Everything watched and read, into one snapshot.
fn snapshot(
    stores: &BTreeMap<MonitorKind, KindStore>,
    referenced: &Referenced,
    unsynced: Vec<MonitorKind>,
) -> MonitorSnapshot {
    let mut loaded = Loaded::default();
    let mut problems = Vec::new();
    let mut add = |origin: &str, value: &Value| {
        // A watched object is JSON; the operator's model reads YAML values.
        let yaml = match serde_yaml_ng::to_value(value) {
            Ok(yaml) => yaml,
            Err(e) => {
                problems.push(LoadError {
                    file: origin.to_owned(),
                    document: 1,
                    object: "object".into(),
                    message: e.to_string(),
                });
                return;
            }
        };
        if let Err(e) = loaded.add(origin, yaml) {
            problems.push(e);
        }
    };
    for (kind, store) in stores {
        for ((namespace, name), value) in &store.objects {
            let origin = if namespace.is_empty() {
                format!("cluster {kind:?} {name}")
            } else {
                format!("cluster {kind:?} {namespace}/{name}")
            };
            add(&origin, value);
        }
    }
    let mut unreadable = Vec::new();
    for (reference, (_, read)) in &referenced.fetched {
        let origin = format!(
            "cluster {} {}/{}",
            reference.kind, reference.namespace, reference.name
        );
        match read {
            Ok(Some(value)) => add(&origin, value),
            // Absent: generation says so for each resource that needs it.
            Ok(None) => {}
            Err(e) => unreadable.push(format!("{origin}: {e}")),
        }
    }
    MonitorSnapshot {
        resources: loaded.resources,
        problems,
        unreadable,
        unsynced,
    }
}

async fn run(
    client: kube::Client,
    options: MonitorOptions,
    tx: watch::Sender<Option<Arc<MonitorSnapshot>>>,
) {
    let mut events = select_all(streams(&client, &options));
    let mut stores: BTreeMap<MonitorKind, KindStore> = BTreeMap::new();
    for (kind, ..) in MonitorKind::CUSTOM {
        if kind != MonitorKind::Prometheus || options.prometheus.is_some() {
            stores.insert(kind, KindStore::default());
        }
    }
    stores.insert(MonitorKind::Namespace, KindStore::default());
    let mut referenced = Referenced::default();
    let started = tokio::time::Instant::now();
    let mut refresh = tokio::time::interval(options.refresh);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh.tick().await;
    let mut dirty = false;
    // When the events gathered so far are published: set by the first
    // change after a publication, so a stream of events (a watch retrying
    // with backoff, a bulk apply) delays it by at most SETTLE.
    let mut settle_at: Option<tokio::time::Instant> = None;
    let mut published = false;
    let mut reported: BTreeSet<(MonitorKind, String)> = BTreeSet::new();
    loop {
        if dirty && settle_at.is_none() {
            settle_at = Some(tokio::time::Instant::now() + SETTLE);
        }
        let settle = tokio::time::sleep_until(settle_at.unwrap_or_else(tokio::time::Instant::now));
        tokio::select! {
            next = events.next() => {
                let Some((kind, event)) = next else { return };
                match event {
                    Ok(event) => {
                        if let Some(store) = stores.get_mut(&kind) {
                            store.apply(event);
                        }
                        dirty = true;
                    }
                    Err(message) => {
                        let store = stores.entry(kind).or_default();
                        // A kind whose CRD is not installed has nothing to
                        // watch: it is listed, and empty.
                        if message.starts_with("404") && !store.synced {
                            store.synced = true;
                            dirty = true;
                        }
                        if reported.insert((kind, message.clone())) {
                            tracing::warn!(?kind, error = %message, "watching prometheus-operator resources");
                        }
                    }
                }
                continue;
            }
            _ = refresh.tick() => {
                dirty |= published;
            }
            () = settle, if dirty => {
                settle_at = None;
            }
            () = tokio::time::sleep_until(started + options.sync_timeout), if !published => {
                dirty = true;
            }
        }
        if !dirty || settle_at.is_some() {
            continue;
        }
        let unsynced: Vec<MonitorKind> = stores
            .iter()
            .filter(|(_, s)| !s.synced)
            .map(|(k, _)| *k)
            .collect();
        let timed_out = started.elapsed() >= options.sync_timeout;
        if !unsynced.is_empty() && !timed_out {
            continue;
        }
        dirty = false;
        let wanted: BTreeSet<Reference> = stores
            .iter()
            .filter(|(kind, _)| **kind != MonitorKind::Namespace)
            .flat_map(|(_, store)| store.objects.values())
            .flat_map(references)
            .collect();
        referenced.refresh(&client, &wanted, options.refresh).await;
        let next = snapshot(&stores, &referenced, unsynced);
        tx.send_replace(Some(Arc::new(next)));
        published = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_every_key_selector_in_the_spec() {
        let monitor = serde_json::json!({
            "metadata": {"name": "m", "namespace": "apps", "labels": {"name": "x", "key": "y"}},
            "spec": {
                "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}]},
                "endpoints": [{
                    "basicAuth": {
                        "username": {"name": "creds", "key": "user"},
                        "password": {"name": "creds", "key": "pass"}
                    },
                    "tlsConfig": {
                        "ca": {"configMap": {"name": "ca-bundle", "key": "ca.crt"}},
                        "cert": {"secret": {"name": "client", "key": "tls.crt"}},
                        "keySecret": {"name": "client", "key": "tls.key"}
                    },
                    "oauth2": {"clientId": {"secret": {"name": "oauth", "key": "id"}}}
                }]
            }
        });
        let refs: Vec<(String, String, String)> = references(&monitor)
            .into_iter()
            .map(|r| (r.kind.to_owned(), r.namespace, r.name))
            .collect();
        assert_eq!(
            refs,
            [
                ("ConfigMap", "apps", "ca-bundle"),
                ("Secret", "apps", "client"),
                ("Secret", "apps", "creds"),
                ("Secret", "apps", "oauth"),
            ]
            .map(|(k, n, m)| (k.to_owned(), n.to_owned(), m.to_owned()))
        );
    }

    #[test]
    fn a_relist_replaces_what_was_known() {
        let object = |name: &str| serde_json::json!({"metadata": {"name": name, "namespace": "a"}});
        let mut store = KindStore::default();
        store.apply(Event::Apply(object("old")));
        store.apply(Event::Init);
        store.apply(Event::InitApply(object("new")));
        assert!(
            store.objects.contains_key(&("a".into(), "old".into())),
            "kept until done"
        );
        store.apply(Event::InitDone);
        assert!(store.synced);
        let names: Vec<&str> = store.objects.keys().map(|k| k.1.as_str()).collect();
        assert_eq!(names, ["new"]);
        store.apply(Event::Delete(object("new")));
        assert!(store.objects.is_empty());
    }
}
