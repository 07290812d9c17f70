//! `promshard check targets`: the targets a Prometheus config discovers, with
//! their labels after relabeling, printed exactly as
//! `promtool check service-discovery FILE JOB` prints them.
//!
//! Without `--job`, every job is discovered and their results are printed as
//! one list, jobs in config order (each entry's `job` label says which). SD
//! failures and targets Prometheus would reject are reported on stderr; the
//! JSON keeps promtool's shape (`"error": {}` for rejected targets).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use promshard_config::discovery::discover_once;
use promshard_config::promtool::{sd_check, to_promtool_json};
use promshard_config::{Compat, Config};

/// What to discover (`promshard check targets`'s flags).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The Prometheus config file.
    pub config: PathBuf,
    /// Only this job (`None`: every job, in config order).
    pub job: Option<String>,
    /// Target construction semantics.
    pub compat: Compat,
    /// How long service discovery may take, per provider.
    pub timeout: Duration,
}

/// Runs the check.
pub(crate) fn run(args: Options) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let jobs: Vec<_> = match &args.job {
        Some(name) => vec![config.job(name).with_context(|| {
            let names: Vec<_> = config.job_names().collect();
            format!(
                "job {name:?} not found in {}; its jobs: {}",
                args.config.display(),
                names.join(", ")
            )
        })?],
        None => config.scrape_configs.iter().collect(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let manager = crate::discovery::discovery_manager();
    let mut results = Vec::new();
    for job in jobs {
        let (groups, errors) = runtime.block_on(discover_once(&manager, job, args.timeout));
        for error in errors {
            tracing::warn!(job = %job.job_name, "service discovery: {error}");
        }
        let job_results = sd_check(job, &groups, args.compat);
        for r in &job_results {
            if let Some(message) = &r.error {
                tracing::warn!(job = %job.job_name, "target rejected: {message}");
            }
        }
        results.extend(job_results);
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(to_promtool_json(&results).as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
