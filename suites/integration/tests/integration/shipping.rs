//! shipping for real (`suites/integration/shipping.toml`): its RabbitMQ consume loop and
//! PostgreSQL repository given redelivered and duplicate `order.confirmed` events.

use std::time::Duration;

use harness::Stack;
use integration_suite::{CUSTOMER, finish, manifest, publish, recording};
use serde_json::{Value, json};

/// `shipping_events_consumed_total{outcome=...}` from `/metrics` (0 when not yet counted).
async fn consumed(base: &str, outcome: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = format!("outcome=\"{outcome}\"");
    text.lines()
        .find(|l| l.starts_with("shipping_events_consumed_total") && l.contains(&key))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn shipping_makes_one_shipment_per_order_whatever_is_redelivered() {
    let stack = Stack::shared(manifest("shipping")).await.unwrap();
    let base = stack.url("shipping").unwrap();
    let amqp = format!(
        "amqp://guest:guest@127.0.0.1:{}/%2f",
        stack.host_port("rabbitmq", 5672).unwrap()
    );
    let client = recording("shipping");

    let order_id = uuid::Uuid::new_v4().to_string();
    let event_id = uuid::Uuid::new_v4().to_string();
    let event = json!({
        "event_id": event_id, "order_id": order_id, "customer_id": CUSTOMER,
        "items": [{"sku": "KB-001", "quantity": 2}], "total_cents": 17800,
        "confirmed_at": "2026-12-01T10:00:00Z"
    });
    // The event, then the same event again (a redelivery), then another event for the
    // same order (a duplicate from a reprocessed order), then a malformed one.
    publish(&amqp, "orders.events", "order.confirmed", &event_id, &event).await;
    publish(&amqp, "orders.events", "order.confirmed", &event_id, &event).await;
    let mut other = event.clone();
    let other_id = uuid::Uuid::new_v4().to_string();
    other["event_id"] = json!(other_id);
    publish(&amqp, "orders.events", "order.confirmed", &other_id, &other).await;
    publish(
        &amqp,
        "orders.events",
        "order.confirmed",
        "bad-1",
        &json!({"order_id": 7}),
    )
    .await;

    until("two duplicates and one rejection counted", async || {
        consumed(&base, "duplicate").await >= 2.0 && consumed(&base, "rejected").await >= 1.0
    })
    .await;
    assert_eq!(consumed(&base, "created").await, 1.0);
    let list: Value = client
        .send(client.get(format!("{base}/shipments?order_id={order_id}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shipments = list.as_array().unwrap();
    assert_eq!(shipments.len(), 1, "one shipment: {list}");
    let shipment = &shipments[0];
    assert_eq!(shipment["customer_id"], CUSTOMER);
    assert_eq!(shipment["status"], "PENDING");
    let id = shipment["id"].as_str().unwrap();
    let one: Value = client
        .send(client.get(format!("{base}/shipments/{id}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(&one, shipment);
    let none = client
        .send(client.get(format!("{base}/shipments/{}", uuid::Uuid::new_v4())))
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
    // The shipment is its customer's only: another customer reads it as 404 and lists none.
    let theirs = client
        .send(
            client
                .get(format!("{base}/shipments/{id}"))
                .header("x-customer-id", "it-someone-else"),
        )
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404, "another customer's shipment");
    let listed: Value = client
        .send(
            client
                .get(format!("{base}/shipments?order_id={order_id}"))
                .header("x-customer-id", "it-someone-else"),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]), "another customer's order's shipments");

    finish("shipping", &client, &[]).await;
}
