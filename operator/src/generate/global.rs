//! The scrape-related `global` section (`buildGlobalConfig`).

use crate::model::ObjectMeta;
use crate::yaml::{Node, map};

use super::common::Ctx;

pub(crate) fn global(ctx: &Ctx<'_>, prometheus: &ObjectMeta) -> Node {
    let s = ctx.spec;
    let mut cfg = map([("scrape_interval", s.scrape_interval.as_str().into())]);
    if !s.scrape_timeout.is_empty() {
        cfg.push("scrape_timeout", s.scrape_timeout.as_str().into());
    }
    ctx.add_scrape_protocols(&mut cfg, &s.scrape_protocols);

    let mut labels = std::collections::BTreeMap::new();
    let prometheus_label = s
        .prometheus_external_label_name
        .as_deref()
        .unwrap_or("prometheus");
    if !prometheus_label.is_empty() {
        labels.insert(
            prometheus_label.to_owned(),
            format!("{}/{}", prometheus.namespace, prometheus.name),
        );
    }
    let replica_label = s
        .replica_external_label_name
        .as_deref()
        .unwrap_or("prometheus_replica");
    if !replica_label.is_empty() {
        labels.insert(replica_label.to_owned(), "$(POD_NAME)".to_owned());
    }
    for (k, v) in &s.external_labels {
        // The operator's own labels win over user labels of the same name.
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut external = Node::map();
    for (k, v) in labels {
        external.push(&k, v.into());
    }
    cfg.push("external_labels", external);

    if ctx.at_least("2.45.0") {
        if let Some(limit) = &s.body_size_limit {
            cfg.push("body_size_limit", limit.as_str().into());
        } else if !s.enforced_body_size_limit.is_empty() {
            cfg.push(
                "body_size_limit",
                s.enforced_body_size_limit.as_str().into(),
            );
        }
    }
    let limits = [
        (
            "sample_limit",
            "2.45.0",
            s.sample_limit,
            s.enforced_sample_limit,
        ),
        (
            "target_limit",
            "2.45.0",
            s.target_limit,
            s.enforced_target_limit,
        ),
        (
            "label_limit",
            "2.45.0",
            s.label_limit,
            s.enforced_label_limit,
        ),
        (
            "label_name_length_limit",
            "2.45.0",
            s.label_name_length_limit,
            s.enforced_label_name_length_limit,
        ),
        (
            "label_value_length_limit",
            "2.45.0",
            s.label_value_length_limit,
            s.enforced_label_value_length_limit,
        ),
        (
            "keep_dropped_targets",
            "2.47.0",
            s.keep_dropped_targets,
            s.enforced_keep_dropped_targets,
        ),
    ];
    for (key, min, limit, enforced) in limits {
        if !ctx.at_least(min) {
            continue;
        }
        let limit = limit.unwrap_or(0);
        let enforced = enforced.unwrap_or(0);
        if limit > 0 {
            let value = if enforced > 0 && limit > enforced {
                enforced
            } else {
                limit
            };
            cfg.push(key, value.into());
        } else if enforced > 0 {
            cfg.push(key, enforced.into());
        }
    }
    if let Some(scheme) = &s.name_validation_scheme
        && ctx.at_least("3.0.0")
    {
        cfg.push(
            "metric_name_validation_scheme",
            scheme.to_lowercase().into(),
        );
    }
    if let Some(scheme) = s.name_escaping_scheme.as_deref().and_then(escaping_scheme)
        && ctx.at_least("3.4.0")
    {
        cfg.push("metric_name_escaping_scheme", scheme.into());
    }
    if let Some(v) = s.convert_classic_histograms_to_nhcb
        && ctx.at_least("3.4.0")
    {
        cfg.push("convert_classic_histograms_to_nhcb", v.into());
    }
    if let Some(v) = s.scrape_classic_histograms
        && ctx.at_least("3.5.0")
    {
        cfg.push("always_scrape_classic_histograms", v.into());
    }
    if let Some(v) = s.scrape_native_histograms
        && ctx.at_least("3.8.0")
    {
        cfg.push("scrape_native_histograms", v.into());
    }
    cfg
}

/// The operator's names for Prometheus's metric name escaping schemes.
pub(crate) fn escaping_scheme(name: &str) -> Option<&'static str> {
    match name {
        "AllowUTF8" => Some("allow-utf-8"),
        "Underscores" => Some("underscores"),
        "Dots" => Some("dots"),
        "Values" => Some("values"),
        _ => None,
    }
}
