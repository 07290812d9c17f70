//! Label and field selectors as the API server parses them from query strings.

use serde_json::Value;

/// A parsed `labelSelector`: every requirement must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

#[derive(Debug, Clone)]
struct LabelRequirement {
    key: String,
    op: LabelOp,
}

#[derive(Debug, Clone)]
enum LabelOp {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_outside_parens(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_label_term(term)?);
        }
        Ok(Self { requirements })
    }

    /// Whether `object`'s `metadata.labels` satisfy every requirement.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.requirements.iter().all(|requirement| {
            let value = labels
                .and_then(|labels| labels.get(&requirement.key))
                .and_then(Value::as_str);
            match (&requirement.op, value) {
                (LabelOp::Equals(want), Some(have)) => want == have,
                (LabelOp::Equals(_), None) => false,
                (LabelOp::NotEquals(want), Some(have)) => want != have,
                (LabelOp::NotEquals(_), None) => true,
                (LabelOp::In(set), Some(have)) => set.iter().any(|v| v == have),
                (LabelOp::In(_), None) => false,
                (LabelOp::NotIn(set), Some(have)) => !set.iter().any(|v| v == have),
                (LabelOp::NotIn(_), None) => true,
                (LabelOp::Exists, have) => have.is_some(),
                (LabelOp::DoesNotExist, have) => have.is_none(),
            }
        })
    }
}

fn split_outside_parens(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_label_term(term: &str) -> Result<LabelRequirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(LabelRequirement {
            key: checked_key(key.trim(), term)?,
            op: LabelOp::DoesNotExist,
        });
    }
    if let Some(open) = term.find('(') {
        let head: Vec<&str> = term[..open].split_whitespace().collect();
        let Some(close) = term.rfind(')') else {
            return Err(format!("unclosed '(' in label selector term {term:?}"));
        };
        if close < open || !term[close + 1..].trim().is_empty() {
            return Err(format!("bad set in label selector term {term:?}"));
        }
        let values: Vec<String> = term[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        return match head.as_slice() {
            [key, "in"] => Ok(LabelRequirement {
                key: checked_key(key, term)?,
                op: LabelOp::In(values),
            }),
            [key, "notin"] => Ok(LabelRequirement {
                key: checked_key(key, term)?,
                op: LabelOp::NotIn(values),
            }),
            _ => Err(format!(
                "label selector term {term:?}: expected `key in (..)` or `key notin (..)`"
            )),
        };
    }
    if let Some((key, value)) = term.split_once("!=") {
        return Ok(LabelRequirement {
            key: checked_key(key.trim(), term)?,
            op: LabelOp::NotEquals(value.trim().to_owned()),
        });
    }
    if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(LabelRequirement {
            key: checked_key(key.trim(), term)?,
            op: LabelOp::Equals(value.trim().to_owned()),
        });
    }
    if term.contains(['<', '>']) {
        return Err(format!(
            "label selector term {term:?}: numeric comparisons are not supported"
        ));
    }
    Ok(LabelRequirement {
        key: checked_key(term, term)?,
        op: LabelOp::Exists,
    })
}

fn checked_key(key: &str, term: &str) -> Result<String, String> {
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("invalid label key in selector term {term:?}"));
    }
    Ok(key.to_owned())
}

/// A parsed `fieldSelector`: `path=value`, `path==value`, `path!=value`.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

#[derive(Debug, Clone)]
struct FieldRequirement {
    path: Vec<String>,
    value: String,
    equal: bool,
}

impl FieldSelector {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in text.split(',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let (field, value, equal) = if let Some((f, v)) = term.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (f, v, true)
            } else {
                return Err(format!(
                    "field selector term {term:?}: expected `field=value` or `field!=value`"
                ));
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(format!("field selector term {term:?}: empty field"));
            }
            requirements.push(FieldRequirement {
                path: field.split('.').map(str::to_owned).collect(),
                value: value.trim().to_owned(),
                equal,
            });
        }
        Ok(Self { requirements })
    }

    /// Whether every field of `object` compares as required. A missing
    /// field compares as the empty string, as in the API server.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|requirement| {
            let mut node = Some(object);
            for segment in &requirement.path {
                node = node.and_then(|n| n.get(segment));
            }
            let have = match node {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            (have == requirement.value) == requirement.equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "spec": {"nodeName": "n1"}})
    }

    #[test]
    fn label_operators() {
        let object = pod(json!({"app": "web", "tier": "front"}));
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db, web)", true),
            ("app in (db)", false),
            ("app notin (db)", true),
            ("missing notin (db)", true),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("app=web,tier in (front,back),!missing", true),
            ("app=web,tier=back", false),
            ("", true),
        ];
        for (text, want) in cases {
            let selector = LabelSelector::parse(text).unwrap();
            assert_eq!(selector.matches(&object), want, "{text}");
        }
    }

    #[test]
    fn bad_label_selectors_are_errors() {
        for text in ["app in (a", "app foo (a)", "a b", "x>1", "=v"] {
            assert!(LabelSelector::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn field_selectors() {
        let object = pod(json!({}));
        let cases = [
            ("metadata.name=p", true),
            ("metadata.name!=p", false),
            ("metadata.namespace==ns,spec.nodeName=n1", true),
            ("spec.nodeName=n2", false),
            ("status.phase=", true),
        ];
        for (text, want) in cases {
            assert_eq!(
                FieldSelector::parse(text).unwrap().matches(&object),
                want,
                "{text}"
            );
        }
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
