//! `promshard check targets` against the real `promtool check
//! service-discovery` (Prometheus 2.42 from Debian), and `promshard check
//! config` against `promtool check config`, on the configs under
//! testdata/config.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn testdata(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/config")
        .join(sub)
}

fn promtool() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("promtool");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("promtool is not installed: run scripts/ensure-deps");
}

fn yml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no configs in {}", dir.display());
    files
}

fn promtool_sd(file: &Path, job: &str) -> String {
    let out = Command::new(promtool())
        .args(["check", "service-discovery", "--timeout=1s"])
        .arg(file)
        .arg(job)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool failed on {} {job}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ours(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_promshard"))
        .args(args)
        .output()
        .unwrap()
}

fn ours_sd(file: &Path, job: Option<&str>, compat: &str) -> String {
    let file = file.to_str().unwrap();
    let mut args = vec![
        "check",
        "targets",
        "--config",
        file,
        "--compat",
        compat,
        "--timeout",
        "1s",
    ];
    if let Some(job) = job {
        args.extend(["--job", job]);
    }
    let out = ours(&args);
    assert!(
        out.status.success(),
        "promshard failed on {file} {job:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sorted_entries(json: &str) -> Vec<String> {
    let value: Value = serde_json::from_str(json).unwrap();
    let mut entries: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.to_string())
        .collect();
    entries.sort();
    entries
}

fn job_names(file: &Path) -> Vec<String> {
    let config = promshard_config::Config::load(file).unwrap();
    config.job_names().map(str::to_owned).collect()
}

/// Same entries; promtool orders sources randomly (a Go map), so the order
/// is compared only when it happens to agree, and then the text must be
/// byte-identical.
fn assert_same(ours: &str, theirs: &str, what: &str) {
    let (a, b) = (sorted_entries(ours), sorted_entries(theirs));
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: entry count differs\nours: {ours}\npromtool: {theirs}"
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x, y,
            "{what}: entries differ\nours: {ours}\npromtool: {theirs}"
        );
    }
    let in_order = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    if in_order(ours) == in_order(theirs) {
        assert_eq!(
            ours.trim_end(),
            theirs.trim_end(),
            "{what}: same content, different text"
        );
    }
}

/// A copy of `file` whose job `job` has its relabeling replaced by a rule
/// that changes nothing, file_sd paths made absolute. promtool 2.42 prints
/// corrupted `discoveredLabels` once a rule modifies labels (its relabeling
/// reuses the discovered labels' array in place), so the labels before
/// relabeling are taken from this copy instead. Its once-per-source
/// de-duplication then compares the corrupted labels: dropped targets
/// whose distinguishing label a rule rewrote before the drop come out as
/// one entry. `check targets` prints one per target, as the
/// de-duplication means to (and promtool does without the corruption).
fn without_relabeling(file: &Path, job: &str, dir: &Path) -> PathBuf {
    let base = file.parent().unwrap();
    let mut doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    for scrape in doc["scrape_configs"].as_sequence_mut().unwrap() {
        if scrape["job_name"].as_str() != Some(job) {
            continue;
        }
        let noop: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            "[{source_labels: [__address__], regex: 'never matches this', action: drop}]",
        )
        .unwrap();
        scrape
            .as_mapping_mut()
            .unwrap()
            .insert("relabel_configs".into(), noop);
        if let Some(sds) = scrape
            .get_mut("file_sd_configs")
            .and_then(|v| v.as_sequence_mut())
        {
            for sd in sds {
                for f in sd["files"].as_sequence_mut().unwrap() {
                    let absolute = base.join(f.as_str().unwrap());
                    *f = absolute.to_str().unwrap().into();
                }
            }
        }
    }
    let out = dir.join(format!("{job}.yml"));
    std::fs::write(&out, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    out
}

fn entries(json: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(json)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn multiset(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = values.collect();
    v.sort();
    v
}

fn compare_job(file: &Path, job: &str, has_relabeling: bool, scratch: &Path) -> Result<(), String> {
    let ours_text = ours_sd(file, Some(job), "prometheus2");
    let theirs_text = promtool_sd(file, job);
    let (ours, theirs) = (entries(&ours_text), entries(&theirs_text));
    let final_labels = |v: &[Value]| {
        multiset(
            v.iter()
                .map(|e| format!("{} error={}", e["labels"], e.get("error").is_some())),
        )
    };
    if final_labels(&ours) != final_labels(&theirs) {
        return Err(format!(
            "labels differ\nours: {ours_text}\npromtool: {theirs_text}"
        ));
    }
    if !has_relabeling {
        if sorted_entries(&ours_text) != sorted_entries(&theirs_text) {
            return Err(format!(
                "entries differ\nours: {ours_text}\npromtool: {theirs_text}"
            ));
        }
        if ours == theirs && ours_text.trim_end() != theirs_text.trim_end() {
            return Err(format!(
                "same content, different text\nours: {ours_text}\npromtool: {theirs_text}"
            ));
        }
        return Ok(());
    }
    // Targets only relabeling makes valid (URLs as addresses) are errors
    // without it: those entries of the copy match any of ours.
    let oracle_text = promtool_sd(&without_relabeling(file, job, scratch), job);
    let oracle_entries = entries(&oracle_text);
    let mut wildcards = oracle_entries
        .iter()
        .filter(|e| e.get("error").is_some())
        .count();
    let mut oracle = multiset(
        oracle_entries
            .iter()
            .filter(|e| e.get("error").is_none())
            .map(|e| e["discoveredLabels"].to_string()),
    );
    if oracle_entries.len() != ours.len() {
        return Err(format!(
            "{} targets, promtool without relabeling: {}",
            ours.len(),
            oracle_entries.len()
        ));
    }
    for entry in ours.iter().filter(|e| e.get("error").is_none()) {
        let discovered = entry["discoveredLabels"].to_string();
        match oracle.iter().position(|d| *d == discovered) {
            Some(i) => {
                oracle.remove(i);
            }
            None if wildcards > 0 => wildcards -= 1,
            None => {
                return Err(format!(
                    "discovered labels {discovered} not discovered by promtool:\n{oracle_text}"
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn targets_match_promtool_in_prometheus2_mode() {
    let scratch = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for file in yml_files(&testdata("golden")) {
        let config = promshard_config::Config::load(&file).unwrap();
        for job in &config.scrape_configs {
            jobs.push((
                file.clone(),
                job.job_name.clone(),
                !job.relabel_configs.is_empty(),
            ));
        }
    }
    let compared = jobs.len();
    // promtool waits out its whole timeout per call: run the jobs side by side.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(file, job, has_relabeling)| {
                let scratch = scratch.path();
                scope.spawn(move || {
                    compare_job(file, job, *has_relabeling, scratch)
                        .err()
                        .map(|e| format!("{} job {job}: {e}", file.display()))
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {compared} jobs differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(compared >= 15, "only {compared} jobs compared");
}

/// promtool prints a result once per source however many of its targets
/// give it, and again for each other source that gives it: kept and
/// dropped targets repeated within and across static groups.
#[test]
fn identical_results_are_printed_once_per_source_like_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("repeats.yml");
    std::fs::write(
        &file,
        "scrape_configs:\n- job_name: repeats\n  relabel_configs:\n  - source_labels: [__address__]\n    regex: 'a.*'\n    action: drop\n  static_configs:\n  - targets: ['a:1', 'a:1', 'b:1', 'b:1', 'c']\n  - targets: ['a:1', 'b:1']\n    labels: {x: y}\n  - targets: ['a:1', 'c']\n",
    )
    .unwrap();
    let ours = ours_sd(&file, Some("repeats"), "prometheus2");
    assert_same(&ours, &promtool_sd(&file, "repeats"), "repeats.yml");
    // 3 + 2 + 2: once per group, the third group's repeating the first's.
    assert_eq!(entries(&ours).len(), 7, "{ours}");
}

#[test]
fn prometheus3_equals_promtool_when_every_address_has_a_port() {
    let file = testdata("golden/ports.yml");
    assert_same(
        &ours_sd(&file, Some("ports"), "prometheus3"),
        &promtool_sd(&file, "ports"),
        "ports.yml",
    );
}

#[test]
fn prometheus3_uses_addresses_as_written() {
    let file = testdata("golden/scrape.yml");
    let v3: Value = serde_json::from_str(&ours_sd(&file, Some("no-ports"), "prometheus3")).unwrap();
    let v2: Value = serde_json::from_str(&ours_sd(&file, Some("no-ports"), "prometheus2")).unwrap();
    let addresses = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let l = &e["labels"];
                (
                    l["__address__"].as_str().unwrap_or("").to_owned(),
                    l["instance"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let want3: Vec<(String, String)> = ["plain", "[::1]", "::1", "10.0.0.1", "host:"]
        .iter()
        .map(|a| ((*a).to_owned(), (*a).to_owned()))
        .collect();
    assert_eq!(addresses(&v3), want3);
    // 2.x adds the scheme's port where that makes a valid address.
    let want2: Vec<(String, String)> = ["plain:80", "[::1]:80", "::1", "10.0.0.1:80", "host:"]
        .iter()
        .map(|a| ((*a).to_owned(), (*a).to_owned()))
        .collect();
    assert_eq!(addresses(&v2), want2);
}

#[test]
fn without_job_every_job_is_listed_in_config_order() {
    let file = testdata("golden/actions.yml");
    let all: Value = serde_json::from_str(&ours_sd(&file, None, "prometheus2")).unwrap();
    let mut concatenated = Vec::new();
    for job in job_names(&file) {
        let one: Value = serde_json::from_str(&ours_sd(&file, Some(&job), "prometheus2")).unwrap();
        concatenated.extend(one.as_array().unwrap().clone());
    }
    assert_eq!(all, Value::Array(concatenated));
}

#[test]
fn unknown_job_fails_naming_the_jobs() {
    let file = testdata("golden/ports.yml");
    let out = ours(&[
        "check",
        "targets",
        "--config",
        file.to_str().unwrap(),
        "--job",
        "nope",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"nope\" not found") && stderr.contains("ports"),
        "{stderr}"
    );
}

#[test]
fn configs_promtool_accepts_are_accepted() {
    for file in yml_files(&testdata("accept")) {
        let theirs = Command::new(promtool())
            .args(["check", "config", "--syntax-only"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            theirs.status.success(),
            "promtool rejects {}: {}",
            file.display(),
            String::from_utf8_lossy(&theirs.stdout)
        );
        let out = ours(&["check", "config", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn configs_promtool_rejects_are_rejected_naming_the_field() {
    let cases = [
        (
            "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - action: hashmod\n    target_label: x\n",
            "relabel_configs[0]",
            "requires non-zero modulus",
        ),
        (
            "scrape_configs:\n- job_name: a\n- job_name: a\n",
            "job_name",
            "found multiple scrape configs with job name \"a\"",
        ),
        (
            "scrape_configs:\n- job_name: a\n  scrape_interval: 10s\n  scrape_timeout: 20s\n",
            "scrape_timeout",
            "scrape timeout greater than scrape interval",
        ),
        (
            "scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: ['http://x/y']\n",
            "static_configs[0].targets",
            "is not a valid hostname",
        ),
        (
            "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - source_labels: [a]\n    regex: '('\n    target_label: b\n",
            "relabel_configs[0]",
            "regex",
        ),
        (
            "scrape_configs:\n- job_name: a\n  file_sd_configs:\n  - files: ['x.txt']\n",
            "file_sd_configs[0].files",
            "is not valid for file discovery",
        ),
        (
            "scrape_configs:\n- job_name: a\n  authorization: {type: Basic, credentials: x}\n",
            "scrape_configs[0]",
            "authorization type cannot be set to \"basic\"",
        ),
        (
            "global:\n  scrape_interval: 1x\n",
            "global.scrape_interval",
            "not a valid duration",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (yaml, field, message)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.yml"));
        std::fs::write(&file, yaml).unwrap();
        let theirs = Command::new(promtool())
            .args(["check", "config", "--syntax-only"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!theirs.status.success(), "promtool accepts case {i}");
        let out = ours(&["check", "config", file.to_str().unwrap()]);
        assert!(!out.status.success(), "case {i} accepted");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(file.to_str().unwrap()),
            "case {i}: {stdout}"
        );
        assert!(
            stdout.contains(field) && stdout.contains(message),
            "case {i}: {stdout}"
        );
        if *field != "job_name" && !field.starts_with("global") {
            assert!(stdout.contains("job \"a\""), "case {i}: {stdout}");
        }
    }
}

/// Debian's promtool is built without Kubernetes discovery, so these cases
/// are checked against Prometheus's own validation messages instead.
#[test]
fn kubernetes_sd_entries_are_validated_like_prometheus_does() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let good = write(
        "good.yml",
        "scrape_configs:\n- job_name: pods\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces: {names: [default]}\n    selectors: [{role: pod, label: app=web}]\n",
    );
    let out = ours(&["check", "config", good.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("WARNING"), "{stdout}");

    let cases = [
        ("role: pods", "unknown Kubernetes SD role \"pods\""),
        (
            "role: service\n    selectors: [{role: pod, label: a=b}]",
            "service role supports only service selectors",
        ),
    ];
    for (entry, expected) in cases {
        let bad = write(
            "bad.yml",
            &format!("scrape_configs:\n- job_name: pods\n  kubernetes_sd_configs:\n  - {entry}\n"),
        );
        let out = ours(&["check", "config", bad.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{entry}: {stdout}");
        assert!(
            stdout.contains("FAILED: job \"pods\"") && stdout.contains(expected),
            "{entry}: {stdout}"
        );
    }
}
