//! PodMonitor endpoints to scrape configs (`generatePodMonitorConfig`).

use crate::model::{IntOrString, PodMonitor};
use crate::selection::ResourceKind;
use crate::yaml::{Node, map};

use super::common::{
    Ctx, init_relabelings, merge_authorization, merge_safe_tls, relabel_nodes, running_filter,
    sanitize_label_name, selector_rules, sharding_rules,
};
use super::service_monitor::copy_label_rule;

/// One scrape config per endpoint, `podMonitor/<ns>/<name>/<i>`.
pub(crate) fn generate(ctx: &Ctx<'_>, m: &PodMonitor) -> Vec<Node> {
    (0..m.spec.pod_metrics_endpoints.len())
        .map(|i| endpoint(ctx, m, i))
        .collect()
}

fn endpoint(ctx: &Ctx<'_>, m: &PodMonitor, i: usize) -> Node {
    let spec = &m.spec;
    let ep = &spec.pod_metrics_endpoints[i];
    let ns = m.metadata.namespace.as_str();
    let class = ctx.scrape_class(spec.scrape_class_name.as_ref());

    let mut cfg = map([(
        "job_name",
        format!("podMonitor/{ns}/{}/{i}", m.metadata.name).into(),
    )]);
    ctx.honor_labels(&mut cfg, ep.honor_labels);
    ctx.honor_timestamps(&mut cfg, ep.honor_timestamps);
    ctx.track_timestamps_staleness(&mut cfg, ep.track_timestamps_staleness);

    let attach = spec
        .attach_metadata
        .as_ref()
        .or(class.attach_metadata.as_ref());
    let roles = ["pod"];
    let role_selector = (spec
        .selector_mechanism
        .as_deref()
        .unwrap_or("RelabelSelector")
        != "RelabelSelector")
        .then_some((&spec.selector, &roles[..]));
    cfg.push(
        "kubernetes_sd_configs",
        ctx.k8s_sd_config(
            &spec.namespace_selector,
            ns,
            "pod",
            attach.map(|a| (a, "2.35.0")),
            role_selector,
        ),
    );

    if !ep.interval.is_empty() {
        cfg.push("scrape_interval", ep.interval.as_str().into());
    }
    if !ep.scrape_timeout.is_empty() {
        cfg.push("scrape_timeout", ep.scrape_timeout.as_str().into());
    }
    if !ep.path.is_empty() {
        cfg.push("metrics_path", ep.path.as_str().into());
    }
    if let Some(params) = &ep.params {
        let mut node = Node::map();
        for (k, v) in params {
            node.push(k, Node::strs(v));
        }
        cfg.push("params", node);
    }
    if let Some(scheme) = &ep.scheme {
        cfg.push("scheme", scheme.to_lowercase().into());
    }
    if let Some(v) = ep.follow_redirects
        && ctx.at_least("2.26.0")
    {
        cfg.push("follow_redirects", v.into());
    }
    if let Some(v) = ep.enable_http2
        && ctx.at_least("2.35.0")
    {
        cfg.push("enable_http2", v.into());
    }
    ctx.add_tls(
        &mut cfg,
        ns,
        merge_safe_tls(ep.tls_config.as_ref(), class).as_ref(),
    );
    if let Some(sel) = ep
        .bearer_token_secret
        .as_ref()
        .filter(|s| !s.name.is_empty())
        && let Ok(token) = ctx.store.secret(ns, sel)
    {
        cfg.push("bearer_token", Node::Secret(token.clone()));
    }
    ctx.add_basic_auth(&mut cfg, ns, ep.basic_auth.as_ref());
    ctx.add_oauth2(&mut cfg, ns, ep.oauth2.as_ref());
    ctx.add_proxy(&mut cfg, ns, &ep.proxy);
    ctx.add_authorization(
        &mut cfg,
        ns,
        merge_authorization(ep.authorization.as_ref(), class).as_ref(),
    );

    let mut rules = init_relabelings();
    if ep.filter_running.unwrap_or(true) {
        rules.push(running_filter());
    }
    if spec
        .selector_mechanism
        .as_deref()
        .unwrap_or("RelabelSelector")
        == "RelabelSelector"
    {
        selector_rules(&mut rules, "pod", &spec.selector);
    }
    let keep = |label: &str, regex: Node| {
        map([
            ("action", "keep".into()),
            ("source_labels", Node::strs([label])),
            ("regex", regex),
        ])
    };
    let port = ep.port.as_deref().filter(|p| !p.is_empty());
    if let Some(port) = port {
        rules.push(keep(
            "__meta_kubernetes_pod_container_port_name",
            port.into(),
        ));
    } else if let Some(number) = ep.port_number.filter(|n| *n != 0) {
        rules.push(keep(
            "__meta_kubernetes_pod_container_port_number",
            Node::Int(number),
        ));
    } else if let Some(target_port) = &ep.target_port {
        match target_port {
            IntOrString::String(name) if !name.is_empty() => rules.push(keep(
                "__meta_kubernetes_pod_container_port_name",
                name.as_str().into(),
            )),
            IntOrString::Int(number) if *number != 0 => rules.push(keep(
                "__meta_kubernetes_pod_container_port_number",
                Node::Int(*number),
            )),
            _ => {}
        }
    }
    for (source, label) in [
        ("__meta_kubernetes_namespace", "namespace"),
        ("__meta_kubernetes_pod_container_name", "container"),
        ("__meta_kubernetes_pod_name", "pod"),
    ] {
        rules.push(map([
            ("source_labels", Node::strs([source])),
            ("target_label", label.into()),
        ]));
    }
    for l in spec
        .pod_target_labels
        .iter()
        .chain(&ctx.spec.pod_target_labels)
    {
        rules.push(copy_label_rule("pod", l));
    }
    rules.push(map([
        ("target_label", "job".into()),
        ("replacement", format!("{ns}/{}", m.metadata.name).into()),
    ]));
    if !spec.job_label.is_empty() {
        rules.push(map([
            (
                "source_labels",
                Node::strs([format!(
                    "__meta_kubernetes_pod_label_{}",
                    sanitize_label_name(&spec.job_label)
                )]),
            ),
            ("target_label", "job".into()),
            ("regex", "(.+)".into()),
            ("replacement", "${1}".into()),
        ]));
    }
    let endpoint_name = match port {
        Some(p) => Some(p.to_owned()),
        None => ep
            .target_port
            .as_ref()
            .map(ToString::to_string)
            .filter(|s| !s.is_empty()),
    };
    if let Some(name) = endpoint_name {
        rules.push(map([
            ("target_label", "endpoint".into()),
            ("replacement", name.into()),
        ]));
    }
    rules.extend(relabel_nodes(&class.relabelings));
    let labeler = ctx.labeler();
    rules.extend(relabel_nodes(&labeler.apply(
        ResourceKind::PodMonitor,
        &m.metadata,
        &ep.relabelings,
    )));
    sharding_rules(&mut rules, ctx.shards, "__address__");
    cfg.push("relabel_configs", Node::Seq(rules));

    ctx.add_limits(&mut cfg, &spec.limits);
    ctx.add_native_histograms(&mut cfg, &spec.native_histograms);
    ctx.add_scrape_protocols(&mut cfg, &spec.scrape_protocols);
    ctx.add_fallback_scrape_protocol(&mut cfg, spec.fallback_scrape_protocol.as_ref(), class);
    ctx.add_body_size_limit(&mut cfg, spec.body_size_limit.as_ref());

    let mut metric_rules = class.metric_relabelings.clone();
    metric_rules.extend(labeler.apply(
        ResourceKind::PodMonitor,
        &m.metadata,
        &ep.metric_relabelings,
    ));
    if !metric_rules.is_empty() {
        cfg.push(
            "metric_relabel_configs",
            Node::Seq(relabel_nodes(&metric_rules).collect()),
        );
    }
    cfg
}
