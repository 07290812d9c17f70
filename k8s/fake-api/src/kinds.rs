//! Kinds and scopes of the built-in resource types, from k8s-openapi, so an
//! empty list still says `PodList` and a namespaced fixture without a
//! namespace lands in `default`.

use k8s_openapi::api::{apps, batch, coordination, core, discovery, networking, policy, rbac};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};

use crate::store::{KindInfo, ResourceType};

/// Whether a k8s-openapi scope type is namespaced.
trait ScopeIsNamespaced {
    const NAMESPACED: bool;
}

impl ScopeIsNamespaced for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl ScopeIsNamespaced for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

macro_rules! known_types {
    ($($ty:ty),* $(,)?) => {
        &[$((
            <$ty as Resource>::GROUP,
            <$ty as Resource>::VERSION,
            <$ty as Resource>::URL_PATH_SEGMENT,
            <$ty as Resource>::KIND,
            <<$ty as Resource>::Scope as ScopeIsNamespaced>::NAMESPACED,
        )),*]
    };
}

/// (group, version, plural, kind, namespaced)
type KnownType = (&'static str, &'static str, &'static str, &'static str, bool);

const KNOWN: &[KnownType] = known_types![
    core::v1::Pod,
    core::v1::Service,
    core::v1::Endpoints,
    core::v1::Node,
    core::v1::Namespace,
    core::v1::ConfigMap,
    core::v1::Secret,
    core::v1::ServiceAccount,
    core::v1::PersistentVolumeClaim,
    core::v1::PersistentVolume,
    core::v1::Event,
    discovery::v1::EndpointSlice,
    networking::v1::Ingress,
    apps::v1::StatefulSet,
    apps::v1::Deployment,
    apps::v1::ReplicaSet,
    apps::v1::DaemonSet,
    apps::v1::ControllerRevision,
    batch::v1::Job,
    batch::v1::CronJob,
    coordination::v1::Lease,
    policy::v1::PodDisruptionBudget,
    rbac::v1::Role,
    rbac::v1::RoleBinding,
    rbac::v1::ClusterRole,
    rbac::v1::ClusterRoleBinding,
];

/// Kind and scope of a built-in resource type.
pub(crate) fn known(resource: &ResourceType) -> Option<KindInfo> {
    KNOWN
        .iter()
        .find(|(group, version, plural, _, _)| {
            *group == resource.group && *version == resource.version && *plural == resource.plural
        })
        .map(|(_, _, _, kind, namespaced)| KindInfo {
            kind: (*kind).to_owned(),
            namespaced: *namespaced,
        })
}
