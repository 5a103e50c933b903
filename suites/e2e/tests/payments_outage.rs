//! A payments outage end to end, with payments for real and through the gateway as a client
//! would: payments is stopped for 20 s while orders keep coming, then started again. Every
//! order placed meanwhile is tried, waits `PENDING` (none is rejected or cancelled), then ends
//! `CONFIRMED` with exactly one `AUTHORIZED` payment in payments' ledger (none voided) and is
//! shipped once. What is asserted is what `docs/src/sample-services.md` ("orders") says.

use std::time::{Duration, Instant};

use e2e_suite::{ALL_SCOPES, client, eventually, get_json, root, token};
use harness::{Stack, openapi::RecordingClient};
use serde_json::json;

/// How long payments is away.
const OUTAGE: Duration = Duration::from_secs(20);
/// How long an order may take to settle once payments is back: its next retry
/// (`ORDERS_INTAKE_RETRY_DELAY_MS`, 5 s) behind the breaker's open window (10 s), with room.
const SETTLE: Duration = Duration::from_secs(120);

/// Places an order through the gateway; its `Location`.
async fn place(client: &RecordingClient, gateway: &str, bearer: &str) -> String {
    let r = client
        .send(
            client
                .post(format!("{gateway}/api/orders"))
                .bearer_auth(bearer)
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .json(&json!({"items": [{"sku": "KB-001", "quantity": 1}]})),
        )
        .await
        .unwrap_or_else(|e| panic!("POST /api/orders: {e}"));
    assert_eq!(r.status(), 202, "orders are taken while payments is away");
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_owned()
}

/// The payments of the orders, as payments' ledger holds them: `(order_id, id, status)`.
async fn ledger(stack: &Stack, order_ids: &[String]) -> Vec<(String, String, String)> {
    let list = order_ids
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let statement = format!("SELECT order_id, id, status FROM payments WHERE order_id IN ({list})");
    let out = stack
        .exec(
            "postgres",
            [
                "psql",
                // TCP with the manifest's password: the socket's folder differs by image.
                "postgresql://postgres:postgres@127.0.0.1:5432/payments",
                "-tAc",
                statement.as_str(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{statement}: {}", out.stderr);
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.trim().split('|').map(str::to_owned);
            let mut next = || parts.next().unwrap_or_default();
            (next(), next(), next())
        })
        .collect()
}

#[tokio::test]
async fn a_payments_outage_leaves_orders_pending_then_every_one_is_confirmed_once() {
    // Always a stack of its own: stopping its payments must not disturb other tests. Its
    // gateway trusts the tokens `token` signs (JWT_* of the environment, else the stack's own).
    let mut builder = Stack::from_manifest(root().join("suites/stack.toml")).unwrap();
    for name in ["JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE"] {
        if let Ok(value) = std::env::var(name)
            && !value.trim().is_empty()
        {
            builder = builder.env("gateway", name, value);
        }
    }
    let stack = builder.start().await.unwrap();
    let gateway = stack.url("gateway").unwrap();
    let client = client();
    let bearer = token(
        &format!("e2e-payments-outage-{}", uuid::Uuid::new_v4().simple()),
        ALL_SCOPES,
    );

    // Payments away for 20 s; an order a second meanwhile.
    stack.stop("payments").await.unwrap();
    let outage = Instant::now();
    let mut placed = Vec::new();
    while outage.elapsed() < OUTAGE {
        placed.push(place(&client, &gateway, &bearer).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(placed.len() >= 10, "traffic went on: {}", placed.len());
    // None is decided without payments: each was tried, found payments unavailable, and
    // waits for it.
    for location in &placed {
        let order = get_json(&client, format!("{gateway}{location}"), &bearer)
            .await
            .unwrap();
        assert_eq!(order["status"], "PENDING", "{order}");
        let id = order["id"].as_str().unwrap().to_owned();
        eventually(
            &format!("orders logs that order {id} waits for payments"),
            Duration::from_secs(10),
            || async {
                let log = stack.logs("orders").map_err(|e| e.to_string())?;
                log.lines()
                    .any(|l| l.contains(&id) && l.contains("the order waits for it"))
                    .then_some(())
                    .ok_or_else(|| "no such line yet".to_owned())
            },
        )
        .await;
    }
    stack.start("payments").await.unwrap();

    let mut orders = Vec::new();
    for location in &placed {
        let order = eventually(&format!("{location} is final"), SETTLE, || async {
            let order = get_json(&client, format!("{gateway}{location}"), &bearer).await?;
            if order["status"] == "PENDING" {
                Err(order.to_string())
            } else {
                Ok(order)
            }
        })
        .await;
        assert_eq!(order["status"], "CONFIRMED", "{order}");
        orders.push(order);
    }

    // Exactly one payment per order, AUTHORIZED, the one the order names.
    let ids: Vec<String> = orders
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let payments = ledger(&stack, &ids).await;
    for order in &orders {
        let id = order["id"].as_str().unwrap();
        let mine: Vec<_> = payments.iter().filter(|(o, _, _)| o == id).collect();
        assert_eq!(mine.len(), 1, "order {id}: {mine:?}");
        let (_, payment_id, status) = mine[0];
        assert_eq!(status, "AUTHORIZED", "order {id}");
        assert_eq!(order["payment_id"], payment_id.as_str(), "{order}");
    }

    // And each is shipped once.
    for id in &ids {
        let url = format!("{gateway}/api/shipments?order_id={id}");
        let list = eventually(&format!("order {id} is shipped"), SETTLE, || async {
            let list = get_json(&client, url.clone(), &bearer).await?;
            match list.as_array().map(Vec::len) {
                Some(0) | None => Err(list.to_string()),
                Some(_) => Ok(list),
            }
        })
        .await;
        assert_eq!(list.as_array().unwrap().len(), 1, "order {id}: {list}");
    }
    client.assert_conformant();
    stack.shutdown().await.unwrap();
}
