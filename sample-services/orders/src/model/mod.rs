//! The domain: orders, their items and statuses, the rules a new order must satisfy, and
//! the [`OrderRepository`] that stores them (PostgreSQL in production, in memory in tests).

mod memory;
mod postgres;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

pub use memory::InMemoryOrderRepository;
pub use postgres::{MIGRATOR, PgOrderRepository};

/// Most items an order may have.
pub const MAX_ITEMS: usize = 50;
/// Largest quantity of one item.
pub const MAX_QUANTITY: i64 = 1000;
/// Longest customer id, sku or idempotency key accepted.
pub const MAX_ID_LEN: usize = 200;

/// The current time at the precision PostgreSQL stores (microseconds), so a value
/// written and read back compares equal.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// One line of an order (the same type `order.confirmed` carries).
pub use sample_events::Item;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Accepted and queued; not yet reserved and paid.
    Pending,
    /// Stock reserved and payment authorised.
    Confirmed,
    /// Could not be fulfilled; `reason` says why.
    Rejected,
    /// Given up on after it was accepted (payments stayed unavailable until the order's
    /// payment deadline): any authorisation voided and the stock released; `reason` says
    /// why.
    Cancelled,
}

impl OrderStatus {
    /// The stored and serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Confirmed => "CONFIRMED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "CONFIRMED" => Some(Self::Confirmed),
            "REJECTED" => Some(Self::Rejected),
            "CANCELLED" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Whether the order will not change status again.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored order.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: Uuid,
    pub customer_id: String,
    pub items: Vec<Item>,
    pub status: OrderStatus,
    pub reason: Option<String>,
    pub total_cents: Option<i64>,
    pub reservation_id: Option<String>,
    pub payment_id: Option<String>,
    /// The id of the `order.confirmed` event, fixed when the order is confirmed so a
    /// re-publication after a crash carries the same id.
    pub event_id: Option<Uuid>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// When `order.confirmed` was confirmed by the broker.
    pub event_published_at: Option<DateTime<Utc>>,
    /// Set on a `PENDING` order once its cancellation is decided (the code of a
    /// [`CancelReason`]): from then on the order can only become `CANCELLED` (its payment
    /// voided, its stock released), never `CONFIRMED` or `REJECTED`.
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// A fresh `PENDING` order.
    pub fn pending(new: NewOrder, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            customer_id: new.customer_id,
            items: new.items,
            status: OrderStatus::Pending,
            reason: None,
            total_cents: None,
            reservation_id: None,
            payment_id: None,
            event_id: None,
            confirmed_at: None,
            event_published_at: None,
            cancel_reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Final, and confirmed with its event out: nothing left to do.
    pub fn is_settled(&self) -> bool {
        match self.status {
            OrderStatus::Pending => false,
            OrderStatus::Confirmed => self.event_published_at.is_some(),
            OrderStatus::Rejected | OrderStatus::Cancelled => true,
        }
    }

    /// Whether the order's cancellation is decided (it is `PENDING` until carried out).
    pub fn is_cancelling(&self) -> bool {
        self.status == OrderStatus::Pending && self.cancel_reason.is_some()
    }
}

pub use service_kit::Invalid;

/// An order request that passed validation: 1-50 items, quantities 1-1000, non-empty ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewOrder {
    pub customer_id: String,
    pub items: Vec<Item>,
}

impl NewOrder {
    /// Checks the rules; the error names the first offending field (`items[1].quantity`).
    pub fn parse(customer_id: &str, items: &[(String, i64)]) -> Result<Self, Invalid> {
        let customer_id = customer_id.trim();
        if customer_id.is_empty() {
            return Err(Invalid::new("customer_id", "must not be empty"));
        }
        if customer_id.chars().any(char::is_control) {
            return Err(Invalid::new(
                "customer_id",
                "must not contain control characters",
            ));
        }
        if customer_id.chars().count() > MAX_ID_LEN {
            return Err(Invalid::new(
                "customer_id",
                format!("must be at most {MAX_ID_LEN} characters"),
            ));
        }
        if items.is_empty() {
            return Err(Invalid::new("items", "must have at least 1 item"));
        }
        if items.len() > MAX_ITEMS {
            return Err(Invalid::new(
                "items",
                format!("must have at most {MAX_ITEMS} items, got {}", items.len()),
            ));
        }
        let mut parsed = Vec::with_capacity(items.len());
        for (i, (sku, quantity)) in items.iter().enumerate() {
            let sku = sku.trim();
            if sku.is_empty() {
                return Err(Invalid::new(format!("items[{i}].sku"), "must not be empty"));
            }
            if sku.chars().any(char::is_control) {
                return Err(Invalid::new(
                    format!("items[{i}].sku"),
                    "must not contain control characters",
                ));
            }
            if sku.chars().count() > MAX_ID_LEN {
                return Err(Invalid::new(
                    format!("items[{i}].sku"),
                    format!("must be at most {MAX_ID_LEN} characters"),
                ));
            }
            let quantity = match u32::try_from(*quantity) {
                Ok(q) if (1..=MAX_QUANTITY).contains(&i64::from(q)) => q,
                _ => {
                    return Err(Invalid::new(
                        format!("items[{i}].quantity"),
                        format!("must be between 1 and {MAX_QUANTITY}, got {quantity}"),
                    ));
                }
            };
            parsed.push(Item {
                sku: sku.to_owned(),
                quantity,
            });
        }
        Ok(Self {
            customer_id: customer_id.to_owned(),
            items: parsed,
        })
    }

    /// The canonical form stored with an idempotency key to recognise a repeated request.
    pub fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({ "customer_id": self.customer_id, "items": self.items })
    }
}

/// How long an idempotency key stands for its order when `IDEMPOTENCY_KEY_TTL_SECS` is not
/// set: 24 hours.
pub const DEFAULT_IDEMPOTENCY_KEY_TTL: std::time::Duration =
    std::time::Duration::from_secs(24 * 60 * 60);

/// The value of an `Idempotency-Key` header: 1-200 visible characters. Keys are the
/// customer's own: two customers' equal keys are two keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates a header value.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(Invalid::new("Idempotency-Key", "must not be empty"));
        }
        if key.len() > MAX_ID_LEN {
            return Err(Invalid::new(
                "Idempotency-Key",
                format!("must be at most {MAX_ID_LEN} characters"),
            ));
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An idempotency key as an order is stored under it: the key of the order's customer
/// (keys are unique per customer, never across customers), standing for the order until
/// `expires_at`. Afterwards the key is free: the next request with it is a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: IdempotencyKey,
    pub expires_at: DateTime<Utc>,
}

/// Why an order was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// Inventory answered 409: not enough stock.
    OutOfStock,
    /// Inventory does not know one of the skus.
    UnknownSku,
    /// Payments declined; carries its decline reason.
    PaymentDeclined(String),
    /// Payments refused the request itself (e.g. `payment_mismatch`).
    PaymentRefused(String),
    /// Inventory refused the reservation for another reason, or it is no longer active.
    ReservationRefused(String),
    /// Payments was unavailable: only with the planted defect `outage-rejects`
    /// (`service_kit::defects`); an outage otherwise leaves the order waiting.
    PaymentUnavailable,
}

impl RejectReason {
    /// A short code without details, used as a metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OutOfStock => "out_of_stock",
            Self::UnknownSku => "unknown_sku",
            Self::PaymentDeclined(_) => "payment_declined",
            Self::PaymentRefused(_) => "payment_refused",
            Self::ReservationRefused(_) => "reservation_refused",
            Self::PaymentUnavailable => "payment_unavailable",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PaymentDeclined(why) => write!(f, "payment_declined: {why}"),
            Self::PaymentRefused(why) => write!(f, "payment_refused: {why}"),
            Self::ReservationRefused(why) => write!(f, "reservation_refused: {why}"),
            other => f.write_str(other.code()),
        }
    }
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Payments stayed unavailable (retries spent, its circuit open, or no answer in time,
    /// so the outcome is unknown) until the order's payment deadline passed.
    PaymentUnavailable,
}

impl CancelReason {
    /// The stored form, also the metric label.
    pub fn code(self) -> &'static str {
        match self {
            Self::PaymentUnavailable => "payment_unavailable",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "payment_unavailable" => Some(Self::PaymentUnavailable),
            _ => None,
        }
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The facts stored when an order is confirmed.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub total_cents: i64,
    pub reservation_id: String,
    pub payment_id: String,
    pub event_id: Uuid,
    pub at: DateTime<Utc>,
}

/// The facts stored when an order is rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: String,
    pub total_cents: Option<i64>,
    pub reservation_id: Option<String>,
    pub payment_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// The facts stored when the cancellation of a `PENDING` order is decided: why, and what
/// it holds (the reservation to release; the total, which is the amount of any payment
/// asked for, to void).
#[derive(Debug, Clone, PartialEq)]
pub struct Cancelling {
    pub reason: CancelReason,
    pub total_cents: i64,
    pub reservation_id: String,
    pub at: DateTime<Utc>,
}

/// The facts stored when a cancellation has been carried out.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation {
    /// The order's payment as payments answered the void (voided, or declined), if any.
    pub payment_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// What inserting an order did.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// The order is new.
    New(Order),
    /// The customer's idempotency key was already used and has not expired: the order
    /// stored under it (always the same customer's) and the fingerprint of the request
    /// that created it.
    Existing {
        order: Order,
        request: serde_json::Value,
    },
}

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RepoError {
    #[error("order {0} not found")]
    NotFound(Uuid),
    #[error("database error: {0}")]
    Database(String),
}

impl From<RepoError> for service_kit::Problem {
    /// A storage failure is the service's problem, not the client's: 503, logged.
    fn from(e: RepoError) -> Self {
        tracing::error!(error = %e, "order store failed");
        service_kit::Problem::unavailable("the order store is not available; try again")
    }
}

impl From<sqlx::Error> for RepoError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// Where orders live.
#[async_trait::async_trait]
pub trait OrderRepository: Send + Sync {
    /// Stores a `PENDING` order, under the idempotency key of its customer when there is
    /// one. With a key the customer already used and that has not expired (at
    /// `order.created_at`), stores nothing and returns the order created under it (relying
    /// on the key's uniqueness per customer, so concurrent requests with one key create one
    /// order). An expired key is taken over by the new order. Another customer's key of the
    /// same value is never seen.
    async fn insert(
        &self,
        order: &Order,
        key: Option<&IdempotencyClaim>,
        request: &serde_json::Value,
    ) -> Result<Inserted, RepoError>;

    async fn get(&self, id: Uuid) -> Result<Option<Order>, RepoError>;

    /// A customer's orders, newest first.
    async fn list_by_customer(&self, customer_id: &str) -> Result<Vec<Order>, RepoError>;

    /// Moves a `PENDING` order to `CONFIRMED`; an order already final, or whose
    /// cancellation is decided, is left as it is. Returns the order as stored afterwards.
    async fn confirm(&self, id: Uuid, confirmation: &Confirmation) -> Result<Order, RepoError>;

    /// Moves a `PENDING` order to `REJECTED`; an order already final, or whose cancellation
    /// is decided, is left as it is. Returns the order as stored afterwards.
    async fn reject(&self, id: Uuid, rejection: &Rejection) -> Result<Order, RepoError>;

    /// Decides the cancellation of a `PENDING` order: records its reason, reservation and
    /// total, after which it can no longer be confirmed or rejected. An order already final,
    /// or already cancelling, is left as it is. Returns the order as stored afterwards.
    async fn begin_cancel(&self, id: Uuid, cancelling: &Cancelling) -> Result<Order, RepoError>;

    /// Moves a cancelling order (see [`OrderRepository::begin_cancel`]) to `CANCELLED`,
    /// its reason the decided one; any other order is left as it is. Returns the order as
    /// stored afterwards.
    async fn cancel(&self, id: Uuid, cancellation: &Cancellation) -> Result<Order, RepoError>;

    /// Records that the broker confirmed the order's `order.confirmed` event.
    async fn mark_event_published(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), RepoError>;

    /// Orders that may have lost their intake message: `PENDING`, or `CONFIRMED` without a
    /// published event, whose message was last seen before `cutoff` (or, never seen, that
    /// were created before it) and was not dead-lettered. Oldest first.
    async fn unsettled(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<Vec<Uuid>, RepoError>;

    /// Records that the orders' intake messages were seen alive at `at` (put on the intake
    /// or retry queue, or taken by the worker); clears a dead-letter mark.
    async fn mark_enqueued(&self, ids: &[Uuid], at: DateTime<Utc>) -> Result<(), RepoError>;

    /// Records that the order's intake message was dead-lettered: the sweeper leaves the
    /// order alone until the message is taken again. An unknown order is no error.
    async fn mark_intake_dead(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(list: &[(&str, i64)]) -> Vec<(String, i64)> {
        list.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect()
    }

    #[test]
    fn accepts_a_valid_order_and_trims_ids() {
        let o = NewOrder::parse(" c-1 ", &items(&[("KB-001", 2), ("MS-002", 1000)])).unwrap();
        assert_eq!(o.customer_id, "c-1");
        assert_eq!(
            o.items[1],
            Item {
                sku: "MS-002".into(),
                quantity: 1000
            }
        );
    }

    #[test]
    fn each_rule_names_its_field() {
        type Case = (&'static str, Vec<(String, i64)>, &'static str);
        let cases: Vec<Case> = vec![
            ("", items(&[("A", 1)]), "customer_id"),
            ("   ", items(&[("A", 1)]), "customer_id"),
            ("c", vec![], "items"),
            ("c", items(&[("A", 1); 51]), "items"),
            ("c", items(&[("A", 1), ("", 1)]), "items[1].sku"),
            ("c", items(&[("A", 0)]), "items[0].quantity"),
            ("c", items(&[("A", 1), ("B", 1001)]), "items[1].quantity"),
            ("c", items(&[("A", -3)]), "items[0].quantity"),
            ("c", items(&[("A", i64::MAX)]), "items[0].quantity"),
            // PostgreSQL cannot store NUL: found by `harness contract openapi` as a 503.
            ("c\0", items(&[("A", 1)]), "customer_id"),
            ("c", items(&[("A", 1), ("B\u{1b}", 1)]), "items[1].sku"),
        ];
        for (customer, items, field) in cases {
            let err = NewOrder::parse(customer, &items).unwrap_err();
            assert_eq!(err.field, field, "{customer:?} {items:?}: {err}");
        }
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            NewOrder::parse(&long, &items(&[("A", 1)]))
                .unwrap_err()
                .field,
            "customer_id"
        );
        assert!(NewOrder::parse("c", &items(&[("A", 1); 50])).is_ok());
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert_eq!(IdempotencyKey::parse("  k1 ").unwrap().as_str(), "k1");
        assert_eq!(
            IdempotencyKey::parse(" ").unwrap_err().field,
            "Idempotency-Key"
        );
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_ID_LEN + 1)).is_err());
    }

    #[test]
    fn reasons_render_as_stored() {
        assert_eq!(RejectReason::OutOfStock.to_string(), "out_of_stock");
        assert_eq!(
            CancelReason::PaymentUnavailable.to_string(),
            "payment_unavailable"
        );
        assert_eq!(
            CancelReason::parse("payment_unavailable"),
            Some(CancelReason::PaymentUnavailable)
        );
        assert_eq!(CancelReason::parse("PAYMENT_UNAVAILABLE"), None);
        let declined = RejectReason::PaymentDeclined("limit_exceeded".into());
        assert_eq!(declined.to_string(), "payment_declined: limit_exceeded");
        assert_eq!(declined.code(), "payment_declined");
    }

    #[test]
    fn statuses_round_trip_and_settlement() {
        for s in [
            OrderStatus::Pending,
            OrderStatus::Confirmed,
            OrderStatus::Rejected,
            OrderStatus::Cancelled,
        ] {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(s.is_final(), s != OrderStatus::Pending);
        }
        assert_eq!(OrderStatus::parse("pending"), None);
        let new = NewOrder::parse("c", &items(&[("A", 1)])).unwrap();
        let mut o = Order::pending(new, Utc::now());
        assert!(!o.is_settled());
        o.status = OrderStatus::Confirmed;
        assert!(!o.is_settled());
        o.event_published_at = Some(Utc::now());
        assert!(o.is_settled());
        o.status = OrderStatus::Rejected;
        assert!(o.is_settled());
        o.status = OrderStatus::Cancelled;
        assert!(o.is_settled());
        o.status = OrderStatus::Pending;
        assert!(!o.is_cancelling());
        o.cancel_reason = Some(CancelReason::PaymentUnavailable.code().to_owned());
        assert!(o.is_cancelling());
        assert!(!o.is_settled());
    }
}
