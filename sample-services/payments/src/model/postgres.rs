//! The PostgreSQL [`Ledger`]: one row per payment in `payments`, whose UNIQUE `order_id`
//! makes every operation on one order atomic without explicit locks:
//!
//! - recording is `INSERT ... ON CONFLICT (order_id) DO NOTHING`: a concurrent request for
//!   the same order waits on the unique index until the first one commits, then finds its
//!   row and replays it (or reports the mismatch);
//! - voiding is a conditional update, `UPDATE ... SET status = 'VOIDED' WHERE ... AND
//!   status = 'AUTHORIZED'`: of two concurrent voids one updates the row and the other finds
//!   it `VOIDED`;
//! - voiding by order first tries to insert the payment as `VOIDED` (the same
//!   `ON CONFLICT` claim as recording), so an authorisation racing with it either comes
//!   first (and is voided) or finds the voided payment.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, migrate::Migrator};
use uuid::Uuid;

use super::{
    AmountCents, Currency, CustomerId, DeclineReason, Ledger, LedgerError, NewPayment, Payment,
    PaymentStatus, Recorded, Voided,
};

/// The service's migrations (`sample-services/payments/migrations`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

const COLUMNS: &str = "id, order_id, customer_id, amount_cents, currency, status, \
                       decline_reason, created_at, voided_at";

/// Payments in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgLedger {
    pool: PgPool,
}

impl PgLedger {
    /// Uses a connected, migrated pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: Uuid,
    order_id: Uuid,
    customer_id: String,
    amount_cents: i64,
    currency: String,
    status: String,
    decline_reason: Option<String>,
    created_at: DateTime<Utc>,
    voided_at: Option<DateTime<Utc>>,
}

impl TryFrom<PaymentRow> for Payment {
    type Error = LedgerError;

    fn try_from(r: PaymentRow) -> Result<Self, LedgerError> {
        let broken = |what: String| LedgerError::Other(format!("payment {}: {what}", r.id));
        let status = PaymentStatus::parse(&r.status)
            .ok_or_else(|| broken(format!("unknown status {:?}", r.status)))?;
        let decline_reason = match r.decline_reason.as_deref() {
            None => None,
            Some(s) => Some(
                DeclineReason::parse(s)
                    .ok_or_else(|| broken(format!("unknown decline reason {s:?}")))?,
            ),
        };
        Ok(Self {
            id: r.id,
            order_id: r.order_id,
            customer_id: CustomerId::from_stored(r.customer_id),
            amount: AmountCents::from_stored(r.amount_cents),
            currency: Currency::from_stored(r.currency),
            status,
            decline_reason,
            created_at: r.created_at,
            voided_at: r.voided_at,
        })
    }
}

fn payment(row: Option<PaymentRow>) -> Result<Option<Payment>, LedgerError> {
    row.map(Payment::try_from).transpose()
}

impl PgLedger {
    /// Inserts `payment` unless its order already has one; whether it was inserted.
    async fn insert(&self, payment: &Payment) -> Result<bool, LedgerError> {
        let inserted = sqlx::query(
            "INSERT INTO payments (id, order_id, customer_id, amount_cents, currency, status, \
             decline_reason, created_at, voided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(payment.id)
        .bind(payment.order_id)
        .bind(payment.customer_id.as_str())
        .bind(payment.amount.get())
        .bind(payment.currency.as_str())
        .bind(payment.status.as_str())
        .bind(payment.decline_reason.map(DeclineReason::as_str))
        .bind(payment.created_at)
        .bind(payment.voided_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn by_order(&self, order_id: Uuid) -> Result<Payment, LedgerError> {
        let row: Option<PaymentRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM payments WHERE order_id = $1"
        ))
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        payment(row)?.ok_or_else(|| {
            LedgerError::Other(format!(
                "order {order_id} conflicts with a payment that cannot be read"
            ))
        })
    }

    /// The outcome for a payment the conditional void did not update: it was not
    /// `AUTHORIZED` when the update ran.
    fn left_as_it_is(found: Payment) -> Result<Voided, LedgerError> {
        match found.status {
            PaymentStatus::Voided => Ok(Voided::AlreadyVoided(found)),
            PaymentStatus::Declined => Ok(Voided::Declined(found)),
            PaymentStatus::Authorized => Err(LedgerError::Other(format!(
                "payment {} is AUTHORIZED but was not voided",
                found.id
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Ledger for PgLedger {
    async fn record(&self, candidate: Payment) -> Result<Recorded, LedgerError> {
        if self.insert(&candidate).await? {
            return Ok(Recorded::Created(candidate));
        }
        let existing = self.by_order(candidate.order_id).await?;
        Ok(if existing.same_terms(&candidate) {
            Recorded::Existing(existing)
        } else {
            Recorded::Mismatch(existing)
        })
    }

    async fn get(&self, id: Uuid) -> Result<Option<Payment>, LedgerError> {
        let row: Option<PaymentRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        payment(row)
    }

    async fn void(&self, id: Uuid) -> Result<Option<Voided>, LedgerError> {
        let row: Option<PaymentRow> = sqlx::query_as(&format!(
            "UPDATE payments SET status = 'VOIDED', voided_at = now() \
             WHERE id = $1 AND status = 'AUTHORIZED' RETURNING {COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(voided) = payment(row)? {
            return Ok(Some(Voided::Voided(voided)));
        }
        match self.get(id).await? {
            None => Ok(None),
            Some(found) => Self::left_as_it_is(found).map(Some),
        }
    }

    async fn void_order(&self, request: NewPayment) -> Result<Voided, LedgerError> {
        let order_id = request.order_id;
        let tombstone = Payment::voided_before_recorded(request);
        if self.insert(&tombstone).await? {
            return Ok(Voided::Recorded(tombstone));
        }
        let row: Option<PaymentRow> = sqlx::query_as(&format!(
            "UPDATE payments SET status = 'VOIDED', voided_at = now() \
             WHERE order_id = $1 AND status = 'AUTHORIZED' RETURNING {COLUMNS}"
        ))
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(voided) = payment(row)? {
            return Ok(Voided::Voided(voided));
        }
        Self::left_as_it_is(self.by_order(order_id).await?)
    }

    async fn ping(&self) -> Result<(), LedgerError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| LedgerError::Unavailable(e.to_string()))
    }
}
