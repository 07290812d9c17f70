//! Probes to scrape configs (`generateProbeConfig`): the prober is scraped
//! with each probed target as its `target` parameter.

use crate::model::Probe;
use crate::selection::ResourceKind;
use crate::yaml::{Node, map};

use super::common::{
    Ctx, init_relabelings, merge_authorization, merge_safe_tls, relabel_nodes, selector_rules,
    sharding_rules,
};

/// One scrape config, `probe/<ns>/<name>`.
pub(crate) fn generate(ctx: &Ctx<'_>, m: &Probe) -> Vec<Node> {
    vec![probe(ctx, m)]
}

fn probe(ctx: &Ctx<'_>, m: &Probe) -> Node {
    let spec = &m.spec;
    let ns = m.metadata.namespace.as_str();
    let class = ctx.scrape_class(spec.scrape_class_name.as_ref());

    let mut cfg = map([("job_name", format!("probe/{ns}/{}", m.metadata.name).into())]);
    ctx.honor_timestamps(&mut cfg, Some(true));
    cfg.push("metrics_path", spec.prober.path.as_str().into());
    if !spec.interval.is_empty() {
        cfg.push("scrape_interval", spec.interval.as_str().into());
    }
    if !spec.scrape_timeout.is_empty() {
        cfg.push("scrape_timeout", spec.scrape_timeout.as_str().into());
    }
    if let Some(scheme) = &spec.prober.scheme {
        cfg.push("scheme", scheme.to_lowercase().into());
    }
    let mut params = Node::map();
    if !spec.module.is_empty() {
        params.push("module", Node::strs([&spec.module]));
    }
    for p in &spec.params {
        if !spec.module.is_empty() && p.name == "module" {
            continue;
        }
        params.push(&p.name, Node::strs(&p.values));
    }
    if !params.is_empty_collection() {
        cfg.push("params", params);
    }
    ctx.add_limits(&mut cfg, &spec.limits);
    ctx.add_native_histograms(&mut cfg, &spec.native_histograms);
    ctx.add_scrape_protocols(&mut cfg, &spec.scrape_protocols);
    ctx.add_fallback_scrape_protocol(&mut cfg, spec.fallback_scrape_protocol.as_ref(), class);
    // Probes have no body size limit of their own: only the enforced one.
    let enforced = &ctx.spec.enforced_body_size_limit;
    if !enforced.is_empty() && ctx.at_least("2.28.0") {
        cfg.push("body_size_limit", enforced.as_str().into());
    }

    let mut rules = init_relabelings();
    if !spec.job_name.is_empty() {
        rules.push(map([
            ("target_label", "job".into()),
            ("replacement", spec.job_name.as_str().into()),
        ]));
    }
    let labeler = ctx.labeler();
    ctx.add_proxy(&mut cfg, ns, &spec.prober.proxy);

    let prober_address = map([
        ("target_label", "__address__".into()),
        ("replacement", spec.prober.url.as_str().into()),
    ]);
    let instance = map([
        ("source_labels", Node::strs(["__param_target"])),
        ("target_label", "instance".into()),
    ]);
    // A static config wins over an ingress when both are set.
    if let Some(static_config) = &spec.targets.static_config {
        let mut labels = static_config.labels.clone().unwrap_or_default();
        labels
            .entry("namespace".into())
            .or_insert_with(|| ns.to_owned());
        let mut label_node = Node::map();
        for (k, v) in &labels {
            label_node.push(k, v.as_str().into());
        }
        cfg.push(
            "static_configs",
            Node::Seq(vec![map([
                ("targets", Node::strs(&static_config.targets)),
                ("labels", label_node),
            ])]),
        );
        rules.push(map([
            ("source_labels", Node::strs(["__address__"])),
            ("target_label", "__param_target".into()),
        ]));
        rules.push(instance);
        rules.push(prober_address);
        rules.extend(relabel_nodes(&class.relabelings));
        rules.extend(relabel_nodes(&labeler.apply(
            ResourceKind::Probe,
            &m.metadata,
            &static_config.relabeling_configs,
        )));
    } else if let Some(ingress) = &spec.targets.ingress {
        selector_rules(&mut rules, "ingress", &ingress.selector);
        cfg.push(
            "kubernetes_sd_configs",
            ctx.k8s_sd_config(&ingress.namespace_selector, ns, "ingress", None, None),
        );
        rules.push(map([
            (
                "source_labels",
                Node::strs([
                    "__meta_kubernetes_ingress_scheme",
                    "__address__",
                    "__meta_kubernetes_ingress_path",
                ]),
            ),
            ("separator", ";".into()),
            ("regex", "(.+);(.+);(.+)".into()),
            ("target_label", "__param_target".into()),
            ("replacement", "${1}://${2}${3}".into()),
            ("action", "replace".into()),
        ]));
        for (source, label) in [
            ("__meta_kubernetes_namespace", "namespace"),
            ("__meta_kubernetes_ingress_name", "ingress"),
        ] {
            rules.push(map([
                ("source_labels", Node::strs([source])),
                ("target_label", label.into()),
            ]));
        }
        rules.push(map([
            ("source_labels", Node::strs(["__address__"])),
            ("separator", ";".into()),
            ("regex", "(.*)".into()),
            ("target_label", "__tmp_ingress_address".into()),
            ("replacement", "$1".into()),
            ("action", "replace".into()),
        ]));
        rules.push(instance);
        rules.push(prober_address);
        rules.extend(relabel_nodes(&class.relabelings));
        rules.extend(relabel_nodes(&labeler.apply(
            ResourceKind::Probe,
            &m.metadata,
            &ingress.relabeling_configs,
        )));
    }
    sharding_rules(&mut rules, ctx.shards, "__param_target");
    cfg.push("relabel_configs", Node::Seq(rules));

    ctx.add_tls(
        &mut cfg,
        ns,
        merge_safe_tls(spec.tls_config.as_ref(), class).as_ref(),
    );
    if let Some(sel) = &spec.bearer_token_secret
        && let Ok(token) = ctx.store.secret(ns, sel)
    {
        cfg.push("bearer_token", Node::Secret(token.clone()));
    }
    ctx.add_basic_auth(&mut cfg, ns, spec.basic_auth.as_ref());
    ctx.add_oauth2(&mut cfg, ns, spec.oauth2.as_ref());
    ctx.add_authorization(
        &mut cfg,
        ns,
        merge_authorization(spec.authorization.as_ref(), class).as_ref(),
    );

    let mut metric_rules = class.metric_relabelings.clone();
    metric_rules.extend(labeler.apply(ResourceKind::Probe, &m.metadata, &spec.metric_relabelings));
    if !metric_rules.is_empty() {
        cfg.push(
            "metric_relabel_configs",
            Node::Seq(relabel_nodes(&metric_rules).collect()),
        );
    }
    cfg
}
