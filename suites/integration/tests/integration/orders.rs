//! orders for real (container, PostgreSQL, RabbitMQ), inventory and payments mocked from
//! their OpenAPI documents (`suites/integration/orders.toml`). What is asserted is what
//! `docs/src/sample-services.md` says orders does.

use std::time::{Duration, Instant};

use harness::{Stack, mock::Fault, mock::MockControl};
use integration_suite::{
    CUSTOMER, amqp_url, bind_queue, drain, final_order, finish, manifest, mock, recording,
};
use serde_json::{Value, json};

const FINAL: Duration = Duration::from_secs(60);
const EXCHANGE: &str = "orders.events";

/// A reservation inventory's document allows (order_id is echoed from the request).
fn reservation() -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "order_id": "00000000-0000-4000-8000-000000000000",
        "status": "ACTIVE",
        "items": [{"sku": "KB-001", "quantity": 2, "unit_price_cents": 8900}],
        "total_cents": 17800,
        "created_at": "2026-12-01T10:00:00Z"
    })
}

/// An authorised payment payments' document allows (order, customer and amount echoed).
fn authorised() -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "order_id": "00000000-0000-4000-8000-000000000000",
        "customer_id": "nobody",
        "amount_cents": 1,
        "currency": "EUR",
        "status": "AUTHORIZED",
        "created_at": "2026-12-01T10:00:00Z"
    })
}

async fn healthy_peers(inventory: &MockControl, payments: &MockControl) -> (String, String) {
    let (r, p) = (reservation(), authorised());
    inventory.clear_answers().await.unwrap();
    payments.clear_answers().await.unwrap();
    inventory.clear_faults().await.unwrap();
    payments.clear_faults().await.unwrap();
    inventory
        .answer("create_reservation", 201, Some(r.clone()))
        .await
        .unwrap();
    payments
        .answer("create_payment", 201, Some(p.clone()))
        .await
        .unwrap();
    (
        r["id"].as_str().unwrap().to_owned(),
        p["id"].as_str().unwrap().to_owned(),
    )
}

/// An order's body: its customer is the caller (`X-Customer-Id`), never the body's.
fn order_body() -> Value {
    json!({"items": [{"sku": "KB-001", "quantity": 2}]})
}

/// Places an order for the suite's customer ([`CUSTOMER`]); `scenario` names it in failures.
/// Returns its id.
async fn place(client: &harness::openapi::RecordingClient, base: &str, scenario: &str) -> String {
    let r = client
        .send(client.post(format!("{base}/orders")).json(&order_body()))
        .await
        .unwrap_or_else(|e| panic!("{scenario}: {e}"));
    assert_eq!(r.status(), 202);
    let order: Value = r.json().await.unwrap();
    order["id"].as_str().unwrap().to_owned()
}

/// How many orders `customer` has (`GET /orders` as that customer).
async fn orders_of(
    client: &harness::openapi::RecordingClient,
    base: &str,
    customer: &str,
) -> usize {
    let listed: Value = client
        .send(
            client
                .get(format!("{base}/orders"))
                .header("x-customer-id", customer),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed.as_array().expect("a list").len()
}

/// Calls a mock received about `order_id` for `operation`.
async fn calls_for(control: &MockControl, operation: &str, order_id: &str) -> usize {
    control
        .calls_to(operation)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.body.as_ref().is_some_and(|b| b["order_id"] == order_id))
        .count()
}

#[tokio::test]
async fn orders_with_mocked_peers() {
    let stack = Stack::shared(manifest("orders")).await.unwrap();
    let base = stack.url("orders").unwrap();
    let client = recording("orders");
    let inventory = mock(&stack, "inventory").await;
    let payments = mock(&stack, "payments").await;
    // What shipping would bind: orders publishes order.confirmed only where it is routed.
    let amqp = amqp_url(&stack);
    bind_queue(&amqp, EXCHANGE, "order.confirmed", "it.order-confirmed").await;

    // 1. The happy path: reserved, paid, confirmed, and order.confirmed published.
    let (reservation_id, payment_id) = healthy_peers(&inventory, &payments).await;
    let id = place(&client, &base, "it-happy").await;
    let order = final_order(&client, &base, &id, FINAL).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(order["total_cents"], 17800);
    assert_eq!(order["reservation_id"], reservation_id.as_str());
    assert_eq!(order["payment_id"], payment_id.as_str());
    let reserved = inventory.calls_to("create_reservation").await.unwrap();
    let asked = reserved
        .iter()
        .find(|c| c.body.as_ref().unwrap()["order_id"] == id.as_str())
        .expect("inventory was asked for the order's stock");
    assert_eq!(
        asked.body.as_ref().unwrap()["items"],
        json!([{"sku": "KB-001", "quantity": 2}])
    );
    let paid = payments.calls_to("create_payment").await.unwrap();
    let charge = paid
        .iter()
        .find(|c| c.body.as_ref().unwrap()["order_id"] == id.as_str())
        .expect("payments was asked to authorise the order");
    assert_eq!(
        charge.body.as_ref().unwrap()["amount_cents"],
        17800,
        "the reserved total"
    );
    let events = drain(&amqp, "it.order-confirmed").await;
    let (message_id, event) = events
        .iter()
        .find(|(_, e)| e["order_id"] == id.as_str())
        .expect("order.confirmed published for the order");
    assert_eq!(event["total_cents"], 17800);
    assert_eq!(event["items"], json!([{"sku": "KB-001", "quantity": 2}]));
    assert_eq!(
        message_id.as_deref(),
        event["event_id"].as_str(),
        "message_id = event_id"
    );
    // The intake queue's depth is a gauge on /metrics (read every INTAKE_DEPTH_INTERVAL_MS,
    // 500 ms here: wait a few probes at most).
    let mut depth = None;
    for _ in 0..50 {
        depth = gauge(&base, "orders_intake_queue_depth").await;
        if depth.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        depth.is_some_and(|d| d >= 0.0),
        "orders_intake_queue_depth on /metrics within 5 s: {depth:?}"
    );
    // The caller's trace reaches inventory and payments (`traceparent`, a parent id each).
    crate::trace_context::orders_calls_continue_the_callers_trace(
        &client, &base, &inventory, &payments, FINAL,
    )
    .await;

    // 2. Inventory refuses the reservation: rejected as out of stock, payments never asked.
    inventory
        .answer(
            "create_reservation",
            409,
            Some(json!({"type": "insufficient_stock", "title": "not enough stock", "status": 409, "detail": "KB-001: 0 left", "field": "items[0].sku"})),
        )
        .await
        .unwrap();
    let id = place(&client, &base, "it-out-of-stock").await;
    let order = final_order(&client, &base, &id, FINAL).await;
    assert_eq!(order["status"], "REJECTED", "{order}");
    assert_eq!(order["reason"], "out_of_stock", "{order}");
    assert_eq!(calls_for(&payments, "create_payment", &id).await, 0);

    // 3. Idempotent re-submission: the same key and body from 8 clients at once make one order.
    healthy_peers(&inventory, &payments).await;
    let key = uuid::Uuid::new_v4().to_string();
    let listed_before = orders_of(&client, &base, CUSTOMER).await;
    let sends = (0..8).map(|_| {
        let (client, base, key, body) = (&client, &base, &key, order_body());
        async move {
            let r = client
                .send(
                    client
                        .post(format!("{base}/orders"))
                        .header("idempotency-key", key.as_str())
                        .json(&body),
                )
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let ids = futures_util::future::join_all(sends).await;
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one order for one key: {ids:?}"
    );
    assert_eq!(
        orders_of(&client, &base, CUSTOMER).await,
        listed_before + 1,
        "one order listed for eight submissions"
    );
    let order = final_order(&client, &base, &ids[0], FINAL).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(
        calls_for(&payments, "create_payment", &ids[0]).await,
        1,
        "paid once"
    );
    let reused = client
        .send(
            client
                .post(format!("{base}/orders"))
                .header("idempotency-key", key.as_str())
                .json(&json!({"items": [{"sku": "KB-001", "quantity": 3}]})),
        )
        .await
        .unwrap();
    assert_eq!(reused.status(), 422, "same key, another body");
    let problem: Value = reused.json().await.unwrap();
    assert_eq!(problem["type"], "idempotency_key_reused", "{problem}");
    // Keys are the customer's own (in PostgreSQL: unique per customer and key): another
    // customer with the same key, and another body, gets an order of its own, and cannot
    // read the first customer's.
    let other = format!("it-other-{key}");
    let theirs = client
        .send(
            client
                .post(format!("{base}/orders"))
                .header("x-customer-id", other.as_str())
                .header("idempotency-key", key.as_str())
                .json(&json!({"items": [{"sku": "KB-001", "quantity": 3}]})),
        )
        .await
        .unwrap();
    assert_eq!(
        theirs.status(),
        202,
        "another customer's key is another key"
    );
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(theirs["id"], ids[0].as_str());
    assert_eq!(theirs["customer_id"], other.as_str());
    assert_eq!(orders_of(&client, &base, &other).await, 1);
    let peek = client
        .send(
            client
                .get(format!("{base}/orders/{}", ids[0]))
                .header("x-customer-id", other.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(peek.status(), 404, "another customer's order is not found");
    let without = client
        .send(
            client
                .get(format!("{base}/orders"))
                .header("x-customer-id", ""),
        )
        .await
        .unwrap();
    assert_eq!(without.status(), 401, "no customer, no orders");

    // 4. Payments slow: every attempt times out (UPSTREAM_TIMEOUT_MS=500), retried twice,
    // then rejected as unavailable and the reservation released.
    payments
        .fault(&Fault::latency(Duration::from_secs(2)).on("create_payment"))
        .await
        .unwrap();
    let id = place(&client, &base, "it-slow").await;
    let order = final_order(&client, &base, &id, FINAL).await;
    assert_eq!(order["status"], "REJECTED", "{order}");
    assert_eq!(order["reason"], "payment_unavailable", "{order}");
    assert_eq!(
        calls_for(&payments, "create_payment", &id).await,
        3,
        "one attempt and PAYMENTS_MAX_RETRIES=2 retries"
    );
    let released = inventory.calls_to("release_reservation").await.unwrap();
    assert!(!released.is_empty(), "the reservation is released");
    payments.clear_faults().await.unwrap();

    // 5. A dropped connection is retried: the order still goes through.
    payments
        .fault(&Fault::drop_connection().first(1).on("create_payment"))
        .await
        .unwrap();
    let id = place(&client, &base, "it-dropped").await;
    let order = final_order(&client, &base, &id, FINAL).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(calls_for(&payments, "create_payment", &id).await, 2);
    payments.clear_faults().await.unwrap();

    // 6. Planted mismatches: payments' mock made to serve an undocumented status, then a
    // retyped field. The mock's own contract check catches both.
    payments
        .answer("create_payment", 299, Some(authorised()))
        .await
        .unwrap();
    let id = place(&client, &base, "it-planted-status").await;
    final_order(&client, &base, &id, FINAL).await;
    let mut retyped = authorised();
    retyped["created_at"] = json!(20261201);
    payments.clear_answers().await.unwrap();
    payments
        .answer("create_payment", 201, Some(retyped))
        .await
        .unwrap();
    let id = place(&client, &base, "it-planted-field").await;
    final_order(&client, &base, &id, FINAL).await;
    let problems = payments.problems().await.unwrap();
    assert!(
        problems.iter().any(|p| p.contains("299")),
        "the undocumented status is reported: {problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("/created_at")),
        "the retyped field is reported: {problems:#?}"
    );
    assert_eq!(problems.len(), 2, "nothing else: {problems:#?}");
    // Planted on purpose: forget it before the final check.
    payments.reset().await.unwrap();

    finish(
        "orders",
        &client,
        &[("inventory", &inventory), ("payments", &payments)],
    )
    .await;
}

/// The breaker state gauge of orders (0 closed, 1 half-open, 2 open) from `/metrics`.
async fn breaker_state(base: &str) -> Option<f64> {
    gauge(base, "orders_breaker_state").await
}

/// A gauge without labels from the `/metrics` of the service at `base`.
async fn gauge(base: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn orders_breaker_opens_then_half_opens_and_recovers() {
    // A stack of its own: a low threshold and a short open window.
    const OPEN: Duration = Duration::from_millis(5000);
    let stack = Stack::from_manifest(manifest("orders"))
        .unwrap()
        .env("orders", "BREAKER_FAILURE_THRESHOLD", "3")
        .env("orders", "BREAKER_OPEN_MS", OPEN.as_millis().to_string())
        .start()
        .await
        .unwrap();
    let base = stack.url("orders").unwrap();
    let client = recording("orders");
    let inventory = mock(&stack, "inventory").await;
    let payments = mock(&stack, "payments").await;
    bind_queue(
        &amqp_url(&stack),
        EXCHANGE,
        "order.confirmed",
        "it.order-confirmed",
    )
    .await;
    healthy_peers(&inventory, &payments).await;

    // Payments fails: one attempt and two retries, and the third failure opens the circuit.
    payments
        .fault(&Fault::status(503).on("create_payment"))
        .await
        .unwrap();
    let first = place(&client, &base, "it-breaker-1").await;
    let order = final_order(&client, &base, &first, FINAL).await;
    let opened = Instant::now();
    assert_eq!(order["reason"], "payment_unavailable", "{order}");
    assert_eq!(
        calls_for(&payments, "create_payment", &first).await,
        3,
        "retried"
    );
    assert_eq!(breaker_state(&base).await, Some(2.0), "open");

    // While open: rejected at once, payments is not called at all.
    let second = place(&client, &base, "it-breaker-2").await;
    let order = final_order(&client, &base, &second, FINAL).await;
    assert_eq!(order["reason"], "payment_unavailable", "{order}");
    assert!(
        opened.elapsed() < OPEN,
        "the second order was handled within the open window"
    );
    assert_eq!(
        calls_for(&payments, "create_payment", &second).await,
        0,
        "refused by the open circuit"
    );

    // After the window a trial goes through; payments has recovered, so the circuit closes.
    payments.clear_faults().await.unwrap();
    tokio::time::sleep(OPEN.saturating_sub(opened.elapsed()) + Duration::from_millis(300)).await;
    let third = place(&client, &base, "it-breaker-3").await;
    let order = final_order(&client, &base, &third, FINAL).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(
        calls_for(&payments, "create_payment", &third).await,
        1,
        "the trial"
    );
    assert_eq!(breaker_state(&base).await, Some(0.0), "closed again");

    finish(
        "orders",
        &client,
        &[("inventory", &inventory), ("payments", &payments)],
    )
    .await;
    stack.shutdown().await.unwrap();
}
