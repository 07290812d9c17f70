//! The command line as a user meets it: the real binary, its exit codes and
//! its messages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::process::Command;

fn promshard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_promshard"))
        .args(args)
        .output()
        .expect("the promshard binary runs")
}

#[test]
fn version_names_the_crate_version() {
    let out = promshard(&["--version"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!("promshard {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_subcommand_documents_each_flag_in_one_line() {
    for sub in [
        &["sidecar"][..],
        &["coordinator"],
        &["local"],
        &["check"],
        &["check", "metrics"],
        &["check", "targets"],
        &["check", "config"],
        &["check", "monitors"],
    ] {
        let mut args = sub.to_vec();
        args.push("--help");
        let out = promshard(&args);
        assert!(out.status.success(), "{sub:?} --help failed");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Usage: promshard"), "{sub:?}: {help}");
        // The coordinator has many flags (planning, Kubernetes, leader
        // election); what keeps `--help` readable is that each one is a single
        // described line, with the details in the docs.
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let flag = line.trim_start();
            // clap indents flags by at most 6 columns; wrapped text is deeper.
            if line.len() - flag.len() > 6 {
                continue;
            }
            let is_flag =
                flag.starts_with("--") || (flag.starts_with('-') && flag.get(2..4) == Some(", "));
            if !is_flag {
                continue;
            }
            let described_inline = flag.contains("  ");
            let described_below = lines
                .get(i + 1)
                .is_some_and(|next| next.starts_with("          ") && !next.trim().is_empty());
            assert!(
                described_inline || described_below,
                "{sub:?}: undocumented flag {flag:?}"
            );
        }
        let flags = lines
            .iter()
            .filter(|l| {
                let t = l.trim_start();
                t.starts_with('-') && l.len() - t.len() <= 6
            })
            .count();
        assert!(
            lines.len() <= 2 * flags + 20,
            "{sub:?} --help has flags with multi-line descriptions:\n{help}"
        );
    }
}
