//! One HTTP request: record it, apply injected faults, then serve it the way
//! the API server's generic registry does.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Map, Value, json};

use crate::patch::{self, PatchKind};
use crate::route::{self, Query, Target};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::Failure;
use crate::store::{KindInfo, ObjectKey, ResourceType, Store, metadata_mut, resource_version_of};
use crate::watch::{self, WatchRequest, to_partial_metadata};
use crate::{ApiRequest, Shared};

/// The API server's own limit on request bodies.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub(crate) type ApiBody = UnsyncBoxBody<Bytes, Infallible>;

type Reply = Result<Response<ApiBody>, Failure>;

pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<ApiBody> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let accept = header_text(header::ACCEPT);
    let query = Query::parse(&raw_query);
    let target = route::parse_path(&path);

    let body_bytes = read_body(body).await;
    let parsed_body = match &body_bytes {
        Ok(bytes) if !bytes.is_empty() => parse_body(bytes, &content_type),
        _ => None,
    };
    let (verb, api_group, resource, namespace) = match &target {
        Some(target) => (
            route::verb(&parts.method, target, &query).to_owned(),
            target.resource.group.clone(),
            target.rbac_resource(),
            target.namespace.clone(),
        ),
        None => ("get".to_owned(), String::new(), String::new(), None),
    };
    shared.record(ApiRequest {
        method: parts.method.clone(),
        path: path.clone(),
        query: raw_query,
        body: parsed_body.clone(),
        verb,
        api_group,
        resource,
        namespace,
    });

    if let Some(code) = shared.take_fault(&parts.method, &path) {
        let mut failure = Failure::new(code, format!("injected fault: {code}"));
        if let Some(target) = &target {
            failure = failure.about(
                &target.resource.group,
                &target.resource.plural,
                target.name.as_deref(),
            );
        }
        return failure_response(&failure);
    }
    let body_bytes = match body_bytes {
        Ok(bytes) => bytes,
        Err(failure) => return failure_response(&failure),
    };
    let Some(target) = target else {
        return non_resource(&parts.method, &path);
    };
    let call = Call {
        shared: &shared,
        method: &parts.method,
        target: &target,
        query: &query,
        body: parsed_body,
        body_present: !body_bytes.is_empty(),
        content_type: &content_type,
        partial_metadata: accept.contains("as=PartialObjectMetadata"),
    };
    match call.serve() {
        Ok(response) => response,
        Err(failure) => failure_response(&failure),
    }
}

async fn read_body(mut body: Incoming) -> Result<Bytes, Failure> {
    let mut buffer = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|error| Failure::bad_request(format!("reading request body: {error}")))?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > MAX_BODY_BYTES {
                return Err(Failure::new(
                    413,
                    format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                ));
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buffer))
}

fn parse_body(bytes: &[u8], content_type: &str) -> Option<Value> {
    if content_type.contains("yaml") {
        serde_yaml_ng::from_slice(bytes).ok()
    } else {
        serde_json::from_slice(bytes).ok()
    }
}

fn non_resource(method: &Method, path: &str) -> Response<ApiBody> {
    match (method, path) {
        (&Method::GET, "/version") => json_response(
            StatusCode::OK,
            &json!({
                "major": "1",
                "minor": "37",
                "gitVersion": "v1.37.0",
                "platform": "linux/amd64",
            }),
        ),
        (&Method::GET, "/healthz" | "/livez" | "/readyz") => Response::builder()
            .status(StatusCode::OK)
            .body(full(Bytes::from_static(b"ok")))
            .unwrap_or_default(),
        _ => failure_response(&Failure::new(
            404,
            "the server could not find the requested resource",
        )),
    }
}

struct Call<'a> {
    shared: &'a Arc<Shared>,
    method: &'a Method,
    target: &'a Target,
    query: &'a Query,
    body: Option<Value>,
    body_present: bool,
    content_type: &'a str,
    partial_metadata: bool,
}

impl Call<'_> {
    fn serve(self) -> Reply {
        let named = self.target.name.clone();
        match (self.method, named) {
            (&Method::GET, None) if self.query.flag("watch") => self.watch(),
            (&Method::GET, None) => self.list(),
            (&Method::GET, Some(name)) => self.get(&name),
            (&Method::POST, None) => self.create(),
            (&Method::PUT, Some(name)) => self.update(&name),
            (&Method::PATCH, Some(name)) => self.patch(&name),
            (&Method::DELETE, Some(name)) => self.delete(&name),
            (&Method::DELETE, None) => self.delete_collection(),
            _ => Err(Failure::new(
                405,
                format!(
                    "{} is not supported on {}",
                    self.method,
                    self.target.rbac_resource()
                ),
            )),
        }
    }

    fn resource(&self) -> &ResourceType {
        &self.target.resource
    }

    fn not_found(&self, name: &str) -> Failure {
        Failure::new(
            404,
            format!("{} {name:?} not found", self.resource().qualified()),
        )
        .about(&self.resource().group, &self.resource().plural, Some(name))
    }

    fn conflict(&self, name: &str) -> Failure {
        Failure::new(
            409,
            format!(
                "Operation cannot be fulfilled on {} {name:?}: the object has been modified; \
                 please apply your changes to the latest version and try again",
                self.resource().qualified()
            ),
        )
        .about(&self.resource().group, &self.resource().plural, Some(name))
    }

    fn selectors(&self) -> Result<(LabelSelector, FieldSelector), Failure> {
        let labels = LabelSelector::parse(self.query.get("labelSelector").unwrap_or(""))
            .map_err(Failure::bad_request)?;
        let fields = FieldSelector::parse(self.query.get("fieldSelector").unwrap_or(""))
            .map_err(Failure::bad_request)?;
        Ok((labels, fields))
    }

    /// The request body as a JSON object.
    fn object_body(&self) -> Result<Value, Failure> {
        match &self.body {
            Some(body @ Value::Object(_)) => Ok(body.clone()),
            Some(_) => Err(Failure::bad_request(
                "the request body is not a JSON object",
            )),
            None if self.body_present => {
                Err(Failure::bad_request("the request body is not valid JSON"))
            }
            None => Err(Failure::bad_request("the request needs a body")),
        }
    }

    fn kind_info(&self, store: &Store) -> KindInfo {
        store.kind_of(self.resource()).unwrap_or_else(|| KindInfo {
            kind: String::new(),
            namespaced: self.target.namespace.is_some(),
        })
    }

    fn render(&self, object: &Value) -> Value {
        if self.partial_metadata {
            to_partial_metadata(object)
        } else {
            object.clone()
        }
    }

    fn list(&self) -> Reply {
        let (labels, fields) = self.selectors()?;
        let limit = match self.query.get("limit") {
            Some(text) if !text.is_empty() => text
                .parse::<usize>()
                .map_err(|_| Failure::bad_request(format!("invalid limit {text:?}")))?,
            _ => 0,
        };
        let after = match self.query.get("continue") {
            Some(token) if !token.is_empty() => Some(decode_continue(token)?),
            _ => None,
        };
        let store = self.shared.store();
        let matching: Vec<(&ObjectKey, &Value)> = store
            .list(self.resource(), self.target.namespace.as_deref())
            .filter(|(key, _)| after.as_ref().is_none_or(|after| *key > after))
            .filter(|(_, object)| labels.matches(object) && fields.matches(object))
            .collect();
        let page_len = if limit == 0 {
            matching.len()
        } else {
            limit.min(matching.len())
        };
        let mut metadata = json!({"resourceVersion": store.resource_version().to_string()});
        if page_len < matching.len()
            && let Some((last_key, _)) = matching.get(page_len.wrapping_sub(1))
        {
            metadata["continue"] = json!(encode_continue(last_key));
            metadata["remainingItemCount"] = json!(matching.len() - page_len);
        }
        let items: Vec<Value> = matching[..page_len]
            .iter()
            .map(|(_, object)| {
                let mut item = self.render(object);
                // List items carry no type fields; the list does.
                if !self.partial_metadata
                    && let Some(fields) = item.as_object_mut()
                {
                    fields.remove("apiVersion");
                    fields.remove("kind");
                }
                item
            })
            .collect();
        let (api_version, kind) = if self.partial_metadata {
            (
                "meta.k8s.io/v1".to_owned(),
                "PartialObjectMetadataList".to_owned(),
            )
        } else {
            let kind = self.kind_info(&store).kind;
            (self.resource().api_version(), format!("{kind}List"))
        };
        Ok(json_response(
            StatusCode::OK,
            &json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "items": items}),
        ))
    }

    fn watch(&self) -> Reply {
        let (labels, fields) = self.selectors()?;
        let deadline = match self.query.get("timeoutSeconds") {
            Some(text) if !text.is_empty() => {
                let seconds = text.parse::<u64>().map_err(|_| {
                    Failure::bad_request(format!("invalid timeoutSeconds {text:?}"))
                })?;
                Some(tokio::time::Instant::now() + Duration::from_secs(seconds))
            }
            _ => None,
        };
        let stream = watch::start(
            Arc::clone(self.shared),
            WatchRequest {
                resource: self.resource().clone(),
                namespace: self.target.namespace.clone(),
                labels,
                fields,
                bookmarks: self.query.flag("allowWatchBookmarks"),
                partial_metadata: self.partial_metadata,
                deadline,
                resource_version: self.query.get("resourceVersion").unwrap_or("").to_owned(),
                send_initial_events: self.query.flag("sendInitialEvents"),
            },
        )?;
        let body = StreamBody::new(stream.map(|line| Ok::<_, Infallible>(Frame::data(line))));
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(UnsyncBoxBody::new(body))
            .map_err(|error| Failure::new(500, error.to_string()))
    }

    fn get(&self, name: &str) -> Reply {
        let store = self.shared.store();
        let key = self.target.key(name);
        let object = store
            .get(self.resource(), &key)
            .ok_or_else(|| self.not_found(name))?;
        let body = match self.target.subresource.as_deref() {
            None | Some("status") => self.render(object),
            Some("scale") => scale_of(object),
            Some(other) => return Err(unsupported_subresource(other)),
        };
        Ok(json_response(StatusCode::OK, &body))
    }

    fn create(&self) -> Reply {
        if self.target.subresource.is_some() {
            return Err(Failure::new(405, "creating subresources is not supported"));
        }
        let mut object = self.object_body()?;
        let created = {
            let mut store = self.shared.store();
            let mut info = self.kind_info(&store);
            if info.namespaced && self.target.namespace.is_none() {
                return Err(Failure::new(
                    404,
                    "the server could not find the requested resource",
                ));
            }
            self.check_type(&object, &info)?;
            if info.kind.is_empty()
                && let Some(kind) = object.get("kind").and_then(Value::as_str)
            {
                info.kind = kind.to_owned();
                store.learn_kind(self.resource(), info.clone());
            }
            let body_namespace = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str);
            if body_namespace.is_some_and(|ns| Some(ns) != self.target.namespace.as_deref()) {
                return Err(Failure::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            let name = match object.pointer("/metadata/name").and_then(Value::as_str) {
                Some(name) if !name.is_empty() => name.to_owned(),
                _ => match object
                    .pointer("/metadata/generateName")
                    .and_then(Value::as_str)
                {
                    Some(prefix) if !prefix.is_empty() => {
                        format!("{prefix}{}", generated_suffix(store.resource_version()))
                    }
                    _ => {
                        return Err(Failure::new(
                            422,
                            "metadata.name: Required value: name or generateName is required",
                        )
                        .about(&self.resource().group, &info.kind, None));
                    }
                },
            };
            let key = self.target.key(&name);
            if store.get(self.resource(), &key).is_some() {
                return Err(Failure::new(
                    409,
                    format!("{} {name:?} already exists", self.resource().qualified()),
                )
                .with_reason("AlreadyExists")
                .about(
                    &self.resource().group,
                    &self.resource().plural,
                    Some(&name),
                ));
            }
            if let Some(metadata) = metadata_mut(&mut object) {
                for field in ["resourceVersion", "uid", "creationTimestamp", "generation"] {
                    metadata.remove(field);
                }
            }
            fill_type(&mut object, self.resource(), &info);
            store.put(self.resource(), &key, object, false)
        };
        self.shared.notify_changed();
        Ok(json_response(StatusCode::CREATED, &created))
    }

    fn update(&self, name: &str) -> Reply {
        let body = self.object_body()?;
        let body_name = body.pointer("/metadata/name").and_then(Value::as_str);
        if body_name.is_some_and(|body_name| body_name != name) {
            return Err(Failure::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let key = self.target.key(name);
        let updated = {
            let mut store = self.shared.store();
            let current = store
                .get(self.resource(), &key)
                .cloned()
                .ok_or_else(|| self.not_found(name))?;
            if resource_version_of(&body)
                .is_some_and(|rv| Some(rv) != resource_version_of(&current))
            {
                return Err(self.conflict(name));
            }
            let new = match self.target.subresource.as_deref() {
                None => {
                    let info = self.kind_info(&store);
                    self.check_type(&body, &info)?;
                    let mut new = body;
                    fill_type(&mut new, self.resource(), &info);
                    new
                }
                Some("status") => with_field(&current, "status", body.get("status").cloned()),
                Some("scale") => with_replicas(&current, replicas_of_scale(&body)?),
                Some(other) => return Err(unsupported_subresource(other)),
            };
            let stored = store.put(self.resource(), &key, new, false);
            self.subresource_view(&stored)
        };
        self.shared.notify_changed();
        Ok(json_response(StatusCode::OK, &updated))
    }

    fn patch(&self, name: &str) -> Reply {
        let kind = PatchKind::from_content_type(self.content_type).ok_or_else(|| {
            Failure::new(
                415,
                format!(
                    "the body of the request was in an unknown format: {}",
                    self.content_type
                ),
            )
        })?;
        let patch_body = match &self.body {
            Some(body) => body.clone(),
            None => return Err(Failure::bad_request("the patch is not valid JSON")),
        };
        let key = self.target.key(name);
        let (status, updated) = {
            let mut store = self.shared.store();
            let current = store.get(self.resource(), &key).cloned();
            let (status, new) = match (current, self.target.subresource.as_deref()) {
                (None, None) if kind == PatchKind::Apply => {
                    let info = self.kind_info(&store);
                    let mut new = json!({});
                    patch::apply(kind, &mut new, &patch_body).map_err(Failure::bad_request)?;
                    if let Some(metadata) = metadata_mut(&mut new) {
                        metadata.remove("resourceVersion");
                    }
                    fill_type(&mut new, self.resource(), &info);
                    (StatusCode::CREATED, new)
                }
                (None, _) => return Err(self.not_found(name)),
                (Some(current), None) => {
                    let mut new = current.clone();
                    patch::apply(kind, &mut new, &patch_body).map_err(Failure::bad_request)?;
                    if resource_version_of(&new) != resource_version_of(&current) {
                        return Err(self.conflict(name));
                    }
                    (StatusCode::OK, new)
                }
                (Some(current), Some("status")) => {
                    let mut patched = current.clone();
                    patch::apply(kind, &mut patched, &patch_body).map_err(Failure::bad_request)?;
                    if resource_version_of(&patched) != resource_version_of(&current) {
                        return Err(self.conflict(name));
                    }
                    (
                        StatusCode::OK,
                        with_field(&current, "status", patched.get("status").cloned()),
                    )
                }
                (Some(current), Some("scale")) => {
                    let mut scale = scale_of(&current);
                    patch::apply(kind, &mut scale, &patch_body).map_err(Failure::bad_request)?;
                    if resource_version_of(&scale) != resource_version_of(&current) {
                        return Err(self.conflict(name));
                    }
                    (
                        StatusCode::OK,
                        with_replicas(&current, replicas_of_scale(&scale)?),
                    )
                }
                (Some(_), Some(other)) => return Err(unsupported_subresource(other)),
            };
            let stored = store.put(self.resource(), &key, new, false);
            (status, self.subresource_view(&stored))
        };
        self.shared.notify_changed();
        Ok(json_response(status, &updated))
    }

    fn delete(&self, name: &str) -> Reply {
        let key = self.target.key(name);
        let deleted = {
            let mut store = self.shared.store();
            let current = store
                .get(self.resource(), &key)
                .ok_or_else(|| self.not_found(name))?;
            if let Some(preconditions) = self.body.as_ref().and_then(|b| b.get("preconditions")) {
                let want_rv = preconditions.get("resourceVersion").and_then(Value::as_str);
                let want_uid = preconditions.get("uid").and_then(Value::as_str);
                let have_uid = current.pointer("/metadata/uid").and_then(Value::as_str);
                if want_rv.is_some_and(|rv| Some(rv) != resource_version_of(current))
                    || want_uid.is_some_and(|uid| Some(uid) != have_uid)
                {
                    return Err(self.conflict(name));
                }
            }
            store.delete(self.resource(), &key)
        };
        self.shared.notify_changed();
        match deleted {
            Some(object) => Ok(json_response(StatusCode::OK, &self.render(&object))),
            None => Err(self.not_found(name)),
        }
    }

    fn delete_collection(&self) -> Reply {
        let (labels, fields) = self.selectors()?;
        let (kind, deleted) = {
            let mut store = self.shared.store();
            let keys: Vec<ObjectKey> = store
                .list(self.resource(), self.target.namespace.as_deref())
                .filter(|(_, object)| labels.matches(object) && fields.matches(object))
                .map(|(key, _)| key.clone())
                .collect();
            let deleted: Vec<Value> = keys
                .iter()
                .filter_map(|key| store.delete(self.resource(), key))
                .collect();
            (self.kind_info(&store).kind, deleted)
        };
        self.shared.notify_changed();
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "apiVersion": self.resource().api_version(),
                "kind": format!("{kind}List"),
                "metadata": {"resourceVersion": self.shared.store().resource_version().to_string()},
                "items": deleted,
            }),
        ))
    }

    /// What a write to the target answers with: the Scale for `/scale`,
    /// the object otherwise.
    fn subresource_view(&self, stored: &Value) -> Value {
        match self.target.subresource.as_deref() {
            Some("scale") => scale_of(stored),
            _ => self.render(stored),
        }
    }

    fn check_type(&self, object: &Value, info: &KindInfo) -> Result<(), Failure> {
        let api_version = object.get("apiVersion").and_then(Value::as_str);
        if api_version.is_some_and(|v| v != self.resource().api_version()) {
            return Err(Failure::bad_request(format!(
                "apiVersion {:?} does not match the request path ({})",
                api_version.unwrap_or(""),
                self.resource().api_version()
            )));
        }
        let kind = object.get("kind").and_then(Value::as_str);
        if !info.kind.is_empty() && kind.is_some_and(|k| k != info.kind) {
            return Err(Failure::bad_request(format!(
                "kind {:?} does not match the request path ({})",
                kind.unwrap_or(""),
                info.kind
            )));
        }
        Ok(())
    }
}

/// Sets `apiVersion` and `kind` on an object written by a client, and learns
/// the kind of a resource type the server did not know.
fn fill_type(object: &mut Value, resource: &ResourceType, info: &KindInfo) {
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    fields.insert("apiVersion".to_owned(), json!(resource.api_version()));
    if !info.kind.is_empty() {
        fields.insert("kind".to_owned(), json!(info.kind));
    }
}

fn with_field(object: &Value, field: &str, value: Option<Value>) -> Value {
    let mut new = object.clone();
    if let Some(fields) = new.as_object_mut() {
        match value {
            Some(value) => {
                fields.insert(field.to_owned(), value);
            }
            None => {
                fields.remove(field);
            }
        }
    }
    new
}

fn with_replicas(object: &Value, replicas: i64) -> Value {
    let mut new = object.clone();
    if let Some(fields) = new.as_object_mut() {
        let spec = fields
            .entry("spec".to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(spec) = spec.as_object_mut() {
            spec.insert("replicas".to_owned(), json!(replicas));
        }
    }
    new
}

fn replicas_of_scale(scale: &Value) -> Result<i64, Failure> {
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value
            .as_i64()
            .filter(|replicas| *replicas >= 0)
            .ok_or_else(|| Failure::new(422, format!("spec.replicas: Invalid value: {value}"))),
    }
}

/// The autoscaling/v1 Scale of a workload, as the `scale` subresource serves it.
fn scale_of(object: &Value) -> Value {
    let metadata = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut scale_metadata = Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(value) = metadata.get(field) {
            scale_metadata.insert(field.to_owned(), value.clone());
        }
    }
    let spec_replicas = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let status_replicas = object
        .pointer("/status/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": scale_metadata,
        "spec": {"replicas": spec_replicas},
        "status": {"replicas": status_replicas, "selector": selector},
    })
}

fn unsupported_subresource(subresource: &str) -> Failure {
    Failure::new(
        404,
        format!("the server could not find the requested resource (subresource {subresource:?})"),
    )
}

fn encode_continue(key: &ObjectKey) -> String {
    format!("{}/{}", key.namespace.as_deref().unwrap_or(""), key.name)
}

fn decode_continue(token: &str) -> Result<ObjectKey, Failure> {
    let (namespace, name) = token.split_once('/').ok_or_else(|| {
        Failure::new(410, "the provided continue parameter is too old or invalid")
    })?;
    Ok(ObjectKey {
        namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
        name: name.to_owned(),
    })
}

/// Five characters like the API server's generateName suffix, derived from
/// the resourceVersion so they differ between objects.
fn generated_suffix(seed: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut value = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66;
    (0..5)
        .map(|_| {
            let index = usize::try_from(value % ALPHABET.len() as u64).unwrap_or(0);
            value /= ALPHABET.len() as u64;
            char::from(ALPHABET[index])
        })
        .collect()
}

fn full(bytes: Bytes) -> ApiBody {
    UnsyncBoxBody::new(Full::new(bytes))
}

fn json_response(status: StatusCode, body: &Value) -> Response<ApiBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(Bytes::from(bytes)))
        .unwrap_or_default()
}

fn failure_response(failure: &Failure) -> Response<ApiBody> {
    let status = StatusCode::from_u16(failure.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &failure.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_of_a_statefulset() {
        let sts = json!({
            "metadata": {"name": "s", "namespace": "n", "resourceVersion": "7", "labels": {"x": "y"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "p"}}},
            "status": {"replicas": 2},
        });
        let scale = scale_of(&sts);
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(scale["status"], json!({"replicas": 2, "selector": "app=p"}));
        assert_eq!(scale["metadata"]["resourceVersion"], "7");
        assert!(scale["metadata"].get("labels").is_none());
    }

    #[test]
    fn continue_tokens_round_trip() {
        let key = ObjectKey {
            namespace: Some("ns".into()),
            name: "a".into(),
        };
        assert_eq!(decode_continue(&encode_continue(&key)).unwrap(), key);
        let key = ObjectKey {
            namespace: None,
            name: "node".into(),
        };
        assert_eq!(decode_continue(&encode_continue(&key)).unwrap(), key);
    }

    #[test]
    fn generated_suffixes_differ() {
        assert_ne!(generated_suffix(1), generated_suffix(2));
        assert_eq!(generated_suffix(1).len(), 5);
    }
}
