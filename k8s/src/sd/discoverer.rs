//! The [`Discoverer`] of one `kubernetes_sd_configs` entry: kube-runtime
//! watchers (list, then watch with bookmarks, re-list after 410) per kind and
//! namespace, feeding an [`Engine`] that sends only the groups an event
//! changed.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{Stream, StreamExt, select_all};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use promshard_config::ScrapeConfig;
use promshard_config::TargetGroup;
use promshard_config::discovery::{
    BoxFuture, Discoverer, DiscoveryManager, ProviderFactory, ProviderMessage, ProviderSender,
    SdError,
};
use serde::de::DeserializeOwned;

use super::client::InCluster;
use super::config::{CONFIG_KEY, KubernetesSdConfig};
use super::engine::{Engine, Kind, WatchEvent};
use super::objects::KubeObject;
use super::roles::Role;

/// How long to wait before building a client again after it failed.
const CLIENT_RETRY: Duration = Duration::from_secs(10);

/// One `kubernetes_sd_configs` entry as a provider.
#[derive(Clone)]
pub struct KubernetesDiscoverer {
    name: String,
    config: KubernetesSdConfig,
    in_cluster: InCluster,
    client: Option<kube::Client>,
    watch_timeout: Option<u32>,
}

impl std::fmt::Debug for KubernetesDiscoverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesDiscoverer")
            .field("name", &self.name)
            .field("role", &self.config.role)
            .finish_non_exhaustive()
    }
}

type EventStream = Pin<Box<dyn Stream<Item = (usize, Result<WatchEvent, String>)> + Send>>;

fn convert<K: Into<KubeObject>>(event: Event<K>) -> WatchEvent {
    match event {
        Event::Apply(o) => WatchEvent::Apply(o.into()),
        Event::Delete(o) => WatchEvent::Delete(o.into()),
        Event::Init => WatchEvent::Init,
        Event::InitApply(o) => WatchEvent::InitApply(o.into()),
        Event::InitDone => WatchEvent::InitDone,
    }
}

macro_rules! into_object {
    ($($ty:ident => $variant:ident),*) => {$(
        impl From<$ty> for KubeObject {
            fn from(o: $ty) -> Self {
                KubeObject::$variant(Box::new(o))
            }
        }
    )*};
}
into_object!(Pod => Pod, Service => Service, Endpoints => Endpoints,
    EndpointSlice => EndpointSlice, Ingress => Ingress, Node => Node, Namespace => Namespace);

fn watch_stream<K>(api: Api<K>, config: watcher::Config, id: usize) -> EventStream
where
    K: kube::Resource
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static
        + Into<KubeObject>,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    Box::pin(
        watcher::watcher(api, config)
            .default_backoff()
            .map(move |r| (id, r.map(convert).map_err(|e| e.to_string()))),
    )
}

/// `K`s in `namespace`, or in every namespace for `None`.
fn namespaced<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The kinds a role watches besides its own (lookups for labels).
fn kinds_for(role: Role, config: &KubernetesSdConfig) -> Vec<Kind> {
    let mut kinds = vec![Kind::main_of(role)];
    match role {
        Role::Endpoints | Role::EndpointSlice => kinds.extend([Kind::Service, Kind::Pod]),
        Role::Node | Role::Service | Role::Pod | Role::Ingress => {}
    }
    let attach = config.attach_metadata;
    if attach.node && matches!(role, Role::Pod | Role::Endpoints | Role::EndpointSlice) {
        kinds.push(Kind::Node);
    }
    if attach.namespace && role != Role::Node {
        kinds.push(Kind::Namespace);
    }
    kinds
}

fn selector_role(kind: Kind) -> Option<Role> {
    match kind {
        Kind::Pod => Some(Role::Pod),
        Kind::Service => Some(Role::Service),
        Kind::Endpoints => Some(Role::Endpoints),
        Kind::EndpointSlice => Some(Role::EndpointSlice),
        Kind::Ingress => Some(Role::Ingress),
        Kind::Node => Some(Role::Node),
        Kind::Namespace => None,
    }
}

impl KubernetesDiscoverer {
    /// A provider named `name` (e.g. `kubernetes_sd_configs[0]`); the API
    /// client is built from `config` when it runs.
    pub fn new(name: String, config: KubernetesSdConfig) -> Self {
        Self {
            name,
            config,
            in_cluster: InCluster::from_env(),
            client: None,
            watch_timeout: None,
        }
    }

    /// Uses `client` instead of building one from the config.
    pub fn with_client(mut self, client: kube::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Takes in-cluster settings from `in_cluster` instead of the process.
    pub fn with_in_cluster(mut self, in_cluster: InCluster) -> Self {
        self.in_cluster = in_cluster;
        self
    }

    /// Ends each watch request after `seconds` (the server's default
    /// otherwise); watches resume from the last resourceVersion seen.
    pub fn with_watch_timeout(mut self, seconds: u32) -> Self {
        self.watch_timeout = Some(seconds);
        self
    }

    fn error(&self, message: impl Into<String>) -> SdError {
        SdError {
            provider: self.name.clone(),
            message: message.into(),
        }
    }

    async fn client(&self) -> Result<kube::Client, String> {
        match &self.client {
            Some(client) => Ok(client.clone()),
            None => self.config.client(&self.in_cluster).await,
        }
    }

    /// The watches of this entry, and the engine that knows their scopes.
    fn watches(&self, client: &kube::Client) -> Result<(Engine, Vec<EventStream>), String> {
        let namespaces = self.config.watched_namespaces(&self.in_cluster)?;
        let scopes: Vec<Option<String>> = match &namespaces {
            None => vec![None],
            Some(names) => names.iter().cloned().map(Some).collect(),
        };
        let mut specs: Vec<(Kind, Option<String>)> = Vec::new();
        for kind in kinds_for(self.config.role, &self.config) {
            if kind.namespaced() {
                specs.extend(scopes.iter().map(|ns| (kind, ns.clone())));
            } else {
                specs.push((kind, None));
            }
        }
        let mut streams = Vec::with_capacity(specs.len());
        for (id, (kind, namespace)) in specs.iter().enumerate() {
            let mut config = watcher::Config::default();
            if let Some(selector) = selector_role(*kind).and_then(|r| self.config.selector(r)) {
                if !selector.label.is_empty() {
                    config = config.labels(&selector.label);
                }
                if !selector.field.is_empty() {
                    config = config.fields(&selector.field);
                }
            }
            if let Some(timeout) = self.watch_timeout {
                config = config.timeout(timeout);
            }
            let ns = namespace.as_deref();
            streams.push(match kind {
                Kind::Pod => watch_stream(namespaced::<Pod>(client, ns), config, id),
                Kind::Service => watch_stream(namespaced::<Service>(client, ns), config, id),
                Kind::Endpoints => watch_stream(namespaced::<Endpoints>(client, ns), config, id),
                Kind::EndpointSlice => {
                    watch_stream(namespaced::<EndpointSlice>(client, ns), config, id)
                }
                Kind::Ingress => watch_stream(namespaced::<Ingress>(client, ns), config, id),
                Kind::Node => watch_stream(Api::<Node>::all(client.clone()), config, id),
                Kind::Namespace => watch_stream(Api::<Namespace>::all(client.clone()), config, id),
            });
        }
        let engine = Engine::new(self.config.role, self.config.attach_metadata, &specs);
        Ok((engine, streams))
    }

    /// Lists everything once (through the same watchers) and returns the
    /// groups; the first error ends it.
    async fn list_once(&self) -> Result<Vec<TargetGroup>, String> {
        let client = self.client().await?;
        let (mut engine, streams) = self.watches(&client)?;
        let mut events = select_all(streams);
        while !engine.synced() {
            match events.next().await {
                Some((id, Ok(event))) => {
                    engine.handle(id, event);
                }
                Some((_, Err(e))) => return Err(e),
                None => return Err("watch streams ended".into()),
            }
        }
        Ok(engine.snapshot())
    }

    /// Watches until `tx` closes. Returns `false` when the client could not
    /// be built (the caller retries).
    async fn watch(&self, tx: &ProviderSender) -> bool {
        let watches = match self.client().await {
            Ok(client) => self.watches(&client),
            Err(e) => Err(e),
        };
        let (mut engine, streams) = match watches {
            Ok(w) => w,
            Err(e) => {
                let _ = tx.send(ProviderMessage::Error(e)).await;
                return false;
            }
        };
        let mut events = select_all(streams);
        let mut sent_snapshot = false;
        loop {
            let next = tokio::select! {
                next = events.next() => next,
                () = tx.closed() => return true,
            };
            let message = match next {
                None => return true,
                Some((_, Err(e))) => {
                    tracing::warn!(provider = %self.name, error = %e, "kubernetes watch failed; retrying");
                    ProviderMessage::Error(e)
                }
                Some((id, Ok(event))) => {
                    let affected: BTreeSet<_> = engine.handle(id, event);
                    if !engine.synced() {
                        continue;
                    }
                    if !sent_snapshot {
                        sent_snapshot = true;
                        ProviderMessage::Snapshot(engine.snapshot())
                    } else {
                        let groups = engine.changed_groups(&affected);
                        if groups.is_empty() {
                            continue;
                        }
                        ProviderMessage::Update(groups)
                    }
                }
            };
            if tx.send(message).await.is_err() {
                return true;
            }
        }
    }
}

impl Discoverer for KubernetesDiscoverer {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Vec<TargetGroup>, SdError>> {
        Box::pin(async move { self.list_once().await.map_err(|e| self.error(e)) })
    }

    fn run(self: Arc<Self>, tx: ProviderSender) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            while !self.watch(&tx).await {
                tokio::select! {
                    () = tokio::time::sleep(CLIENT_RETRY) => {}
                    () = tx.closed() => return,
                }
            }
        })
    }
}

/// Makes the providers of a job's `kubernetes_sd_configs` list.
pub fn factory() -> ProviderFactory {
    factory_with(None)
}

/// Like [`factory`], but entries that name no cluster (neither
/// `api_server` nor `kubeconfig_file`, which Prometheus answers with the
/// pod's service account) use `client`: the coordinator's own, from
/// `--kubeconfig` or in-cluster, so that the jobs prometheus-operator
/// generates (which name no cluster) discover through the cluster the
/// coordinator watches.
pub fn factory_with(client: Option<kube::Client>) -> ProviderFactory {
    Arc::new(move |job: &ScrapeConfig, value: &serde_yaml_ng::Value| {
        let configs =
            KubernetesSdConfig::parse_list(value, CONFIG_KEY, &job.base_dir).map_err(|e| {
                SdError {
                    provider: CONFIG_KEY.to_owned(),
                    message: e.to_string(),
                }
            })?;
        Ok(configs
            .into_iter()
            .enumerate()
            .map(|(i, config)| {
                let names_no_cluster =
                    config.api_server.is_none() && config.kubeconfig_file.is_none();
                let mut discoverer =
                    KubernetesDiscoverer::new(format!("{CONFIG_KEY}[{i}]"), config);
                if let Some(client) = client.as_ref().filter(|_| names_no_cluster) {
                    discoverer = discoverer.with_client(client.clone());
                }
                Arc::new(discoverer) as Arc<dyn Discoverer>
            })
            .collect())
    })
}

/// Registers `kubernetes_sd_configs` with `manager`.
///
/// ```
/// use promshard_config::discovery::DiscoveryManager;
/// let mut manager = DiscoveryManager::new();
/// promshard_k8s::sd::register(&mut manager);
/// assert!(format!("{manager:?}").contains("kubernetes_sd_configs"));
/// ```
pub fn register(manager: &mut DiscoveryManager) {
    manager.register(CONFIG_KEY, factory());
}

/// Registers `kubernetes_sd_configs` with `manager`, entries that name no
/// cluster discovering through `client` (see [`factory_with`]).
pub fn register_with_client(manager: &mut DiscoveryManager, client: kube::Client) {
    manager.register(CONFIG_KEY, factory_with(Some(client)));
}
