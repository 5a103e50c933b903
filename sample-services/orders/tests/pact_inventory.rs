//! The pact between orders (consumer) and inventory (provider): every call
//! [`HttpInventoryClient`] and [`LiveCheck`] make, and every answer the client handles
//! differently, driven through the real client code against Pact's mock server.
//!
//! Each interaction gets a mock server of its own (all write into one [`PactCheck`]
//! directory, where the pact files merge): the two releases send the same request and
//! differ only in the provider state. The checked-in pact is
//! `contracts/pacts/orders-inventory.json`; `HARNESS_UPDATE_PACTS=1` rewrites it. The
//! provider chooses the SKUs, orders and reservations (`fromProviderState`), so verifying
//! twice against one running inventory passes.

use std::time::Duration;

use harness_pact::pact_models::{expression_parser::DataType, generators::Generator};
use harness_pact::{
    PactCheck,
    pact_consumer::{builders::InteractionBuilder, prelude::*},
};
use orders::{
    inventory::{HttpInventoryClient, InventoryClient, ReserveOutcome},
    model::Item,
    upstream::{LiveCheck, http_client},
};
use service_kit::ReadinessCheck;
use uuid::Uuid;

const UUID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
const ORDER_ID: &str = "5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10";
const RESERVATION_ID: &str = "3f1c2b7e-8a4d-4e6f-9b0a-1c2d3e4f5a6b";
const SKU: &str = "KB-001";

fn from_state(i: &mut InteractionBuilder, path: &str, expression: &str) {
    i.request.body_generator(
        path,
        Generator::ProviderStateGenerator(expression.to_owned(), Some(DataType::STRING)),
    );
}

/// `POST /reservations` of one line; the SKU and the order come from the provider state.
fn reserve_request(i: &mut InteractionBuilder, quantity: u32) {
    i.request
        .post()
        .path("/reservations")
        .header("Content-Type", "application/json")
        .json_body(json_pattern!({
            "order_id": term!(UUID, ORDER_ID),
            "items": [{ "sku": like!(SKU), "quantity": quantity }],
        }));
    from_state(i, "$.order_id", "orderId");
    from_state(i, "$.items[0].sku", "sku");
}

/// `DELETE /reservations/{id}`, the id from the provider state.
fn release_request(i: &mut InteractionBuilder) {
    i.request.delete().path_from_provider_state(
        "/reservations/${reservationId}",
        term!(
            "^/reservations/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            format!("/reservations/{RESERVATION_ID}")
        ),
    );
}

fn items(quantity: u32) -> Vec<Item> {
    vec![Item {
        sku: SKU.to_owned(),
        quantity,
    }]
}

fn client(server: &dyn ValidatingMockServer) -> HttpInventoryClient {
    HttpInventoryClient::new(
        http_client(Duration::from_secs(5)).unwrap(),
        server.url().as_str(),
    )
}

#[tokio::test]
async fn orders_inventory_pact() {
    harness_pact::ensure_crypto_provider();
    let check = PactCheck::new("orders", "inventory");

    // Reserved: a new reservation (201). A replay (200) takes the same path in the client.
    let server = check.mock_server("a request to reserve stock for an order", |i| {
        i.given_with_params(
            "a product has stock to reserve",
            &serde_json::json!({ "stock": 10, "price_cents": 2_500 }),
        );
        reserve_request(i, 2);
        i.response
            .created()
            .header("Content-Type", "application/json")
            .json_body(json_pattern!({
                "id": term!(UUID, RESERVATION_ID),
                "status": "ACTIVE",
                "total_cents": like!(5_000),
            }));
    });
    let outcome = client(server.as_ref())
        .reserve(Uuid::new_v4(), &items(2))
        .await
        .unwrap();
    drop(server);
    let ReserveOutcome::Reserved(reservation) = outcome else {
        panic!("expected Reserved, got {outcome:?}");
    };
    assert_eq!(reservation.id, RESERVATION_ID);
    assert!(reservation.is_active());
    assert_eq!(reservation.total_cents, 5_000);

    // 409: not enough stock.
    let server = check.mock_server("a request to reserve more stock than there is",
        |i| {
            i.given_with_params(
                "a product has stock to reserve",
                &serde_json::json!({ "stock": 1, "price_cents": 2_500 }),
            );
            reserve_request(i, 2);
            i.response
                .status(409)
                .header("Content-Type", "application/problem+json")
                .json_body(json_pattern!({
                    "type": "insufficient_stock",
                    "detail": like!("insufficient stock for KB-001: requested 2, available 1; nothing was reserved"),
                }));
        },
    );
    let outcome = client(server.as_ref())
        .reserve(Uuid::new_v4(), &items(2))
        .await
        .unwrap();
    drop(server);
    assert_eq!(
        outcome,
        ReserveOutcome::OutOfStock(
            "insufficient stock for KB-001: requested 2, available 1; nothing was reserved"
                .to_owned()
        )
    );

    // 422 on the SKU: inventory does not know it.
    let server = check.mock_server("a request to reserve an unknown sku", |i| {
        i.given("the sku to reserve is unknown");
        reserve_request(i, 1);
        i.response
            .status(422)
            .header("Content-Type", "application/problem+json")
            .json_body(json_pattern!({
                "type": "unknown_sku",
                "field": "items[0].sku",
                "detail": like!("no product with sku \"KB-001\""),
            }));
    });
    let outcome = client(server.as_ref())
        .reserve(Uuid::new_v4(), &items(1))
        .await
        .unwrap();
    drop(server);
    assert_eq!(
        outcome,
        ReserveOutcome::UnknownSku("no product with sku \"KB-001\"".to_owned())
    );

    // Release: 204.
    let server = check.mock_server("a request to release a reservation", |i| {
        i.given("a reservation is active");
        release_request(i);
        i.response.no_content();
    });
    let released = client(server.as_ref()).release(RESERVATION_ID).await;
    drop(server);
    assert_eq!(released, Ok(()));

    // Release of a reservation inventory does not know: 404, which orders treats as done.
    let server = check.mock_server("a request to release an unknown reservation", |i| {
        i.given("no reservation has the id");
        release_request(i);
        i.response.not_found();
    });
    let released = client(server.as_ref()).release(RESERVATION_ID).await;
    drop(server);
    assert_eq!(released, Ok(()));

    // Readiness: orders asks inventory's /health/live.
    let server = check.mock_server("a liveness probe", |i| {
        i.request.get().path("/health/live");
        i.response.ok();
    });
    let live = LiveCheck::new(
        "inventory",
        server.url().as_str().trim_end_matches('/'),
        http_client(Duration::from_secs(5)).unwrap(),
    );
    let answer = live.check().await;
    drop(server);
    assert_eq!(answer, Ok(()));

    let written = check.finish().unwrap();
    assert_eq!(written.interactions, 6);
}
