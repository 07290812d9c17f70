//! The generated configuration as an ordered tree whose secret values are
//! typed: [`Node`] prints them as `<secret>` in `Debug`, and the caller
//! chooses between the operator's inline values ([`Node::to_value`]) and a
//! redacted copy for logs and reports ([`Node::to_redacted_value`]).

use promshard_config::Secret;
use serde_yaml_ng::{Mapping, Number, Value};

/// A YAML value in the order the operator writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A value read from a Secret.
    Secret(Secret),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in insertion order.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// An empty mapping to push into.
    pub fn map() -> Self {
        Self::Map(Vec::new())
    }

    /// A string node.
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    /// A sequence of strings.
    pub fn strs<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Self {
        Self::Seq(items.into_iter().map(|s| Self::str(s.as_ref())).collect())
    }

    /// Appends `key: value` to a mapping (no-op on other nodes).
    pub fn push(&mut self, key: &str, value: Node) {
        if let Self::Map(items) = self {
            items.push((key.to_owned(), value));
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Self::Map(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, when this is a string node.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// True for an empty mapping or sequence.
    pub fn is_empty_collection(&self) -> bool {
        matches!(self, Self::Map(m) if m.is_empty()) || matches!(self, Self::Seq(s) if s.is_empty())
    }

    /// The YAML value the operator writes, secret values inline.
    pub fn to_value(&self) -> Value {
        self.convert(false)
    }

    /// The same value with every secret replaced by `<secret>`.
    pub fn to_redacted_value(&self) -> Value {
        self.convert(true)
    }

    fn convert(&self, redact: bool) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(i) => Value::Number(Number::from(*i)),
            Self::UInt(u) => Value::Number(Number::from(*u)),
            Self::Float(f) => Value::Number(Number::from(*f)),
            Self::Str(s) => Value::String(s.clone()),
            Self::Secret(s) if redact => Value::String(s.to_string()),
            Self::Secret(s) => Value::String(s.expose().to_owned()),
            Self::Seq(items) => Value::Sequence(items.iter().map(|n| n.convert(redact)).collect()),
            Self::Map(items) => {
                let mut map = Mapping::with_capacity(items.len());
                for (k, v) in items {
                    map.insert(Value::String(k.clone()), v.convert(redact));
                }
                Value::Mapping(map)
            }
        }
    }
}

impl From<bool> for Node {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<u64> for Node {
    fn from(u: u64) -> Self {
        Self::UInt(u)
    }
}

impl From<&str> for Node {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Node {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

/// A mapping node from `(key, value)` pairs.
pub fn map<const N: usize>(items: [(&str, Node); N]) -> Node {
    Node::Map(items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}
