//! In-process tests of the gateway: the app driven with `oneshot` against a fake
//! upstream, and the real reqwest upstream against tiny axum servers on 127.0.0.1:0.

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header},
};
use bytes::Bytes;
use governor::clock::FakeRelativeClock;
use http_body_util::BodyExt;
use service_kit::tracecontext::TraceParent;
use tower::ServiceExt;

use super::*;
use crate::{
    config::{JwtSettings, UpstreamUrls},
    model::KeyedLimiter,
    upstream::{HttpUpstream, UpstreamError, UpstreamRequest, UpstreamResponse},
};

const SECRET: &str = "test-secret-test-secret-test-secret";

fn jwt() -> JwtSettings {
    JwtSettings {
        secret: SECRET.to_owned(),
        issuer: "test-issuer".to_owned(),
        audience: "test-api".to_owned(),
    }
}

fn authenticator() -> Authenticator {
    Authenticator::new(&jwt())
}
const ALL_SCOPES: &str = "catalog:read orders:write orders:read shipments:read";

type Reply = Box<dyn Fn(&UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> + Send + Sync>;

/// Records what the gateway sends and answers with `reply`.
#[derive(Clone)]
struct FakeUpstream {
    calls: Arc<Mutex<Vec<UpstreamRequest>>>,
    reply: Arc<Reply>,
    down: Arc<Mutex<Vec<Target>>>,
}

impl FakeUpstream {
    /// Answers 200 with a small JSON body naming the target.
    fn echo() -> Self {
        Self::replying(|req| {
            Ok(UpstreamResponse {
                status: StatusCode::OK,
                headers: HeaderMap::from_iter([(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )]),
                body: Bytes::from(
                    serde_json::to_vec(&serde_json::json!({"served_by": req.target.name()}))
                        .unwrap(),
                ),
            })
        })
    }

    fn replying(
        f: impl Fn(&UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            calls: Arc::default(),
            reply: Arc::new(Box::new(f)),
            down: Arc::default(),
        }
    }

    fn calls(&self) -> Vec<UpstreamRequest> {
        self.calls.lock().unwrap().clone()
    }

    fn only_call(&self) -> UpstreamRequest {
        let calls = self.calls();
        assert_eq!(calls.len(), 1, "expected exactly one upstream call");
        calls.into_iter().next().unwrap()
    }
}

#[async_trait::async_trait]
impl Upstream for FakeUpstream {
    fn base_url(&self, target: Target) -> &str {
        match target {
            Target::Orders => "http://orders.test",
            Target::Inventory => "http://inventory.test",
            Target::Shipping => "http://shipping.test",
        }
    }
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let reply = (self.reply)(&request);
        self.calls.lock().unwrap().push(request);
        reply
    }
    async fn live(&self, target: Target) -> Result<(), String> {
        if self.down.lock().unwrap().contains(&target) {
            Err("connection refused".to_owned())
        } else {
            Ok(())
        }
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn generous_limiter() -> KeyedLimiter<FakeRelativeClock> {
    KeyedLimiter::with_clock(nz(1000), nz(1000), FakeRelativeClock::default())
}

fn app_with(upstream: impl Upstream + 'static) -> Router {
    app(AppState::new(authenticator(), generous_limiter(), upstream))
}

fn token_for(sub: &str, scope: &str) -> String {
    authenticator()
        .issue(sub, scope, Duration::from_secs(300))
        .unwrap()
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(t) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    builder.body(Body::empty()).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    fn assert_problem(&self, status: StatusCode, kind: &str) -> serde_json::Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), "application/problem+json");
        let body = self.json();
        assert_eq!(body["type"], kind, "{body}");
        assert_eq!(body["status"], status.as_u16(), "{body}");
        body
    }
}

async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn auth_401_without_a_token() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let answer = call(&app, get("/api/products", None)).await;
    answer.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(answer.header("www-authenticate"), "Bearer");
    let answer = call(
        &app,
        Request::get("/api/products")
            .header(header::AUTHORIZATION, "Basic YWxpY2U6cHc=")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    answer.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        upstream.calls().is_empty(),
        "nothing may reach the upstream"
    );
}

#[tokio::test]
async fn auth_401_bad_signature() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let forged = Authenticator::new(&JwtSettings {
        secret: "another-secret-another-secret-another".to_owned(),
        ..jwt()
    })
    .issue("mallory", ALL_SCOPES, Duration::from_secs(300))
    .unwrap();
    let answer = call(&app, get("/api/products", Some(&forged))).await;
    let body = answer.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        body["detail"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    assert!(answer.header("www-authenticate").starts_with("Bearer"));
    assert!(answer.header("www-authenticate").contains("invalid_token"));

    let answer = call(&app, get("/api/products", Some("garbage"))).await;
    answer.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(upstream.calls().is_empty());
}

#[tokio::test]
async fn auth_401_expired() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let auth = authenticator();
    let expired = auth
        .sign(&auth.claims(
            "alice",
            ALL_SCOPES,
            jsonwebtoken::get_current_timestamp() - 10,
        ))
        .unwrap();
    let answer = call(&app, get("/api/products", Some(&expired))).await;
    let body = answer.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    assert!(answer.header("www-authenticate").starts_with("Bearer"));
    assert!(upstream.calls().is_empty());
}

#[tokio::test]
async fn auth_403_missing_scope_names_the_scope() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let reader = token_for("alice", "orders:read catalog:read");
    let answer = call(
        &app,
        Request::post("/api/orders")
            .header(header::AUTHORIZATION, format!("Bearer {reader}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    let body = answer.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        body["detail"].as_str().unwrap().contains("orders:write"),
        "{body}"
    );
    assert!(
        answer
            .header("www-authenticate")
            .contains("scope=\"orders:write\"")
    );

    let answer = call(&app, get("/api/shipments", Some(&reader))).await;
    let body = answer.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        body["detail"].as_str().unwrap().contains("shipments:read"),
        "{body}"
    );
    assert!(upstream.calls().is_empty());
}

#[tokio::test]
async fn auth_200_with_a_good_token() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let answer = call(
        &app,
        get("/api/products", Some(&token_for("alice", "catalog:read"))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), "application/json");
    assert_eq!(answer.json()["served_by"], "inventory");
    let call = upstream.only_call();
    assert!(
        call.headers.get(header::AUTHORIZATION).is_none(),
        "the token stays at the gateway"
    );
}

#[tokio::test]
async fn auth_401_for_another_issuer_or_audience() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let auth = authenticator();
    let exp = jsonwebtoken::get_current_timestamp() + 300;
    type Change = Box<dyn Fn(&mut crate::model::Claims)>;
    let cases: [(&str, Change); 4] = [
        ("iss", Box::new(|c| c.iss = Some("someone-else".into()))),
        ("iss", Box::new(|c| c.iss = None)),
        ("aud", Box::new(|c| c.aud = Some("another-api".into()))),
        ("aud", Box::new(|c| c.aud = None)),
    ];
    for (claim, change) in cases {
        let mut claims = auth.claims("alice", ALL_SCOPES, exp);
        change(&mut claims);
        let token = auth.sign(&claims).unwrap();
        let answer = call(&app, get("/api/orders", Some(&token))).await;
        let body = answer.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(
            body["detail"].as_str().unwrap().contains(claim),
            "{claim}: {body}"
        );
        assert!(answer.header("www-authenticate").contains("invalid_token"));
    }
    assert!(upstream.calls().is_empty());
}

// ---------------------------------------------------------------- the customer is the subject

fn post_order(token: &str, body: &str) -> Request<Body> {
    Request::post("/api/orders")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn orders_and_shipping_get_the_subject_and_inventory_does_not() {
    let token = token_for("alice", ALL_SCOPES);
    for (path, target) in [
        ("/api/orders", Target::Orders),
        (
            "/api/orders/0b7e1c2e-4a8b-4f4e-9f44-0f3cf5f2a6c1",
            Target::Orders,
        ),
        ("/api/shipments", Target::Shipping),
        ("/api/shipments/s-1", Target::Shipping),
        ("/api/products", Target::Inventory),
    ] {
        let upstream = FakeUpstream::echo();
        let app = app_with(upstream.clone());
        let mut request = get(path, Some(&token));
        request
            .headers_mut()
            .insert("x-customer-id", HeaderValue::from_static("bob"));
        assert_eq!(call(&app, request).await.status, StatusCode::OK, "{path}");
        let sent = upstream.only_call();
        assert_eq!(sent.target, target);
        let customer = sent.headers.get("x-customer-id");
        if target == Target::Inventory {
            assert!(customer.is_none(), "{path}: {customer:?}");
        } else {
            assert_eq!(customer.unwrap(), "alice", "{path}");
        }
    }
}

#[tokio::test]
async fn an_order_for_another_customer_is_refused() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let alice = token_for("alice", "orders:write");
    let answer = call(
        &app,
        post_order(
            &alice,
            r#"{"customer_id":"bob","items":[{"sku":"KB-001","quantity":1}]}"#,
        ),
    )
    .await;
    let body = answer.assert_problem(StatusCode::FORBIDDEN, "customer_mismatch");
    assert_eq!(body["field"], "customer_id");
    assert!(upstream.calls().is_empty(), "nothing reaches orders");

    // Naming oneself is accepted; the name is dropped (orders takes the header).
    let answer = call(
        &app,
        post_order(
            &alice,
            r#"{"customer_id":"alice","items":[{"sku":"KB-001","quantity":1}]}"#,
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let sent = upstream.only_call();
    assert_eq!(sent.headers["x-customer-id"], "alice");
    let forwarded: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        forwarded,
        serde_json::json!({"items": [{"sku": "KB-001", "quantity": 1}]})
    );

    let text = call(&app, get("/metrics", None)).await;
    assert!(
        String::from_utf8_lossy(&text.body)
            .contains("gateway_auth_failures_total{reason=\"customer_mismatch\"}")
    );
}

#[tokio::test]
async fn lists_are_the_callers_own() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let alice = token_for("alice", ALL_SCOPES);
    for path in [
        "/api/orders?customer=bob",
        "/api/orders?customer_id=bob",
        "/api/shipments?order_id=0b7e1c2e-4a8b-4f4e-9f44-0f3cf5f2a6c1&customer=bob",
    ] {
        let answer = call(&app, get(path, Some(&alice))).await;
        answer.assert_problem(StatusCode::FORBIDDEN, "customer_mismatch");
    }
    assert!(upstream.calls().is_empty());
    let answer = call(
        &app,
        get(
            "/api/shipments?customer=alice&order_id=0b7e1c2e-4a8b-4f4e-9f44-0f3cf5f2a6c1",
            Some(&alice),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let sent = upstream.only_call();
    assert_eq!(
        sent.path_and_query,
        "/shipments?order_id=0b7e1c2e-4a8b-4f4e-9f44-0f3cf5f2a6c1"
    );
    assert_eq!(sent.headers["x-customer-id"], "alice");
}

// ---------------------------------------------------------------- routing

#[tokio::test]
async fn routes_go_to_the_right_upstream_with_api_stripped() {
    let cases = [
        (Method::GET, "/api/products", Target::Inventory, "/products"),
        (
            Method::GET,
            "/api/products/KB-001",
            Target::Inventory,
            "/products/KB-001",
        ),
        (Method::POST, "/api/orders", Target::Orders, "/orders"),
        (
            Method::GET,
            "/api/orders?customer=alice",
            Target::Orders,
            "/orders",
        ),
        (
            Method::GET,
            "/api/products?customer=bob",
            Target::Inventory,
            "/products?customer=bob",
        ),
        (
            Method::GET,
            "/api/orders/0b7e1c2e-4a8b-4f4e-9f44-0f3cf5f2a6c1",
            Target::Orders,
            "/orders/0b7e1c2e-4a8b-4f4e-9f44-0f3cf5f2a6c1",
        ),
        (
            Method::GET,
            "/api/shipments?order_id=abc",
            Target::Shipping,
            "/shipments?order_id=abc",
        ),
        (
            Method::GET,
            "/api/shipments/s-1",
            Target::Shipping,
            "/shipments/s-1",
        ),
    ];
    let token = token_for("alice", ALL_SCOPES);
    for (method, path, target, upstream_path) in cases {
        let upstream = FakeUpstream::echo();
        let app = app_with(upstream.clone());
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let answer = call(&app, request).await;
        assert_eq!(answer.status, StatusCode::OK, "{method} {path}");
        let sent = upstream.only_call();
        assert_eq!(sent.target, target, "{method} {path}");
        assert_eq!(sent.method, method, "{method} {path}");
        assert_eq!(sent.path_and_query, upstream_path, "{method} {path}");
    }
}

#[tokio::test]
async fn forwards_body_and_the_agreed_headers_only() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let body = r#"{"items":[{"sku":"KB-001","quantity":2}]}"#;
    let answer = call(
        &app,
        Request::post("/api/orders")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", token_for("alice", "orders:write")),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header("idempotency-key", "key-1")
            .header(header::COOKIE, "session=secret")
            .header("x-internal", "nope")
            .header("x-customer-id", "mallory")
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let sent = upstream.only_call();
    assert_eq!(sent.body, Bytes::from(body));
    assert_eq!(sent.headers["content-type"], "application/json");
    assert_eq!(sent.headers["accept"], "application/json");
    assert_eq!(sent.headers["idempotency-key"], "key-1");
    assert_eq!(
        sent.headers
            .get_all("x-customer-id")
            .iter()
            .collect::<Vec<_>>(),
        ["alice"],
        "the subject, never the client's X-Customer-Id"
    );
    for absent in ["authorization", "cookie", "x-internal"] {
        assert!(
            sent.headers.get(absent).is_none(),
            "{absent} must not be forwarded"
        );
    }
}

#[tokio::test]
async fn unknown_api_routes_are_404_problems() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let token = token_for("alice", ALL_SCOPES);
    for path in ["/api/payments", "/api/reservations/1", "/api", "/orders"] {
        let answer = call(&app, get(path, Some(&token))).await;
        answer.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let answer = call(
        &app,
        Request::delete("/api/orders/1")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    answer.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(upstream.calls().is_empty());
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let answer = call(
        &app,
        Request::post("/api/orders")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", token_for("alice", "orders:write")),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(vec![b' '; handlers::MAX_BODY_BYTES + 1]))
            .unwrap(),
    )
    .await;
    answer.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(upstream.calls().is_empty());
}

// ---------------------------------------------------------------- rate limiting

#[tokio::test]
async fn rate_limit_per_client_answers_429_with_retry_after() {
    let upstream = FakeUpstream::echo();
    let clock = FakeRelativeClock::default();
    let app = app(AppState::new(
        authenticator(),
        KeyedLimiter::with_clock(nz(1), nz(2), clock.clone()),
        upstream.clone(),
    ));
    let alice = token_for("alice", "catalog:read");
    let bob = token_for("bob", "catalog:read");
    for _ in 0..2 {
        assert_eq!(
            call(&app, get("/api/products", Some(&alice))).await.status,
            StatusCode::OK
        );
    }
    let limited = call(&app, get("/api/products", Some(&alice))).await;
    let body = limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(limited.header("retry-after"), "1");
    assert_eq!(body["retry_after"], 1);
    assert_eq!(
        upstream.calls().len(),
        2,
        "the limited request is not forwarded"
    );

    // Another client has its own bucket.
    assert_eq!(
        call(&app, get("/api/products", Some(&bob))).await.status,
        StatusCode::OK
    );

    clock.advance(Duration::from_millis(400));
    let limited = call(&app, get("/api/products", Some(&alice))).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.header("retry-after"), "1", "0.6 s rounds up to 1");

    clock.advance(Duration::from_millis(600));
    assert_eq!(
        call(&app, get("/api/products", Some(&alice))).await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- request id and trace context

#[tokio::test]
async fn request_id_is_added_and_forwarded() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let answer = call(
        &app,
        get("/api/products", Some(&token_for("alice", "catalog:read"))),
    )
    .await;
    let id = answer.header("x-request-id").to_owned();
    uuid::Uuid::parse_str(&id).unwrap_or_else(|e| panic!("{id:?} is not a UUID: {e}"));
    assert_eq!(upstream.only_call().headers["x-request-id"], id.as_str());

    // Each request gets its own id; errors answered by the gateway carry one too.
    let other = call(&app, get("/api/products", None)).await;
    assert_ne!(other.header("x-request-id"), id);
}

#[tokio::test]
async fn client_request_id_is_kept() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let mut request = get("/api/products", Some(&token_for("alice", "catalog:read")));
    request
        .headers_mut()
        .insert("x-request-id", HeaderValue::from_static("client-id-123"));
    let answer = call(&app, request).await;
    assert_eq!(answer.header("x-request-id"), "client-id-123");
    assert_eq!(
        upstream.only_call().headers["x-request-id"],
        "client-id-123"
    );
}

#[tokio::test]
async fn traceparent_is_continued_with_the_same_trace_id() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut request = get("/api/products", Some(&token_for("alice", "catalog:read")));
    request
        .headers_mut()
        .insert("traceparent", HeaderValue::from_static(incoming));
    request
        .headers_mut()
        .insert("tracestate", HeaderValue::from_static("vendor=1"));
    assert_eq!(call(&app, request).await.status, StatusCode::OK);
    let sent = upstream.only_call();
    let outgoing = TraceParent::parse(sent.headers["traceparent"].to_str().unwrap()).unwrap();
    let parent = TraceParent::parse(incoming).unwrap();
    assert_eq!(outgoing.trace_id, parent.trace_id);
    assert_ne!(
        outgoing.parent_id, parent.parent_id,
        "the gateway is a new span"
    );
    assert_eq!(outgoing.flags, parent.flags);
    assert_eq!(sent.headers["tracestate"], "vendor=1");
}

#[tokio::test]
async fn a_trace_is_started_when_absent_or_invalid() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let token = token_for("alice", "catalog:read");
    assert_eq!(
        call(&app, get("/api/products", Some(&token))).await.status,
        StatusCode::OK
    );
    let mut request = get("/api/products", Some(&token));
    request
        .headers_mut()
        .insert("traceparent", HeaderValue::from_static("00-zz-nope-01"));
    request
        .headers_mut()
        .insert("tracestate", HeaderValue::from_static("vendor=1"));
    assert_eq!(call(&app, request).await.status, StatusCode::OK);
    let calls = upstream.calls();
    let roots: Vec<TraceParent> = calls
        .iter()
        .map(|c| {
            TraceParent::parse(c.headers["traceparent"].to_str().unwrap())
                .expect("a valid traceparent")
        })
        .collect();
    assert_ne!(
        roots[0].trace_id, roots[1].trace_id,
        "each root is a new trace"
    );
    assert!(
        calls[1].headers.get("tracestate").is_none(),
        "no tracestate for a new trace"
    );
}

// ---------------------------------------------------------------- upstream answers and failures

#[tokio::test]
async fn upstream_status_body_and_location_are_relayed() {
    let upstream = FakeUpstream::replying(|_| {
        Ok(UpstreamResponse {
            status: StatusCode::ACCEPTED,
            headers: HeaderMap::from_iter([
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::LOCATION, HeaderValue::from_static("/orders/42")),
                (header::SET_COOKIE, HeaderValue::from_static("internal=1")),
            ]),
            body: Bytes::from_static(br#"{"id":"42","status":"PENDING"}"#),
        })
    });
    let app = app_with(upstream);
    let answer = call(
        &app,
        Request::post("/api/orders")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", token_for("alice", "orders:write")),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.header("location"), "/api/orders/42");
    assert_eq!(answer.header("content-type"), "application/json");
    assert_eq!(answer.json()["status"], "PENDING");
    assert!(answer.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn upstream_problems_are_relayed_unchanged() {
    let upstream = FakeUpstream::replying(|_| {
        Ok(UpstreamResponse {
            status: StatusCode::NOT_FOUND,
            headers: HeaderMap::from_iter([(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            )]),
            body: Bytes::from_static(
                br#"{"type":"not_found","title":"resource not found","status":404}"#,
            ),
        })
    });
    let app = app_with(upstream);
    let answer = call(
        &app,
        get(
            "/api/products/NOPE",
            Some(&token_for("alice", "catalog:read")),
        ),
    )
    .await;
    answer.assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn upstream_failures_map_to_502_and_504() {
    let cases = [
        (
            UpstreamError::Timeout(Duration::from_millis(5000)),
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
        ),
        (
            UpstreamError::Unreachable("connection refused".into()),
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
        ),
        (
            UpstreamError::BadResponse("connection reset".into()),
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
        ),
    ];
    for (error, status, kind) in cases {
        let app = app_with(FakeUpstream::replying(move |_| Err(error.clone())));
        let answer = call(
            &app,
            get(
                "/api/shipments",
                Some(&token_for("alice", "shipments:read")),
            ),
        )
        .await;
        let body = answer.assert_problem(status, kind);
        assert!(
            body["detail"].as_str().unwrap().contains("shipping"),
            "{body}"
        );
        assert!(answer.headers.get("x-request-id").is_some());
    }
}

#[tokio::test]
async fn readiness_reports_every_upstream_and_no_outage_makes_the_gateway_unready() {
    let upstream = FakeUpstream::echo();
    let app = app_with(upstream.clone());
    let answer = call(&app, get("/health/ready", None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let names: Vec<String> = answer.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["orders", "inventory", "shipping"]);

    assert_eq!(answer.json()["status"], "up");

    // Shipping, then orders too, down: the gateway stays ready (each route answers for its
    // own upstream), says it is degraded and which check fails, and the catalogue is served.
    upstream.down.lock().unwrap().push(Target::Shipping);
    upstream.down.lock().unwrap().push(Target::Orders);
    let answer = call(&app, get("/health/ready", None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["checks"][2]["ok"], false, "{body}");
    assert_eq!(body["checks"][2]["required"], false, "{body}");
    assert_eq!(body["checks"][0]["ok"], false, "{body}");
    assert_eq!(body["checks"][1]["ok"], true, "{body}");
    let products = call(
        &app,
        get("/api/products", Some(&token_for("alice", "catalog:read"))),
    )
    .await;
    assert_eq!(products.status, StatusCode::OK);
    assert_eq!(
        call(&app, get("/health/live", None)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn domain_metrics_are_exported() {
    // Building an app installs the process-wide recorder behind `/metrics`.
    let app = app_with(FakeUpstream::replying(|_| {
        Err(UpstreamError::Timeout(Duration::from_secs(5)))
    }));
    call(&app, get("/api/products", None)).await;
    call(
        &app,
        get("/api/orders", Some(&token_for("m", "catalog:read"))),
    )
    .await;
    call(
        &app,
        get("/api/orders", Some(&token_for("m", "orders:read"))),
    )
    .await;
    let limited = super::app(AppState::new(
        authenticator(),
        KeyedLimiter::with_clock(nz(1), nz(1), FakeRelativeClock::default()),
        FakeUpstream::echo(),
    ));
    let token = token_for("m", "catalog:read");
    call(&limited, get("/api/products", Some(&token))).await;
    call(&limited, get("/api/products", Some(&token))).await;

    let text = call(&app, get("/metrics", None)).await;
    let text = String::from_utf8_lossy(&text.body);
    for needle in [
        "gateway_auth_failures_total{reason=\"missing\"}",
        "gateway_auth_failures_total{reason=\"insufficient_scope\"}",
        "gateway_rate_limited_total",
        "gateway_upstream_errors_total{upstream=\"orders\",kind=\"timeout\"}",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }
}

// ---------------------------------------------------------------- OpenAPI

#[test]
fn openapi_contract_is_fresh() {
    service_kit::openapi::check_contract(env!("CARGO_MANIFEST_DIR"), "gateway", &openapi());
}

#[test]
fn openapi_documents_the_routes_security_and_gateway_errors() {
    let doc = serde_json::to_value(openapi()).unwrap();
    assert_eq!(doc["info"]["title"], "gateway");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let expected = [
        ("/api/products", "get", "catalog:read"),
        ("/api/products/{sku}", "get", "catalog:read"),
        ("/api/orders", "post", "orders:write"),
        ("/api/orders", "get", "orders:read"),
        ("/api/orders/{id}", "get", "orders:read"),
        ("/api/shipments", "get", "shipments:read"),
        ("/api/shipments/{id}", "get", "shipments:read"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 6, "{:?}", paths.keys().collect::<Vec<_>>());
    for (path, method, scope) in expected {
        let op = &doc["paths"][path][method];
        assert_eq!(op["security"][0]["bearer"][0], scope, "{method} {path}");
        for status in ["401", "403", "429", "502", "504"] {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path} lacks {status}"
            );
        }
    }
    assert!(
        doc["paths"]["/api/orders"]["post"]["responses"]["202"]["headers"]["Location"].is_object()
    );
    let problem = &doc["components"]["responses"]["RateLimited"];
    assert_eq!(
        problem["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    assert!(problem["headers"]["Retry-After"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn serves_the_same_openapi_document() {
    let answer = call(&app_with(FakeUpstream::echo()), get("/openapi.json", None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), serde_json::to_value(openapi()).unwrap());
}

// ---------------------------------------------------------------- the real reqwest upstream

/// Serves `router` on 127.0.0.1 on a free port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// A base URL on which nothing listens.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn urls(orders: &str, inventory: &str, shipping: &str) -> UpstreamUrls {
    UpstreamUrls {
        orders: orders.to_owned(),
        inventory: inventory.to_owned(),
        shipping: shipping.to_owned(),
    }
}

/// An "orders" service that answers with what it received.
fn echo_service() -> Router {
    use axum::{extract::Request as AxumRequest, routing::any};
    async fn echo(request: AxumRequest) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let headers: serde_json::Map<String, serde_json::Value> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.to_str().unwrap())))
            .collect();
        let json = serde_json::json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        });
        axum::response::Response::builder()
            .status(StatusCode::ACCEPTED)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::LOCATION, "/orders/123")
            .body(Body::from(json.to_string()))
            .unwrap()
    }
    Router::new()
        .route("/health/live", axum::routing::get(|| async { "ok" }))
        .fallback(any(echo))
}

fn real_app(upstream: HttpUpstream) -> Router {
    app(AppState::new(authenticator(), generous_limiter(), upstream))
}

#[tokio::test]
async fn real_upstream_forwards_path_headers_and_body() {
    let orders = serve(echo_service()).await;
    let app = real_app(
        HttpUpstream::new(urls(&orders, &orders, &orders), Duration::from_secs(5)).unwrap(),
    );
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = call(
        &app,
        Request::post("/api/orders?source=test")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", token_for("alice", "orders:write")),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header("idempotency-key", "k-1")
            .header("x-request-id", "rid-7")
            .header("traceparent", incoming)
            .body(Body::from(r#"{"customer_id":"alice","items":[]}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
    assert_eq!(answer.header("location"), "/api/orders/123");
    assert_eq!(answer.header("x-request-id"), "rid-7");
    let seen = answer.json();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], "/orders?source=test");
    assert_eq!(
        seen["body"], r#"{"items":[]}"#,
        "the subject's own name is dropped"
    );
    let h = &seen["headers"];
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["accept"], "application/json");
    assert_eq!(h["idempotency-key"], "k-1");
    assert_eq!(h["x-request-id"], "rid-7");
    assert_eq!(h["x-customer-id"], "alice");
    assert!(h.get("authorization").is_none(), "{h}");
    let sent = TraceParent::parse(h["traceparent"].as_str().unwrap()).unwrap();
    assert_eq!(sent.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(sent.to_string(), incoming);
}

#[tokio::test]
async fn real_upstream_refused_connection_is_502() {
    let closed = closed_port().await;
    let app = real_app(
        HttpUpstream::new(urls(&closed, &closed, &closed), Duration::from_secs(5)).unwrap(),
    );
    let answer = call(
        &app,
        get("/api/products", Some(&token_for("alice", "catalog:read"))),
    )
    .await;
    let body = answer.assert_problem(StatusCode::BAD_GATEWAY, "upstream_unavailable");
    assert!(
        body["detail"].as_str().unwrap().contains("inventory"),
        "{body}"
    );

    // The gateway itself is still ready: its readiness reports the outage, never fails on it.
    let ready = call(&app, get("/health/ready", None)).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "degraded");
}

#[tokio::test]
async fn real_upstream_slow_answer_is_504() {
    let slow = serve(Router::new().route(
        "/shipments",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "[]"
        }),
    ))
    .await;
    let app =
        real_app(HttpUpstream::new(urls(&slow, &slow, &slow), Duration::from_millis(200)).unwrap());
    let started = std::time::Instant::now();
    let answer = call(
        &app,
        get(
            "/api/shipments",
            Some(&token_for("alice", "shipments:read")),
        ),
    )
    .await;
    let body = answer.assert_problem(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
    assert!(
        body["detail"].as_str().unwrap().contains("200 ms"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout applies"
    );
}

#[tokio::test]
async fn real_upstream_readiness_uses_health_live() {
    let up = serve(echo_service()).await;
    let closed = closed_port().await;
    let upstream = HttpUpstream::new(urls(&up, &up, &closed), Duration::from_secs(2)).unwrap();
    assert_eq!(upstream.live(Target::Orders).await, Ok(()));
    let err = upstream.live(Target::Shipping).await.unwrap_err();
    assert!(err.contains("unreachable"), "{err}");
    let answer = call(&real_app(upstream), get("/health/ready", None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"][2]["name"], "shipping");
    assert_eq!(body["checks"][2]["ok"], false);
    assert_eq!(body["checks"][0]["ok"], true);
}
