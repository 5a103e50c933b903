//! orders on RabbitMQ: its topology and the [`LapinPublisher`] of intake messages and
//! `order.confirmed`. The connection itself (reconnects with backoff, readiness) is
//! [`service_kit::amqp::Amqp`]'s, and the consume loop [`service_kit::amqp::consume()`]'s.
//!
//! Topology, declared again on every connection: the durable topic exchange
//! `orders.events`, and the work queue `orders.intake` — a quorum queue with a delivery
//! limit of [`DELIVERY_LIMIT`], its dead-letter queue `orders.intake.dead` and its retry
//! queue `orders.intake.retry` (see [`crate::worker`]).
//!
//! Every message carries the trace context of the work that published it in its
//! `traceparent` header: the request that created the order for an intake message, the
//! intake message being processed for `order.confirmed` ([`service_kit::tracecontext`]).

use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldTable},
};
use service_kit::{
    amqp::{self, Amqp, Topology, WorkQueue, consume::TRACEPARENT_HEADER},
    tracecontext::{self, TraceParent},
};
use uuid::Uuid;

use crate::events::{
    EVENTS_EXCHANGE, INTAKE_DEAD_LETTER_QUEUE, INTAKE_QUEUE, INTAKE_RETRY_QUEUE, IntakeMessage,
    ORDER_CONFIRMED, OrderConfirmed, PublishError, Publisher,
};

/// How often an intake message may be handed back to `orders.intake` (its worker crashed
/// or lost the connection, or it was requeued) before it is dead-lettered.
pub const DELIVERY_LIMIT: u32 = 10;

/// `orders.intake` with its retry and dead-letter queues.
pub fn intake_queue() -> WorkQueue {
    WorkQueue {
        name: INTAKE_QUEUE.to_owned(),
        dead_letter: INTAKE_DEAD_LETTER_QUEUE.to_owned(),
        retry: Some(INTAKE_RETRY_QUEUE.to_owned()),
        delivery_limit: DELIVERY_LIMIT,
    }
}

/// What orders declares on every connection.
pub fn topology() -> Topology {
    Topology::new()
        .topic_exchange(EVENTS_EXCHANGE)
        .work_queue(&intake_queue())
}

/// The `traceparent` a message gets: the current trace with the publishing span as the
/// parent ([`tracecontext::outgoing`]), or a new trace when the work has none (the sweeper).
pub fn outgoing_trace() -> TraceParent {
    tracecontext::outgoing()
}

fn headers(trace: TraceParent) -> FieldTable {
    let mut headers = FieldTable::default();
    headers.insert(
        TRACEPARENT_HEADER.into(),
        AMQPValue::LongString(trace.to_string().into()),
    );
    headers
}

fn now_secs() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// Publishes with publisher confirms on the current connection; fails at once without one
/// (the order then stays `PENDING` for the sweeper, the intake message unacked).
#[derive(Debug)]
pub struct LapinPublisher {
    publisher: amqp::Publisher,
}

impl LapinPublisher {
    pub fn new(amqp: Amqp) -> Self {
        Self {
            publisher: amqp::Publisher::new(amqp),
        }
    }

    /// Closes the publishing channel (at shutdown, before the connection).
    pub async fn close(&self) {
        self.publisher.close().await;
    }
}

fn fail(e: amqp::PublishError) -> PublishError {
    PublishError(e.to_string())
}

#[async_trait::async_trait]
impl Publisher for LapinPublisher {
    async fn enqueue(&self, order_id: Uuid) -> Result<(), PublishError> {
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(order_id.to_string().into())
            .with_timestamp(now_secs())
            .with_headers(headers(outgoing_trace()));
        self.publisher
            .publish(
                "",
                INTAKE_QUEUE,
                &IntakeMessage { order_id }.to_json(),
                properties,
            )
            .await
            .map_err(fail)
    }

    async fn publish_confirmed(&self, event: &OrderConfirmed) -> Result<(), PublishError> {
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(event.event_id.to_string().into())
            .with_type(ORDER_CONFIRMED.into())
            .with_app_id("orders".into())
            .with_timestamp(now_secs())
            .with_headers(headers(outgoing_trace()));
        self.publisher
            .publish(
                EVENTS_EXCHANGE,
                ORDER_CONFIRMED,
                &event.to_json(),
                properties,
            )
            .await
            .map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_continue_the_current_trace() {
        let parent = TraceParent::new_root();
        let sent = tracecontext::scope(parent, async { outgoing_trace() }).await;
        assert_eq!(sent.trace_id, parent.trace_id);
        assert_ne!(sent.parent_id, parent.parent_id);
        let alone = outgoing_trace();
        assert_ne!(alone.trace_id, parent.trace_id, "a new trace without one");
        let h = headers(sent);
        assert_eq!(
            h.inner()
                .get(&lapin::types::ShortString::from(TRACEPARENT_HEADER))
                .and_then(|v| v.as_long_string())
                .map(ToString::to_string),
            Some(sent.to_string())
        );
    }

    #[test]
    fn the_intake_queue_has_its_retry_and_dead_letter_queues() {
        let names: Vec<String> = topology().queues().iter().map(|q| q.name.clone()).collect();
        assert_eq!(
            names,
            [INTAKE_DEAD_LETTER_QUEUE, INTAKE_RETRY_QUEUE, INTAKE_QUEUE]
        );
        assert_eq!(intake_queue().delivery_limit, DELIVERY_LIMIT);
    }
}
