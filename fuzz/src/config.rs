//! The checks of the config and relabeling fuzz targets.
//!
//! - Any text as a `prometheus.yml`: loading never panics, and a config
//!   that loads has unique job names and builds its static targets.
//! - Any relabel rules on any label set: compiling and applying never
//!   panic, applying is deterministic, and for rules that only keep or
//!   drop on `__name__` the fast path ([`RelabelRules::keep_name`]) agrees
//!   with applying them.

use arbitrary::Arbitrary;
use promshard_config::relabel::{Action, RelabelConfig, RelabelRules};
use promshard_config::{Config, LabelSet};

/// Loads `data` as a config file; panics on a broken invariant.
pub fn check_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_yaml_str(text, "fuzz/prometheus.yml") else {
        return;
    };
    let mut names: Vec<&str> = config.job_names().collect();
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        count,
        "a loaded config has duplicate job names"
    );
}

/// One relabel rule, as the fuzzer draws it.
#[derive(Debug, Arbitrary)]
pub struct Rule {
    action: u8,
    source_labels: Vec<String>,
    separator: Option<String>,
    regex: Option<String>,
    modulus: u64,
    target_label: String,
    replacement: Option<String>,
}

/// Rules and the label set they are applied to.
#[derive(Debug, Arbitrary)]
pub struct RelabelInput {
    rules: Vec<Rule>,
    labels: Vec<(String, String)>,
}

const ACTIONS: [Action; 11] = [
    Action::Replace,
    Action::Keep,
    Action::Drop,
    Action::KeepEqual,
    Action::DropEqual,
    Action::HashMod,
    Action::LabelMap,
    Action::LabelDrop,
    Action::LabelKeep,
    Action::Lowercase,
    Action::Uppercase,
];

/// Compiles and applies the drawn rules; panics on a broken invariant.
pub fn check_relabel(input: RelabelInput) {
    let configs: Vec<RelabelConfig> = input
        .rules
        .into_iter()
        .map(|rule| {
            let defaults = RelabelConfig::default();
            RelabelConfig {
                source_labels_set: !rule.source_labels.is_empty(),
                regex_set: rule.regex.is_some(),
                source_labels: rule.source_labels,
                separator: rule.separator.unwrap_or(defaults.separator),
                regex: rule.regex.unwrap_or(defaults.regex),
                modulus: rule.modulus,
                target_label: rule.target_label,
                replacement: rule.replacement.unwrap_or(defaults.replacement),
                action: ACTIONS[usize::from(rule.action) % ACTIONS.len()],
            }
        })
        .collect();
    let Ok(rules) = RelabelRules::compile(configs) else {
        return;
    };
    let mut first = LabelSet::from_pairs(input.labels.iter().map(|(n, v)| (n, v)));
    let mut second = first.clone();
    let original = first.clone();
    let kept = rules.process(&mut first);
    assert_eq!(
        kept,
        rules.process(&mut second),
        "relabeling is not deterministic"
    );
    if kept {
        assert_eq!(first, second, "relabeling is not deterministic");
    }
    if rules.is_name_only() {
        let name = original.get_or_empty("__name__");
        assert_eq!(
            rules.keep_name(name),
            kept,
            "the name-only fast path disagrees on {name:?}"
        );
    }
}
