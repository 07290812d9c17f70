//! Why the operator rejects a resource (`resource_selector.go` and the
//! `validation` package): each check returns the operator's message for the
//! first problem found.

use crate::model::RelabelConfig;
use crate::version::Version;

/// Validates relabel rules (`LabelConfigValidator.Validate`); the message
/// starts with the rule's index.
pub(crate) fn relabel_configs(rules: &[RelabelConfig], version: &Version) -> Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        relabel_config(rule, version).map_err(|e| format!("[{i}]: {e}"))?;
    }
    Ok(())
}

fn relabel_config(rc: &RelabelConfig, version: &Version) -> Result<(), String> {
    let written = if rc.action.is_empty() {
        "replace"
    } else {
        rc.action.as_str()
    };
    let action = written.to_lowercase();
    let is = |names: &[&str]| names.contains(&action.as_str());
    let utf8_names = version.major >= 3;
    let valid_name = |name: &str| {
        if utf8_names {
            !name.is_empty()
        } else {
            is_legacy_label_name(name)
        }
    };

    if is(&["lowercase", "uppercase"]) && !version.at_least("2.36.0") {
        return Err(format!(
            "{written} relabel action is only supported from Prometheus version 2.36.0"
        ));
    }
    if is(&["keepequal", "dropequal"]) && !version.at_least("2.41.0") {
        return Err(format!(
            "{written} relabel action is only supported from Prometheus version 2.41.0"
        ));
    }
    if let Err(e) = promshard_config::relabel::compile_go_regex(&rc.regex) {
        return Err(format!(
            "invalid regex {} for relabel configuration: {e}",
            rc.regex
        ));
    }
    if rc.modulus == 0 && action == "hashmod" {
        return Err("relabel configuration for hashmod requires non-zero modulus".into());
    }
    let needs_target = [
        "replace",
        "hashmod",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    ];
    if is(&needs_target) && rc.target_label.is_empty() {
        return Err(format!(
            "relabel configuration for {written} action needs targetLabel value"
        ));
    }
    if is(&[
        "replace",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
        "hashmod",
    ]) && !valid_name(&rc.target_label)
    {
        return Err(format!(
            "{:?} is invalid 'target_label' for {written} action",
            rc.target_label
        ));
    }
    let default_replacement = |r: &Option<String>| r.as_deref().is_none_or(|r| r == "$1");
    if is(&["lowercase", "uppercase", "keepequal", "dropequal"])
        && !default_replacement(&rc.replacement)
    {
        return Err(format!("'replacement' can not be set for {written} action"));
    }
    if action == "labelmap"
        && let Some(r) = &rc.replacement
        && !valid_name(r)
    {
        return Err(format!(
            "{r:?} is invalid 'replacement' for {written} action"
        ));
    }
    let default_separator = rc.separator.as_deref().is_none_or(|s| s == ";");
    if is(&["keepequal", "dropequal"])
        && ((!rc.regex.is_empty() && rc.regex != "(.*)")
            || rc.modulus != 0
            || !default_separator
            || !default_replacement(&rc.replacement))
    {
        return Err(format!(
            "{written} action requires only 'source_labels' and `target_label`, and no other fields"
        ));
    }
    if is(&["labeldrop", "labelkeep"])
        && (!rc.source_labels.is_empty()
            || !rc.target_label.is_empty()
            || rc.modulus != 0
            || !default_separator
            || !default_replacement(&rc.replacement))
    {
        return Err(format!(
            "{written} action requires only 'regex', and no other fields"
        ));
    }
    Ok(())
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_legacy_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
