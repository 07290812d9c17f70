//! The Kustomize manifests as `kubectl apply -k` would deploy them, for the
//! tests that check `deploy/`. `kubectl` is required (`scripts/ensure-deps
//! --test` checks for it): its own kustomize is what users run, so the
//! tests render with it rather than with a second implementation.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize as _;
use serde_yaml_ng::Value;

/// Every directory under `root`, `root` included, that holds a
/// `kustomization.yaml`, parents before children, siblings in name order.
#[expect(
    clippy::panic,
    reason = "a test helper: failing fails the calling test"
)]
pub fn kustomizations(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .and_then(|entries| {
                entries
                    .map(|entry| entry.map(|entry| entry.path()))
                    .collect()
            })
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        entries.sort();
        if entries.iter().any(|path| {
            path.file_name()
                .is_some_and(|name| name == "kustomization.yaml")
        }) {
            found.push(dir.to_path_buf());
        }
        for entry in entries.into_iter().filter(|path| path.is_dir()) {
            walk(&entry, found);
        }
    }
    let mut found = Vec::new();
    walk(root, &mut found);
    found
}

/// The objects `kubectl kustomize <kustomization>` renders, in its order,
/// empty documents left out.
///
/// Panics, failing the calling test, when `kubectl` cannot be run, the
/// rendering fails (with kubectl's message) or the output is not YAML.
#[expect(
    clippy::panic,
    reason = "a test helper: failing fails the calling test"
)]
pub fn kustomize(kustomization: &Path) -> Vec<Value> {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(kustomization)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running kubectl kustomize {}: {e}. kubectl is required for this test; \
                 scripts/ensure-deps --test says how to install it",
                kustomization.display()
            )
        });
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed: {}",
        kustomization.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap_or_else(|e| {
        panic!(
            "kubectl kustomize {}: output is not UTF-8: {e}",
            kustomization.display()
        )
    });
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|e| {
                panic!(
                    "kubectl kustomize {}: output is not YAML: {e}",
                    kustomization.display()
                )
            })
        })
        .filter(|document| !document.is_null())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn finds_nested_kustomizations_and_renders_one() {
        let root = tempfile::tempdir().unwrap();
        write(
            &root.path().join("base/kustomization.yaml"),
            "resources: [config.yaml]\nnamespace: monitoring\n",
        );
        write(
            &root.path().join("base/config.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n",
        );
        write(
            &root.path().join("overlays/b/kustomization.yaml"),
            "resources: [../../base]\nnamePrefix: b-\n",
        );
        write(
            &root.path().join("overlays/notes.txt"),
            "not a kustomization",
        );
        let found = kustomizations(root.path());
        assert_eq!(
            found,
            [root.path().join("base"), root.path().join("overlays/b")]
        );

        let objects = kustomize(&found[1]);
        assert_eq!(objects.len(), 1);
        let metadata = &objects[0]["metadata"];
        assert_eq!(metadata["name"].as_str(), Some("b-a"));
        assert_eq!(metadata["namespace"].as_str(), Some("monitoring"));
    }
}
