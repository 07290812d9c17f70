//! The sidecar's scrape path over real sockets on 127.0.0.1: bytes and
//! headers pass through unchanged, failures reach Prometheus with the right
//! status and reason, bodies stream without being buffered, and (with the
//! real `prometheus` binary) Prometheus's own figures match the sidecar's.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test on set-up errors"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use promshard::local::process::{PrometheusOptions, PrometheusProcess, free_port};
use promshard::scrape::upstream::{Auth, SecretSource, TlsSettings, UpstreamSettings};
use promshard::shard_api::{ErrorCause, ScrapeOutcome};
use support::{
    CORPUS, OPENMETRICS, PROTOBUF, Route, Sidecar, TEXT, TargetServer, TestCa, corpus, get, gzip,
    job, target,
};

const TIMEOUT: Duration = Duration::from_secs(10);

fn default_settings() -> UpstreamSettings {
    UpstreamSettings {
        follow_redirects: true,
        enable_http2: true,
        ..UpstreamSettings::default()
    }
}

/// A one-target sidecar in front of `route` on a fresh target server.
async fn one(route: Route, settings: UpstreamSettings) -> (TargetServer, Sidecar) {
    let server = TargetServer::start(vec![("/metrics", route)]).await;
    let sidecar = Sidecar::start(
        vec![target("t1", "job", &server.url("/metrics"))],
        vec![job("job", settings, TIMEOUT)],
    )
    .await;
    (server, sidecar)
}

async fn wait_for_record(
    sidecar: &Sidecar,
    id: &str,
    count: u64,
) -> promshard::shard_api::TargetStatsSnapshot {
    support::eventually(Duration::from_secs(5), || async {
        sidecar
            .state
            .stats
            .snapshot(id)
            .filter(|s| s.scrapes_total >= count)
    })
    .await
    .expect("the scrape is recorded within 5 s")
}

#[tokio::test]
async fn corpus_bodies_pass_through_byte_for_byte_plain_and_gzip() {
    let mut routes = Vec::new();
    let mut cases = Vec::new();
    for (i, (name, _)) in CORPUS.iter().enumerate() {
        // Every content type Prometheus negotiates; the bytes are what matter.
        let content_type = [TEXT, OPENMETRICS, PROTOBUF][i % 3];
        for compress in [false, true] {
            let path: &'static str = Box::leak(format!("/{name}/{compress}").into_boxed_str());
            routes.push((
                path,
                Route::Body {
                    content_type,
                    body: corpus(name),
                    gzip: compress,
                },
            ));
            cases.push((path, *name, content_type, compress));
        }
    }
    let server = TargetServer::start(routes).await;
    let targets = cases
        .iter()
        .enumerate()
        .map(|(i, c)| target(&format!("t{i}"), "job", &server.url(c.0)));
    let sidecar = Sidecar::start(
        targets.collect(),
        vec![job("job", default_settings(), TIMEOUT)],
    )
    .await;

    for (i, (_, name, content_type, compress)) in cases.iter().enumerate() {
        let got = get(
            sidecar.addr,
            &format!("/scrape/t{i}"),
            &[("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(got.status, 200, "{name}");
        let plain = corpus(name);
        let want = if *compress {
            gzip(&plain)
        } else {
            plain.clone()
        };
        let body = got.body.as_ref().unwrap();
        assert!(body == &want, "{name} gzip={compress}: body differs");
        assert_eq!(got.headers["content-type"], *content_type);
        assert_eq!(
            got.headers["content-length"],
            want.len().to_string().as_str()
        );
        assert_eq!(
            got.headers
                .get("content-encoding")
                .map(|v| v.to_str().unwrap()),
            compress.then_some("gzip")
        );
        let stats = wait_for_record(&sidecar, &format!("t{i}"), 1).await;
        let record = &stats.history[0];
        assert_eq!(record.outcome, ScrapeOutcome::Success);
        assert_eq!(record.wire_bytes, want.len() as u64);
        assert_eq!(
            record.decoded_bytes,
            plain.len() as u64,
            "{name}: inflated size"
        );
    }
}

/// The sidecar's counts of the corpus equal what a real Prometheus 2.42
/// counted for the same files (testdata/corpus/README.md), compressed or not,
/// whatever the chunking of the body.
#[tokio::test]
async fn corpus_counts_are_exact_plain_and_gzip() {
    let mut routes = Vec::new();
    let mut cases = Vec::new();
    for (name, samples) in CORPUS {
        for compress in [false, true] {
            let path: &'static str = Box::leak(format!("/{name}/{compress}").into_boxed_str());
            routes.push((
                path,
                Route::Body {
                    content_type: TEXT,
                    body: corpus(name),
                    gzip: compress,
                },
            ));
            cases.push((path, samples));
        }
    }
    routes.push((
        "/protobuf",
        Route::Body {
            content_type: PROTOBUF,
            body: support::protobuf_gauges("pb", 9),
            gzip: true,
        },
    ));
    cases.push(("/protobuf", 9));
    let server = TargetServer::start(routes).await;
    let targets = cases
        .iter()
        .enumerate()
        .map(|(i, c)| target(&format!("t{i}"), "job", &server.url(c.0)));
    let sidecar = Sidecar::start(
        targets.collect(),
        vec![job("job", default_settings(), TIMEOUT)],
    )
    .await;
    for (i, (path, samples)) in cases.iter().enumerate() {
        let id = format!("t{i}");
        for _ in 0..2 {
            assert_eq!(
                get(sidecar.addr, &format!("/scrape/{id}"), &[])
                    .await
                    .status,
                200
            );
        }
        let stats = wait_for_record(&sidecar, &id, 2).await;
        for record in &stats.history {
            assert_eq!(record.samples, Some(*samples), "{path}: {record:?}");
            assert_eq!(
                record.kept,
                Some(*samples),
                "{path}: no metric relabeling keeps all"
            );
            assert_eq!(record.count_error, None, "{path}");
        }
        assert_eq!(stats.peak_samples, Some(*samples));
        let family_total: u64 = stats.top_families.iter().map(|f| f.samples).sum();
        assert!(
            family_total > 0 && family_total <= *samples,
            "{path}: {:?}",
            stats.top_families
        );
    }
    let node = sidecar.state.stats.snapshot("t0").unwrap();
    assert_eq!(
        node.top_families.len(),
        10,
        "the top 10 families of node_exporter"
    );
}

#[tokio::test]
async fn prometheus_request_headers_are_forwarded_and_nothing_else() {
    let (server, sidecar) = one(Route::Echo, default_settings()).await;
    let got = get(
        sidecar.addr,
        "/scrape/t1",
        &[
            (
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            ),
            ("accept-encoding", "gzip"),
            ("user-agent", "Prometheus/2.42.0"),
            ("x-prometheus-scrape-timeout-seconds", "7"),
            ("cookie", "must-not-leak"),
            ("authorization", "Bearer prometheus-to-sidecar"),
        ],
    )
    .await;
    assert_eq!(got.status, 200);
    let echoed = got.text();
    for line in [
        "accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        "accept-encoding: gzip",
        "user-agent: Prometheus/2.42.0",
        "x-prometheus-scrape-timeout-seconds: 7",
        &format!("host: {}", server.addr),
    ] {
        assert!(
            echoed.lines().any(|l| l == line),
            "missing {line:?} in:\n{echoed}"
        );
    }
    assert!(!echoed.contains("must-not-leak"), "{echoed}");
    assert!(!echoed.contains("authorization"), "{echoed}");
}

#[tokio::test]
async fn unknown_ids_other_paths_and_methods_are_refused_without_fetching() {
    let (server, sidecar) = one(
        Route::Body {
            content_type: TEXT,
            body: corpus("pushgateway.prom"),
            gzip: false,
        },
        default_settings(),
    )
    .await;
    let unknown = get(sidecar.addr, "/scrape/nope", &[]).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.text().lines().count(), 1, "{}", unknown.text());
    assert!(
        unknown.text().contains("\"nope\" is not assigned"),
        "{}",
        unknown.text()
    );
    let url_in_path = format!("/scrape/{}", server.url("/metrics"));
    assert_eq!(get(sidecar.addr, &url_in_path, &[]).await.status, 404);
    assert_eq!(get(sidecar.addr, "/metrics", &[]).await.status, 404);
    let post = support::get_with_method(sidecar.addr, "POST", "/scrape/t1", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.headers["allow"], "GET");
    assert!(
        server.requests().is_empty(),
        "the target was contacted: {:?}",
        server.requests()
    );
}

#[tokio::test]
async fn target_down_is_502_naming_the_target() {
    let port = free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let sidecar = Sidecar::start(
        vec![target("t1", "job", &url)],
        vec![job("job", default_settings(), TIMEOUT)],
    )
    .await;
    let got = get(sidecar.addr, "/scrape/t1", &[]).await;
    assert_eq!(got.status, 502);
    let text = got.text();
    assert!(
        text.starts_with(&format!("target 127.0.0.1:{port}: connect failed")),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
    let reason = got.reason.unwrap();
    assert!(
        reason.starts_with("Bad Gateway: target 127.0.0.1"),
        "{reason}"
    );
    let stats = wait_for_record(&sidecar, "t1", 1).await;
    assert_eq!(stats.last_error.unwrap().cause, ErrorCause::Connect);
}

#[tokio::test]
async fn dns_failure_is_502() {
    let url = "http://no-such-host.invalid:9100/metrics";
    let sidecar = Sidecar::start(
        vec![target("t1", "job", url)],
        vec![job("job", default_settings(), TIMEOUT)],
    )
    .await;
    let got = get(sidecar.addr, "/scrape/t1", &[]).await;
    assert_eq!(got.status, 502);
    assert!(got.text().contains("DNS lookup failed"), "{}", got.text());
}

#[tokio::test]
async fn target_error_status_and_body_pass_through() {
    let (_server, sidecar) = one(
        Route::Status {
            status: 500,
            body: "boom\n",
        },
        default_settings(),
    )
    .await;
    let got = get(sidecar.addr, "/scrape/t1", &[]).await;
    assert_eq!(got.status, 500);
    assert_eq!(got.text(), "boom\n");
    let stats = wait_for_record(&sidecar, "t1", 1).await;
    assert_eq!(stats.last_error.unwrap().cause, ErrorCause::Status);
    assert_eq!(stats.history[0].status, Some(500));
}

#[tokio::test]
async fn slow_target_is_504_within_the_scrape_timeout() {
    let route = Route::Slow {
        delay: Duration::from_secs(20),
        body: Bytes::from_static(b"up 1\n"),
    };
    let (_server, sidecar) = one(route, default_settings()).await;
    let got = get(
        sidecar.addr,
        "/scrape/t1",
        &[("x-prometheus-scrape-timeout-seconds", "0.5")],
    )
    .await;
    assert_eq!(got.status, 504);
    assert!(got.text().contains("scrape timeout"), "{}", got.text());
    let stats = wait_for_record(&sidecar, "t1", 1).await;
    assert_eq!(stats.last_error.unwrap().cause, ErrorCause::Timeout);
}

#[tokio::test]
async fn body_cut_mid_stream_is_an_error_not_a_clean_end() {
    for content_length in [None, Some(1_000_000)] {
        let prefix = corpus("node_exporter.prom").slice(..20_000);
        let (_server, sidecar) = one(
            Route::Cut {
                prefix,
                content_length,
            },
            default_settings(),
        )
        .await;
        let got = get(sidecar.addr, "/scrape/t1", &[]).await;
        assert_eq!(got.status, 200, "the failure comes after the headers");
        assert!(
            got.body.is_err(),
            "length {content_length:?}: clean end after a cut body"
        );
        let stats = wait_for_record(&sidecar, "t1", 1).await;
        let error = stats.last_error.unwrap();
        assert_eq!(error.cause, ErrorCause::BodyCut, "{}", error.message);
        assert_eq!(stats.history[0].outcome, ScrapeOutcome::Failed);
    }
}

#[tokio::test]
async fn tls_target_with_the_jobs_ca_and_client_certificate() {
    let server_ca = TestCa::new("server ca");
    let client_ca = TestCa::new("client ca");
    let body = corpus("alertmanager.prom");
    let route = Route::Body {
        content_type: TEXT,
        body: body.clone(),
        gzip: false,
    };
    let server = TargetServer::start_tls(
        vec![("/metrics", route)],
        server_ca.server_config(Some(&client_ca)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_ca.issue(true);
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        SecretSource::File(path)
    };
    let good = UpstreamSettings {
        tls: TlsSettings {
            ca: Some(write("ca.pem", &server_ca.pem)),
            cert: Some(write("client.pem", &client.cert_pem)),
            key: Some(write("client.key", &client.key_pem)),
            ..TlsSettings::default()
        },
        ..default_settings()
    };
    // Right CA, no client certificate: the target refuses the handshake.
    let no_client_cert = UpstreamSettings {
        tls: TlsSettings {
            ca: Some(SecretSource::Inline(server_ca.pem.clone())),
            ..TlsSettings::default()
        },
        ..default_settings()
    };
    // Client certificate, but the target's certificate is from an unknown CA.
    let wrong_ca = UpstreamSettings {
        tls: TlsSettings {
            ca: Some(SecretSource::Inline(client_ca.pem.clone())),
            cert: good.tls.cert.clone(),
            key: good.tls.key.clone(),
            ..TlsSettings::default()
        },
        ..default_settings()
    };
    let sidecar = Sidecar::start(
        vec![
            target("good", "good", &server.url("/metrics")),
            target("nocert", "nocert", &server.url("/metrics")),
            target("wrongca", "wrongca", &server.url("/metrics")),
        ],
        vec![
            job("good", good, TIMEOUT),
            job("nocert", no_client_cert, TIMEOUT),
            job("wrongca", wrong_ca, TIMEOUT),
        ],
    )
    .await;
    let ok = get(sidecar.addr, "/scrape/good", &[]).await;
    assert_eq!(ok.status, 200);
    assert!(ok.body.unwrap() == body);

    let wrong = get(sidecar.addr, "/scrape/wrongca", &[]).await;
    assert_eq!(wrong.status, 502);
    assert!(
        wrong.text().contains("TLS handshake failed"),
        "{}",
        wrong.text()
    );
    assert!(wrong.text().contains("UnknownIssuer"), "{}", wrong.text());

    let nocert = get(sidecar.addr, "/scrape/nocert", &[]).await;
    assert_eq!(nocert.status, 502, "{}", nocert.text());
    let stats = wait_for_record(&sidecar, "nocert", 1).await;
    let cause = stats.last_error.unwrap().cause;
    // TLS 1.3 reports a refused client certificate after the handshake, on
    // the first read: either way Prometheus gets a 502 naming the target.
    assert!(
        matches!(cause, ErrorCause::Tls | ErrorCause::Protocol),
        "{cause:?}"
    );
}

#[tokio::test]
async fn insecure_skip_verify_and_server_name() {
    let ca = TestCa::new("ca");
    let server = TargetServer::start_tls(
        vec![(
            "/m",
            Route::Body {
                content_type: TEXT,
                body: Bytes::from_static(b"a 1\n"),
                gzip: false,
            },
        )],
        ca.server_config(None),
    )
    .await;
    // Scraped by IP, verified against the certificate's DNS name.
    let by_ip = format!("https://127.0.0.1:{}/m", server.addr.port());
    let insecure = UpstreamSettings {
        tls: TlsSettings {
            insecure_skip_verify: true,
            ..TlsSettings::default()
        },
        ..default_settings()
    };
    let named = UpstreamSettings {
        tls: TlsSettings {
            ca: Some(SecretSource::Inline(ca.pem.clone())),
            server_name: Some("localhost".into()),
            ..TlsSettings::default()
        },
        ..default_settings()
    };
    let mismatched = UpstreamSettings {
        tls: TlsSettings {
            ca: Some(SecretSource::Inline(ca.pem.clone())),
            server_name: Some("other.example".into()),
            ..TlsSettings::default()
        },
        ..default_settings()
    };
    let sidecar = Sidecar::start(
        vec![
            target("a", "insecure", &by_ip),
            target("b", "named", &by_ip),
            target("c", "mismatched", &by_ip),
        ],
        vec![
            job("insecure", insecure, TIMEOUT),
            job("named", named, TIMEOUT),
            job("mismatched", mismatched, TIMEOUT),
        ],
    )
    .await;
    assert_eq!(get(sidecar.addr, "/scrape/a", &[]).await.status, 200);
    assert_eq!(get(sidecar.addr, "/scrape/b", &[]).await.status, 200);
    let bad = get(sidecar.addr, "/scrape/c", &[]).await;
    assert_eq!(bad.status, 502);
    assert!(
        bad.text().contains("TLS handshake failed"),
        "{}",
        bad.text()
    );
}

#[tokio::test]
async fn basic_auth_from_a_rotated_password_file_and_bearer_tokens() {
    use base64::Engine as _;
    let basic = |user: &str, pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    };
    let body = Bytes::from_static(b"up 1\n");
    let server = TargetServer::start(vec![
        (
            "/basic",
            Route::RequireAuth {
                expected: basic("prom", "s3cret"),
                body: body.clone(),
            },
        ),
        (
            "/bearer",
            Route::RequireAuth {
                expected: "Bearer tok-1".into(),
                body: body.clone(),
            },
        ),
        (
            "/custom",
            Route::RequireAuth {
                expected: "Token abc".into(),
                body: body.clone(),
            },
        ),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "s3cret\n").unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "tok-1").unwrap();
    let with_auth = |auth| UpstreamSettings {
        auth: Some(auth),
        ..default_settings()
    };
    let sidecar = Sidecar::start(
        vec![
            target("basic", "basic", &server.url("/basic")),
            target("bearer", "bearer", &server.url("/bearer")),
            target("custom", "custom", &server.url("/custom")),
        ],
        vec![
            job(
                "basic",
                with_auth(Auth::Basic {
                    username: "prom".into(),
                    password: Some(SecretSource::File(password_file.clone())),
                }),
                TIMEOUT,
            ),
            job(
                "bearer",
                with_auth(Auth::Authorization {
                    scheme: "Bearer".into(),
                    credentials: SecretSource::File(token_file),
                }),
                TIMEOUT,
            ),
            job(
                "custom",
                with_auth(Auth::Authorization {
                    scheme: "Token".into(),
                    credentials: SecretSource::Inline("abc".into()),
                }),
                TIMEOUT,
            ),
        ],
    )
    .await;
    for id in ["basic", "bearer", "custom"] {
        let got = get(sidecar.addr, &format!("/scrape/{id}"), &[]).await;
        assert_eq!(got.status, 200, "{id}");
    }
    // Rotate the password: the next scrape sends the new one (the target
    // still expects the old one, so it now refuses).
    let next = dir.path().join("password.new");
    std::fs::write(&next, "changed").unwrap();
    std::fs::rename(&next, &password_file).unwrap();
    assert_eq!(get(sidecar.addr, "/scrape/basic", &[]).await.status, 401);
}

#[tokio::test]
async fn redirects_are_followed_when_allowed_and_bounded() {
    let body = corpus("pushgateway.prom");
    let server = TargetServer::start(vec![
        ("/old", Route::Redirect("/new".into())),
        (
            "/new",
            Route::Body {
                content_type: TEXT,
                body: body.clone(),
                gzip: false,
            },
        ),
        ("/loop", Route::Redirect("/loop".into())),
    ])
    .await;
    let no_follow = UpstreamSettings {
        follow_redirects: false,
        ..default_settings()
    };
    let sidecar = Sidecar::start(
        vec![
            target("follow", "follow", &server.url("/old")),
            target("nofollow", "nofollow", &server.url("/old")),
            target("loop", "follow", &server.url("/loop")),
        ],
        vec![
            job("follow", default_settings(), TIMEOUT),
            job("nofollow", no_follow, TIMEOUT),
        ],
    )
    .await;
    let followed = get(sidecar.addr, "/scrape/follow", &[]).await;
    assert_eq!(followed.status, 200);
    assert!(followed.body.unwrap() == body);
    let not_followed = get(sidecar.addr, "/scrape/nofollow", &[]).await;
    assert_eq!(not_followed.status, 302);
    assert_eq!(not_followed.headers["location"], "/new");
    let looped = get(sidecar.addr, "/scrape/loop", &[]).await;
    assert_eq!(looped.status, 502);
    assert!(
        looped.text().contains("stopped after 10 redirects"),
        "{}",
        looped.text()
    );
}

/// A plain-HTTP/1.1 target answering every request on a connection with
/// `body` and a `Content-Length`; with `close_after_each` it closes the
/// connection after each answer without saying so (as a keep-alive timeout
/// racing the next request does). Counts the connections it accepted.
async fn keep_alive_target(
    body: &'static [u8],
    close_after_each: bool,
) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicU64::new(0));
    let accepted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    head.clear();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if socket.write_all(answer.as_bytes()).await.is_err()
                        || socket.write_all(body).await.is_err()
                    {
                        return;
                    }
                    if close_after_each {
                        return;
                    }
                }
            });
        }
    });
    (addr, connections)
}

/// Scrapes of a plain-HTTP target reuse one keep-alive connection; when the
/// target closes it between scrapes, the next scrape gets a new connection
/// instead of an error.
#[tokio::test]
async fn keep_alive_connections_are_reused_and_replaced_when_the_target_closes_them() {
    const BODY: &[u8] = b"up 1\nscrape_me{a=\"b\"} 2\n";
    let (kept, kept_connections) = keep_alive_target(BODY, false).await;
    let (closing, closing_connections) = keep_alive_target(BODY, true).await;
    let sidecar = Sidecar::start(
        vec![
            target("kept", "job", &format!("http://{kept}/metrics")),
            target("closing", "job", &format!("http://{closing}/metrics")),
        ],
        vec![job("job", default_settings(), TIMEOUT)],
    )
    .await;
    for scrape in 1..=3u64 {
        for id in ["kept", "closing"] {
            let got = get(sidecar.addr, &format!("/scrape/{id}"), &[]).await;
            assert_eq!(got.status, 200, "{id}, scrape {scrape}: {}", got.text());
            assert_eq!(
                got.body.as_ref().map(|b| &b[..]),
                Ok(BODY),
                "{id}, scrape {scrape}"
            );
            let stats = wait_for_record(&sidecar, id, scrape).await;
            assert_eq!(stats.failures_total, 0, "{id}: {:?}", stats.last_error);
        }
    }
    assert_eq!(kept_connections.load(Ordering::SeqCst), 1);
    assert_eq!(closing_connections.load(Ordering::SeqCst), 3);
}

/// A 256 MiB body through a client that stops reading: the target must be
/// stopped by back-pressure long before the body ends, because the sidecar
/// holds at most a frame and the sockets' buffers in between.
#[tokio::test]
async fn large_bodies_stream_under_back_pressure_without_buffering() {
    const TOTAL: u64 = 256 * 1024 * 1024;
    const READ_FIRST: u64 = 4 * 1024 * 1024;
    let produced = Arc::new(AtomicU64::new(0));
    let route = Route::Generated {
        total: TOTAL,
        produced: Arc::clone(&produced),
    };
    let (_server, sidecar) = one(route, default_settings()).await;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let stream = socket.connect(sidecar.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get("/scrape/t1")
        .header("host", "sidecar")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut read = 0u64;
    while read < READ_FIRST {
        let frame = body.frame().await.unwrap().unwrap();
        read += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
    // Stop reading; wait until the target is blocked (no progress for 500 ms).
    let mut last = produced.load(Ordering::SeqCst);
    let mut still = 0;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = produced.load(Ordering::SeqCst);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still == 5 {
            break;
        }
    }
    assert_eq!(still, 5, "the target never blocked: {last} bytes produced");
    let ahead = last - read;
    println!("target produced {last} bytes while the client read {read}: {ahead} bytes in between");
    // Socket buffers on both sides of the sidecar account for all of it.
    assert!(
        ahead < 64 * 1024 * 1024,
        "{ahead} bytes in flight: the sidecar is buffering"
    );
    assert!(last < TOTAL / 2);

    // Prometheus going away mid-body is recorded as such.
    drop(body);
    drop(sender);
    let stats = wait_for_record(&sidecar, "t1", 1).await;
    assert_eq!(stats.last_error.unwrap().cause, ErrorCause::ClientGone);
}

#[tokio::test]
async fn own_metrics_count_outcomes_by_cause_without_target_labels() {
    let (_server, sidecar) = one(
        Route::Body {
            content_type: TEXT,
            body: corpus("pushgateway.prom"),
            gzip: false,
        },
        default_settings(),
    )
    .await;
    assert_eq!(get(sidecar.addr, "/scrape/t1", &[]).await.status, 200);
    assert_eq!(get(sidecar.addr, "/scrape/unknown", &[]).await.status, 404);
    wait_for_record(&sidecar, "t1", 1).await;
    let mut registry = prometheus_client::registry::Registry::default();
    sidecar.state.metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"promshard_sidecar_scrapes_total{outcome="success",cause="none"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"promshard_sidecar_scrapes_total{outcome="failed",cause="unknown_target"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"promshard_sidecar_body_bytes_total{kind="wire"} 5739"#),
        "{text}"
    );
    assert!(
        !text.contains("t1"),
        "a target id leaked into the metrics:\n{text}"
    );

    // A new assignment without t1: its statistics go with it.
    sidecar
        .state
        .assignment
        .replace(&promshard::shard_api::Assignment {
            generation: 2,
            targets: Vec::new(),
            ..Default::default()
        });
    sidecar.state.prune_stats();
    assert!(sidecar.state.stats.snapshot_all().is_empty());
    // Prometheus may scrape it once more before it has re-read its file_sd
    // file: still answered for a grace period, but no longer this shard's
    // statistics (the grace's end is tested with the assignment table).
    assert_eq!(get(sidecar.addr, "/scrape/t1", &[]).await.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sidecar.state.stats.snapshot_all().is_empty());
    assert_eq!(get(sidecar.addr, "/scrape/t2", &[]).await.status, 404);
}

/// With a counting interval, only a target's first scrape in the interval
/// is counted; the others are forwarded unchanged and recorded without
/// counts, and a new Content-Type (Prometheus asking for another format)
/// forces a count.
#[tokio::test]
async fn only_the_first_scrape_in_the_interval_is_counted_unless_the_format_changes() {
    let text = Bytes::from_static(b"a 1\nb 2\n");
    let openmetrics = Bytes::from_static(b"a 1\nb 2\nc 3\n# EOF\n");
    let server = TargetServer::start(vec![(
        "/metrics",
        Route::ByAccept {
            text: text.clone(),
            openmetrics: openmetrics.clone(),
        },
    )])
    .await;
    let sidecar = Sidecar::start_counting_every(
        vec![target("t1", "job", &server.url("/metrics"))],
        vec![job("job", default_settings(), TIMEOUT)],
        Duration::from_secs(3600),
    )
    .await;
    let accept_openmetrics = [("accept", "application/openmetrics-text;version=1.0.0")];
    /// Request headers, the body expected, the samples counted (if any).
    type Scrape<'a> = (&'a [(&'a str, &'a str)], &'a Bytes, Option<u64>);
    let scrapes: [Scrape<'_>; 5] = [
        (&[], &text, Some(2)),
        (&[], &text, None),
        (&[], &text, None),
        (&accept_openmetrics, &openmetrics, Some(3)),
        (&accept_openmetrics, &openmetrics, None),
    ];
    for (i, (headers, body, _)) in scrapes.iter().enumerate() {
        let got = get(sidecar.addr, "/scrape/t1", headers).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.body.as_ref().unwrap(), *body, "scrape {i}");
        // One at a time, so the history is in this order.
        wait_for_record(&sidecar, "t1", i as u64 + 1).await;
    }
    let stats = sidecar.state.stats.snapshot("t1").unwrap();
    assert_eq!((stats.scrapes_total, stats.counted_total), (5, 2));
    for (record, (_, body, samples)) in stats.history.iter().zip(&scrapes) {
        assert_eq!(record.outcome, ScrapeOutcome::Success);
        assert_eq!(record.counted, samples.is_some(), "{record:?}");
        assert_eq!(record.samples, *samples, "{record:?}");
        assert_eq!(record.wire_bytes, body.len() as u64, "{record:?}");
        if samples.is_none() {
            assert_eq!((record.decoded_bytes, record.format), (0, None));
        }
    }
    let last_counted = stats.last_counted.unwrap();
    assert_eq!(last_counted.samples, Some(3));
    assert_eq!(
        last_counted.started_unix_ms,
        stats.history[3].started_unix_ms
    );
    assert_eq!(stats.peak_samples, Some(3));

    let mut registry = prometheus_client::registry::Registry::default();
    sidecar.state.metrics.register(&mut registry);
    let mut metrics = String::new();
    prometheus_client::encoding::text::encode(&mut metrics, &registry).unwrap();
    for line in [
        r#"promshard_sidecar_counting_scrapes_total{decision="counted"} 2"#,
        r#"promshard_sidecar_counting_scrapes_total{decision="skipped"} 3"#,
        r#"promshard_sidecar_counted_samples_total{kind="scraped"} 5"#,
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
}

/// What a real Prometheus records for one target scraped through the
/// sidecar: its `up`, `scrape_samples_scraped` and last error.
#[derive(Debug)]
struct Seen {
    up: f64,
    samples: f64,
    last_error: String,
}

async fn seen_by_prometheus(prom: &PrometheusProcess, instance: &str) -> Option<Seen> {
    let up = support::scalar(prom, &format!("up{{instance=\"{instance}\"}}")).await?;
    let samples = support::scalar(
        prom,
        &format!("scrape_samples_scraped{{instance=\"{instance}\"}}"),
    )
    .await?;
    let targets = prom.client().active_targets().await.ok()?;
    let target = targets
        .iter()
        .find(|t| t["labels"]["instance"] == instance)?;
    let last_error = target["lastError"].as_str()?.to_owned();
    Some(Seen {
        up,
        samples,
        last_error,
    })
}

/// The real Prometheus 2.42 scrapes every kind of target through the
/// sidecar: corpus bodies plain and gzip, protobuf, and failing targets. Its
/// `scrape_samples_scraped` is the corpus ground truth and the sidecar's
/// count, and each failure shows `up=0` with the sidecar's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_scrapes_through_the_sidecar() {
    assert!(
        support::prometheus_installed(),
        "prometheus is not installed: run scripts/ensure-deps"
    );
    let mut routes = Vec::new();
    let mut expected = Vec::new();
    for (i, (name, samples)) in CORPUS.iter().enumerate() {
        let path: &'static str = Box::leak(format!("/{name}").into_boxed_str());
        routes.push((
            path,
            Route::Body {
                content_type: TEXT,
                body: corpus(name),
                gzip: i % 2 == 1,
            },
        ));
        expected.push((path, *name, *samples));
    }
    routes.push((
        "/protobuf",
        Route::Body {
            content_type: PROTOBUF,
            body: support::protobuf_gauges("pb_gauge", 7),
            gzip: true,
        },
    ));
    expected.push(("/protobuf", "protobuf", 7));
    routes.push((
        "/500",
        Route::Status {
            status: 500,
            body: "exporter broke\n",
        },
    ));
    routes.push((
        "/slow",
        Route::Slow {
            delay: Duration::from_secs(30),
            body: Bytes::from_static(b"a 1\n"),
        },
    ));
    let server = TargetServer::start(routes).await;
    let dead = format!("http://127.0.0.1:{}/metrics", free_port().unwrap());

    let mut targets: Vec<_> = expected
        .iter()
        .map(|(path, name, _)| target(name, "e2e", &server.url(path)))
        .collect();
    targets.push(target("status500", "e2e", &server.url("/500")));
    targets.push(target("slow", "e2e", &server.url("/slow")));
    targets.push(target("dead", "e2e", &dead));
    let sidecar = Sidecar::start(
        targets.clone(),
        vec![job("e2e", default_settings(), TIMEOUT)],
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let groups: Vec<_> = targets
        .iter()
        .map(|t| {
            serde_json::json!({
                "targets": [sidecar.addr.to_string()],
                "labels": {"__metrics_path__": format!("/scrape/{}", t.id), "instance": t.id.0},
            })
        })
        .collect();
    let sd_file = dir.path().join("e2e.json");
    std::fs::write(&sd_file, serde_json::to_vec(&groups).unwrap()).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: e2e\n    \
         file_sd_configs:\n      - files: [{}]\n",
        serde_json::to_string(&sd_file.display().to_string()).unwrap()
    );
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let mut options = PrometheusOptions::new(&config_file, dir.path());
    options.extra_args = vec![
        "--enable-feature=native-histograms".into(),
        "--log.level=warn".into(),
    ];
    let prom = PrometheusProcess::start(options).await.unwrap();

    for (_, name, samples) in &expected {
        let seen = support::eventually(Duration::from_secs(30), || async {
            seen_by_prometheus(&prom, name)
                .await
                .filter(|s| s.up == 1.0)
        })
        .await;
        let seen = seen.unwrap_or_else(|| panic!("{name}: never up"));
        assert_eq!(
            seen.samples, *samples as f64,
            "{name}: scrape_samples_scraped"
        );
        let stats = sidecar.state.stats.snapshot(name).unwrap();
        let last = stats
            .history
            .iter()
            .rev()
            .find(|r| r.outcome == ScrapeOutcome::Success)
            .unwrap();
        assert_eq!(last.samples, Some(*samples), "{name}: the sidecar's count");
        let kept = support::scalar(
            &prom,
            &format!("scrape_samples_post_metric_relabeling{{instance=\"{name}\"}}"),
        )
        .await
        .unwrap();
        assert_eq!(
            last.kept.map(|k| k as f64),
            Some(kept),
            "{name}: kept samples"
        );
    }
    for (instance, wanted) in [
        (
            "status500",
            "server returned HTTP status 500 Internal Server Error",
        ),
        (
            "dead",
            "server returned HTTP status 502 Bad Gateway: target 127.0.0.1:",
        ),
        (
            "slow",
            "server returned HTTP status 504 Gateway Timeout: target 127.0.0.1:",
        ),
    ] {
        let seen = support::eventually(Duration::from_secs(30), || async {
            seen_by_prometheus(&prom, instance)
                .await
                .filter(|s| !s.last_error.is_empty())
        })
        .await;
        let seen = seen.unwrap_or_else(|| panic!("{instance}: no failed scrape seen"));
        assert_eq!(seen.up, 0.0, "{instance}");
        assert!(
            seen.last_error.starts_with(wanted),
            "{instance}: {}",
            seen.last_error
        );
    }
}

#[tokio::test]
async fn proxy_url_tunnels_https_and_forwards_http_in_absolute_form() {
    use base64::Engine as _;
    let ca = TestCa::new("ca");
    let body = corpus("pushgateway.prom");
    let route = || Route::Body {
        content_type: TEXT,
        body: body.clone(),
        gzip: false,
    };
    let plain = TargetServer::start(vec![("/metrics", route())]).await;
    let tls = TargetServer::start_tls(vec![("/metrics", route())], ca.server_config(None)).await;
    let proxy = support::ForwardProxy::start().await;
    let settings = UpstreamSettings {
        proxy_url: Some(format!("http://user:pa%40ss@{}", proxy.addr)),
        tls: TlsSettings {
            ca: Some(SecretSource::Inline(ca.pem.clone())),
            ..TlsSettings::default()
        },
        ..default_settings()
    };
    let sidecar = Sidecar::start(
        vec![
            target("plain", "job", &plain.url("/metrics")),
            target("tls", "job", &tls.url("/metrics")),
        ],
        vec![job("job", settings, TIMEOUT)],
    )
    .await;
    for id in ["plain", "tls"] {
        let got = get(sidecar.addr, &format!("/scrape/{id}"), &[]).await;
        assert_eq!(got.status, 200, "{id}: {:?}", got.body);
        assert!(got.body.unwrap() == body, "{id}");
    }
    let credentials = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("user:pa@ss")
    );
    let seen = proxy.seen();
    assert!(
        seen.contains(&(
            format!("GET {} HTTP/1.1", plain.url("/metrics")),
            Some(credentials.clone())
        )),
        "{seen:?}"
    );
    let port = tls.addr.port();
    assert!(
        seen.contains(&(
            format!("CONNECT localhost:{port} HTTP/1.1"),
            Some(credentials)
        )),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_body_still_streaming_at_the_timeout_is_aborted() {
    let route = Route::Trickle {
        line: "slow_metric 1\n",
        every: Duration::from_millis(50),
    };
    let (_server, sidecar) = one(route, default_settings()).await;
    let got = get(
        sidecar.addr,
        "/scrape/t1",
        &[("x-prometheus-scrape-timeout-seconds", "0.5")],
    )
    .await;
    assert_eq!(got.status, 200);
    let error = got
        .body
        .expect_err("a body cut by the timeout must not end cleanly");
    assert!(!error.is_empty());
    let stats = wait_for_record(&sidecar, "t1", 1).await;
    let last = stats.last_error.unwrap();
    assert_eq!(last.cause, ErrorCause::BodyTimeout, "{}", last.message);
    assert!(last.message.contains("scrape timeout"), "{}", last.message);
}

#[tokio::test]
async fn http2_to_tls_targets_only_when_enabled() {
    let ca = TestCa::new("ca");
    let server =
        TargetServer::start_tls(vec![("/echo", Route::Echo)], ca.server_config(None)).await;
    let tls = TlsSettings {
        ca: Some(SecretSource::Inline(ca.pem.clone())),
        ..TlsSettings::default()
    };
    let h2 = UpstreamSettings {
        tls: tls.clone(),
        enable_http2: true,
        ..default_settings()
    };
    let h1 = UpstreamSettings {
        tls,
        enable_http2: false,
        ..default_settings()
    };
    let sidecar = Sidecar::start(
        vec![
            target("h2", "h2", &server.url("/echo")),
            target("h1", "h1", &server.url("/echo")),
        ],
        vec![job("h2", h2, TIMEOUT), job("h1", h1, TIMEOUT)],
    )
    .await;
    let over_h2 = get(
        sidecar.addr,
        "/scrape/h2",
        &[("user-agent", "Prometheus/2.42.0")],
    )
    .await;
    assert_eq!(over_h2.status, 200, "{:?}", over_h2.body);
    assert!(
        over_h2.text().starts_with("HTTP/2.0\n"),
        "{}",
        over_h2.text()
    );
    assert!(
        over_h2.text().contains("user-agent: Prometheus/2.42.0"),
        "{}",
        over_h2.text()
    );
    let over_h1 = get(sidecar.addr, "/scrape/h1", &[]).await;
    assert!(
        over_h1.text().starts_with("HTTP/1.1\n"),
        "{}",
        over_h1.text()
    );
}

/// Counting hooks that see nothing: the proxy's cost without counting.
#[derive(Debug)]
struct NoCounting;

struct Blind;

impl promshard::scrape::counting::ScrapeObserver for Blind {
    fn chunk(&mut self, _wire: &Bytes) {}

    fn finish(self: Box<Self>, _complete: bool) -> promshard::scrape::counting::Counts {
        promshard::scrape::counting::Counts::default()
    }
}

impl promshard::scrape::counting::CountingHooks for NoCounting {
    fn observer(
        &self,
        _target: &Arc<promshard::shard_api::ScrapeTarget>,
        _response: &promshard::scrape::counting::ResponseMeta<'_>,
    ) -> Box<dyn promshard::scrape::counting::ScrapeObserver> {
        Box::new(Blind)
    }
}

/// Not a test: prints the throughput of a direct fetch, the proxy without
/// counting and the proxy with counting, for the same 64 MiB text body.
/// `cargo test --release -p promshard --test sidecar_proxy measure -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test: run with --release --ignored --nocapture"]
async fn measure_proxy_throughput_with_and_without_counting() {
    let mut body = Vec::new();
    let node = corpus("node_exporter.prom");
    while body.len() < 64 * 1024 * 1024 {
        body.extend_from_slice(&node);
    }
    let body = Bytes::from(body);
    let server = TargetServer::start(vec![(
        "/m",
        Route::Body {
            content_type: TEXT,
            body: body.clone(),
            gzip: false,
        },
    )])
    .await;
    let blind = promshard::scrape::jobs::Job {
        counting: Arc::new(NoCounting),
        ..job("blind", default_settings(), Duration::from_secs(60))
    };
    let sidecar = Sidecar::start(
        vec![
            target("counted", "counted", &server.url("/m")),
            target("blind", "blind", &server.url("/m")),
        ],
        vec![
            job("counted", default_settings(), Duration::from_secs(60)),
            blind,
        ],
    )
    .await;
    for (what, addr, path) in [
        ("direct", server.addr, "/m"),
        ("proxy, no counting", sidecar.addr, "/scrape/blind"),
        ("proxy, counting", sidecar.addr, "/scrape/counted"),
    ] {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let started = std::time::Instant::now();
            assert_eq!(support::drain(addr, path).await, body.len() as u64);
            best = best.min(started.elapsed().as_secs_f64());
        }
        let mb = body.len() as f64 / 1e6;
        println!(
            "{what:>20}: {:7.1} ms for {mb:.0} MB, {:7.0} MB/s",
            best * 1e3,
            mb / best
        );
    }
    let stats = sidecar.state.stats.snapshot("counted").unwrap();
    println!(
        "counted samples per scrape: {:?}",
        stats.history.last().and_then(|r| r.samples)
    );
}
