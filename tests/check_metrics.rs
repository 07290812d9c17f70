//! `promshard check metrics` as a user runs it: the real binary on files and
//! stdin, its exit codes and messages.

// Test helpers outside #[test] fns: a panic there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use promshard_test_support::gzip;

fn promshard(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_promshard"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the promshard binary runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(body) = stdin {
        input.write_all(body).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("promshard exits")
}

fn corpus(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/corpus")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn real_exporter_bodies_are_valid_and_count_exactly() {
    for (file, want) in [
        ("node_exporter.prom", 507),
        ("prometheus.prom", 344),
        ("alertmanager.prom", 242),
        ("pushgateway.prom", 41),
    ] {
        let out = promshard(&["check", "metrics", "--count", &corpus(file)], None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("valid text"), "{stdout}");
        assert!(
            stdout.contains(&format!("samples: {want}\n")),
            "{file}: {stdout}"
        );
    }
}

#[test]
fn json_output_has_the_count_and_top_families() {
    let out = promshard(
        &[
            "check",
            "metrics",
            "--count",
            "--json",
            "--top",
            "3",
            &corpus("node_exporter.prom"),
        ],
        None,
    );
    assert!(out.status.success());
    let v = json_of(&out);
    assert_eq!(v["samples"], 507);
    assert_eq!(v["valid"], true);
    assert_eq!(v["format"], "text");
    let top = v["top_families"].as_array().expect("array");
    assert_eq!(top.len(), 3);
    assert_eq!(top[0]["family"], "node_scrape_collector_duration_seconds");
    assert_eq!(top[0]["samples"], 46);
}

#[test]
fn invalid_input_exits_1_with_line_and_column() {
    let out = promshard(
        &["check", "metrics", "--format", "text", "-"],
        Some(b"a 1\nb{c=\"d\" e} 2\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2, column 10: expected '=' after the label name, found \"}\""),
        "{stderr}"
    );
}

#[test]
fn spec_violations_that_prometheus_accepts_are_reported() {
    // Prometheus scrapes this (2 samples) but the +Inf bucket is missing.
    let body = b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n";
    let out = promshard(&["check", "metrics", "--count", "-"], Some(body));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("le=\\\"+Inf\\\" bucket")
            || String::from_utf8_lossy(&out.stderr).contains("+Inf")
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("samples: 3"));
}

#[test]
fn openmetrics_is_detected_and_needs_eof() {
    let ok = promshard(
        &["check", "metrics", "-"],
        Some(b"# TYPE a counter\na_total 1 # {t=\"x\"} 1\n# EOF\n"),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("valid openmetrics"));
    let missing = promshard(
        &["check", "metrics", "--format", "openmetrics", "-"],
        Some(b"a_total 1\n"),
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("expected # EOF"));
}

#[test]
fn protobuf_is_detected() {
    // One gauge family "g" with one metric of value 1.0.
    let gauge = [0x09u8, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
    let mut metric = vec![0x12, gauge.len() as u8];
    metric.extend_from_slice(&gauge);
    let mut family = vec![0x0a, 1, b'g', 0x18, 1, 0x22, metric.len() as u8];
    family.extend_from_slice(&metric);
    let mut body = vec![family.len() as u8];
    body.extend_from_slice(&family);
    let out = promshard(&["check", "metrics", "--count", "-"], Some(&body));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("valid protobuf") && stdout.contains("samples: 1"),
        "{stdout}"
    );
}

#[test]
fn missing_file_is_a_tool_error() {
    let out = promshard(&["check", "metrics", "/nonexistent/metrics.prom"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON on stdout ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn gzip_files_and_stdin_count_as_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "node_exporter.prom",
        "prometheus.prom",
        "alertmanager.prom",
        "pushgateway.prom",
    ] {
        let plain = std::fs::read(corpus(file)).unwrap();
        let gz = gzip(&plain);
        let gz_path = dir.path().join(format!("{file}.gz"));
        std::fs::write(&gz_path, &gz).unwrap();
        let args = ["check", "metrics", "--count", "--json", "--top", "5"];
        let want = json_of(&promshard(&[&args[..], &[&corpus(file)]].concat(), None));
        let from_file = promshard(&[&args[..], &[gz_path.to_str().unwrap()]].concat(), None);
        let from_stdin = promshard(&[&args[..], &["-"]].concat(), Some(&gz));
        for out in [from_file, from_stdin] {
            assert!(
                out.status.success(),
                "{file}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got = json_of(&out);
            for key in [
                "valid",
                "format",
                "samples",
                "bytes",
                "families",
                "top_families",
            ] {
                assert_eq!(got[key], want[key], "{file}: {key}");
            }
            assert_eq!(got["encoding"], "gzip");
            assert_eq!(want["encoding"], "identity");
            assert_eq!(got["compressed_bytes"], gz.len());
        }
        let text = promshard(
            &["check", "metrics", "--count", gz_path.to_str().unwrap()],
            None,
        );
        let stdout = String::from_utf8_lossy(&text.stdout);
        assert!(stdout.contains("valid text (gzip)"), "{stdout}");
        let samples = want["samples"].as_u64().unwrap();
        assert!(
            stdout.contains(&format!("samples: {samples}\n")),
            "{stdout}"
        );
    }
}

#[test]
fn large_gzip_input_streams() {
    // Values that compress poorly, so the compressed body is larger than
    // what the decoder gathers to inflate in one call.
    let mut body = String::from("# TYPE m gauge\n");
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..30_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        body.push_str(&format!("m{{id=\"{x:016x}\",n=\"{i}\"}} {}\n", x % 1000));
    }
    let gz = gzip(body.as_bytes());
    assert!(gz.len() > 256 * 1024, "{}", gz.len());
    let out = promshard(&["check", "metrics", "--count", "--json", "-"], Some(&gz));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&out);
    assert_eq!(v["samples"], 30_000);
    assert_eq!(v["bytes"], body.len());
}

#[test]
fn truncated_or_corrupt_gzip_fails_clearly() {
    let plain = std::fs::read(corpus("node_exporter.prom")).unwrap();
    let gz = gzip(&plain);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.prom.gz");
    for cut in [gz.len() - 4, gz.len() / 2, 12] {
        std::fs::write(&path, &gz[..cut]).unwrap();
        let out = promshard(&["check", "metrics", path.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(1), "cut at {cut}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("(gzip): compressed byte ")
                && stderr.contains("expected a complete compressed stream, found a truncated"),
            "cut at {cut}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A cut stream's format is guessed from what inflated before the cut.
    std::fs::write(&path, &gz[..200]).unwrap();
    let args = ["check", "metrics", "--count", "--json"];
    let out = promshard(&[&args[..], &[path.to_str().unwrap()]].concat(), None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["format"], "text");
    // The deflate method byte of the header is not deflate.
    let mut corrupt = gz.clone();
    corrupt[2] = 7;
    let out = promshard(&["check", "metrics", "--count", "-"], Some(&corrupt));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("compressed byte 2: expected"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn validation_errors_inside_gzip_name_the_line() {
    let body = b"# TYPE a counter\na 1\nb 1\na{x=\"1\"} 2\n";
    let out = promshard(&["check", "metrics", "-"], Some(&gzip(body)));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "line 4, column 1: expected all of family a in one group, found it again after another family (interleaved)"
        ),
        "{stderr}"
    );
    // A syntax error, with its column, and OpenMetrics guessed from the
    // inflated start.
    let om = b"# TYPE c counter\nc_total 1\nc_total{x=\"1\" 2\n# EOF\n";
    let out = promshard(&["check", "metrics", "-"], Some(&gzip(om)));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3, column 14: expected ',' or '}'"),
        "{stderr}"
    );
}
