//! The Prometheus config file: a typed view for what promshard interprets,
//! and the raw YAML for everything else.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use crate::duration::PromDuration;
use crate::http_client::HttpClientConfig;
use crate::labels::{LabelSet, is_valid_label_name};
use crate::paths::{dir_of, glob, join_dir};
use crate::relabel::{RelabelConfig, RelabelRules};
use crate::target_group::TargetGroup;
use crate::yaml::{FieldError, Obj, untag};

/// Largest config file read, so that a wrong path (a device, a huge log)
/// fails clearly instead of filling memory.
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Why a config could not be loaded. Messages name the file, the job and the
/// field, like `promtool check config`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error. In the message and not a `source`, so a report
        /// that prints the error chain does not say it twice.
        reason: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{file}: parsing YAML: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field is invalid.
    #[error("{}", invalid_message(file, job.as_deref(), field, message))]
    Invalid {
        /// The file.
        file: String,
        /// The job, when the field is inside a scrape config.
        job: Option<String>,
        /// Path of the field, e.g. `scrape_configs[2].relabel_configs[0].action`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid_message(file: &str, job: Option<&str>, field: &str, message: &str) -> String {
    let mut out = format!("{file}: ");
    if let Some(job) = job {
        out.push_str(&format!("job {job:?}: "));
    }
    if !field.is_empty() {
        out.push_str(&format!("{field}: "));
    }
    out.push_str(message);
    out
}

/// The `global` section, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GlobalConfig {
    /// Default scrape interval (1m).
    pub scrape_interval: PromDuration,
    /// Default scrape timeout (10s, at most the interval).
    pub scrape_timeout: PromDuration,
    /// Rule evaluation interval (1m).
    pub evaluation_interval: PromDuration,
    /// `external_labels`.
    pub external_labels: LabelSet,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self {
            scrape_interval: PromDuration::from_secs(60),
            scrape_timeout: PromDuration::from_secs(10),
            evaluation_interval: PromDuration::from_secs(60),
            external_labels: LabelSet::new(),
        }
    }
}

/// `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileSdConfig {
    /// Glob patterns, resolved against the config's directory.
    pub files: Vec<String>,
    /// Re-read interval (5m), on top of file watching.
    pub refresh_interval: PromDuration,
}

/// `http_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HttpSdConfig {
    /// The endpoint returning a JSON list of target groups.
    pub url: String,
    /// Polling interval (60s).
    pub refresh_interval: PromDuration,
    /// Client settings for the SD endpoint itself.
    pub http_client: HttpClientConfig,
}

/// DNS record type of a `dns_sd_configs` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DnsRecordType {
    /// SRV (the default): host and port from the record.
    Srv,
    /// A: IPv4 addresses, port from the config.
    A,
    /// AAAA: IPv6 addresses, port from the config.
    Aaaa,
    /// MX: mail exchangers, port from the config.
    Mx,
}

/// `dns_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DnsSdConfig {
    /// Names to query.
    pub names: Vec<String>,
    /// Record type.
    pub record_type: DnsRecordType,
    /// Port for A/AAAA/MX.
    pub port: u16,
    /// Re-query interval (30s).
    pub refresh_interval: PromDuration,
}

/// The service discovery configs of a job. `Debug` names the `other`
/// providers without their (possibly secret) settings.
#[derive(Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ServiceDiscoveryConfigs {
    /// `static_configs`, one group per entry, sources `"0"`, `"1"`, ...
    pub static_configs: Vec<TargetGroupConfig>,
    /// `file_sd_configs`.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// `http_sd_configs`.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// `dns_sd_configs`.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Other `*_sd_configs` keys (kubernetes, consul, ...): not run by this
    /// crate, kept for providers plugged in later.
    #[serde(skip)]
    pub other: Vec<(String, Value)>,
}

impl fmt::Debug for ServiceDiscoveryConfigs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceDiscoveryConfigs")
            .field("static_configs", &self.static_configs)
            .field("file_sd_configs", &self.file_sd_configs)
            .field("http_sd_configs", &self.http_sd_configs)
            .field("dns_sd_configs", &self.dns_sd_configs)
            .field(
                "other",
                &self.other.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A static target group as configured.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetGroupConfig {
    /// Addresses.
    pub targets: Vec<String>,
    /// Labels.
    pub labels: LabelSet,
}

impl TargetGroupConfig {
    /// As a discovered group with `source`.
    pub fn to_group(&self, source: String) -> TargetGroup {
        TargetGroup {
            source,
            targets: self
                .targets
                .iter()
                .map(|t| LabelSet::from_pairs([("__address__", t.as_str())]))
                .collect(),
            labels: self.labels.clone(),
        }
    }
}

/// One `scrape_configs` entry: the job. Typed fields have Prometheus's
/// defaults applied; [`ScrapeConfig::raw`] is the entry exactly as written.
/// `Debug` leaves `raw` out: it holds secrets.
#[derive(Clone, serde::Serialize)]
pub struct ScrapeConfig {
    /// `job_name`.
    pub job_name: String,
    /// `honor_labels` (false).
    pub honor_labels: bool,
    /// `honor_timestamps` (true).
    pub honor_timestamps: bool,
    /// `params`: URL query parameters, sorted by name.
    pub params: BTreeMap<String, Vec<String>>,
    /// `scrape_interval` (global's when unset).
    pub scrape_interval: PromDuration,
    /// `scrape_timeout` (global's, capped at the interval, when unset).
    pub scrape_timeout: PromDuration,
    /// `metrics_path` (`/metrics`).
    pub metrics_path: String,
    /// `scheme` (`http`).
    pub scheme: String,
    /// `sample_limit` (0: none).
    pub sample_limit: u64,
    /// `target_limit`.
    pub target_limit: u64,
    /// `label_limit`.
    pub label_limit: u64,
    /// `label_name_length_limit`.
    pub label_name_length_limit: u64,
    /// `label_value_length_limit`.
    pub label_value_length_limit: u64,
    /// `body_size_limit` as written (e.g. `10MB`).
    pub body_size_limit: Option<String>,
    /// HTTP client settings used to scrape the targets.
    pub http_client: HttpClientConfig,
    /// `relabel_configs`, compiled.
    #[serde(serialize_with = "serialize_rules")]
    pub relabel_configs: RelabelRules,
    /// `metric_relabel_configs`, compiled.
    #[serde(serialize_with = "serialize_rules")]
    pub metric_relabel_configs: RelabelRules,
    /// Service discovery.
    pub service_discovery: ServiceDiscoveryConfigs,
    /// The entry as written, key order preserved, secrets included.
    #[serde(skip)]
    pub raw: Mapping,
    /// The file that defined the job (the main config or a scrape config file).
    pub file: String,
    /// Directory relative paths of this job are resolved against.
    pub base_dir: PathBuf,
}

fn serialize_rules<S: serde::Serializer>(rules: &RelabelRules, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(rules.configs())
}

/// A loaded Prometheus config.
///
/// ```
/// use promshard_config::Config;
/// let config = Config::from_yaml_str(
///     "scrape_configs:\n- job_name: node\n  static_configs:\n  - targets: ['a:9100']\n",
///     "prometheus.yml",
/// )?;
/// let job = config.job("node").expect("job exists");
/// assert_eq!(job.scrape_interval.to_string(), "1m");
/// assert_eq!(job.metrics_path, "/metrics");
/// # Ok::<(), promshard_config::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Config {
    /// The file loaded (or the origin name given).
    pub file: String,
    /// `global`, defaults applied.
    pub global: GlobalConfig,
    /// Every job, inline ones first, then those of `scrape_config_files` in
    /// file order.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// The whole document as written (including `scrape_config_files`).
    pub raw: Mapping,
}

impl fmt::Debug for ScrapeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrapeConfig")
            .field("job_name", &self.job_name)
            .field("honor_labels", &self.honor_labels)
            .field("honor_timestamps", &self.honor_timestamps)
            .field("params", &self.params)
            .field("scrape_interval", &self.scrape_interval)
            .field("scrape_timeout", &self.scrape_timeout)
            .field("metrics_path", &self.metrics_path)
            .field("scheme", &self.scheme)
            .field("sample_limit", &self.sample_limit)
            .field("http_client", &self.http_client)
            .field("relabel_configs", &self.relabel_configs.len())
            .field("metric_relabel_configs", &self.metric_relabel_configs.len())
            .field("service_discovery", &self.service_discovery)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("file", &self.file)
            .field("global", &self.global)
            .field("scrape_configs", &self.scrape_configs)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ScrapeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {:?}", self.job_name)
    }
}

fn read_limited(path: &Path) -> Result<String, ConfigError> {
    let file = path.to_string_lossy().into_owned();
    let meta = std::fs::metadata(path).map_err(|reason| ConfigError::Read {
        file: file.clone(),
        reason,
    })?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::Invalid {
            file,
            job: None,
            field: String::new(),
            message: format!("file is larger than {MAX_CONFIG_BYTES} bytes"),
        });
    }
    std::fs::read_to_string(path).map_err(|reason| ConfigError::Read { file, reason })
}

fn parse_document(text: &str, file: &str) -> Result<Mapping, ConfigError> {
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Yaml {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    match value {
        Value::Mapping(map) => Ok(map),
        Value::Null => Ok(Mapping::new()),
        _ => Err(ConfigError::Invalid {
            file: file.to_owned(),
            job: None,
            field: String::new(),
            message: "the document must be a mapping".into(),
        }),
    }
}

/// `^[^*]*(\*[^/]*)?$`: a glob only in the last path element.
fn valid_glob_path(path: &str) -> bool {
    match path.find('*') {
        None => true,
        Some(i) => !path[i + 1..].contains('*') && !path[i..].contains('/'),
    }
}

/// `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`.
fn valid_file_sd_path(path: &str) -> bool {
    valid_glob_path(path)
        && ["json", "yml", "yaml", "JSON", "YML", "YAML"]
            .iter()
            .any(|ext| path.strip_suffix(ext).is_some_and(|p| p.ends_with('.')))
}

impl Config {
    /// Loads `path` and the files its `scrape_config_files` name.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = read_limited(path)?;
        Self::from_yaml_str(&text, path)
    }

    /// Parses a config held in memory. `origin` names it in errors and is
    /// the base for relative paths (its directory).
    pub fn from_yaml_str(text: &str, origin: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let origin = origin.as_ref();
        let file = origin.to_string_lossy().into_owned();
        let raw = parse_document(text, &file)?;
        let base_dir = dir_of(origin);
        let root_value = Value::Mapping(raw.clone());
        let root = Obj::new(&root_value, "").map_err(|e| field_error(&file, None, e))?;

        let global = parse_global(&root).map_err(|e| field_error(&file, None, e))?;

        for (i, rule_file) in root
            .string_list("rule_files")
            .map_err(|e| field_error(&file, None, e))?
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if !valid_glob_path(rule_file) {
                return Err(field_error(
                    &file,
                    None,
                    FieldError {
                        field: format!("rule_files[{i}]"),
                        message: format!("invalid rule file path {rule_file:?}"),
                    },
                ));
            }
        }

        let mut scrape_configs = Vec::new();
        parse_scrape_configs(&root, &global, &file, &base_dir, &mut scrape_configs)?;

        let patterns = root
            .string_list("scrape_config_files")
            .map_err(|e| field_error(&file, None, e))?
            .unwrap_or_default();
        for (i, pattern) in patterns.iter().enumerate() {
            if !valid_glob_path(pattern) {
                return Err(field_error(
                    &file,
                    None,
                    FieldError {
                        field: format!("scrape_config_files[{i}]"),
                        message: format!("invalid scrape config file path {pattern:?}"),
                    },
                ));
            }
            let full = join_dir(&base_dir, pattern);
            let matches = glob(&full).map_err(|message| {
                field_error(
                    &file,
                    None,
                    FieldError {
                        field: format!("scrape_config_files[{i}]"),
                        message,
                    },
                )
            })?;
            for path in matches {
                let text = read_limited(Path::new(&path))?;
                let doc = Value::Mapping(parse_document(&text, &path)?);
                let obj = Obj::new(&doc, "").map_err(|e| field_error(&path, None, e))?;
                parse_scrape_configs(
                    &obj,
                    &global,
                    &path,
                    &dir_of(Path::new(&path)),
                    &mut scrape_configs,
                )?;
            }
        }

        let mut seen = std::collections::HashSet::new();
        for job in &scrape_configs {
            if !seen.insert(job.job_name.as_str()) {
                return Err(ConfigError::Invalid {
                    file: job.file.clone(),
                    job: Some(job.job_name.clone()),
                    field: "job_name".into(),
                    message: format!(
                        "found multiple scrape configs with job name {:?}",
                        job.job_name
                    ),
                });
            }
        }

        Ok(Self {
            file,
            global,
            scrape_configs,
            raw,
        })
    }

    /// This config with `jobs` added after its own: scrape configs written
    /// elsewhere (generated from prometheus-operator resources, or pushed
    /// by the coordinator to a sidecar), each a YAML mapping, taking this
    /// config's `global` defaults for what they do not set. `origin` names
    /// them in errors; they hold no relative paths. A job whose name this
    /// config already has is an error, as in one file.
    ///
    /// # Errors
    /// [`ConfigError`] naming `origin`, the job and the field.
    pub fn with_jobs(mut self, origin: &str, jobs: &[Mapping]) -> Result<Self, ConfigError> {
        let mut root = Mapping::new();
        if let Some(global) = self.raw.get("global") {
            root.insert(Value::from("global"), global.clone());
        }
        root.insert(
            Value::from("scrape_configs"),
            Value::Sequence(jobs.iter().cloned().map(Value::Mapping).collect()),
        );
        let root_value = Value::Mapping(root);
        let obj = Obj::new(&root_value, "").map_err(|e| field_error(origin, None, e))?;
        let mut added = Vec::with_capacity(jobs.len());
        parse_scrape_configs(&obj, &self.global, origin, Path::new("/"), &mut added)?;
        let mut seen: std::collections::HashSet<String> = self
            .scrape_configs
            .iter()
            .map(|j| j.job_name.clone())
            .collect();
        for job in &added {
            if !seen.insert(job.job_name.clone()) {
                return Err(ConfigError::Invalid {
                    file: origin.to_owned(),
                    job: Some(job.job_name.clone()),
                    field: "job_name".into(),
                    message: format!(
                        "found multiple scrape configs with job name {:?}",
                        job.job_name
                    ),
                });
            }
        }
        self.scrape_configs.extend(added);
        Ok(self)
    }

    /// The job named `name`.
    pub fn job(&self, name: &str) -> Option<&ScrapeConfig> {
        self.scrape_configs.iter().find(|j| j.job_name == name)
    }

    /// Job names in config order.
    pub fn job_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.scrape_configs.iter().map(|j| j.job_name.as_str())
    }
}

fn field_error(file: &str, job: Option<&str>, e: FieldError) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_owned(),
        job: job.map(str::to_owned),
        field: e.field,
        message: e.message,
    }
}

fn parse_global(root: &Obj<'_>) -> Result<GlobalConfig, FieldError> {
    let defaults = GlobalConfig::default();
    let Some(g) = root.obj("global")? else {
        return Ok(defaults);
    };
    let mut global = GlobalConfig {
        scrape_interval: g.duration("scrape_interval")?.unwrap_or_default(),
        scrape_timeout: g.duration("scrape_timeout")?.unwrap_or_default(),
        evaluation_interval: g.duration("evaluation_interval")?.unwrap_or_default(),
        external_labels: LabelSet::new(),
    };
    for (name, value) in g.string_map("external_labels")?.unwrap_or_default() {
        if !is_valid_label_name(&name) {
            return Err(FieldError {
                field: g.field("external_labels"),
                message: format!("{name:?} is not a valid label name"),
            });
        }
        global.external_labels.set(&name, &value);
    }
    if global.scrape_interval.is_zero() {
        global.scrape_interval = defaults.scrape_interval;
    }
    if global.scrape_timeout > global.scrape_interval {
        return Err(FieldError {
            field: g.field("scrape_timeout"),
            message: "global scrape timeout greater than scrape interval".into(),
        });
    }
    if global.scrape_timeout.is_zero() {
        global.scrape_timeout = defaults.scrape_timeout.min(global.scrape_interval);
    }
    if global.evaluation_interval.is_zero() {
        global.evaluation_interval = defaults.evaluation_interval;
    }
    Ok(global)
}

fn parse_scrape_configs(
    root: &Obj<'_>,
    global: &GlobalConfig,
    file: &str,
    base_dir: &Path,
    out: &mut Vec<ScrapeConfig>,
) -> Result<(), ConfigError> {
    let items = root
        .list("scrape_configs")
        .map_err(|e| field_error(file, None, e))?
        .unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        let path = format!("scrape_configs[{i}]");
        let job_name = match untag(item) {
            Value::Mapping(m) => m.get("job_name").and_then(crate::yaml::scalar_string),
            _ => None,
        };
        if matches!(untag(item), Value::Null) {
            return Err(field_error(
                file,
                None,
                FieldError {
                    field: path,
                    message: "empty or null scrape config section".into(),
                },
            ));
        }
        let job = parse_scrape_config(item, &path, global, file, base_dir)
            .map_err(|e| field_error(file, job_name.as_deref().filter(|j| !j.is_empty()), e))?;
        out.push(job);
    }
    Ok(())
}

fn parse_scrape_config(
    value: &Value,
    path: &str,
    global: &GlobalConfig,
    file: &str,
    base_dir: &Path,
) -> Result<ScrapeConfig, FieldError> {
    let obj = Obj::new(value, path)?;
    for key in obj.keys() {
        if key.is_none() {
            return Err(FieldError {
                field: path.to_owned(),
                message: "keys must be strings".into(),
            });
        }
    }
    let job_name = obj.string("job_name")?.unwrap_or_default();
    if job_name.is_empty() {
        return Err(FieldError {
            field: obj.field("job_name"),
            message: "job_name is empty".into(),
        });
    }
    let http_client = HttpClientConfig::from_obj(&obj, base_dir)?;

    let mut params = BTreeMap::new();
    if let Some(p) = obj.obj("params")? {
        for (k, _) in p.map {
            let name = crate::yaml::scalar_string(k).unwrap_or_default();
            let values = p.string_list(&name)?.unwrap_or_default();
            params.insert(name, values);
        }
    }

    let scrape_interval = match obj.duration("scrape_interval")? {
        Some(d) if !d.is_zero() => d,
        _ => global.scrape_interval,
    };
    let mut scrape_timeout = obj.duration("scrape_timeout")?.unwrap_or_default();
    if scrape_timeout > scrape_interval {
        return Err(FieldError {
            field: obj.field("scrape_timeout"),
            message: format!(
                "scrape timeout greater than scrape interval for scrape config with job name {job_name:?}"
            ),
        });
    }
    if scrape_timeout.is_zero() {
        scrape_timeout = global.scrape_timeout.min(scrape_interval);
    }

    let relabel = parse_rules(&obj, "relabel_configs")?;
    let metric_relabel = parse_rules(&obj, "metric_relabel_configs")?;

    let mut sd = ServiceDiscoveryConfigs::default();
    if let Some(groups) = obj.list("static_configs")? {
        for (i, g) in groups.iter().enumerate() {
            let gpath = format!("{}[{i}]", obj.field("static_configs"));
            let gobj = Obj::new(g, gpath.clone())?;
            let targets = gobj.string_list("targets")?.unwrap_or_default();
            let mut labels = LabelSet::new();
            for (name, value) in gobj.string_map("labels")?.unwrap_or_default() {
                if !is_valid_label_name(&name) {
                    return Err(FieldError {
                        field: gobj.field("labels"),
                        message: format!("{name:?} is not a valid label name"),
                    });
                }
                labels.insert(&name, &value);
            }
            if relabel.is_empty() {
                for t in &targets {
                    if t.contains('/') {
                        return Err(FieldError {
                            field: gobj.field("targets"),
                            message: format!("{t:?} is not a valid hostname"),
                        });
                    }
                }
            }
            sd.static_configs
                .push(TargetGroupConfig { targets, labels });
        }
    }
    if let Some(items) = obj.list("file_sd_configs")? {
        for (i, item) in items.iter().enumerate() {
            let o = Obj::new(item, format!("{}[{i}]", obj.field("file_sd_configs")))?;
            let files = o.string_list("files")?.unwrap_or_default();
            if files.is_empty() {
                return Err(FieldError {
                    field: o.field("files"),
                    message: "file service discovery config must contain at least one path name"
                        .into(),
                });
            }
            for f in &files {
                if !valid_file_sd_path(f) {
                    return Err(FieldError {
                        field: o.field("files"),
                        message: format!("path name {f:?} is not valid for file discovery"),
                    });
                }
            }
            sd.file_sd_configs.push(FileSdConfig {
                files: files.iter().map(|f| join_dir(base_dir, f)).collect(),
                refresh_interval: nonzero_or(
                    o.duration("refresh_interval")?,
                    PromDuration::from_secs(300),
                ),
            });
        }
    }
    if let Some(items) = obj.list("http_sd_configs")? {
        for (i, item) in items.iter().enumerate() {
            let o = Obj::new(item, format!("{}[{i}]", obj.field("http_sd_configs")))?;
            let url = o.string("url")?.unwrap_or_default();
            let err = |m: &str| FieldError {
                field: o.field("url"),
                message: m.to_owned(),
            };
            if url.is_empty() {
                return Err(err("URL is missing"));
            }
            let (scheme, rest) = url
                .split_once("://")
                .ok_or_else(|| err("URL scheme must be 'http' or 'https'"))?;
            if scheme != "http" && scheme != "https" {
                return Err(err("URL scheme must be 'http' or 'https'"));
            }
            if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() {
                return Err(err("host is missing in URL"));
            }
            sd.http_sd_configs.push(HttpSdConfig {
                url,
                refresh_interval: nonzero_or(
                    o.duration("refresh_interval")?,
                    PromDuration::from_secs(60),
                ),
                http_client: HttpClientConfig::from_obj(&o, base_dir)?,
            });
        }
    }
    if let Some(items) = obj.list("dns_sd_configs")? {
        for (i, item) in items.iter().enumerate() {
            let o = Obj::new(item, format!("{}[{i}]", obj.field("dns_sd_configs")))?;
            let names = o.string_list("names")?.unwrap_or_default();
            if names.is_empty() {
                return Err(FieldError {
                    field: o.field("names"),
                    message: "DNS-SD config must contain at least one SRV record name".into(),
                });
            }
            let port = o.u64("port")?.unwrap_or(0);
            let port = u16::try_from(port).map_err(|_| FieldError {
                field: o.field("port"),
                message: format!("port {port} out of range"),
            })?;
            let kind = o.string("type")?.unwrap_or_default();
            let record_type = match kind.as_str() {
                "" | "SRV" => DnsRecordType::Srv,
                "A" => DnsRecordType::A,
                "AAAA" => DnsRecordType::Aaaa,
                "MX" => DnsRecordType::Mx,
                other => {
                    return Err(FieldError {
                        field: o.field("type"),
                        message: format!("invalid DNS-SD records type {other}"),
                    });
                }
            };
            if record_type != DnsRecordType::Srv && port == 0 {
                return Err(FieldError {
                    field: o.field("port"),
                    message: "a port is required in DNS-SD configs for all record types except SRV"
                        .into(),
                });
            }
            sd.dns_sd_configs.push(DnsSdConfig {
                names,
                record_type,
                port,
                refresh_interval: nonzero_or(
                    o.duration("refresh_interval")?,
                    PromDuration::from_secs(30),
                ),
            });
        }
    }
    for (key, value) in obj.map {
        if let Some(name) = key.as_str()
            && name.ends_with("_sd_configs")
            && !matches!(
                name,
                "file_sd_configs" | "http_sd_configs" | "dns_sd_configs"
            )
        {
            sd.other.push((name.to_owned(), value.clone()));
        }
    }

    Ok(ScrapeConfig {
        honor_labels: obj.bool("honor_labels")?.unwrap_or(false),
        honor_timestamps: obj.bool("honor_timestamps")?.unwrap_or(true),
        params,
        scrape_interval,
        scrape_timeout,
        metrics_path: obj
            .string("metrics_path")?
            .unwrap_or_else(|| "/metrics".into()),
        scheme: obj.string("scheme")?.unwrap_or_else(|| "http".into()),
        sample_limit: obj.u64("sample_limit")?.unwrap_or(0),
        target_limit: obj.u64("target_limit")?.unwrap_or(0),
        label_limit: obj.u64("label_limit")?.unwrap_or(0),
        label_name_length_limit: obj.u64("label_name_length_limit")?.unwrap_or(0),
        label_value_length_limit: obj.u64("label_value_length_limit")?.unwrap_or(0),
        body_size_limit: obj.string("body_size_limit")?.filter(|s| !s.is_empty()),
        http_client,
        relabel_configs: relabel,
        metric_relabel_configs: metric_relabel,
        service_discovery: sd,
        raw: obj.map.clone(),
        file: file.to_owned(),
        base_dir: base_dir.to_path_buf(),
        job_name,
    })
}

fn nonzero_or(value: Option<PromDuration>, default: PromDuration) -> PromDuration {
    value.filter(|d| !d.is_zero()).unwrap_or(default)
}

fn parse_rules(obj: &Obj<'_>, key: &str) -> Result<RelabelRules, FieldError> {
    let items = obj.list(key)?.unwrap_or_default();
    let mut configs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("{}[{i}]", obj.field(key));
        configs.push(RelabelConfig::from_yaml(item, &path)?);
    }
    RelabelRules::compile(configs).map_err(|e| {
        let (index, message) = match e {
            crate::relabel::RelabelError::Rule { index, source } => {
                (Some(index), source.to_string())
            }
            other => (None, other.to_string()),
        };
        FieldError {
            field: match index {
                Some(i) => format!("{}[{i}].regex", obj.field(key)),
                None => obj.field(key),
            },
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(yaml, "/etc/prometheus/prometheus.yml")
    }

    #[test]
    fn defaults_like_prometheus() {
        let c = load("global: {scrape_interval: 5s}\nscrape_configs:\n- job_name: a\n- job_name: b\n  scrape_interval: 1m\n- job_name: c\n  scrape_timeout: 3s\n").unwrap();
        let a = c.job("a").unwrap();
        assert_eq!(
            (a.scrape_interval.to_string(), a.scrape_timeout.to_string()),
            ("5s".into(), "5s".into())
        );
        let b = c.job("b").unwrap();
        assert_eq!(
            (b.scrape_interval.to_string(), b.scrape_timeout.to_string()),
            ("1m".into(), "5s".into())
        );
        assert_eq!(c.job("c").unwrap().scrape_timeout.to_string(), "3s");
        assert!(
            a.honor_timestamps
                && !a.honor_labels
                && a.http_client.follow_redirects
                && a.http_client.enable_http2
        );
        assert_eq!(a.scheme, "http");
    }

    #[test]
    fn errors_name_file_job_and_field() {
        let e = load("scrape_configs:\n- job_name: x\n  relabel_configs:\n  - action: nope\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "/etc/prometheus/prometheus.yml: job \"x\": scrape_configs[0].relabel_configs[0].action: unknown relabel action \"nope\""
        );
        let e = load("scrape_configs:\n- job_name: x\n- job_name: x\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("found multiple scrape configs with job name \"x\""),
            "{e}"
        );
        let e = load("scrape_configs:\n- job_name: x\n  scrape_interval: 5x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("scrape_configs[0].scrape_interval"), "{e}");
        let e = load("scrape_configs:\n- job_name: x\n  basic_auth: {username: u, password: p}\n  bearer_token: t\n").unwrap_err().to_string();
        assert!(e.contains("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"), "{e}");
    }

    #[test]
    fn raw_keeps_unknown_fields_and_secrets() {
        let c = load("scrape_configs:\n- job_name: x\n  basic_auth: {username: u, password: hunter2}\n  future_field: {a: 1}\n  kubernetes_sd_configs: [{role: pod}]\n").unwrap();
        let job = c.job("x").unwrap();
        assert_eq!(
            job.http_client
                .basic_auth
                .as_ref()
                .unwrap()
                .password
                .expose(),
            "hunter2"
        );
        assert!(!format!("{job:?}").contains("hunter2"));
        assert!(
            serde_yaml_ng::to_string(&job.raw)
                .unwrap()
                .contains("hunter2")
        );
        assert!(job.raw.contains_key("future_field"));
        assert_eq!(job.service_discovery.other[0].0, "kubernetes_sd_configs");
        let keys: Vec<_> = job.raw.keys().filter_map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "job_name",
                "basic_auth",
                "future_field",
                "kubernetes_sd_configs"
            ]
        );
    }

    #[test]
    fn scrape_config_files_are_merged_after_inline_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("jobs")).unwrap();
        std::fs::write(
            d.join("jobs/b.yml"),
            "scrape_configs:\n- job_name: b\n  file_sd_configs: [{files: ['sd/*.json']}]\n",
        )
        .unwrap();
        std::fs::write(d.join("jobs/a.yml"), "scrape_configs:\n- job_name: a\n").unwrap();
        std::fs::write(d.join("jobs/ignored.txt"), "not yaml: [").unwrap();
        let main = d.join("prometheus.yml");
        std::fs::write(
            &main,
            "global: {scrape_interval: 7s}\nscrape_config_files: ['jobs/*.yml']\nscrape_configs:\n- job_name: inline\n",
        )
        .unwrap();
        let config = Config::load(&main).unwrap();
        assert_eq!(config.job_names().collect::<Vec<_>>(), ["inline", "a", "b"]);
        let b = config.job("b").unwrap();
        assert_eq!(b.scrape_interval.to_string(), "7s");
        assert!(b.file.ends_with("jobs/b.yml"));
        // Relative paths are taken from the file that names them.
        let want = format!("{}/jobs/sd/*.json", d.display());
        assert_eq!(b.service_discovery.file_sd_configs[0].files, [want]);

        std::fs::write(
            d.join("jobs/c.yml"),
            "scrape_configs:\n- job_name: inline\n",
        )
        .unwrap();
        let e = Config::load(&main).unwrap_err().to_string();
        assert!(
            e.contains("jobs/c.yml") && e.contains("found multiple scrape configs"),
            "{e}"
        );
        std::fs::write(&main, "scrape_config_files: ['*/x/*.yml']\n").unwrap();
        let e = Config::load(&main).unwrap_err().to_string();
        assert!(e.contains("invalid scrape config file path"), "{e}");
    }

    #[test]
    fn bearer_token_becomes_authorization() {
        let c = load("scrape_configs:\n- job_name: x\n  bearer_token_file: tok\n").unwrap();
        let a = c
            .job("x")
            .unwrap()
            .http_client
            .authorization
            .clone()
            .unwrap();
        assert_eq!(a.kind, "Bearer");
        assert_eq!(a.credentials_file.as_deref(), Some("/etc/prometheus/tok"));
    }

    #[test]
    fn jobs_added_from_elsewhere_take_the_global_defaults() {
        let base = load(
            "global: {scrape_interval: 20s, scrape_timeout: 7s}\nscrape_configs:\n- job_name: file\n  static_configs: [{targets: ['a:1']}]\n",
        )
        .unwrap();
        let extra: Mapping = serde_yaml_ng::from_str(
            "job_name: serviceMonitor/ns/app/0\nscrape_timeout: 5s\nbasic_auth: {username: u, password: s3cret}\nstatic_configs: [{targets: ['b:1']}]\n",
        )
        .unwrap();
        let merged = base
            .clone()
            .with_jobs("operator", std::slice::from_ref(&extra))
            .unwrap();
        let names: Vec<&str> = merged.job_names().collect();
        assert_eq!(names, ["file", "serviceMonitor/ns/app/0"]);
        let job = merged.job("serviceMonitor/ns/app/0").unwrap();
        assert_eq!(job.scrape_interval.to_string(), "20s");
        assert_eq!(job.scrape_timeout.to_string(), "5s");
        assert_eq!(job.file, "operator");
        assert!(!format!("{job:?}").contains("s3cret"));

        // A clash names the origin and the job.
        let mut clash = extra;
        clash.insert(Value::from("job_name"), Value::from("file"));
        let err = base.clone().with_jobs("operator", &[clash]).unwrap_err();
        assert!(err.to_string().contains("operator"), "{err}");
        assert!(err.to_string().contains("multiple scrape configs"), "{err}");
        // An invalid one too.
        let bad: Mapping = serde_yaml_ng::from_str("job_name: x\nscrape_interval: soon\n").unwrap();
        let err = base.with_jobs("operator", &[bad]).unwrap_err();
        assert!(err.to_string().contains("scrape_interval"), "{err}");
    }
}
