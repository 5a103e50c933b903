//! The message pact between shipping (consumer) and orders (provider): the
//! `order.confirmed` event shipping consumes from the `orders.events` exchange.
//!
//! The pact's message is fed to shipping's real handler
//! ([`shipping::events::handle_order_confirmed`]), which must create a shipment from it;
//! the metadata names the exchange and routing key shipping binds its queue with. The
//! checked-in pact is `contracts/pacts/shipping-orders.json`; `HARNESS_UPDATE_PACTS=1`
//! rewrites it.

use harness_pact::{
    PactCheck,
    pact_consumer::{datetime, prelude::*},
};
use shipping::{
    consumer::{EXCHANGE, ROUTING_KEY},
    events::{Outcome, handle_order_confirmed},
    model::{InMemoryShipmentRepository, ShipmentStatus, carrier_for},
};
use uuid::Uuid;

const UUID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
const ORDER_ID: &str = "5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10";
const EVENT_ID: &str = "c4a7e1d2-5b3f-4e8a-9c6d-0f1e2d3c4b5a";
const CUSTOMER: &str = "customer-42";

#[tokio::test]
async fn shipping_orders_pact() {
    harness_pact::ensure_crypto_provider();
    let check = PactCheck::new("shipping", "orders");
    let mut builder = check.builder();
    builder.message_interaction("an order.confirmed event", |mut m| {
        m.given("an order was confirmed for shipping");
        m.metadata("exchange", EXCHANGE);
        m.metadata("routing_key", ROUTING_KEY);
        m.json_body(json_pattern!({
            "event_id": term!(UUID, EVENT_ID),
            "order_id": term!(UUID, ORDER_ID),
            "customer_id": like!(CUSTOMER),
            "items": each_like!({
                "sku": like!("KB-001"),
                "quantity": like!(2),
            }),
            "total_cents": like!(5_000),
            // chrono's RFC 3339: `Z`, 1 to 9 digits of a second (orders stores microseconds).
            // DateTimeFormatter letters, as Pact's matcher takes them: `S` the fraction, `XXX`
            // the ISO 8601 zone offset (a real pattern, not a placeholder).
            "confirmed_at": datetime!("yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX", "2025-01-02T10:20:30.123456Z"),
        }));
        m
    });

    let mut messages = builder.messages();
    let message = messages.next().expect("the pact has one message");
    assert!(messages.next().is_none());
    // Dropping the iterator writes the pact.
    drop(messages);

    assert_eq!(message.contents.metadata["exchange"], EXCHANGE);
    assert_eq!(message.contents.metadata["routing_key"], ROUTING_KEY);
    let body = message
        .contents
        .contents
        .value()
        .expect("the message has a body");
    let repo = InMemoryShipmentRepository::new();
    let outcome = handle_order_confirmed(&repo, &body).await;
    let Outcome::Created(shipment) = &outcome else {
        panic!("expected Created, got {outcome:?}");
    };
    let order_id: Uuid = ORDER_ID.parse().unwrap();
    assert_eq!(shipment.order_id, order_id);
    assert_eq!(shipment.customer_id, CUSTOMER);
    assert_eq!(shipment.status, ShipmentStatus::Pending);
    assert_eq!(shipment.carrier, carrier_for(order_id));
    assert_eq!(repo.all(), vec![shipment.clone()]);

    let written = check.finish().unwrap();
    assert_eq!(written.interactions, 1);
}
