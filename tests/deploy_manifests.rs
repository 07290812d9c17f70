//! The manifests in `deploy/` run promshard the way this build understands:
//! every promshard container's arguments parse with the real command line,
//! the files they name are mounted, the shard's Prometheus reads the config
//! its sidecar writes, and the `prometheus.yml` ConfigMaps load.
//!
//! Every kustomization is rendered with `kubectl kustomize` (required:
//! `scripts/ensure-deps --test` checks for it).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::{Path, PathBuf};

use clap::Parser as _;
use promshard::cli::{Cli, Command as Subcommand};
use serde_yaml_ng::Value;

const PROMSHARD_IMAGE: &str = "ghcr.io/promshard/promshard:";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kustomizations() -> Vec<PathBuf> {
    let found = promshard_test_support::kustomizations(&repo_root().join("deploy"));
    assert!(!found.is_empty(), "no kustomization under deploy/");
    found
}

fn shown(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn render(kustomization: &Path) -> Vec<Value> {
    promshard_test_support::kustomize(kustomization)
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(*key))
        .and_then(Value::as_str)
}

fn seq<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_sequence)
        .map_or(&[], Vec::as_slice)
}

/// A container with the pod it runs in.
struct Container<'a> {
    owner: String,
    pod: &'a Value,
    container: &'a Value,
}

impl Container<'_> {
    fn name(&self) -> &str {
        str_at(self.container, &["name"]).unwrap()
    }

    fn image(&self) -> &str {
        str_at(self.container, &["image"]).unwrap_or_default()
    }

    /// The arguments as the kubelet passes them: `$(VAR)` replaced by the
    /// container's env (downward-API fields get a stand-in value).
    fn args(&self) -> Vec<String> {
        seq(self.container, "args")
            .iter()
            .map(|arg| {
                let mut arg = arg.as_str().unwrap().to_owned();
                for env in seq(self.container, "env") {
                    let name = str_at(env, &["name"]).unwrap();
                    let value = str_at(env, &["value"]).unwrap_or("from-the-downward-api");
                    arg = arg.replace(&format!("$({name})"), value);
                }
                assert!(
                    !arg.contains("$("),
                    "{} {}: argument {arg:?} uses an undefined variable",
                    self.owner,
                    self.name()
                );
                arg
            })
            .collect()
    }

    /// The mount holding `path`, longest mount path first.
    fn mount_of(&self, path: &Path) -> Option<&Value> {
        seq(self.container, "volumeMounts")
            .iter()
            .filter(|m| path.starts_with(str_at(m, &["mountPath"]).unwrap()))
            .max_by_key(|m| str_at(m, &["mountPath"]).unwrap().len())
    }

    fn assert_mounted(&self, path: &Path, writable: bool) {
        let mount = self.mount_of(path).unwrap_or_else(|| {
            panic!(
                "{} {}: {} is on no volume (the root file system is read-only)",
                self.owner,
                self.name(),
                path.display()
            )
        });
        if writable {
            assert_ne!(
                mount.get("readOnly"),
                Some(&Value::Bool(true)),
                "{} {}: {} must be writable",
                self.owner,
                self.name(),
                path.display()
            );
        }
        let volume_name = str_at(mount, &["name"]).unwrap();
        let declared = seq(self.pod, "volumes")
            .iter()
            .any(|v| str_at(v, &["name"]) == Some(volume_name));
        let claimed = self.owner.starts_with("StatefulSet/");
        assert!(
            declared || claimed,
            "{} {}: volume {volume_name} is not declared",
            self.owner,
            self.name()
        );
    }

    fn port(&self, name: &str) -> Option<u64> {
        seq(self.container, "ports")
            .iter()
            .find(|p| str_at(p, &["name"]) == Some(name))
            .and_then(|p| p.get("containerPort"))
            .and_then(Value::as_u64)
    }
}

fn containers(objects: &[Value]) -> Vec<Container<'_>> {
    let mut out = Vec::new();
    for object in objects {
        let Some(pod) = object
            .get("spec")
            .and_then(|s| s.get("template"))
            .and_then(|t| t.get("spec"))
        else {
            continue;
        };
        let owner = format!(
            "{}/{}",
            str_at(object, &["kind"]).unwrap(),
            str_at(object, &["metadata", "name"]).unwrap()
        );
        for container in seq(pod, "initContainers")
            .iter()
            .chain(seq(pod, "containers"))
        {
            out.push(Container {
                owner: owner.clone(),
                pod,
                container,
            });
        }
    }
    out
}

fn parse(container: &Container<'_>) -> Cli {
    let argv = std::iter::once("promshard".to_owned()).chain(container.args());
    Cli::try_parse_from(argv).unwrap_or_else(|e| {
        panic!(
            "{} {}: promshard rejects the arguments {:?}:\n{e}",
            container.owner,
            container.name(),
            container.args()
        )
    })
}

#[test]
fn promshard_containers_run_with_arguments_this_build_accepts() {
    for kustomization in kustomizations() {
        let objects = render(&kustomization);
        let containers = containers(&objects);
        let mut coordinators = 0;
        let mut sidecars = 0;
        for container in containers
            .iter()
            .filter(|c| c.image().starts_with(PROMSHARD_IMAGE))
        {
            match parse(container).command {
                Subcommand::Coordinator(args) => {
                    coordinators += 1;
                    if let Some(config_file) = &args.config_file {
                        container.assert_mounted(config_file, false);
                    }
                    if let Some(token) = &args.token_file {
                        container.assert_mounted(token, false);
                    }
                    assert_eq!(
                        container.port("api").map(|p| p.to_string()),
                        Some(args.api_listen.port().to_string()),
                        "{}: the api port is where the coordinator listens",
                        shown(&kustomization)
                    );
                }
                Subcommand::Sidecar(args) => {
                    sidecars += 1;
                    container.assert_mounted(&args.config_file, false);
                    container.assert_mounted(&args.output_dir, true);
                    container.assert_mounted(&args.storage_path, true);
                    assert!(
                        args.token_file.is_some(),
                        "{}: a sidecar without --api.token-file lets anyone change its targets",
                        shown(&kustomization)
                    );
                    check_prometheus_beside(container, &args, &containers);
                }
                _ => panic!(
                    "{} {}: unexpected subcommand",
                    container.owner,
                    container.name()
                ),
            }
        }
        assert_eq!(
            (coordinators, sidecars),
            (1, 1),
            "{}: one coordinator and one shard sidecar container",
            shown(&kustomization)
        );
    }
}

/// The Prometheus in the sidecar's pod reads the config the sidecar writes,
/// lets it reload, and listens where the sidecar looks for it.
fn check_prometheus_beside(
    sidecar: &Container<'_>,
    args: &promshard::cli::sidecar::SidecarArgs,
    containers: &[Container<'_>],
) {
    let prometheus = containers
        .iter()
        .find(|c| c.owner == sidecar.owner && c.name() == "prometheus")
        .unwrap_or_else(|| panic!("{}: no prometheus container", sidecar.owner));
    let prometheus_args = prometheus.args();
    let shard_config = args
        .output_dir
        .join(promshard::sidecar::run::SHARD_CONFIG_FILE);
    let want = format!("--config.file={}", shard_config.display());
    assert!(
        prometheus_args.contains(&want),
        "{}: Prometheus must run {want} (the sidecar's output), has {prometheus_args:?}",
        sidecar.owner
    );
    prometheus.assert_mounted(&shard_config, false);
    assert!(
        prometheus_args
            .iter()
            .any(|a| a == "--web.enable-lifecycle"),
        "{}: the sidecar reloads Prometheus through /-/reload",
        sidecar.owner
    );
    let web_port = prometheus.port("web").expect("a port named web");
    assert!(
        args.prometheus_url
            .trim_end_matches('/')
            .ends_with(&format!(":{web_port}")),
        "{}: the sidecar looks for Prometheus at {} but it listens on {web_port}",
        sidecar.owner,
        args.prometheus_url
    );
}

#[test]
fn the_prometheus_configs_load() {
    for kustomization in kustomizations() {
        let objects = render(&kustomization);
        let config_maps: Vec<_> = objects
            .iter()
            .filter(|o| {
                str_at(o, &["kind"]) == Some("ConfigMap")
                    && str_at(o, &["metadata", "name"])
                        .is_some_and(|n| n.starts_with("promshard-config"))
            })
            .collect();
        assert_eq!(config_maps.len(), 1, "{}", shown(&kustomization));
        let dir = tempfile::tempdir().unwrap();
        let data = config_maps[0]
            .get("data")
            .and_then(Value::as_mapping)
            .unwrap();
        for (key, value) in data {
            std::fs::write(
                dir.path().join(key.as_str().unwrap()),
                value.as_str().unwrap(),
            )
            .unwrap();
        }
        let config = promshard_config::Config::load(dir.path().join("prometheus.yml"))
            .unwrap_or_else(|e| panic!("{}: prometheus.yml: {e}", shown(&kustomization)));
        let jobs: Vec<&str> = config.job_names().collect();
        assert!(
            jobs.contains(&"kubernetes-pods"),
            "{}: {jobs:?}",
            shown(&kustomization)
        );
        // Every `jobs-*.yml` an overlay adds is picked up.
        let extra = data
            .keys()
            .filter(|k| k.as_str().is_some_and(|k| k.starts_with("jobs-")))
            .count();
        if kustomization.ends_with("example") {
            assert_eq!(extra, 1);
            assert!(jobs.contains(&"loadgen"), "{jobs:?}");
        }
        // The Kubernetes discovery of every job is one this build accepts.
        let mut kubernetes_jobs = 0;
        for job in &config.scrape_configs {
            let Some(sd) = job.raw.get("kubernetes_sd_configs") else {
                continue;
            };
            kubernetes_jobs += 1;
            let parsed = promshard_k8s::sd::config::KubernetesSdConfig::parse_list(
                sd,
                &format!("{}: kubernetes_sd_configs", job.job_name),
                &job.base_dir,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", shown(&kustomization)));
            assert!(!parsed.is_empty(), "{}", job.job_name);
        }
        assert!(kubernetes_jobs >= 2, "{}", shown(&kustomization));
        let external = config
            .raw
            .get("global")
            .and_then(|g| g.get("external_labels"))
            .and_then(|l| l.get("promshard_shard"))
            .and_then(Value::as_str);
        assert_eq!(
            external,
            Some("${POD_NAME}"),
            "{}: Thanos Query deduplicates on promshard_shard",
            shown(&kustomization)
        );
    }
}

/// The fleet's rules (the `promshard-rules` ConfigMap Thanos Ruler loads)
/// pass `promtool check rules`, in every kustomization.
#[test]
fn the_rule_files_pass_promtool() {
    for kustomization in kustomizations() {
        let objects = render(&kustomization);
        let rules: Vec<_> = objects
            .iter()
            .filter(|o| {
                str_at(o, &["kind"]) == Some("ConfigMap")
                    && str_at(o, &["metadata", "name"])
                        .is_some_and(|n| n.starts_with("promshard-rules"))
            })
            .collect();
        assert_eq!(rules.len(), 1, "{}", shown(&kustomization));
        let dir = tempfile::tempdir().unwrap();
        let data = rules[0].get("data").and_then(Value::as_mapping).unwrap();
        assert!(!data.is_empty(), "{}", shown(&kustomization));
        for (key, value) in data {
            let path = dir.path().join(key.as_str().unwrap());
            std::fs::write(&path, value.as_str().unwrap()).unwrap();
            let check = std::process::Command::new("promtool")
                .arg("check")
                .arg("rules")
                .arg(&path)
                .output()
                .expect("promtool runs (scripts/ensure-deps installs it)");
            assert!(
                check.status.success(),
                "{}: {}: {}",
                shown(&kustomization),
                key.as_str().unwrap(),
                String::from_utf8_lossy(&check.stdout)
            );
        }
    }
}
