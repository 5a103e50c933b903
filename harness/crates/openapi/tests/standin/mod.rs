//! A stand-in service for the verifier's tests: items with a name and a quantity, each
//! owned by the `X-Owner` it was created with (when one is sent: another owner's items are
//! not found, not listed and cannot be deleted), and the OpenAPI document it conforms to.
//! Knobs make it misbehave in one way each.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

/// How the stand-in misbehaves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Knobs {
    /// Answers 500 to a create with a quantity from this to 20 more (no boundary of the
    /// schema: the property phases find it, not the coverage phase).
    pub(crate) fail_from_quantity: Option<i64>,
    /// Answers 429 (Retry-After: 0) to every third request.
    pub(crate) rate_limit: bool,
    /// Requires `Authorization: Bearer good` (else 401).
    pub(crate) check_auth: bool,
    /// Accepts any name length (ignores maxLength).
    pub(crate) ignore_max_length: bool,
    /// Accepts any bearer token when `check_auth` is on (an expired one too).
    pub(crate) accept_any_bearer: bool,
    /// Serves an item to any owner (broken object-level authorisation).
    pub(crate) any_owner_reads: bool,
    /// Takes the item's owner from the body's `owner` when there is one (mass assignment).
    pub(crate) owner_from_body: bool,
    /// Answers a delete with 204 and keeps the item.
    pub(crate) delete_keeps: bool,
    /// Refuses names that start with `z` with 422, a rule the document does not state.
    pub(crate) no_z_names: bool,
    /// Serves a fetched item's `owner` (optional in the document) as `owned_by`.
    pub(crate) owner_drifts: bool,
}

#[derive(Default)]
struct Shared {
    knobs: Knobs,
    items: Mutex<HashMap<String, Value>>,
    requests: AtomicU32,
    log: Mutex<Vec<String>>,
}

pub(crate) struct StandIn {
    pub(crate) url: String,
    shared: Arc<Shared>,
}

impl StandIn {
    /// Every request so far as `METHOD path?query body`.
    pub(crate) fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }
}

fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        json!({"type": "bad_request", "title": detail, "status": status.as_u16()}).to_string(),
    )
        .into_response()
}

fn ok_json(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn gate(s: &Shared, headers: &HeaderMap, line: String) -> Option<Response> {
    s.log.lock().unwrap().push(line);
    let n = s.requests.fetch_add(1, Ordering::SeqCst);
    if s.knobs.rate_limit && n % 3 == 2 {
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, "0"),
                    (header::CONTENT_TYPE, "application/problem+json"),
                ],
                json!({"type": "rate_limited", "title": "slow down", "status": 429}).to_string(),
            )
                .into_response(),
        );
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let accepted = if s.knobs.accept_any_bearer {
        auth.is_some_and(|a| a.starts_with("Bearer "))
    } else {
        auth == Some("Bearer good")
    };
    if s.knobs.check_auth && !accepted {
        return Some(problem(StatusCode::UNAUTHORIZED, "no credentials"));
    }
    None
}

fn owner(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-owner")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Whether the caller may see `item` (no owner sent: every item, as before owners).
fn visible(s: &Shared, headers: &HeaderMap, item: &Value) -> bool {
    match owner(headers) {
        None => true,
        Some(o) => s.knobs.any_owner_reads || item["owner"].as_str() == Some(o.as_str()),
    }
}

async fn create(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = gate(
        &s,
        &headers,
        format!("POST /items {}", String::from_utf8_lossy(&body)),
    ) {
        return r;
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "JSON expected");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return problem(StatusCode::BAD_REQUEST, "not JSON");
    };
    let Some(obj) = v.as_object() else {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "an object expected");
    };
    let name = match obj.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && (s.knobs.ignore_max_length || n.chars().count() <= 20) => n,
        _ => return problem(StatusCode::UNPROCESSABLE_ENTITY, "name: 1 to 20 characters"),
    };
    // A whole number, written `2` or `2.0` (JSON Schema's integers are mathematical).
    let whole = obj
        .get("quantity")
        .and_then(Value::as_f64)
        .filter(|q| q.fract() == 0.0);
    let quantity = match whole {
        Some(q) if (1.0..=100.0).contains(&q) => q as i64,
        _ => return problem(StatusCode::UNPROCESSABLE_ENTITY, "quantity: 1 to 100"),
    };
    match obj.get("tags") {
        None => {}
        Some(Value::Array(t)) if t.len() <= 3 && t.iter().all(Value::is_string) => {}
        Some(_) => return problem(StatusCode::UNPROCESSABLE_ENTITY, "tags: up to 3 strings"),
    }
    if let Some(limit) = s.knobs.fail_from_quantity
        && (limit..=limit + 20).contains(&quantity)
    {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    if s.knobs.no_z_names && name.starts_with('z') {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "no names with z");
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut item = json!({"id": id, "name": name, "quantity": quantity});
    let body_owner = obj
        .get("owner")
        .and_then(Value::as_str)
        .filter(|_| s.knobs.owner_from_body);
    if let Some(o) = body_owner.map(str::to_owned).or_else(|| owner(&headers)) {
        item["owner"] = json!(o);
    }
    s.items.lock().unwrap().insert(id.clone(), item.clone());
    let mut r = ok_json(StatusCode::CREATED, item);
    if let Ok(v) = header::HeaderValue::from_str(&format!("/items/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

async fn delete_item(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = gate(&s, &headers, format!("DELETE /items/{id}")) {
        return r;
    }
    if uuid::Uuid::parse_str(&id).is_err() {
        return problem(StatusCode::BAD_REQUEST, "id: a UUID expected");
    }
    let mut items = s.items.lock().unwrap();
    let found = items
        .get(&id)
        .is_some_and(|item| visible(&s, &headers, item));
    if !found {
        return problem(StatusCode::NOT_FOUND, "no such item");
    }
    if !s.knobs.delete_keeps {
        items.remove(&id);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn get_item(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = gate(&s, &headers, format!("GET /items/{id}")) {
        return r;
    }
    if uuid::Uuid::parse_str(&id).is_err() {
        return problem(StatusCode::BAD_REQUEST, "id: a UUID expected");
    }
    match s.items.lock().unwrap().get(&id) {
        Some(item) if visible(&s, &headers, item) => {
            let mut item = item.clone();
            if s.knobs.owner_drifts
                && let Some(owner) = item.as_object_mut().and_then(|i| i.remove("owner"))
            {
                item["owned_by"] = owner;
            }
            ok_json(StatusCode::OK, item)
        }
        _ => problem(StatusCode::NOT_FOUND, "no such item"),
    }
}

async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut keys: Vec<_> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    keys.sort();
    if let Some(r) = gate(&s, &headers, format!("GET /items?{}", keys.join("&"))) {
        return r;
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(l)) if (1..=50).contains(&l) => l,
        Some(_) => return problem(StatusCode::BAD_REQUEST, "limit: 1 to 50"),
    };
    let items: Vec<Value> = s
        .items
        .lock()
        .unwrap()
        .values()
        .filter(|item| match owner(&headers) {
            None => true,
            Some(o) => item["owner"].as_str() == Some(o.as_str()),
        })
        .take(limit)
        .cloned()
        .collect();
    ok_json(StatusCode::OK, Value::Array(items))
}

pub(crate) async fn start(knobs: Knobs) -> StandIn {
    let shared = Arc::new(Shared {
        knobs,
        ..Shared::default()
    });
    let app = Router::new()
        .route("/items", get(list).post(create))
        .route("/items/{id}", get(get_item).delete(delete_item))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    StandIn {
        url: format!("http://{addr}"),
        shared,
    }
}

/// The stand-in's document (3.1), which it conforms to.
pub(crate) fn document() -> Value {
    let problem =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "items", "version": "1"},
        "paths": {
            "/items": {
                "get": {
                    "operationId": "list_items",
                    "parameters": [{"name": "limit", "in": "query", "required": false,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 50}}],
                    "responses": {
                        "200": {"description": "items", "content": {"application/json": {"schema": {
                            "type": "array", "items": {"$ref": "#/components/schemas/Item"}}}}},
                        "400": {"description": "bad limit", "content": problem.clone()}
                    }
                },
                "post": {
                    "operationId": "create_item",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/NewItem"}}}},
                    "responses": {
                        "201": {"description": "created", "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/Item"}}}},
                        "400": {"description": "not JSON", "content": problem.clone()},
                        "415": {"description": "not JSON", "content": problem.clone()},
                        "422": {"description": "invalid", "content": problem.clone()}
                    }
                }
            },
            "/items/{id}": {
                "get": {
                    "operationId": "get_item",
                    "parameters": [{"name": "id", "in": "path", "required": true,
                        "schema": {"type": "string", "format": "uuid"}}],
                    "responses": {
                        "200": {"description": "the item", "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/Item"}}}},
                        "400": {"description": "bad id", "content": problem.clone()},
                        "404": {"description": "no such item", "content": problem.clone()}
                    }
                },
                "delete": {
                    "operationId": "delete_item",
                    "parameters": [{"name": "id", "in": "path", "required": true,
                        "schema": {"type": "string", "format": "uuid"}}],
                    "responses": {
                        "204": {"description": "deleted"},
                        "400": {"description": "bad id", "content": problem.clone()},
                        "404": {"description": "no such item", "content": problem}
                    }
                }
            }
        },
        "components": {"schemas": {
            "NewItem": {"type": "object", "required": ["name", "quantity"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 20, "example": "keyboard"},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 100, "example": 2},
                "tags": {"type": "array", "maxItems": 3, "items": {"type": "string"}}}},
            "Item": {"type": "object", "required": ["id", "name", "quantity"], "properties": {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string"},
                "quantity": {"type": "integer"},
                "owner": {"type": "string"}}},
            "Problem": {"type": "object", "required": ["type", "title", "status"], "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}}}
        }}
    })
}

/// The document with a bearer scheme required on every operation.
pub(crate) fn protected_document() -> Value {
    let mut doc = document();
    doc["components"]["securitySchemes"] = json!({"bearer": {"type": "http", "scheme": "bearer"}});
    doc["security"] = json!([{"bearer": []}]);
    for (path, method) in [
        ("/items", "get"),
        ("/items", "post"),
        ("/items/{id}", "get"),
        ("/items/{id}", "delete"),
    ] {
        doc["paths"][path][method]["responses"]["401"] = json!({"description": "no credentials", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    }
    doc
}
