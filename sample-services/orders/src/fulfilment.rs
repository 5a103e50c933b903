//! What the worker does with one intake message: reserve the stock, authorise the
//! payment, record the decision, hand the order to shipping (`order.confirmed`), and say
//! whether the message may be acked.
//!
//! A `PENDING` order goes through these steps:
//!
//! 1. **Reserve** its stock (idempotent by order id). Out of stock, an unknown sku, or a
//!    refused or inactive reservation: `REJECTED` (no payment was asked for). Inventory
//!    unavailable: try again later.
//! 2. **Authorise** its payment (idempotent by order id). Authorised: `CONFIRMED`, then
//!    `order.confirmed` is published. Declined: `REJECTED` (a declined payment holds no
//!    money), the reservation released. Refused by payments (a mismatch, an answer orders
//!    cannot read, a payment already voided): an authorisation may exist, so the order's
//!    payment is voided first, then `REJECTED` and released.
//! 3. **Payments unavailable** (retries spent, circuit open, or no answer in time, so the
//!    outcome is unknown): the order stays `PENDING` with its reservation and the message
//!    comes back later ([`Disposition::RetryLater`]), until payments answers or the order's
//!    payment deadline (`ORDERS_PAYMENT_DEADLINE_MS` from its creation) has passed. Then
//!    its cancellation is decided and recorded (from then on it can never be confirmed or
//!    rejected, so an authorisation that arrives late cannot confirm it), and carried out:
//! 4. **Cancel**: void the order's payment by order id (idempotent; it covers an
//!    authorisation whose answer was lost, and makes payments refuse any later one), then,
//!    only once payments answered that nothing is held, release the reservation, then
//!    record `CANCELLED` with the reason (`payment_unavailable`). A void that cannot reach
//!    payments, or a release that cannot reach inventory, leaves the order `PENDING` (still
//!    cancelling) and the message comes back later.
//!
//! So no order is final while money may be held for it without it being `CONFIRMED`.
//! Every step is idempotent, so a message redelivered after a crash picks up where the
//! last attempt stopped: reservations, payments and voids are idempotent by order id, each
//! decision is recorded only on a `PENDING` order (a decided cancellation is carried out
//! again), and a confirmed order whose event was not yet confirmed by the broker gets it
//! published with the event id stored on it.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use service_kit::defects::{self, Defect};
use uuid::Uuid;

use crate::{
    events::{Publisher, order_confirmed},
    inventory::{InventoryClient, ReserveOutcome},
    model::{
        CancelReason, Cancellation, Cancelling, Confirmation, Order, OrderRepository, OrderStatus,
        RejectReason, Rejection,
    },
    payment::{PaymentGateway, PaymentOutcome, PaymentRequest, VoidOutcome},
    upstream::UpstreamError,
};

/// The currency every price is in.
pub const CURRENCY: &str = "EUR";

/// How long an order waits for payments to answer, from its creation, unless
/// `ORDERS_PAYMENT_DEADLINE_MS` says otherwise: 5 minutes.
pub const DEFAULT_PAYMENT_DEADLINE: Duration = Duration::from_secs(5 * 60);

/// What `ORDERS_PAYMENT_DEADLINE_MS` takes.
pub const PAYMENT_DEADLINE_EXPECTED: &str = "a whole number of milliseconds, at least 1 and at \
    most half of ORDERS_INTAKE_MAX_RETRIES x ORDERS_INTAKE_RETRY_DELAY_MS";

/// The payment deadline to use: `set` (`ORDERS_PAYMENT_DEADLINE_MS`), else
/// [`DEFAULT_PAYMENT_DEADLINE`] or half the intake retry window when that is shorter.
///
/// An order waiting for payments comes back through the intake retry queue, which gives up
/// on it after `max_retries` tries `retry_delay` apart. The deadline must pass while the
/// message is still retried, with as long again left to carry out the cancellation (void and
/// release), which may itself wait for payments to come back: so it is at least 1 ms and at
/// most half the retry window. `Err` says why not.
pub fn payment_deadline(
    set: Option<Duration>,
    retry_delay: Duration,
    max_retries: u32,
) -> Result<Duration, String> {
    let window = retry_delay.saturating_mul(max_retries);
    let longest = window / 2;
    let deadline = set.unwrap_or_else(|| DEFAULT_PAYMENT_DEADLINE.min(longest));
    let whole_window = || {
        format!(
            "the intake retry window is ORDERS_INTAKE_MAX_RETRIES {max_retries} x \
             ORDERS_INTAKE_RETRY_DELAY_MS {} ms = {} ms",
            retry_delay.as_millis(),
            window.as_millis()
        )
    };
    if longest < Duration::from_millis(1) {
        return Err(format!(
            "an order cannot wait for payments: {}",
            whole_window()
        ));
    }
    if deadline < Duration::from_millis(1) {
        return Err("must be at least 1".to_owned());
    }
    if deadline > longest {
        return Err(format!(
            "must be at most half the intake retry window ({}), so an order waiting for \
             payments is still retried when its deadline passes and its cancellation has time \
             to void and release",
            whole_window()
        ));
    }
    Ok(deadline)
}

/// What to do with the intake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// The order is final and, if confirmed, its event is out: ack.
    Ack,
    /// Something transient failed (database, inventory, payments, broker): try the order
    /// again later. The message waits in `orders.intake.retry` (`ORDERS_INTAKE_RETRY_DELAY_MS`)
    /// and holds no worker slot meanwhile; see [`crate::worker`].
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

/// Where deciding a `PENDING` order got to.
enum Step {
    /// The order as stored afterwards: settle it.
    Stored(Box<Order>),
    /// The order stays as it is for now: the message's fate.
    Done(Disposition),
}

/// The worker's collaborators.
#[derive(Clone)]
pub struct Fulfilment {
    orders: Arc<dyn OrderRepository>,
    inventory: Arc<dyn InventoryClient>,
    payments: Arc<PaymentGateway>,
    publisher: Arc<dyn Publisher>,
    payment_deadline: Duration,
}

impl std::fmt::Debug for Fulfilment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fulfilment")
            .field("payments", &self.payments)
            .field("payment_deadline", &self.payment_deadline)
            .finish_non_exhaustive()
    }
}

impl Fulfilment {
    /// With the [`DEFAULT_PAYMENT_DEADLINE`]; see [`Fulfilment::with_payment_deadline`].
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
            payment_deadline: DEFAULT_PAYMENT_DEADLINE,
        }
    }

    /// How long after its creation an order waits for payments to answer before it is
    /// cancelled (`ORDERS_PAYMENT_DEADLINE_MS`).
    #[must_use]
    pub fn with_payment_deadline(mut self, deadline: Duration) -> Self {
        self.payment_deadline = deadline;
        self
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
            match self.decide(order).await? {
                Step::Stored(order) => *order,
                Step::Done(disposition) => return Ok(disposition),
            }
        } else {
            order
        };
        self.settle(&order).await
    }

    /// When the order stops waiting for payments.
    fn deadline_of(&self, order: &Order) -> DateTime<Utc> {
        chrono::Duration::from_std(self.payment_deadline)
            .ok()
            .and_then(|d| order.created_at.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Reserve, pay, and record `CONFIRMED` or `REJECTED`; or keep the order waiting for
    /// payments; or, past its deadline, cancel it.
    async fn decide(&self, order: Order) -> Result<Step, StepError> {
        if order.is_cancelling() {
            return self.cancel(order).await;
        }
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
        let request = payment_request(&order, reservation.total_cents);
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
                self.unless_cancelling(stored).await
            }
            PaymentOutcome::Declined { payment_id, reason } => {
                // A declined payment holds no money: nothing to void.
                let reason = RejectReason::PaymentDeclined(reason);
                self.reject(&order, reason, total, reservation_id, Some(payment_id))
                    .await
            }
            PaymentOutcome::Refused { kind } => {
                // Payments answered, but not with a payment orders can act on: one may be
                // authorised all the same (with other terms, say), so void before letting
                // the stock go.
                match self.payments.void(&request).await {
                    VoidOutcome::Released { payment_id } => {
                        let reason = RejectReason::PaymentRefused(kind);
                        self.reject(&order, reason, total, reservation_id, Some(payment_id))
                            .await
                    }
                    outcome => Ok(Step::Done(Disposition::RetryLater(void_failed(
                        &order, &outcome,
                    )))),
                }
            }
            PaymentOutcome::Unavailable if defects::is_on(Defect::OutageRejects) => {
                // Planted defect `outage-rejects`: given up at once, nothing voided.
                let reason = RejectReason::PaymentUnavailable;
                self.reject(&order, reason, total, reservation_id, None)
                    .await
            }
            PaymentOutcome::Unavailable => {
                let deadline = self.deadline_of(&order);
                if crate::model::now() < deadline {
                    metrics::counter!("orders_payment_waits_total").increment(1);
                    tracing::warn!(order_id = %order.id, %deadline, "payments unavailable; the order waits for it, keeping its reservation");
                    return Ok(Step::Done(Disposition::RetryLater(format!(
                        "payments unavailable; order {} waits for it until {deadline}",
                        order.id
                    ))));
                }
                let cancelling = Cancelling {
                    reason: CancelReason::PaymentUnavailable,
                    total_cents: reservation.total_cents,
                    reservation_id: reservation.id,
                    at: crate::model::now(),
                };
                let stored = self.orders.begin_cancel(order.id, &cancelling).await?;
                if stored.is_cancelling() {
                    tracing::warn!(order_id = %order.id, %deadline, reason = %cancelling.reason, "payment deadline passed; cancelling the order");
                }
                self.unless_cancelling(stored).await
            }
        }
    }

    /// The order as stored after a decision: if its cancellation was decided meanwhile
    /// (so the decision was not recorded), carry that out instead.
    async fn unless_cancelling(&self, stored: Order) -> Result<Step, StepError> {
        if stored.is_cancelling() {
            self.cancel(stored).await
        } else {
            Ok(Step::Stored(Box::new(stored)))
        }
    }

    async fn reject(
        &self,
        order: &Order,
        reason: RejectReason,
        total_cents: Option<i64>,
        reservation_id: Option<String>,
        payment_id: Option<String>,
    ) -> Result<Step, StepError> {
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
        self.unless_cancelling(stored).await
    }

    /// Carries out a decided cancellation: void the payment, then release the stock, then
    /// record `CANCELLED`. Each step is idempotent; a step that fails leaves the order
    /// cancelling, for the next delivery to go on with.
    async fn cancel(&self, order: Order) -> Result<Step, StepError> {
        let (Some(total_cents), Some(reservation_id)) =
            (order.total_cents, order.reservation_id.clone())
        else {
            return Ok(Step::Done(Disposition::DeadLetter(format!(
                "cancelling order {} lacks its total or reservation",
                order.id
            ))));
        };
        let reason = order.cancel_reason.clone().unwrap_or_default();
        let request = payment_request(&order, total_cents);
        let payment_id = if defects::is_on(Defect::ChargeWithoutOrder) {
            // Planted defect `charge-without-order`: the stock goes, the payment stays.
            None
        } else {
            match self.payments.void(&request).await {
                VoidOutcome::Released { payment_id } => Some(payment_id),
                outcome => {
                    return Ok(Step::Done(Disposition::RetryLater(void_failed(
                        &order, &outcome,
                    ))));
                }
            }
        };
        if let Some(payment_id) = &payment_id {
            tracing::info!(order_id = %order.id, %payment_id, "payment voided; releasing the stock");
        }
        self.inventory.release(&reservation_id).await?;
        let cancellation = Cancellation {
            payment_id,
            at: crate::model::now(),
        };
        let stored = self.orders.cancel(order.id, &cancellation).await?;
        if stored.status == OrderStatus::Cancelled && stored.updated_at == cancellation.at {
            let code = CancelReason::parse(&reason).map_or("other", CancelReason::code);
            metrics::counter!("orders_cancelled_total", "reason" => code).increment(1);
            tracing::info!(order_id = %order.id, %reason, %reservation_id, "order cancelled");
        }
        Ok(Step::Stored(Box::new(stored)))
    }

    /// Finishes a final order: publish the event of a confirmed one, release the
    /// reservation of a rejected one (both idempotent). A cancelled order was finished
    /// before it was recorded.
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
            OrderStatus::Cancelled => Ok(Disposition::Ack),
        }
    }
}

/// The payment of `order` for `amount_cents`, as authorised and as voided.
fn payment_request(order: &Order, amount_cents: i64) -> PaymentRequest {
    PaymentRequest {
        order_id: order.id,
        customer_id: order.customer_id.clone(),
        amount_cents,
        currency: CURRENCY.to_owned(),
    }
}

/// Logs a void that did not release the payment; the reason to try the order again.
fn void_failed(order: &Order, outcome: &VoidOutcome) -> String {
    match outcome {
        VoidOutcome::NotReleased(why) => {
            tracing::error!(order_id = %order.id, %why, "the order's payment could not be voided; the order stays PENDING");
            format!("the payment of order {} was not voided: {why}", order.id)
        }
        _ => {
            tracing::warn!(order_id = %order.id, "payments unavailable for the void; the order stays PENDING");
            format!(
                "payments unavailable: the payment of order {} is not voided yet",
                order.id
            )
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
        payment::{BreakerState, CircuitBreaker, ManualClock, PaymentStatus},
    };

    const OPEN_FOR: Duration = Duration::from_secs(10);
    /// Longer ago than the default payment deadline.
    const PAST_DEADLINE: Duration = Duration::from_secs(DEFAULT_PAYMENT_DEADLINE.as_secs() + 1);

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

        /// A `PENDING` order created `age` ago.
        fn pending_since(&self, customer: &str, items: &[(&str, i64)], age: Duration) -> Order {
            let mut order = self.pending(customer, items);
            order.created_at -= chrono::Duration::from_std(age).unwrap();
            order.updated_at = order.created_at;
            self.repo.put(order.clone());
            order
        }

        async fn order(&self, id: Uuid) -> Order {
            self.repo.get(id).await.unwrap().expect("order exists")
        }
    }

    #[test]
    fn the_payment_deadline_fits_in_half_the_retry_window() {
        let second = Duration::from_secs(1);
        // Unset: five minutes, or half the window when shorter.
        assert_eq!(
            payment_deadline(None, 5 * second, 720),
            Ok(DEFAULT_PAYMENT_DEADLINE)
        );
        assert_eq!(payment_deadline(None, second, 20), Ok(10 * second));
        assert_eq!(
            payment_deadline(Some(30 * second), second, 60),
            Ok(30 * second)
        );
        let err = payment_deadline(Some(31 * second), second, 60).unwrap_err();
        assert!(err.contains("60000 ms"), "{err}");
        assert!(payment_deadline(Some(Duration::ZERO), second, 60).is_err());
        let err = payment_deadline(None, second, 0).unwrap_err();
        assert!(err.contains("ORDERS_INTAKE_MAX_RETRIES 0"), "{err}");
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
        assert!(
            w.payments.voided_orders().is_empty(),
            "a declined payment holds nothing"
        );
        assert!(w.publisher.events().is_empty());
        assert_eq!(w.gateway.breaker().state(), BreakerState::Closed);
    }

    fn waits(d: &Disposition) -> bool {
        matches!(d, Disposition::RetryLater(_))
    }

    #[tokio::test]
    async fn payments_down_retries_then_the_breaker_opens_and_orders_wait() {
        let w = world(PaymentsMode::Down);

        // First order: 1 attempt + 3 retries, all failing; 4 failures < threshold 5. The
        // order waits for payments: PENDING, its stock still reserved.
        let first = w.pending("c-1", &[("KB-001", 1)]);
        assert!(waits(&w.fulfilment.process(first.id).await));
        assert_eq!(w.payments.calls(), 4);
        let order = w.order(first.id).await;
        assert_eq!(order.status, OrderStatus::Pending);
        assert!(order.reason.is_none() && order.cancel_reason.is_none());
        assert!(
            w.inventory.released().is_empty(),
            "the stock stays reserved"
        );
        assert!(w.payments.voided_orders().is_empty(), "nothing voided yet");
        assert_eq!(w.gateway.breaker().state(), BreakerState::Closed);

        // Second order: its first attempt is the 5th consecutive failure; the circuit
        // opens and the retries are refused without calling payments.
        let second = w.pending("c-1", &[("KB-001", 1)]);
        assert!(waits(&w.fulfilment.process(second.id).await));
        assert_eq!(w.payments.calls(), 5);
        assert_eq!(w.gateway.breaker().state(), BreakerState::Open);
        assert_eq!(w.order(second.id).await.status, OrderStatus::Pending);

        // Third order: refused by the open circuit, payments not called at all; it waits too.
        let third = w.pending("c-1", &[("KB-001", 1)]);
        assert!(waits(&w.fulfilment.process(third.id).await));
        assert_eq!(w.payments.calls(), 5);
        assert_eq!(w.order(third.id).await.status, OrderStatus::Pending);
        assert!(w.inventory.released().is_empty());

        // Payments recovers; after the open period the trial call closes the circuit, and
        // every waiting order goes through with the reservation it had.
        w.payments.set(PaymentsMode::Authorize);
        w.clock.advance(OPEN_FOR);
        assert_eq!(w.gateway.breaker().state(), BreakerState::HalfOpen);
        for placed in [&first, &second, &third] {
            assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
            assert_eq!(w.order(placed.id).await.status, OrderStatus::Confirmed);
        }
        assert_eq!(w.gateway.breaker().state(), BreakerState::Closed);
        assert_eq!(w.inventory.created(), 3, "each order reserved once");
        assert!(w.inventory.released().is_empty());
        assert_eq!(w.publisher.events().len(), 3);
    }

    #[tokio::test]
    async fn payments_back_before_the_deadline_confirms_with_one_authorisation() {
        let w = world(PaymentsMode::Down);
        let placed = w.pending("c-1", &[("KB-001", 2)]);
        for _ in 0..3 {
            assert!(waits(&w.fulfilment.process(placed.id).await));
            let order = w.order(placed.id).await;
            assert_eq!(order.status, OrderStatus::Pending);
            assert!(!order.is_cancelling());
        }
        assert_eq!(w.gateway.breaker().state(), BreakerState::Open);
        // After the open window, the trial's answer is lost, though payments recorded the
        // authorisation: still waiting, and the circuit open again.
        w.clock.advance(OPEN_FOR);
        w.payments.set(PaymentsMode::LostAnswer);
        assert!(waits(&w.fulfilment.process(placed.id).await));
        assert_eq!(w.payments.created(), 1);
        assert_eq!(w.order(placed.id).await.status, OrderStatus::Pending);
        w.payments.set(PaymentsMode::Authorize);
        w.clock.advance(OPEN_FOR);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);

        let order = w.order(placed.id).await;
        assert_eq!(order.status, OrderStatus::Confirmed);
        assert_eq!(
            order.payment_id.as_deref(),
            Some(format!("pay-{}", placed.id).as_str())
        );
        assert_eq!(w.payments.created(), 1, "exactly one payment");
        assert_eq!(
            w.payments.payment(placed.id).map(|p| p.status),
            Some(PaymentStatus::Authorized)
        );
        assert!(w.payments.voided_orders().is_empty());
        assert_eq!(w.inventory.created(), 1, "the same reservation throughout");
        assert!(w.inventory.released().is_empty());
        assert_eq!(w.publisher.events().len(), 1);
    }

    #[tokio::test]
    async fn after_the_deadline_the_payment_is_voided_then_the_stock_released_then_cancelled() {
        let w = world(PaymentsMode::LostAnswer);
        // Placed longer ago than the deadline: payments answers nothing (the authorisation
        // was recorded, its answer lost), and the order is given up on.
        let placed = w.pending_since("c-1", &[("KB-001", 1)], PAST_DEADLINE);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);

        let order = w.order(placed.id).await;
        assert_eq!(order.status, OrderStatus::Cancelled);
        assert_eq!(order.reason.as_deref(), Some("payment_unavailable"));
        assert_eq!(order.total_cents, Some(UNIT_PRICE));
        assert_eq!(
            order.reservation_id.as_deref(),
            Some(format!("res-{}", placed.id).as_str())
        );
        assert_eq!(
            order.payment_id.as_deref(),
            Some(format!("pay-{}", placed.id).as_str())
        );
        assert_eq!(w.payments.voided_orders(), vec![placed.id]);
        let voided = w.payments.voids.lock().unwrap()[0].clone();
        assert_eq!(voided.amount_cents, UNIT_PRICE, "the amount asked for");
        assert_eq!(voided.customer_id, "c-1");
        assert_eq!(
            w.payments.payment(placed.id).map(|p| p.status),
            Some(PaymentStatus::Voided),
            "the authorisation whose answer was lost holds nothing any more"
        );
        assert_eq!(w.inventory.released(), vec![format!("res-{}", placed.id)]);
        assert!(w.publisher.events().is_empty());

        // Redelivered: nothing happens again.
        let calls = w.payments.calls();
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        assert_eq!(w.payments.calls(), calls);
        assert_eq!(w.payments.voided_orders().len(), 1);
        assert_eq!(w.inventory.released().len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_void_keeps_the_order_pending_and_its_stock() {
        let w = world(PaymentsMode::Down);
        let placed = w.pending_since("c-1", &[("KB-001", 1)], PAST_DEADLINE);
        // Payments down: the deadline has passed, the cancellation is decided, but the void
        // cannot reach payments, so nothing is released.
        assert!(waits(&w.fulfilment.process(placed.id).await));
        let order = w.order(placed.id).await;
        assert_eq!(order.status, OrderStatus::Pending);
        assert!(order.is_cancelling());
        assert_eq!(order.reservation_id, Some(format!("res-{}", placed.id)));
        assert_eq!(w.payments.voided_orders(), vec![placed.id]);
        assert!(
            w.inventory.released().is_empty(),
            "no release before a void"
        );

        // Payments comes back, with the authorisation that was on its way: once decided,
        // the cancellation is carried out, never a confirmation.
        w.payments.set(PaymentsMode::Authorize);
        w.payments.void_down.store(true, Ordering::SeqCst);
        w.clock.advance(OPEN_FOR);
        let calls = w.payments.calls();
        assert!(waits(&w.fulfilment.process(placed.id).await));
        assert_eq!(
            w.payments.calls(),
            calls,
            "no authorisation once cancelling"
        );
        assert_eq!(w.order(placed.id).await.status, OrderStatus::Pending);
        assert!(w.inventory.released().is_empty());

        // The void goes through; inventory is down for the release: still pending.
        w.payments.void_down.store(false, Ordering::SeqCst);
        w.clock.advance(OPEN_FOR);
        w.inventory.release_down.store(true, Ordering::SeqCst);
        assert!(waits(&w.fulfilment.process(placed.id).await));
        assert_eq!(w.order(placed.id).await.status, OrderStatus::Pending);

        // Inventory back: released, then cancelled.
        w.inventory.release_down.store(false, Ordering::SeqCst);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        let order = w.order(placed.id).await;
        assert_eq!(order.status, OrderStatus::Cancelled);
        assert_eq!(order.reason.as_deref(), Some("payment_unavailable"));
        assert_eq!(w.inventory.released(), vec![format!("res-{}", placed.id)]);
        assert_eq!(
            w.payments.payment(placed.id).map(|p| p.status),
            Some(PaymentStatus::Voided),
            "recorded voided: an authorisation arriving now authorises nothing"
        );
        assert!(w.publisher.events().is_empty());
    }

    #[tokio::test]
    async fn an_authorisation_that_lands_after_the_cancellation_was_decided_is_voided() {
        let w = world(PaymentsMode::Authorize);
        let placed = w.pending_since("c-1", &[("KB-001", 1)], PAST_DEADLINE);
        // Another delivery of the same order decided its cancellation meanwhile.
        w.repo
            .begin_cancel(
                placed.id,
                &Cancelling {
                    reason: CancelReason::PaymentUnavailable,
                    total_cents: UNIT_PRICE,
                    reservation_id: format!("res-{}", placed.id),
                    at: crate::model::now(),
                },
            )
            .await
            .unwrap();
        // This one was already past the decision point with an authorisation in hand.
        let stored = w
            .repo
            .confirm(
                placed.id,
                &Confirmation {
                    total_cents: UNIT_PRICE,
                    reservation_id: format!("res-{}", placed.id),
                    payment_id: "p-late".into(),
                    event_id: Uuid::new_v4(),
                    at: crate::model::now(),
                },
            )
            .await
            .unwrap();
        assert_eq!(stored.status, OrderStatus::Pending, "not confirmed");
        assert!(stored.is_cancelling());
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        assert_eq!(w.order(placed.id).await.status, OrderStatus::Cancelled);
        assert_eq!(w.payments.calls(), 0);
        assert_eq!(w.payments.voided_orders(), vec![placed.id]);
        assert!(w.publisher.events().is_empty());
    }

    #[tokio::test]
    async fn a_refused_payment_is_voided_before_the_stock_is_released() {
        let w = world(PaymentsMode::Refuse("payment_mismatch".into()));
        w.payments.void_down.store(true, Ordering::SeqCst);
        let placed = w.pending("c-1", &[("KB-001", 1)]);
        assert!(waits(&w.fulfilment.process(placed.id).await));
        assert_eq!(w.order(placed.id).await.status, OrderStatus::Pending);
        assert!(
            w.inventory.released().is_empty(),
            "no release before a void"
        );

        w.payments.void_down.store(false, Ordering::SeqCst);
        assert_eq!(w.fulfilment.process(placed.id).await, Disposition::Ack);
        let order = w.order(placed.id).await;
        assert_eq!(order.status, OrderStatus::Rejected);
        assert_eq!(
            order.reason.as_deref(),
            Some("payment_refused: payment_mismatch")
        );
        // The first void tried 1 + 3 times, the second once.
        assert_eq!(w.payments.voided_orders(), vec![placed.id; 5]);
        assert_eq!(w.inventory.released(), vec![format!("res-{}", placed.id)]);
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
        assert_eq!(
            w.payments.voided_orders(),
            vec![placed.id],
            "voided first: a payment may exist"
        );
        assert_eq!(order.payment_id, Some(format!("pay-{}", placed.id)));
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
