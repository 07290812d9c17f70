//! Kubernetes objects to target groups, role by role, with the labels
//! Prometheus's `discovery/kubernetes` gives them.
//!
//! Every builder is a pure function of the object and of what it looks up
//! (pods, services, nodes, namespaces) through [`Lookup`], so the same code
//! serves the watch engine and the fixture tests.
//!
//! ```
//! use k8s_openapi::api::core::v1::Node;
//! use promshard_k8s::sd::roles::node_group;
//! let node: Node = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "n1"},
//!     "status": {
//!         "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
//!         "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
//!     }
//! }))?;
//! let group = node_group(&node).expect("the node has an address");
//! assert_eq!(group.source, "node/n1");
//! assert_eq!(group.targets[0].get("__address__"), Some("10.0.0.1:10250"));
//! assert_eq!(group.targets[0].get("instance"), Some("n1"));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Endpoints, Node, ObjectReference, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use promshard_config::{LabelSet, TargetGroup};

use super::meta::{
    NAMESPACE_LABEL, PRESENT, add_namespace_meta, add_node_meta, add_object_meta, join_host_port,
    merge, name_of, sanitize_label_name,
};
use super::objects::{Lookup, ObjectIndex};

/// The kind of object a `kubernetes_sd_configs` entry turns into targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// One target per node (kubelet port).
    Node,
    /// One target per service port.
    Service,
    /// One target per container port (or container without ports).
    Pod,
    /// One target per endpoint address and port, plus unused pod ports.
    Endpoints,
    /// Like `Endpoints`, from `discovery.k8s.io/v1` endpoint slices.
    EndpointSlice,
    /// One target per ingress rule path.
    Ingress,
}

impl Role {
    /// Every role, in the order Prometheus's error messages list them.
    pub const ALL: [Role; 6] = [
        Role::Pod,
        Role::Service,
        Role::Endpoints,
        Role::EndpointSlice,
        Role::Node,
        Role::Ingress,
    ];

    /// The role's name in the config (`endpoints`, `endpointslice`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Service => "service",
            Role::Pod => "pod",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Ingress => "ingress",
        }
    }

    /// The role named `name`, if any.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `attach_metadata`: extra labels from the node a target runs on and from
/// its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttachMetadata {
    /// Node labels for pod, endpoints and endpointslice targets.
    pub node: bool,
    /// Namespace labels and annotations for namespaced roles.
    pub namespace: bool,
}

/// What a builder may look up, and what it should attach.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Pods, services, nodes, namespaces.
    pub lookup: &'a dyn Lookup,
    /// `attach_metadata`.
    pub attach: AttachMetadata,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("attach", &self.attach)
            .finish_non_exhaustive()
    }
}

const ADDRESS: &str = "__address__";

fn add_namespace_labels(labels: &mut LabelSet, ctx: &Context<'_>, namespace: &str) {
    if ctx.attach.namespace
        && let Some(ns) = ctx.lookup.namespace(namespace)
    {
        add_namespace_meta(labels, ns);
    }
}

fn add_node_labels(labels: &mut LabelSet, ctx: &Context<'_>, node_name: Option<&str>) {
    if let Some(name) = node_name
        && let Some(node) = ctx.lookup.node(name)
    {
        add_node_meta(labels, node);
    }
}

// ---------------------------------------------------------------- node

/// `node/<name>`.
pub fn node_source(name: &str) -> String {
    format!("node/{name}")
}

const NODE_ADDRESS_PRIORITY: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

/// The node's target group: `__address__` = first address by type
/// precedence (InternalIP, InternalDNS, ExternalIP, ExternalDNS,
/// LegacyHostIP, Hostname) and the kubelet port, `instance` = node name.
/// `None` when the node has no usable address: Prometheus then sends
/// nothing for it.
pub fn node_group(node: &Node) -> Option<TargetGroup> {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let mut labels = LabelSet::new();
    labels.insert(
        "__meta_kubernetes_node_provider_id",
        node.spec
            .as_ref()
            .and_then(|s| s.provider_id.as_deref())
            .unwrap_or_default(),
    );
    add_object_meta(&mut labels, &node.metadata, "node");

    let status = node.status.as_ref();
    let mut by_type: BTreeMap<&str, &str> = BTreeMap::new();
    for address in status
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
    {
        by_type
            .entry(address.type_.as_str())
            .or_insert(address.address.as_str());
    }
    let host = NODE_ADDRESS_PRIORITY
        .iter()
        .find_map(|t| by_type.get(t).copied())?;
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map_or(0, |k| k.port);
    let mut target = LabelSet::new();
    target.insert(ADDRESS, &join_host_port(host, port));
    target.insert("instance", name);
    for (kind, address) in &by_type {
        target.insert(
            &sanitize_label_name(&format!("__meta_kubernetes_node_address_{kind}")),
            address,
        );
    }
    Some(TargetGroup {
        source: node_source(name),
        targets: vec![target],
        labels,
    })
}

// ---------------------------------------------------------------- service

/// `svc/<namespace>/<name>`.
pub fn service_source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// `__meta_kubernetes_namespace` and the service's name, labels and
/// annotations (also attached to endpoints of the service).
pub fn service_labels(service: &Service) -> LabelSet {
    let mut labels = LabelSet::new();
    let (namespace, _) = name_of(&service.metadata);
    labels.insert(NAMESPACE_LABEL, namespace);
    add_object_meta(&mut labels, &service.metadata, "service");
    labels
}

/// One target per service port, at `<name>.<namespace>.svc:<port>`.
pub fn service_group(service: &Service, ctx: &Context<'_>) -> TargetGroup {
    let (namespace, name) = name_of(&service.metadata);
    let mut labels = service_labels(service);
    add_namespace_labels(&mut labels, ctx, namespace);
    let spec = service.spec.as_ref();
    let kind = spec.and_then(|s| s.type_.as_deref()).unwrap_or_default();
    let mut targets = Vec::new();
    for port in spec.and_then(|s| s.ports.as_ref()).into_iter().flatten() {
        let mut target = LabelSet::new();
        target.insert(
            ADDRESS,
            &join_host_port(&format!("{name}.{namespace}.svc"), port.port),
        );
        target.insert(
            "__meta_kubernetes_service_port_name",
            port.name.as_deref().unwrap_or_default(),
        );
        target.insert(
            "__meta_kubernetes_service_port_number",
            &port.port.to_string(),
        );
        target.insert(
            "__meta_kubernetes_service_port_protocol",
            port.protocol.as_deref().unwrap_or_default(),
        );
        target.insert("__meta_kubernetes_service_type", kind);
        if kind == "ExternalName" {
            target.insert(
                "__meta_kubernetes_service_external_name",
                spec.and_then(|s| s.external_name.as_deref())
                    .unwrap_or_default(),
            );
        } else {
            target.insert(
                "__meta_kubernetes_service_cluster_ip",
                spec.and_then(|s| s.cluster_ip.as_deref())
                    .unwrap_or_default(),
            );
        }
        if kind == "LoadBalancer" {
            target.insert(
                "__meta_kubernetes_service_loadbalancer_ip",
                spec.and_then(|s| s.load_balancer_ip.as_deref())
                    .unwrap_or_default(),
            );
        }
        targets.push(target);
    }
    TargetGroup {
        source: service_source(namespace, name),
        targets,
        labels,
    }
}

// ---------------------------------------------------------------- pod

/// `pod/<namespace>/<name>`.
pub fn pod_source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

fn pod_ready(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map_or_else(|| "unknown".to_owned(), |c| c.status.to_lowercase())
}

fn pod_ip(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .unwrap_or_default()
}

/// The labels of the pod role that are the same for every container
/// (`podLabels`); endpoints targets backed by the pod get them too.
pub fn pod_labels(pod: &Pod) -> LabelSet {
    let status = pod.status.as_ref();
    let mut labels = LabelSet::new();
    labels.insert("__meta_kubernetes_pod_ip", pod_ip(pod));
    labels.insert("__meta_kubernetes_pod_ready", &pod_ready(pod));
    labels.insert(
        "__meta_kubernetes_pod_phase",
        status.and_then(|s| s.phase.as_deref()).unwrap_or_default(),
    );
    labels.insert(
        "__meta_kubernetes_pod_node_name",
        pod.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default(),
    );
    labels.insert(
        "__meta_kubernetes_pod_host_ip",
        status
            .and_then(|s| s.host_ip.as_deref())
            .unwrap_or_default(),
    );
    labels.insert(
        "__meta_kubernetes_pod_uid",
        pod.metadata.uid.as_deref().unwrap_or_default(),
    );
    // The first IPv4 and the first IPv6 of podIPs, like the primary pod IP.
    for ip in status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
    {
        match ip.ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) if !labels.contains("__meta_kubernetes_pod_ipv4") => {
                labels.insert("__meta_kubernetes_pod_ipv4", &ip.ip);
            }
            Ok(std::net::IpAddr::V6(_)) if !labels.contains("__meta_kubernetes_pod_ipv6") => {
                labels.insert("__meta_kubernetes_pod_ipv6", &ip.ip);
            }
            _ => {}
        }
    }
    add_object_meta(&mut labels, &pod.metadata, "pod");
    if let Some(controller) = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
    {
        if !controller.kind.is_empty() {
            labels.insert("__meta_kubernetes_pod_controller_kind", &controller.kind);
        }
        if !controller.name.is_empty() {
            labels.insert("__meta_kubernetes_pod_controller_name", &controller.name);
        }
    }
    labels
}

/// The pod's containers followed by its init containers, each with whether
/// it is an init container.
fn containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    let spec = pod.spec.as_ref();
    spec.map(|s| s.containers.iter().map(|c| (c, false)))
        .into_iter()
        .flatten()
        .chain(
            spec.and_then(|s| s.init_containers.as_ref())
                .into_iter()
                .flatten()
                .map(|c| (c, true)),
        )
}

fn container_id(pod: &Pod, name: &str, init: bool) -> String {
    let status = pod.status.as_ref();
    let statuses = if init {
        status.and_then(|s| s.init_container_statuses.as_ref())
    } else {
        status.and_then(|s| s.container_statuses.as_ref())
    };
    statuses
        .into_iter()
        .flatten()
        .find(|s| s.name == name)
        .and_then(|s| s.container_id.clone())
        .unwrap_or_default()
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn container_port_labels(
    target: &mut LabelSet,
    container: &Container,
    port: &ContainerPort,
    protocol: &str,
    init: bool,
) {
    target.insert("__meta_kubernetes_pod_container_name", &container.name);
    target.insert(
        "__meta_kubernetes_pod_container_image",
        container.image.as_deref().unwrap_or_default(),
    );
    target.insert(
        "__meta_kubernetes_pod_container_port_name",
        port.name.as_deref().unwrap_or_default(),
    );
    target.insert(
        "__meta_kubernetes_pod_container_port_number",
        &port.container_port.to_string(),
    );
    target.insert("__meta_kubernetes_pod_container_port_protocol", protocol);
    target.insert("__meta_kubernetes_pod_container_init", bool_str(init));
}

/// One target per container port, and one port-less target per container
/// without ports; init containers included. A pod without an IP yet has an
/// empty group (its targets are gone).
pub fn pod_group(pod: &Pod, ctx: &Context<'_>) -> TargetGroup {
    let (namespace, name) = name_of(&pod.metadata);
    let source = pod_source(namespace, name);
    let ip = pod_ip(pod);
    if ip.is_empty() {
        return TargetGroup {
            source,
            ..TargetGroup::default()
        };
    }
    let mut labels = pod_labels(pod);
    labels.insert(NAMESPACE_LABEL, namespace);
    if ctx.attach.node {
        add_node_labels(
            &mut labels,
            ctx,
            Some(
                pod.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or_default(),
            ),
        );
    }
    add_namespace_labels(&mut labels, ctx, namespace);

    let mut targets = Vec::new();
    for (container, init) in containers(pod) {
        let id = container_id(pod, &container.name, init);
        let ports = container.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            let address = match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
                _ => ip.to_owned(),
            };
            let mut target = LabelSet::new();
            target.insert(ADDRESS, &address);
            target.insert("__meta_kubernetes_pod_container_name", &container.name);
            target.insert("__meta_kubernetes_pod_container_id", &id);
            target.insert(
                "__meta_kubernetes_pod_container_image",
                container.image.as_deref().unwrap_or_default(),
            );
            target.insert("__meta_kubernetes_pod_container_init", bool_str(init));
            targets.push(target);
            continue;
        }
        for port in ports {
            let mut target = LabelSet::new();
            target.insert(ADDRESS, &join_host_port(ip, port.container_port));
            target.insert("__meta_kubernetes_pod_container_id", &id);
            container_port_labels(
                &mut target,
                container,
                port,
                port.protocol.as_deref().unwrap_or_default(),
                init,
            );
            targets.push(target);
        }
    }
    TargetGroup {
        source,
        targets,
        labels,
    }
}

// ---------------------------------------------------------------- endpoints

/// `endpoints/<namespace>/<name>`.
pub fn endpoints_source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

/// The pod an endpoint address refers to, if it is a known pod.
fn resolve_pod<'a>(ctx: &Context<'a>, reference: Option<&ObjectReference>) -> Option<&'a Pod> {
    let reference = reference?;
    if reference.kind.as_deref() != Some("Pod") {
        return None;
    }
    ctx.lookup.pod(
        reference.namespace.as_deref().unwrap_or_default(),
        reference.name.as_deref().unwrap_or_default(),
    )
}

/// A pod seen behind an endpoint: its labels (built once, however many
/// addresses and ports it backs) and the ports its endpoint targets covered.
struct SeenPod<'a> {
    pod: &'a Pod,
    labels: LabelSet,
    covered: Vec<i32>,
}

/// Pods seen behind the addresses of one endpoints object or endpoint
/// slice, in first-seen order.
#[derive(Default)]
struct SeenPods<'a> {
    pods: Vec<SeenPod<'a>>,
    by_name: HashMap<(&'a str, &'a str), usize>,
}

impl<'a> SeenPods<'a> {
    /// Adds the labels of `pod`, backing an endpoint target on `port`, to
    /// `target` (with its matching container port's labels; the protocol is
    /// `endpoint_protocol`, or the container port's when `None`), and notes
    /// `port` as covered.
    fn add_pod_labels(
        &mut self,
        target: &mut LabelSet,
        pod: &'a Pod,
        port: Option<i32>,
        endpoint_protocol: Option<&str>,
    ) {
        let index = *self
            .by_name
            .entry(name_of(&pod.metadata))
            .or_insert_with(|| {
                self.pods.push(SeenPod {
                    pod,
                    labels: pod_labels(pod),
                    covered: Vec::new(),
                });
                self.pods.len() - 1
            });
        let seen = &mut self.pods[index];
        merge(target, &seen.labels);
        if let Some((container, container_port, init)) =
            port.and_then(|p| matching_container_port(pod, p))
        {
            let protocol = endpoint_protocol
                .unwrap_or_else(|| container_port.protocol.as_deref().unwrap_or_default());
            container_port_labels(target, container, container_port, protocol, init);
        }
        if let Some(port) = port {
            seen.covered.push(port);
        }
    }

    /// Targets for the container ports of seen pods no endpoint covered.
    fn uncovered_targets(&self, targets: &mut Vec<LabelSet>) {
        for SeenPod {
            pod,
            labels,
            covered,
        } in &self.pods
        {
            let ip = pod_ip(pod);
            if ip.is_empty() {
                continue;
            }
            for (container, init) in containers(pod) {
                for port in container.ports.iter().flatten() {
                    if covered.contains(&port.container_port) {
                        continue;
                    }
                    let mut target = LabelSet::new();
                    target.insert(ADDRESS, &join_host_port(ip, port.container_port));
                    container_port_labels(
                        &mut target,
                        container,
                        port,
                        port.protocol.as_deref().unwrap_or_default(),
                        init,
                    );
                    merge(&mut target, labels);
                    targets.push(target);
                }
            }
        }
    }
}

/// The container port of `pod` serving `port`, with its container.
fn matching_container_port(pod: &Pod, port: i32) -> Option<(&Container, &ContainerPort, bool)> {
    containers(pod).find_map(|(container, init)| {
        container
            .ports
            .iter()
            .flatten()
            .find(|p| p.container_port == port)
            .map(|p| (container, p, init))
    })
}

/// One target per address and port of every subset (ready and not ready),
/// with the service's labels on the group, the backing pod's labels on its
/// targets, and one more target per container port of a backing pod that
/// no endpoint port covers.
pub fn endpoints_group(endpoints: &Endpoints, ctx: &Context<'_>) -> TargetGroup {
    let (namespace, name) = name_of(&endpoints.metadata);
    let mut labels = LabelSet::new();
    labels.insert(NAMESPACE_LABEL, namespace);
    if let Some(service) = ctx.lookup.service(namespace, name) {
        merge(&mut labels, &service_labels(service));
    }
    add_object_meta(&mut labels, &endpoints.metadata, "endpoints");
    add_namespace_labels(&mut labels, ctx, namespace);

    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for subset in endpoints.subsets.iter().flatten() {
        for port in subset.ports.iter().flatten() {
            let ready = subset.addresses.iter().flatten().map(|a| (a, "true"));
            let not_ready = subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| (a, "false"));
            for (address, ready) in ready.chain(not_ready) {
                let mut target = LabelSet::new();
                target.insert(ADDRESS, &join_host_port(&address.ip, port.port));
                target.insert(
                    "__meta_kubernetes_endpoint_port_name",
                    port.name.as_deref().unwrap_or_default(),
                );
                target.insert(
                    "__meta_kubernetes_endpoint_port_protocol",
                    port.protocol.as_deref().unwrap_or_default(),
                );
                target.insert("__meta_kubernetes_endpoint_ready", ready);
                if let Some(reference) = &address.target_ref {
                    target.insert(
                        "__meta_kubernetes_endpoint_address_target_kind",
                        reference.kind.as_deref().unwrap_or_default(),
                    );
                    target.insert(
                        "__meta_kubernetes_endpoint_address_target_name",
                        reference.name.as_deref().unwrap_or_default(),
                    );
                }
                if let Some(node) = &address.node_name {
                    target.insert("__meta_kubernetes_endpoint_node_name", node);
                }
                if let Some(hostname) = address.hostname.as_deref().filter(|h| !h.is_empty()) {
                    target.insert("__meta_kubernetes_endpoint_hostname", hostname);
                }
                if ctx.attach.node {
                    let node = address.node_name.as_deref().or_else(|| {
                        address
                            .target_ref
                            .as_ref()
                            .filter(|r| r.kind.as_deref() == Some("Node"))
                            .and_then(|r| r.name.as_deref())
                    });
                    add_node_labels(&mut target, ctx, node);
                }
                if let Some(pod) = resolve_pod(ctx, address.target_ref.as_ref()) {
                    seen.add_pod_labels(
                        &mut target,
                        pod,
                        Some(port.port),
                        Some(port.protocol.as_deref().unwrap_or_default()),
                    );
                }
                targets.push(target);
            }
        }
    }
    seen.uncovered_targets(&mut targets);
    TargetGroup {
        source: endpoints_source(namespace, name),
        targets,
        labels,
    }
}

// ---------------------------------------------------------------- endpointslice

/// `endpointslice/<namespace>/<name>`.
pub fn endpoint_slice_source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

/// The label naming the service an endpoint slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The service an endpoint slice belongs to, from its
/// `kubernetes.io/service-name` label.
pub fn endpoint_slice_service(slice: &EndpointSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .map(String::as_str)
}

/// One target per address of every endpoint and every port (the address
/// alone when the slice has no ports), with the service's labels on the
/// group, the backing pod's labels on its targets, and the container ports
/// of backing pods that no endpoint port covers.
pub fn endpoint_slice_group(slice: &EndpointSlice, ctx: &Context<'_>) -> TargetGroup {
    let (namespace, name) = name_of(&slice.metadata);
    let mut labels = LabelSet::new();
    labels.insert(NAMESPACE_LABEL, namespace);
    labels.insert(
        "__meta_kubernetes_endpointslice_address_type",
        &slice.address_type,
    );
    add_object_meta(&mut labels, &slice.metadata, "endpointslice");
    if let Some(service) =
        endpoint_slice_service(slice).and_then(|service| ctx.lookup.service(namespace, service))
    {
        merge(&mut labels, &service_labels(service));
    }
    add_namespace_labels(&mut labels, ctx, namespace);

    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for endpoint in slice.endpoints.iter().flatten() {
        for port in slice.ports.iter().flatten() {
            for address in &endpoint.addresses {
                let mut target = LabelSet::new();
                let host_port = match port.port {
                    Some(p) => join_host_port(address, p),
                    None => address.clone(),
                };
                target.insert(ADDRESS, &host_port);
                if let Some(v) = &port.name {
                    target.insert("__meta_kubernetes_endpointslice_port_name", v);
                }
                if let Some(v) = &port.protocol {
                    target.insert("__meta_kubernetes_endpointslice_port_protocol", v);
                }
                if let Some(p) = port.port {
                    target.insert("__meta_kubernetes_endpointslice_port", &p.to_string());
                }
                if let Some(v) = &port.app_protocol {
                    target.insert("__meta_kubernetes_endpointslice_port_app_protocol", v);
                }
                let conditions = endpoint.conditions.as_ref();
                for (label, value) in [
                    (
                        "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                        conditions.and_then(|c| c.ready),
                    ),
                    (
                        "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                        conditions.and_then(|c| c.serving),
                    ),
                    (
                        "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                        conditions.and_then(|c| c.terminating),
                    ),
                ] {
                    if let Some(v) = value {
                        target.insert(label, bool_str(v));
                    }
                }
                if let Some(v) = &endpoint.hostname {
                    target.insert("__meta_kubernetes_endpointslice_endpoint_hostname", v);
                }
                if let Some(reference) = &endpoint.target_ref {
                    target.insert(
                        "__meta_kubernetes_endpointslice_address_target_kind",
                        reference.kind.as_deref().unwrap_or_default(),
                    );
                    target.insert(
                        "__meta_kubernetes_endpointslice_address_target_name",
                        reference.name.as_deref().unwrap_or_default(),
                    );
                }
                if let Some(v) = &endpoint.node_name {
                    target.insert("__meta_kubernetes_endpointslice_endpoint_node_name", v);
                }
                if let Some(v) = &endpoint.zone {
                    target.insert("__meta_kubernetes_endpointslice_endpoint_zone", v);
                }
                for (key, value) in endpoint.deprecated_topology.iter().flatten() {
                    let key = sanitize_label_name(key);
                    target.insert(
                        &format!("__meta_kubernetes_endpointslice_endpoint_topology_{key}"),
                        value,
                    );
                    target.insert(
                        &format!("__meta_kubernetes_endpointslice_endpoint_topology_present_{key}"),
                        PRESENT,
                    );
                }
                if ctx.attach.node {
                    let node = match &endpoint.target_ref {
                        Some(r) if r.kind.as_deref() == Some("Node") => r.name.as_deref(),
                        _ => endpoint.node_name.as_deref(),
                    };
                    add_node_labels(&mut target, ctx, node);
                }
                if let Some(pod) = resolve_pod(ctx, endpoint.target_ref.as_ref()) {
                    seen.add_pod_labels(&mut target, pod, port.port, None);
                }
                targets.push(target);
            }
        }
    }
    seen.uncovered_targets(&mut targets);
    TargetGroup {
        source: endpoint_slice_source(namespace, name),
        targets,
        labels,
    }
}

// ---------------------------------------------------------------- ingress

/// `ingress/<namespace>/<name>`.
pub fn ingress_source(namespace: &str, name: &str) -> String {
    format!("ingress/{namespace}/{name}")
}

/// Whether `host` matches the TLS host `pattern` (equal, or `*.rest` with
/// the same number of labels).
fn matches_hostname_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let pattern_parts: Vec<&str> = pattern.split('.').collect();
    let host_parts: Vec<&str> = host.split('.').collect();
    if pattern_parts.first() != Some(&"*") || pattern_parts.len() != host_parts.len() {
        return false;
    }
    pattern_parts[1..] == host_parts[1..]
}

/// One target per path of every rule (`/` for a rule without HTTP paths),
/// at the rule's host, `https` when a TLS entry covers the host.
pub fn ingress_group(ingress: &Ingress, ctx: &Context<'_>) -> TargetGroup {
    let (namespace, name) = name_of(&ingress.metadata);
    let spec = ingress.spec.as_ref();
    let mut labels = LabelSet::new();
    labels.insert(NAMESPACE_LABEL, namespace);
    if let Some(class) = spec.and_then(|s| s.ingress_class_name.as_deref()) {
        labels.insert("__meta_kubernetes_ingress_class_name", class);
    }
    add_object_meta(&mut labels, &ingress.metadata, "ingress");
    add_namespace_labels(&mut labels, ctx, namespace);

    let tls_hosts: Vec<&str> = spec
        .and_then(|s| s.tls.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|t| t.hosts.iter().flatten().map(String::as_str))
        .collect();
    let mut targets = Vec::new();
    for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
        let host = rule.host.as_deref().unwrap_or_default();
        let scheme = if tls_hosts
            .iter()
            .any(|pattern| matches_hostname_pattern(pattern, host))
        {
            "https"
        } else {
            "http"
        };
        // No `http` at all means "/"; an `http` with no paths means none.
        let paths: Vec<&str> = match &rule.http {
            None => vec!["/"],
            Some(http) => http
                .paths
                .iter()
                .map(|p| p.path.as_deref().filter(|p| !p.is_empty()).unwrap_or("/"))
                .collect(),
        };
        for path in paths {
            let mut target = LabelSet::new();
            target.insert(ADDRESS, host);
            target.insert("__meta_kubernetes_ingress_scheme", scheme);
            target.insert("__meta_kubernetes_ingress_host", host);
            target.insert("__meta_kubernetes_ingress_path", path);
            targets.push(target);
        }
    }
    TargetGroup {
        source: ingress_source(namespace, name),
        targets,
        labels,
    }
}

// ---------------------------------------------------------------- all

impl ObjectIndex {
    /// The target groups of every object of `role`, in source order within
    /// each kind. Nodes without an address have no group.
    pub fn groups(&self, role: Role, attach: AttachMetadata) -> Vec<TargetGroup> {
        let ctx = Context {
            lookup: self,
            attach,
        };
        match role {
            Role::Node => self.nodes.values().filter_map(node_group).collect(),
            Role::Service => self
                .services
                .values()
                .map(|o| service_group(o, &ctx))
                .collect(),
            Role::Pod => self.pods.values().map(|o| pod_group(o, &ctx)).collect(),
            Role::Endpoints => self
                .endpoints
                .values()
                .map(|o| endpoints_group(o, &ctx))
                .collect(),
            Role::EndpointSlice => self
                .endpoint_slices
                .values()
                .map(|o| endpoint_slice_group(o, &ctx))
                .collect(),
            Role::Ingress => self
                .ingresses
                .values()
                .map(|o| ingress_group(o, &ctx))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_patterns() {
        assert!(matches_hostname_pattern("example.com", "example.com"));
        assert!(matches_hostname_pattern("*.example.com", "a.example.com"));
        assert!(!matches_hostname_pattern(
            "*.example.com",
            "a.b.example.com"
        ));
        assert!(!matches_hostname_pattern("a.example.com", "b.example.com"));
        assert!(!matches_hostname_pattern("*.example.com", "example.com"));
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("endpoint"), None);
    }
}
