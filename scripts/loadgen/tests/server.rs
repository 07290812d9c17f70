//! The target server and the driver over real sockets on 127.0.0.1.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure here is the test failing"
)]

use std::io::Write as _;

use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use promshard_loadgen::driver::{self, AcceptProfile, DriveConfig, Stop};
use promshard_loadgen::server::{self, ServerConfig, TargetServer, Timestamps};
use promshard_loadgen::{FIXED_TIME_MS, FleetSpec, Format, Shape, ShapeMix};

struct Fetched {
    status: u16,
    content_type: String,
    gzipped: bool,
    wire: Vec<u8>,
    decoded: Vec<u8>,
}

async fn fetch(method: &str, url: &str, accept: Option<&str>, gzip: bool) -> Fetched {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = http::Request::builder().method(method).uri(url);
    if let Some(accept) = accept {
        req = req.header(ACCEPT, accept);
    }
    if gzip {
        req = req.header(ACCEPT_ENCODING, "gzip");
    }
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let gzipped = resp
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip");
    let mut body = resp.into_body();
    let mut wire = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            wire.extend_from_slice(&data);
        }
    }
    let decoded = if gzipped {
        let mut d = flate2::write::GzDecoder::new(Vec::new());
        d.write_all(&wire).unwrap();
        d.finish().unwrap()
    } else {
        wire.clone()
    };
    Fetched {
        status,
        content_type,
        gzipped,
        wire,
        decoded,
    }
}

fn small_fleet(seed: u64) -> FleetSpec {
    FleetSpec {
        seed,
        min_series: 40,
        max_series: 600,
        tail_alpha: 1.0,
        shapes: ShapeMix::Mixed,
    }
}

/// A server whose bodies are byte-for-byte those of the generator.
async fn start(targets: usize, seed: u64) -> TargetServer {
    server::start(ServerConfig {
        fleet: small_fleet(seed),
        targets,
        max_targets: 50,
        churn_share: 0.5,
        timestamps: Timestamps::Fixed,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn serves_every_format_with_and_without_gzip() {
    let server = start(6, 11).await;
    let addr = server.local_addr();
    let cases = [
        (Some(AcceptProfile::Text.header()), Format::Text),
        (
            Some(AcceptProfile::Prometheus.header()),
            Format::OpenMetrics,
        ),
        (
            Some(AcceptProfile::PrometheusProtobuf.header()),
            Format::Protobuf,
        ),
        (None, Format::Text),
    ];
    for target in 0..6 {
        let url = format!("http://{addr}/target/{target}/metrics");
        for (accept, format) in cases {
            let expected = server.target_spec(target).body(0.5, 0).render(format);
            assert!(expected.samples > 0);
            for gzip in [false, true] {
                let got = fetch("GET", &url, accept, gzip).await;
                assert_eq!(got.status, 200, "{url}");
                assert_eq!(got.content_type, format.content_type(), "{url} {accept:?}");
                assert_eq!(got.gzipped, gzip, "{url} gzip={gzip}");
                if gzip {
                    assert_ne!(got.wire, got.decoded);
                }
                assert_eq!(got.decoded, expected.bytes, "{url} {format:?} gzip={gzip}");
            }
            if format == Format::Text {
                // The generator's count is what the served text holds.
                let samples = expected
                    .bytes
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
                    .count() as u64;
                assert_eq!(samples, expected.samples);
            }
        }
    }
    let missing = fetch(
        "GET",
        &format!("http://{addr}/target/6/metrics"),
        None,
        false,
    )
    .await;
    assert_eq!(missing.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn same_seed_serves_same_bytes_and_other_seed_differs() {
    let (a, b, c) = (start(3, 5).await, start(3, 5).await, start(3, 6).await);
    for target in 0..3 {
        let path = format!("/target/{target}/metrics");
        let body = |s: &TargetServer| format!("http://{}{path}", s.local_addr());
        let (x, y, z) = (
            fetch("GET", &body(&a), None, false).await,
            fetch("GET", &body(&b), None, false).await,
            fetch("GET", &body(&c), None, false).await,
        );
        assert_eq!(x.decoded, y.decoded);
        assert_ne!(x.decoded, z.decoded);
    }
    for s in [a, b, c] {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn churn_changes_label_values_and_keeps_counts() {
    let server = start(4, 21).await;
    let addr = server.local_addr();
    let before: Vec<Vec<u8>> = {
        let mut v = Vec::new();
        for t in 0..4 {
            v.push(
                fetch(
                    "GET",
                    &format!("http://{addr}/target/{t}/metrics"),
                    None,
                    false,
                )
                .await
                .decoded,
            );
        }
        v
    };
    let churned = fetch("POST", &format!("http://{addr}/control/churn"), None, false).await;
    assert_eq!(churned.status, 200);
    let state: serde_json::Value = serde_json::from_slice(&churned.decoded).unwrap();
    assert_eq!(state["epoch"], 1);
    let mut changed = 0;
    for (t, old) in before.iter().enumerate() {
        let new = fetch(
            "GET",
            &format!("http://{addr}/target/{t}/metrics"),
            None,
            false,
        )
        .await
        .decoded;
        let expected = server.target_spec(t).body(0.5, 1).render(Format::Text);
        assert_eq!(new, expected.bytes);
        assert_eq!(
            expected.samples,
            server
                .target_spec(t)
                .body(0.5, 0)
                .render(Format::Text)
                .samples
        );
        if &new != old {
            changed += 1;
        }
    }
    assert!(changed > 0, "no target changed after a churn epoch");
    server.shutdown().await;
}

#[tokio::test]
async fn control_endpoint_grows_and_shrinks_the_fleet() {
    let server = start(2, 3).await;
    let addr = server.local_addr();
    let grown = fetch(
        "POST",
        &format!("http://{addr}/control/targets?count=7"),
        None,
        false,
    )
    .await;
    assert_eq!(grown.status, 200);
    let list: Vec<serde_json::Value> = serde_json::from_slice(
        &fetch("GET", &format!("http://{addr}/targets"), None, false)
            .await
            .decoded,
    )
    .unwrap();
    assert_eq!(list.len(), 7);
    assert_eq!(list[6]["url"], format!("http://{addr}/target/6/metrics"));
    assert_eq!(
        fetch(
            "GET",
            &format!("http://{addr}/target/6/metrics"),
            None,
            false
        )
        .await
        .status,
        200
    );

    let shrunk = fetch(
        "POST",
        &format!("http://{addr}/control/targets?count=1"),
        None,
        false,
    )
    .await;
    assert_eq!(shrunk.status, 200);
    assert_eq!(
        fetch(
            "GET",
            &format!("http://{addr}/target/1/metrics"),
            None,
            false
        )
        .await
        .status,
        404
    );
    let sd: Vec<serde_json::Value> = serde_json::from_slice(
        &fetch("GET", &format!("http://{addr}/file_sd"), None, false)
            .await
            .decoded,
    )
    .unwrap();
    assert_eq!(sd.len(), 1);
    assert_eq!(sd[0]["targets"][0], addr.to_string());
    assert_eq!(sd[0]["labels"]["__metrics_path__"], "/target/0/metrics");

    let too_many = fetch(
        "POST",
        &format!("http://{addr}/control/targets?count=51"),
        None,
        false,
    )
    .await;
    assert_eq!(too_many.status, 400);
    let bad = fetch(
        "POST",
        &format!("http://{addr}/control/targets?count=x"),
        None,
        false,
    )
    .await;
    assert_eq!(bad.status, 400);
    server.shutdown().await;
}

#[tokio::test]
async fn per_target_ports_follow_the_fleet() {
    let server = server::start(ServerConfig {
        fleet: small_fleet(8),
        targets: 3,
        per_target_ports: true,
        timestamps: Timestamps::Fixed,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let targets = server.targets();
    assert_eq!(targets.len(), 3);
    for t in &targets {
        assert!(
            t.url.ends_with("/metrics") && !t.url.contains("/target/"),
            "{}",
            t.url
        );
        let got = fetch("GET", &t.url, None, false).await;
        assert_eq!(
            got.decoded,
            server
                .target_spec(t.index)
                .body(0.0, 0)
                .render(Format::Text)
                .bytes
        );
    }
    server.set_target_count(1).unwrap();
    assert_eq!(server.targets().len(), 1);
    // The removed target's port closes (allow the aborted task a moment).
    let gone = &targets[2].url;
    let mut closed = false;
    for _ in 0..50 {
        let addr = gone
            .trim_start_matches("http://")
            .trim_end_matches("/metrics");
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(closed, "port of removed target still accepts");
    server.shutdown().await;
}

#[tokio::test]
async fn driver_counts_scrapes_and_bytes_exactly() {
    let server = start(3, 31).await;
    let urls: Vec<String> = server.targets().into_iter().map(|t| t.url).collect();
    let report = driver::drive(DriveConfig {
        concurrency: 4,
        ..DriveConfig::new(urls.clone(), Stop::Count(30))
    })
    .await
    .unwrap();
    assert_eq!(report.scrapes, 30);
    assert_eq!(report.errors, 0, "{:?}", report.first_errors);
    // Prometheus' Accept gets OpenMetrics; each URL is scraped 10 times.
    let bodies: Vec<_> = (0..3)
        .map(|t| {
            server
                .target_spec(t)
                .body(0.5, 0)
                .render(Format::OpenMetrics)
        })
        .collect();
    let decoded: u64 = bodies.iter().map(|b| 10 * b.bytes.len() as u64).sum();
    let wire: u64 = bodies.iter().map(|b| 10 * b.gzip().len() as u64).sum();
    assert_eq!(report.decoded_bytes, decoded);
    assert_eq!(report.wire_bytes, wire);
    assert!(
        report.latency.p50_ms <= report.latency.p99_ms
            && report.latency.p99_ms <= report.latency.max_ms
    );
    assert!(report.latency.max_ms > 0.0);

    // Index lookup, and errors are counted, not fatal.
    let from_index = driver::fetch_target_urls(&format!("http://{}/targets", server.local_addr()))
        .await
        .unwrap();
    assert_eq!(from_index, urls);
    let missing = format!("http://{}/target/99/metrics", server.local_addr());
    let report = driver::drive(DriveConfig {
        gzip: false,
        accept: AcceptProfile::Protobuf,
        ..DriveConfig::new(vec![urls[0].clone(), missing], Stop::Count(4))
    })
    .await
    .unwrap();
    assert_eq!((report.scrapes, report.errors), (4, 2));
    let pb = server.target_spec(0).body(0.5, 0).render(Format::Protobuf);
    assert_eq!(report.wire_bytes, 2 * pb.bytes.len() as u64);
    assert!(
        report.first_errors[0].contains("404"),
        "{:?}",
        report.first_errors
    );

    // A timed run stops by itself.
    let timed = driver::drive(DriveConfig::new(
        vec![urls[1].clone()],
        Stop::Duration(std::time::Duration::from_millis(200)),
    ))
    .await
    .unwrap();
    assert!(timed.scrapes > 0 && timed.errors == 0);
    server.shutdown().await;
}

#[tokio::test]
async fn clock_timestamps_are_recent_and_change_nothing_else() {
    let fleet = FleetSpec {
        shapes: ShapeMix::Only(Shape::Cadvisor),
        ..small_fleet(31)
    };
    let server = server::start(ServerConfig {
        fleet,
        targets: 2,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    let now_ms = |()| {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    };
    for target in 0..2 {
        let before = now_ms(());
        let got = fetch(
            "GET",
            &format!("http://{addr}/target/{target}/metrics"),
            None,
            true,
        )
        .await;
        let after = now_ms(());
        let served = String::from_utf8(got.decoded).unwrap();
        let fixed = server.target_spec(target).body(0.0, 0).render(Format::Text);
        let fixed = String::from_utf8(fixed.bytes).unwrap();
        let mut samples = 0;
        for (s, f) in served.lines().zip(fixed.lines()) {
            if s.starts_with('#') {
                assert_eq!(s, f);
                continue;
            }
            let (series_s, ts) = s.rsplit_once(' ').unwrap();
            let (series_f, ts_f) = f.rsplit_once(' ').unwrap();
            assert_eq!(series_s, series_f, "same series and value");
            let ts: i64 = ts.parse().unwrap();
            let ts_f: i64 = ts_f.parse().unwrap();
            assert!(ts_f <= FIXED_TIME_MS);
            // Default step 60 s, spread 70 s: within about two minutes of now.
            assert!(ts <= after && ts > before - 131_000, "{ts} vs {before}");
            samples += 1;
        }
        assert_eq!(served.lines().count(), fixed.lines().count());
        assert!(samples > 0);
    }
    server.shutdown().await;
}

/// One GET with a client that reports a cut body instead of failing the
/// test: (status, body bytes received, whether the body ended cleanly).
async fn try_fetch(url: &str) -> (u16, usize, bool) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let resp = client
        .request(http::Request::get(url).body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut received = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => received += frame.into_data().map_or(0, |d| d.len()),
            Err(_) => return (status, received, false),
        }
    }
    (status, received, true)
}

#[tokio::test]
async fn targets_misbehave_on_demand_and_recover() {
    let server = server::start(ServerConfig {
        targets: 2,
        fleet: FleetSpec {
            seed: 3,
            min_series: 200,
            max_series: 200,
            shapes: ShapeMix::Only(Shape::NodeExporter),
            ..FleetSpec::default()
        },
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let url = server.targets()[0].url.clone();
    let (status, well, clean) = try_fetch(&url).await;
    assert_eq!((status, clean), (200, true));

    // Through the control endpoint, as scripts/chaos drives it.
    let control = |query: &str| format!("http://{}/control/fault?{query}", server.local_addr());
    assert_eq!(
        fetch("POST", &control("target=0&mode=error"), None, false)
            .await
            .status,
        200
    );
    assert_eq!(try_fetch(&url).await.0, 500);
    assert_eq!(
        fetch("POST", &control("target=0&mode=bogus"), None, false)
            .await
            .status,
        400
    );

    server.set_fault(0, server::TargetFault::Cut);
    let (status, received, clean) = try_fetch(&url).await;
    assert_eq!(status, 200);
    assert!(
        !clean && received < well,
        "{received} of {well} bytes, clean {clean}"
    );

    server.set_fault(0, server::TargetFault::Grow { factor: 10 });
    let (_, grown, clean) = try_fetch(&url).await;
    assert!(clean && grown > 5 * well, "{grown} vs {well}");

    server.set_fault(0, server::TargetFault::Hang);
    let hung = tokio::time::timeout(std::time::Duration::from_millis(500), try_fetch(&url)).await;
    assert!(hung.is_err(), "a hanging target answered");
    // The other target is unaffected.
    assert_eq!(try_fetch(&server.targets()[1].url).await.0, 200);

    server.set_fault(0, server::TargetFault::None);
    assert_eq!(try_fetch(&url).await, (200, well, true));
    server.shutdown().await;
}
