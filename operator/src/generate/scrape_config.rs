//! ScrapeConfig resources to scrape configs (`generateScrapeConfig`), for
//! the static, file, HTTP, Kubernetes and DNS service discoveries.

use crate::model::ScrapeConfig;
use crate::selection::ResourceKind;
use crate::yaml::{Node, map};

use super::common::{
    Ctx, init_relabelings, merge_authorization, merge_safe_tls, relabel_node, relabel_nodes,
    sharding_rules,
};
use super::global::escaping_scheme;

/// One scrape config, `scrapeConfig/<ns>/<name>`.
pub(crate) fn generate(ctx: &Ctx<'_>, sc: &ScrapeConfig) -> Vec<Node> {
    vec![scrape_config(ctx, sc)]
}

fn scrape_config(ctx: &Ctx<'_>, sc: &ScrapeConfig) -> Node {
    let spec = &sc.spec;
    let ns = sc.metadata.namespace.as_str();
    let class = ctx.scrape_class(spec.scrape_class_name.as_ref());
    let labeler = ctx.labeler();

    let mut cfg = map([(
        "job_name",
        format!("scrapeConfig/{ns}/{}", sc.metadata.name).into(),
    )]);
    let mut rules = init_relabelings();
    rules.extend(relabel_nodes(&class.relabelings));
    if let Some(job) = &spec.job_name {
        rules.push(map([
            ("target_label", "job".into()),
            ("action", "replace".into()),
            ("replacement", job.as_str().into()),
        ]));
    }
    if spec.honor_timestamps.is_some() {
        ctx.honor_timestamps(&mut cfg, spec.honor_timestamps);
    }
    ctx.track_timestamps_staleness(&mut cfg, spec.track_timestamps_staleness);
    if let Some(honor) = spec.honor_labels {
        ctx.honor_labels(&mut cfg, honor);
    }
    if let Some(path) = &spec.metrics_path {
        cfg.push("metrics_path", path.as_str().into());
    }
    if !spec.params.is_empty() {
        let mut params = Node::map();
        for (k, v) in &spec.params {
            params.push(k, Node::strs(v));
        }
        cfg.push("params", params);
    }
    if let Some(v) = spec.enable_compression
        && ctx.at_least("2.49.0")
    {
        cfg.push("enable_compression", v.into());
    }
    if let Some(v) = spec.enable_http2
        && ctx.at_least("2.35.0")
    {
        cfg.push("enable_http2", v.into());
    }
    if let Some(v) = &spec.scrape_interval {
        cfg.push("scrape_interval", v.as_str().into());
    }
    if let Some(v) = &spec.scrape_timeout {
        cfg.push("scrape_timeout", v.as_str().into());
    }
    ctx.add_scrape_protocols(&mut cfg, &spec.scrape_protocols);
    ctx.add_fallback_scrape_protocol(&mut cfg, spec.fallback_scrape_protocol.as_ref(), class);
    if let Some(scheme) = &spec.scheme {
        cfg.push("scheme", scheme.to_lowercase().into());
    }
    ctx.add_proxy(&mut cfg, ns, &spec.proxy);
    ctx.add_basic_auth(&mut cfg, ns, spec.basic_auth.as_ref());
    ctx.add_authorization(
        &mut cfg,
        ns,
        merge_authorization(spec.authorization.as_ref(), class).as_ref(),
    );
    ctx.add_oauth2(&mut cfg, ns, spec.oauth2.as_ref());
    ctx.add_tls(
        &mut cfg,
        ns,
        merge_safe_tls(spec.tls_config.as_ref(), class).as_ref(),
    );
    ctx.add_limits(&mut cfg, &spec.limits);
    ctx.add_native_histograms(&mut cfg, &spec.native_histograms);
    ctx.add_body_size_limit(&mut cfg, spec.body_size_limit.as_ref());

    if !spec.static_configs.is_empty() {
        let groups = spec
            .static_configs
            .iter()
            .map(|g| {
                let mut labels = Node::map();
                for (k, v) in &g.labels {
                    labels.push(k, v.as_str().into());
                }
                map([("targets", Node::strs(&g.targets)), ("labels", labels)])
            })
            .collect();
        cfg.push("static_configs", Node::Seq(groups));
    }
    if !spec.file_sd_configs.is_empty() {
        let configs = spec
            .file_sd_configs
            .iter()
            .map(|f| {
                let mut node = map([("files", Node::strs(&f.files))]);
                if let Some(r) = &f.refresh_interval {
                    node.push("refresh_interval", r.as_str().into());
                }
                node
            })
            .collect();
        cfg.push("file_sd_configs", Node::Seq(configs));
    }
    if !spec.http_sd_configs.is_empty() {
        let configs = spec
            .http_sd_configs
            .iter()
            .map(|h| {
                let mut node = Node::map();
                ctx.add_basic_auth(&mut node, ns, h.basic_auth.as_ref());
                ctx.add_safe_authorization(&mut node, ns, h.authorization.as_ref());
                ctx.add_safe_tls(&mut node, ns, h.tls_config.as_ref());
                ctx.add_proxy(&mut node, ns, &h.proxy);
                ctx.add_oauth2(&mut node, ns, h.oauth2.as_ref());
                node.push("url", h.url.as_str().into());
                if let Some(r) = &h.refresh_interval {
                    node.push("refresh_interval", r.as_str().into());
                }
                if let Some(v) = h.follow_redirects {
                    node.push("follow_redirects", v.into());
                }
                if let Some(v) = h.enable_http2 {
                    node.push("enable_http2", v.into());
                }
                node
            })
            .collect();
        cfg.push("http_sd_configs", Node::Seq(configs));
    }
    if !spec.kubernetes_sd_configs.is_empty() {
        let configs = spec
            .kubernetes_sd_configs
            .iter()
            .map(|k| {
                let mut node = Node::map();
                if let Some(api) = &k.api_server {
                    node.push("api_server", api.as_str().into());
                }
                let role = k.role.to_lowercase();
                if role != "endpointslice" || ctx.at_least("2.21.0") {
                    node.push("role", role.as_str().into());
                }
                ctx.add_basic_auth(&mut node, ns, k.basic_auth.as_ref());
                ctx.add_safe_authorization(&mut node, ns, k.authorization.as_ref());
                ctx.add_oauth2(&mut node, ns, k.oauth2.as_ref());
                ctx.add_proxy(&mut node, ns, &k.proxy);
                if let Some(v) = k.follow_redirects {
                    node.push("follow_redirects", v.into());
                }
                if let Some(v) = k.enable_http2 {
                    node.push("enable_http2", v.into());
                }
                ctx.add_safe_tls(&mut node, ns, k.tls_config.as_ref());
                if let Some(namespaces) = &k.namespaces {
                    let mut n = map([("names", Node::strs(&namespaces.names))]);
                    if let Some(own) = namespaces.own_namespace {
                        n.push("own_namespace", own.into());
                    }
                    node.push("namespaces", n);
                }
                if !k.selectors.is_empty() && ctx.at_least("2.17.0") {
                    let selectors = k
                        .selectors
                        .iter()
                        .map(|s| {
                            let mut sel = map([("role", s.role.to_lowercase().into())]);
                            if let Some(label) = &s.label {
                                sel.push("label", label.as_str().into());
                            }
                            if let Some(field) = &s.field {
                                sel.push("field", field.as_str().into());
                            }
                            sel
                        })
                        .collect();
                    node.push("selectors", Node::Seq(selectors));
                }
                if let Some(attach) = &k.attach_metadata {
                    let min = match role.as_str() {
                        "pod" => Some("2.35.0"),
                        "endpoints" | "endpointslice" => Some("2.37.0"),
                        _ => None,
                    };
                    if let Some(min) = min
                        && ctx.at_least(min)
                    {
                        let value = attach.node.map_or(Node::Null, Node::Bool);
                        node.push("attach_metadata", map([("node", value)]));
                    }
                }
                node
            })
            .collect();
        cfg.push("kubernetes_sd_configs", Node::Seq(configs));
    }
    if !spec.dns_sd_configs.is_empty() {
        let configs = spec
            .dns_sd_configs
            .iter()
            .map(|d| {
                let mut node = map([("names", Node::strs(&d.names))]);
                if let Some(r) = &d.refresh_interval {
                    node.push("refresh_interval", r.as_str().into());
                }
                if let Some(t) = &d.record_type {
                    let min = match t.as_str() {
                        "NS" => "2.49.0",
                        "MX" => "2.38.0",
                        _ => "",
                    };
                    if min.is_empty() || ctx.at_least(min) {
                        node.push("type", t.as_str().into());
                    }
                }
                if let Some(p) = d.port {
                    node.push("port", Node::Int(p));
                }
                node
            })
            .collect();
        cfg.push("dns_sd_configs", Node::Seq(configs));
    }

    // The enforced namespace label is added to a ScrapeConfig's relabelings
    // only when it has relabelings of its own.
    if !spec.relabelings.is_empty() {
        rules.extend(
            labeler
                .apply(ResourceKind::ScrapeConfig, &sc.metadata, &spec.relabelings)
                .iter()
                .map(relabel_node),
        );
    }
    let has_hashmod = rules
        .iter()
        .any(|r| r.get("action").and_then(Node::as_str) == Some("hashmod"));
    if ctx.shards != 1 && !has_hashmod {
        sharding_rules(&mut rules, ctx.shards, "__address__");
    }
    cfg.push("relabel_configs", Node::Seq(rules));

    let mut metric_rules = class.metric_relabelings.clone();
    metric_rules.extend(labeler.apply(
        ResourceKind::ScrapeConfig,
        &sc.metadata,
        &spec.metric_relabelings,
    ));
    if !metric_rules.is_empty() {
        cfg.push(
            "metric_relabel_configs",
            Node::Seq(relabel_nodes(&metric_rules).collect()),
        );
    }
    if let Some(scheme) = &spec.name_validation_scheme
        && ctx.at_least("3.0.0")
    {
        cfg.push(
            "metric_name_validation_scheme",
            scheme.to_lowercase().into(),
        );
    }
    if let Some(scheme) = spec
        .name_escaping_scheme
        .as_deref()
        .and_then(escaping_scheme)
        && ctx.at_least("3.4.0")
    {
        cfg.push("metric_name_escaping_scheme", scheme.into());
    }
    cfg
}
