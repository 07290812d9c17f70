//! Label helpers shared by every role: the `__meta_kubernetes_` prefix,
//! label name sanitizing, object metadata labels, and host:port joining.

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use promshard_config::LabelSet;

/// Prefix of every label this discovery produces.
pub const META_PREFIX: &str = "__meta_kubernetes_";

/// `__meta_kubernetes_namespace`.
pub const NAMESPACE_LABEL: &str = "__meta_kubernetes_namespace";

/// Value of the `*present_*` labels.
pub const PRESENT: &str = "true";

/// Replaces every character outside `[a-zA-Z0-9_]` with `_`, like
/// Prometheus's `strutil.SanitizeLabelName` (one `_` per character, so a
/// multi-byte character becomes one `_`).
///
/// ```
/// use promshard_k8s::sd::meta::sanitize_label_name;
/// assert_eq!(sanitize_label_name("app.kubernetes.io/name"), "app_kubernetes_io_name");
/// ```
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn label(labels: &mut LabelSet, parts: &[&str], value: &str) {
    let mut name = String::with_capacity(64);
    name.push_str(META_PREFIX);
    for part in parts {
        name.push_str(part);
    }
    labels.insert(&name, value);
}

/// The `<role>_name`, `<role>_label_*`, `<role>_labelpresent_*`,
/// `<role>_annotation_*` and `<role>_annotationpresent_*` labels of an
/// object (`addObjectMetaLabels`).
pub fn add_object_meta(labels: &mut LabelSet, meta: &ObjectMeta, role: &str) {
    label(
        labels,
        &[role, "_name"],
        meta.name.as_deref().unwrap_or_default(),
    );
    add_labels_and_annotations(labels, meta, role);
}

fn add_labels_and_annotations(labels: &mut LabelSet, meta: &ObjectMeta, role: &str) {
    for (key, value) in meta.labels.iter().flatten() {
        let name = sanitize_label_name(key);
        label(labels, &[role, "_label_", &name], value);
        label(labels, &[role, "_labelpresent_", &name], PRESENT);
    }
    for (key, value) in meta.annotations.iter().flatten() {
        let name = sanitize_label_name(key);
        label(labels, &[role, "_annotation_", &name], value);
        label(labels, &[role, "_annotationpresent_", &name], PRESENT);
    }
}

/// The node metadata attached with `attach_metadata: {node: true}`: the
/// node's name, labels and annotations (`addNodeLabels`).
pub fn add_node_meta(labels: &mut LabelSet, node: &Node) {
    add_object_meta(labels, &node.metadata, "node");
}

/// The namespace metadata attached with `attach_metadata: {namespace: true}`:
/// the namespace's labels and annotations (the name is already
/// `__meta_kubernetes_namespace`).
pub fn add_namespace_meta(labels: &mut LabelSet, namespace: &Namespace) {
    add_labels_and_annotations(labels, &namespace.metadata, "namespace");
}

/// `host:port`, with brackets around an IPv6 host (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Copies every label of `from` into `into`, overriding (`LabelSet.Merge`).
pub fn merge(into: &mut LabelSet, from: &LabelSet) {
    for (name, value) in from.iter() {
        into.insert(name, value);
    }
}

/// The name and namespace of an object, empty when unset.
pub fn name_of(meta: &ObjectMeta) -> (&str, &str) {
    (
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_each_character() {
        assert_eq!(sanitize_label_name("test/label"), "test_label");
        assert_eq!(sanitize_label_name("a-b.c"), "a_b_c");
        assert_eq!(sanitize_label_name("ünï"), "_n_");
        assert_eq!(sanitize_label_name("Unschedulable"), "Unschedulable");
    }

    #[test]
    fn joins_ipv6_with_brackets() {
        assert_eq!(join_host_port("1.2.3.4", 80), "1.2.3.4:80");
        assert_eq!(join_host_port("2001:db8::1", "80"), "[2001:db8::1]:80");
    }
}
