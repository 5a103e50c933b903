//! The payments domain: validated payment requests, the decline rules, the payment's
//! lifecycle, and the [`Ledger`] that records payments idempotently by order, with a
//! PostgreSQL implementation ([`PgLedger`]) and an in-memory one ([`InMemoryLedger`]) that
//! keep the same rules:
//!
//! - one payment per order: recording again for the same order returns the recorded
//!   payment when the terms (customer, amount, currency) are the same, and reports a
//!   mismatch otherwise; concurrent requests for one order never record two payments;
//! - a payment is `AUTHORIZED` or `DECLINED` when recorded; only an `AUTHORIZED` one can be
//!   voided (`VOIDED`, with `voided_at`); voiding a `VOIDED` payment changes nothing, and a
//!   `DECLINED` one holds no money, so voiding it changes nothing either;
//! - voiding by order when the order has no payment yet records one as `VOIDED` (never
//!   authorised): an authorisation for that order arriving later (a request that was still
//!   in flight when its caller gave up) finds it and cannot authorise anything.

mod memory;
mod postgres;

use std::{collections::BTreeSet, fmt};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest accepted `customer_id`, in characters.
pub const MAX_CUSTOMER_ID_LEN: usize = 200;

pub use memory::InMemoryLedger;
pub use postgres::{MIGRATOR, PgLedger};
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

    /// An amount read back from the ledger, taken as it is (the table's CHECK keeps it
    /// positive).
    pub(crate) fn from_stored(cents: i64) -> Self {
        Self(cents)
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

    /// A code read back from the ledger, taken as it is.
    pub(crate) fn from_stored(code: String) -> Self {
        Self(code)
    }
}

/// A non-empty customer identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    /// Accepts a non-blank identifier of at most [`MAX_CUSTOMER_ID_LEN`] characters without
    /// control characters (PostgreSQL cannot store NUL in text).
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
        if id.chars().any(char::is_control) {
            return Err(Invalid::new(
                "customer_id",
                format!("{id:?} contains control characters"),
            ));
        }
        Ok(Self(id.to_owned()))
    }

    /// An identifier read back from the ledger, taken as it is.
    pub(crate) fn from_stored(id: String) -> Self {
        Self(id)
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

/// Where a payment is in its lifecycle: `AUTHORIZED` or `DECLINED` when recorded;
/// `VOIDED` once an authorisation is released (or when the order was voided before any
/// payment was recorded for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// The amount is held for the order.
    Authorized,
    /// Refused by a rule (`decline_reason` says which); nothing is held.
    Declined,
    /// Released: nothing is held, and nothing can be authorised for the order any more.
    Voided,
}

impl PaymentStatus {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "AUTHORIZED",
            Self::Declined => "DECLINED",
            Self::Voided => "VOIDED",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AUTHORIZED" => Some(Self::Authorized),
            "DECLINED" => Some(Self::Declined),
            "VOIDED" => Some(Self::Voided),
            _ => None,
        }
    }
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
    /// The wire and stored form, also the `reason` label of `payments_declined_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LimitExceeded => "limit_exceeded",
            Self::CustomerBlocked => "customer_blocked",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "limit_exceeded" => Some(Self::LimitExceeded),
            "customer_blocked" => Some(Self::CustomerBlocked),
            _ => None,
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
    /// When the payment was voided (set exactly when `status` is `VOIDED`).
    pub voided_at: Option<DateTime<Utc>>,
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
            created_at: now(),
            voided_at: None,
        }
    }

    /// The payment recorded when an order is voided before any payment was recorded for
    /// it: `VOIDED` at once, never authorised.
    pub fn voided_before_recorded(request: NewPayment) -> Self {
        let at = now();
        Self {
            id: Uuid::new_v4(),
            order_id: request.order_id,
            customer_id: request.customer_id,
            amount: request.amount,
            currency: request.currency,
            status: PaymentStatus::Voided,
            decline_reason: None,
            created_at: at,
            voided_at: Some(at),
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

/// The current time at the precision PostgreSQL keeps (microseconds), so a payment reads
/// back exactly as it was answered.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
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

/// What voiding did; each variant holds the payment as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voided {
    /// It was `AUTHORIZED`; it is `VOIDED` now.
    Voided(Payment),
    /// It was already `VOIDED`; nothing changed.
    AlreadyVoided(Payment),
    /// It is `DECLINED`: nothing is held, nothing changed.
    Declined(Payment),
    /// (Voiding by order only.) The order had no payment: this `VOIDED` one was recorded,
    /// so none can be authorised for the order later.
    Recorded(Payment),
}

impl Voided {
    /// The payment as it is now.
    pub fn payment(&self) -> &Payment {
        match self {
            Self::Voided(p) | Self::AlreadyVoided(p) | Self::Declined(p) | Self::Recorded(p) => p,
        }
    }

    /// The payment as it is now, taken out.
    pub fn into_payment(self) -> Payment {
        match self {
            Self::Voided(p) | Self::AlreadyVoided(p) | Self::Declined(p) | Self::Recorded(p) => p,
        }
    }

    /// The `outcome` label of `payments_voids_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Voided(_) => "voided",
            Self::AlreadyVoided(_) => "already_voided",
            Self::Declined(_) => "declined",
            Self::Recorded(_) => "recorded_voided",
        }
    }
}

/// The ledger could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The store cannot be reached now (connection refused, pool exhausted): worth
    /// retrying, answered 503.
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a row that breaks the domain's rules, a failed statement): a 500.
    #[error("ledger error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(e.to_string())
            }
            // 57014 query_canceled: the statement outlived DB_STATEMENT_TIMEOUT_MS (stuck on
            // a lock, say); worth retrying like an unreachable database.
            sqlx::Error::Database(ref db) if db.code().as_deref() == Some("57014") => {
                Self::Unavailable(e.to_string())
            }
            other => Self::Other(other.to_string()),
        }
    }
}

/// Where payments are kept. Implementations make each operation atomic per order:
/// concurrent calls for one order store at most one payment, and a void and an
/// authorisation of one order never both win.
#[async_trait::async_trait]
pub trait Ledger: Send + Sync {
    /// Stores `candidate` unless its order already has a payment.
    async fn record(&self, candidate: Payment) -> Result<Recorded, LedgerError>;
    /// The payment with this id.
    async fn get(&self, id: Uuid) -> Result<Option<Payment>, LedgerError>;
    /// Voids the payment with this id; `None` when there is no such payment.
    async fn void(&self, id: Uuid) -> Result<Option<Voided>, LedgerError>;
    /// Voids the payment of `request`'s order; when the order has none, records
    /// [`Payment::voided_before_recorded`] of `request` ([`Voided::Recorded`]).
    async fn void_order(&self, request: NewPayment) -> Result<Voided, LedgerError>;
    /// `Ok` when the ledger can serve requests (readiness).
    async fn ping(&self) -> Result<(), LedgerError>;
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
        for bad in ["a\0b", "tab\there", "line\n"] {
            let err = CustomerId::parse(bad).unwrap_err();
            assert_eq!(err.field, "customer_id", "{bad:?}");
            assert!(err.message.contains("control characters"), "{err:?}");
        }
    }

    #[test]
    fn statuses_and_reasons_round_trip_through_their_stored_form() {
        for status in [
            PaymentStatus::Authorized,
            PaymentStatus::Declined,
            PaymentStatus::Voided,
        ] {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::String(status.as_str().to_owned())
            );
        }
        assert_eq!(PaymentStatus::parse("voided"), None);
        for reason in [DeclineReason::LimitExceeded, DeclineReason::CustomerBlocked] {
            assert_eq!(DeclineReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(DeclineReason::parse("other"), None);
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

    #[tokio::test]
    async fn an_authorised_payment_is_voided_once() {
        let ledger = InMemoryLedger::new();
        let Recorded::Created(authorised) = ledger
            .record(Payment::decide(request("alice", 500), &rules()))
            .await
            .unwrap()
        else {
            panic!("first record must create");
        };
        let Some(Voided::Voided(voided)) = ledger.void(authorised.id).await.unwrap() else {
            panic!("an authorised payment is voided");
        };
        assert_eq!(voided.status, PaymentStatus::Voided);
        assert_eq!(voided.id, authorised.id);
        assert!(
            voided
                .voided_at
                .is_some_and(|at| at >= authorised.created_at)
        );
        assert_eq!(
            (voided.amount, &voided.customer_id, voided.created_at),
            (
                authorised.amount,
                &authorised.customer_id,
                authorised.created_at
            )
        );
        assert_eq!(
            ledger.void(authorised.id).await.unwrap(),
            Some(Voided::AlreadyVoided(voided.clone()))
        );
        assert_eq!(
            ledger.get(authorised.id).await.unwrap(),
            Some(voided.clone())
        );
        // By order: the same payment, already voided.
        let by_order = NewPayment::parse(authorised.order_id, "alice", 500, "EUR").unwrap();
        assert_eq!(
            ledger.void_order(by_order).await.unwrap(),
            Voided::AlreadyVoided(voided.clone())
        );
        // Authorising the order again answers the voided payment: nothing is authorised.
        let again = Payment::decide(
            NewPayment::parse(authorised.order_id, "alice", 500, "EUR").unwrap(),
            &rules(),
        );
        assert_eq!(
            ledger.record(again).await.unwrap(),
            Recorded::Existing(voided)
        );
        assert_eq!(ledger.void(Uuid::new_v4()).await.unwrap(), None);
        assert_eq!(ledger.len(), 1);
    }

    #[tokio::test]
    async fn a_declined_payment_is_left_as_it_is() {
        let ledger = InMemoryLedger::new();
        let declined = Payment::decide(request("mallory", 5), &rules());
        ledger.record(declined.clone()).await.unwrap();
        assert_eq!(
            ledger.void(declined.id).await.unwrap(),
            Some(Voided::Declined(declined.clone()))
        );
        let by_order = NewPayment::parse(declined.order_id, "mallory", 5, "EUR").unwrap();
        assert_eq!(
            ledger.void_order(by_order).await.unwrap(),
            Voided::Declined(declined.clone())
        );
        assert_eq!(ledger.get(declined.id).await.unwrap(), Some(declined));
    }

    #[tokio::test]
    async fn voiding_an_order_without_payment_records_it_voided() {
        let ledger = InMemoryLedger::new();
        let order = request("alice", 700);
        let Voided::Recorded(tombstone) = ledger.void_order(order.clone()).await.unwrap() else {
            panic!("an order without payment gets a voided one");
        };
        assert_eq!(tombstone.status, PaymentStatus::Voided);
        assert_eq!(tombstone.order_id, order.order_id);
        assert_eq!(tombstone.amount.get(), 700);
        assert_eq!(tombstone.decline_reason, None);
        assert_eq!(tombstone.voided_at, Some(tombstone.created_at));
        // The authorisation that arrives afterwards cannot authorise anything.
        let late = Payment::decide(order.clone(), &rules());
        assert_eq!(
            ledger.record(late.clone()).await.unwrap(),
            Recorded::Existing(tombstone.clone())
        );
        let mut other_amount = late;
        other_amount.amount = AmountCents::parse(701).unwrap();
        assert_eq!(
            ledger.record(other_amount).await.unwrap(),
            Recorded::Mismatch(tombstone.clone())
        );
        // Voiding the order again changes nothing.
        assert_eq!(
            ledger.void_order(order).await.unwrap(),
            Voided::AlreadyVoided(tombstone)
        );
        assert_eq!(ledger.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_void_and_an_authorisation_of_one_order_never_both_win() {
        for _ in 0..50 {
            let ledger = std::sync::Arc::new(InMemoryLedger::new());
            let order = request("alice", 300);
            let pay = {
                let (ledger, order) = (ledger.clone(), order.clone());
                tokio::spawn(async move {
                    ledger
                        .record(Payment::decide(order, &rules()))
                        .await
                        .unwrap()
                })
            };
            let void = {
                let (ledger, order) = (ledger.clone(), order.clone());
                tokio::spawn(async move { ledger.void_order(order).await.unwrap() })
            };
            let (paid, voided) = (pay.await.unwrap(), void.await.unwrap());
            assert_eq!(ledger.len(), 1);
            let stored = ledger.void_order(order).await.unwrap().into_payment();
            assert_eq!(
                stored.status,
                PaymentStatus::Voided,
                "{paid:?} / {voided:?}"
            );
        }
    }
}
