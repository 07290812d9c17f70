//! Request paths and query strings as the API server reads them.

use http::Method;

use crate::store::{ObjectKey, ResourceType};

/// What a resource path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) resource: ResourceType,
    /// From `/namespaces/{ns}/`; `None` for cluster-scoped or all-namespace paths.
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
}

impl Target {
    /// The RBAC resource: plural, with `/subresource`.
    pub(crate) fn rbac_resource(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource.plural),
            None => self.resource.plural.clone(),
        }
    }

    pub(crate) fn key(&self, name: &str) -> ObjectKey {
        ObjectKey {
            namespace: self.namespace.clone(),
            name: name.to_owned(),
        }
    }
}

/// Parses `/api/v1/...` and `/apis/{group}/{version}/...`; `None` for
/// anything else (discovery documents, `/version`, unknown paths).
pub(crate) fn parse_path(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if rest.iter().any(|segment| segment.is_empty()) {
        return None;
    }
    let (namespace, rest) = match rest {
        // `/api/v1/namespaces/{name}/status|finalize` are subresources of a
        // Namespace, not collections inside it.
        ["namespaces", _, "status" | "finalize"] => (None, rest),
        ["namespaces", namespace, tail @ ..] if !tail.is_empty() => {
            (Some((*namespace).to_owned()), tail)
        }
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return None,
    };
    Some(Target {
        resource: ResourceType::new(group, version, plural),
        namespace,
        name: name.map(percent_decode),
        subresource: subresource.map(str::to_owned),
    })
}

/// The RBAC verb of a request on `target`.
pub(crate) fn verb(method: &Method, target: &Target, query: &Query) -> &'static str {
    let named = target.name.is_some();
    match *method {
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD if query.flag("watch") => "watch",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

/// Decoded query parameters, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: &str) -> Self {
        let pairs = raw
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Self { pairs }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter: `true` or `1`.
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

/// Decodes `%XX` escapes and `+` (form encoding, as Go's `url.ParseQuery`).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        index += 1;
                    }
                }
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse_path("/api/v1/namespaces/ns/pods").unwrap();
        assert_eq!(t.resource, ResourceType::new("", "v1", "pods"));
        assert_eq!(t.namespace.as_deref(), Some("ns"));
        assert_eq!(t.name, None);

        let t = parse_path("/apis/apps/v1/namespaces/ns/statefulsets/web/scale").unwrap();
        assert_eq!(t.resource, ResourceType::new("apps", "v1", "statefulsets"));
        assert_eq!(t.name.as_deref(), Some("web"));
        assert_eq!(t.rbac_resource(), "statefulsets/scale");

        let t = parse_path("/api/v1/pods").unwrap();
        assert_eq!(t.namespace, None);

        let t = parse_path("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!(t.resource.plural, "namespaces");
        assert_eq!(t.name.as_deref(), Some("kube-system"));
        assert_eq!(t.namespace, None);

        let t = parse_path("/api/v1/namespaces/x/status").unwrap();
        assert_eq!(t.rbac_resource(), "namespaces/status");

        let t = parse_path("/api/v1/nodes/n1").unwrap();
        assert_eq!((t.namespace, t.name.as_deref()), (None, Some("n1")));

        assert!(parse_path("/version").is_none());
        assert!(parse_path("/apis/apps/v1").is_none());
        assert!(parse_path("/api/v1/namespaces/a/pods/b/c/d").is_none());
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse("labelSelector=app%3Dweb%2Ctier+in+%28a%29&watch=1&x");
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
