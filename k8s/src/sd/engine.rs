//! The state behind one `kubernetes_sd_configs` entry: the objects its
//! watches delivered, which target groups depend on which objects, and what
//! was last sent for each group.
//!
//! An event touches one object; the engine answers with the keys of the
//! groups that object feeds (the object's own group for the role's kind; the
//! dependent endpoints/endpointslice/pod groups for a pod, service, node or
//! namespace), so one change among thousands of objects rebuilds one group.
//! A re-list (after a 410 or a reconnect) is diffed against what was stored:
//! unchanged objects (same resourceVersion) rebuild nothing, vanished ones
//! count as deleted.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use promshard_config::TargetGroup;

use super::objects::{KubeObject, ObjectIndex, ObjectKey, key_of};
use super::roles::{
    AttachMetadata, Context, Role, endpoint_slice_group, endpoint_slice_service,
    endpoint_slice_source, endpoints_group, endpoints_source, ingress_group, ingress_source,
    node_group, node_source, pod_group, pod_source, service_group, service_source,
};

/// A kind of object discovery watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `pods`.
    Pod,
    /// `services`.
    Service,
    /// `endpoints`.
    Endpoints,
    /// `endpointslices` (`discovery.k8s.io`).
    EndpointSlice,
    /// `ingresses` (`networking.k8s.io`).
    Ingress,
    /// `nodes`.
    Node,
    /// `namespaces`.
    Namespace,
}

impl Kind {
    /// The kind whose objects make the groups of `role`.
    pub fn main_of(role: Role) -> Kind {
        match role {
            Role::Node => Kind::Node,
            Role::Service => Kind::Service,
            Role::Pod => Kind::Pod,
            Role::Endpoints => Kind::Endpoints,
            Role::EndpointSlice => Kind::EndpointSlice,
            Role::Ingress => Kind::Ingress,
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Node | Kind::Namespace)
    }
}

impl KubeObject {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            KubeObject::Pod(_) => Kind::Pod,
            KubeObject::Service(_) => Kind::Service,
            KubeObject::Endpoints(_) => Kind::Endpoints,
            KubeObject::EndpointSlice(_) => Kind::EndpointSlice,
            KubeObject::Ingress(_) => Kind::Ingress,
            KubeObject::Node(_) => Kind::Node,
            KubeObject::Namespace(_) => Kind::Namespace,
        }
    }

    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            KubeObject::Pod(o) => &o.metadata,
            KubeObject::Service(o) => &o.metadata,
            KubeObject::Endpoints(o) => &o.metadata,
            KubeObject::EndpointSlice(o) => &o.metadata,
            KubeObject::Ingress(o) => &o.metadata,
            KubeObject::Node(o) => &o.metadata,
            KubeObject::Namespace(o) => &o.metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            KubeObject::Pod(o) => &mut o.metadata,
            KubeObject::Service(o) => &mut o.metadata,
            KubeObject::Endpoints(o) => &mut o.metadata,
            KubeObject::EndpointSlice(o) => &mut o.metadata,
            KubeObject::Ingress(o) => &mut o.metadata,
            KubeObject::Node(o) => &mut o.metadata,
            KubeObject::Namespace(o) => &mut o.metadata,
        }
    }

    /// `(namespace, name)`; the namespace is empty for cluster objects.
    pub fn key(&self) -> ObjectKey {
        key_of(self.meta())
    }
}

/// An object another group depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Dependency {
    Pod(ObjectKey),
    Service(ObjectKey),
    Node(String),
    Namespace(String),
}

/// One watch's re-list in progress.
#[derive(Debug, Default)]
struct WatchState {
    kind: Option<Kind>,
    namespace: Option<String>,
    synced: bool,
    relisting: Option<Vec<KubeObject>>,
}

/// What a watch delivered.
#[derive(Debug)]
pub enum WatchEvent {
    /// Added or modified.
    Apply(KubeObject),
    /// Deleted.
    Delete(KubeObject),
    /// A (re-)list starts.
    Init,
    /// An object of the list.
    InitApply(KubeObject),
    /// The list is complete: anything not in it is gone.
    InitDone,
}

/// Objects, dependencies and last-sent groups of one SD config entry.
#[derive(Debug)]
pub struct Engine {
    role: Role,
    attach: AttachMetadata,
    index: ObjectIndex,
    watches: Vec<WatchState>,
    depends_on: HashMap<ObjectKey, Vec<Dependency>>,
    dependents: HashMap<Dependency, BTreeSet<ObjectKey>>,
    sent: HashMap<String, u64>,
}

fn group_hash(group: &TargetGroup) -> u64 {
    let mut hasher = DefaultHasher::new();
    group.labels.hash(&mut hasher);
    group.targets.hash(&mut hasher);
    hasher.finish()
}

impl Engine {
    /// An engine for `role`; `watches` lists the kind and namespace scope
    /// (`None`: every namespace) of each watch, by watch id.
    pub fn new(role: Role, attach: AttachMetadata, watches: &[(Kind, Option<String>)]) -> Self {
        Self {
            role,
            attach,
            index: ObjectIndex::new(),
            watches: watches
                .iter()
                .map(|(kind, namespace)| WatchState {
                    kind: Some(*kind),
                    namespace: namespace.clone(),
                    ..WatchState::default()
                })
                .collect(),
            depends_on: HashMap::new(),
            dependents: HashMap::new(),
            sent: HashMap::new(),
        }
    }

    /// Whether every watch has completed its first list.
    pub fn synced(&self) -> bool {
        self.watches.iter().all(|w| w.synced)
    }

    /// Applies what watch `watch` delivered; returns the groups to rebuild.
    pub fn handle(&mut self, watch: usize, event: WatchEvent) -> BTreeSet<ObjectKey> {
        let mut affected = BTreeSet::new();
        match event {
            WatchEvent::Apply(object) => self.apply(object, &mut affected),
            WatchEvent::Delete(object) => self.delete(object.kind(), &object.key(), &mut affected),
            WatchEvent::Init => {
                if let Some(w) = self.watches.get_mut(watch) {
                    w.relisting = Some(Vec::new());
                }
            }
            WatchEvent::InitApply(object) => match self.watches.get_mut(watch) {
                Some(WatchState {
                    relisting: Some(buffer),
                    ..
                }) => buffer.push(object),
                _ => self.apply(object, &mut affected),
            },
            WatchEvent::InitDone => {
                let Some(w) = self.watches.get_mut(watch) else {
                    return affected;
                };
                w.synced = true;
                let listed = w.relisting.take().unwrap_or_default();
                let (kind, namespace) = (w.kind, w.namespace.clone());
                if let Some(kind) = kind {
                    let listed_keys: BTreeSet<ObjectKey> =
                        listed.iter().map(KubeObject::key).collect();
                    for key in self.keys_in_scope(kind, namespace.as_deref()) {
                        if !listed_keys.contains(&key) {
                            self.delete(kind, &key, &mut affected);
                        }
                    }
                }
                for object in listed {
                    self.apply(object, &mut affected);
                }
            }
        }
        affected
    }

    fn keys_in_scope(&self, kind: Kind, namespace: Option<&str>) -> Vec<ObjectKey> {
        fn scoped<V>(
            map: &std::collections::BTreeMap<ObjectKey, V>,
            namespace: Option<&str>,
        ) -> Vec<ObjectKey> {
            map.keys()
                .filter(|(ns, _)| namespace.is_none_or(|n| n == ns))
                .cloned()
                .collect()
        }
        let index = &self.index;
        match kind {
            Kind::Pod => scoped(&index.pods, namespace),
            Kind::Service => scoped(&index.services, namespace),
            Kind::Endpoints => scoped(&index.endpoints, namespace),
            Kind::EndpointSlice => scoped(&index.endpoint_slices, namespace),
            Kind::Ingress => scoped(&index.ingresses, namespace),
            Kind::Node => index
                .nodes
                .keys()
                .map(|n| (String::new(), n.clone()))
                .collect(),
            Kind::Namespace => index
                .namespaces
                .keys()
                .map(|n| (String::new(), n.clone()))
                .collect(),
        }
    }

    fn stored_meta(&self, kind: Kind, key: &ObjectKey) -> Option<&ObjectMeta> {
        let index = &self.index;
        match kind {
            Kind::Pod => index.pods.get(key).map(|o| &o.metadata),
            Kind::Service => index.services.get(key).map(|o| &o.metadata),
            Kind::Endpoints => index.endpoints.get(key).map(|o| &o.metadata),
            Kind::EndpointSlice => index.endpoint_slices.get(key).map(|o| &o.metadata),
            Kind::Ingress => index.ingresses.get(key).map(|o| &o.metadata),
            Kind::Node => index.nodes.get(&key.1).map(|o| &o.metadata),
            Kind::Namespace => index.namespaces.get(&key.1).map(|o| &o.metadata),
        }
    }

    fn remove_stored(&mut self, kind: Kind, key: &ObjectKey) -> bool {
        let index = &mut self.index;
        match kind {
            Kind::Pod => index.pods.remove(key).is_some(),
            Kind::Service => index.services.remove(key).is_some(),
            Kind::Endpoints => index.endpoints.remove(key).is_some(),
            Kind::EndpointSlice => index.endpoint_slices.remove(key).is_some(),
            Kind::Ingress => index.ingresses.remove(key).is_some(),
            Kind::Node => index.nodes.remove(&key.1).is_some(),
            Kind::Namespace => index.namespaces.remove(&key.1).is_some(),
        }
    }

    fn touched(&self, kind: Kind, key: &ObjectKey, affected: &mut BTreeSet<ObjectKey>) {
        if kind == Kind::main_of(self.role) {
            affected.insert(key.clone());
            return;
        }
        let dependency = match kind {
            Kind::Pod => Dependency::Pod(key.clone()),
            Kind::Service => Dependency::Service(key.clone()),
            Kind::Node => Dependency::Node(key.1.clone()),
            Kind::Namespace => Dependency::Namespace(key.1.clone()),
            Kind::Endpoints | Kind::EndpointSlice | Kind::Ingress => return,
        };
        if let Some(keys) = self.dependents.get(&dependency) {
            affected.extend(keys.iter().cloned());
        }
    }

    fn apply(&mut self, mut object: KubeObject, affected: &mut BTreeSet<ObjectKey>) {
        let kind = object.kind();
        let key = object.key();
        if let Some(stored) = self.stored_meta(kind, &key)
            && stored.resource_version.is_some()
            && stored.resource_version == object.meta().resource_version
        {
            return;
        }
        // Field ownership records are often the largest part of an object
        // and never feed a label.
        object.meta_mut().managed_fields = None;
        self.index.insert(object);
        self.touched(kind, &key, affected);
    }

    fn delete(&mut self, kind: Kind, key: &ObjectKey, affected: &mut BTreeSet<ObjectKey>) {
        if self.remove_stored(kind, key) || kind == Kind::main_of(self.role) {
            self.touched(kind, key, affected);
        }
    }

    fn source(&self, key: &ObjectKey) -> String {
        let (namespace, name) = (key.0.as_str(), key.1.as_str());
        match self.role {
            Role::Node => node_source(name),
            Role::Service => service_source(namespace, name),
            Role::Pod => pod_source(namespace, name),
            Role::Endpoints => endpoints_source(namespace, name),
            Role::EndpointSlice => endpoint_slice_source(namespace, name),
            Role::Ingress => ingress_source(namespace, name),
        }
    }

    /// The dependencies of the main object at `key`, from the object itself.
    fn dependencies(&self, key: &ObjectKey) -> Vec<Dependency> {
        let mut out = Vec::new();
        let namespace = || Dependency::Namespace(key.0.clone());
        let pod_ref = |r: &k8s_openapi::api::core::v1::ObjectReference| {
            (r.kind.as_deref() == Some("Pod")).then(|| {
                Dependency::Pod((
                    r.namespace.clone().unwrap_or_default(),
                    r.name.clone().unwrap_or_default(),
                ))
            })
        };
        let node_ref = |r: Option<&k8s_openapi::api::core::v1::ObjectReference>| {
            r.filter(|r| r.kind.as_deref() == Some("Node"))
                .and_then(|r| r.name.clone())
        };
        match self.role {
            Role::Node => {}
            Role::Service | Role::Ingress => {
                if self.attach.namespace {
                    out.push(namespace());
                }
            }
            Role::Pod => {
                if let Some(pod) = self.index.pods.get(key) {
                    if self.attach.node {
                        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
                        out.push(Dependency::Node(node.unwrap_or_default()));
                    }
                    if self.attach.namespace {
                        out.push(namespace());
                    }
                }
            }
            Role::Endpoints => {
                if let Some(endpoints) = self.index.endpoints.get(key) {
                    out.push(Dependency::Service(key.clone()));
                    for subset in endpoints.subsets.iter().flatten() {
                        let addresses = subset.addresses.iter().flatten();
                        let not_ready = subset.not_ready_addresses.iter().flatten();
                        for address in addresses.chain(not_ready) {
                            out.extend(address.target_ref.as_ref().and_then(pod_ref));
                            if self.attach.node {
                                let node = address
                                    .node_name
                                    .clone()
                                    .or_else(|| node_ref(address.target_ref.as_ref()));
                                out.extend(node.map(Dependency::Node));
                            }
                        }
                    }
                    if self.attach.namespace {
                        out.push(namespace());
                    }
                }
            }
            Role::EndpointSlice => {
                if let Some(slice) = self.index.endpoint_slices.get(key) {
                    if let Some(service) = endpoint_slice_service(slice) {
                        out.push(Dependency::Service((key.0.clone(), service.to_owned())));
                    }
                    for endpoint in slice.endpoints.iter().flatten() {
                        out.extend(endpoint.target_ref.as_ref().and_then(pod_ref));
                        if self.attach.node {
                            let node = node_ref(endpoint.target_ref.as_ref())
                                .or_else(|| endpoint.node_name.clone());
                            out.extend(node.map(Dependency::Node));
                        }
                    }
                    if self.attach.namespace {
                        out.push(namespace());
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn update_dependencies(&mut self, key: &ObjectKey) {
        let new = self.dependencies(key);
        let old = self.depends_on.remove(key).unwrap_or_default();
        for d in &old {
            if !new.contains(d)
                && let Some(keys) = self.dependents.get_mut(d)
            {
                keys.remove(key);
                if keys.is_empty() {
                    self.dependents.remove(d);
                }
            }
        }
        for d in &new {
            self.dependents
                .entry(d.clone())
                .or_default()
                .insert(key.clone());
        }
        if !new.is_empty() {
            self.depends_on.insert(key.clone(), new);
        }
    }

    /// The current group of the main object at `key`: its targets, or an
    /// empty group when it is gone. `None` when Prometheus would send
    /// nothing (a node without an address).
    fn build(&mut self, key: &ObjectKey) -> Option<TargetGroup> {
        self.update_dependencies(key);
        let ctx = Context {
            lookup: &self.index,
            attach: self.attach,
        };
        let index = &self.index;
        let empty = || TargetGroup {
            source: self.source(key),
            ..TargetGroup::default()
        };
        match self.role {
            Role::Node => match index.nodes.get(&key.1) {
                Some(node) => node_group(node),
                None => Some(empty()),
            },
            Role::Service => Some(
                index
                    .services
                    .get(key)
                    .map_or_else(empty, |o| service_group(o, &ctx)),
            ),
            Role::Pod => Some(
                index
                    .pods
                    .get(key)
                    .map_or_else(empty, |o| pod_group(o, &ctx)),
            ),
            Role::Endpoints => Some(
                index
                    .endpoints
                    .get(key)
                    .map_or_else(empty, |o| endpoints_group(o, &ctx)),
            ),
            Role::EndpointSlice => Some(
                index
                    .endpoint_slices
                    .get(key)
                    .map_or_else(empty, |o| endpoint_slice_group(o, &ctx)),
            ),
            Role::Ingress => Some(
                index
                    .ingresses
                    .get(key)
                    .map_or_else(empty, |o| ingress_group(o, &ctx)),
            ),
        }
    }

    /// The groups of `keys` that differ from what was last sent; a group
    /// whose object is gone (or has no targets) is sent once, empty.
    pub fn changed_groups(&mut self, keys: &BTreeSet<ObjectKey>) -> Vec<TargetGroup> {
        let mut out = Vec::new();
        for key in keys {
            let Some(group) = self.build(key) else {
                continue;
            };
            if group.targets.is_empty() {
                if self.sent.remove(&group.source).is_some() {
                    out.push(TargetGroup {
                        source: group.source,
                        ..TargetGroup::default()
                    });
                }
                continue;
            }
            let hash = group_hash(&group);
            if self.sent.get(&group.source) != Some(&hash) {
                self.sent.insert(group.source.clone(), hash);
                out.push(group);
            }
        }
        out
    }

    /// Every group, for the first complete view (and `refresh`); records
    /// them as sent.
    pub fn snapshot(&mut self) -> Vec<TargetGroup> {
        let keys: BTreeSet<ObjectKey> = self
            .keys_in_scope(Kind::main_of(self.role), None)
            .into_iter()
            .collect();
        self.sent.clear();
        let mut out = Vec::new();
        for key in &keys {
            if let Some(group) = self.build(key)
                && !group.targets.is_empty()
            {
                self.sent.insert(group.source.clone(), group_hash(&group));
                out.push(group);
            }
        }
        out
    }
}
