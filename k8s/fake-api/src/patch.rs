//! PATCH bodies, by `Content-Type`.
//!
//! JSON patch (RFC 6902) and JSON merge patch (RFC 7386) are the
//! `json-patch` crate's. Strategic merge patch and server-side apply are
//! not in that crate: doing them properly needs each type's merge keys from
//! the OpenAPI schema and field ownership, which this server does not model.
//! They are applied as a merge patch with their `$` directives left out,
//! which is exact as long as no list is merged by key, and the tests rely on
//! no such list.

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
        PatchKind::Merge => {
            json_patch::merge(target, patch);
            Ok(())
        }
        PatchKind::StrategicMerge | PatchKind::Apply => {
            json_patch::merge(target, &without_directives(patch));
            Ok(())
        }
        PatchKind::Json => {
            let operations: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|error| format!("not a JSON patch: {error}"))?;
            json_patch::patch(target, &operations).map_err(|error| format!("JSON patch: {error}"))
        }
    }
}

/// `patch` without strategic-merge directives (`$patch`, `$retainKeys`,
/// `$setElementOrder/...`): they steer list merging, which a merge patch
/// does not do. Lists are replaced whole, so the objects inside them are
/// left as they are.
fn without_directives(patch: &Value) -> Value {
    match patch {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(key, _)| !key.starts_with('$'))
                .map(|(key, value)| (key.clone(), without_directives(value)))
                .collect(),
        ),
        other => other.clone(),
    }
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
        let not_a_patch = json!({"op": "add", "path": "/x", "value": 1});
        assert!(apply(PatchKind::Json, &mut target, &not_a_patch).is_err());
    }

    #[test]
    fn strategic_merge_drops_directives_and_replaces_lists() {
        let mut target = json!({"spec": {"replicas": 1, "ports": [{"port": 80}, {"port": 81}]}});
        apply(
            PatchKind::StrategicMerge,
            &mut target,
            &json!({
                "$retainKeys": ["spec"],
                "spec": {
                    "$patch": "replace",
                    "replicas": 2,
                    "ports": [{"port": 90, "$patch": "merge"}],
                },
            }),
        )
        .unwrap();
        assert_eq!(
            target,
            json!({"spec": {"replicas": 2, "ports": [{"port": 90, "$patch": "merge"}]}})
        );
    }
}
