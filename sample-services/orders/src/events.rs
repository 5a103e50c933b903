//! The hand-off to shipping and the intake queue as orders sees them: the messages and AMQP
//! names of `sample_events` (one definition for orders and shipping), the `order.confirmed`
//! event of a confirmed order ([`order_confirmed`]), and the [`Publisher`] that puts messages
//! on the broker (lapin in production, see [`crate::broker`]; a fake in tests).

pub use sample_events::{
    EVENTS_EXCHANGE, INTAKE_DEAD_LETTER_QUEUE, INTAKE_QUEUE, INTAKE_RETRY_QUEUE, IntakeMessage,
    ORDER_CONFIRMED, OrderConfirmed,
};
use uuid::Uuid;

use crate::model::{Order, OrderStatus};

/// The `order.confirmed` event of a confirmed order, with the event id stored on it; `None`
/// if the order is not confirmed (or lacks the facts a confirmation stores).
pub fn order_confirmed(order: &Order) -> Option<OrderConfirmed> {
    if order.status != OrderStatus::Confirmed {
        return None;
    }
    Some(OrderConfirmed {
        event_id: order.event_id?,
        order_id: order.id,
        customer_id: order.customer_id.clone(),
        items: order.items.clone(),
        total_cents: order.total_cents?,
        confirmed_at: order.confirmed_at?,
    })
}

/// A message the broker did not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publish failed: {0}")]
pub struct PublishError(pub String);

/// Puts messages on the broker and waits for its confirmation. Each message carries the
/// trace context of the work publishing it (`service_kit::tracecontext::current`).
#[async_trait::async_trait]
pub trait Publisher: Send + Sync {
    /// Queues an order for the worker (`orders.intake`).
    async fn enqueue(&self, order_id: Uuid) -> Result<(), PublishError>;
    /// Publishes `order.confirmed` (persistent, `message_id` = `event_id`).
    async fn publish_confirmed(&self, event: &OrderConfirmed) -> Result<(), PublishError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewOrder, now};

    #[test]
    fn a_confirmed_order_makes_an_event_shipping_accepts() {
        let new = NewOrder::parse("c-1", &[("KB-001".to_owned(), 2)]).unwrap();
        let mut order = Order::pending(new, now());
        assert_eq!(order_confirmed(&order), None, "pending");
        order.status = OrderStatus::Confirmed;
        assert_eq!(order_confirmed(&order), None, "without its confirmation");
        order.event_id = Some(Uuid::new_v4());
        order.total_cents = Some(17800);
        order.confirmed_at = Some(now());
        let event = order_confirmed(&order).unwrap();
        assert_eq!(event.event_id, order.event_id.unwrap());
        assert_eq!(event.items, order.items);
        // The consumer's checks, on the wire form.
        assert_eq!(OrderConfirmed::parse(&event.to_json()), Ok(event));
    }
}
