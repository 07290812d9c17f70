//! The `promshard` binary: argument parsing, logging and exit codes.
//!
//! This is the only place that uses `anyhow`: everything below it returns
//! typed errors, and here they become one line on stderr and an exit code.

use std::num::NonZeroUsize;
use std::process::ExitCode;

use clap::Parser;
use mimalloc::MiMalloc;

use promshard::cli::{Cli, Command};

// The sidecar allocates and frees a buffer per chunk of every scrape; mimalloc's
// thread-local free lists keep that off the global allocator lock.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The local demo draws a live table on the terminal: only warnings may
    // interrupt it unless the user asks for more.
    let default_level = if matches!(cli.command, Command::Local(_)) {
        "warn"
    } else {
        "info"
    };
    promshard::telemetry::init(cli.log_level.as_deref(), default_level);
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole cause chain on one line: who failed and why.
            #[allow(
                clippy::print_stderr,
                reason = "the binary's edge reports errors on stderr"
            )]
            {
                eprintln!("promshard: error: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The runtime a long-running subcommand runs on: `workers` threads, or
/// `default_workers` when not given (`None`: one per core).
///
/// One worker means a current-thread runtime: a scrape's tasks (the
/// Prometheus connection, the target connection) then hand work to each
/// other without waking another thread, which in a sidecar forwarding many
/// small scrapes costs more CPU than the second thread saves.
fn runtime(
    workers: Option<NonZeroUsize>,
    default_workers: Option<NonZeroUsize>,
) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match workers.or(default_workers) {
        Some(n) if n.get() == 1 => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n.get());
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    Ok(builder.enable_all().build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let workers = cli.runtime_worker_threads;
    match cli.command {
        Command::Sidecar(args) => {
            runtime(workers, Some(NonZeroUsize::MIN))?
                .block_on(promshard::sidecar::run::run(args.into()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Coordinator(args) => {
            runtime(workers, None)?.block_on(promshard::coordinator::run::run((*args).into()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Local(args) => {
            runtime(workers, None)?.block_on(promshard::local::run::run(args.into()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(check) => promshard::cli::check::run(check),
    }
}
