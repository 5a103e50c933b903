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

/// Calls inventory's mock received to release `reservation_id`.
async fn releases_of(inventory: &MockControl, reservation_id: &str) -> usize {
    inventory
        .calls_to("release_reservation")
        .await
        .unwrap()
        .iter()
        .filter(|c| c.path.ends_with(&format!("/{reservation_id}")))
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

    // 4. Payments slow: every attempt times out (UPSTREAM_TIMEOUT_MS=500), retried twice. The
    // outcome is unknown, so the order is not rejected: it waits, PENDING, its stock still
    // reserved and nothing voided, and is tried again after ORDERS_INTAKE_RETRY_DELAY_MS.
    // Payments answers again well before the order's deadline: CONFIRMED.
    let (reservation_id, payment_id) = healthy_peers(&inventory, &payments).await;
    payments
        .fault(&Fault::latency(Duration::from_secs(2)).on("create_payment"))
        .await
        .unwrap();
    let id = place(&client, &base, "it-slow").await;
    let deadline = Instant::now() + FINAL;
    while calls_for(&payments, "create_payment", &id).await < 3 {
        assert!(Instant::now() < deadline, "three payment attempts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The third attempt's timeout, and the order is sent to wait.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let order: Value = client
        .send(client.get(format!("{base}/orders/{id}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "PENDING", "waits for payments: {order}");
    assert!(order.get("reason").is_none(), "{order}");
    assert_eq!(
        releases_of(&inventory, &reservation_id).await,
        0,
        "stock kept"
    );
    assert_eq!(calls_for(&payments, "void_order_payment", &id).await, 0);
    payments.clear_faults().await.unwrap();
    let order = final_order(&client, &base, &id, FINAL).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(order["reservation_id"], reservation_id.as_str());
    assert_eq!(order["payment_id"], payment_id.as_str());
    assert!(
        calls_for(&payments, "create_payment", &id).await >= 4,
        "tried again after the wait"
    );
    assert_eq!(releases_of(&inventory, &reservation_id).await, 0);
    assert_eq!(calls_for(&payments, "void_order_payment", &id).await, 0);

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

/// A payment voided, as payments' document allows (order, customer and amount echoed).
fn voided() -> Value {
    let mut payment = authorised();
    payment["status"] = json!("VOIDED");
    payment["voided_at"] = json!("2026-12-01T10:05:00Z");
    payment
}

/// The order as the suite's customer reads it.
async fn read(client: &harness::openapi::RecordingClient, base: &str, id: &str) -> Value {
    client
        .send(client.get(format!("{base}/orders/{id}")))
        .await
        .unwrap_or_else(|e| panic!("GET /orders/{id}: {e}"))
        .json()
        .await
        .expect("an order")
}

/// Whether orders logged `message` about `order_id` (its log lines are JSON).
fn logged(stack: &Stack, order_id: &str, message: &str) -> bool {
    stack
        .logs("orders")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains(order_id) && l.contains(message))
}

#[tokio::test]
async fn orders_wait_for_payments_behind_the_breaker_then_cancel_at_the_deadline() {
    // A stack of its own: a low breaker threshold and a short open window, retries a second
    // apart, and a payment deadline a test can wait for.
    const OPEN: Duration = Duration::from_millis(4000);
    const PAYMENT_DEADLINE: Duration = Duration::from_secs(15);
    let stack = Stack::from_manifest(manifest("orders"))
        .unwrap()
        .env("orders", "BREAKER_FAILURE_THRESHOLD", "3")
        .env("orders", "BREAKER_OPEN_MS", OPEN.as_millis().to_string())
        .env("orders", "ORDERS_INTAKE_RETRY_DELAY_MS", "1000")
        .env("orders", "ORDERS_INTAKE_MAX_RETRIES", "120")
        .env(
            "orders",
            "ORDERS_PAYMENT_DEADLINE_MS",
            PAYMENT_DEADLINE.as_millis().to_string(),
        )
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

    // 1. The breaker. Payments fails: one attempt and two retries, and the third failure
    // opens the circuit. The order waits for payments, PENDING.
    let (reservation_id, _) = healthy_peers(&inventory, &payments).await;
    payments
        .fault(&Fault::status(503).on("create_payment"))
        .await
        .unwrap();
    let first = place(&client, &base, "it-breaker-1").await;
    let deadline = Instant::now() + FINAL;
    while breaker_state(&base).await != Some(2.0) {
        assert!(Instant::now() < deadline, "the circuit opens");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opened = Instant::now();
    assert_eq!(
        calls_for(&payments, "create_payment", &first).await,
        3,
        "retried"
    );
    let order = read(&client, &base, &first).await;
    assert_eq!(
        order["status"], "PENDING",
        "an order whose payment cannot be authorised while payments is away waits for it, PENDING: {order}"
    );

    // While open: refused at once, payments is not called at all; the order waits too.
    let second = place(&client, &base, "it-breaker-2").await;
    while !logged(&stack, &second, "the order waits for it") {
        assert!(
            Instant::now() < deadline,
            "the second order is sent to wait"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        opened.elapsed() < OPEN,
        "the second order was handled within the open window"
    );
    assert_eq!(
        calls_for(&payments, "create_payment", &second).await,
        0,
        "refused by the open circuit"
    );
    assert_eq!(read(&client, &base, &second).await["status"], "PENDING");

    // Payments recovers. After the window a trial goes through and closes the circuit, and
    // both waiting orders are confirmed (well before their deadline), their stock never
    // released and nothing voided; a new order goes through with one call.
    payments.clear_faults().await.unwrap();
    for id in [&first, &second] {
        let order = final_order(&client, &base, id, FINAL).await;
        assert_eq!(order["status"], "CONFIRMED", "{order}");
        assert_eq!(calls_for(&payments, "void_order_payment", id).await, 0);
    }
    assert!(
        opened.elapsed() >= OPEN,
        "not before the circuit half-opened"
    );
    assert_eq!(releases_of(&inventory, &reservation_id).await, 0);
    let third = place(&client, &base, "it-breaker-3").await;
    let order = final_order(&client, &base, &third, FINAL).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(calls_for(&payments, "create_payment", &third).await, 1);
    assert_eq!(breaker_state(&base).await, Some(0.0), "closed again");

    // 2. The deadline. Payments keeps failing, voids too: the order waits until its
    // deadline, then its cancellation is decided, but while the void fails nothing is
    // released and the order stays PENDING.
    let (reservation_id, _) = healthy_peers(&inventory, &payments).await;
    let voided = voided();
    payments
        .answer("void_order_payment", 200, Some(voided.clone()))
        .await
        .unwrap();
    payments
        .fault(&Fault::status(503).on("create_payment"))
        .await
        .unwrap();
    payments
        .fault(&Fault::status(503).on("void_order_payment"))
        .await
        .unwrap();
    let placed = Instant::now();
    let late = place(&client, &base, "it-deadline").await;
    let patience = PAYMENT_DEADLINE + FINAL;
    while calls_for(&payments, "void_order_payment", &late).await == 0 {
        // No order is final while money may be held for it: not before a void is tried.
        let order = read(&client, &base, &late).await;
        assert_eq!(
            order["status"], "PENDING",
            "the order was given up on without its payment being voided: {order}"
        );
        assert!(placed.elapsed() < patience, "a void is tried");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        placed.elapsed() >= PAYMENT_DEADLINE,
        "no void before the deadline: {:?}",
        placed.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let order = read(&client, &base, &late).await;
    assert_eq!(order["status"], "PENDING", "the void failed: {order}");
    assert_eq!(
        releases_of(&inventory, &reservation_id).await,
        0,
        "no release before a void went through"
    );

    // The void goes through (payments still refuses authorisations): the stock is
    // released and the order CANCELLED, saying why.
    payments.clear_faults().await.unwrap();
    payments
        .fault(&Fault::status(503).on("create_payment"))
        .await
        .unwrap();
    let attempts = calls_for(&payments, "create_payment", &late).await;
    let order = final_order(&client, &base, &late, patience).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["reason"], "payment_unavailable", "{order}");
    assert_eq!(order["reservation_id"], reservation_id.as_str(), "{order}");
    assert_eq!(order["total_cents"], 17800, "{order}");
    assert_eq!(
        order["payment_id"], voided["id"],
        "the voided payment: {order}"
    );
    assert_eq!(
        calls_for(&payments, "create_payment", &late).await,
        attempts,
        "no authorisation once the cancellation is decided"
    );
    let voids = payments.calls_to("void_order_payment").await.unwrap();
    let void = voids
        .iter()
        .rev()
        .find(|c| {
            c.body
                .as_ref()
                .is_some_and(|b| b["order_id"] == late.as_str())
        })
        .expect("payments' mock saw the void");
    assert_eq!(void.status, Some(200), "{}", void.summary());
    let body = void.body.as_ref().unwrap();
    assert_eq!(body["amount_cents"], 17800, "the amount asked for");
    assert_eq!(body["customer_id"], CUSTOMER);
    assert_eq!(releases_of(&inventory, &reservation_id).await, 1);
    let cancelled = counter(
        &base,
        "orders_cancelled_total",
        "reason=\"payment_unavailable\"",
    )
    .await;
    assert_eq!(cancelled, Some(1.0), "orders_cancelled_total");
    // Redelivered or swept, nothing changes: the order is final.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(releases_of(&inventory, &reservation_id).await, 1);
    assert_eq!(read(&client, &base, &late).await, order);

    finish(
        "orders",
        &client,
        &[("inventory", &inventory), ("payments", &payments)],
    )
    .await;
    stack.shutdown().await.unwrap();
}

/// A counter's value on the `/metrics` of the service at `base`, for the series whose labels
/// contain `label` (e.g. `reason="payment_unavailable"`).
async fn counter(base: &str, name: &str, label: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}
