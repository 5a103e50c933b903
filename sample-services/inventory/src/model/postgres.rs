//! The PostgreSQL [`Repository`].
//!
//! A reservation is one transaction:
//!
//! 1. claim the order: `INSERT INTO reservations ... ON CONFLICT (order_id) DO NOTHING`.
//!    A concurrent request for the same order waits on the unique index until the first
//!    one commits (then it finds the row and replays it) or rolls back (then it proceeds);
//! 2. check that every SKU exists;
//! 3. take the stock line by line, in SKU order (so two reservations never wait on each
//!    other in a cycle), with a conditional update that cannot go below zero:
//!    `UPDATE products SET stock = stock - $1 WHERE sku = $2 AND stock >= $1`.
//!    A line that updates no row rolls the whole transaction back;
//! 4. record the lines and the total, and commit.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, migrate::Migrator};
use uuid::Uuid;

use super::{
    NewReservation, Product, Released, RepoError, Repository, Reservation, ReservationStatus,
    ReserveError, Reserved, ReservedItem, Sku, total_cents,
};

/// The service's migrations (`sample-services/inventory/migrations`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Products and reservations in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgRepository {
    pool: PgPool,
}

impl PgRepository {
    /// Uses a connected, migrated pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    sku: String,
    name: String,
    price_cents: i64,
    currency: String,
    stock: i32,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Self {
            sku: Sku::from_stored(r.sku),
            name: r.name,
            price_cents: r.price_cents,
            currency: r.currency,
            stock: r.stock,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ReservationRow {
    id: Uuid,
    order_id: Uuid,
    status: String,
    total_cents: i64,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    sku: String,
    quantity: i32,
    unit_price_cents: i64,
}

enum Key {
    Id(Uuid),
    Order(Uuid),
}

async fn load(conn: &mut PgConnection, key: Key) -> Result<Option<Reservation>, RepoError> {
    const COLUMNS: &str = "SELECT id, order_id, status, total_cents, created_at FROM reservations";
    let row: Option<ReservationRow> = match key {
        Key::Id(id) => {
            sqlx::query_as(&format!("{COLUMNS} WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        }
        Key::Order(order_id) => {
            sqlx::query_as(&format!("{COLUMNS} WHERE order_id = $1"))
                .bind(order_id)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let items: Vec<ItemRow> = sqlx::query_as(
        "SELECT sku, quantity, unit_price_cents FROM reservation_items \
         WHERE reservation_id = $1 ORDER BY sku",
    )
    .bind(row.id)
    .fetch_all(&mut *conn)
    .await?;
    let status = ReservationStatus::parse(&row.status).ok_or_else(|| {
        RepoError::Other(format!(
            "reservation {} has unknown status {:?}",
            row.id, row.status
        ))
    })?;
    Ok(Some(Reservation {
        id: row.id,
        order_id: row.order_id,
        status,
        items: items
            .into_iter()
            .map(|i| ReservedItem {
                sku: Sku::from_stored(i.sku),
                quantity: i.quantity,
                unit_price_cents: i.unit_price_cents,
            })
            .collect(),
        total_cents: row.total_cents,
        created_at: row.created_at,
    }))
}

#[async_trait::async_trait]
impl Repository for PgRepository {
    async fn list_products(&self) -> Result<Vec<Product>, RepoError> {
        let rows: Vec<ProductRow> = sqlx::query_as(
            "SELECT sku, name, price_cents, currency, stock FROM products ORDER BY sku",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Product::from).collect())
    }

    async fn get_product(&self, sku: &str) -> Result<Option<Product>, RepoError> {
        let row: Option<ProductRow> = sqlx::query_as(
            "SELECT sku, name, price_cents, currency, stock FROM products WHERE sku = $1",
        )
        .bind(sku)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Product::from))
    }

    async fn seed(&self, products: &[Product]) -> Result<u64, RepoError> {
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        for p in products {
            inserted += sqlx::query(
                "INSERT INTO products (sku, name, price_cents, currency, stock) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sku) DO NOTHING",
            )
            .bind(p.sku.as_str())
            .bind(&p.name)
            .bind(p.price_cents)
            .bind(&p.currency)
            .bind(p.stock)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn reserve(&self, request: &NewReservation) -> Result<Reserved, ReserveError> {
        let mut tx = self.pool.begin().await.map_err(RepoError::from)?;

        // 1. Claim the order (waits for a concurrent claim of the same order to finish).
        let id = Uuid::new_v4();
        let claimed: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "INSERT INTO reservations (id, order_id, status) VALUES ($1, $2, 'ACTIVE') \
             ON CONFLICT (order_id) DO NOTHING RETURNING created_at",
        )
        .bind(id)
        .bind(request.order_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(RepoError::from)?;
        let Some((created_at,)) = claimed else {
            let existing = load(&mut tx, Key::Order(request.order_id)).await?;
            tx.rollback().await.map_err(RepoError::from)?;
            return existing.map(Reserved::Replayed).ok_or_else(|| {
                RepoError::Other(format!(
                    "order {} conflicts with a reservation that cannot be read",
                    request.order_id
                ))
                .into()
            });
        };

        // 2. Every SKU must exist.
        let skus: Vec<String> = request
            .lines
            .iter()
            .map(|l| l.sku.as_str().to_owned())
            .collect();
        let known: Vec<(String,)> = sqlx::query_as("SELECT sku FROM products WHERE sku = ANY($1)")
            .bind(&skus)
            .fetch_all(&mut *tx)
            .await
            .map_err(RepoError::from)?;
        if let Some(line) = request
            .lines
            .iter()
            .filter(|l| !known.iter().any(|(k,)| k == l.sku.as_str()))
            .min_by_key(|l| l.index)
        {
            tx.rollback().await.map_err(RepoError::from)?;
            return Err(ReserveError::UnknownSku {
                index: line.index,
                sku: line.sku.clone(),
            });
        }

        // 3. Take the stock, in SKU order; any short line undoes everything.
        let mut items = Vec::with_capacity(request.lines.len());
        for line in &request.lines {
            let taken: Option<(i64,)> = sqlx::query_as(
                "UPDATE products SET stock = stock - $1 WHERE sku = $2 AND stock >= $1 \
                 RETURNING price_cents",
            )
            .bind(line.quantity)
            .bind(line.sku.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(RepoError::from)?;
            match taken {
                Some((unit_price_cents,)) => items.push(ReservedItem {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    unit_price_cents,
                }),
                None => {
                    let available: Option<(i32,)> =
                        sqlx::query_as("SELECT stock FROM products WHERE sku = $1")
                            .bind(line.sku.as_str())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(RepoError::from)?;
                    tx.rollback().await.map_err(RepoError::from)?;
                    return Err(ReserveError::InsufficientStock {
                        index: line.index,
                        sku: line.sku.clone(),
                        requested: line.quantity,
                        available: available.map_or(0, |(s,)| s),
                    });
                }
            }
        }

        // 4. Record the lines and the total.
        let total = total_cents(&items)
            .ok_or_else(|| RepoError::Other("reservation total overflows i64".into()))?;
        for item in &items {
            sqlx::query(
                "INSERT INTO reservation_items (reservation_id, sku, quantity, unit_price_cents) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(item.sku.as_str())
            .bind(item.quantity)
            .bind(item.unit_price_cents)
            .execute(&mut *tx)
            .await
            .map_err(RepoError::from)?;
        }
        sqlx::query("UPDATE reservations SET total_cents = $2 WHERE id = $1")
            .bind(id)
            .bind(total)
            .execute(&mut *tx)
            .await
            .map_err(RepoError::from)?;
        tx.commit().await.map_err(RepoError::from)?;
        Ok(Reserved::Created(Reservation {
            id,
            order_id: request.order_id,
            status: ReservationStatus::Active,
            items,
            total_cents: total,
            created_at,
        }))
    }

    async fn get_reservation(&self, id: Uuid) -> Result<Option<Reservation>, RepoError> {
        let mut conn = self.pool.acquire().await?;
        load(&mut conn, Key::Id(id)).await
    }

    async fn release(&self, id: Uuid) -> Result<Released, RepoError> {
        let mut tx = self.pool.begin().await?;
        let status: Option<(String,)> =
            sqlx::query_as("SELECT status FROM reservations WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        match status.as_ref().and_then(|(s,)| ReservationStatus::parse(s)) {
            None if status.is_none() => return Ok(Released::NotFound),
            None => {
                return Err(RepoError::Other(format!(
                    "reservation {id} has an unknown status"
                )));
            }
            Some(ReservationStatus::Released) => return Ok(Released::AlreadyReleased),
            Some(ReservationStatus::Active) => {}
        }
        let items: Vec<(String, i32)> = sqlx::query_as(
            "SELECT sku, quantity FROM reservation_items WHERE reservation_id = $1 ORDER BY sku",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for (sku, quantity) in &items {
            let updated = sqlx::query("UPDATE products SET stock = stock + $1 WHERE sku = $2")
                .bind(quantity)
                .bind(sku)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated != 1 {
                return Err(RepoError::Other(format!(
                    "reserved product {sku} of reservation {id} no longer exists"
                )));
            }
        }
        sqlx::query(
            "UPDATE reservations SET status = 'RELEASED', released_at = now() WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Released::Released)
    }
}
