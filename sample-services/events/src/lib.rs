//! The messages orders and shipping exchange through RabbitMQ, defined once for the producer
//! and the consumer: the AMQP names (exchange, routing key, queues with their retry and
//! dead-letter queues) and the bodies ([`IntakeMessage`], [`OrderConfirmed`])
//! with the checks a consumer applies before it trusts one ([`OrderConfirmed::parse`]).
//!
//! orders builds and publishes these types, shipping parses them: a field changed here
//! changes both sides at once. The wire form is JSON, and the message pact between shipping
//! and orders (`contracts/pacts/shipping-orders.json`) pins the form of `order.confirmed`
//! for consumers that do not share this crate.
//!
//! The queues' topology (quorum queues, delivery limits, retry and dead-letter queues) is
//! declared by the service that owns each queue, with `service_kit::amqp`; see
//! `docs/src/sample-services.md`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// The durable topic exchange orders publishes its events on.
pub const EVENTS_EXCHANGE: &str = "orders.events";
/// The routing key (and AMQP `type`) of [`OrderConfirmed`].
pub const ORDER_CONFIRMED: &str = "order.confirmed";

/// orders' queue of accepted orders waiting for its worker ([`IntakeMessage`]s).
pub const INTAKE_QUEUE: &str = "orders.intake";
/// Where an intake message waits before another try; it expires back to [`INTAKE_QUEUE`].
pub const INTAKE_RETRY_QUEUE: &str = "orders.intake.retry";
/// Where intake messages that can never be processed end.
pub const INTAKE_DEAD_LETTER_QUEUE: &str = "orders.intake.dead";

/// shipping's queue of [`OrderConfirmed`] events, bound to [`EVENTS_EXCHANGE`] with
/// [`ORDER_CONFIRMED`].
pub const SHIPPING_QUEUE: &str = "shipping.order-confirmed";
/// Where an event waits before another try; it expires back to [`SHIPPING_QUEUE`].
pub const SHIPPING_RETRY_QUEUE: &str = "shipping.order-confirmed.retry";
/// Where events that can never be processed end.
pub const SHIPPING_DEAD_LETTER_QUEUE: &str = "shipping.order-confirmed.dead";

/// Longest customer id or sku an event may carry (orders accepts no longer ones).
pub const MAX_ID_LEN: usize = 200;

/// One line of an order: a product and how many.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Item {
    pub sku: String,
    pub quantity: u32,
}

/// The body of a message on [`INTAKE_QUEUE`]: `{"order_id": uuid}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeMessage {
    pub order_id: Uuid,
}

impl IntakeMessage {
    /// Parses a body; the error names what is wrong.
    pub fn parse(payload: &[u8]) -> Result<Self, Malformed> {
        from_json(payload)
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a uuid serialises")
    }
}

/// `order.confirmed`, published by orders on [`EVENTS_EXCHANGE`] once an order is reserved
/// and paid, persistent, with the AMQP `message_id` = `event_id`:
/// `{"event_id","order_id","customer_id","items":[{"sku","quantity"}],"total_cents","confirmed_at"}`.
///
/// Every field is required; unknown extra fields are ignored (forward compatible).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    /// Fixed when the order is confirmed, so a re-publication carries the same id.
    pub event_id: Uuid,
    pub order_id: Uuid,
    pub customer_id: String,
    pub items: Vec<Item>,
    pub total_cents: i64,
    pub confirmed_at: DateTime<Utc>,
}

impl OrderConfirmed {
    /// Parses and checks an event body: valid JSON of this shape, a customer id and skus
    /// that are not blank, at most [`MAX_ID_LEN`] characters and free of control characters
    /// (a NUL byte cannot be stored), at least one item, quantities of at least 1 and a total
    /// that is not negative. An event that fails can never be processed.
    pub fn parse(payload: &[u8]) -> Result<Self, Malformed> {
        let event: Self = from_json(payload)?;
        check_id("customer_id", &event.customer_id)?;
        if event.items.is_empty() {
            return Err(Malformed::field("items", "must have at least 1 item"));
        }
        for (i, item) in event.items.iter().enumerate() {
            check_id(&format!("items[{i}].sku"), &item.sku)?;
            if item.quantity == 0 {
                return Err(Malformed::field(
                    format!("items[{i}].quantity"),
                    "must be at least 1",
                ));
            }
        }
        if event.total_cents < 0 {
            return Err(Malformed::field(
                "total_cents",
                format!("must not be negative, got {}", event.total_cents),
            ));
        }
        Ok(event)
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event serialises")
    }
}

fn check_id(field: &str, value: &str) -> Result<(), Malformed> {
    if value.trim().is_empty() {
        return Err(Malformed::field(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(Malformed::field(
            field,
            "must not contain control characters",
        ));
    }
    if value.chars().count() > MAX_ID_LEN {
        return Err(Malformed::field(
            field,
            format!("must be at most {MAX_ID_LEN} characters"),
        ));
    }
    Ok(())
}

/// Why a message body can never be processed (it is dead-lettered, not retried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The offending field (`order_id`, `items[0].quantity`), when one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub detail: String,
}

impl Malformed {
    fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

impl std::error::Error for Malformed {}

/// Deserialises JSON, naming the path of the first field that does not fit.
fn from_json<T: DeserializeOwned>(payload: &[u8]) -> Result<T, Malformed> {
    let de = &mut serde_json::Deserializer::from_slice(payload);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Malformed {
                field: None,
                detail: format!("body is not valid JSON: {inner}"),
            }
        } else if path == "." {
            Malformed {
                field: None,
                detail: inner.to_string(),
            }
        } else {
            Malformed::field(path, inner.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> OrderConfirmed {
        OrderConfirmed {
            event_id: Uuid::new_v4(),
            order_id: Uuid::new_v4(),
            customer_id: "cust-1".into(),
            items: vec![Item {
                sku: "KB-001".into(),
                quantity: 2,
            }],
            total_cents: 17800,
            confirmed_at: "2025-01-02T10:20:30.123456Z".parse().unwrap(),
        }
    }

    fn json(event: &OrderConfirmed) -> serde_json::Value {
        serde_json::from_slice(&event.to_json()).unwrap()
    }

    #[test]
    fn an_event_round_trips_in_its_wire_form() {
        let event = event();
        let wire = json(&event);
        assert_eq!(wire["event_id"], event.event_id.to_string());
        assert_eq!(
            wire["items"],
            serde_json::json!([{"sku": "KB-001", "quantity": 2}])
        );
        assert_eq!(wire["confirmed_at"], "2025-01-02T10:20:30.123456Z");
        assert_eq!(OrderConfirmed::parse(&event.to_json()), Ok(event));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let event = event();
        let mut wire = json(&event);
        wire["coupon"] = "SPRING".into();
        assert_eq!(
            OrderConfirmed::parse(wire.to_string().as_bytes()),
            Ok(event)
        );
    }

    /// A change made to a good event's wire form.
    type Change = Box<dyn Fn(&mut serde_json::Value)>;

    #[test]
    fn malformed_events_name_their_field() {
        let cases: Vec<(Change, Option<&str>)> = vec![
            (Box::new(|v| v["order_id"] = "x".into()), Some("order_id")),
            (Box::new(|v| v["event_id"] = 7.into()), Some("event_id")),
            (
                Box::new(|v| v["items"][0]["quantity"] = "two".into()),
                Some("items[0].quantity"),
            ),
            (
                Box::new(|v| v["items"][0]["quantity"] = 0.into()),
                Some("items[0].quantity"),
            ),
            (
                Box::new(|v| v["items"] = serde_json::json!([])),
                Some("items"),
            ),
            (
                Box::new(|v| v["customer_id"] = " ".into()),
                Some("customer_id"),
            ),
            // PostgreSQL cannot store a NUL byte: such an event could never be stored.
            (
                Box::new(|v| v["customer_id"] = "cust\u{0}1".into()),
                Some("customer_id"),
            ),
            (
                Box::new(|v| v["items"][0]["sku"] = "KB\u{1b}".into()),
                Some("items[0].sku"),
            ),
            (
                Box::new(|v| v["customer_id"] = "x".repeat(MAX_ID_LEN + 1).into()),
                Some("customer_id"),
            ),
            (
                Box::new(|v| v["total_cents"] = (-1).into()),
                Some("total_cents"),
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("customer_id");
                }),
                None,
            ),
        ];
        for (change, field) in cases {
            let mut wire = json(&event());
            change(&mut wire);
            let err = OrderConfirmed::parse(wire.to_string().as_bytes()).unwrap_err();
            assert_eq!(err.field.as_deref(), field, "{wire}: {err}");
        }
    }

    #[test]
    fn bodies_that_are_not_json_say_so() {
        for body in [&b"{\"event_id\": "[..], b"\0", b"not json"] {
            let err = OrderConfirmed::parse(body).unwrap_err();
            assert_eq!(err.field, None);
            assert!(err.detail.contains("not valid JSON"), "{err}");
        }
        let err = OrderConfirmed::parse(br#""just text""#).unwrap_err();
        assert!(err.to_string().contains("expected struct"), "{err}");
    }

    #[test]
    fn intake_messages_parse() {
        let id = Uuid::new_v4();
        let message = IntakeMessage { order_id: id };
        assert_eq!(IntakeMessage::parse(&message.to_json()), Ok(message));
        assert_eq!(
            IntakeMessage::parse(br#"{"order_id":"nope"}"#)
                .unwrap_err()
                .field
                .as_deref(),
            Some("order_id")
        );
        assert!(IntakeMessage::parse(b"{}").is_err());
        assert!(IntakeMessage::parse(b"\0").is_err());
    }

    #[test]
    fn retry_and_dead_letter_queues_belong_to_their_queue() {
        for (queue, retry, dead) in [
            (INTAKE_QUEUE, INTAKE_RETRY_QUEUE, INTAKE_DEAD_LETTER_QUEUE),
            (
                SHIPPING_QUEUE,
                SHIPPING_RETRY_QUEUE,
                SHIPPING_DEAD_LETTER_QUEUE,
            ),
        ] {
            assert_eq!(retry, format!("{queue}.retry"));
            assert_eq!(dead, format!("{queue}.dead"));
        }
    }
}
