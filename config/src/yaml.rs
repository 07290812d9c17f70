//! Typed reads from the raw YAML tree, with errors that name the field.
//!
//! The config is kept as a `serde_yaml_ng::Value` (so unknown fields survive
//! into generated configs); the typed view is read from it field by field.
//! Null behaves like Go's yaml.v2: the field takes its zero value.

use serde_yaml_ng::{Mapping, Value};

use crate::duration::PromDuration;

/// A field that could not be read: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
}

pub(crate) type FieldResult<T> = Result<T, FieldError>;

static EMPTY: std::sync::LazyLock<Mapping> = std::sync::LazyLock::new(Mapping::new);

/// A YAML mapping and its path from the document root (for errors).
#[derive(Debug, Clone)]
pub(crate) struct Obj<'a> {
    pub(crate) map: &'a Mapping,
    pub(crate) path: String,
}

pub(crate) fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => untag(&tagged.value),
        other => other,
    }
}

fn kind(value: &Value) -> &'static str {
    match untag(value) {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged value",
    }
}

/// A scalar as text, like yaml.v2 decoding any scalar into a Go string.
pub(crate) fn scalar_string(value: &Value) -> Option<String> {
    match untag(value) {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl<'a> Obj<'a> {
    /// Views `value` as a mapping; null is an empty mapping.
    pub(crate) fn new(value: &'a Value, path: impl Into<String>) -> FieldResult<Self> {
        let path = path.into();
        match untag(value) {
            Value::Mapping(map) => Ok(Self { map, path }),
            Value::Null => Ok(Self { map: &EMPTY, path }),
            other => Err(FieldError {
                field: path,
                message: format!("expected a mapping, found a {}", kind(other)),
            }),
        }
    }

    pub(crate) fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    fn error(&self, key: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: self.field(key),
            message: message.into(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).map(untag)
    }

    /// Each key as a string; `None` for a key that is not a string, which
    /// yaml.v2 rejects.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Option<&'a str>> + 'a {
        self.map.keys().map(|k| untag(k).as_str())
    }

    pub(crate) fn string(&self, key: &str) -> FieldResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => scalar_string(value).map(Some).ok_or_else(|| {
                self.error(key, format!("expected a string, found a {}", kind(value)))
            }),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> FieldResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(false)),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.as_str() {
                // yaml.v2 (YAML 1.1) booleans.
                "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y"
                | "Y" => Ok(Some(true)),
                "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
                | "N" => Ok(Some(false)),
                _ => Err(self.error(key, format!("cannot parse {s:?} as a boolean"))),
            },
            Some(other) => {
                Err(self.error(key, format!("expected a boolean, found a {}", kind(other))))
            }
        }
    }

    pub(crate) fn u64(&self, key: &str) -> FieldResult<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(0)),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.error(key, format!("{n} is not a non-negative integer"))),
            Some(Value::String(s)) => s.parse().map(Some).map_err(|_| {
                self.error(key, format!("cannot parse {s:?} as a non-negative integer"))
            }),
            Some(other) => {
                Err(self.error(key, format!("expected an integer, found a {}", kind(other))))
            }
        }
    }

    pub(crate) fn duration(&self, key: &str) -> FieldResult<Option<PromDuration>> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(Some(PromDuration::default())),
            Some(s) => PromDuration::parse(&s)
                .map(Some)
                .map_err(|e| self.error(key, e.to_string())),
        }
    }

    pub(crate) fn list(&self, key: &str) -> FieldResult<Option<&'a [Value]>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(&[])),
            Some(Value::Sequence(items)) => Ok(Some(items.as_slice())),
            Some(other) => {
                Err(self.error(key, format!("expected a list, found a {}", kind(other))))
            }
        }
    }

    pub(crate) fn string_list(&self, key: &str) -> FieldResult<Option<Vec<String>>> {
        let Some(items) = self.list(key)? else {
            return Ok(None);
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                scalar_string(item).ok_or_else(|| FieldError {
                    field: format!("{}[{i}]", self.field(key)),
                    message: format!("expected a string, found a {}", kind(item)),
                })
            })
            .collect::<FieldResult<Vec<_>>>()
            .map(Some)
    }

    pub(crate) fn obj(&self, key: &str) -> FieldResult<Option<Obj<'a>>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(value) => Obj::new(value, self.field(key)).map(Some),
        }
    }

    /// A mapping of string to string (labels, params with one value).
    pub(crate) fn string_map(&self, key: &str) -> FieldResult<Option<Vec<(String, String)>>> {
        let Some(obj) = self.obj(key)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(obj.map.len());
        for (k, v) in obj.map {
            let name =
                scalar_string(k).ok_or_else(|| obj.error("<key>", "keys must be strings"))?;
            let value = scalar_string(v).ok_or_else(|| {
                obj.error(&name, format!("expected a string, found a {}", kind(v)))
            })?;
            out.push((name, value));
        }
        Ok(Some(out))
    }
}
