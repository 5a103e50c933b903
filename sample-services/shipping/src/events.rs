//! Processing an `order.confirmed` event, independent of the broker: parse it (the event
//! type and its checks are `sample_events`', shared with orders), create the order's
//! shipment, and say what should happen to the delivery. The consumer ([`crate::consumer`])
//! only maps the [`Outcome`] to ack / retry later / dead-letter. Log lines carry the trace id
//! of the event (`service_kit::tracecontext::current`), which continues orders' trace.

use chrono::Utc;

use crate::model::{Inserted, OrderConfirmed, RejectReason, Shipment, ShipmentRepository};

/// What handling one event led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new shipment was committed.
    Created(Shipment),
    /// The order already had a shipment (a redelivery or a republished event); nothing written.
    Duplicate,
    /// The event can never be processed (malformed JSON, a missing or bad field, a control
    /// character such as a NUL byte in a text field).
    Rejected(RejectReason),
    /// A transient failure (the database); the event should be delivered again later.
    RetryLater(String),
}

/// What to do with the delivery that carried the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Done (the shipment is committed, or already existed): ack.
    Ack,
    /// The message is poison: to the dead-letter queue.
    DeadLetter,
    /// Try again later (through the retry queue).
    RetryLater,
}

impl Outcome {
    /// The delivery's fate.
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::Created(_) | Self::Duplicate => Disposition::Ack,
            Self::Rejected(_) => Disposition::DeadLetter,
            Self::RetryLater(_) => Disposition::RetryLater,
        }
    }

    /// The `outcome` label of `shipping_events_consumed_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Created(_) => "created",
            Self::Duplicate => "duplicate",
            Self::Rejected(_) => "rejected",
            Self::RetryLater(_) => "retry",
        }
    }
}

/// Handles one `order.confirmed` body: parses it and inserts the order's shipment (once).
/// Logs and counts the outcome (`shipping_events_consumed_total{outcome}`,
/// `shipments_created_total`, `shipping_events_rejected_total`).
pub async fn handle_order_confirmed(repo: &dyn ShipmentRepository, payload: &[u8]) -> Outcome {
    let trace_id = service_kit::tracecontext::current()
        .map(|trace| trace.trace_id_hex())
        .unwrap_or_default();
    let outcome = match OrderConfirmed::parse(payload) {
        Err(reason) => {
            tracing::warn!(reason = %reason, %trace_id, "rejecting malformed order.confirmed event");
            metrics::counter!("shipping_events_rejected_total").increment(1);
            Outcome::Rejected(reason)
        }
        Ok(event) => {
            let shipment = Shipment::for_order(&event, Utc::now());
            match repo
                .insert_for_event(&event.event_id.to_string(), &shipment)
                .await
            {
                Ok(Inserted::Created(shipment)) => {
                    tracing::info!(
                        event_id = %event.event_id,
                        order_id = %shipment.order_id,
                        shipment_id = %shipment.id,
                        carrier = %shipment.carrier,
                        %trace_id,
                        "shipment created"
                    );
                    metrics::counter!("shipments_created_total").increment(1);
                    Outcome::Created(shipment)
                }
                Ok(Inserted::AlreadyExists) => {
                    tracing::info!(
                        event_id = %event.event_id,
                        order_id = %event.order_id,
                        %trace_id,
                        "order already has a shipment; duplicate event acknowledged"
                    );
                    Outcome::Duplicate
                }
                Err(error) => {
                    tracing::warn!(
                        event_id = %event.event_id,
                        order_id = %event.order_id,
                        error = %error,
                        %trace_id,
                        "could not store the shipment; the event will be retried"
                    );
                    Outcome::RetryLater(error.to_string())
                }
            }
        }
    };
    metrics::counter!("shipping_events_consumed_total", "outcome" => outcome.label()).increment(1);
    outcome
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::model::{
        InMemoryShipmentRepository, ShipmentStatus, carrier_for, tests::event_json,
    };

    #[tokio::test]
    async fn a_good_event_creates_a_pending_shipment_and_is_acked() {
        let repo = InMemoryShipmentRepository::new();
        let order_id = Uuid::new_v4();
        let outcome = handle_order_confirmed(&repo, event_json(order_id).as_bytes()).await;
        let Outcome::Created(shipment) = &outcome else {
            panic!("expected Created, got {outcome:?}");
        };
        assert_eq!(shipment.order_id, order_id);
        assert_eq!(shipment.customer_id, "cust-1");
        assert_eq!(shipment.status, ShipmentStatus::Pending);
        assert_eq!(shipment.carrier, carrier_for(order_id));
        assert_eq!(outcome.disposition(), Disposition::Ack);
        assert_eq!(repo.all(), vec![shipment.clone()]);
    }

    #[tokio::test]
    async fn a_redelivered_event_makes_one_shipment() {
        let repo = InMemoryShipmentRepository::new();
        let order_id = Uuid::new_v4();
        let body = event_json(order_id);
        assert!(matches!(
            handle_order_confirmed(&repo, body.as_bytes()).await,
            Outcome::Created(_)
        ));
        let again = handle_order_confirmed(&repo, body.as_bytes()).await;
        assert_eq!(again, Outcome::Duplicate);
        assert_eq!(again.disposition(), Disposition::Ack);
        // A second event (new event id) for the same order is a duplicate too.
        let republished = handle_order_confirmed(&repo, event_json(order_id).as_bytes()).await;
        assert_eq!(republished, Outcome::Duplicate);
        assert_eq!(repo.by_order(order_id).await.unwrap().len(), 1);
        assert_eq!(repo.all().len(), 1);
        assert_eq!(repo.processed_events().len(), 2);
    }

    #[tokio::test]
    async fn malformed_events_are_rejected_without_writing() {
        let repo = InMemoryShipmentRepository::new();
        for body in [
            &b"not json"[..],
            b"{}",
            br#"{"event_id":"e1","order_id":"x"}"#,
        ] {
            let outcome = handle_order_confirmed(&repo, body).await;
            assert!(matches!(outcome, Outcome::Rejected(_)), "{outcome:?}");
            assert_eq!(outcome.disposition(), Disposition::DeadLetter);
            assert_eq!(outcome.label(), "rejected");
        }
        assert!(repo.all().is_empty());
        assert!(repo.processed_events().is_empty());
    }

    #[tokio::test]
    async fn a_database_outage_means_retry_later_then_success() {
        let repo = InMemoryShipmentRepository::new();
        repo.set_unavailable(Some("connection refused"));
        let body = event_json(Uuid::new_v4());
        let outcome = handle_order_confirmed(&repo, body.as_bytes()).await;
        assert_eq!(outcome.disposition(), Disposition::RetryLater);
        assert!(
            matches!(&outcome, Outcome::RetryLater(why) if why.contains("connection refused")),
            "{outcome:?}"
        );
        repo.set_unavailable(None);
        assert!(repo.all().is_empty());
        let outcome = handle_order_confirmed(&repo, body.as_bytes()).await;
        assert!(matches!(outcome, Outcome::Created(_)), "{outcome:?}");
    }
}
