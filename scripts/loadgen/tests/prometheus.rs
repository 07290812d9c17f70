//! Ground truth: the real `prometheus` binary scrapes the loadgen, and its
//! `scrape_samples_scraped` for every target equals the generator's count,
//! in text (a text-only server), OpenMetrics (Prometheus's default `Accept`)
//! and protobuf (Prometheus with native histograms enabled asks for it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failure here is the test failing"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use promshard_loadgen::server::{self, ServerConfig, TargetServer};
use promshard_loadgen::{FleetSpec, Format, ShapeMix};

struct Prometheus {
    child: Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(url: &str) -> (u16, Vec<u8>) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let Ok(resp) = client.get(url.parse().unwrap()).await else {
        return (0, Vec::new());
    };
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
    (status, out)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_prometheus(
    dir: &Path,
    jobs: &[(&str, &TargetServer)],
    native_histograms: bool,
) -> Prometheus {
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for (job, server) in jobs {
        let sd = get(&format!("http://{}/file_sd", server.local_addr()))
            .await
            .1;
        let sd_path = dir.join(format!("{job}.json"));
        std::fs::write(&sd_path, sd).unwrap();
        config.push_str(&format!(
            "  - job_name: {job}\n    file_sd_configs:\n      - files: ['{}']\n",
            sd_path.display()
        ));
    }
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!(
        "--config.file={}",
        dir.join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        dir.join("data").display()
    ))
    .arg(format!("--web.listen-address={addr}"))
    .stdout(Stdio::null())
    .stderr(log);
    if native_histograms {
        cmd.arg("--enable-feature=native-histograms");
    }
    let child = cmd
        .spawn()
        .expect("the prometheus binary is installed (scripts/ensure-deps)");
    Prometheus { child, addr }
}

/// `(job, loadgen_target) -> scrape_samples_scraped`, once every wanted
/// series has a value, or whatever is there at the deadline.
async fn samples_scraped(prom: &Prometheus, want: usize) -> BTreeMap<(String, usize), u64> {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut seen = BTreeMap::new();
    while Instant::now() < deadline {
        let (status, body) = get(&format!(
            "http://{}/api/v1/query?query=scrape_samples_scraped",
            prom.addr
        ))
        .await;
        if status == 200 {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            seen.clear();
            for r in v["data"]["result"].as_array().unwrap() {
                let job = r["metric"]["job"].as_str().unwrap().to_owned();
                let target: usize = r["metric"]["loadgen_target"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let n: u64 = r["value"][1].as_str().unwrap().parse().unwrap();
                seen.insert((job, target), n);
            }
            if seen.len() >= want && seen.values().all(|n| *n > 0) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_counts_what_the_generator_says() {
    let fleet = FleetSpec {
        seed: 77,
        min_series: 800,
        max_series: 3000,
        tail_alpha: 1.0,
        shapes: ShapeMix::Cycle,
    };
    let negotiating = server::start(ServerConfig {
        fleet,
        targets: 5,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let text_only = server::start(ServerConfig {
        fleet,
        targets: 5,
        force_format: Some(Format::Text),
        ..ServerConfig::default()
    })
    .await
    .unwrap();

    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let prom_a = start_prometheus(
        dir_a.path(),
        &[("om", &negotiating), ("text", &text_only)],
        false,
    )
    .await;
    let prom_b = start_prometheus(dir_b.path(), &[("protobuf", &negotiating)], true).await;
    let (a, b) = tokio::join!(samples_scraped(&prom_a, 10), samples_scraped(&prom_b, 5));

    let mut checked = 0;
    for target in 0..5 {
        let spec = negotiating.target_spec(target).body(0.0, 0);
        for (seen, job, format) in [
            (&a, "om", Format::OpenMetrics),
            (&a, "text", Format::Text),
            (&b, "protobuf", Format::Protobuf),
        ] {
            let expected = spec.render(format).samples;
            let got = seen.get(&(job.to_owned(), target)).copied();
            let log_dir = if job == "protobuf" {
                dir_b.path()
            } else {
                dir_a.path()
            };
            assert_eq!(
                got,
                Some(expected),
                "target {target} ({:?}) as {format:?}: Prometheus scraped {got:?}, generator says {expected}; log:\n{}",
                spec.shape,
                std::fs::read_to_string(log_dir.join("prometheus.log")).unwrap_or_default()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 15);

    // cAdvisor samples carry their own timestamps, near the current time, so
    // Prometheus keeps them with the default `honor_timestamps: true`: none is
    // out of bounds, and they are visible to a query at "now".
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for prom in [&prom_a, &prom_b] {
        let (_, metrics) = get(&format!("http://{}/metrics", prom.addr)).await;
        let metrics = String::from_utf8(metrics).unwrap();
        let out_of_bounds = metrics
            .lines()
            .find_map(|l| l.strip_prefix("prometheus_target_scrapes_sample_out_of_bounds_total "))
            .expect("Prometheus exports its out-of-bounds counter");
        assert_eq!(out_of_bounds.trim(), "0", "samples dropped as too old");
        let (status, body) = get(&format!(
            "http://{}/api/v1/query?query=count(container_memory_rss)",
            prom.addr
        ))
        .await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let count: u64 = v["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap_or("0")
            .parse()
            .unwrap();
        assert!(count > 0, "no cAdvisor series visible now: {v}");
    }
    drop((prom_a, prom_b));
    negotiating.shutdown().await;
    text_only.shutdown().await;
}
