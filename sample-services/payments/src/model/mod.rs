//! The payments domain: validated payment requests, the decline rules, and the ledger that
//! records payments idempotently by order.
//!
//! The ledger is **in memory** ([`InMemoryLedger`]): restarting the service forgets every
//! payment. That is enough for a sample; the [`Ledger`] trait is the seam where a durable
//! store would go.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    sync::Mutex,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest accepted `customer_id`, in characters.
pub const MAX_CUSTOMER_ID_LEN: usize = 200;

pub use service_kit::Invalid;

/// A positive amount of money in the currency's minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmountCents(i64);

impl AmountCents {
    /// Accepts amounts greater than zero.
    pub fn parse(cents: i64) -> Result<Self, Invalid> {
        if cents > 0 {
            Ok(Self(cents))
        } else {
            Err(Invalid::new(
                "amount_cents",
                format!("must be greater than 0, got {cents}"),
            ))
        }
    }

    /// The amount in cents.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// An ISO 4217-shaped currency code: exactly three uppercase ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    /// Accepts `EUR`, rejects `eur`, `EURO`, `E1R`.
    pub fn parse(code: &str) -> Result<Self, Invalid> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code.to_owned()))
        } else {
            Err(Invalid::new(
                "currency",
                format!("must be three uppercase letters such as EUR, got {code:?}"),
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A non-empty customer identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    /// Accepts a non-blank identifier of at most [`MAX_CUSTOMER_ID_LEN`] characters.
    pub fn parse(id: &str) -> Result<Self, Invalid> {
        if id.trim().is_empty() {
            return Err(Invalid::new("customer_id", "must not be empty"));
        }
        if id.chars().count() > MAX_CUSTOMER_ID_LEN {
            return Err(Invalid::new(
                "customer_id",
                format!("must be at most {MAX_CUSTOMER_ID_LEN} characters"),
            ));
        }
        Ok(Self(id.to_owned()))
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated request to authorise a payment for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub order_id: Uuid,
    pub customer_id: CustomerId,
    pub amount: AmountCents,
    pub currency: Currency,
}

impl NewPayment {
    /// Validates the raw fields; the first broken rule is reported, in field order.
    pub fn parse(
        order_id: Uuid,
        customer_id: &str,
        amount_cents: i64,
        currency: &str,
    ) -> Result<Self, Invalid> {
        if order_id.is_nil() {
            return Err(Invalid::new("order_id", "must not be the nil UUID"));
        }
        Ok(Self {
            order_id,
            customer_id: CustomerId::parse(customer_id)?,
            amount: AmountCents::parse(amount_cents)?,
            currency: Currency::parse(currency)?,
        })
    }
}

/// The outcome of an authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Authorized,
    Declined,
}

/// Why a payment was declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// The amount is above `PAYMENTS_LIMIT_CENTS`.
    LimitExceeded,
    /// The customer is listed in `PAYMENTS_BLOCKED_CUSTOMERS`.
    CustomerBlocked,
}

impl DeclineReason {
    /// The wire form, also the `reason` label of `payments_declined_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LimitExceeded => "limit_exceeded",
            Self::CustomerBlocked => "customer_blocked",
        }
    }
}

impl fmt::Display for DeclineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decline rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Amounts strictly above this are declined with `limit_exceeded`.
    pub limit_cents: i64,
    /// These customers are declined with `customer_blocked`.
    pub blocked_customers: BTreeSet<String>,
}

impl Rules {
    /// Decides a payment. A blocked customer is reported before an exceeded limit: when
    /// both apply, `customer_blocked` is the more useful reason.
    pub fn decide(&self, payment: &NewPayment) -> Result<(), DeclineReason> {
        if self
            .blocked_customers
            .contains(payment.customer_id.as_str())
        {
            return Err(DeclineReason::CustomerBlocked);
        }
        if payment.amount.get() > self.limit_cents {
            return Err(DeclineReason::LimitExceeded);
        }
        Ok(())
    }
}

/// A recorded payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub customer_id: CustomerId,
    pub amount: AmountCents,
    pub currency: Currency,
    pub status: PaymentStatus,
    pub decline_reason: Option<DeclineReason>,
    pub created_at: DateTime<Utc>,
}

impl Payment {
    /// Applies the rules to a request: a new payment, authorised or declined.
    pub fn decide(request: NewPayment, rules: &Rules) -> Self {
        let (status, decline_reason) = match rules.decide(&request) {
            Ok(()) => (PaymentStatus::Authorized, None),
            Err(reason) => (PaymentStatus::Declined, Some(reason)),
        };
        Self {
            id: Uuid::new_v4(),
            order_id: request.order_id,
            customer_id: request.customer_id,
            amount: request.amount,
            currency: request.currency,
            status,
            decline_reason,
            created_at: Utc::now(),
        }
    }

    /// Whether `other` asks for the same payment (same customer, amount and currency), so
    /// that replaying it returns this one instead of a `payment_mismatch`.
    pub fn same_terms(&self, other: &Payment) -> bool {
        self.customer_id == other.customer_id
            && self.amount == other.amount
            && self.currency == other.currency
    }

    /// Describes how `other` differs from this payment (for the 409 detail).
    pub fn differences(&self, other: &Payment) -> String {
        let mut parts = Vec::new();
        if self.amount != other.amount {
            parts.push(format!(
                "amount_cents {} (recorded) vs {} (requested)",
                self.amount.get(),
                other.amount.get()
            ));
        }
        if self.currency != other.currency {
            parts.push(format!(
                "currency {} (recorded) vs {} (requested)",
                self.currency.as_str(),
                other.currency.as_str()
            ));
        }
        if self.customer_id != other.customer_id {
            parts.push(format!(
                "customer_id {:?} (recorded) vs {:?} (requested)",
                self.customer_id.as_str(),
                other.customer_id.as_str()
            ));
        }
        parts.join("; ")
    }
}

/// What recording a payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// No payment existed for the order; this one was stored.
    Created(Payment),
    /// The order already had a payment with the same terms; that one is returned.
    Existing(Payment),
    /// The order already had a payment with different terms (returned); nothing stored.
    Mismatch(Payment),
}

/// The ledger could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger unavailable: {0}")]
pub struct LedgerError(pub String);

/// Where payments are kept. Implementations must make [`Ledger::record`] atomic per
/// order: concurrent calls for one order store at most one payment.
#[async_trait::async_trait]
pub trait Ledger: Send + Sync {
    /// Stores `candidate` unless its order already has a payment.
    async fn record(&self, candidate: Payment) -> Result<Recorded, LedgerError>;
    /// The payment with this id.
    async fn get(&self, id: Uuid) -> Result<Option<Payment>, LedgerError>;
    /// `Ok` when the ledger can serve requests (readiness).
    async fn ping(&self) -> Result<(), LedgerError>;
}

#[derive(Debug, Default)]
struct Entries {
    by_id: HashMap<Uuid, Payment>,
    by_order: HashMap<Uuid, Uuid>,
}

/// The in-memory ledger: two maps behind one mutex, so the look-up by order and the insert
/// happen in one critical section. Forgotten on restart.
#[derive(Debug, Default)]
pub struct InMemoryLedger {
    entries: Mutex<Entries>,
}

impl InMemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many payments are stored.
    pub fn len(&self) -> usize {
        self.lock().map(|e| e.by_id.len()).unwrap_or(0)
    }

    /// Whether no payment is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Entries>, LedgerError> {
        // A poisoned lock means a panic inside a critical section; each section writes both
        // maps only after every check, so the data is never half-updated, but report it
        // rather than guess.
        self.entries
            .lock()
            .map_err(|_| LedgerError("ledger lock poisoned by an earlier panic".to_owned()))
    }
}

#[async_trait::async_trait]
impl Ledger for InMemoryLedger {
    async fn record(&self, candidate: Payment) -> Result<Recorded, LedgerError> {
        let mut entries = self.lock()?;
        if let Some(existing_id) = entries.by_order.get(&candidate.order_id) {
            let existing = entries
                .by_id
                .get(existing_id)
                .cloned()
                .ok_or_else(|| LedgerError("order index points at a missing payment".into()))?;
            return Ok(if existing.same_terms(&candidate) {
                Recorded::Existing(existing)
            } else {
                Recorded::Mismatch(existing)
            });
        }
        entries.by_order.insert(candidate.order_id, candidate.id);
        entries.by_id.insert(candidate.id, candidate.clone());
        Ok(Recorded::Created(candidate))
    }

    async fn get(&self, id: Uuid) -> Result<Option<Payment>, LedgerError> {
        Ok(self.lock()?.by_id.get(&id).cloned())
    }

    async fn ping(&self) -> Result<(), LedgerError> {
        self.lock().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            limit_cents: 1_000,
            blocked_customers: ["mallory".to_owned()].into_iter().collect(),
        }
    }

    fn request(customer: &str, cents: i64) -> NewPayment {
        NewPayment::parse(Uuid::new_v4(), customer, cents, "EUR").unwrap()
    }

    #[test]
    fn amount_must_be_positive() {
        assert_eq!(AmountCents::parse(1).unwrap().get(), 1);
        for bad in [0, -1, i64::MIN] {
            assert_eq!(AmountCents::parse(bad).unwrap_err().field, "amount_cents");
        }
    }

    #[test]
    fn currency_is_three_uppercase_ascii_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["eur", "EU", "EURO", "E1R", "", "ÉUR", "EU "] {
            assert_eq!(
                Currency::parse(bad).unwrap_err().field,
                "currency",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn customer_id_must_not_be_blank_or_huge() {
        assert!(CustomerId::parse("c-1").is_ok());
        assert_eq!(CustomerId::parse("  ").unwrap_err().field, "customer_id");
        let long = "x".repeat(MAX_CUSTOMER_ID_LEN + 1);
        assert_eq!(CustomerId::parse(&long).unwrap_err().field, "customer_id");
    }

    #[test]
    fn nil_order_id_is_rejected() {
        let err = NewPayment::parse(Uuid::nil(), "c", 1, "EUR").unwrap_err();
        assert_eq!(err.field, "order_id");
    }

    #[test]
    fn amounts_up_to_the_limit_are_authorised() {
        let p = Payment::decide(request("alice", 1_000), &rules());
        assert_eq!(p.status, PaymentStatus::Authorized);
        assert_eq!(p.decline_reason, None);
    }

    #[test]
    fn amounts_above_the_limit_are_declined() {
        let p = Payment::decide(request("alice", 1_001), &rules());
        assert_eq!(p.status, PaymentStatus::Declined);
        assert_eq!(p.decline_reason, Some(DeclineReason::LimitExceeded));
    }

    #[test]
    fn blocked_customers_are_declined_even_for_small_amounts() {
        let p = Payment::decide(request("mallory", 1), &rules());
        assert_eq!(p.status, PaymentStatus::Declined);
        assert_eq!(p.decline_reason, Some(DeclineReason::CustomerBlocked));
        // Both rules broken: the blocked customer is the reason given.
        let p = Payment::decide(request("mallory", 5_000), &rules());
        assert_eq!(p.decline_reason, Some(DeclineReason::CustomerBlocked));
    }

    #[tokio::test]
    async fn ledger_is_idempotent_by_order() {
        let ledger = InMemoryLedger::new();
        let first = Payment::decide(request("alice", 500), &rules());
        let Recorded::Created(created) = ledger.record(first.clone()).await.unwrap() else {
            panic!("first record must create");
        };
        let mut again = Payment::decide(
            NewPayment::parse(first.order_id, "alice", 500, "EUR").unwrap(),
            &rules(),
        );
        assert_ne!(again.id, created.id);
        assert_eq!(
            ledger.record(again.clone()).await.unwrap(),
            Recorded::Existing(created.clone())
        );
        again.amount = AmountCents::parse(501).unwrap();
        assert_eq!(
            ledger.record(again.clone()).await.unwrap(),
            Recorded::Mismatch(created.clone())
        );
        assert!(created.differences(&again).contains("amount_cents 500"));
        assert_eq!(ledger.len(), 1);
        assert_eq!(ledger.get(created.id).await.unwrap(), Some(created));
        assert_eq!(ledger.get(again.id).await.unwrap(), None);
    }
}
