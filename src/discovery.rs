//! The service discovery providers this build runs: the config crate's
//! built-in ones (static, file, HTTP, DNS) plus `kubernetes_sd_configs`.

use promshard_config::discovery::DiscoveryManager;

/// A discovery manager with every provider promshard supports registered.
/// The coordinator, the standalone sidecar and `promshard check targets`
/// all discover through one of these, so they agree on what a config finds.
pub(crate) fn discovery_manager() -> DiscoveryManager {
    let mut manager = DiscoveryManager::new();
    promshard_k8s::sd::register(&mut manager);
    manager
}

/// Like [`discovery_manager`], with `kubernetes_sd_configs` entries that
/// name no cluster discovering through `client` (the coordinator's own),
/// as the jobs generated from prometheus-operator resources need.
pub(crate) fn discovery_manager_with(client: Option<kube::Client>) -> DiscoveryManager {
    let Some(client) = client else {
        return discovery_manager();
    };
    let mut manager = DiscoveryManager::new();
    promshard_k8s::sd::register_with_client(&mut manager, client);
    manager
}

#[cfg(test)]
mod tests {
    #[test]
    fn kubernetes_sd_is_registered_beside_the_built_in_providers() {
        let manager = super::discovery_manager();
        assert!(format!("{manager:?}").contains("kubernetes_sd_configs"));
    }
}
