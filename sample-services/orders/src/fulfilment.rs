//! What the worker does with one intake message: reserve the stock, authorise the
//! payment, record the decision, hand the order to shipping (`order.confirmed`), and say
//! whether the message may be acked.
//!
//! Every step is idempotent, so a message redelivered after a crash picks up where the
//! last attempt stopped: reservations and payments are idempotent by order id, the
//! decision is recorded only on a `PENDING` order, and a confirmed order whose event was
//! not yet confirmed by the broker gets it published with the event id stored on it.

use std::sync::Arc;

use uuid::Uuid;

use crate::{
    events::{Publisher, order_confirmed},
    inventory::{InventoryClient, ReserveOutcome},
    model::{Confirmation, Order, OrderRepository, OrderStatus, RejectReason, Rejection},
    payment::{PaymentGateway, PaymentOutcome, PaymentRequest},
    upstream::UpstreamError,
};

/// The currency every price is in.
pub const CURRENCY: &str = "EUR";

/// What to do with the intake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// The order is final and, if confirmed, its event is out: ack.
    Ack,
    /// Something transient failed (database, inventory, broker): try the order again later.
    /// The message waits in `orders.intake.retry` (`ORDERS_INTAKE_RETRY_DELAY_MS`) and holds
    /// no worker slot meanwhile; see [`crate::worker`].
    RetryLater(String),
    /// The message can never be processed (unknown order, malformed body): it goes to the
    /// dead-letter queue `orders.intake.dead`.
    DeadLetter(String),
}

/// A transient failure in a step.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Repo(#[from] crate::model::RepoError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Publish(#[from] crate::events::PublishError),
}

/// The worker's collaborators.
#[derive(Clone)]
pub struct Fulfilment {
    orders: Arc<dyn OrderRepository>,
    inventory: Arc<dyn InventoryClient>,
    payments: Arc<PaymentGateway>,
    publisher: Arc<dyn Publisher>,
}

impl std::fmt::Debug for Fulfilment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fulfilment")
            .field("payments", &self.payments)
            .finish_non_exhaustive()
    }
}

impl Fulfilment {
    pub fn new(
        orders: Arc<dyn OrderRepository>,
        inventory: Arc<dyn InventoryClient>,
        payments: Arc<PaymentGateway>,
        publisher: Arc<dyn Publisher>,
    ) -> Self {
        Self {
            orders,
            inventory,
            payments,
            publisher,
        }
    }

    /// Processes the order and decides the fate of its intake message.
    pub async fn process(&self, order_id: Uuid) -> Disposition {
        match self.try_process(order_id).await {
            Ok(disposition) => disposition,
            Err(e) => Disposition::RetryLater(e.to_string()),
        }
    }

    async fn try_process(&self, order_id: Uuid) -> Result<Disposition, StepError> {
        let Some(order) = self.orders.get(order_id).await? else {
            return Ok(Disposition::DeadLetter(format!(
                "order {order_id} does not exist"
            )));
        };
        let order = if order.status == OrderStatus::Pending {
            self.decide(order).await?
        } else {
            order
        };
        self.settle(&order).await
    }

    /// Reserve, pay, and record `CONFIRMED` or `REJECTED`. Returns the order as stored.
    async fn decide(&self, order: Order) -> Result<Order, StepError> {
        let reservation = match self.inventory.reserve(order.id, &order.items).await {
            Ok(ReserveOutcome::Reserved(r)) => r,
            Ok(ReserveOutcome::OutOfStock(detail)) => {
                tracing::info!(order_id = %order.id, %detail, "out of stock");
                return self
                    .reject(&order, RejectReason::OutOfStock, None, None, None)
                    .await;
            }
            Ok(ReserveOutcome::UnknownSku(detail)) => {
                tracing::info!(order_id = %order.id, %detail, "unknown sku");
                return self
                    .reject(&order, RejectReason::UnknownSku, None, None, None)
                    .await;
            }
            Err(UpstreamError::Refused { kind, detail, .. }) => {
                tracing::warn!(order_id = %order.id, %kind, %detail, "inventory refused the reservation");
                let reason = RejectReason::ReservationRefused(kind);
                return self.reject(&order, reason, None, None, None).await;
            }
            Err(e) => return Err(e.into()),
        };
        let total = Some(reservation.total_cents);
        let reservation_id = Some(reservation.id.clone());
        if !reservation.is_active() {
            let reason =
                RejectReason::ReservationRefused(format!("reservation {}", reservation.status));
            return self
                .reject(&order, reason, total, reservation_id, None)
                .await;
        }
        let request = PaymentRequest {
            order_id: order.id,
            customer_id: order.customer_id.clone(),
            amount_cents: reservation.total_cents,
            currency: CURRENCY.to_owned(),
        };
        match self.payments.authorize(&request).await {
            PaymentOutcome::Authorized { payment_id } => {
                let confirmation = Confirmation {
                    total_cents: reservation.total_cents,
                    reservation_id: reservation.id,
                    payment_id,
                    event_id: Uuid::new_v4(),
                    at: crate::model::now(),
                };
                let stored = self.orders.confirm(order.id, &confirmation).await?;
                if stored.event_id == Some(confirmation.event_id) {
                    metrics::counter!("orders_confirmed_total").increment(1);
                    tracing::info!(order_id = %order.id, total_cents = confirmation.total_cents, "order confirmed");
                }
                Ok(stored)
            }
            PaymentOutcome::Declined { payment_id, reason } => {
                let reason = RejectReason::PaymentDeclined(reason);
                self.reject(&order, reason, total, reservation_id, Some(payment_id))
                    .await
            }
            PaymentOutcome::Refused { kind } => {
                let reason = RejectReason::PaymentRefused(kind);
                self.reject(&order, reason, total, reservation_id, None)
                    .await
            }
            PaymentOutcome::Unavailable => {
                let reason = RejectReason::PaymentUnavailable;
                self.reject(&order, reason, total, reservation_id, None)
                    .await
            }
        }
    }

    async fn reject(
        &self,
        order: &Order,
        reason: RejectReason,
        total_cents: Option<i64>,
        reservation_id: Option<String>,
        payment_id: Option<String>,
    ) -> Result<Order, StepError> {
        let rejection = Rejection {
            reason: reason.to_string(),
            total_cents,
            reservation_id,
            payment_id,
            at: crate::model::now(),
        };
        let stored = self.orders.reject(order.id, &rejection).await?;
        if stored.status == OrderStatus::Rejected && stored.updated_at == rejection.at {
            metrics::counter!("orders_rejected_total", "reason" => reason.code()).increment(1);
            tracing::info!(order_id = %order.id, reason = %rejection.reason, "order rejected");
        }
        Ok(stored)
    }

    /// Finishes a final order: publish the event of a confirmed one, release the
    /// reservation of a rejected one (both idempotent).
    async fn settle(&self, order: &Order) -> Result<Disposition, StepError> {
        match order.status {
            OrderStatus::Pending => Ok(Disposition::RetryLater(format!(
                "order {} is still pending",
                order.id
            ))),
            OrderStatus::Confirmed if order.event_published_at.is_some() => Ok(Disposition::Ack),
            OrderStatus::Confirmed => {
                let Some(event) = order_confirmed(order) else {
                    return Ok(Disposition::DeadLetter(format!(
                        "confirmed order {} lacks its event id, total or confirmation time",
                        order.id
                    )));
                };
                self.publisher.publish_confirmed(&event).await?;
                metrics::counter!("orders_events_published_total").increment(1);
                self.orders
                    .mark_event_published(order.id, crate::model::now())
                    .await?;
                tracing::info!(order_id = %order.id, event_id = %event.event_id, "order.confirmed published");
                Ok(Disposition::Ack)
            }
            OrderStatus::Rejected => {
                if let Some(reservation_id) = &order.reservation_id {
                    self.inventory.release(reservation_id).await?;
                }
                Ok(Disposition::Ack)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::atomic::Ordering, time::Duration};

    use super::*;
    use crate::{
        fakes::{FakeInventory, FakePayments, FakePublisher, PaymentsMode, UNIT_PRICE},
        model::{InMemoryOrderRepository, Item, NewOrder},
        payment::{BreakerState, CircuitBreaker, ManualClock},
    };

    const OPEN_FOR: Duration = Duration::from_secs(10);

    struct World {
        repo: Arc<InMemoryOrderRepository>,
        inventory: Arc<FakeInventory>,
        payments: Arc<FakePayments>,
        publisher: Arc<FakePublisher>,
        clock: Arc<ManualClock>,
        gateway: Arc<PaymentGateway>,
        fulfilment: Fulfilment,
    }

    fn world(mode: PaymentsMode) -> World {
        let repo = Arc::new(InMemoryOrderRepository::new());
        let inventory = Arc::new(FakeInventory::default());
        let payments = Arc::new(FakePayments::new(mode));
        let publisher = Arc::new(FakePublisher::default());
        let clock = Arc::new(ManualClock::new());
        let breaker = Arc::new(CircuitBreaker::new(5, OPEN_FOR, clock.clone()));
        let gateway = Arc::new(PaymentGateway::new(
            payments.clone(),
            breaker,
            3,
            Duration::from_millis(1),
        ));
        let fulfilment = Fulfilment::new(
            repo.clone(),
            inventory.clone(),
            gateway.clone(),
            publisher.clone(),
        );
        World {
            repo,
            inventory,
            payments,
            publisher,
            clock,
            gateway,
            fulfilment,
        }
    }

    impl World {
        fn pending(&self, customer: &str, items: &[(&str, i64)]) -> Order {
            let items: Vec<(String, i64)> =
                items.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect();
            let order = Order::pending(
                NewOrder::parse(customer, &items).unwrap(),
                crate::model::now(),
            );
            self.repo.put(order.clone());
            order
        }

        async fn order(&self, id: Uuid) -> Order {
            self.repo.get(id).await.unwrap().expect("order exists")
        }
    }

    #[tokio::test]
    async fn reserves_pays_confirms_and_publishes() {
        let w = world(PaymentsMode::Authorize);
        let placed = w.pending("c-1", &[("KB-001", 2), ("MS-002", 1)]);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);

        let order = w.order(placed.id).await;
        assert_eq!(order.status, OrderStatus::Confirmed);
        assert_eq!(order.total_cents, Some(3 * UNIT_PRICE));
        assert_eq!(
            order.reservation_id.as_deref(),
            Some(format!("res-{}", placed.id).as_str())
        );
        assert_eq!(
            order.payment_id.as_deref(),
            Some(format!("pay-{}", placed.id).as_str())
        );
        assert!(order.reason.is_none());
        assert!(order.event_published_at.is_some());

        let request = w.payments.requests.lock().unwrap()[0].clone();
        assert_eq!(request.amount_cents, 3 * UNIT_PRICE);
        assert_eq!(request.currency, "EUR");
        assert_eq!(request.customer_id, "c-1");

        let events = w.publisher.events();
        assert_eq!(events.len(), 1);
        assert_eq!(Some(events[0].event_id), order.event_id);
        assert_eq!(events[0].order_id, placed.id);
        assert_eq!(events[0].total_cents, 3 * UNIT_PRICE);
        assert_eq!(events[0].items, placed.items);
        assert_eq!(Some(events[0].confirmed_at), order.confirmed_at);
        assert!(w.inventory.released().is_empty());
    }

    #[tokio::test]
    async fn out_of_stock_rejects_without_charging() {
        let w = world(PaymentsMode::Authorize);
        w.inventory.sold_out.lock().unwrap().push("KB-001".into());
        let placed = w.pending("c-1", &[("KB-001", 2)]);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        let order = w.order(placed.id).await;
        assert_eq!(order.status, OrderStatus::Rejected);
        assert_eq!(order.reason.as_deref(), Some("out_of_stock"));
        assert_eq!(w.payments.calls(), 0);
        assert!(w.publisher.events().is_empty());
    }

    #[tokio::test]
    async fn declined_payment_rejects_and_releases_the_reservation() {
        let w = world(PaymentsMode::Decline("limit_exceeded".into()));
        let placed = w.pending("c-1", &[("KB-001", 1)]);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        let order = w.order(placed.id).await;
        assert_eq!(order.status, OrderStatus::Rejected);
        assert_eq!(
            order.reason.as_deref(),
            Some("payment_declined: limit_exceeded")
        );
        assert_eq!(
            order.payment_id.as_deref(),
            Some(format!("pay-{}", placed.id).as_str())
        );
        assert_eq!(w.inventory.released(), vec![format!("res-{}", placed.id)]);
        assert_eq!(w.payments.calls(), 1, "a decline is not retried");
        assert!(w.publisher.events().is_empty());
        assert_eq!(w.gateway.breaker().state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn payments_down_retries_then_the_breaker_opens() {
        let w = world(PaymentsMode::Down);

        // First order: 1 attempt + 3 retries, all failing; 4 failures < threshold 5.
        let first = w.pending("c-1", &[("KB-001", 1)]);
        assert_eq!(w.fulfilment.process(first.id).await, Disposition::Ack);
        assert_eq!(w.payments.calls(), 4);
        let order = w.order(first.id).await;
        assert_eq!(order.status, OrderStatus::Rejected);
        assert_eq!(order.reason.as_deref(), Some("payment_unavailable"));
        assert_eq!(w.inventory.released(), vec![format!("res-{}", first.id)]);
        assert_eq!(w.gateway.breaker().state(), BreakerState::Closed);

        // Second order: its first attempt is the 5th consecutive failure; the circuit
        // opens and the retries are refused without calling payments.
        let second = w.pending("c-1", &[("KB-001", 1)]);
        w.fulfilment.process(second.id).await;
        assert_eq!(w.payments.calls(), 5);
        assert_eq!(w.gateway.breaker().state(), BreakerState::Open);
        assert_eq!(
            w.order(second.id).await.reason.as_deref(),
            Some("payment_unavailable")
        );

        // Third order: refused by the open circuit, payments not called at all.
        let third = w.pending("c-1", &[("KB-001", 1)]);
        w.fulfilment.process(third.id).await;
        assert_eq!(w.payments.calls(), 5);
        assert_eq!(
            w.order(third.id).await.reason.as_deref(),
            Some("payment_unavailable")
        );
        assert_eq!(w.inventory.released().len(), 3);

        // Payments recovers; after the open period the trial call closes the circuit.
        w.payments.set(PaymentsMode::Authorize);
        w.clock.advance(OPEN_FOR);
        assert_eq!(w.gateway.breaker().state(), BreakerState::HalfOpen);
        let fourth = w.pending("c-1", &[("KB-001", 1)]);
        assert_eq!(w.fulfilment.process(fourth.id).await, Disposition::Ack);
        assert_eq!(w.order(fourth.id).await.status, OrderStatus::Confirmed);
        assert_eq!(w.gateway.breaker().state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn redelivery_of_a_confirmed_order_does_not_reserve_or_charge_again() {
        let w = world(PaymentsMode::Authorize);
        let placed = w.pending("c-1", &[("KB-001", 1)]);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        let before = w.order(placed.id).await;
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        assert_eq!(w.inventory.created(), 1);
        assert_eq!(w.payments.calls(), 1);
        assert_eq!(w.payments.created(), 1);
        assert_eq!(
            w.publisher.events().len(),
            1,
            "a settled order is not published again"
        );
        assert_eq!(w.order(placed.id).await, before);
    }

    #[tokio::test]
    async fn a_confirmed_order_whose_event_was_lost_gets_it_with_the_stored_id() {
        let w = world(PaymentsMode::Authorize);
        let mut order = w.pending("c-1", &[("KB-001", 3)]);
        let event_id = Uuid::new_v4();
        order.status = OrderStatus::Confirmed;
        order.total_cents = Some(3000);
        order.reservation_id = Some("r-1".into());
        order.payment_id = Some("p-1".into());
        order.event_id = Some(event_id);
        order.confirmed_at = Some(crate::model::now());
        w.repo.put(order.clone());

        assert_eq!(w.fulfilment.process(order.id).await, Disposition::Ack);
        let events = w.publisher.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_id, event_id);
        assert_eq!(events[0].total_cents, 3000);
        assert_eq!(w.inventory.created(), 0);
        assert_eq!(w.payments.calls(), 0);
        assert!(w.order(order.id).await.event_published_at.is_some());
    }

    #[tokio::test]
    async fn a_failed_event_publish_keeps_the_message_and_reuses_the_event_id() {
        let w = world(PaymentsMode::Authorize);
        let placed = w.pending("c-1", &[("KB-001", 1)]);
        w.publisher.fail_events.store(true, Ordering::SeqCst);
        assert!(matches!(
            w.fulfilment.process(placed.id).await,
            Disposition::RetryLater(_)
        ));
        let order = w.order(placed.id).await;
        assert_eq!(order.status, OrderStatus::Confirmed);
        assert!(order.event_published_at.is_none());

        w.publisher.fail_events.store(false, Ordering::SeqCst);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        assert_eq!(w.publisher.events()[0].event_id, order.event_id.unwrap());
        assert_eq!(w.payments.calls(), 1);
        assert_eq!(w.inventory.created(), 1);
    }

    #[tokio::test]
    async fn inventory_down_leaves_the_order_pending_for_another_try() {
        let w = world(PaymentsMode::Authorize);
        w.inventory.down.store(true, Ordering::SeqCst);
        let placed = w.pending("c-1", &[("KB-001", 1)]);
        assert!(matches!(
            w.fulfilment.process(placed.id).await,
            Disposition::RetryLater(_)
        ));
        assert_eq!(w.order(placed.id).await.status, OrderStatus::Pending);
        assert_eq!(w.payments.calls(), 0);

        w.inventory.down.store(false, Ordering::SeqCst);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        assert_eq!(w.order(placed.id).await.status, OrderStatus::Confirmed);
    }

    #[tokio::test]
    async fn a_failed_release_is_retried_on_redelivery() {
        let w = world(PaymentsMode::Decline("customer_blocked".into()));
        let placed = w.pending("blocked-customer", &[("KB-001", 1)]);
        // Inventory answers the reservation but is down for the release.
        w.inventory.release_down.store(true, Ordering::SeqCst);
        assert!(matches!(
            w.fulfilment.process(placed.id).await,
            Disposition::RetryLater(_)
        ));
        let order = w.order(placed.id).await;
        assert_eq!(
            order.status,
            OrderStatus::Rejected,
            "the decision is recorded first"
        );
        assert!(w.inventory.released().is_empty());

        w.inventory.release_down.store(false, Ordering::SeqCst);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        assert_eq!(w.inventory.released(), vec![format!("res-{}", placed.id)]);
        assert_eq!(w.payments.calls(), 1);
    }

    #[tokio::test]
    async fn refused_payment_rejects_with_its_kind() {
        let w = world(PaymentsMode::Refuse("payment_mismatch".into()));
        let placed = w.pending("c-1", &[("KB-001", 1)]);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        let order = w.order(placed.id).await;
        assert_eq!(
            order.reason.as_deref(),
            Some("payment_refused: payment_mismatch")
        );
        assert_eq!(w.payments.calls(), 1, "a refusal is not retried");
        assert_eq!(w.inventory.released().len(), 1);
    }

    #[tokio::test]
    async fn unknown_orders_and_malformed_messages_are_dead_lettered() {
        let w = world(PaymentsMode::Authorize);
        assert!(matches!(
            w.fulfilment.process(Uuid::new_v4()).await,
            Disposition::DeadLetter(_)
        ));
        assert!(matches!(
            crate::worker::decide(&w.fulfilment, b"not json").await,
            Disposition::DeadLetter(_)
        ));
        let placed = w.pending("c-1", &[("KB-001", 1)]);
        let body = serde_json::to_vec(&crate::events::IntakeMessage {
            order_id: placed.id,
        })
        .unwrap();
        assert_eq!(
            crate::worker::decide(&w.fulfilment, &body).await,
            Disposition::Ack
        );
        assert_eq!(
            w.order(placed.id).await.items,
            vec![Item {
                sku: "KB-001".into(),
                quantity: 1
            }]
        );
    }
}
