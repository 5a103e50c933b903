//! In-process tests of the HTTP service (no sockets): `oneshot` against `app(state)`.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::{
    AppState, app,
    model::{InMemoryLedger, Ledger, LedgerError, NewPayment, Payment, Recorded, Rules, Voided},
    openapi,
};

fn state_with(ledger: Arc<InMemoryLedger>) -> AppState {
    AppState {
        ledger,
        rules: Arc::new(Rules {
            limit_cents: 500_000,
            blocked_customers: ["blocked-customer".to_owned()].into_iter().collect(),
        }),
    }
}

fn test_app() -> (Router, Arc<InMemoryLedger>) {
    let ledger = Arc::new(InMemoryLedger::new());
    (app(state_with(ledger.clone())), ledger)
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn post(body: &Value) -> Request<Body> {
    Request::post("/payments")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn void(id: &str) -> Request<Body> {
    Request::post(format!("/payments/{id}/void"))
        .body(Body::empty())
        .unwrap()
}

fn void_order(body: &Value) -> Request<Body> {
    Request::post("/payments/void")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn payment(order: Uuid, customer: &str, cents: i64) -> Value {
    json!({"order_id": order, "customer_id": customer, "amount_cents": cents, "currency": "EUR"})
}

#[tokio::test]
async fn authorises_a_payment_and_reads_it_back() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let created = send(&app, post(&payment(order, "alice", 17_800))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let body = &created.body;
    assert_eq!(body["status"], "AUTHORIZED");
    assert_eq!(body["order_id"], order.to_string());
    assert_eq!(body["customer_id"], "alice");
    assert_eq!(body["amount_cents"], 17_800);
    assert_eq!(body["currency"], "EUR");
    assert!(body.get("decline_reason").is_none(), "{body}");
    assert!(body["created_at"].is_string());
    let id = body["id"].as_str().unwrap();
    assert_eq!(created.headers[header::LOCATION], format!("/payments/{id}"));
    assert_eq!(ledger.len(), 1);

    let fetched = send(&app, get(&format!("/payments/{id}"))).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(&fetched.body, body);
}

#[tokio::test]
async fn unknown_payment_is_404_and_bad_id_is_400() {
    let (app, _) = test_app();
    let missing = send(&app, get(&format!("/payments/{}", Uuid::new_v4()))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["type"], "not_found");
    assert_eq!(
        missing.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let bad = send(&app, get("/payments/not-a-uuid")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "id");
}

#[tokio::test]
async fn amount_above_the_limit_is_declined_but_recorded() {
    let (app, ledger) = test_app();
    let reply = send(&app, post(&payment(Uuid::new_v4(), "alice", 500_001))).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["status"], "DECLINED");
    assert_eq!(reply.body["decline_reason"], "limit_exceeded");
    assert_eq!(ledger.len(), 1);
    // Exactly the limit is fine.
    let reply = send(&app, post(&payment(Uuid::new_v4(), "alice", 500_000))).await;
    assert_eq!(reply.body["status"], "AUTHORIZED");
}

#[tokio::test]
async fn blocked_customer_is_declined() {
    let (app, _) = test_app();
    let reply = send(
        &app,
        post(&payment(Uuid::new_v4(), "blocked-customer", 100)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["status"], "DECLINED");
    assert_eq!(reply.body["decline_reason"], "customer_blocked");
}

#[tokio::test]
async fn same_order_again_returns_the_existing_payment() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let first = send(&app, post(&payment(order, "alice", 2_900))).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = send(&app, post(&payment(order, "alice", 2_900))).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    assert!(again.headers.get(header::LOCATION).is_none());
    assert_eq!(ledger.len(), 1);
}

#[tokio::test]
async fn declined_payment_replays_as_declined() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let first = send(&app, post(&payment(order, "alice", 900_000))).await;
    let again = send(&app, post(&payment(order, "alice", 900_000))).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["decline_reason"], "limit_exceeded");
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(ledger.len(), 1);
}

#[tokio::test]
async fn same_order_with_other_terms_is_a_mismatch() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let first = send(&app, post(&payment(order, "alice", 2_900))).await;
    assert_eq!(first.status, StatusCode::CREATED);

    let other_amount = send(&app, post(&payment(order, "alice", 3_000))).await;
    assert_eq!(
        other_amount.status,
        StatusCode::CONFLICT,
        "{}",
        other_amount.body
    );
    assert_eq!(other_amount.body["type"], "payment_mismatch");
    let detail = other_amount.body["detail"].as_str().unwrap();
    assert!(detail.contains("amount_cents 2900"), "{detail}");

    let mut other_currency = payment(order, "alice", 2_900);
    other_currency["currency"] = json!("USD");
    let reply = send(&app, post(&other_currency)).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.body["type"], "payment_mismatch");

    let reply = send(&app, post(&payment(order, "bob", 2_900))).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);

    assert_eq!(ledger.len(), 1);
    let fetched = send(
        &app,
        get(&format!("/payments/{}", first.body["id"].as_str().unwrap())),
    )
    .await;
    assert_eq!(fetched.body["amount_cents"], 2_900);
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let cases = [
        (
            json!({"order_id": order, "customer_id": "a", "amount_cents": 0, "currency": "EUR"}),
            "amount_cents",
        ),
        (
            json!({"order_id": order, "customer_id": "a", "amount_cents": -5, "currency": "EUR"}),
            "amount_cents",
        ),
        (
            json!({"order_id": order, "customer_id": "a", "amount_cents": "ten", "currency": "EUR"}),
            "amount_cents",
        ),
        (
            json!({"order_id": order, "customer_id": "a", "amount_cents": 1.5, "currency": "EUR"}),
            "amount_cents",
        ),
        (
            json!({"order_id": order, "customer_id": "a", "amount_cents": 10, "currency": "eur"}),
            "currency",
        ),
        (
            json!({"order_id": order, "customer_id": "a", "amount_cents": 10, "currency": "EURO"}),
            "currency",
        ),
        (
            json!({"order_id": order, "customer_id": "a", "amount_cents": 10, "currency": 978}),
            "currency",
        ),
        (
            json!({"order_id": order, "customer_id": "", "amount_cents": 10, "currency": "EUR"}),
            "customer_id",
        ),
        (
            json!({"order_id": order, "customer_id": "  ", "amount_cents": 10, "currency": "EUR"}),
            "customer_id",
        ),
        (
            json!({"order_id": "order-1", "customer_id": "a", "amount_cents": 10, "currency": "EUR"}),
            "order_id",
        ),
        (
            json!({"order_id": 7, "customer_id": "a", "amount_cents": 10, "currency": "EUR"}),
            "order_id",
        ),
        (
            json!({"order_id": Uuid::nil(), "customer_id": "a", "amount_cents": 10, "currency": "EUR"}),
            "order_id",
        ),
    ];
    for (body, field) in cases {
        let reply = send(&app, post(&body)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {}",
            reply.body
        );
        assert_eq!(reply.body["field"], field, "{body} -> {}", reply.body);
        assert_eq!(reply.body["type"], "validation");
    }
    // A missing field is a 422 whose detail names it.
    let reply = send(
        &app,
        post(&json!({"customer_id": "a", "amount_cents": 1, "currency": "EUR"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body["detail"].as_str().unwrap().contains("order_id"),
        "{}",
        reply.body
    );
    assert!(ledger.is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_4xx_not_5xx() {
    let (app, ledger) = test_app();
    let not_json = Request::post("/payments")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"order_id\":"))
        .unwrap();
    assert_eq!(send(&app, not_json).await.status, StatusCode::BAD_REQUEST);
    let no_content_type = Request::post("/payments")
        .body(Body::from(payment(Uuid::new_v4(), "a", 1).to_string()))
        .unwrap();
    assert_eq!(
        send(&app, no_content_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let wrong_method = Request::delete("/payments").body(Body::empty()).unwrap();
    assert_eq!(
        send(&app, wrong_method).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert!(ledger.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_one_order_record_one_payment() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let app = app.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let reply = send(&app, post(&payment(order, "alice", 4_200))).await;
                (reply.status, reply.body["id"].as_str().unwrap().to_owned())
            })
        })
        .collect();
    let mut created = 0;
    let mut replayed = 0;
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let (status, id) = task.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => replayed += 1,
            other => panic!("unexpected status {other}"),
        }
        ids.insert(id);
    }
    assert_eq!((created, replayed), (1, 63));
    assert_eq!(ids.len(), 1, "every answer names the same payment");
    assert_eq!(ledger.len(), 1);
}

/// A ledger whose database is down: every call fails as PostgreSQL's would.
struct DownLedger;

#[async_trait::async_trait]
impl Ledger for DownLedger {
    async fn record(&self, _: Payment) -> Result<Recorded, LedgerError> {
        Err(LedgerError::Unavailable("pool timed out".into()))
    }
    async fn get(&self, _: Uuid) -> Result<Option<Payment>, LedgerError> {
        Err(LedgerError::Unavailable("pool timed out".into()))
    }
    async fn void(&self, _: Uuid) -> Result<Option<Voided>, LedgerError> {
        Err(LedgerError::Unavailable("pool timed out".into()))
    }
    async fn void_order(&self, _: NewPayment) -> Result<Voided, LedgerError> {
        Err(LedgerError::Other(
            "payment x: unknown status \"LOST\"".into(),
        ))
    }
    async fn ping(&self) -> Result<(), LedgerError> {
        Err(LedgerError::Unavailable("connection refused".into()))
    }
}

#[tokio::test]
async fn a_ledger_that_is_down_is_503_and_not_ready() {
    let app = app(AppState {
        ledger: Arc::new(DownLedger),
        rules: state_with(Arc::new(InMemoryLedger::new())).rules,
    });
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.body
    );
    assert_eq!(ready.body["checks"][0]["name"], "ledger");
    assert_eq!(send(&app, get("/health/live")).await.status, StatusCode::OK);
    let id = Uuid::new_v4();
    for request in [
        post(&payment(id, "alice", 1)),
        get(&format!("/payments/{id}")),
        void(&id.to_string()),
    ] {
        let reply = send(&app, request).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert_eq!(reply.body["type"], "unavailable");
    }
    // A broken row is not an outage: 500, and its detail is not shown.
    let reply = send(&app, void_order(&payment(id, "alice", 1))).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!reply.body.to_string().contains("LOST"), "{}", reply.body);
}

#[tokio::test]
async fn health_is_ready_when_the_ledger_answers() {
    let (app, _) = test_app();
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "up");
    assert_eq!(ready.body["checks"][0]["name"], "ledger");
    assert_eq!(send(&app, get("/health/live")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_authorisations_and_declines_by_reason() {
    let (app, _) = test_app();
    send(&app, post(&payment(Uuid::new_v4(), "alice", 100))).await;
    send(&app, post(&payment(Uuid::new_v4(), "alice", 600_000))).await;
    send(
        &app,
        post(&payment(Uuid::new_v4(), "blocked-customer", 100)),
    )
    .await;
    let metrics = send(&app, get("/metrics")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains("payments_authorized_total"), "{text}");
    assert!(
        text.contains("payments_declined_total{reason=\"limit_exceeded\"}"),
        "{text}"
    );
    assert!(
        text.contains("payments_declined_total{reason=\"customer_blocked\"}"),
        "{text}"
    );
    assert!(text.contains("http_requests_total"), "{text}");
}

#[tokio::test]
async fn an_authorised_payment_is_voided_and_voiding_again_changes_nothing() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let created = send(&app, post(&payment(order, "alice", 2_500))).await;
    let id = created.body["id"].as_str().unwrap().to_owned();

    let voided = send(&app, void(&id)).await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.body);
    assert_eq!(voided.body["status"], "VOIDED");
    assert_eq!(voided.body["id"], id);
    assert_eq!(voided.body["amount_cents"], 2_500);
    assert_eq!(voided.body["created_at"], created.body["created_at"]);
    assert!(voided.body["voided_at"].is_string(), "{}", voided.body);
    assert!(created.body.get("voided_at").is_none(), "{}", created.body);

    let again = send(&app, void(&id)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, voided.body, "the second void changes nothing");
    let fetched = send(&app, get(&format!("/payments/{id}"))).await;
    assert_eq!(fetched.body, voided.body);

    // The order's authorisation again: the voided payment, nothing authorised.
    let replay = send(&app, post(&payment(order, "alice", 2_500))).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.body, voided.body);
    assert_eq!(ledger.len(), 1);
}

#[tokio::test]
async fn voiding_a_declined_payment_leaves_it_declined() {
    let (app, _) = test_app();
    let order = Uuid::new_v4();
    let declined = send(&app, post(&payment(order, "blocked-customer", 100))).await;
    assert_eq!(declined.body["status"], "DECLINED");
    let id = declined.body["id"].as_str().unwrap();
    let reply = send(&app, void(id)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, declined.body);
    let by_order = send(&app, void_order(&payment(order, "blocked-customer", 100))).await;
    assert_eq!(by_order.status, StatusCode::OK);
    assert_eq!(by_order.body, declined.body);
}

#[tokio::test]
async fn voiding_an_unknown_payment_is_404_and_a_bad_id_400() {
    let (app, ledger) = test_app();
    let missing = send(&app, void(&Uuid::new_v4().to_string())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["type"], "not_found");
    let bad = send(&app, void("not-a-uuid")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "id");
    let wrong_method = send(&app, get(&format!("/payments/{}/void", Uuid::new_v4()))).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(ledger.is_empty());
}

#[tokio::test]
async fn voiding_by_order_voids_the_orders_payment() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let created = send(&app, post(&payment(order, "alice", 4_000))).await;
    // The terms of the void do not have to match: the order's payment is what is voided.
    let reply = send(&app, void_order(&payment(order, "alice", 4_001))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["id"], created.body["id"]);
    assert_eq!(reply.body["status"], "VOIDED");
    assert_eq!(reply.body["amount_cents"], 4_000);
    assert!(reply.headers.get(header::LOCATION).is_none());
    let again = send(&app, void_order(&payment(order, "alice", 4_000))).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, reply.body);
    assert_eq!(ledger.len(), 1);
}

#[tokio::test]
async fn voiding_an_order_without_payment_records_it_voided_so_none_is_authorised_later() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let reply = send(&app, void_order(&payment(order, "alice", 1_200))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["status"], "VOIDED");
    assert_eq!(reply.body["order_id"], order.to_string());
    assert_eq!(reply.body["voided_at"], reply.body["created_at"]);
    let id = reply.body["id"].as_str().unwrap();
    assert_eq!(reply.headers[header::LOCATION], format!("/payments/{id}"));

    // The authorisation that was still on its way arrives: it authorises nothing.
    let late = send(&app, post(&payment(order, "alice", 1_200))).await;
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(late.body, reply.body);
    let other = send(&app, post(&payment(order, "alice", 1_300))).await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.body["type"], "payment_mismatch");
    assert_eq!(ledger.len(), 1);
}

#[tokio::test]
async fn a_void_by_order_is_validated_like_an_authorisation() {
    let (app, ledger) = test_app();
    let cases = [
        (
            json!({"order_id": Uuid::nil(), "customer_id": "a", "amount_cents": 1, "currency": "EUR"}),
            "order_id",
        ),
        (
            json!({"order_id": Uuid::new_v4(), "customer_id": "a\u{0}", "amount_cents": 1, "currency": "EUR"}),
            "customer_id",
        ),
        (
            json!({"order_id": Uuid::new_v4(), "customer_id": "a", "amount_cents": 0, "currency": "EUR"}),
            "amount_cents",
        ),
        (
            json!({"order_id": Uuid::new_v4(), "customer_id": "a", "amount_cents": 1, "currency": "eur"}),
            "currency",
        ),
    ];
    for (body, field) in cases {
        let reply = send(&app, void_order(&body)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(reply.body["field"], field, "{body} -> {}", reply.body);
    }
    let no_content_type = Request::post("/payments/void")
        .body(Body::from(payment(Uuid::new_v4(), "a", 1).to_string()))
        .unwrap();
    assert_eq!(
        send(&app, no_content_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert!(ledger.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_voids_and_authorisations_of_one_order_leave_it_voided() {
    let (app, ledger) = test_app();
    let order = Uuid::new_v4();
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let app = app.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let body = payment(order, "alice", 900);
                let reply = if i % 2 == 0 {
                    send(&app, post(&body)).await
                } else {
                    send(&app, void_order(&body)).await
                };
                assert!(
                    reply.status == StatusCode::OK || reply.status == StatusCode::CREATED,
                    "{} {}",
                    reply.status,
                    reply.body
                );
                reply.body["id"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "one payment for the order");
    assert_eq!(ledger.len(), 1);
    let id = ids.into_iter().next().unwrap();
    let stored = send(&app, get(&format!("/payments/{id}"))).await;
    assert_eq!(stored.body["status"], "VOIDED", "{}", stored.body);
}

#[tokio::test]
async fn metrics_count_voids_by_outcome() {
    let (app, _) = test_app();
    let created = send(&app, post(&payment(Uuid::new_v4(), "alice", 100))).await;
    let id = created.body["id"].as_str().unwrap();
    send(&app, void(id)).await;
    send(&app, void(id)).await;
    send(&app, void_order(&payment(Uuid::new_v4(), "alice", 100))).await;
    let text = send(&app, get("/metrics")).await.body;
    let text = text.as_str().unwrap();
    for outcome in ["voided", "already_voided", "recorded_voided"] {
        assert!(
            text.contains(&format!("payments_voids_total{{outcome=\"{outcome}\"}}")),
            "{outcome}: {text}"
        );
    }
}

#[tokio::test]
async fn serves_its_openapi_document() {
    let (app, _) = test_app();
    let reply = send(&app, get("/openapi.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, serde_json::to_value(openapi()).unwrap());
    assert_eq!(reply.body["info"]["title"], "payments");
    assert!(reply.body["paths"]["/payments"]["post"].is_object());
    assert!(reply.body["paths"]["/payments/{id}"]["get"].is_object());
    assert!(reply.body["paths"]["/payments/{id}/void"]["post"].is_object());
    assert!(reply.body["paths"]["/payments/void"]["post"].is_object());
    assert_eq!(
        reply.body["components"]["schemas"]["PaymentStatus"]["enum"],
        json!(["AUTHORIZED", "DECLINED", "VOIDED"])
    );
}

#[test]
fn openapi_contract_is_fresh() {
    service_kit::openapi::check_contract(env!("CARGO_MANIFEST_DIR"), "payments", &openapi());
}
