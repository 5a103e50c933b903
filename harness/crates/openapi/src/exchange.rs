//! The provider's side of an exchange, for mocks that stand in for a documented service:
//! [`Document::check_request`] says whether a request is one the document accepts (and if
//! not, which status a provider would answer and why), and [`Document::answer`] makes a
//! response the document allows (its examples first, else a value generated from the schema
//! with a seed).
//!
//! Parameters are read as a provider reads them off the wire: path segments are
//! percent-decoded, and a text that parses as a number or a boolean is also tried as one.

use http::{HeaderMap, Method, header};
use proptest::{
    strategy::{Strategy, ValueTree},
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use serde_json::{Map, Value};

use crate::{
    conformance::media_match,
    document::{Document, Location, MediaType, Operation, Parameter, RouteError, is_json},
    generate,
};

/// A request as a mock receives it.
#[derive(Debug, Clone, Copy)]
pub struct IncomingRequest<'a> {
    pub method: &'a Method,
    /// The path, percent-encoded as received, without the query string.
    pub path: &'a str,
    /// The query string without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Path parameters by name, percent-decoded.
type PathParams = Vec<(String, String)>;

/// Why the document does not accept a request, and what a provider would answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMismatch {
    /// The operation matched, if the route matched one.
    pub operation: Option<String>,
    /// The status to answer: 404 (no such path), 405 (no such method), 401 (credentials
    /// missing), 415 (media type not documented), else the operation's documented 422 or
    /// 400 (whichever it documents; 400 when neither).
    pub status: u16,
    /// Where: `query.limit`, `header.x-request-id`, `path.id`, `body/items/0/quantity`.
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for RequestMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(op) = &self.operation {
            write!(f, "{op}: ")?;
        }
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location, self.message)
        }
    }
}

/// A response the document allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The media type of the body (None: no body).
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

/// How many draws a generated answer gets before giving up on a schema whose
/// constraints the generator does not meet (a `pattern`, say).
const DRAWS: u32 = 64;

impl Document {
    /// Checks a request against the document: route, credentials (presence of a documented
    /// credential header), parameters, content type and body. Ok gives the operation.
    pub fn check_request(&self, req: &IncomingRequest<'_>) -> Result<&Operation, RequestMismatch> {
        let (operation, path_params) = self.route(req.method, req.path).map_err(|e| match e {
            RouteError::UnknownPath => RequestMismatch {
                operation: None,
                status: 404,
                location: String::new(),
                message: format!("no path of {} matches {}", self.origin(), req.path),
            },
            RouteError::UnknownMethod => RequestMismatch {
                operation: None,
                status: 405,
                location: String::new(),
                message: format!("{} is documented, {} on it is not", req.path, req.method),
            },
        })?;
        let fail = |status: u16, location: String, message: String| RequestMismatch {
            operation: Some(operation.id.clone()),
            status,
            location,
            message,
        };
        let input_status = [422, 400]
            .into_iter()
            .find(|s| operation.documents(*s))
            .unwrap_or(400);
        let param_status = if operation.documents(400) {
            400
        } else {
            input_status
        };
        if operation.is_protected() {
            let names = self.credential_headers();
            if !names.is_empty() && !names.iter().any(|n| req.headers.contains_key(n.as_str())) {
                return Err(fail(
                    401,
                    format!("header.{}", names[0]),
                    "the operation needs credentials and the request carries none".into(),
                ));
            }
        }
        let query: Vec<(String, String)> = req
            .query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        for p in &operation.parameters {
            let values: Vec<String> = match p.location {
                Location::Path => path_params
                    .iter()
                    .filter(|(n, _)| *n == p.name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Location::Query => query
                    .iter()
                    .filter(|(n, _)| *n == p.name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Location::Header => req
                    .headers
                    .get_all(p.name.as_str())
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect(),
                Location::Cookie => cookies(req.headers)
                    .filter(|(n, _)| *n == p.name)
                    .map(|(_, v)| v)
                    .collect(),
            };
            let at = format!("{}.{}", location_word(p.location), p.name);
            if values.is_empty() {
                if p.required {
                    return Err(fail(param_status, at, "required and missing".into()));
                }
                continue;
            }
            if !param_accepts(self.root(), p, &values) {
                return Err(fail(
                    param_status,
                    at,
                    format!(
                        "{:?} is not valid against its schema {}",
                        values.join(","),
                        p.schema
                    ),
                ));
            }
        }
        let Some(body) = &operation.body else {
            return Ok(operation);
        };
        if req.body.is_empty() {
            return if body.required {
                Err(fail(
                    input_status,
                    "body".into(),
                    "a body is required".into(),
                ))
            } else {
                Ok(operation)
            };
        }
        let content_type = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream");
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let Some(media) = media_match(&body.content, essence) else {
            let documented: Vec<&str> = body.content.iter().map(|m| m.range.as_str()).collect();
            return Err(fail(
                415,
                "header.content-type".into(),
                format!(
                    "{essence} is not a documented media type ({})",
                    documented.join(", ")
                ),
            ));
        };
        if is_json(essence) {
            let value: Value = serde_json::from_slice(req.body).map_err(|e| {
                fail(
                    input_status,
                    "body".into(),
                    format!("not JSON (line {}, column {}): {e}", e.line(), e.column()),
                )
            })?;
            if let Some(v) = &media.validator
                && let Some(e) = v.iter_errors(&value).next()
            {
                return Err(fail(
                    input_status,
                    format!("body{}", e.instance_path()),
                    e.to_string(),
                ));
            }
        }
        Ok(operation)
    }

    /// The operation answering `method` on a concrete path, with its path parameters
    /// (percent-decoded).
    fn route(&self, method: &Method, path: &str) -> Result<(&Operation, PathParams), RouteError> {
        let operation = self.find(method, path)?;
        let params = self
            .router
            .at(path)
            .map(|m| {
                m.params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), percent_decode(v)))
                    .collect()
            })
            .unwrap_or_default();
        Ok((operation, params))
    }

    /// A response to `operation` the document allows: `status` if given (it must be
    /// documented by an exact code, a range or `default`), else the lowest documented 2xx
    /// code (then 3xx), else 200 when a `2XX` range or `default` documents it;
    /// the JSON media type's first valid example, else a value built from the schema's
    /// examples, else one generated with `seed`. None when no such status is documented, or
    /// when no valid body can be made.
    ///
    /// `request_body`: top-level fields of the request whose names the response also has
    /// are copied into it where they are valid there (a payment answers with the `order_id`
    /// it was asked about).
    pub fn answer(
        &self,
        operation: &Operation,
        status: Option<u16>,
        request_body: Option<&Value>,
        seed: u64,
    ) -> Option<Answer> {
        let status = match status {
            Some(s) => s,
            None => operation
                .responses
                .iter()
                .filter_map(|r| match r.key {
                    crate::StatusKey::Code(c) if (200..400).contains(&c) => Some(c),
                    _ => None,
                })
                .min()
                .or_else(|| {
                    operation
                        .responses
                        .iter()
                        .any(|r| {
                            matches!(
                                r.key,
                                crate::StatusKey::Range(2) | crate::StatusKey::Default
                            )
                        })
                        .then_some(200)
                })?,
        };
        let response = operation.response(status)?;
        let Some(media) = response
            .content
            .iter()
            .find(|m| m.is_json())
            .or(response.content.first())
        else {
            return Some(Answer {
                status,
                content_type: None,
                body: None,
            });
        };
        let content_type = concrete_media(&media.range);
        let body = self.body_for(media, request_body, seed)?;
        Some(Answer {
            status,
            content_type: Some(content_type),
            body: Some(body),
        })
    }

    fn body_for(
        &self,
        media: &MediaType,
        request_body: Option<&Value>,
        seed: u64,
    ) -> Option<Value> {
        let base = media
            .examples
            .iter()
            .find(|e| media.accepts(e))
            .cloned()
            .or_else(|| {
                let schema = media.schema.as_ref()?;
                generate::from_examples(self.root(), schema, 0).filter(|v| media.accepts(v))
            })
            .or_else(|| match &media.schema {
                Some(schema) => self.generate_with(schema, seed, |v| media.accepts(v)),
                None => Some(Value::Object(Map::new())),
            })?;
        Some(match request_body {
            Some(request) => echo(&base, request, |v| media.accepts(v)),
            None => base,
        })
    }

    /// `answer` with the top-level fields of `request` it also has copied in, each where
    /// the result stays valid for `operation`'s `status` (a fixed answer made to follow the
    /// request: the `order_id` asked about).
    pub fn echo(
        &self,
        operation: &Operation,
        status: u16,
        answer: &Value,
        request: &Value,
    ) -> Value {
        let media = operation
            .response(status)
            .and_then(|r| r.content.iter().find(|m| m.is_json()));
        match media {
            Some(m) => echo(answer, request, |v| m.accepts(v)),
            None => answer.clone(),
        }
    }

    fn generate_with(
        &self,
        schema: &Value,
        seed: u64,
        accepts: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let strategy = generate::valid(self.root(), schema, 0);
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &crate::verify::seed_bytes(seed)),
        );
        (0..DRAWS).find_map(|_| {
            let value = strategy.new_tree(&mut runner).ok()?.current();
            accepts(&value).then_some(value)
        })
    }
}

fn echo(base: &Value, request: &Value, accepts: impl Fn(&Value) -> bool) -> Value {
    let (Value::Object(request), Value::Object(_)) = (request, base) else {
        return base.clone();
    };
    let mut echoed = base.clone();
    for (k, v) in request {
        if let Some(slot) = echoed.get_mut(k) {
            let before = std::mem::replace(slot, v.clone());
            if !accepts(&echoed) {
                echoed[k] = before;
            }
        }
    }
    echoed
}

/// The media type to send for a documented range: `*/*` and `application/*` become
/// `application/json`; anything else is sent as documented.
fn concrete_media(range: &str) -> String {
    match range {
        "*/*" | "application/*" => "application/json".to_owned(),
        other => other.to_owned(),
    }
}

fn location_word(l: Location) -> &'static str {
    match l {
        Location::Path => "path",
        Location::Query => "query",
        Location::Header => "header",
        Location::Cookie => "cookie",
    }
}

/// Whether the wire values of a parameter are valid: one value read as text, number or
/// boolean; several (repeated query keys, or comma-separated for an array) as an array.
fn param_accepts(root: &Value, p: &Parameter, values: &[String]) -> bool {
    let wants_array = generate::resolve(root, &p.schema)
        .get("type")
        .and_then(Value::as_str)
        == Some("array");
    if wants_array {
        let items: Vec<&str> = if values.len() == 1 {
            values[0].split(',').collect()
        } else {
            values.iter().map(String::as_str).collect()
        };
        // Each item read the way its schema wants: try the combinations item by item.
        let mut arrays: Vec<Vec<Value>> = vec![Vec::new()];
        for item in items {
            let options = crate::verify::wire_readings(item);
            arrays = arrays
                .into_iter()
                .flat_map(|a| {
                    options.iter().map(move |o| {
                        let mut a = a.clone();
                        a.push(o.clone());
                        a
                    })
                })
                .take(64)
                .collect();
        }
        return arrays.into_iter().any(|a| p.accepts(&Value::Array(a)));
    }
    values.len() == 1
        && crate::verify::wire_readings(&values[0])
            .iter()
            .any(|r| p.accepts(r))
}

fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (String, String)> + '_ {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
}

fn percent_decode(s: &str) -> String {
    // form_urlencoded would read `+` as a space, which a path does not.
    let protected = s.replace('+', "%2B");
    form_urlencoded::parse(format!("v={protected}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Document {
        Document::from_value(
            json!({
                "openapi": "3.1.0",
                "info": {"title": "t", "version": "1"},
                "paths": {
                    "/items/{id}": {"get": {
                        "operationId": "get_item",
                        "parameters": [
                            {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}},
                            {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}}}
                        ],
                        "responses": {
                            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                            "404": {"description": "no"}
                        }
                    }},
                    "/items": {"post": {
                        "operationId": "create_item",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/New"}}}},
                        "responses": {
                            "201": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                            "422": {"description": "bad"}
                        }
                    }}
                },
                "components": {"schemas": {
                    "New": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}},
                    "Item": {"type": "object", "required": ["id", "name"], "properties": {
                        "id": {"type": "integer", "minimum": 1}, "name": {"type": "string"}}}
                }}
            }),
            "t.json",
        )
        .unwrap()
    }

    fn req<'a>(
        method: &'a Method,
        path: &'a str,
        query: Option<&'a str>,
        headers: &'a HeaderMap,
        body: &'a [u8],
    ) -> IncomingRequest<'a> {
        IncomingRequest {
            method,
            path,
            query,
            headers,
            body,
        }
    }

    #[test]
    fn requests_are_checked_like_a_provider_would() {
        let d = doc();
        let h = HeaderMap::new();
        let mut json_h = HeaderMap::new();
        json_h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let get = Method::GET;
        let post = Method::POST;
        assert!(
            d.check_request(&req(&get, "/items/7", Some("tags=1&tags=2"), &h, b""))
                .is_ok()
        );
        assert!(
            d.check_request(&req(&get, "/items/7", Some("tags=1,2"), &h, b""))
                .is_ok()
        );
        let e = d
            .check_request(&req(&get, "/items/0", None, &h, b""))
            .unwrap_err();
        assert_eq!((e.status, e.location.as_str()), (400, "path.id"));
        let e = d
            .check_request(&req(&get, "/items/7", Some("tags=x"), &h, b""))
            .unwrap_err();
        assert_eq!(e.location, "query.tags");
        assert_eq!(
            d.check_request(&req(&get, "/nope", None, &h, b""))
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            d.check_request(&req(&post, "/items/1", None, &h, b""))
                .unwrap_err()
                .status,
            405
        );
        let ok = d.check_request(&req(&post, "/items", None, &json_h, br#"{"name":"a"}"#));
        assert_eq!(ok.unwrap().id, "create_item");
        let e = d
            .check_request(&req(&post, "/items", None, &json_h, br#"{"name":""}"#))
            .unwrap_err();
        assert_eq!((e.status, e.location.as_str()), (422, "body/name"));
        let e = d
            .check_request(&req(&post, "/items", None, &json_h, b""))
            .unwrap_err();
        assert_eq!(e.status, 422);
        let e = d
            .check_request(&req(&post, "/items", None, &h, b"name=a"))
            .unwrap_err();
        assert_eq!(e.status, 415);
    }

    #[test]
    fn answers_are_valid_and_seeded() {
        let d = doc();
        let op = d.operation("get_item").unwrap();
        let a = d.answer(op, None, None, 7).unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(
            a,
            d.answer(op, None, None, 7).unwrap(),
            "same seed, same answer"
        );
        let body = serde_json::to_vec(a.body.as_ref().unwrap()).unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        d.check_response(&Method::GET, "/items/3", 200, &h, &body)
            .unwrap();
        let none = d.answer(op, Some(404), None, 1).unwrap();
        assert_eq!((none.status, none.body), (404, None));
        assert!(
            d.answer(op, Some(418), None, 1).is_none(),
            "undocumented status"
        );
        let create = d.operation("create_item").unwrap();
        let echoed = d
            .answer(create, None, Some(&json!({"name": "lamp"})), 3)
            .unwrap();
        assert_eq!(echoed.body.unwrap()["name"], "lamp");
    }
}
