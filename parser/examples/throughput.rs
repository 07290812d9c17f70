//! Quick single-core throughput check of the counting paths on generated
//! bodies (the official figures come from the criterion benches):
//! `cargo run --release -p promshard-parser --example throughput`.

use std::time::Instant;

/// CPU time of this thread in seconds (Linux), so that other processes on a
/// busy machine do not distort the figure; wall time elsewhere.
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

use promshard_parser::{Format, NoVisitor, SampleRef, StreamCounter, count};
use promshard_test_support::varint;

fn ksm(n: usize) -> Vec<u8> {
    let mut b = String::from(
        "# HELP kube_pod_container_status_running Describes whether the container is running.\n# TYPE kube_pod_container_status_running gauge\n",
    );
    for i in 0..n {
        b.push_str(&format!(
            "kube_pod_container_status_running{{namespace=\"namespace-{}\",pod=\"deployment-{}-7d9f8b6c5d-x{:05}\",uid=\"{:08x}-1b2c-4d5e-8f90-{:012x}\",container=\"container-{}\"}} 1\n",
            i % 50, i % 997, i, i * 7919, i * 104729, i % 3
        ));
    }
    b.into_bytes()
}

fn cadvisor(n: usize) -> Vec<u8> {
    let mut b = String::from("# TYPE container_memory_usage_bytes gauge\n");
    for i in 0..n {
        b.push_str(&format!(
            "container_memory_usage_bytes{{container=\"app\",id=\"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{:032x}.slice/cri-containerd-{:064x}.scope\",image=\"registry.example.com/team/app@sha256:{:064x}\",name=\"{:064x}\",namespace=\"ns-{}\",pod=\"app-{}\"}} {} 1700000000000\n",
            i, i * 31, i * 17, i * 13, i % 40, i, 1_234_567 + i
        ));
    }
    b.into_bytes()
}

fn histograms(n: usize, om: bool) -> Vec<u8> {
    let mut b = String::from("# TYPE http_request_duration_seconds histogram\n");
    for i in 0..n {
        let l = format!(
            "method=\"GET\",handler=\"/api/v1/items/{}\",code=\"200\"",
            i
        );
        for (j, le) in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
        ]
        .iter()
        .enumerate()
        {
            b.push_str(&format!(
                "http_request_duration_seconds_bucket{{{l},le=\"{le}\"}} {}",
                i + j
            ));
            if om && j == 3 {
                b.push_str(&format!(
                    " # {{trace_id=\"{:032x}\"}} 0.042 1700000000.123",
                    i
                ));
            }
            b.push('\n');
        }
        b.push_str(&format!("http_request_duration_seconds_sum{{{l}}} {}.5\nhttp_request_duration_seconds_count{{{l}}} {}\n", i, i + 11));
    }
    if om {
        b.push_str("# EOF\n");
    }
    b.into_bytes()
}

fn field(f: u64, b: &[u8], out: &mut Vec<u8>) {
    varint(out, f << 3 | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn double(f: u64, v: f64, out: &mut Vec<u8>) {
    varint(out, f << 3 | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn pair(k: &str, v: &str) -> Vec<u8> {
    let mut p = Vec::new();
    field(1, k.as_bytes(), &mut p);
    field(2, v.as_bytes(), &mut p);
    p
}

/// kube-state-metrics-shaped gauges and a histogram-heavy family, protobuf.
fn protobuf(n: usize) -> (Vec<u8>, u64) {
    let mut body = Vec::new();
    let mut fam = Vec::new();
    field(1, b"kube_pod_container_status_running", &mut fam);
    field(2, b"Describes whether the container is running.", &mut fam);
    varint(&mut fam, 3 << 3);
    varint(&mut fam, 1);
    for i in 0..n {
        let mut m = Vec::new();
        field(
            1,
            &pair("namespace", &format!("namespace-{}", i % 50)),
            &mut m,
        );
        field(
            1,
            &pair("pod", &format!("deployment-{}-7d9f8b6c5d-x{i:05}", i % 997)),
            &mut m,
        );
        field(
            1,
            &pair(
                "uid",
                &format!("{:08x}-1b2c-4d5e-8f90-{:012x}", i * 7919, i * 104_729),
            ),
            &mut m,
        );
        field(
            1,
            &pair("container", &format!("container-{}", i % 3)),
            &mut m,
        );
        let mut g = Vec::new();
        double(1, 1.0, &mut g);
        field(2, &g, &mut m);
        field(4, &m, &mut fam);
    }
    varint(&mut body, fam.len() as u64);
    body.extend_from_slice(&fam);
    let mut fam = Vec::new();
    field(1, b"http_request_duration_seconds", &mut fam);
    varint(&mut fam, 3 << 3);
    varint(&mut fam, 4);
    let hn = n / 10;
    for i in 0..hn {
        let mut m = Vec::new();
        field(1, &pair("handler", &format!("/api/v1/items/{}", i)), &mut m);
        field(1, &pair("code", "200"), &mut m);
        let mut h = Vec::new();
        varint(&mut h, 1 << 3);
        varint(&mut h, 100);
        double(2, 12.5, &mut h);
        for (j, ub) in [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]
        .iter()
        .enumerate()
        {
            let mut b = Vec::new();
            varint(&mut b, 1 << 3);
            varint(&mut b, j as u64 * 9);
            double(2, *ub, &mut b);
            field(3, &b, &mut h);
        }
        field(7, &h, &mut m);
        field(4, &m, &mut fam);
    }
    varint(&mut body, fam.len() as u64);
    body.extend_from_slice(&fam);
    (body, n as u64 + hn as u64 * 14)
}

fn time(name: &str, body: &[u8], format: Format, want: u64) {
    if std::env::var("ONLY").is_ok_and(|o| !name.starts_with(&o)) {
        return;
    }
    let c = count(body, format);
    assert_eq!(c.error, None, "{name}");
    assert_eq!(c.samples, want, "{name}");
    let iters = (400_000_000 / body.len()).max(3);
    let start = Instant::now();
    let cpu0 = cpu_secs();
    for _ in 0..iters {
        let mut s = StreamCounter::new(format);
        for chunk in body.chunks(64 * 1024) {
            s.feed_with(chunk, &mut NoVisitor);
        }
        std::hint::black_box(s.finish());
    }
    let secs = match (cpu0, cpu_secs()) {
        (Some(a), Some(b)) => b - a,
        _ => start.elapsed().as_secs_f64(),
    };
    let gbps = (body.len() * iters) as f64 / secs / 1e9;
    if std::env::args().any(|a| a == "--count-only") {
        println!("{name:<22} count {gbps:5.2} GB/s");
        return;
    }
    // Visiting and validating are checked once before they are timed, so a
    // fast wrong answer cannot show up as a good figure.
    let mut checked_labels = 0u64;
    let mut visited_samples = 0u64;
    let mut check = StreamCounter::new(format);
    for chunk in body.chunks(64 * 1024) {
        check.feed_with(chunk, &mut |s: &SampleRef<'_>| {
            visited_samples += 1;
            checked_labels += s.labels_with_name().count() as u64;
        });
    }
    let _ = check.finish();
    assert_eq!(visited_samples, want, "{name}: samples visited");
    let report = promshard_parser::validate(body, format);
    assert!(report.is_valid(), "{name}: {:?}", report.error);
    assert_eq!(report.counts.samples, want, "{name}: samples validated");

    let mut visited = 0u64;
    let start = Instant::now();
    for _ in 0..iters {
        let mut v = |s: &SampleRef<'_>| {
            visited += s.labels_with_name().count() as u64;
        };
        let mut s = StreamCounter::new(format);
        for chunk in body.chunks(64 * 1024) {
            s.feed_with(chunk, &mut v);
        }
        std::hint::black_box(s.finish());
    }
    let vgbps = (body.len() * iters) as f64 / start.elapsed().as_secs_f64() / 1e9;
    let vstart = Instant::now();
    for _ in 0..iters.div_ceil(4) {
        std::hint::black_box(promshard_parser::validate(body, format));
    }
    let valgbps = (body.len() * iters.div_ceil(4)) as f64 / vstart.elapsed().as_secs_f64() / 1e9;
    println!(
        "{name:<22} {:>8} KiB {:>8} samples  count {gbps:5.2} GB/s  visit {vgbps:5.2} GB/s  validate {valgbps:5.2} GB/s",
        body.len() / 1024,
        want
    );
    assert_eq!(
        visited,
        checked_labels * iters as u64,
        "{name}: labels visited"
    );
}

fn main() {
    time("ksm 100k", &ksm(100_000), Format::Text, 100_000);
    time("cadvisor 20k", &cadvisor(20_000), Format::Text, 20_000);
    time(
        "histograms 10k",
        &histograms(10_000, false),
        Format::Text,
        140_000,
    );
    time(
        "om exemplars 10k",
        &histograms(10_000, true),
        Format::OpenMetrics,
        140_000,
    );
    let (pb, want) = protobuf(100_000);
    time("protobuf 100k+10k", &pb, Format::Protobuf, want);
}
