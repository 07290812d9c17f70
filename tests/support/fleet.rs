//! A fleet of synthetic loadgen targets, each on its own port on 127.0.0.1,
//! with heavy-tailed sizes, and a `prometheus.yml` that scrapes all of them
//! every second as one static job.
//!
//! Included on its own (`#[path = "support/fleet.rs"] mod fleet;`) by the
//! coordinator and local tests, which do not need the rest of `support`.
#![allow(dead_code, unreachable_pub, missing_debug_implementations)]

use std::path::{Path, PathBuf};

use promshard_config::Config;
use promshard_loadgen::server::{self, ServerConfig, TargetServer};
use promshard_loadgen::{FleetSpec, ShapeMix};

/// The running targets and the config that scrapes them.
pub struct SyntheticFleet {
    pub server: TargetServer,
    /// `host:port` of each target.
    pub addresses: Vec<String>,
    pub config_file: PathBuf,
}

/// A `prometheus.yml` scraping `addresses` every second (1 s timeout) as
/// the static job `job`.
pub fn static_config(job: &str, addresses: &[String]) -> String {
    let listed: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: {job}\n    static_configs: [{{targets: [{}]}}]\n",
        listed.join(", ")
    )
}

impl SyntheticFleet {
    /// Starts `count` targets of 50 to 600 series sized by `seed`, scraped
    /// as the job `synthetic`, and writes the config into `dir`.
    pub async fn start(dir: &Path, count: usize, seed: u64) -> Self {
        let sizes = FleetSpec {
            seed,
            min_series: 50,
            max_series: 600,
            tail_alpha: 1.2,
            shapes: ShapeMix::Mixed,
        };
        Self::start_with(dir, count, sizes, "synthetic").await
    }

    /// Starts `count` targets sized by `sizes`, scraped as the static job
    /// `job`, and writes the config into `dir`.
    #[allow(clippy::unwrap_used, reason = "a failed set-up step stops the test")]
    pub async fn start_with(dir: &Path, count: usize, sizes: FleetSpec, job: &str) -> Self {
        let server = server::start(ServerConfig {
            targets: count,
            max_targets: count,
            per_target_ports: true,
            fleet: sizes,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let addresses: Vec<String> = server
            .targets()
            .iter()
            .map(|t| {
                t.url
                    .trim_start_matches("http://")
                    .trim_end_matches("/metrics")
                    .to_owned()
            })
            .collect();
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, static_config(job, &addresses)).unwrap();
        Self {
            server,
            addresses,
            config_file,
        }
    }

    /// The config, loaded as the coordinator loads it.
    #[allow(clippy::unwrap_used, reason = "the config was written by `start`")]
    pub fn config(&self) -> Config {
        Config::load(&self.config_file).unwrap()
    }
}
