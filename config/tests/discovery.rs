//! Service discovery with real files, a real HTTP server and a real DNS
//! server on 127.0.0.1.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use promshard_config::Config;
use promshard_config::discovery::dns::DnsDiscoverer;
use promshard_config::discovery::{Discoverer, DiscoveryEvent, DiscoveryManager};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(10);

/// Collects events until `done` says the expected ones arrived.
async fn events_until(
    rx: &mut Receiver<DiscoveryEvent>,
    done: impl Fn(&[DiscoveryEvent]) -> bool,
) -> Vec<DiscoveryEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => seen.push(e),
            Ok(None) => panic!("discovery stopped; events so far: {seen:#?}"),
            Err(_) => panic!("timed out; events so far: {seen:#?}"),
        }
    }
    seen
}

/// No event for a while.
async fn quiet(rx: &mut Receiver<DiscoveryEvent>, for_: Duration) -> Vec<DiscoveryEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + for_;
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        seen.push(e);
    }
    seen
}

fn upserts(events: &[DiscoveryEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            DiscoveryEvent::Upsert { key, .. } => Some(key.source.clone()),
            _ => None,
        })
        .collect()
}

fn removes(events: &[DiscoveryEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            DiscoveryEvent::Remove { key } => Some(key.source.clone()),
            _ => None,
        })
        .collect()
}

fn has_error(events: &[DiscoveryEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, DiscoveryEvent::Error { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_follows_create_change_break_rename_delete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // A long refresh interval: changes must be seen through file watching.
    let yaml = format!(
        "scrape_configs:\n- job_name: f\n  file_sd_configs:\n  - files: ['{d}/*.json', '{d}/*.yml']\n    refresh_interval: 1h\n"
    );
    let config = Config::from_yaml_str(&yaml, format!("{d}/prometheus.yml")).unwrap();
    let (_handle, mut rx) = DiscoveryManager::new().start(&config).unwrap();
    let a = format!("{d}/a.json");
    let (a0, a1) = (format!("{a}:0"), format!("{a}:1"));

    // Created.
    std::fs::write(
        &a,
        r#"[{"targets": ["x:1"], "labels": {"k": "v"}}, {"targets": ["y:1"]}]"#,
    )
    .unwrap();
    let events = events_until(&mut rx, |e| upserts(e).len() >= 2).await;
    assert_eq!(upserts(&events), [a0.clone(), a1.clone()]);
    // A rescan may catch the file between its creation and its write (an
    // empty file is an error, as in Prometheus), so look for the upsert.
    let Some(DiscoveryEvent::Upsert { group, .. }) = events
        .iter()
        .find(|e| matches!(e, DiscoveryEvent::Upsert { .. }))
    else {
        panic!("no upsert: {events:#?}");
    };
    assert_eq!(group.labels.get("__meta_filepath"), Some(a.as_str()));
    assert_eq!(group.labels.get("k"), Some("v"));

    // Changed: only the group that changed is reported.
    std::fs::write(
        &a,
        r#"[{"targets": ["x:1"], "labels": {"k": "v"}}, {"targets": ["y:2"]}]"#,
    )
    .unwrap();
    let events = events_until(&mut rx, |e| !upserts(e).is_empty()).await;
    assert_eq!(upserts(&events), std::slice::from_ref(&a1));

    // Broken: the error is reported, the last good groups stay.
    std::fs::write(&a, "[{\"targets\": [").unwrap();
    let events = events_until(&mut rx, has_error).await;
    assert!(removes(&events).is_empty(), "{events:#?}");
    let later = quiet(&mut rx, Duration::from_millis(300)).await;
    assert!(
        removes(&later).is_empty() && upserts(&later).is_empty(),
        "{later:#?}"
    );

    // Renamed over: a complete new file replaces it atomically; one group fewer.
    let tmp = format!("{d}/a.json.tmp");
    std::fs::write(&tmp, r#"[{"targets": ["z:1"]}]"#).unwrap();
    std::fs::rename(&tmp, &a).unwrap();
    let events = events_until(&mut rx, |e| {
        !upserts(e).is_empty() && !removes(e).is_empty()
    })
    .await;
    assert_eq!(upserts(&events), std::slice::from_ref(&a0));
    assert_eq!(removes(&events), [a1]);

    // A YAML file next to it.
    let b = format!("{d}/b.yml");
    std::fs::write(&b, "- targets: ['w:1']\n  labels: {n: 1}\n").unwrap();
    let events = events_until(&mut rx, |e| !upserts(e).is_empty()).await;
    assert_eq!(upserts(&events), [format!("{b}:0")]);

    // Deleted: its groups go.
    std::fs::remove_file(&a).unwrap();
    let events = events_until(&mut rx, |e| !removes(e).is_empty()).await;
    assert_eq!(removes(&events), [a0]);
}

/// The provider's own reads are file events too; if it took them for
/// changes it would rescan its files in a loop while nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_does_not_reread_files_nobody_changed() {
    use notify::Watcher;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    std::fs::write(format!("{d}/a.json"), r#"[{"targets": ["x:1"]}]"#).unwrap();
    let yaml = format!(
        "scrape_configs:\n- job_name: f\n  file_sd_configs:\n  - files: ['{d}/*.json']\n    refresh_interval: 1h\n"
    );
    let config = Config::from_yaml_str(&yaml, format!("{d}/prometheus.yml")).unwrap();
    let (_handle, mut rx) = DiscoveryManager::new().start(&config).unwrap();
    events_until(&mut rx, |e| !upserts(e).is_empty()).await;
    // Let the first scan's own events settle, then count opens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let opens = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&opens);
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if let Ok(e) = e
            && matches!(e.kind, notify::EventKind::Access(_))
        {
            *counted.lock().unwrap() += 1;
        }
    })
    .unwrap();
    watcher
        .watch(dir.path(), notify::RecursiveMode::NonRecursive)
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let opens = *opens.lock().unwrap();
    assert_eq!(
        opens, 0,
        "the file was read {opens} times in a second with no change"
    );
    let later = quiet(&mut rx, Duration::from_millis(100)).await;
    assert!(
        upserts(&later).is_empty() && removes(&later).is_empty(),
        "{later:#?}"
    );
}

/// A one-connection-at-a-time HTTP/1.1 server answering with whatever
/// `reply` holds; it records the Authorization headers it saw.
async fn http_server(
    reply: Arc<Mutex<(u16, String, String)>>,
    auth_seen: Arc<Mutex<Vec<String>>>,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let reply = reply.clone();
            let auth_seen = auth_seen.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&request).to_string();
                for line in head.lines() {
                    if let Some(v) = line
                        .strip_prefix("authorization: ")
                        .or_else(|| line.strip_prefix("Authorization: "))
                    {
                        auth_seen.lock().unwrap().push(v.to_owned());
                    }
                }
                let (status, content_type, body) = reply.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sd_polls_and_keeps_last_good_groups_on_failure() {
    let good = r#"[{"targets": ["a:1"], "labels": {"x": "1"}}, {"targets": ["b:1"]}]"#.to_owned();
    let reply = Arc::new(Mutex::new((200, "application/json".to_owned(), good)));
    let auth_seen = Arc::new(Mutex::new(Vec::new()));
    let addr = http_server(reply.clone(), auth_seen.clone()).await;
    let url = format!("http://{addr}/sd");
    let yaml = format!(
        "scrape_configs:\n- job_name: h\n  http_sd_configs:\n  - url: {url}\n    refresh_interval: 100ms\n    basic_auth: {{username: user, password: pass}}\n"
    );
    let config = Config::from_yaml_str(&yaml, "prometheus.yml").unwrap();
    let (_handle, mut rx) = DiscoveryManager::new().start(&config).unwrap();

    let events = events_until(&mut rx, |e| upserts(e).len() >= 2).await;
    assert_eq!(upserts(&events), [format!("{url}:0"), format!("{url}:1")]);
    // A rescan may catch the file between its creation and its write (an
    // empty file is an error, as in Prometheus), so look for the upsert.
    let Some(DiscoveryEvent::Upsert { group, .. }) = events
        .iter()
        .find(|e| matches!(e, DiscoveryEvent::Upsert { .. }))
    else {
        panic!("no upsert: {events:#?}");
    };
    assert_eq!(group.labels.get("__meta_url"), Some(url.as_str()));
    assert_eq!(auth_seen.lock().unwrap()[0], "Basic dXNlcjpwYXNz");

    for (status, content_type, body) in [
        (500, "application/json", "[]"),
        (200, "application/json", "[{\"targets\": "),
        (200, "text/plain", "[]"),
    ] {
        *reply.lock().unwrap() = (status, content_type.into(), body.into());
        let events = events_until(&mut rx, has_error).await;
        assert!(removes(&events).is_empty(), "{status} {body}: {events:#?}");
        let later = quiet(&mut rx, Duration::from_millis(250)).await;
        assert!(
            removes(&later).is_empty() && upserts(&later).is_empty(),
            "{later:#?}"
        );
    }

    // Good again with one group fewer: that source goes, the other is unchanged.
    *reply.lock().unwrap() = (
        200,
        "application/json; charset=utf-8".into(),
        r#"[{"targets": ["a:1"], "labels": {"x": "1"}}]"#.into(),
    );
    let events = events_until(&mut rx, |e| !removes(e).is_empty()).await;
    assert_eq!(removes(&events), [format!("{url}:1")]);
    assert!(upserts(&events).is_empty(), "{events:#?}");
}

/// A DNS server answering SRV queries with two targets and A queries with
/// one address.
async fn dns_server() -> SocketAddr {
    use hickory_resolver::proto::op::{Message, MessageType};
    use hickory_resolver::proto::rr::rdata::{A, SRV};
    use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let (n, peer) = socket.recv_from(&mut buf).await.unwrap();
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut response = Message::new(
                query.metadata.id,
                MessageType::Response,
                query.metadata.op_code,
            );
            response.metadata.recursion_desired = query.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            response.metadata.authoritative = true;
            for q in &query.queries {
                response.queries.push(q.clone());
                let name = q.name().clone();
                match q.query_type() {
                    RecordType::SRV => {
                        for (port, target) in
                            [(9100, "node1.example.org."), (9200, "node2.example.org.")]
                        {
                            let srv = SRV::new(0, 0, port, Name::from_ascii(target).unwrap());
                            response.answers.push(Record::from_rdata(
                                name.clone(),
                                60,
                                RData::SRV(srv),
                            ));
                        }
                    }
                    RecordType::A => {
                        response.answers.push(Record::from_rdata(
                            name.clone(),
                            60,
                            RData::A(A::new(10, 0, 0, 7)),
                        ));
                    }
                    _ => {}
                }
            }
            let bytes = response.to_vec().unwrap();
            socket.send_to(&bytes, peer).await.unwrap();
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_sd_maps_srv_and_a_records() {
    let server = dns_server().await;
    let config = Config::from_yaml_str(
        "scrape_configs:\n- job_name: d\n  dns_sd_configs:\n  - names: [_prom._tcp.example.org.]\n  - names: [nodes.example.org.]\n    type: A\n    port: 9100\n",
        "prometheus.yml",
    )
    .unwrap();
    let job = config.job("d").unwrap();
    let srv = DnsDiscoverer::with_nameserver(
        "srv".into(),
        job.service_discovery.dns_sd_configs[0].clone(),
        server,
    );
    let groups = srv.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "_prom._tcp.example.org.");
    let addresses: Vec<_> = groups[0]
        .targets
        .iter()
        .map(|t| t.get("__address__").unwrap().to_owned())
        .collect();
    assert_eq!(
        addresses,
        ["node1.example.org:9100", "node2.example.org:9200"]
    );
    assert_eq!(
        groups[0].targets[1].get("__meta_dns_srv_record_target"),
        Some("node2.example.org.")
    );
    assert_eq!(
        groups[0].targets[1].get("__meta_dns_name"),
        Some("_prom._tcp.example.org.")
    );

    let a = DnsDiscoverer::with_nameserver(
        "a".into(),
        job.service_discovery.dns_sd_configs[1].clone(),
        server,
    );
    let groups = a.refresh().await.unwrap();
    assert_eq!(
        groups[0].targets[0].get("__address__"),
        Some("10.0.0.7:9100")
    );
}
