//! `promshard check ...`'s subcommands and flags, and the options they give
//! the `check` tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use promshard_config::{Compat, PromDuration};
use promshard_parser::Format;

use crate::check;

/// `promshard check ...`
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Validate a metrics exposition (Prometheus text, OpenMetrics, protobuf;
    /// plain or gzip) and optionally count its samples.
    Metrics(MetricsArgs),
    /// Print the targets a Prometheus config discovers, with their labels
    /// after relabeling, as `promtool check service-discovery` does.
    Targets(TargetsArgs),
    /// Validate a Prometheus config file.
    Config(ConfigArgs),
    /// Print the scrape configs prometheus-operator would generate from
    /// ServiceMonitor, PodMonitor, Probe and ScrapeConfig manifests.
    Monitors(MonitorsArgs),
}

/// Runs a `check` subcommand.
pub fn run(check: CheckCommand) -> anyhow::Result<ExitCode> {
    match check {
        CheckCommand::Metrics(args) => check::metrics::run(args.into()),
        CheckCommand::Targets(args) => check::targets::run(args.into()),
        CheckCommand::Config(args) => check::config::run(&args.files),
        CheckCommand::Monitors(args) => check::monitors::run(&args.into()),
    }
}

/// `promshard check metrics` flags.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// Exposition format of the input.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Also print the sample count (as Prometheus's scrape_samples_scraped)
    /// and the largest metric families.
    #[arg(long)]
    pub count: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// How many families `--count` lists.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// The file to check; `-` reads stdin. Input starting with the gzip
    /// magic bytes 1f 8b is inflated as it is read.
    #[arg(default_value = "-", value_name = "FILE")]
    pub file: String,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    // Prometheus text format 0.0.4.
    Text,
    // OpenMetrics 1.0 text.
    Openmetrics,
    // Varint-delimited protobuf MetricFamily messages.
    Protobuf,
    // Guess from the content.
    Auto,
}

impl From<MetricsArgs> for check::metrics::Options {
    fn from(args: MetricsArgs) -> Self {
        Self {
            format: match args.format {
                FormatArg::Text => Some(Format::Text),
                FormatArg::Openmetrics => Some(Format::OpenMetrics),
                FormatArg::Protobuf => Some(Format::Protobuf),
                FormatArg::Auto => None,
            },
            count: args.count,
            json: args.json,
            top: args.top,
            file: args.file,
        }
    }
}

/// `promshard check targets` flags.
#[derive(Debug, clap::Args)]
pub struct TargetsArgs {
    /// The Prometheus config file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Only this job (default: every job, in config order).
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Target semantics: `prometheus3` (addresses as written) or
    /// `prometheus2` (`:80`/`:443` added to addresses without a port).
    #[arg(long, value_name = "MODE", default_value = "prometheus3")]
    pub compat: Compat,
    /// How long service discovery may take, per provider.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub timeout: PromDuration,
}

impl From<TargetsArgs> for check::targets::Options {
    fn from(args: TargetsArgs) -> Self {
        Self {
            config: args.config,
            job: args.job,
            compat: args.compat,
            timeout: args.timeout.as_std(),
        }
    }
}

/// `promshard check config` flags.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Config files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `promshard check monitors` flags.
#[derive(Debug, clap::Args)]
pub struct MonitorsArgs {
    /// Manifest files, or directories read recursively (*.yaml, *.yml,
    /// *.json): the monitors, the Secrets, ConfigMaps and Namespaces they
    /// use, and optionally the Prometheus resource whose selectors apply.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The Prometheus resource to follow when several are given (without
    /// any, every resource in every namespace is selected).
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = super::coordinator::parse_object_name)]
    pub prometheus: Option<(String, String)>,
    /// Print credentials from Secrets instead of `<secret>`.
    #[arg(long)]
    pub show_secrets: bool,
}

impl From<MonitorsArgs> for check::monitors::Options {
    fn from(args: MonitorsArgs) -> Self {
        Self {
            paths: args.paths,
            prometheus: args.prometheus,
            show_secrets: args.show_secrets,
        }
    }
}
