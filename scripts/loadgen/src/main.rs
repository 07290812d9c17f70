//! `promshard-loadgen`: synthetic scrape targets and a Prometheus-like scrape driver.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use promshard_loadgen::driver::{self, AcceptProfile, DriveConfig, Stop};
use promshard_loadgen::server::{self, ServerConfig, Timestamps};
use promshard_loadgen::{BodySpec, FleetSpec, Format, Shape, ShapeMix, vectors};

#[derive(Debug, Parser)]
#[command(name = "promshard-loadgen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve K synthetic targets at /target/<n>/metrics (index at /targets, /file_sd).
    Serve {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:9300")]
        listen: SocketAddr,
        /// Targets at start.
        #[arg(long, default_value_t = 100)]
        targets: usize,
        /// Upper bound for POST /control/targets.
        #[arg(long, default_value_t = 100_000)]
        max_targets: usize,
        /// Seed of sizes, shapes and bodies.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Smallest target (approximate samples).
        #[arg(long, default_value_t = 100)]
        min_series: usize,
        /// Largest target (approximate samples).
        #[arg(long, default_value_t = 100_000)]
        max_series: usize,
        /// Pareto tail index of target sizes (smaller: heavier tail).
        #[arg(long, default_value_t = 1.2)]
        tail_alpha: f64,
        /// `mixed`, `cycle` (target n gets shape n mod 5), or one shape: node, ksm, cadvisor, histogram, exemplars.
        #[arg(long, default_value = "mixed")]
        shapes: String,
        /// Share (0..=1) of entities whose label values change every churn interval.
        #[arg(long, default_value_t = 0.0)]
        churn_share: f64,
        /// Churn interval (e.g. 30s, 5m); without it churn only moves by POST /control/churn.
        #[arg(long, value_parser = parse_duration)]
        churn_interval: Option<Duration>,
        /// Also serve every target on its own port at /metrics.
        #[arg(long)]
        per_target_ports: bool,
        /// Serve only this format (text, openmetrics, protobuf), ignoring Accept.
        #[arg(long)]
        force_format: Option<String>,
        /// Explicit timestamps (cAdvisor samples, exemplars): `clock` stamps
        /// them near the current time; `fixed` serves the same bytes every run
        /// (Prometheus then needs `honor_timestamps: false` to keep them).
        #[arg(long, default_value = "clock")]
        timestamps: String,
        /// With `--timestamps clock`: how often the stamp moves on (bodies with
        /// timestamps are rendered again each time).
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        timestamp_step: Duration,
    },
    /// Scrape URLs like Prometheus does and report throughput and latency.
    Drive {
        /// URLs to scrape.
        #[arg(long = "url")]
        urls: Vec<String>,
        /// Take the URLs from a loadgen /targets index.
        #[arg(long)]
        targets_from: Option<String>,
        /// Scrapes in flight.
        #[arg(long, short = 'c', default_value_t = 8)]
        concurrency: usize,
        /// Total scrapes (default 1000 unless --duration is given).
        #[arg(long, conflicts_with = "duration")]
        count: Option<u64>,
        /// Run for this long (e.g. 30s).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Accept header: prometheus, prometheus-protobuf, text, openmetrics, protobuf.
        #[arg(long, default_value = "prometheus")]
        accept: String,
        /// Do not send Accept-Encoding: gzip.
        #[arg(long)]
        no_gzip: bool,
        /// Per-scrape timeout.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        timeout: Duration,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write one generated body to a file or stdout; its sample count goes to stderr.
    Generate {
        /// node, ksm, cadvisor, histogram, exemplars.
        #[arg(long)]
        shape: String,
        /// Approximate samples.
        #[arg(long, default_value_t = 10_000)]
        series: usize,
        /// text, openmetrics, protobuf.
        #[arg(long, default_value = "text")]
        format: String,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// gzip the output.
        #[arg(long)]
        gzip: bool,
        /// Stamp explicit timestamps with the current time instead of a fixed
        /// one (the output then differs between runs).
        #[arg(long)]
        now: bool,
        /// Output file (stdout if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the test vectors (bodies + expected counts) into a directory.
    ExportVectors {
        /// Target directory.
        #[arg(long, default_value = "testdata/loadgen")]
        out: PathBuf,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = number.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

fn shape(name: &str) -> anyhow::Result<Shape> {
    Shape::from_name(name).with_context(|| {
        format!("unknown shape {name:?} (node, ksm, cadvisor, histogram, exemplars)")
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            listen,
            targets,
            max_targets,
            seed,
            min_series,
            max_series,
            tail_alpha,
            shapes,
            churn_share,
            churn_interval,
            per_target_ports,
            force_format,
            timestamps,
            timestamp_step,
        } => {
            let timestamps = match timestamps.as_str() {
                "clock" => Timestamps::Clock {
                    step: timestamp_step,
                },
                "fixed" => Timestamps::Fixed,
                other => bail!("unknown --timestamps {other:?} (clock, fixed)"),
            };
            let shapes = match shapes.as_str() {
                "mixed" => ShapeMix::Mixed,
                "cycle" => ShapeMix::Cycle,
                one => ShapeMix::Only(shape(one)?),
            };
            let force_format = force_format
                .map(|f| {
                    Format::from_name(&f).with_context(|| format!("unknown --force-format {f:?}"))
                })
                .transpose()?;
            let config = ServerConfig {
                listen,
                fleet: FleetSpec {
                    seed,
                    min_series,
                    max_series,
                    tail_alpha,
                    shapes,
                },
                targets,
                max_targets,
                churn_share,
                churn_interval,
                per_target_ports,
                force_format,
                timestamps,
            };
            let server = server::start(config).await?;
            let addr = server.local_addr();
            let mut out = std::io::stdout();
            writeln!(
                out,
                "promshard-loadgen serving {targets} targets on http://{addr}"
            )?;
            writeln!(
                out,
                "  index: http://{addr}/targets   file_sd: http://{addr}/file_sd"
            )?;
            writeln!(
                out,
                "  control: POST http://{addr}/control/targets?count=N, POST http://{addr}/control/churn"
            )?;
            out.flush()?;
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            server.shutdown().await;
            Ok(())
        }
        Command::Drive {
            mut urls,
            targets_from,
            concurrency,
            count,
            duration,
            accept,
            no_gzip,
            timeout,
            json,
        } => {
            if let Some(index) = targets_from {
                urls.extend(driver::fetch_target_urls(&index).await?);
            }
            if urls.is_empty() {
                bail!("no URLs: give --url (repeatable) or --targets-from");
            }
            let accept = AcceptProfile::from_name(&accept)
                .with_context(|| format!("unknown --accept {accept:?}"))?;
            let stop = match (count, duration) {
                (_, Some(d)) => Stop::Duration(d),
                (Some(n), None) => Stop::Count(n),
                (None, None) => Stop::Count(1000),
            };
            let config = DriveConfig {
                concurrency,
                accept,
                gzip: !no_gzip,
                timeout,
                ..DriveConfig::new(urls, stop)
            };
            let report = driver::drive(config).await?;
            let mut out = std::io::stdout();
            if json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                let mib = |b: f64| b / (1024.0 * 1024.0);
                writeln!(
                    out,
                    "scrapes     {} ({} errors) in {:.2} s",
                    report.scrapes, report.errors, report.elapsed_secs
                )?;
                writeln!(out, "rate        {:.1} scrapes/s", report.scrapes_per_sec)?;
                writeln!(
                    out,
                    "wire        {:.1} MiB/s ({} bytes)",
                    mib(report.wire_bytes_per_sec),
                    report.wire_bytes
                )?;
                writeln!(
                    out,
                    "decoded     {:.1} MiB/s ({} bytes)",
                    mib(report.decoded_bytes_per_sec),
                    report.decoded_bytes
                )?;
                let l = &report.latency;
                writeln!(
                    out,
                    "latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
                    l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
                )?;
                for e in &report.first_errors {
                    writeln!(out, "error       {e}")?;
                }
            }
            if report.errors > 0 && report.errors == report.scrapes {
                bail!("every scrape failed");
            }
            Ok(())
        }
        Command::Generate {
            shape: shape_name,
            series,
            format,
            seed,
            gzip,
            now,
            out,
        } => {
            let format = Format::from_name(&format).with_context(|| {
                format!("unknown --format {format:?} (text, openmetrics, protobuf)")
            })?;
            let mut spec = BodySpec::new(shape(&shape_name)?, series, seed);
            if now {
                spec = spec.at_time(promshard_loadgen::clock_time_ms(1));
            }
            let body = spec.render(format);
            let bytes = if gzip {
                body.gzip()
            } else {
                body.bytes.clone()
            };
            match out {
                Some(path) => std::fs::write(&path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(&bytes)?,
            }
            writeln!(
                std::io::stderr(),
                "samples={} families={} bytes={} format={}",
                body.samples,
                body.families,
                bytes.len(),
                format.name()
            )?;
            Ok(())
        }
        Command::ExportVectors { out } => {
            let infos = vectors::write_vectors(&out)
                .with_context(|| format!("writing vectors into {}", out.display()))?;
            writeln!(
                std::io::stdout(),
                "wrote {} vectors into {}",
                infos.len(),
                out.display()
            )?;
            Ok(())
        }
    }
}
