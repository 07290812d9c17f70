//! PATCH bodies: JSON merge patch (RFC 7386, also used for strategic merge
//! and server-side apply, whose list semantics the tests do not rely on) and
//! JSON patch (RFC 6902).

use serde_json::Value;

/// The patch flavours the API server accepts, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Merge,
    StrategicMerge,
    Json,
    Apply,
}

impl PatchKind {
    pub(crate) fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            "application/json-patch+json" => Some(Self::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies `patch` of `kind` to `target`.
pub(crate) fn apply(kind: PatchKind, target: &mut Value, patch: &Value) -> Result<(), String> {
    match kind {
        PatchKind::Merge | PatchKind::StrategicMerge | PatchKind::Apply => {
            merge(target, patch);
            Ok(())
        }
        PatchKind::Json => json_patch(target, patch),
    }
}

fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target_fields) = target {
        for (key, value) in patch_fields {
            // Strategic-merge directives (`$patch`, `$retainKeys`, ...) steer list
            // merging, which plain merge does not do.
            if key.starts_with('$') {
                continue;
            }
            if value.is_null() {
                target_fields.remove(key);
            } else {
                merge(
                    target_fields.entry(key.clone()).or_insert(Value::Null),
                    value,
                );
            }
        }
    }
}

fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Some(operations) = patch.as_array() else {
        return Err("a JSON patch must be an array of operations".to_owned());
    };
    for operation in operations {
        let op = operation.get("op").and_then(Value::as_str).unwrap_or("");
        let path = operation
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("JSON patch operation {operation} has no path"))?;
        match op {
            "add" => add(target, path, value_of(operation)?)?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(target, path, value_of(operation)?)?;
            }
            "test" => {
                if target.pointer(path) != Some(value_of(operation)?) {
                    return Err(format!("JSON patch test failed at {path}"));
                }
            }
            "move" | "copy" => {
                let from = operation
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("JSON patch {op} without from"))?;
                let value = if op == "move" {
                    remove(target, from)?
                } else {
                    target
                        .pointer(from)
                        .cloned()
                        .ok_or_else(|| format!("JSON patch copy: {from} does not exist"))?
                };
                add(target, path, &value)?;
            }
            other => return Err(format!("unknown JSON patch op {other:?}")),
        }
    }
    Ok(())
}

fn value_of(operation: &Value) -> Result<&Value, String> {
    operation
        .get("value")
        .ok_or_else(|| format!("JSON patch operation {operation} has no value"))
}

fn split_pointer(path: &str) -> Result<(&str, String), String> {
    let Some(index) = path.rfind('/') else {
        return Err(format!("bad JSON pointer {path:?}"));
    };
    let last = path[index + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..index], last))
}

fn add(target: &mut Value, path: &str, value: &Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value.clone();
        return Ok(());
    }
    let (parent_path, last) = split_pointer(path)?;
    let parent = target
        .pointer_mut(parent_path)
        .ok_or_else(|| format!("JSON patch: parent of {path} does not exist"))?;
    match parent {
        Value::Object(fields) => {
            fields.insert(last, value.clone());
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value.clone());
                return Ok(());
            }
            let index: usize = last
                .parse()
                .map_err(|_| format!("JSON patch: bad array index in {path}"))?;
            if index > items.len() {
                return Err(format!("JSON patch: index out of range in {path}"));
            }
            items.insert(index, value.clone());
            Ok(())
        }
        _ => Err(format!("JSON patch: parent of {path} is not a container")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent_path, last) = split_pointer(path)?;
    let parent = target
        .pointer_mut(parent_path)
        .ok_or_else(|| format!("JSON patch: {path} does not exist"))?;
    let removed = match parent {
        Value::Object(fields) => fields.remove(&last),
        Value::Array(items) => last
            .parse::<usize>()
            .ok()
            .filter(|index| *index < items.len())
            .map(|index| items.remove(index)),
        _ => None,
    };
    removed.ok_or_else(|| format!("JSON patch: {path} does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_removes() {
        let mut target = json!({"spec": {"replicas": 1, "keep": true}, "gone": 1});
        apply(
            PatchKind::Merge,
            &mut target,
            &json!({"spec": {"replicas": 3}, "gone": null, "new": "x"}),
        )
        .unwrap();
        assert_eq!(
            target,
            json!({"spec": {"replicas": 3, "keep": true}, "new": "x"})
        );
    }

    #[test]
    fn json_patch_operations() {
        let mut target = json!({"spec": {"replicas": 1, "list": [1, 2]}});
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "remove", "path": "/spec/list/0"},
            {"op": "test", "path": "/spec/replicas", "value": 5},
        ]);
        apply(PatchKind::Json, &mut target, &patch).unwrap();
        assert_eq!(target, json!({"spec": {"replicas": 5, "list": [2, 3]}}));
        let failing = json!([{"op": "test", "path": "/spec/replicas", "value": 1}]);
        assert!(apply(PatchKind::Json, &mut target, &failing).is_err());
    }
}
