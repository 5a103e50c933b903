//! Consumer pact `gateway` -> `inventory` (Pact V4): the catalogue routes.
//!
//! The gateway's real router (`gateway::app`) and its real HTTP upstream, pointed at Pact's
//! mock server, driven with `oneshot` as a client would: each interaction is the upstream
//! request the gateway makes for one public route (the `/api` prefix stripped, with the
//! headers it adds), and what the gateway relays back is asserted. Every interaction has a
//! mock server of its own (they all write into the same pact), and the one test ends with
//! `PactCheck::finish`, which compares the pact with `contracts/pacts/gateway-inventory.json`
//! (`HARNESS_UPDATE_PACTS=1` rewrites it).
//!
//! The provider states are set up by `suites/contract/src/gateway_inventory.rs`.

use axum::{
    body::Body,
    http::{Method, StatusCode},
};
use gateway::model::Target;
use harness_pact::{PactCheck, pact_consumer::prelude::*};
use serde_json::json;

mod common;
use common::*;

/// The product the catalogue lists (the state puts it there).
const LISTED_SKU: &str = "GW-PACT-LISTED";
/// The product read by its sku (the state puts it there).
const SKU: &str = "GW-PACT-PRODUCT";
/// A sku the catalogue does not have.
const MISSING_SKU: &str = "GW-PACT-MISSING";

#[tokio::test]
async fn gateway_inventory_pact() {
    harness_pact::ensure_crypto_provider();
    let check = PactCheck::new("gateway", "inventory");
    readiness_probes(&check, Target::Inventory).await;
    lists_the_catalogue(&check).await;
    reads_a_product(&check).await;
    reads_a_product_that_does_not_exist(&check).await;
    check.finish().unwrap();
}

/// `GET /api/products`: every product, relayed as inventory lists them.
async fn lists_the_catalogue(check: &PactCheck) {
    let response_body = || each_like!(product(like!(LISTED_SKU).into()));
    let server = check.mock_server("the catalogue requested through the gateway", |i| {
        i.given_with_params("the catalogue lists a product", &json!({"sku": LISTED_SKU}));
        i.request.get().path("/products");
        forwarded(&mut i.request, "gw-pact-list-products");
        i.response
            .ok()
            .content_type("application/json")
            .json_body(response_body());
    });
    let request = client(
        Method::GET,
        "/api/products",
        "catalog:read",
        "gw-pact-list-products",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(
        gateway(Target::Inventory, &base_url(server.as_ref())),
        request,
    )
    .await;
    answer.assert_relayed(StatusCode::OK, "application/json", "gw-pact-list-products");
    assert_eq!(answer.body, response_body().to_example());
    drop(server);
}

/// `GET /api/products/{sku}`: the product with that sku.
async fn reads_a_product(check: &PactCheck) {
    let response_body = || product(SKU.into());
    let server = check.mock_server("a product requested through the gateway", |i| {
        i.given_with_params("the catalogue has the product", &json!({"sku": SKU}));
        i.request.get().path(format!("/products/{SKU}"));
        forwarded(&mut i.request, "gw-pact-get-product");
        i.response
            .ok()
            .content_type("application/json")
            .json_body(response_body());
    });
    let uri = format!("/api/products/{SKU}");
    let request = client(Method::GET, &uri, "catalog:read", "gw-pact-get-product")
        .body(Body::empty())
        .unwrap();
    let answer = send(
        gateway(Target::Inventory, &base_url(server.as_ref())),
        request,
    )
    .await;
    answer.assert_relayed(StatusCode::OK, "application/json", "gw-pact-get-product");
    assert_eq!(answer.body, response_body().to_example());
    drop(server);
}

/// `GET /api/products/{sku}` of an unknown sku: inventory's 404 problem, relayed.
async fn reads_a_product_that_does_not_exist(check: &PactCheck) {
    let server = check.mock_server("an unknown product requested through the gateway", |i| {
        i.given_with_params(
            "the catalogue has no product with the sku",
            &json!({"sku": MISSING_SKU}),
        );
        i.request.get().path(format!("/products/{MISSING_SKU}"));
        forwarded(&mut i.request, "gw-pact-get-missing-product");
        i.response
            .status(404)
            .content_type("application/problem+json")
            .json_body(not_found());
    });
    let uri = format!("/api/products/{MISSING_SKU}");
    let request = client(
        Method::GET,
        &uri,
        "catalog:read",
        "gw-pact-get-missing-product",
    )
    .body(Body::empty())
    .unwrap();
    let answer = send(
        gateway(Target::Inventory, &base_url(server.as_ref())),
        request,
    )
    .await;
    answer.assert_relayed(
        StatusCode::NOT_FOUND,
        "application/problem+json",
        "gw-pact-get-missing-product",
    );
    assert_eq!(answer.body, not_found().to_example());
    drop(server);
}

/// A product as inventory shows it (`ProductView`); `sku` as given.
fn product(sku: JsonPattern) -> JsonPattern {
    json_pattern!({
        "sku": sku,
        "name": like!("Mechanical keyboard"),
        "price_cents": like!(8900),
        "currency": term!("^[A-Z]{3}$", "EUR"),
        "stock": like!(500),
    })
}

/// The services' 404 problem (`application/problem+json`).
fn not_found() -> JsonPattern {
    json_pattern!({
        "type": "not_found",
        "title": like!("resource not found"),
        "status": 404,
        "detail": like!(format!("no product with sku {MISSING_SKU:?}")),
    })
}
