//! Consumer pact `gateway` -> `orders` (Pact V4).
//!
//! The gateway's real router (`gateway::app`) and its real HTTP upstream, pointed at Pact's
//! mock server, driven with `oneshot` as a client would: each interaction is the upstream
//! request the gateway makes for one public route (the `/api` prefix stripped, with the
//! headers it adds), and what the gateway relays back is asserted. Every interaction has a
//! mock server of its own (they all write into the same pact), and the one test ends with
//! `PactCheck::finish`, which compares the pact with `contracts/pacts/gateway-orders.json`
//! (`HARNESS_UPDATE_PACTS=1` rewrites it).
//!
//! Every request to orders carries `x-customer-id`, the token's subject: the customer whose
//! orders they are. The order placed names no customer in its body, the list is the
//! subject's, and another customer's order is a 404 like one that does not exist.
//!
//! The provider states are set up by `suites/contract/src/gateway_orders.rs`.

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use gateway::model::Target;
use harness_pact::{
    PactCheck,
    pact_consumer::{datetime, prelude::*},
};
use serde_json::json;

mod common;
use common::*;

/// The customer of the order placed through the gateway (the state cleans up after it).
const BUYER: &str = "gateway-pact-buyer";
/// The product it orders (the state puts it in the catalogue).
const ORDERED_SKU: &str = "GW-PACT-ORDERED";
/// The customer whose orders are listed.
const READER: &str = "gateway-pact-reader";
/// The customer of the order "a confirmed order is on record" inserts.
const OWNER: &str = "gateway-pact-customer";
/// A customer with no orders, asking for another customer's order.
const STRANGER: &str = "gateway-pact-stranger";
const ORDER_ID: &str = "0b7e1c2e-4a8b-4f4e-9f44-0f3cf5f2a6c1";
const MISSING_ORDER_ID: &str = "5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10";
const IDEMPOTENCY_KEY: &str = "8d7f3c52-94a1-4f0e-b3c6-2f1d0e9a7b64";

#[tokio::test]
async fn gateway_orders_pact() {
    harness_pact::ensure_crypto_provider();
    let check = PactCheck::new("gateway", "orders");
    readiness_probes(&check, Target::Orders).await;
    places_an_order(&check).await;
    lists_a_customers_orders(&check).await;
    reads_an_order(&check).await;
    reads_an_order_that_does_not_exist(&check).await;
    reads_another_customers_order(&check).await;
    check.finish().unwrap();
}

/// `POST /api/orders` with an `Idempotency-Key`: 202, the order (the caller's), `Location`
/// under `/api`. The body names no customer: orders takes it from `x-customer-id`.
async fn places_an_order(check: &PactCheck) {
    let request_body = json!({"items": [{"sku": ORDERED_SKU, "quantity": 2}]});
    let response_body = || {
        json_pattern!({
            "id": term!(UUID, ORDER_ID),
            "customer_id": BUYER,
            "items": [{"sku": ORDERED_SKU, "quantity": 2}],
            "status": "PENDING",
            "created_at": datetime!(TIMESTAMP, TIMESTAMP_EXAMPLE),
            "updated_at": datetime!(TIMESTAMP, TIMESTAMP_EXAMPLE),
        })
    };
    let server = check.mock_server("an order placed through the gateway", |i| {
        i.given_with_params(
            "a new order can be accepted under a fresh idempotency key",
            &json!({"customerId": BUYER, "sku": ORDERED_SKU}),
        );
        i.request
            .post()
            .path("/orders")
            .content_type("application/json")
            .header_from_provider_state("idempotency-key", "${idempotencyKey}", IDEMPOTENCY_KEY)
            .json_body(json_pattern!({
                "items": [{"sku": ORDERED_SKU, "quantity": 2}],
            }));
        forwarded_for(&mut i.request, "gw-pact-place-order", BUYER);
        i.response
            .status(202)
            .content_type("application/json")
            .header(
                "location",
                term!(
                    "^/orders/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                    format!("/orders/{ORDER_ID}")
                ),
            )
            .json_body(response_body());
    });
    let request = client_as(
        BUYER,
        Method::POST,
        "/api/orders",
        "orders:write",
        "gw-pact-place-order",
    )
    .header(header::CONTENT_TYPE, "application/json")
    .header("idempotency-key", IDEMPOTENCY_KEY)
    .body(Body::from(request_body.to_string()))
    .unwrap();
    let answer = send(gateway(Target::Orders, &base_url(server.as_ref())), request).await;
    answer.assert_relayed(
        StatusCode::ACCEPTED,
        "application/json",
        "gw-pact-place-order",
    );
    assert_eq!(answer.header("location"), format!("/api/orders/{ORDER_ID}"));
    assert_eq!(answer.body, response_body().to_example());
    drop(server);
}

/// `GET /api/orders`: the caller's orders, relayed as they are.
async fn lists_a_customers_orders(check: &PactCheck) {
    let response_body = || each_like!(confirmed_order(exactly(READER)));
    let server = check.mock_server("a customer's orders requested through the gateway", |i| {
        i.given_with_params(
            "a customer has a confirmed order on record",
            &json!({"customerId": READER}),
        );
        i.request.get().path("/orders");
        forwarded_for(&mut i.request, "gw-pact-list-orders", READER);
        i.response
            .ok()
            .content_type("application/json")
            .json_body(response_body());
    });
    let request = client_as(
        READER,
        Method::GET,
        "/api/orders",
        "orders:read",
        "gw-pact-list-orders",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(gateway(Target::Orders, &base_url(server.as_ref())), request).await;
    answer.assert_relayed(StatusCode::OK, "application/json", "gw-pact-list-orders");
    assert_eq!(answer.body, response_body().to_example());
    drop(server);
}

/// `GET /api/orders/{id}` of the caller's order (its id comes from the state).
async fn reads_an_order(check: &PactCheck) {
    let server = check.mock_server("an order requested through the gateway", |i| {
        i.given("a confirmed order is on record");
        i.request
            .get()
            .path_from_provider_state("/orders/${orderId}", format!("/orders/{ORDER_ID}"));
        forwarded_for(&mut i.request, "gw-pact-get-order", OWNER);
        i.response
            .ok()
            .content_type("application/json")
            .json_body(confirmed_order(exactly(OWNER)));
    });
    let uri = format!("/api/orders/{ORDER_ID}");
    let request = client_as(OWNER, Method::GET, &uri, "orders:read", "gw-pact-get-order")
        .body(Body::empty())
        .unwrap();
    let answer = send(gateway(Target::Orders, &base_url(server.as_ref())), request).await;
    answer.assert_relayed(StatusCode::OK, "application/json", "gw-pact-get-order");
    assert_eq!(answer.body, confirmed_order(exactly(OWNER)).to_example());
    drop(server);
}

/// `GET /api/orders/{id}` of an order that exists but is another customer's: the same 404
/// as an order that does not exist, so its existence is not revealed.
async fn reads_another_customers_order(check: &PactCheck) {
    let server = check.mock_server(
        "another customer's order requested through the gateway",
        |i| {
            i.given("a confirmed order is on record");
            i.request
                .get()
                .path_from_provider_state("/orders/${orderId}", format!("/orders/{ORDER_ID}"));
            forwarded_for(&mut i.request, "gw-pact-get-foreign-order", STRANGER);
            i.response
                .status(404)
                .content_type("application/problem+json")
                .json_body(not_found(ORDER_ID));
        },
    );
    let uri = format!("/api/orders/{ORDER_ID}");
    let request = client_as(
        STRANGER,
        Method::GET,
        &uri,
        "orders:read",
        "gw-pact-get-foreign-order",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(gateway(Target::Orders, &base_url(server.as_ref())), request).await;
    answer.assert_relayed(
        StatusCode::NOT_FOUND,
        "application/problem+json",
        "gw-pact-get-foreign-order",
    );
    assert_eq!(answer.body, not_found(ORDER_ID).to_example());
    drop(server);
}

/// `GET /api/orders/{id}` of an unknown order: orders' 404 problem, relayed.
async fn reads_an_order_that_does_not_exist(check: &PactCheck) {
    let server = check.mock_server("an unknown order requested through the gateway", |i| {
        i.given_with_params(
            "no order is on record with the id",
            &json!({"orderId": MISSING_ORDER_ID}),
        );
        i.request.get().path(format!("/orders/{MISSING_ORDER_ID}"));
        forwarded_for(&mut i.request, "gw-pact-get-missing-order", OWNER);
        i.response
            .status(404)
            .content_type("application/problem+json")
            .json_body(not_found(MISSING_ORDER_ID));
    });
    let uri = format!("/api/orders/{MISSING_ORDER_ID}");
    let request = client_as(
        OWNER,
        Method::GET,
        &uri,
        "orders:read",
        "gw-pact-get-missing-order",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(gateway(Target::Orders, &base_url(server.as_ref())), request).await;
    answer.assert_relayed(
        StatusCode::NOT_FOUND,
        "application/problem+json",
        "gw-pact-get-missing-order",
    );
    assert_eq!(answer.body, not_found(MISSING_ORDER_ID).to_example());
    drop(server);
}

/// A confirmed order of `customer` as orders shows it (`OrderView`): ids and amounts vary,
/// the status name is what clients act on.
fn confirmed_order(customer: JsonPattern) -> JsonPattern {
    json_pattern!({
        "id": term!(UUID, ORDER_ID),
        "customer_id": customer,
        "items": each_like!({"sku": like!("KB-001"), "quantity": like!(2)}),
        "status": term!("^CONFIRMED$", "CONFIRMED"),
        "total_cents": like!(17800),
        "reservation_id": like!("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"),
        "payment_id": like!("7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"),
        "created_at": datetime!(TIMESTAMP, TIMESTAMP_EXAMPLE),
        "updated_at": datetime!(TIMESTAMP, TIMESTAMP_EXAMPLE),
    })
}

/// The services' 404 problem (`application/problem+json`) for the order `id`.
fn not_found(id: &str) -> JsonPattern {
    json_pattern!({
        "type": "not_found",
        "title": like!("resource not found"),
        "status": 404,
        "detail": like!(format!("order {id} does not exist")),
    })
}
