//! The object store: JSON objects by resource and key, one global
//! resourceVersion, and a bounded history of changes that watches replay.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value, json};

/// How many changes watches can resume from; older resourceVersions get 410.
const HISTORY_LIMIT: usize = 10_000;

/// A resource type as it appears in URLs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ResourceType {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) plural: String,
}

impl ResourceType {
    pub(crate) fn new(group: &str, version: &str, plural: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
        }
    }

    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods`, `leases.coordination.k8s.io`: how the API server names the
    /// resource in error messages.
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// Where an object lives within its resource type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjectKey {
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
}

/// One change, replayed to watches.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) resource_version: u64,
    pub(crate) resource: ResourceType,
    pub(crate) key: ObjectKey,
    pub(crate) old: Option<Value>,
    /// `None` for a deletion.
    pub(crate) new: Option<Value>,
}

/// Kind and scope of a resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KindInfo {
    pub(crate) kind: String,
    pub(crate) namespaced: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    resource_version: u64,
    objects: BTreeMap<ResourceType, BTreeMap<ObjectKey, Value>>,
    learned_kinds: BTreeMap<ResourceType, KindInfo>,
    history: VecDeque<Change>,
    /// Watches from a resourceVersion below this get 410 Gone.
    oldest_resumable: u64,
    next_uid: u64,
}

impl Store {
    pub(crate) fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub(crate) fn oldest_resumable(&self) -> u64 {
        self.oldest_resumable
    }

    /// Makes every resourceVersion before now too old to watch from.
    pub(crate) fn expire(&mut self) {
        self.oldest_resumable = self.resource_version;
    }

    pub(crate) fn learn_kind(&mut self, resource: &ResourceType, info: KindInfo) {
        self.learned_kinds.insert(resource.clone(), info);
    }

    pub(crate) fn kind_of(&self, resource: &ResourceType) -> Option<KindInfo> {
        self.learned_kinds
            .get(resource)
            .cloned()
            .or_else(|| crate::kinds::known(resource))
    }

    pub(crate) fn get(&self, resource: &ResourceType, key: &ObjectKey) -> Option<&Value> {
        self.objects
            .get(resource)
            .and_then(|objects| objects.get(key))
    }

    /// Objects of `resource` in `namespace` (all namespaces for `None`), in key order.
    pub(crate) fn list<'a>(
        &'a self,
        resource: &ResourceType,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Value)> + 'a {
        self.objects
            .get(resource)
            .into_iter()
            .flat_map(|objects| objects.iter())
            .filter(move |(key, _)| namespace.is_none() || key.namespace.as_deref() == namespace)
    }

    /// Changes after `resource_version`, oldest first, or `None` when some
    /// of them are no longer kept.
    pub(crate) fn changes_since(
        &self,
        resource_version: u64,
    ) -> Option<impl Iterator<Item = &Change>> {
        if resource_version < self.oldest_resumable {
            return None;
        }
        // The history is in resourceVersion order.
        let first = self
            .history
            .partition_point(|change| change.resource_version <= resource_version);
        Some(self.history.range(first..))
    }

    /// Stores `object` under `key`, stamping a new resourceVersion and the
    /// server-owned metadata. `keep_generation` keeps a generation the caller
    /// set (test fixtures); otherwise it counts spec changes like the server.
    pub(crate) fn put(
        &mut self,
        resource: &ResourceType,
        key: &ObjectKey,
        mut object: Value,
        keep_generation: bool,
    ) -> Value {
        self.resource_version += 1;
        let resource_version = self.resource_version;
        let old = self
            .objects
            .get(resource)
            .and_then(|objects| objects.get(key))
            .cloned();
        let spec_unchanged = old
            .as_ref()
            .is_some_and(|old| old.get("spec") == object.get("spec"));
        self.next_uid += 1;
        let fresh_uid = format!("00000000-0000-4000-8000-{:012x}", self.next_uid);
        if let Some(metadata) = metadata_mut(&mut object) {
            stamp(
                metadata,
                key,
                resource_version,
                old.as_ref(),
                keep_generation,
                spec_unchanged,
            );
            metadata
                .entry("uid".to_owned())
                .or_insert(Value::String(fresh_uid));
        }
        self.objects
            .entry(resource.clone())
            .or_default()
            .insert(key.clone(), object.clone());
        self.record(Change {
            resource_version,
            resource: resource.clone(),
            key: key.clone(),
            old,
            new: Some(object.clone()),
        });
        object
    }

    /// Deletes the object under `key`; returns it as last stored, with the
    /// deletion's resourceVersion.
    pub(crate) fn delete(&mut self, resource: &ResourceType, key: &ObjectKey) -> Option<Value> {
        let old = self.objects.get_mut(resource)?.remove(key)?;
        self.resource_version += 1;
        let mut last = old.clone();
        if let Some(metadata) = metadata_mut(&mut last) {
            metadata.insert(
                "resourceVersion".to_owned(),
                Value::String(self.resource_version.to_string()),
            );
        }
        self.record(Change {
            resource_version: self.resource_version,
            resource: resource.clone(),
            key: key.clone(),
            old: Some(old),
            new: None,
        });
        Some(last)
    }

    fn record(&mut self, change: Change) {
        self.history.push_back(change);
        while self.history.len() > HISTORY_LIMIT {
            if let Some(dropped) = self.history.pop_front() {
                self.oldest_resumable = self.oldest_resumable.max(dropped.resource_version);
            }
        }
    }
}

/// Sets the server-owned metadata of a stored object.
fn stamp(
    metadata: &mut Map<String, Value>,
    key: &ObjectKey,
    resource_version: u64,
    old: Option<&Value>,
    keep_generation: bool,
    spec_unchanged: bool,
) {
    metadata.insert("name".to_owned(), Value::String(key.name.clone()));
    match &key.namespace {
        Some(namespace) => {
            metadata.insert("namespace".to_owned(), Value::String(namespace.clone()));
        }
        None => {
            metadata.remove("namespace");
        }
    }
    metadata.insert(
        "resourceVersion".to_owned(),
        Value::String(resource_version.to_string()),
    );
    let old_metadata = old.and_then(|o| o.get("metadata"));
    for field in ["uid", "creationTimestamp"] {
        if let Some(value) = old_metadata.and_then(|m| m.get(field)) {
            metadata.insert(field.to_owned(), value.clone());
        }
    }
    if !metadata.contains_key("creationTimestamp") {
        metadata.insert(
            "creationTimestamp".to_owned(),
            Value::String(now_rfc3339_seconds()),
        );
    }
    if !(keep_generation && metadata.contains_key("generation")) {
        let old_generation = old_metadata
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64);
        let generation = match old_generation {
            Some(generation) if spec_unchanged => generation,
            Some(generation) => generation + 1,
            None => 1,
        };
        metadata.insert("generation".to_owned(), json!(generation));
    }
}

/// `metadata` of `object` as a map, created when missing; `None` when
/// `object` is not a JSON object (requests are checked for that first).
pub(crate) fn metadata_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    let fields = object.as_object_mut()?;
    let metadata = fields
        .entry("metadata".to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    metadata.as_object_mut()
}

/// The object's `metadata.resourceVersion`, if set and not empty.
pub(crate) fn resource_version_of(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty())
}

fn now_rfc3339_seconds() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}
