//! An in-process Kubernetes API server for tests (a dev-dependency only:
//! nothing that ships links it).
//!
//! It serves the real Kubernetes JSON (objects serialized from k8s-openapi
//! types, `<Kind>List`s, newline-delimited watch events) over HTTP on a real
//! 127.0.0.1 socket, so the code under test talks to it through an
//! unmodified [`kube::Client`]: lists with label and field selectors, watches
//! with bookmarks and 410 Gone, optimistic concurrency through
//! `resourceVersion`, the StatefulSet `scale` subresource, and injected
//! faults. No controllers run inside: tests create and delete objects
//! themselves, and read back every request the client made as the RBAC
//! verb, group and resource it needs.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_openapi::api::core::v1::Pod;
//! use kube::api::{Api, ListParams, ObjectMeta};
//! use promshard_fake_kube::FakeApiServer;
//!
//! let server = FakeApiServer::start().await?;
//! server.upsert(&Pod {
//!     metadata: ObjectMeta {
//!         name: Some("web-0".into()),
//!         namespace: Some("default".into()),
//!         ..ObjectMeta::default()
//!     },
//!     ..Pod::default()
//! });
//! let pods: Api<Pod> = Api::default_namespaced(server.client());
//! let list = pods.list(&ListParams::default()).await?;
//! assert_eq!(list.items.len(), 1);
//! let request = &server.requests()[0];
//! assert_eq!((request.verb.as_str(), request.resource.as_str()), ("list", "pods"));
//! # Ok(())
//! # }
//! ```

mod client;
mod handler;
mod kinds;
mod patch;
mod route;
mod selector;
mod status;
mod store;
mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use promshard_k8s::rbac::{self, Rule, Scope};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use store::{KindInfo, ObjectKey, ResourceType, Store};

/// At most this many requests are kept for [`FakeApiServer::requests`];
/// older ones are dropped first.
const REQUEST_LOG_LIMIT: usize = 100_000;

/// A running in-process API server. Dropping it stops the server and ends
/// every open watch.
pub struct FakeApiServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Makes the next `times` requests whose method is `method` and whose path
/// contains `path_contains` fail with `status` and a real `metav1.Status`
/// body (409 -> reason `Conflict`, 410 -> `Expired`, 500 -> `InternalError` ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub method: http::Method,
    pub path_contains: String,
    pub status: u16,
    pub times: usize,
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    pub method: http::Method,
    pub path: String,
    /// The raw (still percent-encoded) query string; see [`ApiRequest::query_param`].
    pub query: String,
    /// The body, when it was JSON (or YAML for server-side apply).
    pub body: Option<serde_json::Value>,
    /// As RBAC names it: get, list, watch, create, update, patch, delete,
    /// deletecollection; `get` for non-resource paths such as `/version`.
    pub verb: String,
    /// `""` for the core group.
    pub api_group: String,
    /// Plural, with `/scale` etc. for subresources; empty for non-resource paths.
    pub resource: String,
    pub namespace: Option<String>,
}

impl ApiRequest {
    /// The decoded value of query parameter `key`.
    pub fn query_param(&self, key: &str) -> Option<String> {
        route::Query::parse(&self.query).get(key).map(str::to_owned)
    }

    /// The RBAC scope this request needs: namespaced when it names a namespace.
    pub fn scope(&self) -> Scope {
        if self.namespace.is_some() {
            Scope::Namespace
        } else {
            Scope::Cluster
        }
    }

    /// Whether [`rbac::COORDINATOR_RULES`] grant this request.
    pub fn is_granted(&self) -> bool {
        rbac::is_granted(&self.api_group, &self.resource, &self.verb, self.scope())
    }

    /// Whether `rules` grant this request.
    pub fn is_granted_by(&self, rules: &[Rule]) -> bool {
        rbac::is_granted_by(
            rules,
            &self.api_group,
            &self.resource,
            &self.verb,
            self.scope(),
        )
    }
}

/// What watches wait on: every change of the store, bookmark and expiry
/// request, and shutdown bumps it.
#[derive(Debug, Clone, Copy, Default)]
struct Signal {
    resource_version: u64,
    bookmarks: u64,
    expiries: u64,
    closed: bool,
}

/// State shared by the server's connections and the test's handle.
#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    requests: Mutex<Vec<ApiRequest>>,
    faults: Mutex<Vec<Fault>>,
    signal: tokio::sync::watch::Sender<Signal>,
}

impl Shared {
    fn new() -> Self {
        Self {
            store: Mutex::new(Store::default()),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            signal: tokio::sync::watch::Sender::new(Signal::default()),
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes watches after the store changed.
    fn notify_changed(&self) {
        let resource_version = self.store().resource_version();
        self.signal
            .send_modify(|signal| signal.resource_version = resource_version);
    }

    fn record(&self, request: ApiRequest) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        if requests.len() >= REQUEST_LOG_LIMIT {
            requests.remove(0);
        }
        requests.push(request);
    }

    /// The status to fail this request with, consuming one use of the fault.
    fn take_fault(&self, method: &http::Method, path: &str) -> Option<u16> {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let index = faults.iter().position(|fault| {
            fault.times > 0 && fault.method == method && path.contains(&fault.path_contains)
        })?;
        let status = faults[index].status;
        faults[index].times -= 1;
        if faults[index].times == 0 {
            faults.remove(index);
        }
        Some(status)
    }
}

impl FakeApiServer {
    /// Binds 127.0.0.1 on an ephemeral port and serves until dropped.
    pub async fn start() -> std::io::Result<FakeApiServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::new());
        let accept_loop = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Ok(FakeApiServer {
            address,
            shared,
            accept_loop,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A client talking to this server, with default namespace `default`.
    /// Needs a tokio runtime (the client spawns its request buffer).
    pub fn client(&self) -> kube::Client {
        client::loopback_client(self.address, "default")
    }

    /// Creates or replaces `obj`, stamping a new resourceVersion (returned)
    /// and emitting ADDED or MODIFIED to watches. A namespaced built-in type
    /// without `metadata.namespace` lands in `default`.
    pub fn upsert<K>(&self, obj: &K) -> String
    where
        K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + serde::Serialize,
    {
        let resource = resource_of::<K>();
        let mut value = match serde_json::to_value(obj) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) | Err(_) => {
                tracing::error!(
                    kind = K::KIND,
                    "fake API server: object did not serialize to a JSON object"
                );
                return String::new();
            }
        };
        value["apiVersion"] = Value::String(K::API_VERSION.to_owned());
        value["kind"] = Value::String(K::KIND.to_owned());
        let metadata = obj.metadata();
        let name = metadata.name.clone().unwrap_or_default();
        let resource_version = {
            let mut store = self.shared.store();
            let namespaced = store
                .kind_of(&resource)
                .map_or(metadata.namespace.is_some(), |info| info.namespaced);
            let namespace = match (&metadata.namespace, namespaced) {
                (Some(namespace), _) => Some(namespace.clone()),
                (None, true) => Some("default".to_owned()),
                (None, false) => None,
            };
            store.learn_kind(
                &resource,
                KindInfo {
                    kind: K::KIND.to_owned(),
                    namespaced,
                },
            );
            store.put(&resource, &ObjectKey { namespace, name }, value, true);
            store.resource_version()
        };
        self.shared.notify_changed();
        resource_version.to_string()
    }

    /// Makes a custom resource known (its CRD installed): lists of it are
    /// empty rather than of an unknown kind.
    pub fn install(&self, resource: &CustomResource) {
        let resource_type = ResourceType::new(resource.group, resource.version, resource.plural);
        self.shared.store().learn_kind(
            &resource_type,
            KindInfo {
                kind: resource.kind.to_owned(),
                namespaced: resource.namespaced,
            },
        );
    }

    /// Creates or replaces an object of a resource with no Rust type here
    /// (a custom resource such as a `ServiceMonitor`), given as the JSON the
    /// API server stores: its `apiVersion` and `kind` are set from
    /// `resource`. Emits ADDED or MODIFIED; returns the new resourceVersion.
    pub fn upsert_json(&self, resource: &CustomResource, mut value: Value) -> String {
        let Value::Object(_) = value else {
            tracing::error!(
                kind = resource.kind,
                "fake API server: object is not a JSON object"
            );
            return String::new();
        };
        let resource_type = ResourceType::new(resource.group, resource.version, resource.plural);
        value["apiVersion"] = Value::String(resource_type.api_version());
        value["kind"] = Value::String(resource.kind.to_owned());
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let namespace = resource.namespaced.then(|| {
            value["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned()
        });
        let resource_version = {
            let mut store = self.shared.store();
            store.learn_kind(
                &resource_type,
                KindInfo {
                    kind: resource.kind.to_owned(),
                    namespaced: resource.namespaced,
                },
            );
            store.put(&resource_type, &ObjectKey { namespace, name }, value, true);
            store.resource_version()
        };
        self.shared.notify_changed();
        resource_version.to_string()
    }

    /// Deletes an object of a custom resource, emitting DELETED. Returns
    /// whether it existed.
    pub fn remove_json(
        &self,
        resource: &CustomResource,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let key = ObjectKey {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        };
        let resource_type = ResourceType::new(resource.group, resource.version, resource.plural);
        let existed = self.shared.store().delete(&resource_type, &key).is_some();
        if existed {
            self.shared.notify_changed();
        }
        existed
    }

    /// Deletes the object, emitting DELETED. Returns whether it existed.
    pub fn remove<K: k8s_openapi::Resource>(&self, namespace: Option<&str>, name: &str) -> bool {
        let key = ObjectKey {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        };
        let existed = self
            .shared
            .store()
            .delete(&resource_of::<K>(), &key)
            .is_some();
        if existed {
            self.shared.notify_changed();
        }
        existed
    }

    /// The stored object, as the server would return it.
    pub fn object<K: k8s_openapi::Resource + serde::de::DeserializeOwned>(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<K> {
        let key = ObjectKey {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        };
        let value = self
            .shared
            .store()
            .get(&resource_of::<K>(), &key)
            .cloned()?;
        match serde_json::from_value(value) {
            Ok(object) => Some(object),
            Err(error) => {
                tracing::error!(kind = K::KIND, %error, "fake API server: stored object does not deserialize");
                None
            }
        }
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> String {
        self.shared.store().resource_version().to_string()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Fails the next matching requests; see [`Fault`].
    pub fn inject(&self, fault: Fault) {
        if fault.times == 0 {
            return;
        }
        self.shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(fault);
    }

    /// Drops every injected fault not used up yet.
    pub fn clear_faults(&self) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Ends every open watch with an ERROR event carrying a 410 Status, and
    /// answers watches from an older resourceVersion with 410 from now on
    /// (which makes watchers re-list).
    pub fn expire_watches(&self) {
        self.shared.store().expire();
        self.shared
            .signal
            .send_modify(|signal| signal.expiries += 1);
    }

    /// Sends a BOOKMARK (current resourceVersion) to every open watch that
    /// set `allowWatchBookmarks`.
    pub fn bookmark(&self) {
        self.shared
            .signal
            .send_modify(|signal| signal.bookmarks += 1);
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.shared
            .signal
            .send_modify(|signal| signal.closed = true);
    }
}

/// A resource the server has no Rust type for (a CRD's), named as its
/// REST paths name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomResource {
    /// API group (`monitoring.coreos.com`).
    pub group: &'static str,
    /// Version (`v1`).
    pub version: &'static str,
    /// Plural (`servicemonitors`).
    pub plural: &'static str,
    /// Kind (`ServiceMonitor`).
    pub kind: &'static str,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
}

fn resource_of<K: k8s_openapi::Resource>() -> ResourceType {
    ResourceType::new(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT)
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            Err(error) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(%error, "fake API server: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let mut signal = shared.signal.subscribe();
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, std::convert::Infallible>(handler::handle(shared, request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new());
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "fake API server: connection ended");
            }
        }
        () = wait_closed(&mut signal) => {
            connection.as_mut().graceful_shutdown();
            let _ended = connection.await;
        }
    }
}

async fn wait_closed(signal: &mut tokio::sync::watch::Receiver<Signal>) {
    loop {
        if signal.borrow_and_update().closed {
            return;
        }
        if signal.changed().await.is_err() {
            return;
        }
    }
}
