//! The generation context and the pieces every kind shares: version gates,
//! honor labels/timestamps, Kubernetes SD, TLS, authentication, proxy,
//! limits, native histograms, relabel rules, namespace enforcement and the
//! sharding rules. Each follows the operator's `promcfg.go` field by field,
//! including the order keys are written in.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use promshard_config::Secret as SecretValue;

use crate::model::Limits;
use crate::model::{
    AttachMetadata, Authorization, BasicAuth, LabelSelector, NamespaceSelector,
    NativeHistogramConfig, OAuth2, ObjectMeta, PrometheusSpec, ProxyConfig, RelabelConfig,
    SafeAuthorization, SafeTlsConfig, ScrapeClass, SecretOrConfigMap, TlsConfig,
};
use crate::selection::ResourceKind;
use crate::store::{Store, Value};
use crate::version::Version;
use crate::yaml::{Node, map};

/// Where the operator mounts TLS assets in the Prometheus container.
pub(crate) const TLS_ASSETS_DIR: &str = "/etc/prometheus/certs";

static NO_SCRAPE_CLASS: LazyLock<ScrapeClass> = LazyLock::new(ScrapeClass::default);

pub(crate) struct Ctx<'a> {
    pub(crate) version: Version,
    pub(crate) spec: &'a PrometheusSpec,
    pub(crate) classes: BTreeMap<&'a str, &'a ScrapeClass>,
    pub(crate) default_class: Option<&'a ScrapeClass>,
    pub(crate) store: Store<'a>,
    pub(crate) inline_tls: bool,
    pub(crate) endpoint_slice_supported: bool,
    pub(crate) shards: i64,
    /// TLS files the generated config refers to, by file name.
    pub(crate) tls_assets: RefCell<BTreeMap<String, SecretValue>>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn at_least(&self, version: &str) -> bool {
        self.version.at_least(version)
    }

    /// The scrape class a resource names, else the default class, else none.
    pub(crate) fn scrape_class(&self, name: Option<&String>) -> &'a ScrapeClass {
        if let Some(class) = name.and_then(|n| self.classes.get(n.as_str())) {
            return class;
        }
        self.default_class.unwrap_or(&NO_SCRAPE_CLASS)
    }

    pub(crate) fn honor_labels(&self, cfg: &mut Node, honor: bool) {
        cfg.push(
            "honor_labels",
            (honor && !self.spec.override_honor_labels).into(),
        );
    }

    pub(crate) fn honor_timestamps(&self, cfg: &mut Node, user: Option<bool>) {
        if user.is_none() && !self.spec.override_honor_timestamps {
            return;
        }
        if self.at_least("2.9.0") {
            let honor = user.unwrap_or(false) && !self.spec.override_honor_timestamps;
            cfg.push("honor_timestamps", honor.into());
        }
    }

    pub(crate) fn track_timestamps_staleness(&self, cfg: &mut Node, track: Option<bool>) {
        if let Some(track) = track
            && self.at_least("2.48.0")
        {
            cfg.push("track_timestamps_staleness", track.into());
        }
    }

    /// The endpoints role for a ServiceMonitor role (or the Prometheus's).
    pub(crate) fn endpoint_role(&self, role: Option<&str>) -> &'static str {
        if !self.endpoint_slice_supported || !self.at_least("2.21.0") {
            return "endpoints";
        }
        match role {
            Some("EndpointSlice") => "endpointslice",
            _ => "endpoints",
        }
    }

    pub(crate) fn default_endpoint_role(&self) -> &'static str {
        self.endpoint_role(self.spec.service_discovery_role.as_deref())
    }

    /// One `kubernetes_sd_configs` entry for a monitor in `namespace`.
    pub(crate) fn k8s_sd_config(
        &self,
        selector: &NamespaceSelector,
        namespace: &str,
        role: &str,
        attach: Option<(&AttachMetadata, &str)>,
        role_selector: Option<(&LabelSelector, &[&str])>,
    ) -> Node {
        let mut sd = map([("role", role.into())]);
        let namespaces: Vec<&str> = if self.spec.ignore_namespace_selectors {
            vec![namespace]
        } else if selector.any {
            vec![]
        } else if selector.match_names.is_empty() {
            vec![namespace]
        } else {
            selector.match_names.iter().map(String::as_str).collect()
        };
        if !namespaces.is_empty() {
            sd.push("namespaces", map([("names", Node::strs(namespaces))]));
        }
        if let Some((attach, min)) = attach
            && self.at_least(min)
        {
            sd.push(
                "attach_metadata",
                map([("node", attach.node.unwrap_or(false).into())]),
            );
        }
        if let Some((selector, roles)) = role_selector {
            let label = selector_string(selector);
            let selectors = roles
                .iter()
                .map(|r| map([("role", (*r).into()), ("label", label.clone().into())]))
                .collect();
            sd.push("selectors", Node::Seq(selectors));
        }
        Node::Seq(vec![sd])
    }

    fn tls_value(&self, namespace: &str, sel: &SecretOrConfigMap, secret: bool) -> Option<Node> {
        let value = self.store.key(namespace, sel).ok().flatten()?;
        Some(match value {
            Value::Secret(s) if secret => Node::Secret(s.clone()),
            other => Node::str(other.text()),
        })
    }

    fn tls_file(&self, namespace: &str, sel: &SecretOrConfigMap) -> Node {
        let (from, name, key) = match (&sel.secret, &sel.config_map) {
            (Some(s), _) => (0, s.name.as_str(), s.key.as_str()),
            (None, Some(c)) => (1, c.name.as_str(), c.key.as_str()),
            (None, None) => (0, "", ""),
        };
        let file = format!("{from}_{namespace}_{name}_{key}");
        if let Ok(Some(value)) = self.store.key(namespace, sel) {
            self.tls_assets
                .borrow_mut()
                .insert(file.clone(), SecretValue::new(value.text()));
        }
        Node::str(format!("{TLS_ASSETS_DIR}/{file}"))
    }

    /// `tls_config` from a SafeTLSConfig.
    pub(crate) fn safe_tls_node(&self, namespace: &str, tls: &SafeTlsConfig) -> Node {
        let mut cfg = Node::map();
        if let Some(skip) = tls.insecure_skip_verify {
            cfg.push("insecure_skip_verify", skip.into());
        }
        let refs = [("ca", &tls.ca), ("cert", &tls.cert)];
        for (name, sel) in refs {
            if sel.is_empty() {
                continue;
            }
            if self.inline_tls {
                if let Some(v) = self.tls_value(namespace, sel, false) {
                    cfg.push(name, v);
                }
            } else {
                cfg.push(&format!("{name}_file"), self.tls_file(namespace, sel));
            }
        }
        if let Some(key) = &tls.key_secret {
            let sel = SecretOrConfigMap {
                secret: Some(key.clone()),
                config_map: None,
            };
            if self.inline_tls {
                if let Some(v) = self.tls_value(namespace, &sel, true) {
                    cfg.push("key", v);
                }
            } else {
                cfg.push("key_file", self.tls_file(namespace, &sel));
            }
        }
        if let Some(name) = tls.server_name.as_deref().filter(|n| !n.is_empty()) {
            cfg.push("server_name", name.into());
        }
        if let Some(v) = &tls.min_version
            && self.at_least("2.35.0")
        {
            cfg.push("min_version", v.as_str().into());
        }
        if let Some(v) = &tls.max_version
            && self.at_least("2.41.0")
        {
            cfg.push("max_version", v.as_str().into());
        }
        cfg
    }

    pub(crate) fn add_safe_tls(
        &self,
        cfg: &mut Node,
        namespace: &str,
        tls: Option<&SafeTlsConfig>,
    ) {
        if let Some(tls) = tls {
            cfg.push("tls_config", self.safe_tls_node(namespace, tls));
        }
    }

    pub(crate) fn add_tls(&self, cfg: &mut Node, namespace: &str, tls: Option<&TlsConfig>) {
        let Some(tls) = tls else { return };
        let mut node = self.safe_tls_node(namespace, &tls.safe);
        for (key, file) in [
            ("ca_file", &tls.ca_file),
            ("cert_file", &tls.cert_file),
            ("key_file", &tls.key_file),
        ] {
            if !file.is_empty() {
                node.push(key, file.as_str().into());
            }
        }
        cfg.push("tls_config", node);
    }

    pub(crate) fn add_basic_auth(&self, cfg: &mut Node, namespace: &str, auth: Option<&BasicAuth>) {
        let Some(auth) = auth else { return };
        let value = |sel| match self.store.secret(namespace, sel) {
            Ok(s) => Node::Secret(s.clone()),
            Err(_) => Node::str(""),
        };
        cfg.push(
            "basic_auth",
            map([
                ("username", value(&auth.username)),
                ("password", value(&auth.password)),
            ]),
        );
    }

    pub(crate) fn add_authorization(
        &self,
        cfg: &mut Node,
        namespace: &str,
        auth: Option<&Authorization>,
    ) {
        let Some(auth) = auth else { return };
        let kind = if auth.safe.kind.is_empty() {
            "Bearer"
        } else {
            auth.safe.kind.trim()
        };
        let mut node = map([("type", kind.into())]);
        if let Some(sel) = &auth.safe.credentials
            && let Ok(s) = self.store.secret(namespace, sel)
        {
            node.push("credentials", Node::Secret(s.clone()));
        }
        if !auth.credentials_file.is_empty() {
            node.push("credentials_file", auth.credentials_file.as_str().into());
        }
        if self.at_least("2.26.0") {
            cfg.push("authorization", node);
        }
    }

    pub(crate) fn add_safe_authorization(
        &self,
        cfg: &mut Node,
        namespace: &str,
        auth: Option<&SafeAuthorization>,
    ) {
        let auth = auth.map(|safe| Authorization {
            safe: safe.clone(),
            credentials_file: String::new(),
        });
        self.add_authorization(cfg, namespace, auth.as_ref());
    }

    pub(crate) fn add_proxy(&self, cfg: &mut Node, namespace: &str, proxy: &ProxyConfig) {
        self.add_proxy_gated(cfg, namespace, proxy, true);
    }

    fn add_proxy_gated(&self, cfg: &mut Node, namespace: &str, proxy: &ProxyConfig, allowed: bool) {
        if proxy.is_zero() || !allowed {
            return;
        }
        if let Some(url) = &proxy.proxy_url {
            cfg.push("proxy_url", url.as_str().into());
        }
        if !self.at_least("2.43.0") {
            return;
        }
        if let Some(no_proxy) = &proxy.no_proxy {
            cfg.push("no_proxy", no_proxy.as_str().into());
        }
        if let Some(from_env) = proxy.proxy_from_environment {
            cfg.push("proxy_from_environment", from_env.into());
        }
        if let Some(headers) = &proxy.proxy_connect_header {
            let mut node = Node::map();
            for (name, sels) in headers {
                let values = sels
                    .iter()
                    .map(|sel| match self.store.secret(namespace, sel) {
                        Ok(s) => Node::Secret(s.clone()),
                        Err(_) => Node::str(""),
                    })
                    .collect();
                node.push(name, Node::Seq(values));
            }
            cfg.push("proxy_connect_header", node);
        }
    }

    pub(crate) fn add_oauth2(&self, cfg: &mut Node, namespace: &str, oauth2: Option<&OAuth2>) {
        let Some(oauth2) = oauth2 else { return };
        let Ok(client_id) = self.store.key(namespace, &oauth2.client_id) else {
            return;
        };
        let Ok(client_secret) = self.store.secret(namespace, &oauth2.client_secret) else {
            return;
        };
        let mut node = map([
            (
                "client_id",
                client_id.map_or_else(|| Node::str(""), |v| Node::str(v.text())),
            ),
            ("client_secret", Node::Secret(client_secret.clone())),
            ("token_url", oauth2.token_url.as_str().into()),
        ]);
        if !oauth2.scopes.is_empty() {
            node.push("scopes", Node::strs(&oauth2.scopes));
        }
        if !oauth2.endpoint_params.is_empty() {
            let mut params = Node::map();
            for (k, v) in &oauth2.endpoint_params {
                params.push(k, v.as_str().into());
            }
            node.push("endpoint_params", params);
        }
        let recent = self.at_least("2.43.0");
        self.add_proxy_gated(&mut node, namespace, &oauth2.proxy, recent);
        if recent {
            self.add_safe_tls(&mut node, namespace, oauth2.tls_config.as_ref());
        }
        if self.at_least("2.27.0") {
            cfg.push("oauth2", node);
        }
    }

    /// The per-job limits, with the enforced limits applied.
    pub(crate) fn add_limits(&self, cfg: &mut Node, limits: &Limits) {
        let s = self.spec;
        let items = [
            (
                "sample_limit",
                "",
                limits.sample_limit,
                s.enforced_sample_limit,
            ),
            (
                "target_limit",
                "2.21.0",
                limits.target_limit,
                s.enforced_target_limit,
            ),
            (
                "label_limit",
                "2.27.0",
                limits.label_limit,
                s.enforced_label_limit,
            ),
            (
                "label_name_length_limit",
                "2.27.0",
                limits.label_name_length_limit,
                s.enforced_label_name_length_limit,
            ),
            (
                "label_value_length_limit",
                "2.27.0",
                limits.label_value_length_limit,
                s.enforced_label_value_length_limit,
            ),
            (
                "keep_dropped_targets",
                "2.47.0",
                limits.keep_dropped_targets,
                s.enforced_keep_dropped_targets,
            ),
        ];
        for (key, min, user, enforced) in items {
            if let Some(limit) = self.limit(user, enforced)
                && (min.is_empty() || self.at_least(min))
            {
                cfg.push(key, limit.into());
            }
        }
    }

    fn limit(&self, user: Option<u64>, enforced: Option<u64>) -> Option<u64> {
        let enforced_value = enforced.unwrap_or(0);
        if enforced_value == 0 {
            return user;
        }
        let user_value = user.unwrap_or(0);
        if user_value == 0 {
            // From 2.45 the enforced limit is written in `global` instead.
            return if self.at_least("2.45.0") {
                None
            } else {
                enforced
            };
        }
        if enforced_value > user_value {
            user
        } else {
            enforced
        }
    }

    pub(crate) fn add_native_histograms(&self, cfg: &mut Node, nh: &NativeHistogramConfig) {
        if nh.is_zero() {
            return;
        }
        if let Some(v) = nh.scrape_native_histograms
            && self.at_least("3.8.0")
        {
            cfg.push("scrape_native_histograms", v.into());
        }
        if let Some(v) = nh.native_histogram_bucket_limit
            && self.at_least("2.45.0")
        {
            cfg.push("native_histogram_bucket_limit", v.into());
        }
        if let Some(v) = nh.native_histogram_min_bucket_factor
            && self.at_least("2.50.0")
        {
            cfg.push("native_histogram_min_bucket_factor", Node::Float(v));
        }
        if let Some(v) = nh.scrape_classic_histograms {
            if self.version.major == 3 {
                cfg.push("always_scrape_classic_histograms", v.into());
            } else if self.at_least("2.45.0") {
                cfg.push("scrape_classic_histograms", v.into());
            }
        }
        if let Some(v) = nh.convert_classic_histograms_to_nhcb
            && self.at_least("3.0.0")
        {
            cfg.push("convert_classic_histograms_to_nhcb", v.into());
        }
    }

    pub(crate) fn add_scrape_protocols(&self, cfg: &mut Node, protocols: &[String]) {
        if protocols.is_empty() {
            return;
        }
        let v3 = self.at_least("3.0.0-rc.0");
        let kept: Vec<&String> = protocols
            .iter()
            .filter(|p| v3 || p.as_str() != "PrometheusText1.0.0")
            .collect();
        if self.at_least("2.49.0") {
            cfg.push("scrape_protocols", Node::strs(kept));
        }
    }

    pub(crate) fn add_fallback_scrape_protocol(
        &self,
        cfg: &mut Node,
        own: Option<&String>,
        class: &ScrapeClass,
    ) {
        if let Some(p) = own.or(class.fallback_scrape_protocol.as_ref())
            && self.at_least("3.0.0")
        {
            cfg.push("fallback_scrape_protocol", p.as_str().into());
        }
    }

    /// `body_size_limit`: the smaller of the resource's and the enforced one.
    pub(crate) fn add_body_size_limit(&self, cfg: &mut Node, own: Option<&String>) {
        let enforced = self.spec.enforced_body_size_limit.as_str();
        let own = own.map(String::as_str).unwrap_or("");
        let limit = if enforced.is_empty() {
            own
        } else if own.is_empty() || base2_bytes(own) > base2_bytes(enforced) {
            enforced
        } else {
            own
        };
        if !limit.is_empty() && self.at_least("2.28.0") {
            cfg.push("body_size_limit", limit.into());
        }
    }

    pub(crate) fn checker(&self) -> crate::validate::Checker<'_> {
        crate::validate::Checker {
            version: &self.version,
            spec: self.spec,
            store: &self.store,
        }
    }

    pub(crate) fn labeler(&self) -> Labeler<'a> {
        Labeler { spec: self.spec }
    }
}

/// `enforcedNamespaceLabel`: appends a rule setting the label to the
/// resource's namespace, last, unless the resource is excluded.
pub(crate) struct Labeler<'a> {
    spec: &'a PrometheusSpec,
}

impl Labeler<'_> {
    pub(crate) fn apply(
        &self,
        kind: ResourceKind,
        meta: &ObjectMeta,
        rules: &[RelabelConfig],
    ) -> Vec<RelabelConfig> {
        let mut out = rules.to_vec();
        let label = &self.spec.enforced_namespace_label;
        if label.is_empty() || self.excluded(kind, meta) {
            return out;
        }
        out.push(RelabelConfig {
            target_label: label.clone(),
            replacement: Some(meta.namespace.clone()),
            ..RelabelConfig::default()
        });
        out
    }

    fn excluded(&self, kind: ResourceKind, meta: &ObjectMeta) -> bool {
        self.spec.excluded_from_enforcement.iter().any(|r| {
            !r.namespace.is_empty()
                && r.namespace == meta.namespace
                && r.group == "monitoring.coreos.com"
                && r.resource == kind.resource()
                && (r.name.is_empty() || r.name == meta.name)
        })
    }
}

/// A relabel rule as the operator writes it.
pub(crate) fn relabel_node(rc: &RelabelConfig) -> Node {
    let mut node = Node::map();
    if !rc.source_labels.is_empty() {
        node.push("source_labels", Node::strs(&rc.source_labels));
    }
    if let Some(sep) = &rc.separator {
        node.push("separator", sep.as_str().into());
    }
    if !rc.target_label.is_empty() {
        node.push("target_label", rc.target_label.as_str().into());
    }
    if !rc.regex.is_empty() {
        node.push("regex", rc.regex.as_str().into());
    }
    if rc.modulus != 0 {
        node.push("modulus", rc.modulus.into());
    }
    if let Some(r) = &rc.replacement {
        node.push("replacement", r.as_str().into());
    }
    if !rc.action.is_empty() {
        node.push("action", rc.action.to_lowercase().into());
    }
    node
}

pub(crate) fn relabel_nodes(rules: &[RelabelConfig]) -> impl Iterator<Item = Node> + '_ {
    rules.iter().map(relabel_node)
}

/// The first rule of every job: keep the job name in a meta label.
pub(crate) fn init_relabelings() -> Vec<Node> {
    vec![map([
        ("source_labels", Node::strs(["job"])),
        ("target_label", "__tmp_prometheus_job_name".into()),
    ])]
}

/// Keeps targets whose pod is running.
pub(crate) fn running_filter() -> Node {
    map([
        ("action", "drop".into()),
        ("source_labels", Node::strs(["__meta_kubernetes_pod_phase"])),
        ("regex", "(Failed|Succeeded)".into()),
    ])
}

/// The operator's sharding rules on `label` (`__address__`, or
/// `__param_target` for probes). `$(SHARD)` is expanded by the config
/// reloader (see [`crate::config_secret::expand_env`]).
pub(crate) fn sharding_rules(rules: &mut Vec<Node>, shards: i64, label: &str) {
    rules.push(map([
        ("source_labels", Node::strs([label, "__tmp_hash"])),
        ("target_label", "__tmp_hash".into()),
        ("regex", "(.+);".into()),
        ("replacement", "$1".into()),
        ("action", "replace".into()),
    ]));
    rules.push(map([
        ("source_labels", Node::strs(["__tmp_hash"])),
        ("target_label", "__tmp_hash".into()),
        ("modulus", Node::Int(shards)),
        ("action", "hashmod".into()),
    ]));
    rules.push(map([
        (
            "source_labels",
            Node::strs(["__tmp_hash", "__tmp_disable_sharding"]),
        ),
        ("regex", "$(SHARD);|.+;.+".into()),
        ("action", "keep".into()),
    ]));
}

/// Label selector rules on `__meta_kubernetes_<object>_label_*`.
pub(crate) fn selector_rules(rules: &mut Vec<Node>, object: &str, selector: &LabelSelector) {
    let label = |k: &str| {
        format!(
            "__meta_kubernetes_{object}_label_{}",
            sanitize_label_name(k)
        )
    };
    let present = |k: &str| {
        format!(
            "__meta_kubernetes_{object}_labelpresent_{}",
            sanitize_label_name(k)
        )
    };
    for (k, v) in &selector.match_labels {
        rules.push(map([
            ("action", "keep".into()),
            ("source_labels", Node::strs([label(k), present(k)])),
            ("regex", format!("({v});true").into()),
        ]));
    }
    for exp in &selector.match_expressions {
        let joined = || format!("({});true", exp.values.join("|"));
        let rule = match exp.operator.as_str() {
            "In" => map([
                ("action", "keep".into()),
                (
                    "source_labels",
                    Node::strs([label(&exp.key), present(&exp.key)]),
                ),
                ("regex", joined().into()),
            ]),
            "NotIn" => map([
                ("action", "drop".into()),
                (
                    "source_labels",
                    Node::strs([label(&exp.key), present(&exp.key)]),
                ),
                ("regex", joined().into()),
            ]),
            "Exists" => map([
                ("action", "keep".into()),
                ("source_labels", Node::strs([present(&exp.key)])),
                ("regex", "true".into()),
            ]),
            "DoesNotExist" => map([
                ("action", "drop".into()),
                ("source_labels", Node::strs([present(&exp.key)])),
                ("regex", "true".into()),
            ]),
            _ => continue,
        };
        rules.push(rule);
    }
}

/// Label-name characters outside `[a-zA-Z0-9_]` become `_`.
pub(crate) fn sanitize_label_name(name: &str) -> String {
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

/// A label selector in Kubernetes' string form (requirements sorted by
/// key; `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`).
pub(crate) fn selector_string(selector: &LabelSelector) -> String {
    let mut requirements: Vec<(String, String)> = selector
        .match_labels
        .iter()
        .map(|(k, v)| (k.clone(), format!("{k}={v}")))
        .collect();
    for exp in &selector.match_expressions {
        let mut values = exp.values.clone();
        values.sort();
        let text = match exp.operator.as_str() {
            "In" => format!("{} in ({})", exp.key, values.join(",")),
            "NotIn" => format!("{} notin ({})", exp.key, values.join(",")),
            "Exists" => exp.key.clone(),
            "DoesNotExist" => format!("!{}", exp.key),
            _ => continue,
        };
        requirements.push((exp.key.clone(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    requirements
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// Merges a resource's TLS settings with its scrape class's: the class
/// fills in the file paths the resource does not set.
pub(crate) fn merge_tls(own: Option<&TlsConfig>, class: &ScrapeClass) -> Option<TlsConfig> {
    let Some(own) = own else {
        return class.tls_config.clone();
    };
    let Some(class_tls) = &class.tls_config else {
        return Some(own.clone());
    };
    let mut tls = own.clone();
    if tls.ca_file.is_empty() && tls.safe.ca.is_empty() {
        tls.ca_file = class_tls.ca_file.clone();
    }
    if tls.cert_file.is_empty() && tls.safe.cert.is_empty() {
        tls.cert_file = class_tls.cert_file.clone();
    }
    if tls.key_file.is_empty() && tls.safe.key_secret.is_none() {
        tls.key_file = class_tls.key_file.clone();
    }
    Some(tls)
}

/// [`merge_tls`] for a SafeTLSConfig (an all-unset one counts as absent).
pub(crate) fn merge_safe_tls(
    own: Option<&SafeTlsConfig>,
    class: &ScrapeClass,
) -> Option<TlsConfig> {
    match own {
        Some(safe) if !safe.is_zero() => merge_tls(
            Some(&TlsConfig {
                safe: safe.clone(),
                ..TlsConfig::default()
            }),
            class,
        ),
        _ => merge_tls(None, class),
    }
}

/// Merges a resource's authorization with its scrape class's.
pub(crate) fn merge_authorization(
    own: Option<&SafeAuthorization>,
    class: &ScrapeClass,
) -> Option<Authorization> {
    let own = own.filter(|a| **a != SafeAuthorization::default());
    let Some(own) = own else {
        return class.authorization.clone();
    };
    let mut authz = Authorization {
        safe: own.clone(),
        credentials_file: String::new(),
    };
    let Some(class_authz) = &class.authorization else {
        return Some(authz);
    };
    if authz.safe.credentials.is_none() {
        authz.safe.credentials = class_authz.safe.credentials.clone();
    }
    if authz.safe.credentials.is_none() && authz.credentials_file.is_empty() {
        authz.credentials_file = class_authz.credentials_file.clone();
    }
    Some(authz)
}

/// Kubernetes-style byte sizes as `alecthomas/units.ParseBase2Bytes` reads
/// them (every unit a power of 1024); unparsable sizes count as 0.
pub(crate) fn base2_bytes(size: &str) -> u64 {
    const UNITS: [(&str, u32); 13] = [
        ("KiB", 1),
        ("MiB", 2),
        ("GiB", 3),
        ("TiB", 4),
        ("PiB", 5),
        ("EiB", 6),
        ("KB", 1),
        ("MB", 2),
        ("GB", 3),
        ("TB", 4),
        ("PB", 5),
        ("EB", 6),
        ("B", 0),
    ];
    for (unit, power) in UNITS {
        if let Some(number) = size.strip_suffix(unit) {
            return number
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(1024u64.pow(power)))
                .unwrap_or(0);
        }
    }
    0
}
