//! Consumer pact `gateway` -> `shipping` (Pact V4): the shipment routes.
//!
//! The gateway's real router (`gateway::app`) and its real HTTP upstream, pointed at Pact's
//! mock server, driven with `oneshot` as a client would: each interaction is the upstream
//! request the gateway makes for one public route (the `/api` prefix stripped, with the
//! headers it adds), and what the gateway relays back is asserted. Every interaction has a
//! mock server of its own (they all write into the same pact), and the one test ends with
//! `PactCheck::finish`, which compares the pact with `contracts/pacts/gateway-shipping.json`
//! (`HARNESS_UPDATE_PACTS=1` rewrites it).
//!
//! Every request to shipping carries `x-customer-id`, the token's subject: the caller sees
//! its own shipments only, and another customer's shipment is a 404 like one that does not
//! exist.
//!
//! The provider states are set up by `suites/contract/src/gateway_shipping.rs`.

use axum::{
    body::Body,
    http::{Method, StatusCode},
};
use gateway::model::Target;
use harness_pact::{
    PactCheck,
    pact_consumer::{datetime, prelude::*},
};
use serde_json::json;

mod common;
use common::*;

/// The order whose shipments are listed (the state ships it).
const SHIPPED_ORDER_ID: &str = "3c9e2b4a-7d1f-4e8a-9b6c-5a4d3e2f1c0b";
const SHIPMENT_ID: &str = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b";
const MISSING_SHIPMENT_ID: &str = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9";
/// The customer of the shipments the states insert.
const RECIPIENT: &str = "gateway-pact-recipient";
/// A customer with no shipments, asking for another customer's shipment.
const STRANGER: &str = "gateway-pact-stranger";

#[tokio::test]
async fn gateway_shipping_pact() {
    harness_pact::ensure_crypto_provider();
    let check = PactCheck::new("gateway", "shipping");
    readiness_probes(&check, Target::Shipping).await;
    lists_an_orders_shipments(&check).await;
    lists_the_callers_shipments(&check).await;
    reads_a_shipment(&check).await;
    reads_a_shipment_that_does_not_exist(&check).await;
    reads_another_customers_shipment(&check).await;
    check.finish().unwrap();
}

/// `GET /api/shipments?order_id=...`: the shipments of one of the caller's orders.
async fn lists_an_orders_shipments(check: &PactCheck) {
    let response_body = || each_like!(shipment(exactly(SHIPPED_ORDER_ID)));
    let server = check.mock_server("an order's shipments requested through the gateway", |i| {
        i.given_with_params(
            "a shipment is on record for the order",
            &json!({"orderId": SHIPPED_ORDER_ID}),
        );
        i.request
            .get()
            .path("/shipments")
            .query_param("order_id", SHIPPED_ORDER_ID);
        forwarded_for(&mut i.request, "gw-pact-list-shipments", RECIPIENT);
        i.response
            .ok()
            .content_type("application/json")
            .json_body(response_body());
    });
    let uri = format!("/api/shipments?order_id={SHIPPED_ORDER_ID}");
    let request = client_as(
        RECIPIENT,
        Method::GET,
        &uri,
        "shipments:read",
        "gw-pact-list-shipments",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(
        gateway(Target::Shipping, &base_url(server.as_ref())),
        request,
    )
    .await;
    answer.assert_relayed(StatusCode::OK, "application/json", "gw-pact-list-shipments");
    assert_eq!(answer.body, response_body().to_example());
    drop(server);
}

/// `GET /api/shipments`: all the caller's shipments.
async fn lists_the_callers_shipments(check: &PactCheck) {
    let response_body = || each_like!(shipment(term!(UUID, SHIPPED_ORDER_ID).into()));
    let server = check.mock_server(
        "the caller's shipments requested through the gateway",
        |i| {
            i.given("a shipment is on record");
            i.request.get().path("/shipments");
            forwarded_for(&mut i.request, "gw-pact-list-my-shipments", RECIPIENT);
            i.response
                .ok()
                .content_type("application/json")
                .json_body(response_body());
        },
    );
    let request = client_as(
        RECIPIENT,
        Method::GET,
        "/api/shipments",
        "shipments:read",
        "gw-pact-list-my-shipments",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(
        gateway(Target::Shipping, &base_url(server.as_ref())),
        request,
    )
    .await;
    answer.assert_relayed(
        StatusCode::OK,
        "application/json",
        "gw-pact-list-my-shipments",
    );
    assert_eq!(answer.body, response_body().to_example());
    drop(server);
}

/// `GET /api/shipments/{id}` of the caller's shipment (its id comes from the state).
async fn reads_a_shipment(check: &PactCheck) {
    let response_body = || shipment(term!(UUID, SHIPPED_ORDER_ID).into());
    let server = check.mock_server("a shipment requested through the gateway", |i| {
        i.given("a shipment is on record");
        i.request.get().path_from_provider_state(
            "/shipments/${shipmentId}",
            format!("/shipments/{SHIPMENT_ID}"),
        );
        forwarded_for(&mut i.request, "gw-pact-get-shipment", RECIPIENT);
        i.response
            .ok()
            .content_type("application/json")
            .json_body(response_body());
    });
    let uri = format!("/api/shipments/{SHIPMENT_ID}");
    let request = client_as(
        RECIPIENT,
        Method::GET,
        &uri,
        "shipments:read",
        "gw-pact-get-shipment",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(
        gateway(Target::Shipping, &base_url(server.as_ref())),
        request,
    )
    .await;
    answer.assert_relayed(StatusCode::OK, "application/json", "gw-pact-get-shipment");
    assert_eq!(answer.body, response_body().to_example());
    drop(server);
}

/// `GET /api/shipments/{id}` of an unknown shipment: shipping's 404 problem, relayed.
async fn reads_a_shipment_that_does_not_exist(check: &PactCheck) {
    let server = check.mock_server("an unknown shipment requested through the gateway", |i| {
        i.given_with_params(
            "no shipment is on record with the id",
            &json!({"shipmentId": MISSING_SHIPMENT_ID}),
        );
        i.request
            .get()
            .path(format!("/shipments/{MISSING_SHIPMENT_ID}"));
        forwarded_for(&mut i.request, "gw-pact-get-missing-shipment", RECIPIENT);
        i.response
            .status(404)
            .content_type("application/problem+json")
            .json_body(not_found(MISSING_SHIPMENT_ID));
    });
    let uri = format!("/api/shipments/{MISSING_SHIPMENT_ID}");
    let request = client_as(
        RECIPIENT,
        Method::GET,
        &uri,
        "shipments:read",
        "gw-pact-get-missing-shipment",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(
        gateway(Target::Shipping, &base_url(server.as_ref())),
        request,
    )
    .await;
    answer.assert_relayed(
        StatusCode::NOT_FOUND,
        "application/problem+json",
        "gw-pact-get-missing-shipment",
    );
    assert_eq!(answer.body, not_found(MISSING_SHIPMENT_ID).to_example());
    drop(server);
}

/// `GET /api/shipments/{id}` of a shipment that exists but is another customer's: the same
/// 404 as one that does not exist.
async fn reads_another_customers_shipment(check: &PactCheck) {
    let server = check.mock_server(
        "another customer's shipment requested through the gateway",
        |i| {
            i.given("a shipment is on record");
            i.request.get().path_from_provider_state(
                "/shipments/${shipmentId}",
                format!("/shipments/{SHIPMENT_ID}"),
            );
            forwarded_for(&mut i.request, "gw-pact-get-foreign-shipment", STRANGER);
            i.response
                .status(404)
                .content_type("application/problem+json")
                .json_body(not_found(SHIPMENT_ID));
        },
    );
    let uri = format!("/api/shipments/{SHIPMENT_ID}");
    let request = client_as(
        STRANGER,
        Method::GET,
        &uri,
        "shipments:read",
        "gw-pact-get-foreign-shipment",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(
        gateway(Target::Shipping, &base_url(server.as_ref())),
        request,
    )
    .await;
    answer.assert_relayed(
        StatusCode::NOT_FOUND,
        "application/problem+json",
        "gw-pact-get-foreign-shipment",
    );
    assert_eq!(answer.body, not_found(SHIPMENT_ID).to_example());
    drop(server);
}

/// A shipment as shipping shows it (`ShipmentView`); `order_id` as given. The status name
/// is what clients act on; the carrier is one of shipping's four.
fn shipment(order_id: JsonPattern) -> JsonPattern {
    json_pattern!({
        "id": term!(UUID, SHIPMENT_ID),
        "order_id": order_id,
        "customer_id": exactly(RECIPIENT),
        "status": term!("^PENDING$", "PENDING"),
        "carrier": term!("^(DHL|UPS|FedEx|GLS)$", "DHL"),
        "created_at": datetime!(TIMESTAMP, TIMESTAMP_EXAMPLE),
    })
}

/// The services' 404 problem (`application/problem+json`) for the shipment `id`.
fn not_found(id: &str) -> JsonPattern {
    json_pattern!({
        "type": "not_found",
        "title": like!("resource not found"),
        "status": 404,
        "detail": like!(format!("no shipment {id}")),
    })
}
