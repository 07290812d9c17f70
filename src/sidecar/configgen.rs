//! The shard's generated Prometheus config.
//!
//! The user keeps one `prometheus.yml`. Each shard runs it with the scraping
//! redirected through its sidecar: every job keeps all of its fields
//! (interval, timeout, `metric_relabel_configs`, `honor_labels`,
//! `sample_limit`, ...) except the ones the coordinator and the sidecar took
//! over:
//!
//! - service discovery and `relabel_configs`: the coordinator ran them for
//!   the fleet; the job reads its final targets from a `file_sd` file instead;
//! - target HTTP settings (auth, TLS, proxy, `params`, `scheme`): the sidecar
//!   scrapes the real target with them; Prometheus talks plain HTTP to the
//!   sidecar on loopback.
//!
//! Everything outside `scrape_configs` (global, external labels, remote
//! write with its secrets, storage, ...) is kept as written, fields we do
//! not know included; `rule_files` and `alerting` only with
//! [`RulesMode::Shard`]. By default ([`RulesMode::Global`]) a shard
//! evaluates no rules: each holds a slice of the targets, so an aggregate
//! would be split into partial answers and an `absent()` alert would fire
//! on every shard that does not hold the target; the rules run once on the
//! global view instead (Thanos Ruler, `promshard local`'s global store). Because the generated file lives in a
//! different directory than the user's, relative file paths are made absolute
//! against the user's config directory, as Prometheus would have resolved them.
//! The file keeps the user's secrets, so it is written mode 0600.

use std::path::{Path, PathBuf};

use promshard_config::http_client::HTTP_CLIENT_KEYS;
use serde_yaml_ng::{Mapping, Value};

use crate::sidecar::filesd;

/// Keys of a scrape config that the generated config drops, besides
/// [`HTTP_CLIENT_KEYS`] (the sidecar scrapes the target with those).
const TAKEN_OVER: &[&str] = &[
    // targets come from file_sd, relabeling was done by the coordinator
    "static_configs",
    "relabel_configs",
    // the sidecar builds the target's URL with these
    "scheme",
    "params",
];

/// The generated config could not be built from the user's.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConfigGenError {
    /// The user's config is not a YAML mapping at the top.
    #[error("the Prometheus config is not a YAML mapping")]
    NotAMapping,
    /// A scrape config has no usable `job_name`.
    #[error("scrape config #{index} has no job_name")]
    MissingJobName {
        /// Position in `scrape_configs` (0-based).
        index: usize,
    },
    /// Serialising the result failed.
    #[error("rendering the shard config: {0}")]
    Render(#[from] serde_yaml_ng::Error),
}

/// Where the user's `rule_files` are evaluated (`--shard.rules`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesMode {
    // Plain comments: variant docs would turn `--help` into its long form.
    // Once, on the global view: shards get no rule_files and no alerting.
    #[default]
    Global,
    // On every shard, on its own targets: for rules that only ever touch
    // one target's series.
    Shard,
}

/// The job a shard's Prometheus scrapes itself with (`--shard.self-scrape`):
/// its own metrics, such as `prometheus_tsdb_head_samples_appended_total`,
/// labelled with the shard, for dashboards and for autoscalers that scale
/// on ingestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SelfScrape {
    /// `host:port` of the shard's Prometheus.
    pub address: String,
    /// The shard's name (the `promshard_shard` label).
    pub shard: String,
}

/// Name of the self-scrape job.
pub(super) const SELF_SCRAPE_JOB: &str = "promshard-shard";

/// What the generated config is made from.
#[derive(Debug)]
pub(super) struct ShardConfigInput<'a> {
    /// Where the user's rules are evaluated.
    pub rules: RulesMode,
    /// The shard's own Prometheus as one more job, if asked for.
    pub self_scrape: Option<&'a SelfScrape>,
    /// The user's whole config document.
    pub document: &'a Value,
    /// Every scrape config, including those loaded from
    /// `scrape_config_files`, in order.
    pub scrape_configs: &'a [JobSource<'a>],
    /// Directory of the user's config file; relative paths outside
    /// `scrape_configs` resolve from it.
    pub config_dir: &'a Path,
    /// Where the per-job file_sd files are written.
    pub output_dir: &'a Path,
}

/// One scrape config as the user wrote it.
#[derive(Debug, Clone, Copy)]
pub(super) struct JobSource<'a> {
    /// Its YAML mapping.
    pub raw: &'a Mapping,
    /// The directory its relative paths resolve from (the directory of the
    /// file it was written in, which differs for `scrape_config_files`).
    pub base_dir: &'a Path,
}

/// Builds the shard's config as YAML text. Deterministic: the same input
/// gives the same bytes, so an unchanged config is never reloaded.
pub(super) fn generate(input: &ShardConfigInput<'_>) -> Result<String, ConfigGenError> {
    let Value::Mapping(document) = input.document else {
        return Err(ConfigGenError::NotAMapping);
    };
    let mut out = Mapping::new();
    for (key, value) in document {
        match key.as_str() {
            // Inlined below, transformed like the other jobs.
            Some("scrape_config_files") => {}
            Some("scrape_configs") => {}
            Some("rule_files" | "alerting") if input.rules == RulesMode::Global => {}
            _ => {
                let mut value = value.clone();
                absolutize_paths(key.as_str(), &mut value, input.config_dir);
                out.insert(key.clone(), value);
            }
        }
    }
    let mut jobs = Vec::with_capacity(input.scrape_configs.len());
    for (index, job) in input.scrape_configs.iter().enumerate() {
        let name = job
            .raw
            .get("job_name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or(ConfigGenError::MissingJobName { index })?;
        jobs.push(Value::Mapping(shard_job(job, name, input)));
    }
    if let Some(own) = input.self_scrape {
        jobs.push(self_scrape_job(own));
    }
    out.insert(Value::from("scrape_configs"), Value::Sequence(jobs));
    Ok(serde_yaml_ng::to_string(&Value::Mapping(out))?)
}

/// The shard's Prometheus scraping itself directly (not through the
/// sidecar: it is not a target of the fleet and not packed).
fn self_scrape_job(own: &SelfScrape) -> Value {
    let text = format!(
        "job_name: {SELF_SCRAPE_JOB}\nstatic_configs:\n  - targets: [{address:?}]\n    labels: {{promshard_shard: {shard:?}}}\n",
        address = own.address,
        shard = own.shard,
    );
    serde_yaml_ng::from_str(&text).unwrap_or(Value::Null)
}

fn shard_job(job: &JobSource<'_>, name: &str, input: &ShardConfigInput<'_>) -> Mapping {
    let mut out = Mapping::new();
    for (key, value) in job.raw {
        let Some(key_str) = key.as_str() else {
            out.insert(key.clone(), value.clone());
            continue;
        };
        if key_str.ends_with("_sd_configs")
            || TAKEN_OVER.contains(&key_str)
            || HTTP_CLIENT_KEYS.contains(&key_str)
        {
            continue;
        }
        let mut value = value.clone();
        absolutize_paths(Some(key_str), &mut value, job.base_dir);
        out.insert(key.clone(), value);
    }
    out.insert(Value::from("scheme"), Value::from("http"));
    let file = filesd::job_file(input.output_dir, name);
    let mut file_sd = Mapping::new();
    file_sd.insert(
        Value::from("files"),
        Value::Sequence(vec![Value::from(file.to_string_lossy().into_owned())]),
    );
    out.insert(
        Value::from("file_sd_configs"),
        Value::Sequence(vec![Value::Mapping(file_sd)]),
    );
    out
}

/// Makes relative paths absolute against `base`, for the keys Prometheus
/// treats as paths: every `*_file`, `rule_files` and file_sd `files` entries.
fn absolutize_paths(key: Option<&str>, value: &mut Value, base: &Path) {
    let is_path_list = matches!(key, Some("rule_files" | "files" | "scrape_config_files"));
    match value {
        Value::String(path) if key.is_some_and(|k| k.ends_with("_file")) => {
            *path = resolve(base, path);
        }
        Value::Sequence(items) if is_path_list => {
            for item in items {
                if let Value::String(path) = item {
                    *path = resolve(base, path);
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                absolutize_paths(None, item, base);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                absolutize_paths(k.as_str(), v, base);
            }
        }
        _ => {}
    }
}

fn resolve(base: &Path, path: &str) -> String {
    if path.is_empty() || Path::new(path).is_absolute() {
        return path.to_owned();
    }
    let joined: PathBuf = base.join(path);
    joined.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = r#"
global:
  scrape_interval: 15s
  external_labels: {region: eu}
rule_files: [rules/*.yml]
remote_write:
  - url: https://rw.example/api/v1/write
    basic_auth: {username: u, password: s3cret}
    tls_config: {ca_file: certs/ca.pem}
    some_future_field: kept
scrape_configs:
  - job_name: node
    scrape_interval: 30s
    metrics_path: /metrics
    params: {module: [x]}
    scheme: https
    basic_auth: {username: u, password_file: pw}
    tls_config: {ca_file: ca.pem}
    kubernetes_sd_configs: [{role: node}]
    relabel_configs: [{action: labeldrop, regex: tmp}]
    metric_relabel_configs: [{action: drop, source_labels: [__name__], regex: go_.*}]
    honor_labels: true
    sample_limit: 1000
"#;

    fn generate_from(yaml: &str) -> Value {
        generate_with(yaml, RulesMode::Shard)
    }

    fn generate_with(yaml: &str, rules: RulesMode) -> Value {
        let document: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let jobs: Vec<JobSource<'_>> = document["scrape_configs"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|j| JobSource {
                raw: j.as_mapping().unwrap(),
                base_dir: Path::new("/etc/prom"),
            })
            .collect();
        let text = generate(&ShardConfigInput {
            rules,
            self_scrape: None,
            document: &document,
            scrape_configs: &jobs,
            config_dir: Path::new("/etc/prom"),
            output_dir: Path::new("/var/shard"),
        })
        .unwrap();
        serde_yaml_ng::from_str(&text).unwrap()
    }

    #[test]
    fn jobs_read_targets_from_file_sd_and_keep_their_own_fields() {
        let out = generate_from(USER);
        let job = &out["scrape_configs"][0];
        let expected: Value = serde_yaml_ng::from_str(
            r#"
job_name: node
scrape_interval: 30s
metrics_path: /metrics
metric_relabel_configs: [{action: drop, source_labels: [__name__], regex: go_.*}]
honor_labels: true
sample_limit: 1000
scheme: http
file_sd_configs: [{files: [/var/shard/node.json]}]
"#,
        )
        .unwrap();
        assert_eq!(job, &expected);
    }

    #[test]
    fn everything_outside_scrape_configs_is_kept_with_paths_made_absolute() {
        let out = generate_from(USER);
        assert_eq!(
            out["global"]["external_labels"]["region"],
            Value::from("eu")
        );
        assert_eq!(out["rule_files"][0], Value::from("/etc/prom/rules/*.yml"));
        let rw = &out["remote_write"][0];
        assert_eq!(rw["basic_auth"]["password"], Value::from("s3cret"));
        assert_eq!(
            rw["tls_config"]["ca_file"],
            Value::from("/etc/prom/certs/ca.pem")
        );
        assert_eq!(rw["some_future_field"], Value::from("kept"));
    }

    #[test]
    fn output_is_deterministic() {
        let document: Value = serde_yaml_ng::from_str(USER).unwrap();
        let jobs = vec![JobSource {
            raw: document["scrape_configs"][0].as_mapping().unwrap(),
            base_dir: Path::new("/c"),
        }];
        let input = ShardConfigInput {
            rules: RulesMode::Global,
            self_scrape: None,
            document: &document,
            scrape_configs: &jobs,
            config_dir: Path::new("/c"),
            output_dir: Path::new("/o"),
        };
        assert_eq!(generate(&input).unwrap(), generate(&input).unwrap());
    }

    #[test]
    fn rules_and_alerting_stay_off_the_shards_unless_asked_for() {
        let with_alerting = format!(
            "{USER}alerting:\n  alertmanagers: [{{static_configs: [{{targets: ['am:9093']}}]}}]\n"
        );
        let global = generate_with(&with_alerting, RulesMode::Global);
        assert!(global.get("rule_files").is_none(), "{global:?}");
        assert!(global.get("alerting").is_none(), "{global:?}");
        // Everything else outside the jobs stays.
        assert_eq!(global["global"]["external_labels"]["region"], "eu");
        assert_eq!(global["remote_write"][0]["some_future_field"], "kept");
        let shard = generate_with(&with_alerting, RulesMode::Shard);
        assert_eq!(shard["rule_files"][0], "/etc/prom/rules/*.yml");
        assert!(shard.get("alerting").is_some());
    }

    #[test]
    fn the_self_scrape_job_scrapes_prometheus_itself_labelled_with_the_shard() {
        let document: Value = serde_yaml_ng::from_str(USER).unwrap();
        let jobs: Vec<JobSource<'_>> = document["scrape_configs"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|j| JobSource {
                raw: j.as_mapping().unwrap(),
                base_dir: Path::new("/c"),
            })
            .collect();
        let own = SelfScrape {
            address: "127.0.0.1:9090".into(),
            shard: "shard-3".into(),
        };
        let text = generate(&ShardConfigInput {
            rules: RulesMode::Global,
            self_scrape: Some(&own),
            document: &document,
            scrape_configs: &jobs,
            config_dir: Path::new("/c"),
            output_dir: Path::new("/o"),
        })
        .unwrap();
        let out: Value = serde_yaml_ng::from_str(&text).unwrap();
        let expected: Value = serde_yaml_ng::from_str(
            "job_name: promshard-shard\nstatic_configs: [{targets: ['127.0.0.1:9090'], labels: {promshard_shard: shard-3}}]",
        )
        .unwrap();
        assert_eq!(out["scrape_configs"][1], expected);
        // The user's config loads it: a valid job.
        promshard_config::Config::from_yaml_str(&text, "shard.yml").unwrap();
    }

    #[test]
    fn a_job_without_name_is_an_error() {
        let document: Value = serde_yaml_ng::from_str("scrape_configs: [{}]").unwrap();
        let empty = Mapping::new();
        let jobs = vec![JobSource {
            raw: &empty,
            base_dir: Path::new("/c"),
        }];
        let err = generate(&ShardConfigInput {
            rules: RulesMode::Global,
            self_scrape: None,
            document: &document,
            scrape_configs: &jobs,
            config_dir: Path::new("/c"),
            output_dir: Path::new("/o"),
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "scrape config #0 has no job_name");
    }
}
