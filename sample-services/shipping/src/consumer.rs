//! shipping on RabbitMQ: its topology and the handler of `order.confirmed` deliveries. The
//! connection (reconnects with capped, jittered backoff; readiness) is
//! [`service_kit::amqp::Amqp`]'s, the consume loop (prefetch, acks, retries, dead letters,
//! graceful shutdown) [`service_kit::amqp::consume()`]'s: nothing here exits on broker loss.
//!
//! Topology (declared again on every connection): the durable topic exchange
//! `orders.events`, and the work queue `shipping.order-confirmed` bound to it with routing
//! key `order.confirmed` — a quorum queue with a delivery limit of [`DELIVERY_LIMIT`], its
//! dead-letter queue `shipping.order-confirmed.dead` and its retry queue
//! `shipping.order-confirmed.retry`. Up to `SHIPPING_PREFETCH` events are handled at once.
//!
//! Each delivery goes through [`crate::events::handle_order_confirmed`], in the trace its
//! `traceparent` header carries (orders' trace of the order), and is settled by its
//! [`Disposition`]: ack after the commit; a malformed event (bad JSON, a missing field, a NUL
//! byte) is dead-lettered at once; a database error waits `SHIPPING_RETRY_DELAY_MS` in the
//! retry queue, at most `SHIPPING_MAX_RETRIES` times, then is dead-lettered.

use std::{sync::Arc, time::Duration};

pub use sample_events::{
    EVENTS_EXCHANGE as EXCHANGE, ORDER_CONFIRMED as ROUTING_KEY, SHIPPING_DEAD_LETTER_QUEUE,
    SHIPPING_QUEUE as QUEUE, SHIPPING_RETRY_QUEUE,
};
pub use service_kit::amqp::redact;
use service_kit::{
    amqp::{
        Amqp, ConsumerSpec, DepthGauge, Handler, Incoming, RetrySpec, Settlement, Topology,
        WorkQueue, consume,
    },
    server::Shutdown,
    tracecontext::{self, TraceParent},
};

use crate::{
    events::{Disposition, handle_order_confirmed},
    model::ShipmentRepository,
};

/// How often an event may be handed back to the queue (its consumer crashed or lost the
/// connection) before it is dead-lettered.
pub const DELIVERY_LIMIT: u32 = 10;
/// How often the queues' depths are read for their gauges.
pub const DEPTH_INTERVAL: Duration = Duration::from_secs(1);

/// `shipping.order-confirmed` with its retry and dead-letter queues.
pub fn work_queue() -> WorkQueue {
    WorkQueue {
        name: QUEUE.to_owned(),
        dead_letter: SHIPPING_DEAD_LETTER_QUEUE.to_owned(),
        retry: Some(SHIPPING_RETRY_QUEUE.to_owned()),
        delivery_limit: DELIVERY_LIMIT,
    }
}

/// What shipping declares on every connection.
pub fn topology() -> Topology {
    Topology::new()
        .topic_exchange(EXCHANGE)
        .work_queue(&work_queue())
        .bind(QUEUE, EXCHANGE, ROUTING_KEY)
}

/// How the consumer consumes: `prefetch` events at once, retries after `retry_delay`, at most
/// `max_retries` times.
pub fn consumer_spec(prefetch: u16, retry_delay: Duration, max_retries: u32) -> ConsumerSpec {
    ConsumerSpec::new(QUEUE, prefetch).with_retry(RetrySpec {
        queue: SHIPPING_RETRY_QUEUE.to_owned(),
        delay: retry_delay,
        max_retries,
    })
}

/// The gauges of shipping's queues: ready events, those waiting for another try, and the
/// dead-lettered ones.
pub fn depth_gauges() -> Vec<DepthGauge> {
    vec![
        DepthGauge {
            queue: QUEUE.to_owned(),
            messages: "shipping_queue_depth",
            consumers: Some("shipping_queue_consumers"),
        },
        DepthGauge {
            queue: SHIPPING_RETRY_QUEUE.to_owned(),
            messages: "shipping_retry_queue_depth",
            consumers: None,
        },
        DepthGauge {
            queue: SHIPPING_DEAD_LETTER_QUEUE.to_owned(),
            messages: "shipping_dead_letter_queue_depth",
            consumers: None,
        },
    ]
}

/// Handles one `order.confirmed` delivery.
pub struct EventHandler {
    repo: Arc<dyn ShipmentRepository>,
}

impl std::fmt::Debug for EventHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHandler").finish_non_exhaustive()
    }
}

impl EventHandler {
    pub fn new(repo: Arc<dyn ShipmentRepository>) -> Self {
        Self { repo }
    }
}

#[async_trait::async_trait]
impl Handler for EventHandler {
    async fn handle(&self, message: &Incoming) -> Settlement {
        // Continue orders' trace; an event without one starts a trace of its own.
        let trace = message.traceparent().unwrap_or_else(TraceParent::new_root);
        let outcome = tracecontext::scope(
            trace,
            handle_order_confirmed(self.repo.as_ref(), &message.body),
        )
        .await;
        match outcome.disposition() {
            Disposition::Ack => Settlement::Ack,
            Disposition::DeadLetter => Settlement::DeadLetter("malformed"),
            Disposition::RetryLater => Settlement::RetryLater,
        }
    }
}

/// Consumes `order.confirmed` until `shutdown`, surviving broker restarts; a crash of the
/// consume task starts it again.
pub async fn run(
    amqp: Amqp,
    spec: ConsumerSpec,
    repo: Arc<dyn ShipmentRepository>,
    shutdown: Shutdown,
) {
    let handler: Arc<dyn Handler> = Arc::new(EventHandler::new(repo));
    loop {
        let task = tokio::spawn(consume(
            amqp.clone(),
            spec.clone(),
            handler.clone(),
            shutdown.clone(),
        ));
        match task.await {
            Ok(()) => break,
            Err(e) => tracing::error!(error = %e, "the consumer crashed; starting it again"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use lapin::types::AMQPValue;
    use service_kit::amqp::consume::TRACEPARENT_HEADER;
    use uuid::Uuid;

    use super::*;
    use crate::model::{InMemoryShipmentRepository, tests::event_json};

    fn handler() -> (Arc<InMemoryShipmentRepository>, EventHandler) {
        let repo = Arc::new(InMemoryShipmentRepository::new());
        (repo.clone(), EventHandler::new(repo))
    }

    #[tokio::test]
    async fn a_good_event_is_acked_and_a_redelivery_too() {
        let (repo, handler) = handler();
        let message = Incoming::new(event_json(Uuid::new_v4()).into_bytes()).with_header(
            TRACEPARENT_HEADER,
            AMQPValue::LongString(TraceParent::new_root().to_string().into()),
        );
        assert_eq!(handler.handle(&message).await, Settlement::Ack);
        assert_eq!(handler.handle(&message).await, Settlement::Ack);
        assert_eq!(repo.all().len(), 1);
    }

    #[tokio::test]
    async fn poison_is_dead_lettered_at_once() {
        let (repo, handler) = handler();
        let mut nul: serde_json::Value = serde_json::from_str(&event_json(Uuid::new_v4())).unwrap();
        nul["customer_id"] = "cust\u{0}1".into();
        for body in [
            b"not json".to_vec(),
            b"\0".to_vec(),
            br#"{"order_id": 7}"#.to_vec(),
            nul.to_string().into_bytes(),
        ] {
            assert_eq!(
                handler.handle(&Incoming::new(body.clone())).await,
                Settlement::DeadLetter("malformed"),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
        assert!(repo.all().is_empty());
    }

    #[tokio::test]
    async fn a_database_outage_is_retried_later() {
        let (repo, handler) = handler();
        repo.set_unavailable(Some("connection refused"));
        let message = Incoming::new(event_json(Uuid::new_v4()).into_bytes());
        assert_eq!(handler.handle(&message).await, Settlement::RetryLater);
        let spec = consumer_spec(8, Duration::from_secs(5), 3);
        assert_eq!(
            spec.resolve(Settlement::RetryLater, &message),
            Settlement::RetryLater
        );
    }

    #[test]
    fn the_queue_is_bound_with_its_retry_and_dead_letter_queues() {
        let names: Vec<String> = topology().queues().iter().map(|q| q.name.clone()).collect();
        assert_eq!(
            names,
            [SHIPPING_DEAD_LETTER_QUEUE, SHIPPING_RETRY_QUEUE, QUEUE]
        );
        let gauged: Vec<String> = depth_gauges().into_iter().map(|g| g.queue).collect();
        assert_eq!(gauged.len(), names.len());
        assert!(names.iter().all(|n| gauged.contains(n)));
    }
}
