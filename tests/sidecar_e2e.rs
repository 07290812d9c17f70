//! The whole sidecar (`sidecar::run::start`) in front of a real Prometheus:
//! the generated config, the file_sd files, the API, counting, target changes
//! without reloads and config changes with one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test helpers fail loudly; Prometheus reports sample counts as floats"
)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use promshard::local::process::{PrometheusOptions, PrometheusProcess, free_port};
use promshard::shard_api::{Assignment, Role, ScrapeTarget, SidecarClient, TargetId};
use promshard::sidecar::run::{SidecarSettings, start};
use support::{
    CORPUS, PROTOBUF, PROTOBUF_FAMILIES_SAMPLES, Route, TEXT, TargetServer, corpus, eventually,
    protobuf_families, protobuf_gauges, scalar,
};

const TOKEN: &str = "s3cret-token";

fn user_config(interval: &str) -> String {
    format!(
        r#"global:
  scrape_interval: {interval}
  scrape_timeout: 1s
  external_labels: {{cluster: test}}
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ["never-used:9100"]}}]
    metric_relabel_configs:
      - {{source_labels: [__name__], regex: "go_.*", action: drop}}
  - job_name: app
    honor_labels: true
    kubernetes_sd_configs: [{{role: pod}}]
    relabel_configs: [{{action: labeldrop, regex: tmp}}]
"#
    )
}

fn target(id: &str, job: &str, url: &str, extra: &[(&str, &str)]) -> ScrapeTarget {
    let mut labels: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    labels.insert("job".into(), job.into());
    labels.insert("instance".into(), format!("{id}.example:9100"));
    ScrapeTarget {
        id: TargetId(id.into()),
        job: job.into(),
        url: url.into(),
        labels,
        role: Role::Active,
    }
}

async fn last_reload(prom: &PrometheusProcess) -> String {
    let info = prom.client().runtime_info().await.unwrap();
    assert_eq!(info["reloadConfigSuccess"], true, "{info}");
    info["lastConfigTime"].as_str().unwrap().to_owned()
}

/// A sidecar writing under `dir`, for a Prometheus on `prom_port`: no token,
/// no shard name, the config checked every 200 ms.
fn sidecar_settings(dir: &Path, config_file: PathBuf, prom_port: u16) -> SidecarSettings {
    SidecarSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        api_listen: "127.0.0.1:0".parse().unwrap(),
        config_file,
        output_dir: dir.join("out"),
        storage_path: dir.join("state"),
        prometheus_url: format!("http://127.0.0.1:{prom_port}"),
        token_file: None,
        shard_name: None,
        scrape_address: None,
        config_check_interval: Duration::from_millis(200),
        // These tests compare each scrape's count with Prometheus's.
        count_min_interval: Duration::ZERO,
        standalone: false,
        ..SidecarSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_through_the_sidecar_and_counts_match() {
    let paths: Vec<String> = CORPUS.iter().map(|(name, _)| format!("/{name}")).collect();
    let text = |body| Route::Body {
        content_type: TEXT,
        body,
        gzip: false,
    };
    let mut routes: Vec<(&str, Route)> = CORPUS
        .iter()
        .zip(&paths)
        .map(|((name, _), path)| (path.as_str(), text(corpus(name))))
        .collect();
    let gzipped = Route::Body {
        content_type: TEXT,
        body: corpus("node_exporter.prom"),
        gzip: true,
    };
    routes.push(("/gz", gzipped));
    routes.push((
        "/broken",
        Route::Status {
            status: 500,
            body: "exporter exploded",
        },
    ));
    let server = TargetServer::start(routes).await;

    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("user.yml");
    std::fs::write(&config_file, user_config("1s")).unwrap();
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let prom_port = free_port().unwrap();
    let sidecar = start(SidecarSettings {
        token_file: Some(dir.path().join("token")),
        shard_name: Some("shard-0".into()),
        self_scrape: true,
        ..sidecar_settings(dir.path(), config_file.clone(), prom_port)
    })
    .await
    .unwrap();

    // The generated config is what a shard runs; promtool must accept it.
    let check = std::process::Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(&sidecar.shard_config)
        .output()
        .expect("promtool runs (scripts/ensure-deps installs it)");
    assert!(
        check.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let mut options = PrometheusOptions::new(&sidecar.shard_config, dir.path().join("prom"));
    options.port = prom_port;
    let prom = PrometheusProcess::start(options).await.unwrap();
    let reload_at_start = last_reload(&prom).await;

    // Without the token the sidecar refuses to change its assignment.
    let api = format!("http://{}", sidecar.api_addr);
    let anonymous = SidecarClient::new(&api, None, Duration::from_secs(5));
    let refused = anonymous
        .put_targets(&Assignment::default())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");

    let client = SidecarClient::new(&api, Some(TOKEN.into()), Duration::from_secs(5));
    let mut targets = vec![
        target(
            "n1",
            "node",
            &server.url("/node_exporter.prom"),
            &[("team", "infra")],
        ),
        target("n2", "node", &server.url("/gz"), &[]),
        target("p1", "app", &server.url("/prometheus.prom"), &[]),
        target("a1", "app", &server.url("/alertmanager.prom"), &[]),
        target("b1", "node", &server.url("/broken"), &[]),
    ];
    client
        .put_targets(&Assignment {
            generation: 1,
            targets: targets.clone(),
            ..Assignment::default()
        })
        .await
        .unwrap();

    // Every target is scraped; the sidecar's counts equal Prometheus's.
    let expected: BTreeMap<&str, u64> = [("n1", 507), ("n2", 507), ("p1", 344), ("a1", 242)]
        .into_iter()
        .collect();
    let counted = eventually(Duration::from_secs(30), || async {
        let mut all = BTreeMap::new();
        for id in expected.keys() {
            let instance = format!("{id}.example:9100");
            let scraped = scalar(
                &prom,
                &format!("scrape_samples_scraped{{instance=\"{instance}\"}}"),
            )
            .await?;
            let kept = scalar(
                &prom,
                &format!("scrape_samples_post_metric_relabeling{{instance=\"{instance}\"}}"),
            )
            .await?;
            all.insert(*id, (scraped, kept));
        }
        Some(all)
    })
    .await
    .expect("Prometheus scraped every target through the sidecar");
    let status = client.status().await.unwrap();
    assert_eq!(status.shard, "shard-0");
    assert_eq!(status.generation, 1);
    // Every target says when the shard got it, for the coordinator's
    // duplicate resolution.
    let first_assigned: BTreeMap<String, u64> = status
        .targets
        .iter()
        .map(|t| (t.id.0.clone(), t.assigned_at.expect("assigned_at reported")))
        .collect();
    assert_eq!(first_assigned.len(), 5);
    let prom_targets = prom.client().active_targets().await.unwrap();
    for (id, want) in &expected {
        let (scraped, kept) = counted[id];
        let seen = prom_targets
            .iter()
            .find(|t| t["labels"]["instance"] == format!("{id}.example:9100"));
        eprintln!("{id}: {:?}", seen.map(|t| (&t["health"], &t["lastError"])));
        assert_eq!(scraped as u64, *want, "{id}: Prometheus scraped");
        let stats = status
            .targets
            .iter()
            .find(|t| t.id.0 == *id)
            .unwrap()
            .stats
            .clone()
            .unwrap();
        let last = stats["history"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r["samples"].is_u64())
            .unwrap();
        assert_eq!(
            last["samples"].as_u64().unwrap(),
            *want,
            "{id}: sidecar counted"
        );
        assert_eq!(
            last["kept"].as_u64().unwrap(),
            kept as u64,
            "{id}: sidecar kept vs Prometheus post-relabel"
        );
    }
    // The node job drops go_* series, so kept < scraped there.
    assert!(counted["n1"].1 < counted["n1"].0);

    // The stored series carry exactly the target's labels, nothing of the proxy.
    let up = prom
        .client()
        .query("up{instance=\"n1.example:9100\"}")
        .await
        .unwrap();
    let labels = up[0]["metric"].as_object().unwrap();
    let names: Vec<&str> = labels.keys().map(String::as_str).collect();
    assert_eq!(names, ["__name__", "instance", "job", "team"]);

    // A failing target is up=0 with the target's own error visible.
    let broken = eventually(Duration::from_secs(15), || async {
        let targets = prom.client().active_targets().await.ok()?;
        let t = targets
            .into_iter()
            .find(|t| t["labels"]["instance"] == "b1.example:9100")?;
        (t["health"] == "down").then(|| t["lastError"].as_str().unwrap_or("").to_owned())
    })
    .await
    .expect("broken target reported down");
    assert!(broken.contains("500"), "{broken}");

    // A target change reaches Prometheus through file_sd, without a reload.
    targets.retain(|t| t.id.0 != "a1");
    targets.push(target("g1", "app", &server.url("/pushgateway.prom"), &[]));
    client
        .put_targets(&Assignment {
            generation: 2,
            targets,
            ..Assignment::default()
        })
        .await
        .unwrap();
    let pushgateway = eventually(Duration::from_secs(15), || async {
        scalar(
            &prom,
            "scrape_samples_scraped{instance=\"g1.example:9100\"}",
        )
        .await
    })
    .await
    .expect("new target scraped");
    assert_eq!(pushgateway as u64, 41);
    let gone = eventually(Duration::from_secs(15), || async {
        let targets = prom.client().active_targets().await.ok()?;
        (!targets
            .iter()
            .any(|t| t["labels"]["instance"] == "a1.example:9100"))
        .then_some(())
    })
    .await;
    assert!(gone.is_some(), "removed target still active");
    // Targets kept by the new generation keep their time; the new one is newer.
    let second = client.status().await.unwrap();
    let assigned = |id: &str| {
        second
            .targets
            .iter()
            .find(|t| t.id.0 == id)
            .and_then(|t| t.assigned_at)
            .unwrap()
    };
    assert_eq!(assigned("n1"), first_assigned["n1"]);
    assert!(assigned("g1") > first_assigned["n1"]);
    assert_eq!(
        last_reload(&prom).await,
        reload_at_start,
        "a target change must not reload"
    );

    // An older generation is refused; the assignment survives a restart.
    let stale = client
        .put_targets(&Assignment {
            generation: 1,
            targets: vec![],
            ..Assignment::default()
        })
        .await
        .unwrap_err();
    assert!(stale.is_conflict(), "{stale}");

    // A change of the user's config rewrites the shard config and reloads.
    std::fs::write(&config_file, user_config("2s")).unwrap();
    let reloaded = eventually(Duration::from_secs(20), || async {
        let at = last_reload(&prom).await;
        (at != reload_at_start).then_some(at)
    })
    .await;
    assert!(
        reloaded.is_some(),
        "config change did not reload Prometheus"
    );
    let generated = std::fs::read_to_string(&sidecar.shard_config).unwrap();
    assert!(generated.contains("scrape_interval: 2s"), "{generated}");

    // --shard.self-scrape: the shard's Prometheus scrapes itself, labelled
    // with the shard, so its ingestion can be read (and scaled on).
    let own = eventually(Duration::from_secs(20), || async {
        scalar(
            &prom,
            "prometheus_tsdb_head_samples_appended_total{job=\"promshard-shard\",promshard_shard=\"shard-0\"}",
        )
        .await
    })
    .await;
    assert!(own.is_some(), "the self-scrape job did not run");

    sidecar.stop().await;
    prom.stop(Duration::from_secs(10)).await;
    let stored = std::fs::read(dir.path().join("state").join("assignment.json")).unwrap();
    let stored: Assignment = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored.generation, 2);
    assert_eq!(
        stored.assigned_at.get("n1"),
        Some(&first_assigned["n1"]),
        "assignment times are persisted"
    );
    assert!(Path::new(&dir.path().join("out").join("app.json")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_sidecar_discovers_relabels_and_counts_for_one_prometheus() {
    let node = format!("/{}", CORPUS[0].0);
    let pushgateway = format!("/{}", CORPUS[3].0);
    let server = TargetServer::start(vec![
        (
            node.as_str(),
            Route::Body {
                content_type: TEXT,
                body: corpus(CORPUS[0].0),
                gzip: true,
            },
        ),
        (
            pushgateway.as_str(),
            Route::Body {
                content_type: TEXT,
                body: corpus(CORPUS[3].0),
                gzip: false,
            },
        ),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(
        &config_file,
        format!(
            r#"global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: node
    metrics_path: {node}
    static_configs: [{{targets: ["{addr}"], labels: {{env: prod}}}}]
    relabel_configs:
      - {{source_labels: [env], target_label: environment}}
      - {{action: labeldrop, regex: env}}
  - job_name: pushgateway
    metrics_path: {pushgateway}
    honor_labels: true
    static_configs: [{{targets: ["{addr}"]}}]
"#,
            addr = server.addr
        ),
    )
    .unwrap();
    let prom_port = free_port().unwrap();
    let sidecar = start(SidecarSettings {
        standalone: true,
        ..sidecar_settings(dir.path(), config_file.clone(), prom_port)
    })
    .await
    .unwrap();
    let mut options = PrometheusOptions::new(&sidecar.shard_config, dir.path().join("prom"));
    options.port = prom_port;
    let prom = PrometheusProcess::start(options).await.unwrap();
    let instance = server.addr.to_string();
    for (job, want) in [("node", CORPUS[0].1), ("pushgateway", CORPUS[3].1)] {
        let scraped = eventually(Duration::from_secs(30), || async {
            scalar(
                &prom,
                &format!("scrape_samples_scraped{{job=\"{job}\",instance=\"{instance}\"}}"),
            )
            .await
        })
        .await
        .unwrap_or_else(|| panic!("{job} not scraped through the standalone sidecar"));
        assert_eq!(scraped as u64, want, "{job}");
    }
    // Relabeling ran in the sidecar: the stored series carry its result.
    let up = prom.client().query("up{job=\"node\"}").await.unwrap();
    assert_eq!(up[0]["metric"]["environment"], "prod");
    assert!(up[0]["metric"].get("env").is_none());
    sidecar.stop().await;
    prom.stop(Duration::from_secs(10)).await;
}

/// Prometheus 2.42 with native histograms asks for protobuf; the bodies go
/// through the sidecar untouched (plain and gzip), and the sidecar counts
/// what Prometheus counts, native histograms included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_scrapes_with_native_histograms_count_like_prometheus() {
    use promshard_loadgen::server::{self as loadgen, ServerConfig};

    let protobuf = |body: bytes::Bytes, gzip| Route::Body {
        content_type: PROTOBUF,
        body,
        gzip,
    };
    let server = TargetServer::start(vec![
        ("/families", protobuf(protobuf_families(), false)),
        ("/families-gz", protobuf(protobuf_families(), true)),
        ("/gauges", protobuf(protobuf_gauges("pb_gauge", 200), true)),
    ])
    .await;
    // Synthetic exporters negotiating the format from `Accept`, like a
    // client library: histograms, summaries, counters... in protobuf.
    let synthetic = loadgen::start(ServerConfig {
        targets: 3,
        max_targets: 3,
        ..ServerConfig::default()
    })
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("user.yml");
    std::fs::write(
        &config_file,
        r#"global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: pb
    static_configs: [{targets: ["never-used:9100"]}]
    metric_relabel_configs:
      - {source_labels: [__name__, code], regex: "pb_requests_total;500", action: drop}
  - job_name: synthetic
    static_configs: [{targets: ["never-used:9100"]}]
"#,
    )
    .unwrap();
    let prom_port = free_port().unwrap();
    let sidecar = start(SidecarSettings {
        config_check_interval: Duration::from_secs(1),
        ..sidecar_settings(dir.path(), config_file, prom_port)
    })
    .await
    .unwrap();
    let mut options = PrometheusOptions::new(&sidecar.shard_config, dir.path().join("prom"));
    options.port = prom_port;
    options.extra_args = vec![
        "--enable-feature=native-histograms".into(),
        "--log.level=warn".into(),
    ];
    let prom = PrometheusProcess::start(options).await.unwrap();

    let mut targets = vec![
        target("fam", "pb", &server.url("/families"), &[]),
        target("famgz", "pb", &server.url("/families-gz"), &[]),
        target("gauges", "pb", &server.url("/gauges"), &[]),
    ];
    for t in synthetic.targets() {
        targets.push(target(&format!("syn{}", t.index), "synthetic", &t.url, &[]));
    }
    let ids: Vec<String> = targets.iter().map(|t| t.id.0.clone()).collect();
    let client = SidecarClient::new(
        &format!("http://{}", sidecar.api_addr),
        None,
        Duration::from_secs(5),
    );
    client
        .put_targets(&Assignment {
            generation: 1,
            targets,
            ..Assignment::default()
        })
        .await
        .unwrap();

    // Per target: Prometheus's (scraped, kept) and the sidecar's latest
    // counted scrape, compared once both have seen two scrapes.
    let compared = eventually(Duration::from_secs(30), || async {
        let status = client.status().await.ok()?;
        let mut all = BTreeMap::new();
        for id in &ids {
            let instance = format!("{id}.example:9100");
            let scraped = scalar(
                &prom,
                &format!("scrape_samples_scraped{{instance=\"{instance}\"}}"),
            )
            .await?;
            let kept = scalar(
                &prom,
                &format!("scrape_samples_post_metric_relabeling{{instance=\"{instance}\"}}"),
            )
            .await?;
            let stats = status
                .targets
                .iter()
                .find(|t| t.id.0 == *id)?
                .stats
                .clone()?;
            let history = stats["history"].as_array()?;
            if history.len() < 2 {
                return None;
            }
            let last = history.last()?.clone();
            all.insert(id.clone(), (scraped as u64, kept as u64, last));
        }
        Some(all)
    })
    .await
    .expect("every target scraped through the sidecar");
    for (id, (scraped, kept, last)) in &compared {
        eprintln!("{id}: Prometheus {scraped}/{kept}, sidecar {last}");
        assert_eq!(last["format"], "protobuf", "{id}: {last}");
        assert_eq!(last["samples"].as_u64(), Some(*scraped), "{id}: samples");
        assert_eq!(last["kept"].as_u64(), Some(*kept), "{id}: kept");
    }
    let (fam_scraped, fam_kept, _) = &compared["fam"];
    assert_eq!(*fam_scraped, PROTOBUF_FAMILIES_SAMPLES);
    assert_eq!(*fam_kept, PROTOBUF_FAMILIES_SAMPLES - 1, "code=500 dropped");
    assert_eq!(compared["famgz"].0, PROTOBUF_FAMILIES_SAMPLES);
    assert_eq!(compared["gauges"].0, 200);
    // Prometheus asked for protobuf first, and got the gzip body it accepted.
    let asked = server.requests();
    assert!(!asked.is_empty());
    for request in &asked {
        let accept = request.headers["accept"].to_str().unwrap();
        assert!(
            accept.starts_with("application/vnd.google.protobuf"),
            "{accept}"
        );
    }
    // The native histograms were stored as such.
    let natives = prom
        .client()
        .query("histogram_count(pb_native_seconds{instance=\"fam.example:9100\"})")
        .await
        .unwrap();
    assert_eq!(natives.len(), 2, "{natives:?}");
    assert!(natives.iter().all(|s| s["value"][1] == "4"), "{natives:?}");

    sidecar.stop().await;
    prom.stop(Duration::from_secs(10)).await;
    synthetic.shutdown().await;
}

/// The coordinator may know a job of the user's config before this sidecar
/// has re-read it: the assignment is taken whole, the shard keeps scraping
/// what it had, and the new job's targets are scraped once the config has
/// the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_config_does_not_have_yet_never_costs_the_shard_its_targets() {
    let path = format!("/{}", CORPUS[0].0);
    let server = TargetServer::start(vec![(
        path.as_str(),
        Route::Body {
            content_type: TEXT,
            body: corpus(CORPUS[0].0),
            gzip: false,
        },
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("user.yml");
    std::fs::write(&config_file, user_config("1s")).unwrap();
    let prom_port = free_port().unwrap();
    let sidecar = start(sidecar_settings(dir.path(), config_file.clone(), prom_port))
        .await
        .unwrap();
    let mut options = PrometheusOptions::new(&sidecar.shard_config, dir.path().join("prom"));
    options.port = prom_port;
    let prom = PrometheusProcess::start(options).await.unwrap();
    let client = SidecarClient::new(
        &format!("http://{}", sidecar.api_addr),
        None,
        Duration::from_secs(5),
    );
    let url = server.url(&path);
    let old = target("old", "node", &url, &[]);
    let new = target("new", "late", &url, &[]);
    client
        .put_targets(&Assignment {
            generation: 1,
            targets: vec![old.clone()],
            ..Assignment::default()
        })
        .await
        .unwrap();
    let up = |instance: &'static str| {
        let prom = &prom;
        async move {
            scalar(prom, &format!("up{{instance=\"{instance}.example:9100\"}}"))
                .await
                .filter(|v| *v == 1.0)
        }
    };
    eventually(Duration::from_secs(30), || up("old"))
        .await
        .expect("the first target is scraped");

    // The job `late` is not in this sidecar's config yet: taken all the same.
    client
        .put_targets(&Assignment {
            generation: 2,
            targets: vec![old.clone(), new.clone()],
            ..Assignment::default()
        })
        .await
        .expect("an assignment naming a job not in the config yet is accepted");
    let status = client.status().await.unwrap();
    assert_eq!(status.generation, 2);
    assert_eq!(status.targets.len(), 2);
    // The old target keeps being scraped, every interval.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let kept = scalar(
        &prom,
        "min_over_time(up{instance=\"old.example:9100\"}[3s])",
    )
    .await
    .unwrap();
    assert_eq!(kept, 1.0, "the existing target was dropped");
    let samples = scalar(
        &prom,
        "count_over_time(up{instance=\"old.example:9100\"}[3s])",
    )
    .await
    .unwrap();
    assert!(samples >= 2.0, "{samples} scrapes in 3s at 1s");

    // The user's config gains the job: Prometheus is reloaded and scrapes it.
    let with_late = format!(
        "{}  - job_name: late\n    static_configs: [{{targets: [\"never-used:9100\"]}}]\n",
        user_config("1s")
    );
    std::fs::write(&config_file, with_late).unwrap();
    eventually(Duration::from_secs(30), || up("new"))
        .await
        .expect("the new job's target is scraped once the config has the job");
    assert_eq!(
        scalar(
            &prom,
            "min_over_time(up{instance=\"old.example:9100\"}[5s])"
        )
        .await,
        Some(1.0)
    );

    sidecar.stop().await;
    prom.stop(Duration::from_secs(10)).await;
}
