//! A stand-in for a shard's Prometheus where a real one would cost too much
//! (one per simulated pod) or would not misbehave on demand: it answers
//! `/-/ready` with the status the test sets (everything else 503, as a
//! Prometheus still starting does), and, when asked, scrapes the targets of
//! the sidecar's file_sd files through the sidecar as Prometheus would.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses the part it needs"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A fake Prometheus on one address; its tasks stop when it is dropped.
pub struct FakePrometheus {
    ready: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakePrometheus {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl FakePrometheus {
    /// Serves on `addr` (retrying for a few seconds: the port may have just
    /// been freed by a real Prometheus), ready or not.
    pub async fn serve(addr: SocketAddr, ready: bool) -> Self {
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(e) => {
                    attempts += 1;
                    assert!(attempts < 50, "binding {addr}: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let ready = Arc::new(AtomicBool::new(ready));
        let answering = Arc::clone(&ready);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let ready = answering.load(Ordering::SeqCst);
                tokio::spawn(answer(stream, ready));
            }
        });
        Self {
            ready,
            tasks: vec![server],
        }
    }

    /// What `/-/ready` answers from now on.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Scrapes every target of the file_sd files in `dir` every `interval`
    /// while ready, through the address each entry names.
    pub fn scrape(&mut self, dir: PathBuf, interval: Duration) {
        let ready = Arc::clone(&self.ready);
        self.tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if !ready.load(Ordering::SeqCst) {
                    continue;
                }
                for (address, path) in file_sd_entries(&dir) {
                    let _ = get(&address, &path).await;
                }
            }
        }));
    }
}

/// (address, metrics path) of every entry of the `*.json` files in `dir`.
fn file_sd_entries(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    let Ok(files) = std::fs::read_dir(dir) else {
        return entries;
    };
    for file in files.flatten() {
        let path = file.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let Ok(groups) = serde_json::from_slice::<Vec<serde_json::Value>>(&text) else {
            continue;
        };
        for group in groups {
            let metrics_path = group["labels"]["__metrics_path__"]
                .as_str()
                .unwrap_or("/metrics")
                .to_owned();
            for address in group["targets"].as_array().into_iter().flatten() {
                if let Some(address) = address.as_str() {
                    entries.push((address.to_owned(), metrics_path.clone()));
                }
            }
        }
    }
    entries
}

/// One `GET`, its response read and dropped (at most a few MiB).
async fn get(address: &str, path: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut sink = vec![0u8; 64 << 10];
    let mut total = 0usize;
    loop {
        let n = stream.read(&mut sink).await?;
        total += n;
        if n == 0 || total > 16 << 20 {
            return Ok(());
        }
    }
}

/// Answers one request: `/-/ready` with 200 or 503, the rest 503.
async fn answer(mut stream: TcpStream, ready: bool) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&request);
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = if path == "/-/ready" && ready {
        ("200 OK", "Prometheus Server is Ready.\n")
    } else {
        ("503 Service Unavailable", "Service Unavailable\n")
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}
