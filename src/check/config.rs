//! `promshard check config`: validates Prometheus config files the way
//! `promtool check config` does (a file promtool accepts is accepted), and
//! says which of its features promshard does not run.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use promshard_config::Config;

/// What a config that parses still gets wrong, one line each.
#[derive(Debug, Default)]
struct Findings {
    /// Invalid service discovery entries: Prometheus rejects these too.
    errors: Vec<String>,
    /// Valid features promshard cannot run.
    unsupported: Vec<String>,
}

fn findings(config: &Config) -> Findings {
    let manager = crate::discovery::discovery_manager();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for job in &config.scrape_configs {
        let http = &job.http_client;
        if http.oauth2.is_some() {
            out.push(format!(
                "job {:?}: oauth2 is not supported by the sidecar",
                job.job_name
            ));
        }
        if http.proxy_url.is_some() || http.proxy_from_environment {
            out.push(format!(
                "job {:?}: proxies are not supported by the sidecar",
                job.job_name
            ));
        }
        // The same providers the coordinator would start, so an SD entry
        // that parses here is one it can run.
        match manager.providers(job) {
            Ok((_, keys)) => out.extend(keys.into_iter().map(|key| {
                format!(
                    "job {:?}: {key} is not supported by this build",
                    job.job_name
                )
            })),
            Err(e) => errors.push(format!("job {:?}: {e}", job.job_name)),
        }
    }
    Findings {
        errors,
        unsupported: out,
    }
}

/// Checks `files`: exit 0 when every file is valid, 1 otherwise.
pub(crate) fn run(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let mut all_valid = true;
    for file in files {
        let shown = file.display();
        writeln!(stdout, "Checking {shown}").context("writing to stdout")?;
        match Config::load(file) {
            Ok(config) => {
                let findings = findings(&config);
                if findings.errors.is_empty() {
                    writeln!(
                        stdout,
                        " SUCCESS: {shown} is valid prometheus config file syntax"
                    )
                    .context("writing to stdout")?;
                } else {
                    all_valid = false;
                }
                for line in &findings.errors {
                    writeln!(stdout, "  FAILED: {line}").context("writing to stdout")?;
                }
                for line in &findings.unsupported {
                    writeln!(stdout, " WARNING: {line}").context("writing to stdout")?;
                }
            }
            Err(e) => {
                all_valid = false;
                writeln!(stdout, "  FAILED: {e}").context("writing to stdout")?;
            }
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
