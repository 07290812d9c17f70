//! Target construction: discovered labels to the target Prometheus scrapes,
//! as `scrape/target.go` `PopulateLabels` and `Target.URL` do it.

use std::fmt;

use crate::config::ScrapeConfig;
use crate::duration::PromDuration;
use crate::labels::LabelSet;
use crate::target_group::TargetGroup;

/// Which Prometheus's target semantics to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Compat {
    /// Prometheus 3: addresses are used as written, no port added.
    #[default]
    Prometheus3,
    /// Prometheus 2.x: `:80`/`:443` added to addresses without a port.
    Prometheus2,
}

impl std::str::FromStr for Compat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "prometheus3" | "3" => Ok(Self::Prometheus3),
            "prometheus2" | "2" => Ok(Self::Prometheus2),
            other => Err(format!(
                "unknown compat mode {other:?} (prometheus2 or prometheus3)"
            )),
        }
    }
}

/// A stable target id: 64-bit FNV-1a of (job, final labels, URL), printed as
/// 16 lowercase hex digits. Equal on every machine and every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetId(pub u64);

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for TargetId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Self)
    }
}

impl serde::Serialize for TargetId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct Fnv1a(u64);

impl Fnv1a {
    const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl TargetId {
    /// The id of a target of `job` with `labels` scraped at `url`.
    pub fn compute(job: &str, labels: &LabelSet, url: &str) -> Self {
        let mut h = Fnv1a::new();
        h.write(job.as_bytes());
        h.write(&[0xff]);
        for (name, value) in labels.iter() {
            h.write(name.as_bytes());
            h.write(&[0xfe]);
            h.write(value.as_bytes());
            h.write(&[0xff]);
        }
        h.write(url.as_bytes());
        Self(h.0)
    }
}

/// A target to scrape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    /// Stable id.
    pub id: TargetId,
    /// Job name.
    pub job: String,
    /// Labels before relabeling (with the job's defaults added), as shown in
    /// Prometheus's `discoveredLabels`.
    #[serde(rename = "discoveredLabels")]
    pub discovered_labels: LabelSet,
    /// Labels after relabeling, `__meta_*` removed, `instance` defaulted;
    /// still includes `__address__`, `__scheme__`, `__metrics_path__`,
    /// `__scrape_interval__`, `__scrape_timeout__`, `__param_*`.
    pub labels: LabelSet,
    /// `scheme://address/path?params`.
    pub url: String,
}

impl Target {
    /// The labels stored with every series (no `__` prefix).
    pub fn public_labels(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.labels.iter().filter(|(n, _)| !n.starts_with("__"))
    }

    /// Scrape interval from `__scrape_interval__`.
    pub fn scrape_interval(&self) -> Option<PromDuration> {
        PromDuration::parse(self.labels.get_or_empty("__scrape_interval__")).ok()
    }

    /// Scrape timeout from `__scrape_timeout__`.
    pub fn scrape_timeout(&self) -> Option<PromDuration> {
        PromDuration::parse(self.labels.get_or_empty("__scrape_timeout__")).ok()
    }
}

/// A target dropped by relabeling, kept with its discovered labels.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DroppedTarget {
    /// Job name.
    pub job: String,
    /// Labels before relabeling.
    #[serde(rename = "discoveredLabels")]
    pub discovered_labels: LabelSet,
}

/// A discovered target Prometheus would reject (no address, bad interval...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetError {
    /// Job name.
    pub job: String,
    /// Labels before relabeling.
    #[serde(rename = "discoveredLabels")]
    pub discovered_labels: LabelSet,
    /// Prometheus's message.
    pub message: String,
}

/// What [`populate_labels`] makes of one discovered label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Populated {
    /// A target: final labels and labels before relabeling.
    Target {
        /// Final labels.
        labels: LabelSet,
        /// Labels before relabeling.
        discovered: LabelSet,
    },
    /// Dropped by relabeling; labels before relabeling.
    Dropped(LabelSet),
    /// Rejected; the message says why.
    Error(String),
}

/// Go's `net.SplitHostPort`.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let i = s.rfind(':')?;
    let (host, j, k);
    if s.starts_with('[') {
        let end = s.find(']')?;
        if end + 1 != i {
            return None;
        }
        host = &s[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &s[..i];
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if s[j..].contains('[') || s[k..].contains(']') {
        return None;
    }
    Some((host, &s[i + 1..]))
}

/// What [`populate_labels`] adds to every target of a job, formatted once
/// per job rather than once per target.
struct JobDefaults<'a> {
    job: &'a ScrapeConfig,
    interval: String,
    timeout: String,
    /// `__param_<name>` with the param's first value.
    params: Vec<(String, &'a str)>,
}

impl<'a> JobDefaults<'a> {
    fn new(job: &'a ScrapeConfig) -> Self {
        Self {
            job,
            interval: job.scrape_interval.to_string(),
            timeout: job.scrape_timeout.to_string(),
            params: job
                .params
                .iter()
                .filter_map(|(name, values)| {
                    Some((format!("__param_{name}"), values.first()?.as_str()))
                })
                .collect(),
        }
    }
}

/// `PopulateLabels`: job defaults, relabeling, address/port handling,
/// interval checks, `__meta_*` removal, `instance` default.
pub fn populate_labels(labels: LabelSet, job: &ScrapeConfig, compat: Compat) -> Populated {
    populate_with_defaults(labels, &JobDefaults::new(job), compat)
}

fn populate_with_defaults(
    mut labels: LabelSet,
    defaults: &JobDefaults<'_>,
    compat: Compat,
) -> Populated {
    let job = defaults.job;
    // Prometheus's label builder treats an empty value as absent.
    labels.retain(|_, value| !value.is_empty());
    for (name, value) in [
        ("job", job.job_name.as_str()),
        ("__scrape_interval__", defaults.interval.as_str()),
        ("__scrape_timeout__", defaults.timeout.as_str()),
        ("__metrics_path__", job.metrics_path.as_str()),
        ("__scheme__", job.scheme.as_str()),
    ] {
        if labels.get_or_empty(name).is_empty() {
            labels.set(name, value);
        }
    }
    for (name, first) in &defaults.params {
        labels.set(name, first);
    }
    let discovered = labels.clone();
    if !job.relabel_configs.process(&mut labels) {
        return Populated::Dropped(discovered);
    }
    let mut addr = labels.get_or_empty("__address__").to_owned();
    if addr.is_empty() {
        return Populated::Error("no address".into());
    }
    if compat == Compat::Prometheus2 && split_host_port(&addr).is_none() {
        // Add a port only when that makes the address valid.
        if split_host_port(&format!("{addr}:1234")).is_some() {
            match labels.get_or_empty("__scheme__") {
                "http" | "" => addr.push_str(":80"),
                "https" => addr.push_str(":443"),
                _ => return Populated::Error(format!("invalid scheme: {:?}", job.scheme)),
            }
            labels.set("__address__", &addr);
        }
    }
    if addr.contains('/') {
        return Populated::Error(format!("{addr:?} is not a valid hostname"));
    }
    let interval_text = labels.get_or_empty("__scrape_interval__");
    let interval = match PromDuration::parse(interval_text) {
        Ok(d) if d.is_zero() => return Populated::Error("scrape interval cannot be 0".into()),
        Ok(d) => d,
        Err(e) => return Populated::Error(format!("error parsing scrape interval: {e}")),
    };
    let timeout_text = labels.get_or_empty("__scrape_timeout__");
    let timeout = match PromDuration::parse(timeout_text) {
        Ok(d) if d.is_zero() => return Populated::Error("scrape timeout cannot be 0".into()),
        Ok(d) => d,
        Err(e) => return Populated::Error(format!("error parsing scrape timeout: {e}")),
    };
    if timeout > interval {
        return Populated::Error(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_text:?} > {interval_text:?})"
        ));
    }
    labels.retain(|name, _| !name.starts_with("__meta_"));
    if labels.get_or_empty("instance").is_empty() {
        labels.set("instance", &addr);
    }
    Populated::Target { labels, discovered }
}

/// Go's `url.PathEscape`-like escaping of a URL path (`url.URL.EscapedPath`).
fn escape_path(path: &str, out: &mut String) {
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'$'
                    | b'&'
                    | b'+'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'='
                    | b'@'
            );
        if keep {
            out.push(char::from(b));
        } else {
            push_percent_encoded(b, out);
        }
    }
}

/// `%XX`, upper-case hex, as Go escapes a byte.
fn push_percent_encoded(b: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

/// Go's `url.QueryEscape`.
fn escape_query(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            push_percent_encoded(b, out);
        }
    }
}

/// `Target.URL()`: the job's params, overridden by `__param_*` labels.
pub fn target_url(labels: &LabelSet, job: &ScrapeConfig) -> String {
    let mut params = job.params.clone();
    for (name, value) in labels.iter() {
        if let Some(key) = name.strip_prefix("__param_") {
            let entry = params.entry(key.to_owned()).or_default();
            match entry.first_mut() {
                Some(first) => value.clone_into(first),
                None => entry.push(value.to_owned()),
            }
        }
    }
    let mut url = String::new();
    url.push_str(labels.get_or_empty("__scheme__"));
    url.push_str("://");
    url.push_str(labels.get_or_empty("__address__"));
    let path = labels.get_or_empty("__metrics_path__");
    if !path.is_empty() && !path.starts_with('/') {
        url.push('/');
    }
    escape_path(path, &mut url);
    let mut first = true;
    for (key, values) in &params {
        for value in values {
            url.push(if first { '?' } else { '&' });
            first = false;
            escape_query(key, &mut url);
            url.push('=');
            escape_query(value, &mut url);
        }
    }
    url
}

/// Targets built from groups: kept (duplicates merged), dropped, rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltTargets {
    /// Targets to scrape, in discovery order, unique by id.
    pub targets: Vec<Target>,
    /// Dropped by relabeling.
    pub dropped: Vec<DroppedTarget>,
    /// Rejected by Prometheus's checks.
    pub errors: Vec<TargetError>,
}

/// Builds the targets of `groups` for `job`.
///
/// ```
/// use promshard_config::{Config, target::{build_targets, Compat}};
/// let config = Config::from_yaml_str(
///     "scrape_configs:\n- job_name: node\n  static_configs:\n  - targets: ['a:9100', 'b']\n",
///     "prometheus.yml",
/// )?;
/// let job = config.job("node").expect("job");
/// let groups = job.service_discovery.static_configs.iter().enumerate()
///     .map(|(i, g)| g.to_group(i.to_string())).collect::<Vec<_>>();
/// let built = build_targets(job, &groups, Compat::Prometheus2);
/// assert_eq!(built.targets[1].url, "http://b:80/metrics");
/// assert_eq!(built.targets[1].labels.get("instance"), Some("b:80"));
/// # Ok::<(), promshard_config::ConfigError>(())
/// ```
pub fn build_targets<'a>(
    job: &ScrapeConfig,
    groups: impl IntoIterator<Item = &'a TargetGroup>,
    compat: Compat,
) -> BuiltTargets {
    let defaults = JobDefaults::new(job);
    let mut built = BuiltTargets::default();
    let mut seen = std::collections::HashSet::new();
    for group in groups {
        for index in 0..group.targets.len() {
            let Some(labels) = group.target_labels(index) else {
                continue;
            };
            match populate_with_defaults(labels, &defaults, compat) {
                Populated::Target { labels, discovered } => {
                    let url = target_url(&labels, job);
                    let id = TargetId::compute(&job.job_name, &labels, &url);
                    if seen.insert(id) {
                        built.targets.push(Target {
                            id,
                            job: job.job_name.clone(),
                            discovered_labels: discovered,
                            labels,
                            url,
                        });
                    }
                }
                Populated::Dropped(discovered) => built.dropped.push(DroppedTarget {
                    job: job.job_name.clone(),
                    discovered_labels: discovered,
                }),
                Populated::Error(message) => built.errors.push(TargetError {
                    job: job.job_name.clone(),
                    // Rebuilt on this rare path rather than copied for every target.
                    discovered_labels: group.target_labels(index).unwrap_or_default(),
                    message,
                }),
            }
        }
    }
    built
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_host_port_like_go() {
        assert_eq!(split_host_port("a:1"), Some(("a", "1")));
        assert_eq!(split_host_port("a:"), Some(("a", "")));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", "80")));
        assert_eq!(split_host_port("a"), None);
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("[::1]"), None);
    }

    #[test]
    fn ids_are_stable_and_hex() {
        let labels = LabelSet::from_pairs([("instance", "a:1"), ("job", "j")]);
        let id = TargetId::compute("j", &labels, "http://a:1/metrics");
        assert_eq!(id.to_string().len(), 16);
        assert_eq!(id.to_string().parse::<TargetId>().unwrap(), id);
        // Fixed value: the id must never change between builds or machines.
        assert_eq!(id.to_string(), "e762281f6517cc02");
        assert_eq!(id, TargetId::compute("j", &labels, "http://a:1/metrics"));
        assert_ne!(id, TargetId::compute("k", &labels, "http://a:1/metrics"));
    }

    #[test]
    fn prometheus3_keeps_addresses_as_written() {
        let config = crate::Config::from_yaml_str(
            "scrape_configs:\n- job_name: j\n  scheme: https\n  params: {module: [m, n], 'a b': ['c d']}\n  static_configs: [{targets: ['h', 'h:443']}]\n",
            "p.yml",
        )
        .unwrap();
        let job = config.job("j").unwrap();
        let group = job.service_discovery.static_configs[0].to_group("0".into());
        let built = build_targets(job, [&group], Compat::Prometheus3);
        assert_eq!(built.targets.len(), 2);
        assert_eq!(
            built.targets[0].url,
            "https://h/metrics?a+b=c+d&module=m&module=n"
        );
        assert_eq!(built.targets[0].labels.get("instance"), Some("h"));
        let built2 = build_targets(job, [&group], Compat::Prometheus2);
        // Both become h:443: merged.
        assert_eq!(built2.targets.len(), 1);
    }
}
