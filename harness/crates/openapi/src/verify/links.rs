//! Links between operations, for the stateful phase: the document's OpenAPI `links`
//! (`$response.body#/...`, `$response.header.X`), else inferred as a reader of the API
//! would: a `Location` header (or, in an answer without one, the body's field) that matches an
//! operation one level below the creating one (`POST /orders` -> `GET /orders/{id}`), and a
//! list's first item's field named like the parameter, else `id` (`GET /products` ->
//! `GET /products/{sku}`). Also what a fetch's answer lacks of its creation's.

use http::{HeaderMap, Method};
use serde_json::Value;

use crate::document::{Location, Operation, StatusKey};

/// Where a link's value comes from in the first operation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// The `Location` header's path, matched against the target's template.
    Location,
    /// A response header (an OpenAPI link's `$response.header.X`).
    Header(String),
    /// A JSON pointer into the body (of the first item, for a list).
    Body(String),
}

/// A value of `from`'s answer used for a path parameter of `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Link {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) param: String,
    pub(super) source: Source,
    /// The link's name in the document (explicit links only).
    pub(super) name: Option<String>,
}

impl Link {
    pub(super) fn via(&self) -> String {
        match (&self.name, &self.source) {
            (Some(n), _) => format!("link {n}"),
            (None, Source::Location) => "Location".to_owned(),
            (None, Source::Header(h)) => format!("header {h}"),
            (None, Source::Body(p)) => format!("body {p}"),
        }
    }
}

fn path_params(op: &Operation) -> Vec<&str> {
    op.parameters
        .iter()
        .filter(|p| p.location == Location::Path)
        .map(|p| p.name.as_str())
        .collect()
}

/// The links between the operations: the document's own, else inferred.
pub(super) fn infer(ops: &[Operation], root: &Value) -> Vec<Link> {
    let mut out = Vec::new();
    for (from, producer) in ops.iter().enumerate() {
        // The document's links.
        if let Some(Value::Object(responses)) =
            root.pointer(&format!("{}/responses", operation_pointer(producer)))
        {
            for response in responses.values() {
                let response = crate::generate::resolve(root, response);
                let Some(Value::Object(named)) = response.get("links") else {
                    continue;
                };
                for (name, link) in named {
                    let link = crate::generate::resolve(root, link);
                    let target = link
                        .get("operationId")
                        .and_then(Value::as_str)
                        .and_then(|id| ops.iter().position(|o| o.id == id));
                    let (Some(to), Some(Value::Object(params))) = (target, link.get("parameters"))
                    else {
                        continue;
                    };
                    for (param, expr) in params {
                        let param = param.rsplit('.').next().unwrap_or(param).to_owned();
                        let source = match expr.as_str() {
                            Some(e) if e.starts_with("$response.body#") => {
                                Source::Body(e.trim_start_matches("$response.body#").to_owned())
                            }
                            Some(e) if e.starts_with("$response.header.") => {
                                Source::Header(e.trim_start_matches("$response.header.").to_owned())
                            }
                            _ => continue,
                        };
                        out.push(Link {
                            from,
                            to,
                            param,
                            source,
                            name: Some(name.clone()),
                        });
                    }
                }
            }
        }
    }
    if !out.is_empty() {
        return out;
    }
    // Inferred: the producer's path is the target's, less one `/{param}` segment and
    // whatever follows it.
    for (from, producer) in ops.iter().enumerate() {
        let creates = matches!(producer.method, Method::POST | Method::PUT);
        let lists = producer.method == Method::GET;
        if !(creates || lists) || !path_params(producer).is_empty() {
            continue;
        }
        for (to, target) in ops.iter().enumerate() {
            let Some(rest) = target
                .path
                .strip_prefix(producer.path.trim_end_matches('/'))
                .and_then(|r| r.strip_prefix("/{"))
            else {
                continue;
            };
            let Some((param, _)) = rest.split_once('}') else {
                continue;
            };
            if path_params(target).first() != Some(&param) {
                continue;
            }
            let documents_location = producer.responses.iter().any(|r| {
                matches!(r.key, StatusKey::Code(200..=299))
                    && r.required_headers.iter().any(|h| h == "location")
            }) || response_headers(root, producer)
                .iter()
                .any(|h| h == "location");
            let source = if creates && documents_location {
                Source::Location
            } else {
                Source::Body(format!("/{param}"))
            };
            out.push(Link {
                from,
                to,
                param: param.to_owned(),
                source,
                name: None,
            });
        }
    }
    out
}

/// The JSON pointer of an operation in its document, e.g. `/paths/~1orders/post`.
pub(super) fn operation_pointer(op: &Operation) -> String {
    let escaped = op.path.replace('~', "~0").replace('/', "~1");
    format!(
        "/paths/{escaped}/{}",
        op.method.as_str().to_ascii_lowercase()
    )
}

/// The header names (lowercased) a producer's 2xx answers document.
fn response_headers(root: &Value, op: &Operation) -> Vec<String> {
    let Some(Value::Object(responses)) =
        root.pointer(&format!("{}/responses", operation_pointer(op)))
    else {
        return Vec::new();
    };
    responses
        .iter()
        .filter(|(k, _)| k.starts_with('2'))
        .filter_map(|(_, r)| crate::generate::resolve(root, r).get("headers"))
        .filter_map(Value::as_object)
        .flat_map(|h| h.keys().map(|k| k.to_ascii_lowercase()))
        .collect()
}

/// The value a link takes from an answer.
pub(super) fn link_value(
    link: &Link,
    target: &Operation,
    base_path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<String> {
    match &link.source {
        Source::Location => {
            // An answer without the header (a replay answered 200, say): the body's field.
            let Some(location) = headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                let by_body = Link {
                    source: Source::Body(format!("/{}", link.param)),
                    ..link.clone()
                };
                return link_value(&by_body, target, base_path, headers, body);
            };
            let path = location
                .split_once("://")
                .map_or(location, |(_, rest)| {
                    rest.find('/').map_or("/", |i| &rest[i..])
                })
                .split('?')
                .next()?;
            let path = path
                .strip_prefix(base_path.trim_end_matches('/'))
                .unwrap_or(path);
            template_value(&target.path, path, &link.param)
                .or_else(|| {
                    // A Location of the resource, the target a sub-resource of it.
                    let head = target.path.split(&format!("{{{}}}", link.param)).next()?;
                    let rest = path.strip_prefix(head)?;
                    Some(rest.split('/').next()?.to_owned())
                })
                .filter(|v| !v.is_empty())
        }
        Source::Header(h) => Some(headers.get(h.as_str())?.to_str().ok()?.to_owned()),
        Source::Body(pointer) => {
            let v: Value = serde_json::from_slice(body).ok()?;
            // The answer's own field, else (a list) its first item's; named like the
            // parameter, else `id`.
            let found = v
                .pointer(pointer)
                .or_else(|| first_item(&v).and_then(|i| i.pointer(pointer)))
                .or_else(|| v.get("id"))
                .or_else(|| first_item(&v).and_then(|i| i.get("id")))?;
            match found {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        }
    }
}

/// The top-level fields (with a value) of a creation's answer that a fetch's answer lacks,
/// `a`, `b`-quoted; None when it has them all or either answer is not a JSON object.
pub(super) fn fields_missing(created: &[u8], fetched: &[u8]) -> Option<String> {
    let (Ok(Value::Object(created)), Ok(Value::Object(fetched))) = (
        serde_json::from_slice::<Value>(created),
        serde_json::from_slice::<Value>(fetched),
    ) else {
        return None;
    };
    let missing: Vec<String> = created
        .iter()
        .filter(|(k, v)| !v.is_null() && !fetched.contains_key(*k))
        .map(|(k, _)| format!("`{k}`"))
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// The first item of a list answer: an array, or an object with one array field.
fn first_item(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(items) => items.first(),
        Value::Object(map) => {
            let mut arrays = map.values().filter_map(Value::as_array);
            let first = arrays.next()?;
            arrays.next().is_none().then(|| first.first()).flatten()
        }
        _ => None,
    }
}

/// The value of `{param}` in a concrete path matching `template`.
fn template_value(template: &str, path: &str, param: &str) -> Option<String> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut value = None;
    for (ts, ps) in t.iter().zip(&p) {
        if *ts == format!("{{{param}}}") {
            value = Some(percent_encoding_decode(ps));
        } else if !(ts.starts_with('{') && ts.ends_with('}')) && ts != ps {
            return None;
        }
    }
    value
}

fn percent_encoding_decode(s: &str) -> String {
    form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_values() {
        assert_eq!(
            template_value("/orders/{id}", "/orders/abc", "id").as_deref(),
            Some("abc")
        );
        assert_eq!(
            template_value("/orders/{id}", "/orders/a%20b", "id").as_deref(),
            Some("a b")
        );
        assert_eq!(template_value("/orders/{id}", "/payments/abc", "id"), None);
        assert_eq!(template_value("/orders/{id}", "/orders/abc/x", "id"), None);
    }

    #[test]
    fn fields_a_fetch_lacks() {
        let created = br#"{"id": "1", "reason": "limit", "note": null}"#;
        assert_eq!(
            fields_missing(created, br#"{"id": "1", "reason": "x"}"#),
            None
        );
        assert_eq!(
            fields_missing(created, br#"{"id": "1", "why": "limit"}"#).as_deref(),
            Some("`reason`")
        );
        assert_eq!(fields_missing(created, b"[]"), None);
    }

    #[test]
    fn list_items() {
        let list = serde_json::json!({"items": [{"sku": "KB-1"}], "total": 1});
        assert_eq!(first_item(&list), Some(&serde_json::json!({"sku": "KB-1"})));
        assert_eq!(
            first_item(&serde_json::json!([{"id": 1}])),
            Some(&serde_json::json!({"id": 1}))
        );
    }
}
