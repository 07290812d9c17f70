//! `promshard check monitors` as a migrating user runs it: the real binary
//! on manifest files, compared with the operator goldens of
//! `operator/tests/golden` (each names the operator test case it follows).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml_ng::Value;

fn promshard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_promshard"))
        .args(args)
        .output()
        .expect("the promshard binary runs")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("operator/tests/golden")
}

fn yaml(out: &Output) -> Value {
    serde_yaml_ng::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not YAML ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_golden_case_prints_what_the_operator_generates() {
    let mut cases: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".input.yaml").map(str::to_owned)
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "golden cases went missing: {cases:?}");
    for case in cases {
        let input = golden_dir().join(format!("{case}.input.yaml"));
        let out = promshard(&[
            "check",
            "monitors",
            "--show-secrets",
            input.to_str().unwrap(),
        ]);
        let golden: Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(golden_dir().join(format!("{case}.golden.yaml"))).unwrap(),
        )
        .unwrap();
        let got = yaml(&out);
        for key in ["global", "scrape_configs"] {
            if let Some(want) = golden.get(key) {
                assert_eq!(
                    got.get(key),
                    Some(want),
                    "{case}: {key} differs; stderr: {}",
                    stderr(&out)
                );
            }
        }
    }
}

#[test]
fn secrets_are_redacted_unless_asked_for() {
    let input = golden_dir().join("service_monitor_auth.input.yaml");
    let input = input.to_str().unwrap();
    // Values of the Secret `creds` in that input (decoded from `data`).
    let secrets = ["hunter2", "s3cr3t", "oauth-secret", "Basic abc"];

    let redacted = promshard(&["check", "monitors", input]);
    let text = String::from_utf8_lossy(&redacted.stdout);
    assert!(text.contains("<secret>"), "{text}");
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} printed:\n{text}");
        assert!(!stderr(&redacted).contains(secret));
    }

    let shown = promshard(&["check", "monitors", "--show-secrets", input]);
    let text = String::from_utf8_lossy(&shown.stdout);
    for secret in secrets {
        assert!(text.contains(secret), "{secret:?} missing:\n{text}");
    }
}

/// A migration's files as they lie in a repository: the Prometheus, the
/// monitors and the Secrets in different files and directories.
#[test]
fn directories_are_read_recursively_and_rejections_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "prometheus.yaml",
        "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\n\
         metadata: {name: k8s, namespace: monitoring}\n\
         spec:\n  serviceMonitorSelector: {matchLabels: {release: kps}}\n  \
         serviceMonitorNamespaceSelector: {}\n",
    );
    write(
        "apps/web/monitor.yml",
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n\
         metadata: {name: web, namespace: shop, labels: {release: kps}}\n\
         spec:\n  selector: {matchLabels: {app: web}}\n  endpoints:\n  - port: http\n    \
         basicAuth:\n      username: {name: web-creds, key: user}\n      \
         password: {name: web-creds, key: pass}\n\
         ---\n\
         apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n\
         metadata: {name: slow, namespace: shop, labels: {release: kps}}\n\
         spec:\n  selector: {matchLabels: {app: slow}}\n  endpoints:\n  \
         - {port: http, interval: 10s, scrapeTimeout: 1m}\n\
         ---\n\
         apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n\
         metadata: {name: other-release, namespace: shop}\n\
         spec:\n  selector: {matchLabels: {app: x}}\n  endpoints: [{port: http}]\n",
    );
    write(
        "apps/web/secrets/creds.json",
        r#"{"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "web-creds", "namespace": "shop"},
            "stringData": {"user": "shop", "pass": "pa55word"}}"#,
    );
    write(
        "apps/web/README.md",
        "not a manifest: skipped in a directory",
    );

    let out = promshard(&["check", "monitors", dir.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejection fails the check: {err}"
    );
    let got = yaml(&out);
    let jobs: Vec<&str> = got["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["serviceMonitor/shop/web/0"]);
    let auth = &got["scrape_configs"][0]["basic_auth"];
    assert_eq!(auth["password"].as_str(), Some("<secret>"), "{auth:?}");
    assert!(
        err.contains(
            "rejected: ServiceMonitor shop/slow: endpoints[0]: scrapeTimeout \"1m\" greater than \
             scrapeInterval \"10s\""
        ),
        "{err}"
    );
    assert!(
        err.contains("not selected: ServiceMonitor shop/other-release"),
        "{err}"
    );

    let shown = promshard(&[
        "check",
        "monitors",
        "--show-secrets",
        dir.path().to_str().unwrap(),
    ]);
    let got = yaml(&shown);
    let auth = &got["scrape_configs"][0]["basic_auth"];
    assert_eq!(auth["username"].as_str(), Some("shop"));
    assert_eq!(auth["password"].as_str(), Some("pa55word"));
}

#[test]
fn bad_input_is_named_by_file_document_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();

    std::fs::write(
        path("broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\nkind: [unclosed\n",
    )
    .unwrap();
    let out = promshard(&["check", "monitors", &path("broken.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("broken.yaml document 2"), "{err}");

    std::fs::write(
        path("wrong-field.yaml"),
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n\
         metadata: {name: m, namespace: n}\nspec: {endpoints: {port: web}}\n",
    )
    .unwrap();
    let out = promshard(&["check", "monitors", &path("wrong-field.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("wrong-field.yaml document 1") && err.contains("endpoints"),
        "{err}"
    );

    let two = "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\n\
               metadata: {name: a, namespace: m}\n---\n\
               apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\n\
               metadata: {name: b, namespace: m}\n";
    std::fs::write(path("two.yaml"), two).unwrap();
    let out = promshard(&["check", "monitors", &path("two.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("several Prometheus resources given (m/a, m/b)"),
        "{err}"
    );
    let out = promshard(&[
        "check",
        "monitors",
        "--prometheus",
        "m/b",
        &path("two.yaml"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = promshard(&[
        "check",
        "monitors",
        "--prometheus",
        "m/c",
        &path("two.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("m/c: not among the manifests"));

    let out = promshard(&["check", "monitors", &path("missing.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.yaml"), "{}", stderr(&out));
}
