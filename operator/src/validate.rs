//! Why the operator rejects a resource (`resource_selector.go` and the
//! `validation` package): each check returns the operator's message for the
//! first problem found.

use crate::model::RelabelConfig;
use crate::version::Version;

/// Validates relabel rules (`LabelConfigValidator.Validate`); the message
/// starts with the rule's index.
pub(crate) fn relabel_configs(rules: &[RelabelConfig], version: &Version) -> Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        relabel_config(rule, version).map_err(|e| format!("[{i}]: {e}"))?;
    }
    Ok(())
}

fn relabel_config(rc: &RelabelConfig, version: &Version) -> Result<(), String> {
    let written = if rc.action.is_empty() {
        "replace"
    } else {
        rc.action.as_str()
    };
    let action = written.to_lowercase();
    let is = |names: &[&str]| names.contains(&action.as_str());
    let utf8_names = version.major >= 3;
    let valid_name = |name: &str| {
        if utf8_names {
            !name.is_empty()
        } else {
            is_legacy_label_name(name)
        }
    };

    if is(&["lowercase", "uppercase"]) && !version.at_least("2.36.0") {
        return Err(format!(
            "{written} relabel action is only supported from Prometheus version 2.36.0"
        ));
    }
    if is(&["keepequal", "dropequal"]) && !version.at_least("2.41.0") {
        return Err(format!(
            "{written} relabel action is only supported from Prometheus version 2.41.0"
        ));
    }
    if let Err(e) = promshard_config::relabel::compile_go_regex(&rc.regex) {
        return Err(format!(
            "invalid regex {} for relabel configuration: {e}",
            rc.regex
        ));
    }
    if rc.modulus == 0 && action == "hashmod" {
        return Err("relabel configuration for hashmod requires non-zero modulus".into());
    }
    let needs_target = [
        "replace",
        "hashmod",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    ];
    if is(&needs_target) && rc.target_label.is_empty() {
        return Err(format!(
            "relabel configuration for {written} action needs targetLabel value"
        ));
    }
    if is(&[
        "replace",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
        "hashmod",
    ]) && !valid_name(&rc.target_label)
    {
        return Err(format!(
            "{:?} is invalid 'target_label' for {written} action",
            rc.target_label
        ));
    }
    let default_replacement = |r: &Option<String>| r.as_deref().is_none_or(|r| r == "$1");
    if is(&["lowercase", "uppercase", "keepequal", "dropequal"])
        && !default_replacement(&rc.replacement)
    {
        return Err(format!("'replacement' can not be set for {written} action"));
    }
    if action == "labelmap"
        && let Some(r) = &rc.replacement
        && !valid_name(r)
    {
        return Err(format!(
            "{r:?} is invalid 'replacement' for {written} action"
        ));
    }
    let default_separator = rc.separator.as_deref().is_none_or(|s| s == ";");
    if is(&["keepequal", "dropequal"])
        && ((!rc.regex.is_empty() && rc.regex != "(.*)")
            || rc.modulus != 0
            || !default_separator
            || !default_replacement(&rc.replacement))
    {
        return Err(format!(
            "{written} action requires only 'source_labels' and `target_label`, and no other fields"
        ));
    }
    if is(&["labeldrop", "labelkeep"])
        && (!rc.source_labels.is_empty()
            || !rc.target_label.is_empty()
            || rc.modulus != 0
            || !default_separator
            || !default_replacement(&rc.replacement))
    {
        return Err(format!(
            "{written} action requires only 'regex', and no other fields"
        ));
    }
    Ok(())
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_legacy_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

use base64::Engine as _;

use crate::generate::compare_timeout;
use crate::model::{
    BasicAuth, OAuth2, PodMonitor, Probe, PrometheusSpec, ProxyConfig, SafeAuthorization,
    SafeTlsConfig, ScrapeConfig, SecretKeySelector, SecretOrConfigMap, ServiceMonitor, TlsConfig,
};
use crate::store::Store;

/// What the checks need from the generation context.
pub(crate) struct Checker<'a> {
    pub(crate) version: &'a Version,
    pub(crate) spec: &'a PrometheusSpec,
    pub(crate) store: &'a Store<'a>,
}

impl Checker<'_> {
    /// `checkServiceMonitor`.
    pub(crate) fn service_monitor(&self, m: &ServiceMonitor) -> Result<(), String> {
        let ns = m.metadata.namespace.as_str();
        m.spec.selector.validate()?;
        self.selector_mechanism(m.spec.selector_mechanism.as_deref())?;
        for (i, ep) in m.spec.endpoints.iter().enumerate() {
            let at = |e: String| format!("endpoints[{i}]: {e}");
            if self.spec.arbitrary_fs_access_through_sms.deny {
                fs_access(ep.bearer_token_file.as_str(), ep.tls_config.as_ref()).map_err(at)?;
            }
            if let Some(sel) = ep
                .bearer_token_secret
                .as_ref()
                .filter(|s| !s.name.is_empty())
            {
                self.secret(ns, sel)
                    .map_err(|e| at(format!("bearerTokenSecret: {e}")))?;
            }
            self.basic_auth(ns, ep.basic_auth.as_ref())
                .map_err(|e| at(format!("basicAuth: {e}")))?;
            self.tls(ns, ep.tls_config.as_ref())
                .map_err(|e| at(format!("tlsConfig: {e}")))?;
            self.oauth2(ns, ep.oauth2.as_ref())
                .map_err(|e| at(format!("oauth2: {e}")))?;
            self.authorization(ns, ep.authorization.as_ref())
                .map_err(|e| at(format!("authorization: {e}")))?;
            single_auth(
                ep.basic_auth.is_some(),
                ep.oauth2.is_some(),
                ep.authorization.is_some() || ep.bearer_token_secret.is_some(),
            )
            .map_err(at)?;
            self.interval(&ep.interval, &ep.scrape_timeout)
                .map_err(at)?;
            relabel_configs(&ep.relabelings, self.version)
                .map_err(|e| at(format!("relabelConfigs: {e}")))?;
            relabel_configs(&ep.metric_relabelings, self.version)
                .map_err(|e| at(format!("metricRelabelConfigs: {e}")))?;
            self.proxy(ns, &ep.proxy)?;
        }
        self.scrape_class(m.spec.scrape_class_name.as_deref())
            .map_err(|e| format!("scrapeClassName: {e}"))
    }

    /// `checkPodMonitor`.
    pub(crate) fn pod_monitor(&self, m: &PodMonitor) -> Result<(), String> {
        let ns = m.metadata.namespace.as_str();
        m.spec
            .selector
            .validate()
            .map_err(|e| format!("failed to parse label selector: {e}"))?;
        self.selector_mechanism(m.spec.selector_mechanism.as_deref())?;
        for (i, ep) in m.spec.pod_metrics_endpoints.iter().enumerate() {
            let at = |e: String| format!("endpoint[{i}]: {e}");
            if let Some(sel) = ep
                .bearer_token_secret
                .as_ref()
                .filter(|s| !s.name.is_empty() && !s.key.is_empty())
            {
                self.secret(ns, sel)
                    .map_err(|e| at(format!("bearerTokenSecret: {e}")))?;
            }
            self.basic_auth(ns, ep.basic_auth.as_ref())
                .map_err(|e| at(format!("basicAuth: {e}")))?;
            self.safe_tls(ns, ep.tls_config.as_ref())
                .map_err(|e| at(format!("tlsConfig: {e}")))?;
            self.oauth2(ns, ep.oauth2.as_ref())
                .map_err(|e| at(format!("oauth2: {e}")))?;
            self.authorization(ns, ep.authorization.as_ref())
                .map_err(|e| at(format!("authorization: {e}")))?;
            single_auth(
                ep.basic_auth.is_some(),
                ep.oauth2.is_some(),
                ep.authorization.is_some() || ep.bearer_token_secret.is_some(),
            )
            .map_err(at)?;
            self.interval(&ep.interval, &ep.scrape_timeout)
                .map_err(at)?;
            relabel_configs(&ep.relabelings, self.version)
                .map_err(|e| at(format!("relabelConfigs: {e}")))?;
            relabel_configs(&ep.metric_relabelings, self.version)
                .map_err(|e| at(format!("metricRelabelConfigs: {e}")))?;
            self.proxy(ns, &ep.proxy)
                .map_err(|e| at(format!("proxyConfig: {e}")))?;
        }
        self.scrape_class(m.spec.scrape_class_name.as_deref())
            .map_err(|e| format!("scrapeClassName: {e}"))
    }

    /// `checkProbe`.
    pub(crate) fn probe(&self, p: &Probe) -> Result<(), String> {
        let ns = p.metadata.namespace.as_str();
        let spec = &p.spec;
        self.scrape_class(spec.scrape_class_name.as_deref())
            .map_err(|e| format!("scrapeClassName: {e}"))?;
        if spec.targets.static_config.is_none() && spec.targets.ingress.is_none() {
            return Err(
                "at least one of .spec.targets.staticConfig and .spec.targets.ingress is required"
                    .into(),
            );
        }
        if let Some(sel) = spec
            .bearer_token_secret
            .as_ref()
            .filter(|s| !s.name.is_empty() && !s.key.is_empty())
        {
            self.secret(ns, sel)
                .map_err(|e| format!("bearerTokenSecret: {e}"))?;
        }
        self.basic_auth(ns, spec.basic_auth.as_ref())
            .map_err(|e| format!("basicAuth: {e}"))?;
        self.safe_tls(ns, spec.tls_config.as_ref())
            .map_err(|e| format!("tlsConfig: {e}"))?;
        self.authorization(ns, spec.authorization.as_ref())
            .map_err(|e| format!("authorization: {e}"))?;
        self.oauth2(ns, spec.oauth2.as_ref())
            .map_err(|e| format!("oauth2: {e}"))?;
        single_auth(
            spec.basic_auth.is_some(),
            spec.oauth2.is_some(),
            spec.authorization.is_some() || spec.bearer_token_secret.is_some(),
        )?;
        self.interval(&spec.interval, &spec.scrape_timeout)?;
        relabel_configs(&spec.metric_relabelings, self.version)
            .map_err(|e| format!("metricRelabelConfigs: {e}"))?;
        if let Some(s) = &spec.targets.static_config {
            relabel_configs(&s.relabeling_configs, self.version)
                .map_err(|e| format!("targets.staticConfig.relabelConfigs: {e}"))?;
        }
        if let Some(i) = &spec.targets.ingress {
            relabel_configs(&i.relabeling_configs, self.version)
                .map_err(|e| format!("targets.ingress.relabelConfigs: {e}"))?;
        }
        self.proxy(ns, &spec.prober.proxy)
            .map_err(|e| format!("proxy configuration: {e}"))?;
        prober_url(&spec.prober.url).map_err(|e| {
            format!(
                "{:?} url specified in proberSpec is invalid, it should be of the format `hostname` or `hostname:port`: {e}",
                spec.prober.url
            )
        })
    }

    /// `checkScrapeConfig` for the service discoveries modelled.
    pub(crate) fn scrape_config(&self, sc: &ScrapeConfig) -> Result<(), String> {
        let ns = sc.metadata.namespace.as_str();
        let spec = &sc.spec;
        self.scrape_class(spec.scrape_class_name.as_deref())?;
        relabel_configs(&spec.relabelings, self.version)
            .map_err(|e| format!("relabelConfigs: {e}"))?;
        self.basic_auth(ns, spec.basic_auth.as_ref())
            .map_err(|e| format!("basicAuth: {e}"))?;
        self.authorization(ns, spec.authorization.as_ref())
            .map_err(|e| format!("authorization: {e}"))?;
        self.oauth2(ns, spec.oauth2.as_ref())
            .map_err(|e| format!("oauth2: {e}"))?;
        self.safe_tls(ns, spec.tls_config.as_ref())
            .map_err(|e| format!("tlsConfig: {e}"))?;
        single_auth(
            spec.basic_auth.is_some(),
            spec.oauth2.is_some(),
            spec.authorization.is_some(),
        )?;
        self.interval(
            spec.scrape_interval.as_deref().unwrap_or(""),
            spec.scrape_timeout.as_deref().unwrap_or(""),
        )?;
        self.proxy(ns, &spec.proxy)?;
        relabel_configs(&spec.metric_relabelings, self.version)
            .map_err(|e| format!("metricRelabelConfigs: {e}"))?;
        for (i, group) in spec.static_configs.iter().enumerate() {
            for name in group.labels.keys() {
                let valid = if self.version.major >= 3 {
                    !name.is_empty()
                } else {
                    is_legacy_label_name(name)
                };
                if !valid {
                    return Err(format!("staticConfigs: [{i}]: invalid label name {name:?}"));
                }
            }
        }
        if !spec.http_sd_configs.is_empty() && !self.version.at_least("2.28.0") {
            return Err("httpSDConfigs: HTTP SD configuration is only supported for Prometheus version >= 2.28.0".into());
        }
        for (i, h) in spec.http_sd_configs.iter().enumerate() {
            let at = |e: String| format!("httpSDConfigs: [{i}]: {e}");
            self.basic_auth(ns, h.basic_auth.as_ref()).map_err(at)?;
            self.authorization(ns, h.authorization.as_ref())
                .map_err(at)?;
            self.oauth2(ns, h.oauth2.as_ref()).map_err(at)?;
            self.safe_tls(ns, h.tls_config.as_ref()).map_err(at)?;
            self.proxy(ns, &h.proxy).map_err(at)?;
        }
        for (i, k) in spec.kubernetes_sd_configs.iter().enumerate() {
            let at = |e: String| format!("kubernetesSDConfigs: [{i}]: {e}");
            self.basic_auth(ns, k.basic_auth.as_ref()).map_err(at)?;
            self.authorization(ns, k.authorization.as_ref())
                .map_err(at)?;
            self.oauth2(ns, k.oauth2.as_ref()).map_err(at)?;
            self.safe_tls(ns, k.tls_config.as_ref()).map_err(at)?;
            self.proxy(ns, &k.proxy).map_err(at)?;
            if k.api_server.is_some()
                && k.namespaces.as_ref().and_then(|n| n.own_namespace) == Some(true)
            {
                return Err(at(
                    "cannot use 'apiServer' and 'namespaces.ownNamespace' simultaneously".into(),
                ));
            }
            let role = k.role.to_lowercase();
            let allowed: &[&str] = match role.as_str() {
                "pod" => &["pod"],
                "service" => &["service"],
                "endpointslice" => &["pod", "service", "endpointslice"],
                "endpoints" => &["pod", "service", "endpoints"],
                "node" => &["node"],
                "ingress" => &["ingress"],
                _ if k.selectors.is_empty() => &[],
                _ => {
                    return Err(format!(
                        "kubernetesSDConfigs: [{i}]: invalid role: {:?}, expecting one of: pod, service, endpoints, endpointslice, node or ingress",
                        k.selectors[0].role
                    ));
                }
            };
            for s in &k.selectors {
                if !allowed.contains(&s.role.to_lowercase().as_str()) {
                    return Err(format!(
                        "kubernetesSDConfigs: [{i}] : {} role supports only {} selectors",
                        k.role,
                        allowed.join(", ")
                    ));
                }
            }
        }
        for (i, d) in spec.dns_sd_configs.iter().enumerate() {
            if let Some(t) = &d.record_type
                && t != "SRV"
                && d.port.is_none()
            {
                return Err(format!(
                    "dnsSDConfigs: [{i}]: port required for record type {t:?}"
                ));
            }
        }
        Ok(())
    }

    fn selector_mechanism(&self, mechanism: Option<&str>) -> Result<(), String> {
        if mechanism == Some("RoleSelector") && !self.version.at_least("2.17.0") {
            return Err(
                "RoleSelector selectorMechanism is only supported in Prometheus 2.17.0 and newer"
                    .into(),
            );
        }
        Ok(())
    }

    fn scrape_class(&self, name: Option<&str>) -> Result<(), String> {
        match name.filter(|n| !n.is_empty()) {
            Some(n) if !self.spec.scrape_classes.iter().any(|c| c.name == n) => Err(format!(
                "scrapeClass {n:?} not found in Prometheus scrapeClasses"
            )),
            _ => Ok(()),
        }
    }

    /// `validateScrapeIntervalAndTimeout`, plus the CRD's duration pattern.
    fn interval(&self, interval: &str, timeout: &str) -> Result<(), String> {
        for (field, value) in [("interval", interval), ("scrapeTimeout", timeout)] {
            if !value.is_empty() {
                promshard_config::PromDuration::parse(value)
                    .map_err(|e| format!("{field}: invalid duration {value:?}: {e}"))?;
            }
        }
        if timeout.is_empty() {
            return Ok(());
        }
        let interval = if interval.is_empty() {
            self.spec.scrape_interval.as_str()
        } else {
            interval
        };
        compare_timeout(timeout, interval)
    }

    fn secret(&self, ns: &str, sel: &SecretKeySelector) -> Result<(), String> {
        self.store.secret(ns, sel).map(|_| ())
    }

    fn basic_auth(&self, ns: &str, auth: Option<&BasicAuth>) -> Result<(), String> {
        let Some(auth) = auth else { return Ok(()) };
        self.secret(ns, &auth.username)
            .map_err(|e| format!("failed to get basic auth username: {e}"))?;
        self.secret(ns, &auth.password)
            .map_err(|e| format!("failed to get basic auth password: {e}"))
    }

    fn authorization(&self, ns: &str, auth: Option<&SafeAuthorization>) -> Result<(), String> {
        let Some(auth) = auth else { return Ok(()) };
        let Some(credentials) = &auth.credentials else {
            return Ok(());
        };
        if auth.kind.trim().eq_ignore_ascii_case("basic") {
            return Err(
                "Authorization type cannot be set to \"basic\", use \"basic_auth\" instead".into(),
            );
        }
        if !credentials.name.is_empty() {
            self.secret(ns, credentials).map_err(|e| {
                format!(
                    "failed to get authorization token of type {:?}: {e}",
                    auth.kind
                )
            })?;
        }
        Ok(())
    }

    fn oauth2(&self, ns: &str, oauth2: Option<&OAuth2>) -> Result<(), String> {
        let Some(o) = oauth2 else { return Ok(()) };
        if o.token_url.is_empty() {
            return Err("OAuth2 token url must be specified".into());
        }
        if o.client_id.is_empty() {
            return Err("OAuth2 client id must be specified".into());
        }
        if o.client_id.secret.is_some() && o.client_id.config_map.is_some() {
            return Err(
                "invalid OAuth2 client id: SecretOrConfigMap can not specify both Secret and ConfigMap"
                    .into(),
            );
        }
        self.store
            .key(ns, &o.client_id)
            .map_err(|e| format!("failed to get oauth2 client id: {e}"))?;
        self.secret(ns, &o.client_secret)
            .map_err(|e| format!("failed to get oauth2 client secret: {e}"))?;
        self.proxy(ns, &o.proxy)
            .map_err(|e| format!("failed to get oauth2 proxyConfig: {e}"))?;
        self.safe_tls(ns, o.tls_config.as_ref())
            .map_err(|e| format!("failed to get oauth2 tlsConfig: {e}"))
    }

    fn tls(&self, ns: &str, tls: Option<&TlsConfig>) -> Result<(), String> {
        let Some(tls) = tls else { return Ok(()) };
        if !tls.ca_file.is_empty() && !tls.safe.ca.is_empty() {
            return Err(
                "failed to validate TLS configuration: tls config can not both specify CAFile and CA"
                    .into(),
            );
        }
        if !tls.cert_file.is_empty() && !tls.safe.cert.is_empty() {
            return Err("failed to validate TLS configuration: tls config can not both specify CertFile and Cert".into());
        }
        if !tls.key_file.is_empty() && tls.safe.key_secret.is_some() {
            return Err("failed to validate TLS configuration: tls config can not both specify KeyFile and KeySecret".into());
        }
        let has_cert = !tls.cert_file.is_empty() || !tls.safe.cert.is_empty();
        let has_key = !tls.key_file.is_empty() || tls.safe.key_secret.is_some();
        if has_cert && !has_key {
            return Err(
                "failed to validate TLS configuration: client cert specified without client key"
                    .into(),
            );
        }
        if has_key && !has_cert {
            return Err(
                "failed to validate TLS configuration: client key specified without client cert"
                    .into(),
            );
        }
        self.tls_assets(ns, &tls.safe)
    }

    fn safe_tls(&self, ns: &str, tls: Option<&SafeTlsConfig>) -> Result<(), String> {
        let Some(tls) = tls else { return Ok(()) };
        for (what, sel) in [("ca", &tls.ca), ("cert", &tls.cert)] {
            if sel.secret.is_some() && sel.config_map.is_some() {
                return Err(format!(
                    "failed to validate TLS configuration: {what} {}: SecretOrConfigMap can not specify both Secret and ConfigMap",
                    sel.describe()
                ));
            }
        }
        if !tls.cert.is_empty() && tls.key_secret.is_none() {
            return Err(
                "failed to validate TLS configuration: client cert specified without client key"
                    .into(),
            );
        }
        if tls.key_secret.is_some() && tls.cert.is_empty() {
            return Err(
                "failed to validate TLS configuration: client key specified without client cert"
                    .into(),
            );
        }
        if let (Some(max), Some(min)) = (&tls.max_version, &tls.min_version)
            && max < min
        {
            return Err(
                "failed to validate TLS configuration: maxVersion must more than or equal to minVersion"
                    .into(),
            );
        }
        self.tls_assets(ns, tls)
    }

    /// `addTLSAssets`: the referenced keys exist and the CA is PEM.
    fn tls_assets(&self, ns: &str, tls: &SafeTlsConfig) -> Result<(), String> {
        let ca = self
            .store
            .key(ns, &tls.ca)
            .map_err(|e| format!("failed to get ca {:?}: {e}", tls.ca.describe()))?;
        self.store
            .key(ns, &tls.cert)
            .map_err(|e| format!("failed to get cert {:?}: {e}", tls.cert.describe()))?;
        if let Some(key) = &tls.key_secret {
            let sel = SecretOrConfigMap {
                secret: Some(key.clone()),
                config_map: None,
            };
            self.store
                .key(ns, &sel)
                .map_err(|e| format!("failed to get key {}/{}: {e}", key.name, key.key))?;
        }
        if let Some(ca) = ca
            && !ca.text().is_empty()
            && !is_pem(ca.text())
        {
            return Err(format!(
                "ca {}: failed to decode PEM block",
                tls.ca.describe()
            ));
        }
        Ok(())
    }

    /// `addProxyConfigToStore`: proxy settings are consistent and the
    /// connect headers' Secrets exist.
    fn proxy(&self, ns: &str, proxy: &ProxyConfig) -> Result<(), String> {
        if proxy.is_zero() {
            return Ok(());
        }
        let from_env = proxy.proxy_from_environment == Some(true);
        let url = proxy.proxy_url.as_deref().is_some_and(|u| !u.is_empty());
        let no_proxy = proxy.no_proxy.as_deref().is_some_and(|u| !u.is_empty());
        let headers = proxy.proxy_connect_header.as_ref();
        if headers.is_some_and(|h| !h.is_empty()) && !from_env && !url {
            return Err("if proxyConnectHeader is configured, proxyUrl or proxyFromEnvironment must also be configured".into());
        }
        if from_env && url {
            return Err(
                "if proxyFromEnvironment is configured, proxyUrl must not be configured".into(),
            );
        }
        if from_env && no_proxy {
            return Err(
                "if proxyFromEnvironment is configured, noProxy must not be configured".into(),
            );
        }
        if !url && no_proxy {
            return Err("if noProxy is configured, proxyUrl must also be configured".into());
        }
        for (name, sels) in headers.into_iter().flatten() {
            for (index, sel) in sels.iter().enumerate() {
                self.secret(ns, sel)
                    .map_err(|e| format!("header[{name}]: index[{index}] {e}"))?;
            }
        }
        Ok(())
    }
}

/// `testForArbitraryFSAccess`.
fn fs_access(bearer_token_file: &str, tls: Option<&TlsConfig>) -> Result<(), String> {
    if !bearer_token_file.is_empty() {
        return Err(
            "it accesses file system via bearer token file which Prometheus specification prohibits"
                .into(),
        );
    }
    if let Some(tls) = tls
        && (!tls.ca_file.is_empty() || !tls.cert_file.is_empty() || !tls.key_file.is_empty())
    {
        return Err(
            "it accesses file system via tls config which Prometheus specification prohibits"
                .into(),
        );
    }
    Ok(())
}

/// Prometheus accepts one of basic auth, OAuth2 and authorization (a bearer
/// token is an authorization) per client: a resource with more would make
/// the whole configuration fail to load.
fn single_auth(basic: bool, oauth2: bool, authorization: bool) -> Result<(), String> {
    if [basic, oauth2, authorization]
        .iter()
        .filter(|b| **b)
        .count()
        > 1
    {
        return Err("at most one of basicAuth, oauth2 and authorization must be configured".into());
    }
    Ok(())
}

/// `validateProberURL`: `host` or `host:port`.
fn prober_url(url: &str) -> Result<(), String> {
    let mut parts = url.split(':');
    let host = parts.next().unwrap_or_default();
    if !is_host(host) {
        return Err(format!("invalid host: {host:?}"));
    }
    if let Some(port) = parts.next() {
        let valid = port.parse::<u32>().is_ok_and(|p| p > 0 && p < 65536);
        if !valid {
            return Err(format!("invalid port: {port:?}"));
        }
    }
    Ok(())
}

/// govalidator's `IsHost`: an IP or a DNS name.
fn is_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    if host.is_empty() || host.replace('.', "").len() > 255 {
        return false;
    }
    let trimmed = host.strip_suffix(['.', '_']).unwrap_or(host);
    trimmed.split('.').all(|label| {
        let mut chars = label.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && label.len() <= 63
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

/// Whether `text` holds a PEM block (`pem.Decode` finds one).
fn is_pem(text: &str) -> bool {
    let Some(start) = text.find("-----BEGIN ") else {
        return false;
    };
    let rest = &text[start..];
    let Some(header_end) = rest.find("-----\n").or_else(|| rest.find("-----\r\n")) else {
        return false;
    };
    let body = &rest[header_end + 5..];
    let Some(end) = body.find("-----END ") else {
        return false;
    };
    let encoded: String = body[..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prober_urls() {
        assert!(prober_url("blackbox-exporter.monitoring.svc:9115").is_ok());
        assert!(prober_url("10.0.0.1").is_ok());
        assert_eq!(prober_url("http://x").unwrap_err(), "invalid port: \"//x\"");
        assert_eq!(prober_url("a..b").unwrap_err(), "invalid host: \"a..b\"");
        assert_eq!(prober_url("host:0").unwrap_err(), "invalid port: \"0\"");
        assert!(prober_url("bad host").is_err());
    }

    #[test]
    fn pem_blocks() {
        assert!(is_pem(
            "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n"
        ));
        assert!(!is_pem("not a certificate"));
        assert!(!is_pem(
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
        ));
    }

    #[test]
    fn relabel_rules_by_version() {
        let v2 = Version::parse("2.35.0").unwrap();
        let v3 = Version::parse("3.0.0").unwrap();
        let rule = |action: &str, target: &str| RelabelConfig {
            action: action.into(),
            target_label: target.into(),
            ..RelabelConfig::default()
        };
        assert_eq!(
            relabel_configs(&[rule("Lowercase", "x")], &v2).unwrap_err(),
            "[0]: Lowercase relabel action is only supported from Prometheus version 2.36.0"
        );
        assert!(relabel_configs(&[rule("replace", "dotted.name")], &v2).is_err());
        assert!(relabel_configs(&[rule("replace", "dotted.name")], &v3).is_ok());
        assert_eq!(
            relabel_configs(&[rule("hashmod", "x")], &v3).unwrap_err(),
            "[0]: relabel configuration for hashmod requires non-zero modulus"
        );
        let bad_regex = RelabelConfig {
            regex: "(unclosed".into(),
            ..RelabelConfig::default()
        };
        assert!(
            relabel_configs(&[rule("replace", "ok"), bad_regex], &v3)
                .unwrap_err()
                .starts_with("[1]: invalid regex (unclosed for relabel configuration")
        );
    }
}
