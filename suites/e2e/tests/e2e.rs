//! The sample system end to end, only through the gateway, as a client would: every answer
//! is checked against `contracts/openapi/gateway.json` by the recording client, and each test
//! ends by checking that none broke it. What is asserted is what `docs/src/sample-services.md`
//! says. Each test uses a client name (`sub`) of its own, so rate limits never cross.

use std::time::Duration;

use e2e_suite::{ALL_SCOPES, System, client, eventually, get_json, planted_failure, token};
use serde_json::{Value, json};

const SETTLE: Duration = Duration::from_secs(60);

fn sub(name: &str) -> String {
    format!("e2e-{name}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn requests_without_credentials_or_scope_are_refused() {
    let system = System::get().await;
    let client = client();
    let none = client
        .send(client.get(system.url("/api/products")))
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    let forged = client
        .send(
            client
                .get(system.url("/api/products"))
                .bearer_auth("eyJhbGciOiJIUzI1NiJ9.e30.bm90LWEtc2lnbmF0dXJl"),
        )
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let reader = token(&sub("scopes"), "catalog:read");
    let forbidden = client
        .send(
            client
                .post(system.url("/api/orders"))
                .bearer_auth(&reader)
                .json(&json!({"items": [{"sku": "KB-001", "quantity": 1}]})),
        )
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403, "catalog:read cannot place orders");
    let allowed = client
        .send(client.get(system.url("/api/products")).bearer_auth(&reader))
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    client.assert_conformant();
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let system = System::get().await;
    let client = client();
    let bearer = token(&sub("rate"), ALL_SCOPES);
    // The bucket holds RATE_LIMIT_BURST (100) and refills 50/s: 160 at once overflow it.
    let sends = (0..160).map(|_| {
        let (client, system, bearer) = (&client, &system, &bearer);
        async move {
            let r = client
                .send(client.get(system.url("/api/products")).bearer_auth(bearer))
                .await
                .unwrap();
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), retry_after)
        }
    });
    let answers = futures_util::future::join_all(sends).await;
    let limited: Vec<&(u16, Option<String>)> = answers.iter().filter(|a| a.0 == 429).collect();
    assert!(
        !limited.is_empty(),
        "no 429 among {} requests",
        answers.len()
    );
    assert!(answers.iter().any(|a| a.0 == 200));
    for (_, retry_after) in &limited {
        let seconds: u64 = retry_after
            .as_deref()
            .expect("Retry-After on every 429")
            .parse()
            .expect("whole seconds");
        assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    }
    client.assert_conformant();
}

#[tokio::test]
async fn products_can_be_browsed() {
    let system = System::get().await;
    let client = client();
    let bearer = token(&sub("browse"), "catalog:read");
    let list: Vec<Value> = client
        .send(client.get(system.url("/api/products")).bearer_auth(&bearer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.len() >= 5, "the seeded catalogue: {list:?}");
    let skus: Vec<&str> = list.iter().map(|p| p["sku"].as_str().unwrap()).collect();
    let mut sorted = skus.clone();
    sorted.sort_unstable();
    assert_eq!(skus, sorted, "sorted by sku");
    let one: Value = client
        .send(
            client
                .get(system.url("/api/products/KB-001"))
                .bearer_auth(&bearer),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "Mechanical keyboard");
    assert_eq!(one["price_cents"], 8900);
    let missing = client
        .send(
            client
                .get(system.url("/api/products/NOPE-404"))
                .bearer_auth(&bearer),
        )
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    client.assert_conformant();
}

/// Places an order; (status, Location).
async fn place(
    client: &harness::openapi::RecordingClient,
    system: &System,
    bearer: &str,
    key: &str,
    body: &Value,
) -> (u16, String) {
    let r = client
        .send(
            client
                .post(system.url("/api/orders"))
                .bearer_auth(bearer)
                .header("idempotency-key", key)
                .json(body),
        )
        .await
        .unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), location)
}

#[tokio::test]
async fn an_order_is_confirmed_and_shipped_exactly_once() {
    let system = System::get().await;
    let client = client();
    let customer = sub("order");
    let bearer = token(&customer, ALL_SCOPES);
    // The order is the token's subject's: the body names no customer.
    let body =
        json!({"items": [{"sku": "KB-001", "quantity": 2}, {"sku": "CB-005", "quantity": 3}]});
    let key = uuid::Uuid::new_v4().to_string();
    let (status, location) = place(&client, &system, &bearer, &key, &body).await;
    assert_eq!(status, 202);
    assert!(location.starts_with("/api/orders/"), "{location}");
    let (again, location_again) = place(&client, &system, &bearer, &key, &body).await;
    assert_eq!(again, 202);
    assert_eq!(
        location_again, location,
        "the same key answers the same order"
    );

    let order = eventually("the order is CONFIRMED", SETTLE, || async {
        let order = get_json(&client, system.url(&location), &bearer).await?;
        if order["status"] == "CONFIRMED" {
            Ok(order)
        } else {
            Err(order.to_string())
        }
    })
    .await;
    // 2 x 89.00 + 3 x 9.00 EUR. The planted failure expects a cent more.
    let expected = if planted_failure() { 20501 } else { 20500 };
    assert_eq!(order["total_cents"], expected, "{order}");

    let id = order["id"].as_str().unwrap().to_owned();
    let shipments = eventually("the order is shipped", SETTLE, || async {
        let list = get_json(
            &client,
            system.url(&format!("/api/shipments?order_id={id}")),
            &bearer,
        )
        .await?;
        if list.as_array().is_some_and(|a| !a.is_empty()) {
            Ok(list)
        } else {
            Err(list.to_string())
        }
    })
    .await;
    // Give a duplicate the time to appear, then count.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let shipments_now = get_json(
        &client,
        system.url(&format!("/api/shipments?order_id={id}")),
        &bearer,
    )
    .await
    .unwrap();
    assert_eq!(
        shipments_now.as_array().unwrap().len(),
        1,
        "one shipment: {shipments}"
    );
    let shipment = &shipments_now[0];
    let one = get_json(
        &client,
        system.url(&format!(
            "/api/shipments/{}",
            shipment["id"].as_str().unwrap()
        )),
        &bearer,
    )
    .await
    .unwrap();
    assert_eq!(&one, shipment);
    let mine = get_json(&client, system.url("/api/orders"), &bearer)
        .await
        .unwrap();
    assert_eq!(
        mine.as_array().unwrap().len(),
        1,
        "one order for two submissions: {mine}"
    );
    assert_eq!(mine[0]["customer_id"], customer.as_str());
    client.assert_conformant();
}

#[tokio::test]
async fn a_declined_payment_rejects_the_order_and_releases_its_stock() {
    let system = System::get().await;
    let client = client();
    let customer = sub("declined");
    let bearer = token(&customer, ALL_SCOPES);
    let stock = |p: Value| p["stock"].as_i64().unwrap();
    let before = stock(
        get_json(&client, system.url("/api/products/SV-009"), &bearer)
            .await
            .unwrap(),
    );
    // 2 x 4500.00 EUR is over the payment limit (5000.00).
    let body = json!({"items": [{"sku": "SV-009", "quantity": 2}]});
    let (status, location) = place(
        &client,
        &system,
        &bearer,
        &uuid::Uuid::new_v4().to_string(),
        &body,
    )
    .await;
    assert_eq!(status, 202);
    let order = eventually("the order is REJECTED", SETTLE, || async {
        let order = get_json(&client, system.url(&location), &bearer).await?;
        if order["status"] == "REJECTED" {
            Ok(order)
        } else {
            Err(order.to_string())
        }
    })
    .await;
    assert!(
        order["reason"]
            .as_str()
            .unwrap()
            .starts_with("payment_declined"),
        "{order}"
    );
    // The worker stores the rejection, then releases the reservation: the stock comes back
    // just after the order reads REJECTED.
    eventually("the reservation is released", SETTLE, || async {
        let after = stock(get_json(&client, system.url("/api/products/SV-009"), &bearer).await?);
        if after == before {
            Ok(())
        } else {
            Err(format!("stock {after}, was {before}"))
        }
    })
    .await;
    client.assert_conformant();
}

#[tokio::test]
async fn the_gateway_continues_the_callers_trace() {
    let system = System::get().await;
    let client = client();
    let bearer = token(&sub("trace"), ALL_SCOPES);
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let r = client
        .send(
            client
                .get(system.url("/api/products"))
                .bearer_auth(&bearer)
                .header("traceparent", &traceparent)
                .header("x-request-id", "e2e-trace-1"),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("x-request-id").map(|v| v.to_str().unwrap()),
        Some("e2e-trace-1"),
        "the client's request id is kept"
    );
    let logs = system
        .logs
        .clone()
        .expect("HARNESS_LOGS_DIR names the run's logs folder");
    let log = logs.join("gateway.log");
    eventually(
        "the gateway logs the caller's trace id",
        Duration::from_secs(10),
        || async {
            let text =
                std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            text.lines()
                .find(|l| l.contains(&trace_id) && l.contains("e2e-trace-1"))
                .map(|_| ())
                .ok_or_else(|| format!("no line of {} has trace id {trace_id}", log.display()))
        },
    )
    .await;
    client.assert_conformant();
}
