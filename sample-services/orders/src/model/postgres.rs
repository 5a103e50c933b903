//! The PostgreSQL [`OrderRepository`]: one `orders` row per order, items as JSONB, with the
//! fingerprint of the request that created it; idempotency keys in `idempotency_keys`,
//! unique per (customer, key), each with the order it stands for and its expiry.

use chrono::{DateTime, Utc};
use service_kit::defects::{self, Defect};
use sqlx::{PgPool, types::Json};
use uuid::Uuid;

use super::{
    Cancellation, Cancelling, Confirmation, IdempotencyClaim, Inserted, Item, Order,
    OrderRepository, OrderStatus, Rejection, RepoError,
};

/// The service's migrations (`migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

const COLUMNS: &str = "id, customer_id, items, status, reason, total_cents, reservation_id, \
    payment_id, event_id, confirmed_at, event_published_at, cancel_reason, created_at, updated_at, \
    request";

/// [`COLUMNS`] of the orders table aliased `o` (a query that joins it).
fn order_columns() -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Orders in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgOrderRepository {
    pool: PgPool,
}

impl PgOrderRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    customer_id: String,
    items: Json<Vec<Item>>,
    status: String,
    reason: Option<String>,
    total_cents: Option<i64>,
    reservation_id: Option<String>,
    payment_id: Option<String>,
    event_id: Option<Uuid>,
    confirmed_at: Option<DateTime<Utc>>,
    event_published_at: Option<DateTime<Utc>>,
    cancel_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    request: Json<serde_json::Value>,
}

impl OrderRow {
    fn into_parts(self) -> Result<(Order, serde_json::Value), RepoError> {
        let status = OrderStatus::parse(&self.status).ok_or_else(|| {
            RepoError::Database(format!(
                "order {} has unknown status {:?}",
                self.id, self.status
            ))
        })?;
        Ok((
            Order {
                id: self.id,
                customer_id: self.customer_id,
                items: self.items.0,
                status,
                reason: self.reason,
                total_cents: self.total_cents,
                reservation_id: self.reservation_id,
                payment_id: self.payment_id,
                event_id: self.event_id,
                confirmed_at: self.confirmed_at,
                event_published_at: self.event_published_at,
                cancel_reason: self.cancel_reason,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
            self.request.0,
        ))
    }

    fn into_order(self) -> Result<Order, RepoError> {
        self.into_parts().map(|(o, _)| o)
    }
}

impl PgOrderRepository {
    /// One attempt at [`OrderRepository::insert`], in one transaction: the order, then its
    /// key. The key's insert claims it when it is new or expired (`ON CONFLICT ... DO UPDATE
    /// ... WHERE expired`); when another order holds it and it has not expired, nothing is
    /// stored and that order is read. `ON CONFLICT` waits for a concurrent claim of the same
    /// key to commit, so exactly one request creates the order. `None`: the key's order
    /// vanished meanwhile.
    async fn try_insert(
        &self,
        order: &Order,
        key: Option<&IdempotencyClaim>,
        request: &serde_json::Value,
    ) -> Result<Option<Inserted>, RepoError> {
        if let Some(claim) = key
            && defects::is_on(Defect::GlobalIdempotency)
        {
            // Planted defect `global-idempotency`: the key is looked up whoever asks, and the
            // request compared without its customer: the same items answer the key's order.
            let anyones = sqlx::query_as::<_, OrderRow>(&format!(
                "SELECT {} FROM idempotency_keys k JOIN orders o ON o.id = k.order_id \
                 WHERE k.idempotency_key = $1 AND k.expires_at > $2 \
                 ORDER BY k.created_at LIMIT 1",
                order_columns()
            ))
            .bind(claim.key.as_str())
            .bind(order.created_at)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = anyones {
                let (existing, stored) = row.into_parts()?;
                let same_items = stored.get("items") == request.get("items");
                return Ok(Some(Inserted::Existing {
                    order: existing,
                    request: if same_items { request.clone() } else { stored },
                }));
            }
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, OrderRow>(&format!(
            "INSERT INTO orders (id, customer_id, items, status, request, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
        ))
        .bind(order.id)
        .bind(&order.customer_id)
        .bind(Json(&order.items))
        .bind(order.status.as_str())
        .bind(Json(request))
        .bind(order.created_at)
        .fetch_one(&mut *tx)
        .await?;
        let Some(claim) = key else {
            tx.commit().await?;
            return Ok(Some(Inserted::New(row.into_order()?)));
        };
        let claimed = sqlx::query_scalar::<_, Uuid>(
            "INSERT INTO idempotency_keys \
               (customer_id, idempotency_key, order_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (customer_id, idempotency_key) DO UPDATE \
               SET order_id = EXCLUDED.order_id, created_at = EXCLUDED.created_at, \
                   expires_at = EXCLUDED.expires_at \
               WHERE idempotency_keys.expires_at <= EXCLUDED.created_at \
             RETURNING order_id",
        )
        .bind(&order.customer_id)
        .bind(claim.key.as_str())
        .bind(order.id)
        .bind(order.created_at)
        .bind(claim.expires_at)
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_some() {
            tx.commit().await?;
            return Ok(Some(Inserted::New(row.into_order()?)));
        }
        // The customer's key stands for another order: store nothing, answer that one.
        tx.rollback().await?;
        let existing = sqlx::query_as::<_, OrderRow>(&format!(
            "SELECT {} FROM idempotency_keys k JOIN orders o ON o.id = k.order_id \
             WHERE k.customer_id = $1 AND k.idempotency_key = $2",
            order_columns()
        ))
        .bind(&order.customer_id)
        .bind(claim.key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match existing {
            Some(row) => {
                let (order, request) = row.into_parts()?;
                Ok(Some(Inserted::Existing { order, request }))
            }
            None => Ok(None),
        }
    }

    async fn fetch(&self, id: Uuid) -> Result<Option<Order>, RepoError> {
        sqlx::query_as::<_, OrderRow>(&format!("SELECT {COLUMNS} FROM orders WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(OrderRow::into_order)
            .transpose()
    }

    /// The order a conditional `UPDATE ... RETURNING` changed, else as it is now (the update's
    /// condition no longer held: another step got there first); `NotFound` when there is none.
    async fn updated_or_current(
        &self,
        id: Uuid,
        updated: Option<OrderRow>,
    ) -> Result<Order, RepoError> {
        match updated {
            Some(row) => row.into_order(),
            None => self.fetch(id).await?.ok_or(RepoError::NotFound(id)),
        }
    }
}

#[async_trait::async_trait]
impl OrderRepository for PgOrderRepository {
    async fn insert(
        &self,
        order: &Order,
        key: Option<&IdempotencyClaim>,
        request: &serde_json::Value,
    ) -> Result<Inserted, RepoError> {
        // A claimed key whose order was deleted between the conflict and the read (only
        // tests delete orders) is simply tried again.
        for _ in 0..3 {
            if let Some(inserted) = self.try_insert(order, key, request).await? {
                return Ok(inserted);
            }
        }
        Err(RepoError::Database(
            "idempotency key conflict without an order, three times".into(),
        ))
    }

    async fn get(&self, id: Uuid) -> Result<Option<Order>, RepoError> {
        self.fetch(id).await
    }

    async fn list_by_customer(&self, customer_id: &str) -> Result<Vec<Order>, RepoError> {
        sqlx::query_as::<_, OrderRow>(&format!(
            "SELECT {COLUMNS} FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(customer_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(OrderRow::into_order)
        .collect()
    }

    async fn confirm(&self, id: Uuid, c: &Confirmation) -> Result<Order, RepoError> {
        let updated = sqlx::query_as::<_, OrderRow>(&format!(
            "UPDATE orders SET status = 'CONFIRMED', reason = NULL, total_cents = $2, \
             reservation_id = $3, payment_id = $4, event_id = $5, confirmed_at = $6, \
             updated_at = $6 WHERE id = $1 AND status = 'PENDING' AND cancel_reason IS NULL \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(c.total_cents)
        .bind(&c.reservation_id)
        .bind(&c.payment_id)
        .bind(c.event_id)
        .bind(c.at)
        .fetch_optional(&self.pool)
        .await?;
        self.updated_or_current(id, updated).await
    }

    async fn reject(&self, id: Uuid, r: &Rejection) -> Result<Order, RepoError> {
        let updated = sqlx::query_as::<_, OrderRow>(&format!(
            "UPDATE orders SET status = 'REJECTED', reason = $2, total_cents = $3, \
             reservation_id = $4, payment_id = $5, updated_at = $6 \
             WHERE id = $1 AND status = 'PENDING' AND cancel_reason IS NULL RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(&r.reason)
        .bind(r.total_cents)
        .bind(&r.reservation_id)
        .bind(&r.payment_id)
        .bind(r.at)
        .fetch_optional(&self.pool)
        .await?;
        self.updated_or_current(id, updated).await
    }

    async fn begin_cancel(&self, id: Uuid, c: &Cancelling) -> Result<Order, RepoError> {
        let updated = sqlx::query_as::<_, OrderRow>(&format!(
            "UPDATE orders SET cancel_reason = $2, total_cents = $3, reservation_id = $4, \
             updated_at = $5 \
             WHERE id = $1 AND status = 'PENDING' AND cancel_reason IS NULL RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(c.reason.code())
        .bind(c.total_cents)
        .bind(&c.reservation_id)
        .bind(c.at)
        .fetch_optional(&self.pool)
        .await?;
        self.updated_or_current(id, updated).await
    }

    async fn cancel(&self, id: Uuid, c: &Cancellation) -> Result<Order, RepoError> {
        let updated = sqlx::query_as::<_, OrderRow>(&format!(
            "UPDATE orders SET status = 'CANCELLED', reason = cancel_reason, payment_id = $2, \
             updated_at = $3 \
             WHERE id = $1 AND status = 'PENDING' AND cancel_reason IS NOT NULL RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(&c.payment_id)
        .bind(c.at)
        .fetch_optional(&self.pool)
        .await?;
        self.updated_or_current(id, updated).await
    }

    async fn mark_event_published(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), RepoError> {
        let done = sqlx::query(
            "UPDATE orders SET event_published_at = COALESCE(event_published_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(RepoError::NotFound(id));
        }
        Ok(())
    }

    async fn unsettled(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<Vec<Uuid>, RepoError> {
        let ids = sqlx::query_scalar::<_, Uuid>(
            "SELECT id FROM orders \
             WHERE intake_dead_at IS NULL \
               AND ((status = 'PENDING' AND COALESCE(enqueued_at, created_at) < $1) \
                OR (status = 'CONFIRMED' AND event_published_at IS NULL \
                    AND GREATEST(enqueued_at, confirmed_at) < $1)) \
             ORDER BY created_at LIMIT $2",
        )
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    async fn mark_enqueued(&self, ids: &[Uuid], at: DateTime<Utc>) -> Result<(), RepoError> {
        sqlx::query("UPDATE orders SET enqueued_at = $2, intake_dead_at = NULL WHERE id = ANY($1)")
            .bind(ids)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_intake_dead(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), RepoError> {
        sqlx::query("UPDATE orders SET intake_dead_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
