//! `promshard check monitors`: the scrape configs prometheus-operator would
//! generate from Kubernetes manifests, offline, for people migrating.
//!
//! Reads ServiceMonitors, PodMonitors, Probes and ScrapeConfigs with the
//! Secrets, ConfigMaps and Namespaces they refer to from files and
//! directories (recursively: `*.yaml`, `*.yml`, `*.json`), and prints one
//! YAML document whose `global` and `scrape_configs` are what the operator
//! writes into its Prometheus config. A Prometheus resource among the
//! manifests (or the one `--prometheus` names) supplies the selectors and
//! every setting that changes generation; without one, every resource in
//! every namespace is selected and the operator's defaults apply.
//!
//! Credentials read from Secrets print as `<secret>` unless
//! `--show-secrets` is given: the output is meant to be pasted into issues
//! and diffs. What the operator would reject, or what the Prometheus does
//! not select, is listed on stderr with the operator's reason; a rejection
//! makes the exit code 1.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use promshard_operator::generate::{Status, generate};
use promshard_operator::load::load_documents;
use promshard_operator::model::LabelSelector;
use promshard_operator::model::Prometheus;
use promshard_operator::selection::Selection;
use promshard_operator::settings::Settings;

/// Largest manifest file read: a cluster dump is megabytes, not gigabytes.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// What to generate (`promshard check monitors`'s flags).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Files and directories of manifests.
    pub paths: Vec<PathBuf>,
    /// The Prometheus resource to follow, `(namespace, name)`.
    pub prometheus: Option<(String, String)>,
    /// Print Secrets' values instead of `<secret>`.
    pub show_secrets: bool,
}

/// Runs the check.
pub(crate) fn run(options: &Options) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for path in &options.paths {
        collect_files(path, true, &mut files)?;
    }
    let mut texts = Vec::with_capacity(files.len());
    for file in &files {
        let size = std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len();
        if size > MAX_FILE_BYTES {
            bail!("{}: larger than {MAX_FILE_BYTES} bytes", file.display());
        }
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        texts.push((file.display().to_string(), text));
    }
    let loaded = load_documents(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())))?;

    let mut stderr = std::io::stderr().lock();
    for note in &loaded.notes {
        writeln!(stderr, "note: {note}").context("writing to stderr")?;
    }
    let prometheus = chosen_prometheus(&loaded.resources.prometheuses, options)?;
    let (settings, selection) = match prometheus {
        Some(p) => (Settings::from_prometheus(p), Selection::from_prometheus(p)),
        None => select_everything(),
    };
    let generated = generate(&settings, &selection, &loaded.resources)?;

    let text = if options.show_secrets {
        generated.to_yaml_string()
    } else {
        generated.to_redacted_yaml_string()
    }
    .context("writing the generated config as YAML")?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("writing to stdout")?;

    let mut rejected = 0;
    for outcome in &generated.outcomes {
        let object = format!("{} {}/{}", outcome.kind, outcome.namespace, outcome.name);
        match &outcome.status {
            Status::Accepted { .. } => {}
            Status::Rejected { reason } => {
                rejected += 1;
                writeln!(stderr, "rejected: {object}: {reason}").context("writing to stderr")?;
            }
            Status::NotSelected { reason } => {
                writeln!(stderr, "not selected: {object}: {reason}")
                    .context("writing to stderr")?;
            }
        }
    }
    Ok(if rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The Prometheus whose selectors apply: the one `--prometheus` names, else
/// the only one given, else none.
fn chosen_prometheus<'a>(
    prometheuses: &'a [Prometheus],
    options: &Options,
) -> anyhow::Result<Option<&'a Prometheus>> {
    let names = || {
        prometheuses
            .iter()
            .map(|p| format!("{}/{}", p.metadata.namespace, p.metadata.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&options.prometheus, prometheuses) {
        (Some((namespace, name)), _) => prometheuses
            .iter()
            .find(|p| p.metadata.namespace == *namespace && p.metadata.name == *name)
            .map(Some)
            .with_context(|| {
                format!(
                    "--prometheus {namespace}/{name}: not among the manifests (Prometheus \
                     resources given: {})",
                    if prometheuses.is_empty() {
                        "none".to_owned()
                    } else {
                        names()
                    }
                )
            }),
        (None, []) => Ok(None),
        (None, [only]) => Ok(Some(only)),
        (None, _) => bail!(
            "several Prometheus resources given ({}): choose one with --prometheus NAMESPACE/NAME",
            names()
        ),
    }
}

/// A Prometheus that selects every resource in every namespace, with the
/// operator's defaults for everything else.
fn select_everything() -> (Settings, Selection) {
    let all = Some(LabelSelector::default());
    let selection = Selection {
        prometheus_namespace: "default".into(),
        service_monitor_selector: all.clone(),
        service_monitor_namespace_selector: all.clone(),
        pod_monitor_selector: all.clone(),
        pod_monitor_namespace_selector: all.clone(),
        probe_selector: all.clone(),
        probe_namespace_selector: all.clone(),
        scrape_config_selector: all.clone(),
        scrape_config_namespace_selector: all,
    };
    (Settings::new("promshard", "default"), selection)
}

/// Adds `path` to `files`: a file as it is when named, a directory's
/// manifest files (by extension) recursively, in name order so that the
/// output does not depend on the file system.
fn collect_files(path: &Path, named: bool, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_dir() {
        let mut entries = std::fs::read_dir(path)
            .with_context(|| format!("reading directory {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("reading directory {}", path.display()))?;
        entries.sort();
        for entry in entries {
            collect_files(&entry, false, files)?;
        }
    } else if named || is_manifest(path) {
        files.push(path.to_owned());
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_read_recursively_in_name_order_and_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("b");
        std::fs::create_dir(&sub).unwrap();
        for name in ["c.yaml", "a.json", "README.md", "b/x.yml", "b/.y.yaml.swp"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let mut files = Vec::new();
        collect_files(dir.path(), true, &mut files).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.strip_prefix(dir.path()).unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a.json", "b/x.yml", "c.yaml"]);

        // A file named on the command line is read whatever its name.
        let mut files = Vec::new();
        collect_files(&dir.path().join("README.md"), true, &mut files).unwrap();
        assert_eq!(files.len(), 1);
    }
}
