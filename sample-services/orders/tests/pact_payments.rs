//! The pact between orders (consumer) and payments (provider): every call
//! [`HttpPaymentsClient`] and [`LiveCheck`] make, and every answer the client handles
//! differently, driven through the real client code against Pact's mock server.
//!
//! Each interaction gets a mock server of its own (all write into one [`PactCheck`]
//! directory, where the pact files merge), so interactions whose requests look alike never
//! compete for a request. The checked-in pact is `contracts/pacts/orders-payments.json`;
//! `HARNESS_UPDATE_PACTS=1` rewrites it. Provider states hand ids back to the verifier
//! (`fromProviderState`), so verifying twice against one running payments service passes.

use std::time::Duration;

use harness_pact::pact_models::{expression_parser::DataType, generators::Generator};
use harness_pact::{
    PactCheck,
    pact_consumer::{builders::InteractionBuilder, prelude::*},
};
use orders::{
    payment::{HttpPaymentsClient, PaymentRequest, PaymentStatus, PaymentsClient},
    upstream::{LiveCheck, UpstreamError, http_client},
};
use service_kit::ReadinessCheck;
use uuid::Uuid;

const UUID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
const ORDER_ID: &str = "5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10";
const PAYMENT_ID: &str = "8d2c3f4a-1b6e-4c7d-9e0f-a1b2c3d4e5f6";
const CUSTOMER: &str = "customer-42";
/// payments' default `PAYMENTS_LIMIT_CENTS` (the sample stack keeps it).
const LIMIT_CENTS: i64 = 500_000;

/// The request body orders sends; `order_id` is the provider state's `orderId` when
/// verified (a fresh order each time, so payments records a new payment).
fn payment_body(amount_cents: i64) -> JsonPattern {
    json_pattern!({
        "order_id": term!(UUID, ORDER_ID),
        "customer_id": CUSTOMER,
        "amount_cents": amount_cents,
        "currency": "EUR",
    })
}

fn order_id_from_state(i: &mut InteractionBuilder) {
    i.request.body_generator(
        "$.order_id",
        Generator::ProviderStateGenerator("orderId".to_owned(), Some(DataType::STRING)),
    );
}

fn request(amount_cents: i64) -> PaymentRequest {
    PaymentRequest {
        order_id: Uuid::new_v4(),
        customer_id: CUSTOMER.to_owned(),
        amount_cents,
        currency: "EUR".to_owned(),
    }
}

fn client(server: &dyn ValidatingMockServer) -> HttpPaymentsClient {
    HttpPaymentsClient::new(
        http_client(Duration::from_secs(5)).unwrap(),
        server.url().as_str(),
    )
}

#[tokio::test]
async fn orders_payments_pact() {
    harness_pact::ensure_crypto_provider();
    let check = PactCheck::new("orders", "payments");

    // Authorised: within the limit, for an order without a payment.
    let server = check.mock_server("a request to authorise a payment within the limit", |i| {
        i.given("no payment is recorded for the order");
        i.request
            .post()
            .path("/payments")
            .header("Content-Type", "application/json")
            .json_body(payment_body(17_800));
        order_id_from_state(i);
        i.response
            .created()
            .header("Content-Type", "application/json")
            .json_body(json_pattern!({
                "id": term!(UUID, PAYMENT_ID),
                "status": "AUTHORIZED",
            }));
    });
    let payment = client(server.as_ref())
        .authorize(&request(17_800))
        .await
        .unwrap();
    drop(server);
    assert_eq!(payment.id, PAYMENT_ID);
    assert_eq!(payment.status, PaymentStatus::Authorized);
    assert_eq!(payment.decline_reason, None);

    // Declined: above the limit (payments still records it, 201).
    let server = check.mock_server("a request to authorise a payment above the limit", |i| {
        i.given_with_params(
            "payments declines amounts above the limit",
            &serde_json::json!({ "limit_cents": LIMIT_CENTS }),
        );
        i.request
            .post()
            .path("/payments")
            .header("Content-Type", "application/json")
            .json_body(payment_body(LIMIT_CENTS + 100_000));
        order_id_from_state(i);
        i.response
            .created()
            .header("Content-Type", "application/json")
            .json_body(json_pattern!({
                "id": term!(UUID, PAYMENT_ID),
                "status": "DECLINED",
                "decline_reason": like!("limit_exceeded"),
            }));
    });
    let payment = client(server.as_ref())
        .authorize(&request(LIMIT_CENTS + 100_000))
        .await
        .unwrap();
    drop(server);
    assert_eq!(payment.status, PaymentStatus::Declined);
    assert_eq!(payment.decline_reason.as_deref(), Some("limit_exceeded"));

    // 409: the order already has a payment with other terms.
    let server = check.mock_server("a request to authorise another amount for an order already paid",
        |i| {
            i.given_with_params(
                "a payment is recorded for the order",
                &serde_json::json!({
                    "customer_id": CUSTOMER,
                    "amount_cents": 17_800,
                    "currency": "EUR",
                }),
            );
            i.request
                .post()
                .path("/payments")
                .header("Content-Type", "application/json")
                .json_body(payment_body(18_900));
            order_id_from_state(i);
            i.response
                .status(409)
                .header("Content-Type", "application/problem+json")
                .json_body(json_pattern!({
                    "type": "payment_mismatch",
                    "detail": like!("order 5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10 already has payment 8d2c3f4a-1b6e-4c7d-9e0f-a1b2c3d4e5f6 with other terms: amount_cents 17800 (recorded) vs 18900 (requested)"),
                }));
        },
    );
    let refused = client(server.as_ref())
        .authorize(&request(18_900))
        .await
        .unwrap_err();
    drop(server);
    assert!(
        matches!(
            &refused,
            UpstreamError::Refused { service: "payments", status: 409, kind, .. } if kind == "payment_mismatch"
        ),
        "{refused:?}"
    );

    // 422: a field breaks a rule (validated before any payment is looked up, so no state).
    let server = check.mock_server("a request to authorise a payment of 0 cents", |i| {
        i.request
            .post()
            .path("/payments")
            .header("Content-Type", "application/json")
            .json_body(json_pattern!({
                "order_id": ORDER_ID,
                "customer_id": CUSTOMER,
                "amount_cents": 0,
                "currency": "EUR",
            }));
        i.response
            .status(422)
            .header("Content-Type", "application/problem+json")
            .json_body(json_pattern!({
                "type": "validation",
                "detail": like!("must be greater than 0, got 0"),
            }));
    });
    let refused = client(server.as_ref())
        .authorize(&PaymentRequest {
            order_id: ORDER_ID.parse().unwrap(),
            ..request(0)
        })
        .await
        .unwrap_err();
    drop(server);
    assert!(
        matches!(
            &refused,
            UpstreamError::Refused { service: "payments", status: 422, kind, .. } if kind == "validation"
        ),
        "{refused:?}"
    );

    // Void: the order's authorised payment is released (orders gave up on the order).
    let server = check.mock_server(
        "a request to void the authorised payment of an order",
        |i| {
            i.given_with_params(
                "an authorised payment is recorded for the order",
                &serde_json::json!({
                    "customer_id": CUSTOMER,
                    "amount_cents": 17_800,
                    "currency": "EUR",
                }),
            );
            i.request
                .post()
                .path("/payments/void")
                .header("Content-Type", "application/json")
                .json_body(payment_body(17_800));
            order_id_from_state(i);
            i.response
                .ok()
                .header("Content-Type", "application/json")
                .json_body(json_pattern!({
                    "id": term!(UUID, PAYMENT_ID),
                    "status": "VOIDED",
                }));
        },
    );
    let voided = client(server.as_ref())
        .void(&request(17_800))
        .await
        .unwrap();
    drop(server);
    assert_eq!(voided.id, PAYMENT_ID);
    assert_eq!(voided.status, PaymentStatus::Voided);

    // Void of an order payments has no payment for (the authorisation never arrived, or
    // is still on its way): recorded voided (201), so nothing is authorised later.
    let server = check.mock_server(
        "a request to void the payment of an order without one",
        |i| {
            i.given("no payment is recorded for the order");
            i.request
                .post()
                .path("/payments/void")
                .header("Content-Type", "application/json")
                .json_body(payment_body(12_300));
            order_id_from_state(i);
            i.response
                .created()
                .header("Content-Type", "application/json")
                .json_body(json_pattern!({
                    "id": term!(UUID, PAYMENT_ID),
                    "status": "VOIDED",
                }));
        },
    );
    let voided = client(server.as_ref())
        .void(&request(12_300))
        .await
        .unwrap();
    drop(server);
    assert_eq!(voided.status, PaymentStatus::Voided);

    // Readiness: orders asks payments' /health/live.
    let server = check.mock_server("a liveness probe", |i| {
        i.request.get().path("/health/live");
        i.response.ok();
    });
    let live = LiveCheck::new(
        "payments",
        server.url().as_str().trim_end_matches('/'),
        http_client(Duration::from_secs(5)).unwrap(),
    );
    let answer = live.check().await;
    drop(server);
    assert_eq!(answer, Ok(()));

    let written = check.finish().unwrap();
    assert_eq!(written.interactions, 7);
}
