//! inventory for real on real PostgreSQL (`suites/integration/inventory.toml`): its
//! PostgreSQL repository under concurrent reservations.

use harness::Stack;
use integration_suite::{finish, manifest, recording};
use serde_json::{Value, json};

async fn stock(client: &harness::openapi::RecordingClient, base: &str, sku: &str) -> i64 {
    let product: Value = client
        .send(client.get(format!("{base}/products/{sku}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    product["stock"].as_i64().unwrap()
}

#[tokio::test]
async fn inventory_never_oversells_on_real_postgres() {
    let stack = Stack::shared(manifest("inventory")).await.unwrap();
    let base = stack.url("inventory").unwrap();
    let client = recording("inventory");

    // 30 concurrent reservations of 10 units of a product with 200 in stock: exactly 20 win.
    let sku = "MN-003";
    let before = stock(&client, &base, sku).await;
    assert_eq!(before, 200, "the seeded stock (fixtures/products.json)");
    let attempts = (0..30).map(|_| {
        let (client, base) = (&client, &base);
        async move {
            let order_id = uuid::Uuid::new_v4().to_string();
            let r =
                client
                    .send(client.post(format!("{base}/reservations")).json(
                        &json!({"order_id": order_id, "items": [{"sku": sku, "quantity": 10}]}),
                    ))
                    .await
                    .unwrap();
            let status = r.status().as_u16();
            (order_id, status, r.json::<Value>().await.unwrap())
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let won: Vec<&(String, u16, Value)> = results.iter().filter(|r| r.1 == 201).collect();
    let refused: Vec<&(String, u16, Value)> = results.iter().filter(|r| r.1 == 409).collect();
    assert_eq!(
        won.len(),
        20,
        "{:?}",
        results.iter().map(|r| r.1).collect::<Vec<_>>()
    );
    assert_eq!(refused.len(), 10);
    for (_, _, problem) in &refused {
        assert_eq!(problem["type"], "insufficient_stock", "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(sku),
            "{problem}"
        );
    }
    assert_eq!(stock(&client, &base, sku).await, 0, "never below zero");

    // Idempotent by order: the same order again answers the same reservation (200).
    let (order_id, _, first) = won[0];
    let again = client
        .send(
            client
                .post(format!("{base}/reservations"))
                .json(&json!({"order_id": order_id, "items": [{"sku": sku, "quantity": 10}]})),
        )
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    // Releasing returns the stock once; releasing again is a no-op.
    let id = first["id"].as_str().unwrap();
    for _ in 0..2 {
        let r = client
            .send(client.delete(format!("{base}/reservations/{id}")))
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(stock(&client, &base, sku).await, 10);
    // Released, it is gone.
    let released = client
        .send(client.get(format!("{base}/reservations/{id}")))
        .await
        .unwrap();
    assert_eq!(released.status(), 410);
    let problem: Value = released.json().await.unwrap();
    assert_eq!(problem["type"], "released", "{problem}");

    // All or nothing: a line short of stock leaves the other line's stock untouched.
    let keyboards = stock(&client, &base, "KB-001").await;
    let r = client
        .send(client.post(format!("{base}/reservations")).json(&json!({
            "order_id": uuid::Uuid::new_v4().to_string(),
            "items": [{"sku": "KB-001", "quantity": 5}, {"sku": sku, "quantity": 11}]
        })))
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(stock(&client, &base, "KB-001").await, keyboards);

    // An unknown SKU is a 422 naming the line.
    let r = client
        .send(client.post(format!("{base}/reservations")).json(&json!({
            "order_id": uuid::Uuid::new_v4().to_string(),
            "items": [{"sku": "NOPE-1", "quantity": 1}]
        })))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["field"], "items[0].sku", "{problem}");

    finish("inventory", &client, &[]).await;
}
