//! `promtool check service-discovery` output, reproduced.
//!
//! promtool prints, per discovered target, `{"discoveredLabels": ...,
//! "labels": ...}` (labels empty when relabeling dropped the target), plus
//! `"error": {}` for targets it rejects (Go marshals the error value as an
//! empty object), deduplicating identical results of the same source. The
//! JSON is written the way Go's `json.MarshalIndent(v, "", "  ")` writes it.

use crate::config::ScrapeConfig;
use crate::labels::LabelSet;
use crate::target::{Compat, Populated, populate_labels};
use crate::target_group::TargetGroup;

/// One entry of promtool's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdCheckResult {
    /// Labels before relabeling (empty for rejected targets).
    pub discovered_labels: LabelSet,
    /// Final labels (empty for dropped and rejected targets).
    pub labels: LabelSet,
    /// Why the target was rejected; printed as `{}` like promtool does.
    pub error: Option<String>,
}

/// promtool's results for `groups` of `job`: targets in group order, groups
/// of the same source deduplicated together.
pub fn sd_check(job: &ScrapeConfig, groups: &[TargetGroup], compat: Compat) -> Vec<SdCheckResult> {
    let mut sources: Vec<&str> = Vec::new();
    for g in groups {
        if !sources.contains(&g.source.as_str()) {
            sources.push(&g.source);
        }
    }
    let mut out = Vec::new();
    for source in sources {
        let mut per_source: Vec<SdCheckResult> = Vec::new();
        for group in groups.iter().filter(|g| g.source == source) {
            for index in 0..group.targets.len() {
                let Some(labels) = group.target_labels(index) else {
                    continue;
                };
                let result = match populate_labels(labels, job, compat) {
                    Populated::Target { labels, discovered } => SdCheckResult {
                        discovered_labels: discovered,
                        labels,
                        error: None,
                    },
                    Populated::Dropped(discovered) => SdCheckResult {
                        discovered_labels: discovered,
                        labels: LabelSet::new(),
                        error: None,
                    },
                    Populated::Error(message) => SdCheckResult {
                        discovered_labels: LabelSet::new(),
                        labels: LabelSet::new(),
                        error: Some(message),
                    },
                };
                if !per_source.contains(&result) {
                    per_source.push(result);
                }
            }
        }
        out.extend(per_source);
    }
    out
}

/// Writes a string as Go's `encoding/json` does (HTML-safe escapes).
fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)))
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn go_labels(labels: &LabelSet, indent: &str, out: &mut String) {
    if labels.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (i, (name, value)) in labels.iter().enumerate() {
        out.push_str(indent);
        out.push_str("  ");
        go_string(name, out);
        out.push_str(": ");
        go_string(value, out);
        if i + 1 < labels.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str(indent);
    out.push('}');
}

/// The results as promtool prints them (no trailing newline).
pub fn to_promtool_json(results: &[SdCheckResult]) -> String {
    if results.is_empty() {
        return "[]".into();
    }
    let mut out = String::from("[\n");
    for (i, r) in results.iter().enumerate() {
        out.push_str("  {\n    \"discoveredLabels\": ");
        go_labels(&r.discovered_labels, "    ", &mut out);
        out.push_str(",\n    \"labels\": ");
        go_labels(&r.labels, "    ", &mut out);
        if r.error.is_some() {
            out.push_str(",\n    \"error\": {}");
        }
        out.push_str("\n  }");
        if i + 1 < results.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn group(source: &str, addresses: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            source: source.to_owned(),
            targets: addresses
                .iter()
                .map(|a| LabelSet::from_pairs([("__address__", *a)]))
                .collect(),
            labels: LabelSet::from_pairs(labels.iter().copied()),
        }
    }

    /// As promtool's `getSDCheckResult`: a result is printed once per
    /// source however many targets of the source give it (groups of one
    /// source are compared together, wherever they come in the list), and
    /// again for another source that gives it too; kept, dropped and
    /// rejected targets alike.
    #[test]
    fn identical_results_once_per_source() {
        let config = Config::from_yaml_str(
            "scrape_configs:\n- job_name: j\n  relabel_configs:\n  - source_labels: [__address__]\n    regex: 'a.*'\n    action: drop\n",
            "prometheus.yml",
        )
        .unwrap();
        let job = config.job("j").unwrap();
        let groups = [
            group("0", &["a:1", "a:1", "b:1", "x/y", "b:1", "x/y"], &[]),
            group("1", &["a:1", "b:1"], &[("x", "y")]),
            group("0", &["a:1", "b:1", "c:1"], &[]),
            group("2", &["a:1", "b:1"], &[]),
        ];
        let results = sd_check(job, &groups, Compat::Prometheus2);
        let summary: Vec<(String, Option<String>, bool)> = results
            .iter()
            .map(|r| {
                (
                    r.discovered_labels.get_or_empty("__address__").to_owned()
                        + r.discovered_labels.get_or_empty("x"),
                    r.labels.get("__address__").map(str::to_owned),
                    r.error.is_some(),
                )
            })
            .collect();
        let kept = |a: &str| Some(a.to_owned());
        assert_eq!(
            summary,
            [
                // Source "0", both of its groups.
                ("a:1".into(), None, false),
                ("b:1".into(), kept("b:1"), false),
                (String::new(), None, true),
                ("c:1".into(), kept("c:1"), false),
                // Source "1": its own labels.
                ("a:1y".into(), None, false),
                ("b:1y".into(), kept("b:1"), false),
                // Source "2": the same results as source "0", again.
                ("a:1".into(), None, false),
                ("b:1".into(), kept("b:1"), false),
            ]
        );
        assert_eq!(results[0], results[6]);
    }
}
