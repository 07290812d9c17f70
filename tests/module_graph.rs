//! Keeps the binary's module graph what ARCHITECTURE.md says it is: the
//! sidecar and the coordinator never name each other (what both need lives
//! in `shard_api` and `scrape`), only the binary's `main` and `lib.rs` name
//! the command line (`cli`), and no two top-level modules of `src/` depend
//! on each other, directly or through others.
//!
//! The graph is read from the source: every `crate::<module>` path (also in
//! grouped imports, `crate::{a, b}`), and `super::<module>` in a top-level
//! module's file, outside comments and literals, is an edge from the
//! top-level module of the file to `<module>`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where a top-level module names another: file and line.
type Edges = BTreeMap<(String, String), Vec<String>>;

/// The crate roots: they declare every module and may name any.
const ROOTS: [&str; 2] = ["lib", "main"];

#[test]
fn the_sidecar_and_the_coordinator_never_name_each_other() {
    let edges = module_edges(&src_dir());
    for (from, to) in [("sidecar", "coordinator"), ("coordinator", "sidecar")] {
        let at = edges.get(&(from.to_owned(), to.to_owned()));
        assert!(
            at.is_none(),
            "{from} names {to} (what both need belongs in shard_api or scrape): {at:?}"
        );
    }
}

#[test]
fn only_the_crate_roots_name_the_command_line() {
    let edges = module_edges(&src_dir());
    let naming_cli: Vec<_> = edges
        .iter()
        .filter(|((from, to), _)| to == "cli" && !ROOTS.contains(&from.as_str()))
        .collect();
    assert!(
        naming_cli.is_empty(),
        "cli is the edge: components take settings, not clap types: {naming_cli:?}"
    );
}

#[test]
fn top_level_modules_form_no_cycle() {
    let edges = module_edges(&src_dir());
    if let Some(cycle) = find_cycle(&edges) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                let at = &edges[&(pair[0].clone(), pair[1].clone())];
                format!("{} -> {} ({})", pair[0], pair[1], at[0])
            })
            .collect();
        panic!(
            "import cycle between top-level modules:\n{}",
            steps.join("\n")
        );
    }
}

/// The graph has the edges the code is known to have, so the tests above
/// cannot pass because the scan found nothing.
#[test]
fn the_scan_sees_the_known_dependencies() {
    let edges = module_edges(&src_dir());
    for (from, to) in [
        ("sidecar", "shard_api"),
        ("sidecar", "scrape"),
        ("coordinator", "shard_api"),
        ("coordinator", "scrape"),
        ("cli", "sidecar"),
        ("local", "coordinator"),
    ] {
        assert!(
            edges.contains_key(&(from.to_owned(), to.to_owned())),
            "{from} -> {to} not found in {:?}",
            edges.keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn comments_and_literals_are_not_paths() {
    let modules: BTreeSet<String> = ["cli", "http", "scrape", "sidecar"]
        .map(str::to_owned)
        .into();
    let text = r##"
        // use crate::cli;
        /* crate::cli /* nested */ crate::cli */
        /// [`crate::cli::Cli`]
        let a = "crate::cli \" crate::cli";
        let b = r#"crate::cli"#;
        let c = '"'; let d: &'static str = "x";
        use crate::{http::serve, scrape::{jobs, counting}};
        let e = crate::sidecar::run::start;
        let f = super::cli::Cli;
    "##;
    let named: Vec<&str> = named_modules(text, &["sidecar".to_owned()], &modules)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(named, ["http", "scrape", "sidecar"]);
    // In a top-level module's own file, `super` is the crate root.
    let named: Vec<&str> = named_modules(text, &[], &modules)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(named, ["http", "scrape", "sidecar", "cli"]);
}

#[test]
fn a_cycle_through_a_third_module_is_found() {
    let edge = |a: &str, b: &str| ((a.to_owned(), b.to_owned()), vec![format!("{a}.rs:1")]);
    let acyclic: Edges = [edge("a", "b"), edge("b", "c"), edge("a", "c")].into();
    assert_eq!(find_cycle(&acyclic), None);
    let cyclic: Edges = [edge("a", "b"), edge("b", "c"), edge("c", "a")].into();
    let cycle = find_cycle(&cyclic).expect("a -> b -> c -> a");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module path of a file under `src/`: `sidecar/run.rs` is
/// `["sidecar", "run"]`, `sidecar/mod.rs` is `["sidecar"]`, `lib.rs` is
/// `["lib"]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Edges between top-level modules, with where each is named.
fn module_edges(src: &Path) -> Edges {
    let files = rust_files(src);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_path(f.strip_prefix(src).unwrap())[0].clone())
        .filter(|m| !ROOTS.contains(&m.as_str()))
        .collect();
    assert!(
        modules.contains("sidecar") && modules.contains("coordinator"),
        "not the promshard source tree: {modules:?}"
    );
    let mut edges = Edges::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let path = module_path(relative);
        let from = &path[0];
        let text = std::fs::read_to_string(file).unwrap();
        // `super` of a top-level module's own file is the crate root.
        let parents = &path[..path.len() - 1];
        for (to, line) in named_modules(&text, parents, &modules) {
            if to != from {
                edges
                    .entry((from.clone(), to.to_owned()))
                    .or_default()
                    .push(format!("src/{}:{line}", relative.display()));
            }
        }
    }
    edges
}

/// The top-level modules `text` names, with the line of each mention, in
/// order. `parents` is the module path of the file's parent (empty for a
/// top-level module's own file, whose `super` is the crate root).
fn named_modules<'m>(
    text: &str,
    parents: &[String],
    modules: &'m BTreeSet<String>,
) -> Vec<(&'m str, usize)> {
    let code = code_only(text);
    let mut named = Vec::new();
    let mut record = |name: &str, offset: usize| {
        if let Some(module) = modules.get(name) {
            let line = code[..offset].matches('\n').count() + 1;
            named.push((module.as_str(), line));
        }
    };
    for (offset, _) in code.match_indices("crate::") {
        if is_path_start(&code, offset) {
            let rest = &code[offset + "crate::".len()..];
            for name in first_segments(rest) {
                record(name, offset);
            }
        }
    }
    if parents.is_empty() {
        for (offset, _) in code.match_indices("super::") {
            if is_path_start(&code, offset) {
                let rest = &code[offset + "super::".len()..];
                for name in first_segments(rest) {
                    record(name, offset);
                }
            }
        }
    }
    named
}

/// Whether the match at `offset` starts a path (not `foo_crate::`, not
/// `x::crate::`).
fn is_path_start(code: &str, offset: usize) -> bool {
    code[..offset]
        .chars()
        .next_back()
        .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'))
}

/// The first segment of a path (`sidecar` of `sidecar::run`), or of each
/// path in a group (`http`, `scrape` of `{http::serve, scrape::{jobs}}`).
fn first_segments(rest: &str) -> Vec<&str> {
    let ident_len = |s: &str| {
        s.find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let rest = rest.trim_start();
    let Some(group) = rest.strip_prefix('{') else {
        return vec![&rest[..ident_len(rest)]];
    };
    // Split the group at its top-level commas.
    let mut segments = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                segments.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                segments.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    segments
        .into_iter()
        .map(|segment| {
            let segment = segment.trim_start();
            &segment[..ident_len(segment)]
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// `text` with comments, string and char literals blanked (newlines kept,
/// so that offsets still give line numbers).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    blank(&mut out, '/');
                    blank(&mut out, '*');
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    blank(&mut out, '*');
                    blank(&mut out, '/');
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if c == 'r'
            && matches!(next, Some('"' | '#'))
            && !chars[..i]
                .last()
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"...", r#"..."#, with as many hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let mut k = j + 1;
            while k < chars.len() && !chars[k..].starts_with(&closing) {
                k += 1;
            }
            let end = (k + closing.len()).min(chars.len());
            for &ch in &chars[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            if i < chars.len() {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\''); a lifetime ('a) has no
            // closing quote right after its first character.
            let mut k = i + 1;
            if chars.get(k) == Some(&'\\') {
                k += 2;
            } else {
                k += 1;
            }
            while k < chars.len() && chars[k] != '\'' {
                k += 1;
            }
            let end = (k + 1).min(chars.len());
            for &ch in &chars[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// A cycle in the graph, as the modules along it (first = last), if any.
fn find_cycle(edges: &Edges) -> Option<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        if ROOTS.contains(&from.as_str()) {
            continue;
        }
        graph.entry(from).or_default().push(to);
    }
    // Depth-first search; a module on the current path seen again closes
    // a cycle.
    fn visit<'a>(
        module: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut cycle: Vec<String> = path[start..].iter().map(|m| (*m).to_owned()).collect();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}
