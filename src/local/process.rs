//! One real `prometheus` process: its own port, data directory and log file.
//!
//! Used by the `local` shard backend and by the end-to-end tests. The process
//! is stopped with SIGTERM (so it closes its TSDB cleanly) and killed if it
//! does not exit in time; dropping a [`PrometheusProcess`] kills it, so a
//! panicking test or a crashed demo never leaves an orphan behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::prometheus::PrometheusClient;

/// Starting or stopping a Prometheus process failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The binary could not be started.
    #[error("starting {binary}: {source} (is Prometheus installed? run scripts/ensure-deps)")]
    Spawn {
        /// The binary that was run.
        binary: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Preparing its directory failed.
    #[error("preparing {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// It exited while starting.
    #[error("prometheus on port {port} exited while starting ({status}); last log lines:\n{log}")]
    Exited {
        /// Its port.
        port: u16,
        /// Its exit status.
        status: String,
        /// The tail of its log.
        log: String,
    },
    /// It did not become ready in time.
    #[error("prometheus on port {port} not ready after {waited:?}; last log lines:\n{log}")]
    NotReady {
        /// Its port.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// The tail of its log.
        log: String,
    },
}

/// How to start one Prometheus.
#[derive(Debug, Clone)]
pub struct PrometheusOptions {
    /// The `prometheus` binary (default: found on PATH).
    pub binary: String,
    /// Its config file.
    pub config_file: PathBuf,
    /// Its directory: TSDB under `data/`, log in `prometheus.log`.
    pub dir: PathBuf,
    /// Port on 127.0.0.1 (0: pick a free one).
    pub port: u16,
    /// Extra flags (e.g. `--enable-feature=native-histograms`).
    pub extra_args: Vec<String>,
    /// How long to wait for `/-/ready`.
    pub ready_timeout: Duration,
}

impl PrometheusOptions {
    /// Defaults for a Prometheus with `config_file`, living in `dir`.
    pub fn new(config_file: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Self {
        Self {
            binary: "prometheus".into(),
            config_file: config_file.into(),
            dir: dir.into(),
            port: 0,
            extra_args: Vec::new(),
            ready_timeout: Duration::from_secs(30),
        }
    }
}

/// A running Prometheus.
#[derive(Debug)]
pub struct PrometheusProcess {
    child: Child,
    port: u16,
    dir: PathBuf,
    client: PrometheusClient,
    options: PrometheusOptions,
}

/// Starts the binary of `options` on `port`, its output appended to
/// `<dir>/prometheus.log` (or the file started afresh).
fn spawn_child(
    options: &PrometheusOptions,
    port: u16,
    append: bool,
) -> Result<Child, ProcessError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ProcessError::Io { path, source }
    };
    let data = options.dir.join("data");
    std::fs::create_dir_all(&data).map_err(io(&data))?;
    let log_path = options.dir.join("prometheus.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&log_path)
        .map_err(io(&log_path))?;
    let log_err = log.try_clone().map_err(io(&log_path))?;
    Command::new(&options.binary)
        .arg(format!("--config.file={}", options.config_file.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-lifecycle")
        .arg("--storage.tsdb.retention.time=1d")
        .args(&options.extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ProcessError::Spawn {
            binary: options.binary.clone(),
            source,
        })
}

impl PrometheusProcess {
    /// Starts Prometheus and waits until it answers `/-/ready`.
    pub async fn start(options: PrometheusOptions) -> Result<Self, ProcessError> {
        // A port picked here can be taken by someone else before Prometheus
        // binds it; a few attempts make that race harmless.
        let attempts = if options.port == 0 { 5 } else { 1 };
        let mut last_err = None;
        for _ in 0..attempts {
            let port = if options.port == 0 {
                free_port().map_err(|source| ProcessError::Io {
                    path: options.dir.clone(),
                    source,
                })?
            } else {
                options.port
            };
            let child = spawn_child(&options, port, false)?;
            let client =
                PrometheusClient::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
            let mut process = Self {
                child,
                port,
                dir: options.dir.clone(),
                client,
                options: options.clone(),
            };
            match process.wait_ready(options.ready_timeout).await {
                Ok(()) => return Ok(process),
                Err(e @ ProcessError::Exited { .. })
                    if process.log_tail().contains("address already in use") =>
                {
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or(ProcessError::NotReady {
            port: options.port,
            waited: options.ready_timeout,
            log: String::new(),
        }))
    }

    /// Starts it again after it exited: same binary, flags, port and data
    /// directory, its log appended to. Does not wait for it to be ready
    /// (a WAL replay can take minutes): whoever needs it ready asks it.
    pub(crate) fn respawn(&mut self) -> Result<(), ProcessError> {
        self.child = spawn_child(&self.options, self.port, true)?;
        Ok(())
    }

    /// How it exited, once it has (`None` while it runs).
    pub(crate) fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), ProcessError> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ProcessError::Exited {
                    port: self.port,
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            if let Ok(true) = self.client.ready().await {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(ProcessError::NotReady {
                    port: self.port,
                    waited: timeout,
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Its base URL.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client for its API.
    pub fn client(&self) -> &PrometheusClient {
        &self.client
    }

    /// The OS process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The last lines of its log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read(self.dir.join("prometheus.log")).unwrap_or_default();
        let text = String::from_utf8_lossy(&log);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Stops it: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_binary_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = PrometheusOptions::new(dir.path().join("p.yml"), dir.path());
        options.binary = "prometheus-does-not-exist".into();
        let err = PrometheusProcess::start(options).await.unwrap_err();
        assert!(err.to_string().contains("scripts/ensure-deps"), "{err}");
    }

    #[tokio::test]
    async fn a_bad_config_reports_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("p.yml");
        std::fs::write(&config, "scrape_configs: [{job_name: 1, bogus: true}]\n").unwrap();
        let err = PrometheusProcess::start(PrometheusOptions::new(&config, dir.path()))
            .await
            .unwrap_err();
        assert!(matches!(err, ProcessError::Exited { .. }), "{err}");
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[tokio::test]
    async fn starts_answers_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("p.yml");
        std::fs::write(&config, "global: {scrape_interval: 1s}\n").unwrap();
        let process = PrometheusProcess::start(PrometheusOptions::new(&config, dir.path()))
            .await
            .unwrap();
        let head = process.client().head_series().await.unwrap();
        assert_eq!(head, 0);
        let pid = process.pid().unwrap();
        process.stop(Duration::from_secs(10)).await;
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || {
                // A zombie until reaped would still show; tokio reaps on wait.
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .map(|s| s.contains("zombie"))
                    .unwrap_or(true)
            }
        );
    }
}
