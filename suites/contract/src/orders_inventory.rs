//! Provider states for the pact `orders-inventory` (contracts/pacts/orders-inventory.json).
//!
//! Each state makes fresh data in inventory's own database (a product of its own, with a
//! SKU nobody else uses) or through inventory's HTTP API (a reservation), and hands the ids
//! back for the pact's `fromProviderState` expressions: `sku`, `orderId`, `reservationId`.
//! Teardown deletes everything the set-up made, and the reservations made for its orders,
//! so the real catalogue is never touched and verifying twice against one running
//! inventory passes.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use harness_pact::{Action, HandlerError, Handlers, StateChange, StateValues};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{StackEnv, db::Database};

/// A product of its own with `stock` units (param, default 10) at `price_cents` (param,
/// default 2500), and an order without a reservation. Values: `sku`, `orderId`.
pub(crate) const PRODUCT_IN_STOCK: &str = "a product has stock to reserve";
/// No product has the SKU. Values: `sku` (a SKU that does not exist), `orderId`.
pub(crate) const UNKNOWN_SKU: &str = "the sku to reserve is unknown";
/// An `ACTIVE` reservation (of a product of its own), made through inventory's API.
/// Values: `reservationId`.
pub(crate) const RESERVATION_ACTIVE: &str = "a reservation is active";
/// No reservation has the id. Values: `reservationId` (an id that does not exist).
pub(crate) const NO_RESERVATION: &str = "no reservation has the id";

const STATES: [&str; 4] = [
    PRODUCT_IN_STOCK,
    UNKNOWN_SKU,
    RESERVATION_ACTIVE,
    NO_RESERVATION,
];

/// What set-ups made, for the teardown.
#[derive(Debug, Default)]
struct Made {
    skus: Vec<String>,
    orders: Vec<Uuid>,
}

#[derive(Debug, Clone)]
struct Inventory {
    url: Result<String, String>,
    database: Arc<Database>,
    http: reqwest::Client,
    made: Arc<Mutex<Made>>,
}

#[derive(Debug, Deserialize)]
struct ReservationView {
    id: Uuid,
    status: String,
}

impl Inventory {
    fn url(&self) -> anyhow::Result<&str> {
        self.url.as_deref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    async fn db(&self) -> anyhow::Result<&PgPool> {
        self.database.pool().await
    }

    fn remember(&self, sku: Option<&str>, order: Option<Uuid>) {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        made.skus.extend(sku.map(str::to_owned));
        made.orders.extend(order);
    }

    /// Inserts a product with a SKU of its own.
    async fn product(&self, stock: i64, price_cents: i64) -> anyhow::Result<String> {
        let stock = i32::try_from(stock).context("`stock` does not fit a stock count")?;
        let sku = fresh_sku("PACT");
        self.remember(Some(&sku), None);
        sqlx::query(
            "INSERT INTO products (sku, name, price_cents, currency, stock) \
             VALUES ($1, 'Contract test product', $2, 'EUR', $3)",
        )
        .bind(&sku)
        .bind(price_cents)
        .bind(stock)
        .execute(self.db().await?)
        .await
        .context("inserting a product into inventory's database")?;
        Ok(sku)
    }

    async fn product_in_stock(&self, change: &StateChange) -> anyhow::Result<StateValues> {
        let stock = int_param(change, "stock", 10)?;
        let price = int_param(change, "price_cents", 2_500)?;
        let sku = self.product(stock, price).await?;
        let order = Uuid::new_v4();
        self.remember(None, Some(order));
        Ok(values([("sku", sku), ("orderId", order.to_string())]))
    }

    async fn unknown_sku(&self) -> anyhow::Result<StateValues> {
        let sku = fresh_sku("PACT-UNKNOWN");
        let known: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE sku = $1")
            .bind(&sku)
            .fetch_one(self.db().await?)
            .await
            .context("reading inventory's products")?;
        if known != 0 {
            bail!("inventory already has a product {sku:?}");
        }
        let order = Uuid::new_v4();
        self.remember(None, Some(order));
        Ok(values([("sku", sku), ("orderId", order.to_string())]))
    }

    async fn reservation_active(&self) -> anyhow::Result<StateValues> {
        let sku = self.product(5, 1_000).await?;
        let order = Uuid::new_v4();
        self.remember(None, Some(order));
        let url = format!("{}/reservations", self.url()?);
        let response = self
            .http
            .post(&url)
            .json(&json!({ "order_id": order, "items": [{ "sku": sku, "quantity": 1 }] }))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::CREATED {
            bail!("POST {url} answered {status}: {}", body.trim());
        }
        let reservation: ReservationView =
            serde_json::from_str(&body).with_context(|| format!("POST {url} answered {body:?}"))?;
        if reservation.status != "ACTIVE" {
            bail!(
                "POST {url} made a reservation that is {}",
                reservation.status
            );
        }
        Ok(values([("reservationId", reservation.id.to_string())]))
    }

    async fn no_reservation(&self) -> anyhow::Result<StateValues> {
        let id = Uuid::new_v4();
        let known: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations WHERE id = $1")
            .bind(id)
            .fetch_one(self.db().await?)
            .await
            .context("reading inventory's reservations")?;
        if known != 0 {
            bail!("inventory already has a reservation {id}");
        }
        Ok(values([("reservationId", id.to_string())]))
    }

    /// Deletes what the set-ups made: the reservations of their orders (their lines go
    /// with them) and their products.
    async fn teardown(&self) -> anyhow::Result<StateValues> {
        let made = std::mem::take(&mut *self.made.lock().unwrap_or_else(|e| e.into_inner()));
        if made.skus.is_empty() && made.orders.is_empty() {
            return Ok(StateValues::new());
        }
        let db = self.db().await?;
        let mut tx = db.begin().await?;
        sqlx::query(
            "DELETE FROM reservations WHERE order_id = ANY($1) \
             OR id IN (SELECT reservation_id FROM reservation_items WHERE sku = ANY($2))",
        )
        .bind(&made.orders)
        .bind(&made.skus)
        .execute(&mut *tx)
        .await
        .context("deleting the reservations made for the state")?;
        sqlx::query("DELETE FROM products WHERE sku = ANY($1)")
            .bind(&made.skus)
            .execute(&mut *tx)
            .await
            .context("deleting the products made for the state")?;
        tx.commit().await?;
        Ok(StateValues::new())
    }

    async fn change(&self, change: StateChange) -> anyhow::Result<StateValues> {
        if change.action == Action::Teardown {
            return self.teardown().await;
        }
        match change.state.as_str() {
            PRODUCT_IN_STOCK => self.product_in_stock(&change).await,
            UNKNOWN_SKU => self.unknown_sku().await,
            RESERVATION_ACTIVE => self.reservation_active().await,
            NO_RESERVATION => self.no_reservation().await,
            other => bail!("not a state of orders-inventory: {other:?}"),
        }
    }
}

/// `PACT-1a2b3c4d5e6f`: a SKU of its own (inventory allows 64 characters).
fn fresh_sku(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..12])
}

fn int_param(change: &StateChange, name: &str, default: i64) -> anyhow::Result<i64> {
    match change.params.get(name) {
        None => Ok(default),
        Some(v) => v
            .as_i64()
            .with_context(|| format!("the param `{name}` must be a whole number, got {v}")),
    }
}

fn values<const N: usize>(pairs: [(&str, String); N]) -> StateValues {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect()
}

pub(crate) fn handlers(env: &StackEnv) -> Handlers {
    let inventory = Inventory {
        url: env
            .url("inventory")
            .map(|u| u.trim_end_matches('/').to_owned())
            .map_err(|e| e.to_string()),
        database: Database::new(env, "inventory"),
        http: crate::http_client(),
        made: Arc::new(Mutex::new(Made::default())),
    };
    let handler = move |change: StateChange| {
        let inventory = inventory.clone();
        async move { inventory.change(change).await.map_err(HandlerError::from) }
    };
    STATES
        .into_iter()
        .fold(Handlers::new(), |h, name| h.state(name, handler.clone()))
}
