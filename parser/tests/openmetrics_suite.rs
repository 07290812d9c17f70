//! The OpenMetrics parser test suite, ported: every case's verdict is the
//! validator's (valid or not, and for an invalid body an error that names
//! its line).
//!
//! `testdata/openmetrics/` holds the cases as the upstream suite
//! (`prometheus/OpenMetrics`, `tests/testdata/parsers/`) lays them out: a
//! directory per case with `metrics` and `test.json` (`shouldParse`, and
//! a `comment` citing where the case comes from).
//!
//! - `upstream/`: the suite's own cases whose files could be read, under
//!   their upstream names.
//! - `client_python/`: the cases the suite was generated from, those of
//!   `prometheus/client_python`'s `tests/openmetrics/test_parser.py` (the
//!   bodies of its `test_*` functions, and each of `test_invalid_input`,
//!   named after its comment group and index). They stand for the suite's
//!   cases whose files could not be read: the suite numbers them
//!   differently, so they keep the reference's names rather than guessed
//!   upstream ones.
//!
//! Left out or decided otherwise, and why:
//!
//! - `client_python/help_escaping_3` and `help_escaping_9` (HELP text
//!   `foo\` and `\\"`) are valid to client_python but not to the ABNF,
//!   which the specification says takes precedence: a HELP text is an
//!   `escaped-string`, where a backslash escapes the character after it
//!   and a double quote is written `\"`. Their `test.json` says invalid
//!   and keeps the reference's verdict as `clientPythonShouldParse`.
//! - `upstream/bad_exemplar_complex_chars` has its combining characters
//!   decomposed: the copy that could be read was normalised. The case is
//!   the same (more than 128 code points in fewer than 128 glyphs).
//! - Upstream `bad_counter_values_20` (`a_total 1.1` under a `bad_` name,
//!   from an unmerged upstream change) is left out: the specification
//!   allows any non-negative, non-NaN counter total, and the validator's
//!   own tests accept this one.

// Test helpers outside #[test] fns: a panic there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use promshard_parser::{Format, count, validate};

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/openmetrics")
}

/// Every case under `dir`: its name, body and expected verdict.
fn cases(dir: &Path) -> Vec<(String, Vec<u8>, bool)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let case = entry.unwrap().path();
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(case.join("test.json")).unwrap()).unwrap();
        assert_eq!(meta["type"], "text", "{case:?}");
        let file = meta["file"].as_str().unwrap();
        let body = std::fs::read(case.join(file)).unwrap();
        let valid = meta["shouldParse"].as_bool().unwrap();
        assert!(
            meta["comment"].is_string(),
            "{case:?}: says where it comes from"
        );
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, body, valid));
    }
    out.sort();
    out
}

fn check(dir: &str, expected_cases: usize) {
    let cases = cases(&suite().join(dir));
    assert_eq!(cases.len(), expected_cases, "cases under {dir}");
    let mut wrong = Vec::new();
    for (name, body, valid) in &cases {
        let report = validate(body, Format::OpenMetrics);
        // What is counted does not depend on the spec rules.
        assert_eq!(report.counts, count(body, Format::OpenMetrics), "{name}");
        match (&report.error, valid) {
            (None, true) => {}
            (Some(e), false) => {
                let msg = e.to_string();
                assert!(msg.starts_with("line "), "{name}: {msg}");
            }
            (found, _) => wrong.push(format!("{dir}/{name}: {found:?}")),
        }
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
    // Both verdicts are exercised.
    assert!(cases.iter().any(|c| c.2) && cases.iter().any(|c| !c.2));
}

#[test]
fn upstream_cases() {
    check("upstream", 38);
}

#[test]
fn client_python_cases() {
    check("client_python", 228);
}
