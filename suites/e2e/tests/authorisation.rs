//! Authorisation end to end, only through the gateway: the customer is the token's
//! subject. A token acts for its subject and no other customer (no order placed for another
//! customer, no other customer's order or shipment read or listed, not even with a
//! client-supplied `X-Customer-Id`), idempotency keys are the customer's own, and a token
//! from another issuer, for another audience, or expired, is refused. What is asserted is
//! what `docs/src/sample-services.md` says; every answer is checked against
//! `contracts/openapi/gateway.json` by the recording client.

use std::time::Duration;

use e2e_suite::{ALL_SCOPES, Claims, System, client, eventually, token};
use harness::openapi::RecordingClient;
use serde_json::{Value, json};

const SETTLE: Duration = Duration::from_secs(60);

/// A customer (token subject) of this test alone.
fn customer(name: &str) -> String {
    format!("e2e-authz-{name}-{}", uuid::Uuid::new_v4().simple())
}

fn items() -> Value {
    json!([{"sku": "KB-001", "quantity": 1}])
}

/// `(status, body)` of a request (a body that is not JSON reads as `Null`).
async fn answer(client: &RecordingClient, request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = client.send(request).await.unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Places an order with `bearer`; `(status, body)`.
async fn place(
    client: &RecordingClient,
    system: &System,
    bearer: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = client
        .post(system.url("/api/orders"))
        .bearer_auth(bearer)
        .json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    answer(client, request).await
}

async fn get(client: &RecordingClient, system: &System, path: &str, bearer: &str) -> (u16, Value) {
    answer(client, client.get(system.url(path)).bearer_auth(bearer)).await
}

#[tokio::test]
async fn a_token_cannot_place_an_order_for_another_customer() {
    let system = System::get().await;
    let client = client();
    let (alice, bob) = (customer("alice"), customer("bob"));
    let alices = token(&alice, ALL_SCOPES);

    let (status, problem) = place(
        &client,
        &system,
        &alices,
        None,
        &json!({"customer_id": bob, "items": items()}),
    )
    .await;
    assert_eq!(status, 403, "alice's token placing bob's order: {problem}");
    assert_eq!(problem["type"], "customer_mismatch", "{problem}");
    assert_eq!(problem["field"], "customer_id", "{problem}");
    // Nothing was placed for bob, nor for alice.
    let bobs = token(&bob, ALL_SCOPES);
    assert_eq!(
        get(&client, &system, "/api/orders", &bobs).await.1,
        json!([])
    );
    assert_eq!(
        get(&client, &system, "/api/orders", &alices).await.1,
        json!([])
    );

    // Naming herself is fine (the field is redundant), and so is naming nobody: both
    // orders are hers.
    for body in [
        json!({"customer_id": alice, "items": items()}),
        json!({"items": items()}),
    ] {
        let (status, order) = place(&client, &system, &alices, None, &body).await;
        assert_eq!(status, 202, "{body}: {order}");
        assert_eq!(order["customer_id"], alice.as_str(), "{order}");
    }
    let (_, list) = get(&client, &system, "/api/orders", &alices).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    client.assert_conformant();
}

#[tokio::test]
async fn another_customers_orders_and_shipments_are_not_found() {
    let system = System::get().await;
    let client = client();
    let (alice, bob, carol) = (customer("alice"), customer("bob"), customer("carol"));
    let alices = token(&alice, ALL_SCOPES);
    let bobs = token(&bob, ALL_SCOPES);
    // A token that may only read orders, of a customer with none.
    let carols = token(&carol, "orders:read");

    let (status, order) = place(&client, &system, &alices, None, &json!({"items": items()})).await;
    assert_eq!(status, 202, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let path = format!("/api/orders/{id}");
    let confirmed = eventually("alice's order is CONFIRMED", SETTLE, || async {
        let (status, order) = get(&client, &system, &path, &alices).await;
        match (status, order["status"].as_str()) {
            (200, Some("CONFIRMED")) => Ok(order),
            _ => Err(format!("{status}: {order}")),
        }
    })
    .await;
    assert_eq!(confirmed["customer_id"], alice.as_str());

    // Bob's and Carol's tokens read it as an order that does not exist: the same 404 an
    // unknown id gets, so they do not even learn it exists.
    let unknown = format!("/api/orders/{}", uuid::Uuid::new_v4());
    let (_, unknown_problem) = get(&client, &system, &unknown, &bobs).await;
    for (who, bearer) in [("bob", &bobs), ("carol (orders:read only)", &carols)] {
        let (status, problem) = get(&client, &system, &path, bearer).await;
        assert_eq!(status, 404, "{who} reading alice's order: {problem}");
        assert_eq!(problem["type"], unknown_problem["type"], "{problem}");
        assert_eq!(problem["title"], unknown_problem["title"], "{problem}");
        assert!(!problem.to_string().contains(&alice), "{problem}");
        // Their lists are theirs: empty.
        let (status, list) = get(&client, &system, "/api/orders", bearer).await;
        assert_eq!((status, &list), (200, &json!([])), "{who}'s orders");
    }
    // A list naming alice is refused, and an X-Customer-Id of the client's own is ignored.
    let (status, problem) = get(
        &client,
        &system,
        &format!("/api/orders?customer={alice}"),
        &bobs,
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["type"], "customer_mismatch");
    let (status, _) = answer(
        &client,
        client
            .get(system.url(&path))
            .bearer_auth(&bobs)
            .header("x-customer-id", alice.as_str()),
    )
    .await;
    assert_eq!(status, 404, "a client's X-Customer-Id is not forwarded");

    // Alice's shipment: hers to list and read, nobody else's.
    let shipments = format!("/api/shipments?order_id={id}");
    let shipment = eventually("alice's order is shipped", SETTLE, || async {
        let (status, list) = get(&client, &system, &shipments, &alices).await;
        match list.as_array().and_then(|l| l.first()) {
            Some(first) if status == 200 => Ok(first.clone()),
            _ => Err(format!("{status}: {list}")),
        }
    })
    .await;
    assert_eq!(shipment["customer_id"], alice.as_str());
    let (_, all_hers) = get(&client, &system, "/api/shipments", &alices).await;
    assert_eq!(all_hers, json!([shipment.clone()]));
    let one = format!("/api/shipments/{}", shipment["id"].as_str().unwrap());
    assert_eq!(get(&client, &system, &one, &alices).await.0, 200);
    let (status, problem) = get(&client, &system, &one, &bobs).await;
    assert_eq!(status, 404, "bob reading alice's shipment: {problem}");
    assert_eq!(
        get(&client, &system, &shipments, &bobs).await,
        (200, json!([])),
        "alice's order's shipments, listed by bob"
    );
    assert_eq!(
        get(&client, &system, "/api/shipments", &bobs).await,
        (200, json!([]))
    );
    client.assert_conformant();
}

#[tokio::test]
async fn idempotency_keys_are_each_customers_own() {
    let system = System::get().await;
    let client = client();
    let (alice, bob) = (customer("alice"), customer("bob"));
    let alices = token(&alice, ALL_SCOPES);
    let bobs = token(&bob, ALL_SCOPES);
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"items": items()});

    let (status, hers) = place(&client, &system, &alices, Some(&key), &body).await;
    assert_eq!(status, 202, "{hers}");
    // Bob with alice's key: his own new order, nothing of hers.
    let (status, his) = place(&client, &system, &bobs, Some(&key), &body).await;
    assert_eq!(status, 202, "{his}");
    assert_ne!(his["id"], hers["id"], "bob got alice's order back");
    assert_eq!(his["customer_id"], bob.as_str());
    // With another body too: a 422 would tell him the key is in use.
    let other = json!({"items": [{"sku": "CB-005", "quantity": 2}]});
    let (status, third) = place(&client, &system, &bobs, Some(&key), &other).await;
    assert_eq!(status, 422, "bob's own key, another body: {third}");
    let carol = customer("carol");
    let (status, carols) = place(
        &client,
        &system,
        &token(&carol, ALL_SCOPES),
        Some(&key),
        &other,
    )
    .await;
    assert_eq!(status, 202, "carol with the key, another body: {carols}");
    assert_eq!(carols["customer_id"], carol.as_str());

    // Each key still answers its customer's order.
    let (_, again) = place(&client, &system, &alices, Some(&key), &body).await;
    assert_eq!(again["id"], hers["id"]);
    let (_, again) = place(&client, &system, &bobs, Some(&key), &body).await;
    assert_eq!(again["id"], his["id"]);
    let (_, list) = get(&client, &system, "/api/orders", &alices).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    client.assert_conformant();
}

#[tokio::test]
async fn tokens_of_another_issuer_or_audience_or_expired_are_refused() {
    let system = System::get().await;
    let client = client();
    let sub = customer("claims");
    let good = Claims::new(&sub, ALL_SCOPES);
    assert_eq!(
        get(&client, &system, "/api/orders", &good.sign()).await.0,
        200,
        "the token as issued is accepted"
    );
    let now = jsonwebtoken::get_current_timestamp();
    let cases = [
        (
            "a token of another issuer",
            Claims {
                iss: Some("https://elsewhere.example".into()),
                ..good.clone()
            },
        ),
        (
            "a token without an issuer",
            Claims {
                iss: None,
                ..good.clone()
            },
        ),
        (
            "a token for another audience",
            Claims {
                aud: Some("some-other-api".into()),
                ..good.clone()
            },
        ),
        (
            "a token without an audience",
            Claims {
                aud: None,
                ..good.clone()
            },
        ),
        (
            "an expired token",
            Claims {
                exp: now - 30,
                ..good.clone()
            },
        ),
    ];
    for (what, claims) in cases {
        let (status, problem) = get(&client, &system, "/api/orders", &claims.sign()).await;
        assert_eq!(status, 401, "{what} must be refused with a 401: {problem}");
        assert_eq!(problem["type"], "unauthorized", "{what}: {problem}");
        let (status, _) = place(
            &client,
            &system,
            &claims.sign(),
            None,
            &json!({"items": items()}),
        )
        .await;
        assert_eq!(
            status, 401,
            "{what} must be refused with a 401: placing an order"
        );
    }
    client.assert_conformant();
}
