//! Fakes of the external collaborators, for unit tests.

use std::{
    collections::HashMap,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use uuid::Uuid;

use crate::{
    events::{OrderConfirmed, PublishError, Publisher},
    inventory::{InventoryClient, Reservation, ReserveOutcome},
    model::Item,
    payment::{Payment, PaymentRequest, PaymentStatus, PaymentsClient},
    upstream::UpstreamError,
};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records what would go on the broker; can be told to fail.
#[derive(Debug, Default)]
pub(crate) struct FakePublisher {
    pub(crate) enqueued: Mutex<Vec<Uuid>>,
    pub(crate) events: Mutex<Vec<OrderConfirmed>>,
    pub(crate) fail_enqueue: AtomicBool,
    pub(crate) fail_events: AtomicBool,
}

impl FakePublisher {
    pub(crate) fn enqueued(&self) -> Vec<Uuid> {
        lock(&self.enqueued).clone()
    }
    pub(crate) fn events(&self) -> Vec<OrderConfirmed> {
        lock(&self.events).clone()
    }
}

#[async_trait::async_trait]
impl Publisher for FakePublisher {
    async fn enqueue(&self, order_id: Uuid) -> Result<(), PublishError> {
        if self.fail_enqueue.load(Ordering::SeqCst) {
            return Err(PublishError("broker down".into()));
        }
        lock(&self.enqueued).push(order_id);
        Ok(())
    }

    async fn publish_confirmed(&self, event: &OrderConfirmed) -> Result<(), PublishError> {
        if self.fail_events.load(Ordering::SeqCst) {
            return Err(PublishError("broker down".into()));
        }
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// Inventory with a price of 1000 cents per unit, idempotent by order id.
#[derive(Debug, Default)]
pub(crate) struct FakeInventory {
    /// Skus with no stock.
    pub(crate) sold_out: Mutex<Vec<String>>,
    pub(crate) down: AtomicBool,
    /// Only releases fail.
    pub(crate) release_down: AtomicBool,
    pub(crate) reservations: Mutex<HashMap<Uuid, Reservation>>,
    pub(crate) created: AtomicUsize,
    pub(crate) released: Mutex<Vec<String>>,
}

pub(crate) const UNIT_PRICE: i64 = 1000;

impl FakeInventory {
    pub(crate) fn released(&self) -> Vec<String> {
        lock(&self.released).clone()
    }
    pub(crate) fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl InventoryClient for FakeInventory {
    async fn reserve(
        &self,
        order_id: Uuid,
        items: &[Item],
    ) -> Result<ReserveOutcome, UpstreamError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(UpstreamError::Unavailable {
                service: "inventory",
                detail: "connection refused".into(),
            });
        }
        if let Some(existing) = lock(&self.reservations).get(&order_id) {
            return Ok(ReserveOutcome::Reserved(existing.clone()));
        }
        if let Some(item) = items.iter().find(|i| lock(&self.sold_out).contains(&i.sku)) {
            return Ok(ReserveOutcome::OutOfStock(format!(
                "insufficient stock for {}",
                item.sku
            )));
        }
        let reservation = Reservation {
            id: format!("res-{order_id}"),
            status: "ACTIVE".into(),
            total_cents: items
                .iter()
                .map(|i| i64::from(i.quantity) * UNIT_PRICE)
                .sum(),
        };
        self.created.fetch_add(1, Ordering::SeqCst);
        lock(&self.reservations).insert(order_id, reservation.clone());
        Ok(ReserveOutcome::Reserved(reservation))
    }

    async fn release(&self, reservation_id: &str) -> Result<(), UpstreamError> {
        if self.down.load(Ordering::SeqCst) || self.release_down.load(Ordering::SeqCst) {
            return Err(UpstreamError::Unavailable {
                service: "inventory",
                detail: "connection refused".into(),
            });
        }
        for r in lock(&self.reservations).values_mut() {
            if r.id == reservation_id {
                r.status = "RELEASED".into();
            }
        }
        lock(&self.released).push(reservation_id.to_owned());
        Ok(())
    }
}

/// How the fake payments answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PaymentsMode {
    Authorize,
    Decline(String),
    /// Unavailable: every call (authorisation or void) fails.
    Down,
    /// Authorisations are recorded, but their answer is lost (a timeout): the caller sees
    /// payments unavailable while the money is held. Voids work.
    LostAnswer,
    Refuse(String),
}

/// Payments, idempotent by order id like the real one.
#[derive(Debug)]
pub(crate) struct FakePayments {
    pub(crate) mode: Mutex<PaymentsMode>,
    /// Authorisation calls.
    pub(crate) calls: AtomicUsize,
    pub(crate) payments: Mutex<HashMap<Uuid, Payment>>,
    pub(crate) requests: Mutex<Vec<PaymentRequest>>,
    /// Only voids fail (as unavailable).
    pub(crate) void_down: AtomicBool,
    /// Void calls, answered or not.
    pub(crate) voids: Mutex<Vec<PaymentRequest>>,
}

impl FakePayments {
    pub(crate) fn new(mode: PaymentsMode) -> Self {
        Self {
            mode: Mutex::new(mode),
            calls: AtomicUsize::new(0),
            payments: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            void_down: AtomicBool::new(false),
            voids: Mutex::new(Vec::new()),
        }
    }
    pub(crate) fn set(&self, mode: PaymentsMode) {
        *lock(&self.mode) = mode;
    }
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    pub(crate) fn created(&self) -> usize {
        lock(&self.payments).len()
    }
    /// The order's payment as the fake holds it now.
    pub(crate) fn payment(&self, order_id: Uuid) -> Option<Payment> {
        lock(&self.payments).get(&order_id).cloned()
    }
    /// The orders voids were asked for, in order.
    pub(crate) fn voided_orders(&self) -> Vec<Uuid> {
        lock(&self.voids).iter().map(|r| r.order_id).collect()
    }
}

#[async_trait::async_trait]
impl PaymentsClient for FakePayments {
    async fn authorize(&self, request: &PaymentRequest) -> Result<Payment, UpstreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        lock(&self.requests).push(request.clone());
        let mode = lock(&self.mode).clone();
        match mode {
            PaymentsMode::Down => Err(UpstreamError::Unavailable {
                service: "payments",
                detail: "answered 503".into(),
            }),
            PaymentsMode::Refuse(kind) => Err(UpstreamError::Refused {
                service: "payments",
                status: 409,
                kind,
                detail: "refused".into(),
            }),
            PaymentsMode::LostAnswer => {
                lock(&self.payments)
                    .entry(request.order_id)
                    .or_insert_with(|| Payment {
                        id: format!("pay-{}", request.order_id),
                        status: PaymentStatus::Authorized,
                        decline_reason: None,
                    });
                Err(UpstreamError::Unavailable {
                    service: "payments",
                    detail: "no answer in time".into(),
                })
            }
            mode => {
                let mut payments = lock(&self.payments);
                let payment = payments
                    .entry(request.order_id)
                    .or_insert_with(|| match mode {
                        PaymentsMode::Decline(reason) => Payment {
                            id: format!("pay-{}", request.order_id),
                            status: PaymentStatus::Declined,
                            decline_reason: Some(reason),
                        },
                        _ => Payment {
                            id: format!("pay-{}", request.order_id),
                            status: PaymentStatus::Authorized,
                            decline_reason: None,
                        },
                    });
                Ok(payment.clone())
            }
        }
    }

    async fn void(&self, request: &PaymentRequest) -> Result<Payment, UpstreamError> {
        lock(&self.voids).push(request.clone());
        if self.void_down.load(Ordering::SeqCst) {
            return Err(UpstreamError::Unavailable {
                service: "payments",
                detail: "connection refused".into(),
            });
        }
        match lock(&self.mode).clone() {
            PaymentsMode::Down => Err(UpstreamError::Unavailable {
                service: "payments",
                detail: "answered 503".into(),
            }),
            // Like the real one: the order's payment is voided unless declined; an order
            // without one gets a voided one, so a late authorisation finds it.
            _ => {
                let mut payments = lock(&self.payments);
                let payment = payments.entry(request.order_id).or_insert_with(|| Payment {
                    id: format!("pay-{}", request.order_id),
                    status: PaymentStatus::Voided,
                    decline_reason: None,
                });
                if payment.status == PaymentStatus::Authorized {
                    payment.status = PaymentStatus::Voided;
                }
                Ok(payment.clone())
            }
        }
    }
}
