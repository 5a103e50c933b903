//! In-process tests of the HTTP service (no sockets, no database): `oneshot` against
//! `app(state)` backed by the in-memory repository seeded with the embedded catalogue.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use service_kit::Health;
use tower::ServiceExt;
use uuid::Uuid;

use crate::{
    AppState, app,
    model::{InMemoryRepository, Repository, seed},
    openapi,
};

async fn test_app() -> (Router, Arc<InMemoryRepository>) {
    let repo = Arc::new(InMemoryRepository::new());
    let inserted = repo.seed(&seed::load(None).unwrap()).await.unwrap();
    assert_eq!(inserted, 10);
    let state = AppState {
        repo: repo.clone(),
        health: Health::new(),
    };
    (app(state), repo)
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

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn delete(uri: &str) -> Request<Body> {
    Request::delete(uri).body(Body::empty()).unwrap()
}

fn reserve(order: Uuid, items: &[(&str, i64)]) -> Request<Body> {
    let items: Vec<Value> = items
        .iter()
        .map(|(sku, q)| json!({"sku": sku, "quantity": q}))
        .collect();
    let body = json!({"order_id": order, "items": items});
    Request::post("/reservations")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn stock(repo: &InMemoryRepository, sku: &str) -> i32 {
    repo.get_product(sku).await.unwrap().unwrap().stock
}

#[tokio::test]
async fn lists_products_sorted_by_sku() {
    let (app, _) = test_app().await;
    let reply = send(&app, get("/products")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let products = reply.body.as_array().unwrap();
    assert_eq!(products.len(), 10);
    let skus: Vec<&str> = products
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    let mut sorted = skus.clone();
    sorted.sort_unstable();
    assert_eq!(skus, sorted);
    assert_eq!(skus[0], "CB-005");
    assert_eq!(
        products[0],
        json!({"sku": "CB-005", "name": "USB-C cable", "price_cents": 900, "currency": "EUR", "stock": 5000})
    );
}

#[tokio::test]
async fn gets_one_product_or_404() {
    let (app, _) = test_app().await;
    let reply = send(&app, get("/products/LE-010")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["stock"], 1);
    assert_eq!(reply.body["price_cents"], 12_900);
    let missing = send(&app, get("/products/NOPE-1")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Not a SKU at all (PostgreSQL would refuse the NUL): no such product either.
    let nul = send(&app, get("/products/KB%00")).await;
    assert_eq!(nul.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["type"], "not_found");
    assert_eq!(
        missing.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
}

#[tokio::test]
async fn reserves_stock_and_reads_the_reservation_back() {
    let (app, repo) = test_app().await;
    let order = Uuid::new_v4();
    let reply = send(
        &app,
        reserve(order, &[("MS-002", 1), ("KB-001", 2), ("MS-002", 2)]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["order_id"], order.to_string());
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(
        body["items"],
        json!([
            {"sku": "KB-001", "quantity": 2, "unit_price_cents": 8900},
            {"sku": "MS-002", "quantity": 3, "unit_price_cents": 2900}
        ])
    );
    assert_eq!(body["total_cents"], 2 * 8900 + 3 * 2900);
    assert!(body["created_at"].is_string());
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        reply.headers[header::LOCATION],
        format!("/reservations/{id}")
    );
    assert_eq!(stock(&repo, "KB-001").await, 498);
    assert_eq!(stock(&repo, "MS-002").await, 997);

    let fetched = send(&app, get(&format!("/reservations/{id}"))).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(&fetched.body, body);
    // The product route shows the new stock.
    let product = send(&app, get("/products/KB-001")).await;
    assert_eq!(product.body["stock"], 498);
}

#[tokio::test]
async fn unknown_reservation_is_404_and_bad_id_is_400() {
    let (app, _) = test_app().await;
    let missing = send(&app, get(&format!("/reservations/{}", Uuid::new_v4()))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let missing = send(&app, delete(&format!("/reservations/{}", Uuid::new_v4()))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad = send(&app, get("/reservations/123")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "id");
    let bad = send(&app, delete("/reservations/123")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn insufficient_stock_is_409_and_takes_nothing() {
    let (app, repo) = test_app().await;
    let order = Uuid::new_v4();
    // KB-001 (first in SKU order) would fit; SV-009 (stock 3) does not.
    let reply = send(&app, reserve(order, &[("SV-009", 4), ("KB-001", 5)])).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.body["type"], "insufficient_stock");
    assert_eq!(reply.body["field"], "items[0].quantity");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("SV-009") && detail.contains("available 3"),
        "{detail}"
    );
    assert_eq!(stock(&repo, "KB-001").await, 500, "all or nothing");
    assert_eq!(stock(&repo, "SV-009").await, 3);

    // Duplicate lines are added up before checking: 2 + 2 > 3.
    let reply = send(
        &app,
        reserve(order, &[("KB-001", 1), ("SV-009", 2), ("SV-009", 2)]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.body["field"], "items[1].quantity");
    assert_eq!(stock(&repo, "KB-001").await, 500);

    // The refused order can still reserve what is available.
    let reply = send(&app, reserve(order, &[("SV-009", 3)])).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(stock(&repo, "SV-009").await, 0);
}

#[tokio::test]
async fn unknown_sku_is_422_naming_the_line() {
    let (app, repo) = test_app().await;
    let reply = send(
        &app,
        reserve(
            Uuid::new_v4(),
            &[("KB-001", 1), ("MS-002", 1), ("ZZ-999", 1)],
        ),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["type"], "unknown_sku");
    assert_eq!(reply.body["field"], "items[2].sku");
    assert!(reply.body["detail"].as_str().unwrap().contains("ZZ-999"));
    assert_eq!(stock(&repo, "KB-001").await, 500);
    assert_eq!(stock(&repo, "MS-002").await, 1000);
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let (app, repo) = test_app().await;
    let post = |body: Value| {
        Request::post("/reservations")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let order = Uuid::new_v4();
    let cases = [
        (json!({"order_id": order, "items": []}), "items"),
        (
            json!({"order_id": order, "items": [{"sku": "KB-001", "quantity": 0}]}),
            "items[0].quantity",
        ),
        (
            json!({"order_id": order, "items": [{"sku": "KB-001", "quantity": 1}, {"sku": "KB-001", "quantity": -1}]}),
            "items[1].quantity",
        ),
        (
            json!({"order_id": order, "items": [{"sku": "KB-001", "quantity": "2"}]}),
            "items[0].quantity",
        ),
        (
            json!({"order_id": order, "items": [{"sku": "", "quantity": 1}]}),
            "items[0].sku",
        ),
        (
            json!({"order_id": order, "items": [{"sku": 5, "quantity": 1}]}),
            "items[0].sku",
        ),
        (
            json!({"order_id": "o-1", "items": [{"sku": "KB-001", "quantity": 1}]}),
            "order_id",
        ),
        (json!({"order_id": order, "items": "KB-001"}), "items"),
    ];
    for (body, field) in cases {
        let reply = send(&app, post(body.clone())).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {}",
            reply.body
        );
        assert_eq!(reply.body["field"], field, "{body} -> {}", reply.body);
    }
    let not_json = Request::post("/reservations")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{"))
        .unwrap();
    assert_eq!(send(&app, not_json).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(stock(&repo, "KB-001").await, 500);
}

#[tokio::test]
async fn same_order_again_replays_without_taking_stock() {
    let (app, repo) = test_app().await;
    let order = Uuid::new_v4();
    let first = send(&app, reserve(order, &[("HS-004", 2)])).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = send(&app, reserve(order, &[("HS-004", 2)])).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    assert!(again.headers.get(header::LOCATION).is_none());
    assert_eq!(stock(&repo, "HS-004").await, 298);
}

#[tokio::test]
async fn release_returns_the_stock_once() {
    let (app, repo) = test_app().await;
    let order = Uuid::new_v4();
    let created = send(&app, reserve(order, &[("LE-010", 1), ("WC-008", 10)])).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(stock(&repo, "LE-010").await, 0);
    assert_eq!(stock(&repo, "WC-008").await, 240);

    let released = send(&app, delete(&format!("/reservations/{id}"))).await;
    assert_eq!(released.status, StatusCode::NO_CONTENT);
    assert_eq!(released.body, Value::Null);
    assert_eq!(stock(&repo, "LE-010").await, 1);
    assert_eq!(stock(&repo, "WC-008").await, 250);
    let fetched = send(&app, get(&format!("/reservations/{id}"))).await;
    assert_eq!(
        fetched.status,
        StatusCode::GONE,
        "a released reservation is gone"
    );
    assert_eq!(fetched.body["type"], "released");

    // Releasing again is a no-op.
    let again = send(&app, delete(&format!("/reservations/{id}"))).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    assert_eq!(stock(&repo, "LE-010").await, 1);
    assert_eq!(stock(&repo, "WC-008").await, 250);

    // The released order replays as released and takes nothing.
    let replay = send(&app, reserve(order, &[("LE-010", 1)])).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.body["status"], "RELEASED");
    assert_eq!(stock(&repo, "LE-010").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_oversell() {
    let (app, repo) = test_app().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                send(
                    &app,
                    reserve(Uuid::new_v4(), &[("CB-005", 1), ("SV-009", 1)]),
                )
                .await
                .status
            })
        })
        .collect();
    let mut created = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, refused), (3, 47));
    assert_eq!(stock(&repo, "SV-009").await, 0);
    assert_eq!(
        stock(&repo, "CB-005").await,
        5000 - 3,
        "refused ones took nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_one_order_reserve_once() {
    let (app, repo) = test_app().await;
    let order = Uuid::new_v4();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, reserve(order, &[("DK-006", 5)])).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        assert!(matches!(reply.status, StatusCode::CREATED | StatusCode::OK));
        created += usize::from(reply.status == StatusCode::CREATED);
        ids.insert(reply.body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!((created, ids.len()), (1, 1));
    assert_eq!(stock(&repo, "DK-006").await, 145);
}

#[tokio::test]
async fn seeding_leaves_existing_products_alone() {
    let (app, repo) = test_app().await;
    send(&app, reserve(Uuid::new_v4(), &[("MN-003", 7)])).await;
    let inserted = repo.seed(&seed::load(None).unwrap()).await.unwrap();
    assert_eq!(inserted, 0);
    assert_eq!(stock(&repo, "MN-003").await, 193);
}

#[tokio::test]
async fn metrics_count_outcomes() {
    let (app, _) = test_app().await;
    let order = Uuid::new_v4();
    let created = send(&app, reserve(order, &[("KB-001", 1)])).await;
    send(&app, reserve(order, &[("KB-001", 1)])).await;
    send(&app, reserve(Uuid::new_v4(), &[("LE-010", 2)])).await;
    send(&app, reserve(Uuid::new_v4(), &[("XX-000", 2)])).await;
    let id = created.body["id"].as_str().unwrap();
    send(&app, delete(&format!("/reservations/{id}"))).await;
    send(&app, delete(&format!("/reservations/{id}"))).await;
    let text = send(&app, get("/metrics")).await.body;
    let text = text.as_str().unwrap();
    for outcome in ["created", "replayed", "insufficient_stock", "unknown_sku"] {
        let line = format!("inventory_reservations_total{{outcome=\"{outcome}\"}} 1");
        assert!(text.contains(&line), "{line} missing in\n{text}");
    }
    assert!(text.contains("inventory_releases_total 1"), "{text}");
}

#[tokio::test]
async fn health_and_openapi_are_served() {
    let (app, _) = test_app().await;
    assert_eq!(
        send(&app, get("/health/ready")).await.status,
        StatusCode::OK
    );
    assert_eq!(send(&app, get("/health/live")).await.status, StatusCode::OK);
    let doc = send(&app, get("/openapi.json")).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body, serde_json::to_value(openapi()).unwrap());
    assert_eq!(doc.body["info"]["title"], "inventory");
    for (path, method) in [
        ("/products", "get"),
        ("/products/{sku}", "get"),
        ("/reservations", "post"),
        ("/reservations/{id}", "get"),
        ("/reservations/{id}", "delete"),
    ] {
        assert!(
            doc.body["paths"][path][method].is_object(),
            "{method} {path}"
        );
    }
}

#[test]
fn openapi_contract_is_fresh() {
    service_kit::openapi::check_contract(env!("CARGO_MANIFEST_DIR"), "inventory", &openapi());
}
