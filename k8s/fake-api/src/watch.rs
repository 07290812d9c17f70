//! Watch streams: replay of the change history from a resourceVersion, then
//! live changes, bookmarks and 410 Gone, one JSON event per line.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::selector::{FieldSelector, LabelSelector};
use crate::status::Failure;
use crate::store::{Change, ResourceType, metadata_mut};
use crate::{Shared, Signal};

/// What one watch request asked for.
#[derive(Debug)]
pub(crate) struct WatchRequest {
    pub(crate) resource: ResourceType,
    pub(crate) namespace: Option<String>,
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
    pub(crate) bookmarks: bool,
    pub(crate) partial_metadata: bool,
    pub(crate) deadline: Option<Instant>,
    /// `resourceVersion`; empty or `0` start with the current state.
    pub(crate) resource_version: String,
    /// `sendInitialEvents=true`: current state first, then a bookmark marking its end.
    pub(crate) send_initial_events: bool,
}

struct Watch {
    shared: Arc<Shared>,
    signal: tokio::sync::watch::Receiver<Signal>,
    request: WatchRequest,
    kind: String,
    cursor: u64,
    seen_bookmarks: u64,
    seen_expiries: u64,
    pending: VecDeque<Bytes>,
    done: bool,
}

/// Starts a watch, or fails the request (a resourceVersion that is not a number).
pub(crate) fn start(
    shared: Arc<Shared>,
    request: WatchRequest,
) -> Result<impl Stream<Item = Bytes> + Send + 'static, Failure> {
    let from = match request.resource_version.as_str() {
        "" | "0" => None,
        text => Some(
            text.parse::<u64>()
                .map_err(|_| Failure::bad_request(format!("invalid resourceVersion {text:?}")))?,
        ),
    };
    // Subscribe before reading the store so no change falls in between.
    let mut signal = shared.signal.subscribe();
    let seen = *signal.borrow_and_update();
    let (kind, cursor, pending, done) = {
        let store = shared.store();
        let kind = store
            .kind_of(&request.resource)
            .map(|info| info.kind)
            .unwrap_or_default();
        let mut pending = VecDeque::new();
        let mut done = false;
        let cursor = match from {
            Some(from) if from < store.oldest_resumable() => {
                pending.push_back(gone_line(from, store.oldest_resumable()));
                done = true;
                from
            }
            Some(from) if !request.send_initial_events => from,
            _ => {
                for (_, object) in store.list(&request.resource, request.namespace.as_deref()) {
                    if request.labels.matches(object) && request.fields.matches(object) {
                        pending.push_back(event_line(
                            "ADDED",
                            object.clone(),
                            request.partial_metadata,
                        ));
                    }
                }
                let cursor = store.resource_version();
                if request.send_initial_events && request.bookmarks {
                    pending.push_back(bookmark_line(
                        &request,
                        &kind,
                        cursor,
                        json!({"k8s.io/initial-events-end": "true"}),
                    ));
                }
                cursor
            }
        };
        (kind, cursor, pending, done)
    };
    let watch = Watch {
        shared,
        signal,
        request,
        kind,
        cursor,
        seen_bookmarks: seen.bookmarks,
        seen_expiries: seen.expiries,
        pending,
        done,
    };
    Ok(futures_util::stream::unfold(
        watch,
        |mut watch| async move { watch.next_line().await.map(|line| (line, watch)) },
    ))
}

impl Watch {
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some(line);
            }
            if self.done {
                return None;
            }
            let signal = *self.signal.borrow_and_update();
            if signal.closed {
                return None;
            }
            if signal.expiries != self.seen_expiries {
                self.seen_expiries = signal.expiries;
                let oldest = self.shared.store().oldest_resumable();
                self.pending.push_back(gone_line(self.cursor, oldest));
                self.done = true;
                continue;
            }
            self.collect_changes();
            if signal.bookmarks != self.seen_bookmarks {
                self.seen_bookmarks = signal.bookmarks;
                if self.request.bookmarks && !self.done {
                    self.pending.push_back(bookmark_line(
                        &self.request,
                        &self.kind,
                        self.cursor,
                        json!({}),
                    ));
                }
            }
            if !self.pending.is_empty() || self.done {
                continue;
            }
            let changed = self.signal.changed();
            match self.request.deadline {
                Some(deadline) => {
                    tokio::select! {
                        result = changed => if result.is_err() { return None },
                        () = tokio::time::sleep_until(deadline) => return None,
                    }
                }
                None => {
                    if changed.await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    fn collect_changes(&mut self) {
        let store = self.shared.store();
        let Some(changes) = store.changes_since(self.cursor) else {
            self.pending
                .push_back(gone_line(self.cursor, store.oldest_resumable()));
            self.done = true;
            return;
        };
        self.pending
            .extend(changes.filter_map(|change| event_for(&self.request, change)));
        self.cursor = self.cursor.max(store.resource_version());
    }
}

/// The event a watch for `request` sees for `change`: objects moving into
/// or out of the selectors are ADDED or DELETED, as the API server does.
fn event_for(request: &WatchRequest, change: &Change) -> Option<Bytes> {
    if change.resource != request.resource {
        return None;
    }
    if request.namespace.is_some() && change.key.namespace != request.namespace {
        return None;
    }
    let selected =
        |object: &Value| request.labels.matches(object) && request.fields.matches(object);
    let was = change.old.as_ref().is_some_and(selected);
    let partial = request.partial_metadata;
    match &change.new {
        Some(new) => {
            let is = selected(new);
            let event = match (was, is) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return None,
            };
            Some(event_line(event, new.clone(), partial))
        }
        None if was => {
            let mut last = change.old.clone()?;
            if let Some(metadata) = metadata_mut(&mut last) {
                metadata.insert(
                    "resourceVersion".to_owned(),
                    Value::String(change.resource_version.to_string()),
                );
            }
            Some(event_line("DELETED", last, partial))
        }
        None => None,
    }
}

/// `object` as PartialObjectMetadata (`Accept: ...;as=PartialObjectMetadata`).
pub(crate) fn to_partial_metadata(object: &Value) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn line(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn event_line(event: &str, object: Value, partial_metadata: bool) -> Bytes {
    let object = if partial_metadata {
        to_partial_metadata(&object)
    } else {
        object
    };
    line(&json!({"type": event, "object": object}))
}

fn bookmark_line(
    request: &WatchRequest,
    kind: &str,
    resource_version: u64,
    annotations: Value,
) -> Bytes {
    let (api_version, kind) = if request.partial_metadata {
        ("meta.k8s.io/v1".to_owned(), "PartialObjectMetadata")
    } else {
        (request.resource.api_version(), kind)
    };
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if annotations.as_object().is_some_and(|a| !a.is_empty()) {
        metadata["annotations"] = annotations;
    }
    line(&json!({
        "type": "BOOKMARK",
        "object": {"kind": kind, "apiVersion": api_version, "metadata": metadata},
    }))
}

fn gone_line(requested: u64, oldest: u64) -> Bytes {
    let status = Failure::new(
        410,
        format!("too old resource version: {requested} ({oldest})"),
    );
    line(&json!({"type": "ERROR", "object": status.to_json()}))
}
