//! `promshard check metrics`: validates a metrics exposition against the
//! specifications (Prometheus text 0.0.4, OpenMetrics 1.0, protobuf) and
//! optionally counts its samples as a Prometheus scrape would.
//!
//! The input is read in chunks and fed to the streaming validator, so memory
//! stays bounded by the longest line (or protobuf message), not the file.
//! Input that starts with the gzip magic bytes (`1f 8b`) is inflated as it
//! is read, in bounded memory too; a corrupt or truncated gzip stream fails
//! the check with the compressed byte where it went wrong.
//!
//! `--format auto` (the default) decides from the first 64 KiB and, for a
//! regular file, its last bytes: binary-looking input is protobuf; text is
//! OpenMetrics when it ends with `# EOF` or shows OpenMetrics-only syntax
//! (`# UNIT`, an exemplar, an OpenMetrics-only type), else Prometheus text.
//! For gzip input it looks at the first 64 KiB inflated only, so a large
//! OpenMetrics body with nothing OpenMetrics-only near its start needs
//! `--format openmetrics`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::process::ExitCode;

use anyhow::Context;
use promshard_parser::{Encoding, Format, ValidationReport, Validator};

const CHUNK: usize = 64 * 1024;

/// The first bytes of a gzip stream (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What to check and how to report it (`promshard check metrics`'s flags).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The exposition format; `None`: guessed from the content.
    pub format: Option<Format>,
    /// Also report the sample count and the largest metric families.
    pub count: bool,
    /// Report as JSON on stdout.
    pub json: bool,
    /// How many families `count` lists.
    pub top: usize,
    /// The file to check; `-` reads stdin.
    pub file: String,
}

fn read_chunk(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut filled = start;
    while filled < start + want {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // What was read stays; the zero padding does not.
                buf.truncate(filled);
                return Err(e);
            }
        }
    }
    buf.truncate(filled);
    Ok(filled - start)
}

fn file_tail(path: &str) -> Option<Vec<u8>> {
    let mut f = File::open(path).ok()?;
    let metadata = f.metadata().ok()?;
    if !metadata.is_file() {
        return None;
    }
    let len = metadata.len();
    let take = len.min(64);
    f.seek(SeekFrom::Start(len - take)).ok()?;
    let mut tail = Vec::new();
    read_chunk(&mut f, &mut tail, usize::try_from(take).ok()?).ok()?;
    Some(tail)
}

/// Up to [`CHUNK`] bytes inflated from `compressed`, the start of a gzip
/// stream, for guessing the format (a stream cut short by the end of
/// `compressed` or corrupt gives what inflated before that).
fn inflate_head(compressed: &[u8]) -> Vec<u8> {
    let mut decoder = flate2::read::MultiGzDecoder::new(compressed);
    let mut head = Vec::with_capacity(CHUNK);
    // A stream that breaks early still shows its start; the error itself is
    // reported by the validation that follows.
    let _ = read_chunk(&mut decoder, &mut head, CHUNK);
    head
}

/// Runs the check.
pub(crate) fn run(args: Options) -> anyhow::Result<ExitCode> {
    let (mut input, name): (Box<dyn Read>, String) = if args.file == "-" {
        (Box::new(io::stdin().lock()), "<stdin>".to_owned())
    } else {
        let f = File::open(&args.file).with_context(|| format!("cannot open {}", args.file))?;
        (Box::new(f), args.file.clone())
    };
    let mut head = Vec::with_capacity(CHUNK);
    read_chunk(&mut input, &mut head, CHUNK).with_context(|| format!("cannot read {name}"))?;
    let gzip = head.starts_with(&GZIP_MAGIC);
    let format = match args.format {
        Some(format) => format,
        None if gzip => Format::sniff(&inflate_head(&head), None),
        None => {
            let tail = if args.file == "-" {
                None
            } else {
                file_tail(&args.file)
            };
            Format::sniff(&head, tail.as_deref())
        }
    };
    let mut validator = if gzip {
        Validator::with_encoding(format, Encoding::Gzip)
    } else {
        Validator::new(format)
    };
    validator.feed(&head);
    let mut read = head.len() as u64;
    let mut buf = head;
    loop {
        buf.clear();
        let n = read_chunk(&mut input, &mut buf, CHUNK)
            .with_context(|| format!("cannot read {name}"))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        validator.feed(&buf);
    }
    let report = validator.finish();
    let input = Input {
        name: &name,
        format,
        gzip_bytes: gzip.then_some(read),
    };
    print_report(&args, &input, &report)?;
    Ok(if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What was checked.
struct Input<'a> {
    name: &'a str,
    format: Format,
    /// The compressed size, for gzip input.
    gzip_bytes: Option<u64>,
}

fn print_report(
    args: &Options,
    input: &Input<'_>,
    report: &ValidationReport,
) -> anyhow::Result<()> {
    let (name, format) = (input.name, input.format);
    let counts = &report.counts;
    let top = counts.top_families(args.top);
    let mut out = io::stdout().lock();
    let gzip = input.gzip_bytes.is_some();
    if args.json {
        let mut v = serde_json::json!({
            "file": name,
            "format": format.as_str(),
            "encoding": if gzip { "gzip" } else { "identity" },
            "valid": report.is_valid(),
            "error": report.error.as_ref().map(ToString::to_string),
        });
        if args.count {
            v["samples"] = serde_json::json!(counts.samples);
            v["bytes"] = serde_json::json!(counts.bytes);
            if let Some(compressed) = input.gzip_bytes {
                v["compressed_bytes"] = serde_json::json!(compressed);
            }
            v["families"] = serde_json::json!(counts.family_count());
            v["top_families"] = top
                .iter()
                .map(|(n, c)| serde_json::json!({ "family": n, "samples": c }))
                .collect();
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let note = if gzip { " (gzip)" } else { "" };
    match &report.error {
        None => writeln!(out, "{name}: valid {}{note}", format.as_str())?,
        Some(e) => writeln!(io::stderr(), "{name}{note}: {e}")?,
    }
    if args.count {
        writeln!(out, "samples: {}", counts.samples)?;
        writeln!(out, "families: {}", counts.family_count())?;
        let width = top.iter().map(|(n, _)| n.len()).max().unwrap_or(6).max(6);
        writeln!(out, "{:<width$}  {:>10}", "family", "samples")?;
        for (n, c) in &top {
            writeln!(out, "{n:<width$}  {c:>10}")?;
        }
    }
    Ok(())
}
