//! payments for real on real PostgreSQL (`suites/integration/payments.toml`): its ledger
//! survives a restart of the container (idempotency by order included), one payment per
//! order under concurrent requests, and voids, by payment and by order.

use harness::{Stack, openapi::RecordingClient};
use integration_suite::{finish, manifest, recording};
use serde_json::{Value, json};
use uuid::Uuid;

/// payments' default `PAYMENTS_LIMIT_CENTS`, which the manifest keeps.
const LIMIT_CENTS: i64 = 500_000;

fn payment(order: Uuid, cents: i64) -> Value {
    json!({"order_id": order, "customer_id": "it-customer", "amount_cents": cents, "currency": "EUR"})
}

/// Sends a request and answers its status and JSON body.
async fn call(client: &RecordingClient, request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = client.send(request).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn authorise(client: &RecordingClient, base: &str, order: Uuid, cents: i64) -> (u16, Value) {
    call(
        client,
        client
            .post(format!("{base}/payments"))
            .json(&payment(order, cents)),
    )
    .await
}

async fn void(client: &RecordingClient, base: &str, id: &str) -> (u16, Value) {
    call(client, client.post(format!("{base}/payments/{id}/void"))).await
}

async fn void_order(client: &RecordingClient, base: &str, order: Uuid, cents: i64) -> (u16, Value) {
    call(
        client,
        client
            .post(format!("{base}/payments/void"))
            .json(&payment(order, cents)),
    )
    .await
}

async fn read(client: &RecordingClient, base: &str, id: &str) -> (u16, Value) {
    call(client, client.get(format!("{base}/payments/{id}"))).await
}

#[tokio::test]
async fn payments_ledger_survives_a_restart_and_voids_on_real_postgres() {
    // A stack of its own: the test restarts its payments container.
    let stack = Stack::from_manifest(manifest("payments"))
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = recording("payments");
    let base = stack.url("payments").unwrap();

    // Authorised: 201 with the payment.
    let order = Uuid::new_v4();
    let (status, first) = authorise(&client, &base, order, 17_800).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "AUTHORIZED", "{first}");
    let id = first["id"].as_str().unwrap().to_owned();

    // One payment per order under concurrency: the unique order id decides, not a lock in
    // the process.
    let racing = Uuid::new_v4();
    let answers =
        futures_util::future::join_all((0..16).map(|_| authorise(&client, &base, racing, 2_000)))
            .await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let replayed = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(
        (created, replayed),
        (1, 15),
        "{:?}",
        answers.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
    let ids: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|(_, body)| body["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every answer names the same payment: {ids:?}");

    // Restart the container: nothing of the ledger lives in the process.
    stack.stop("payments").await.unwrap();
    stack.start("payments").await.unwrap();
    let base = stack.url("payments").unwrap();

    // The same order again: 200 with the same payment, exactly as first answered.
    let (status, again) = authorise(&client, &base, order, 17_800).await;
    assert_eq!(status, 200, "idempotency survived the restart: {again}");
    assert_eq!(again, first);
    let (status, stored) = read(&client, &base, &id).await;
    assert_eq!(status, 200);
    assert_eq!(stored, first);

    // Another amount for the paid order: 409, naming the recorded payment.
    let (status, problem) = authorise(&client, &base, order, 18_900).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "payment_mismatch");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&id) && detail.contains("amount_cents 17800"),
        "{detail}"
    );

    // Void: AUTHORIZED -> VOIDED; voiding again changes nothing.
    let (status, voided) = void(&client, &base, &id).await;
    assert_eq!(status, 200, "{voided}");
    assert_eq!(voided["status"], "VOIDED");
    assert_eq!(voided["id"], first["id"]);
    assert_eq!(voided["created_at"], first["created_at"]);
    assert!(voided["voided_at"].is_string(), "{voided}");
    let (status, twice) = void(&client, &base, &id).await;
    assert_eq!(status, 200);
    assert_eq!(twice, voided, "the second void changed something");
    let (status, stored) = read(&client, &base, &id).await;
    assert_eq!(status, 200);
    assert_eq!(stored["status"], "VOIDED", "{stored}");
    assert_eq!(stored, voided);
    // The order's authorisation replayed now: the voided payment, nothing authorised.
    let (status, replay) = authorise(&client, &base, order, 17_800).await;
    assert_eq!(status, 200);
    assert_eq!(replay, voided);

    // Void by order, for an order payments has no payment for (the authorisation is still
    // on its way): recorded VOIDED, and the late authorisation authorises nothing.
    let lost = Uuid::new_v4();
    let (status, tombstone) = void_order(&client, &base, lost, 5_000).await;
    assert_eq!(status, 201, "{tombstone}");
    assert_eq!(tombstone["status"], "VOIDED");
    assert_eq!(tombstone["order_id"], lost.to_string());
    let (status, late) = authorise(&client, &base, lost, 5_000).await;
    assert_eq!(status, 200, "{late}");
    assert_eq!(late, tombstone);
    // By order, for an order with an authorised payment: that payment is voided.
    let (status, by_order) = void_order(&client, &base, racing, 2_000).await;
    assert_eq!(status, 200, "{by_order}");
    assert_eq!(by_order["id"], answers[0].1["id"]);
    assert_eq!(by_order["status"], "VOIDED");

    // A declined payment holds nothing: voiding leaves it DECLINED.
    let (status, declined) = authorise(&client, &base, Uuid::new_v4(), LIMIT_CENTS + 1).await;
    assert_eq!(status, 201);
    assert_eq!(declined["decline_reason"], "limit_exceeded", "{declined}");
    let (status, still) = void(&client, &base, declined["id"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(still, declined);

    // Unknown payment: 404.
    let (status, missing) = void(&client, &base, &Uuid::new_v4().to_string()).await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["type"], "not_found");

    // Readiness includes the ledger's database (not in the document: a plain request).
    let ready = reqwest::get(format!("{base}/health/ready")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"][0]["name"], "ledger", "{ready}");
    assert_eq!(ready["checks"][0]["ok"], true, "{ready}");

    finish("payments", &client, &[]).await;
    stack.shutdown().await.unwrap();
}
