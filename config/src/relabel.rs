//! The relabel engine: `relabel_configs` and `metric_relabel_configs`.
//!
//! Rules are validated and compiled once ([`RelabelRules::compile`]) and then
//! applied in place to a [`LabelSet`] ([`RelabelRules::process`]), with the
//! semantics of Prometheus's `model/relabel`: regexes anchored and matched
//! like Go's RE2 (`\d \w \s \b` ASCII), `$1`/`${1}`/`${name}` expanded like
//! Go's `regexp.Expand`, hashmod on the last 8 bytes of the MD5 digest, an
//! invalid target label produced by a replacement skips the rule.
//!
//! ```
//! use promshard_config::{LabelSet, RelabelConfig, RelabelRules, relabel::Action};
//! let rules = RelabelRules::compile(vec![RelabelConfig {
//!     source_labels: vec!["__name__".into()],
//!     regex: "go_.*".into(),
//!     action: Action::Drop,
//!     ..RelabelConfig::default()
//! }])?;
//! let mut sample = LabelSet::from_pairs([("__name__", "go_goroutines")]);
//! assert!(!rules.process(&mut sample));
//! assert!(rules.keep_name("up"));
//! # Ok::<(), promshard_config::relabel::RelabelError>(())
//! ```

use std::fmt::{self, Write as _};

use md5::{Digest, Md5};
use regex::Regex;
use serde_yaml_ng::Value;

use crate::labels::{LabelSet, is_valid_label_name};
use crate::yaml::{FieldError, Obj};

/// A relabel action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Set `target_label` to the expanded `replacement` when `regex` matches.
    #[default]
    Replace,
    /// Drop the label set unless `regex` matches.
    Keep,
    /// Drop the label set when `regex` matches.
    Drop,
    /// Drop unless the source value equals `target_label`'s value.
    KeepEqual,
    /// Drop when the source value equals `target_label`'s value.
    DropEqual,
    /// Set `target_label` to md5(source) mod `modulus`.
    HashMod,
    /// Copy labels whose name matches to the expanded `replacement` name.
    LabelMap,
    /// Remove labels whose name matches.
    LabelDrop,
    /// Remove labels whose name does not match.
    LabelKeep,
    /// Set `target_label` to the lowercased source value.
    Lowercase,
    /// Set `target_label` to the uppercased source value.
    Uppercase,
}

impl Action {
    /// Parses an action name, case-insensitively like Prometheus.
    pub fn parse(s: &str) -> Result<Self, RelabelError> {
        Ok(match s.to_lowercase().as_str() {
            "replace" => Self::Replace,
            "keep" => Self::Keep,
            "drop" => Self::Drop,
            "keepequal" => Self::KeepEqual,
            "dropequal" => Self::DropEqual,
            "hashmod" => Self::HashMod,
            "labelmap" => Self::LabelMap,
            "labeldrop" => Self::LabelDrop,
            "labelkeep" => Self::LabelKeep,
            "lowercase" => Self::Lowercase,
            "uppercase" => Self::Uppercase,
            _ => {
                return Err(RelabelError::Invalid(format!(
                    "unknown relabel action {s:?}"
                )));
            }
        })
    }

    /// The name Prometheus prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Keep => "keep",
            Self::Drop => "drop",
            Self::KeepEqual => "keepequal",
            Self::DropEqual => "dropequal",
            Self::HashMod => "hashmod",
            Self::LabelMap => "labelmap",
            Self::LabelDrop => "labeldrop",
            Self::LabelKeep => "labelkeep",
            Self::Lowercase => "lowercase",
            Self::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a relabel rule is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    /// The rule breaks one of Prometheus's validation rules (message as
    /// Prometheus words it).
    #[error("{0}")]
    Invalid(String),
    /// The regex does not compile.
    #[error("invalid regex {regex:?}: {message}")]
    Regex {
        /// The regex as written.
        regex: String,
        /// The compiler's message.
        message: String,
    },
    /// Rule `index` (0-based) of a list is invalid.
    #[error("rule {index}: {source}")]
    Rule {
        /// Position in the list.
        index: usize,
        /// What is wrong with it.
        source: Box<RelabelError>,
    },
}

/// One relabel rule as configured. Defaults are Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator`.
    pub source_labels: Vec<String>,
    /// Joins source values. Default `;`.
    pub separator: String,
    /// Unanchored as written; matched anchored. Default `(.*)`.
    pub regex: String,
    /// Modulus for hashmod.
    pub modulus: u64,
    /// Label written by replace/hashmod/lowercase/uppercase, compared by
    /// keepequal/dropequal.
    pub target_label: String,
    /// Replacement template. Default `$1`.
    pub replacement: String,
    /// The action. Default replace.
    pub action: Action,
    /// Whether `source_labels` was written (labeldrop/labelkeep forbid it).
    #[serde(skip)]
    pub source_labels_set: bool,
    /// Whether `regex` was written (keepequal/dropequal forbid it).
    #[serde(skip)]
    pub regex_set: bool,
}

/// Prometheus's default regex.
pub const DEFAULT_REGEX: &str = "(.*)";

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            separator: ";".into(),
            regex: DEFAULT_REGEX.into(),
            modulus: 0,
            target_label: String::new(),
            replacement: "$1".into(),
            action: Action::Replace,
            source_labels_set: false,
            regex_set: false,
        }
    }
}

impl RelabelConfig {
    /// Reads a rule from its YAML mapping. `path` names it in errors.
    pub(crate) fn from_yaml(value: &Value, path: &str) -> Result<Self, FieldError> {
        if matches!(crate::yaml::untag(value), Value::Null) {
            return Err(FieldError {
                field: path.to_owned(),
                message: "empty or null relabeling rule".into(),
            });
        }
        let obj = Obj::new(value, path)?;
        let mut config = Self::default();
        if let Some(labels) = obj.string_list("source_labels")? {
            for (i, name) in labels.iter().enumerate() {
                if !is_valid_label_name(name) {
                    return Err(FieldError {
                        field: format!("{}[{i}]", obj.field("source_labels")),
                        message: format!("{name:?} is not a valid label name"),
                    });
                }
            }
            config.source_labels = labels;
            config.source_labels_set = true;
        }
        if let Some(v) = obj.string("separator")? {
            config.separator = v;
        }
        if let Some(v) = obj.string("regex")? {
            config.regex = v;
            config.regex_set = true;
        }
        if let Some(v) = obj.u64("modulus")? {
            config.modulus = v;
        }
        if let Some(v) = obj.string("target_label")? {
            config.target_label = v;
        }
        if let Some(v) = obj.string("replacement")? {
            config.replacement = v;
        }
        if let Some(v) = obj.string("action")? {
            config.action = Action::parse(&v).map_err(|e| FieldError {
                field: obj.field("action"),
                message: e.to_string(),
            })?;
        }
        config.validate().map_err(|e| FieldError {
            field: path.to_owned(),
            message: e.to_string(),
        })?;
        Ok(config)
    }

    /// Prometheus's `relabel.Config.Validate`, same messages.
    pub fn validate(&self) -> Result<(), RelabelError> {
        use Action::*;
        let action = self.action;
        let err = |m: String| Err(RelabelError::Invalid(m));
        if self.modulus == 0 && action == HashMod {
            return err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && self.target_label.is_empty()
        {
            return err(format!(
                "relabel configuration for {action} action requires 'target_label' value"
            ));
        }
        let target = &self.target_label;
        if action == Replace && !target.contains('$') && !is_valid_label_name(target) {
            return err(format!(
                "{target:?} is invalid 'target_label' for {action} action"
            ));
        }
        if action == Replace && target.contains('$') && !is_relabel_target(target) {
            return err(format!(
                "{target:?} is invalid 'target_label' for {action} action"
            ));
        }
        if matches!(
            action,
            Lowercase | Uppercase | KeepEqual | DropEqual | HashMod
        ) && !is_valid_label_name(target)
        {
            return err(format!(
                "{target:?} is invalid 'target_label' for {action} action"
            ));
        }
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual)
            && self.replacement != "$1"
        {
            return err(format!("'replacement' can not be set for {action} action"));
        }
        if action == LabelMap && !is_relabel_target(&self.replacement) {
            return err(format!(
                "{:?} is invalid 'replacement' for {action} action",
                self.replacement
            ));
        }
        if matches!(action, KeepEqual | DropEqual)
            && (self.regex_set
                || self.modulus != 0
                || self.separator != ";"
                || self.replacement != "$1")
        {
            return err(format!(
                "{action} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (self.source_labels_set
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != ";"
                || self.replacement != "$1")
        {
            return err(format!(
                "{action} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`: a label name with `$` references.
fn is_relabel_target(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    // Each unit starts with a letter/underscore or a `$` reference; digits may
    // follow any unit. The string must start with a unit.
    let mut i = 0;
    let mut started = false;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            if b.get(i + 1) == Some(&b'{') {
                let start = i + 2;
                let mut j = start;
                while j < b.len() && word(b[j]) {
                    j += 1;
                }
                if j == start || b.get(j) != Some(&b'}') {
                    return false;
                }
                i = j + 1;
            } else {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && word(b[j]) {
                    j += 1;
                }
                if j == start {
                    return false;
                }
                i = j;
            }
            started = true;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            started = true;
            i += 1;
        } else if c.is_ascii_digit() && started {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Compiles `pattern` anchored, with Go RE2's ASCII `\d \w \s \b`.
pub fn compile_go_regex(pattern: &str) -> Result<Regex, RelabelError> {
    let translated = translate_go_classes(pattern);
    Regex::new(&format!("^(?:{translated})$")).map_err(|e| RelabelError::Regex {
        regex: pattern.to_owned(),
        message: e.to_string(),
    })
}

/// Rewrites Perl classes to their ASCII meaning in Go (Rust's are Unicode).
/// Go's `\s` is `[\t\n\f\r ]`: no vertical tab, unlike Rust's ASCII `\s`.
fn translate_go_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some('s') => out.push_str(r"[\t\n\x0C\r\x20]"),
            Some('S') => out.push_str(r"[^\t\n\x0C\r\x20]"),
            Some('b') => out.push_str(r"(?-u:\b)"),
            Some('B') => out.push_str(r"(?-u:\B)"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A parsed `$1`/`${name}` template, with names resolved to group indexes.
#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Group(usize),
}

#[derive(Debug, Clone)]
struct Template {
    pieces: Vec<Piece>,
    /// No `$` references: the template is its literal text.
    literal: Option<String>,
}

impl Template {
    /// Parses like Go's `regexp.Expand`.
    fn parse(template: &str, regex: &Regex) -> Self {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        let mut has_refs = false;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                literal.push('$');
                rest = after;
                continue;
            }
            let Some((name, after)) = extract_name(rest) else {
                // Malformed: `$` is literal text.
                literal.push('$');
                continue;
            };
            rest = after;
            has_refs = true;
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            if let Some(index) = group_number(name) {
                pieces.push(Piece::Group(index));
            } else if let Some(index) = regex.capture_names().position(|n| n == Some(name)) {
                pieces.push(Piece::Group(index));
            }
            // Unknown name: expands to nothing.
        }
        literal.push_str(rest);
        if has_refs {
            if !literal.is_empty() {
                pieces.push(Piece::Literal(literal));
            }
            Self {
                pieces,
                literal: None,
            }
        } else {
            Self {
                pieces: Vec::new(),
                literal: Some(literal),
            }
        }
    }

    fn expand(&self, haystack: &str, groups: &regex::CaptureLocations, out: &mut String) {
        self.expand_with(haystack, |i| groups.get(i), out);
    }

    /// Expands with `group(i)` giving the span of group `i`.
    fn expand_with(
        &self,
        haystack: &str,
        group: impl Fn(usize) -> Option<(usize, usize)>,
        out: &mut String,
    ) {
        out.clear();
        if let Some(literal) = &self.literal {
            out.push_str(literal);
            return;
        }
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Group(i) => {
                    if let Some((start, end)) = group(*i) {
                        out.push_str(&haystack[start..end]);
                    }
                }
            }
        }
    }
}

/// Go's `extract`: a name of letters, digits, `_`, optionally in braces.
fn extract_name(s: &str) -> Option<(&str, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphabetic() || c.is_numeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let mut rest = &body[end..];
    if brace {
        rest = rest.strip_prefix('}')?;
    }
    Some((name, rest))
}

/// A group number as Go reads it: digits only, no leading zero, < 1e8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit())
        || (name.len() > 1 && name.starts_with('0'))
        || name.len() > 8
    {
        return None;
    }
    name.parse().ok()
}

/// One compiled rule.
#[derive(Debug, Clone)]
struct Rule {
    config: RelabelConfig,
    regex: Regex,
    default_regex: bool,
    target: Template,
    replacement: Template,
}

/// A compiled list of relabel rules, applied in order.
#[derive(Debug, Clone, Default)]
pub struct RelabelRules {
    rules: Vec<Rule>,
    /// Every rule is keep/drop on `__name__` alone.
    name_only: bool,
}

impl RelabelRules {
    /// Validates and compiles `configs`. Errors name the rule's index.
    pub fn compile(configs: impl IntoIterator<Item = RelabelConfig>) -> Result<Self, RelabelError> {
        let mut rules = Vec::new();
        for (index, config) in configs.into_iter().enumerate() {
            let wrap = |e: RelabelError| RelabelError::Rule {
                index,
                source: Box::new(e),
            };
            config.validate().map_err(wrap)?;
            let regex = compile_go_regex(&config.regex).map_err(wrap)?;
            let target = Template::parse(&config.target_label, &regex);
            let replacement = Template::parse(&config.replacement, &regex);
            rules.push(Rule {
                default_regex: config.regex == DEFAULT_REGEX,
                config,
                regex,
                target,
                replacement,
            });
        }
        let name_only = rules.iter().all(|r| {
            matches!(r.config.action, Action::Keep | Action::Drop)
                && r.config.source_labels.len() == 1
                && r.config.source_labels[0] == "__name__"
        });
        Ok(Self { rules, name_only })
    }

    /// No rules: every label set is kept unchanged.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The rules as configured.
    pub fn configs(&self) -> impl Iterator<Item = &RelabelConfig> + '_ {
        self.rules.iter().map(|r| &r.config)
    }

    /// True when every rule is a keep or drop on `__name__` alone, so that
    /// [`RelabelRules::keep_name`] decides a sample without building its
    /// label set. Also true for an empty list.
    pub fn is_name_only(&self) -> bool {
        self.name_only
    }

    /// Whether a sample named `name` survives, for name-only rules (see
    /// [`RelabelRules::is_name_only`]). For other rule lists the answer
    /// ignores every rule that is not a keep/drop on `__name__`.
    pub fn keep_name(&self, name: &str) -> bool {
        for rule in &self.rules {
            let c = &rule.config;
            if c.source_labels.len() == 1 && c.source_labels[0] == "__name__" {
                match c.action {
                    Action::Drop if rule.regex.is_match(name) => return false,
                    Action::Keep if !rule.regex.is_match(name) => return false,
                    _ => {}
                }
            }
        }
        true
    }

    /// Applies the rules to `labels` in place. Returns false when the label
    /// set is dropped (its content is then unspecified).
    pub fn process(&self, labels: &mut LabelSet) -> bool {
        for rule in &self.rules {
            if !rule.apply(labels) {
                return false;
            }
        }
        true
    }
}

/// Prometheus's `mutateSampleLabels` before `metric_relabel_configs`: adds
/// the target's public labels (`target_labels`, no `__` names) to a scraped
/// sample's labels. With `honor_labels` the sample's own values win;
/// otherwise the target's win and clashing sample values move to
/// `exported_<name>` (more `exported_` prefixes until the name is free).
pub fn mutate_sample_labels(sample: &mut LabelSet, target_labels: &LabelSet, honor_labels: bool) {
    if honor_labels {
        for (name, value) in target_labels.iter() {
            if !sample.contains(name) {
                sample.set(name, value);
            }
        }
        return;
    }
    // Allocates only for a clash: a sample carrying one of the target's labels.
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for (name, value) in target_labels.iter() {
        let existing = sample.get_or_empty(name);
        if !existing.is_empty() {
            conflicts.push((name.to_owned(), existing.to_owned()));
        }
        sample.set(name, value);
    }
    // Shortest names first, like Prometheus, so renames are deterministic.
    conflicts.sort_by_key(|(name, _)| name.len());
    for (name, value) in &conflicts {
        let mut candidate = name.clone();
        loop {
            candidate.insert_str(0, "exported_");
            // The sample now holds the exposed labels, the target's and the
            // renames so far: a name taken by any of them is not free. A
            // target label set to empty is gone from the sample, but still
            // taken.
            if !sample.contains(&candidate) && !target_labels.contains(&candidate) {
                break;
            }
        }
        sample.set(&candidate, value);
    }
}

fn go_lower_into(s: &str, out: &mut String) {
    out.clear();
    for c in s.chars() {
        let mut mapped = c.to_lowercase();
        match (mapped.next(), mapped.next()) {
            (Some(single), None) => out.push(single),
            // Only U+0130 has a multi-char lowercase; Go's simple mapping gives `i`.
            (Some(first), Some(_)) if c == '\u{130}' => out.push(first),
            _ => out.push(c),
        }
    }
}

fn go_upper_into(s: &str, out: &mut String) {
    out.clear();
    for c in s.chars() {
        let mut mapped = c.to_uppercase();
        match (mapped.next(), mapped.next()) {
            (Some(single), None) => out.push(single),
            // Multi-char full mappings (ß -> SS): Go maps the rune alone, mostly to itself.
            _ => out.push(c),
        }
    }
}

/// Prometheus's hashmod: last 8 bytes of md5, big-endian, mod `modulus`.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail) % modulus.max(1)
}

impl Rule {
    fn apply(&self, labels: &mut LabelSet) -> bool {
        let c = &self.config;
        // Fast paths without copying the source value.
        if c.source_labels.len() == 1 {
            match c.action {
                Action::Drop => {
                    return !self
                        .regex
                        .is_match(labels.get_or_empty(&c.source_labels[0]));
                }
                Action::Keep => {
                    return self
                        .regex
                        .is_match(labels.get_or_empty(&c.source_labels[0]));
                }
                _ => {}
            }
        }
        let mut value = std::mem::take(&mut labels.scratch);
        value.clear();
        for (i, name) in c.source_labels.iter().enumerate() {
            if i > 0 {
                value.push_str(&c.separator);
            }
            value.push_str(labels.get_or_empty(name));
        }
        let keep = self.apply_value(labels, &value);
        labels.scratch = value;
        keep
    }

    fn apply_value(&self, labels: &mut LabelSet, value: &str) -> bool {
        let c = &self.config;
        match c.action {
            Action::Drop => return !self.regex.is_match(value),
            Action::Keep => return self.regex.is_match(value),
            Action::DropEqual => return labels.get_or_empty(&c.target_label) != value,
            Action::KeepEqual => return labels.get_or_empty(&c.target_label) == value,
            Action::Replace => self.replace(labels, value),
            Action::Lowercase | Action::Uppercase => {
                let mut out = std::mem::take(&mut labels.scratch_target);
                if c.action == Action::Lowercase {
                    go_lower_into(value, &mut out);
                } else {
                    go_upper_into(value, &mut out);
                }
                labels.set(&c.target_label, &out);
                labels.scratch_target = out;
            }
            Action::HashMod => {
                let mut out = std::mem::take(&mut labels.scratch_target);
                out.clear();
                // Writing to a String cannot fail.
                let _ = write!(out, "{}", hashmod(value, c.modulus));
                labels.set(&c.target_label, &out);
                labels.scratch_target = out;
            }
            Action::LabelMap => {
                let mut mapped: Vec<(String, String)> = Vec::new();
                let mut groups = self.regex.capture_locations();
                for (name, label_value) in labels.iter() {
                    // The DFA answers "no" cheaply; captures only for matches.
                    if self.regex.is_match(name)
                        && self.regex.captures_read(&mut groups, name).is_some()
                    {
                        let mut new_name = String::new();
                        self.replacement.expand(name, &groups, &mut new_name);
                        mapped.push((new_name, label_value.to_owned()));
                    }
                }
                for (name, label_value) in mapped {
                    labels.set(&name, &label_value);
                }
            }
            Action::LabelDrop => labels.retain(|name, _| !self.regex.is_match(name)),
            Action::LabelKeep => labels.retain(|name, _| self.regex.is_match(name)),
        }
        true
    }

    fn replace(&self, labels: &mut LabelSet, value: &str) {
        // Both templates literal and the default regex: always matches, no expansion needed.
        // `.` does not match a newline: such values take the regex path.
        let whole_match = self.default_regex && !value.contains('\n');
        if whole_match
            && let (Some(target), Some(replacement)) =
                (&self.target.literal, &self.replacement.literal)
        {
            labels.set(target, replacement);
            return;
        }
        let mut target = std::mem::take(&mut labels.scratch_target);
        let mut replacement = std::mem::take(&mut labels.scratch_replacement);
        if whole_match {
            // `(.*)` always matches the whole value: groups 0 and 1 are the value.
            let whole = |i: usize| (i <= 1).then_some((0, value.len()));
            self.target.expand_with(value, whole, &mut target);
            self.replacement.expand_with(value, whole, &mut replacement);
        } else {
            let mut groups = self.regex.capture_locations();
            if self.regex.captures_read(&mut groups, value).is_none() {
                labels.scratch_target = target;
                labels.scratch_replacement = replacement;
                return;
            }
            self.target.expand(value, &groups, &mut target);
            self.replacement.expand(value, &groups, &mut replacement);
        }
        if is_valid_label_name(&target) {
            labels.set(&target, &replacement);
        }
        labels.scratch_target = target;
        labels.scratch_replacement = replacement;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> RelabelConfig {
        let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        RelabelConfig::from_yaml(&value, "r").unwrap()
    }

    fn run(rules: &[&str], input: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        let rules = RelabelRules::compile(rules.iter().map(|r| rule(r))).unwrap();
        let mut labels = LabelSet::from_pairs(input.iter().copied());
        rules.process(&mut labels).then(|| {
            labels
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect()
        })
    }

    fn pairs(p: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            p.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    // Cases from Prometheus's model/relabel/relabel_test.go.
    #[test]
    fn replace_with_groups() {
        assert_eq!(
            run(
                &[
                    "{source_labels: [a], regex: 'f(.*)', target_label: d, separator: ';', replacement: 'ch${1}-ch${1}'}"
                ],
                &[("a", "foo"), ("b", "bar"), ("c", "baz")]
            ),
            pairs(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")])
        );
        assert_eq!(
            run(
                &[
                    "{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, separator: ';', replacement: 'b${1}${2}m'}",
                    "{source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, separator: ';', replacement: '$1$2$2$3'}"
                ],
                &[("a", "foo"), ("b", "bar"), ("c", "baz")]
            ),
            pairs(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")])
        );
    }

    #[test]
    fn no_match_keeps_labels_and_dollar_names_are_greedy() {
        assert_eq!(
            run(
                &["{source_labels: [a], regex: 'f', target_label: d, replacement: x}"],
                &[("a", "foo")]
            ),
            pairs(&[("a", "foo")])
        );
        // `$1x` is the (absent) group named "1x": expands to nothing -> label deleted.
        assert_eq!(
            run(
                &["{source_labels: [a], regex: '(f.*)', target_label: a, replacement: '$1x'}"],
                &[("a", "foo")]
            ),
            pairs(&[])
        );
        assert_eq!(
            run(
                &[
                    "{source_labels: [a], regex: '(?P<n>f.*)', target_label: b, replacement: '${n}-$$-$'}"
                ],
                &[("a", "foo")]
            ),
            pairs(&[("a", "foo"), ("b", "foo-$-$")])
        );
    }

    #[test]
    fn default_regex_does_not_match_newlines() {
        assert_eq!(
            run(
                &[
                    "{source_labels: [a], target_label: b}",
                    "{source_labels: [a], target_label: c, replacement: x}"
                ],
                &[("a", "x\ny")]
            ),
            pairs(&[("a", "x\ny")])
        );
    }

    #[test]
    fn invalid_target_from_replacement_is_skipped() {
        assert_eq!(
            run(
                &["{source_labels: [a], regex: '(.*)', target_label: '${1}', replacement: v}"],
                &[("a", "1bad")]
            ),
            pairs(&[("a", "1bad")])
        );
        assert_eq!(
            run(
                &["{source_labels: [a], regex: '(.*)', target_label: 'x_${1}', replacement: v}"],
                &[("a", "ok")]
            ),
            pairs(&[("a", "ok"), ("x_ok", "v")])
        );
    }

    #[test]
    fn keep_drop_equal() {
        let input = [("a", "foo"), ("b", "foo"), ("c", "bar")];
        assert!(
            run(
                &["{source_labels: [a], target_label: b, action: keepequal}"],
                &input
            )
            .is_some()
        );
        assert!(
            run(
                &["{source_labels: [a], target_label: c, action: keepequal}"],
                &input
            )
            .is_none()
        );
        assert!(
            run(
                &["{source_labels: [a], target_label: b, action: dropequal}"],
                &input
            )
            .is_none()
        );
        assert!(
            run(
                &["{source_labels: [a], target_label: c, action: DropEqual}"],
                &input
            )
            .is_some()
        );
    }

    #[test]
    fn hashmod_matches_prometheus() {
        // "baz" from Prometheus's relabel_test.go; the long value checked with promtool 2.42.
        assert_eq!(
            run(
                &["{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}"],
                &[("a", "foo"), ("b", "bar"), ("c", "baz")]
            ),
            pairs(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")])
        );
        assert_eq!(
            run(
                &["{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}"],
                &[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "foo")]
            ),
            pairs(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")])
        );
        assert_eq!(
            run(
                &["{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}"],
                &[("c", "long-text-with-more-than-eight-bytes")]
            ),
            pairs(&[("c", "long-text-with-more-than-eight-bytes"), ("d", "147")])
        );
    }

    #[test]
    fn labelmap_drop_keep() {
        assert_eq!(
            run(
                &["{regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}"],
                &[
                    ("__meta_my_bar", "aaa"),
                    ("__meta_my_baz", "bbb"),
                    ("__meta_other", "ccc")
                ]
            ),
            pairs(&[
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb")
            ])
        );
        assert_eq!(
            run(
                &["{regex: '(b.*)', action: labeldrop}"],
                &[("a", "1"), ("b1", "2"), ("b2", "3")]
            ),
            pairs(&[("a", "1")])
        );
        assert_eq!(
            run(
                &["{regex: '(b.*)', action: labelkeep}"],
                &[("a", "1"), ("b1", "2"), ("b2", "3")]
            ),
            pairs(&[("b1", "2"), ("b2", "3")])
        );
    }

    #[test]
    fn case_actions() {
        assert_eq!(
            run(
                &[
                    "{source_labels: [foo], target_label: foo_uppercase, action: uppercase}",
                    "{source_labels: [foo], target_label: foo_lowercase, action: lowercase}"
                ],
                &[("foo", "bAr123Foo")]
            ),
            pairs(&[
                ("foo", "bAr123Foo"),
                ("foo_lowercase", "bar123foo"),
                ("foo_uppercase", "BAR123FOO")
            ])
        );
        let mut out = String::new();
        go_upper_into("straße", &mut out);
        assert_eq!(out, "STRAßE");
        go_lower_into("ΣΑΣ", &mut out);
        assert_eq!(out, "σασ");
    }

    #[test]
    fn go_regex_classes_are_ascii() {
        let re = compile_go_regex(r"\d+").unwrap();
        assert!(re.is_match("123"));
        assert!(!re.is_match("١٢٣"));
        let re = compile_go_regex(r"\w+").unwrap();
        assert!(!re.is_match("é"));
        let re = compile_go_regex(r"\s").unwrap();
        assert!(!re.is_match("\u{0B}"));
        assert!(!re.is_match("\u{A0}"));
        let re = compile_go_regex(r"[^\d]x").unwrap();
        assert!(re.is_match("ax"));
        assert!(!re.is_match("1x"));
        let re = compile_go_regex(r"\\d").unwrap();
        assert!(re.is_match("\\d"));
        // Anchored, and the empty regex matches only the empty string.
        assert!(!compile_go_regex("a").unwrap().is_match("ba"));
        assert!(compile_go_regex("").unwrap().is_match(""));
        assert!(!compile_go_regex("").unwrap().is_match("x"));
        assert!(compile_go_regex("a|b").unwrap().is_match("b"));
    }

    #[test]
    fn validation_messages_match_prometheus() {
        let bad = |yaml: &str| {
            let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
            RelabelConfig::from_yaml(&value, "r").unwrap_err().message
        };
        assert_eq!(
            bad("{action: hashmod, target_label: a}"),
            "relabel configuration for hashmod requires non-zero modulus"
        );
        assert_eq!(
            bad("{action: replace}"),
            "relabel configuration for replace action requires 'target_label' value"
        );
        assert_eq!(
            bad("{action: labeldrop, regex: a, source_labels: [a]}"),
            "labeldrop action requires only 'regex', and no other fields"
        );
        assert_eq!(bad("{action: foo}"), "unknown relabel action \"foo\"");
        assert_eq!(
            bad("{action: replace, target_label: '1a'}"),
            "\"1a\" is invalid 'target_label' for replace action"
        );
        assert_eq!(
            bad("{action: lowercase, target_label: a, replacement: x}"),
            "'replacement' can not be set for lowercase action"
        );
        assert_eq!(
            bad("{action: keepequal, target_label: a, regex: x}"),
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields"
        );
        assert_eq!(
            bad("{source_labels: ['a-b'], target_label: a}"),
            "\"a-b\" is not a valid label name"
        );
    }

    #[test]
    fn relabel_target_pattern() {
        // Prometheus's TestTargetLabelValidity, plus a few.
        for ok in [
            "label",
            "label${1}",
            "${1}label",
            "${1}",
            "$1",
            "asd$2asd",
            "_${1}_",
            "foo${bar}foo",
            "a",
            "_a1",
            "a_${1}_b",
            "$a$b",
            "x$1y",
        ] {
            assert!(is_relabel_target(ok), "{ok}");
        }
        for bad in [
            "-label",
            "${",
            "$",
            "${}",
            "foo${",
            "-foo${1}bar-",
            "",
            "1a",
            "a-b",
            "${1",
            "$-",
        ] {
            assert!(!is_relabel_target(bad), "{bad}");
        }
    }

    #[test]
    fn sample_labels_like_prometheus() {
        let target = LabelSet::from_pairs([("instance", "a:1"), ("job", "j")]);
        let mut sample =
            LabelSet::from_pairs([("__name__", "up"), ("job", "exp"), ("exported_job", "x")]);
        mutate_sample_labels(&mut sample, &target, false);
        assert_eq!(
            sample.iter().collect::<Vec<_>>(),
            [
                ("__name__", "up"),
                ("exported_exported_job", "exp"),
                ("exported_job", "x"),
                ("instance", "a:1"),
                ("job", "j")
            ]
        );
        let mut sample = LabelSet::from_pairs([("__name__", "up"), ("job", "exp")]);
        mutate_sample_labels(&mut sample, &target, true);
        assert_eq!(
            sample.iter().collect::<Vec<_>>(),
            [("__name__", "up"), ("instance", "a:1"), ("job", "exp")]
        );
    }

    #[test]
    fn prometheus_issue_12283_labeldrop_then_replace_then_keep() {
        assert_eq!(
            run(
                &[
                    "{regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop}",
                    "{source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: '(.+)', replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}",
                    "{source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', action: keep}",
                ],
                &[
                    ("__meta_kubernetes_pod_container_port_name", "foo"),
                    ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091")
                ]
            ),
            pairs(&[
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                ("__meta_kubernetes_pod_container_port_name", "metrics")
            ])
        );
    }

    #[test]
    fn null_regex_is_the_empty_regex() {
        // yaml.v2 gives a null field its zero value: `regex:` alone is "".
        let rules = [
            "{source_labels: [abc], target_label: cde}",
            "{replacement: static, target_label: abc}",
            "{regex: , replacement: static2, target_label: abc}",
            "{source_labels: [abc], regex: , replacement: never, target_label: x}",
        ];
        assert_eq!(
            run(&rules, &[("abc", "def")]),
            // Checked with promtool 2.42: the empty regex matches the empty value only.
            pairs(&[("abc", "static2"), ("cde", "def")])
        );
    }

    #[test]
    fn target_label_validation_like_prometheus() {
        let err = |yaml: &str| {
            let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
            RelabelConfig::from_yaml(&value, "r")
                .err()
                .map(|e| e.message)
        };
        assert_eq!(
            err("{action: lowercase, target_label: '${3}'}").as_deref(),
            Some("\"${3}\" is invalid 'target_label' for lowercase action")
        );
        assert_eq!(
            err(
                "{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}"
            ),
            None
        );
        assert_eq!(
            err("{source_labels: [a], regex: 'x', target_label: '0${3}'}").as_deref(),
            Some("\"0${3}\" is invalid 'target_label' for replace action")
        );
        assert_eq!(
            err("{source_labels: [a], regex: 'x', target_label: '-${3}'}").as_deref(),
            Some("\"-${3}\" is invalid 'target_label' for replace action")
        );
    }

    #[test]
    fn name_only_fast_path() {
        let rules = RelabelRules::compile([
            rule("{source_labels: [__name__], regex: 'go_.*', action: drop}"),
            rule("{source_labels: [__name__], regex: 'go_.*|up|process_.*', action: keep}"),
        ])
        .unwrap();
        assert!(rules.is_name_only());
        assert!(!rules.keep_name("go_goroutines"));
        assert!(rules.keep_name("up"));
        assert!(!rules.keep_name("node_load1"));
    }
}
