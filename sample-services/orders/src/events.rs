//! The hand-off to shipping and the intake queue: the `order.confirmed` event and the
//! [`Publisher`] that puts messages on the broker (lapin in production, a fake in tests).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Item, Order, OrderStatus};

/// The durable queue of accepted orders waiting for the worker.
pub const INTAKE_QUEUE: &str = "orders.intake";
/// The durable topic exchange of order events.
pub const EVENTS_EXCHANGE: &str = "orders.events";
/// The routing key of [`OrderConfirmed`].
pub const ORDER_CONFIRMED: &str = "order.confirmed";

/// The body of an intake message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeMessage {
    pub order_id: Uuid,
}

/// `order.confirmed`, published once an order is reserved and paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub event_id: Uuid,
    pub order_id: Uuid,
    pub customer_id: String,
    pub items: Vec<Item>,
    pub total_cents: i64,
    pub confirmed_at: DateTime<Utc>,
}

impl OrderConfirmed {
    /// The event of a confirmed order, with the event id stored on it; `None` if the
    /// order is not confirmed (or lacks the facts a confirmation stores).
    pub fn of(order: &Order) -> Option<Self> {
        if order.status != OrderStatus::Confirmed {
            return None;
        }
        Some(Self {
            event_id: order.event_id?,
            order_id: order.id,
            customer_id: order.customer_id.clone(),
            items: order.items.clone(),
            total_cents: order.total_cents?,
            confirmed_at: order.confirmed_at?,
        })
    }
}

/// A message the broker did not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publish failed: {0}")]
pub struct PublishError(pub String);

/// Puts messages on the broker and waits for its confirmation.
#[async_trait::async_trait]
pub trait Publisher: Send + Sync {
    /// Queues an order for the worker (`orders.intake`).
    async fn enqueue(&self, order_id: Uuid) -> Result<(), PublishError>;
    /// Publishes `order.confirmed` (persistent, `message_id` = `event_id`).
    async fn publish_confirmed(&self, event: &OrderConfirmed) -> Result<(), PublishError>;
}
