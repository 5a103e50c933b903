//! Provider states for the pact `gateway-orders` (consumer gateway, provider orders), set
//! up and torn down in the real orders database (`orders`).
//!
//! Rows a state inserts carry a marker in the `request` column (the fingerprint of the
//! request that created an order, read only for idempotency keys, which these rows do not
//! have), so teardowns delete what the states made and nothing else. Inserted orders are
//! settled (`CONFIRMED` with their event published): the worker's sweeper leaves them alone.
//!
//! The order placed through the gateway is a real one: the orders worker reserves its stock
//! in inventory, has it paid and confirms it, and shipping ships it. Its state puts the
//! ordered product in the catalogue, and its teardown waits until the order has settled,
//! then removes everything it caused: the shipment, the reservation (released first, so the
//! stock comes back), the order and the product. The payment stays in the payments
//! service's in-memory ledger, which has no way to remove one.
//!
//! Also home of the small helpers the other `gateway_*` modules share (
//! [`timestamp`], [`values`]).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, SubsecRound, Utc};
use harness_pact::{Action, HandlerError, Handlers, StateChange, StateValues};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{StackEnv, db::Database};

/// The marker in `orders.request` of the orders these states insert.
const MARKER: &str = "contract-suite/gateway-orders";
/// Whose order "a confirmed order is on record" inserts.
const CUSTOMER: &str = "gateway-pact-customer";
/// Customers these states may clean up after: test customers only, never real ones.
const TEST_CUSTOMERS: &str = "gateway-pact-";
/// The name of the product put in the catalogue for the order placed through the gateway.
const PRODUCT_NAME: &str = "Contract test product (gateway-orders)";
/// How long a teardown waits for the system to finish with the order placed.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) fn handlers(env: &StackEnv) -> Handlers {
    let orders = Database::new(env, "orders");
    let system = Arc::new(System {
        orders: orders.clone(),
        inventory: Database::new(env, "inventory"),
        shipping: Database::new(env, "shipping"),
        env: env.clone(),
    });
    Handlers::new()
        .state(
            "a new order can be accepted under a fresh idempotency key",
            move |change: StateChange| {
                let system = system.clone();
                async move { system.new_order(change).await }
            },
        )
        .state("a customer has a confirmed order on record", {
            let orders = orders.clone();
            move |change: StateChange| {
                let orders = orders.clone();
                async move {
                    let customer = change
                        .param("customerId")
                        .ok_or("no customerId parameter")?;
                    confirmed_order(&orders, change.action, customer).await
                }
            }
        })
        .state("a confirmed order is on record", {
            let orders = orders.clone();
            move |change: StateChange| {
                let orders = orders.clone();
                async move { confirmed_order(&orders, change.action, CUSTOMER).await }
            }
        })
        .state(
            "no order is on record with the id",
            move |change: StateChange| {
                let orders = orders.clone();
                async move { no_order(&orders, change).await }
            },
        )
}

/// Inserts a settled, confirmed order of `customer` (setup) or deletes the orders the
/// states inserted for `customer` (teardown, and before setup for a crashed run's).
async fn confirmed_order(
    orders: &Database,
    action: Action,
    customer: &str,
) -> Result<StateValues, HandlerError> {
    let pool = orders.pool().await?;
    sqlx::query("DELETE FROM orders WHERE customer_id = $1 AND request->>'provider_state' = $2")
        .bind(customer)
        .bind(MARKER)
        .execute(pool)
        .await?;
    if action == Action::Teardown {
        return Ok(StateValues::new());
    }
    let id = Uuid::new_v4();
    let at = timestamp();
    let items = json!([{"sku": "KB-001", "quantity": 2}]);
    let request = json!({"customer_id": customer, "items": items, "provider_state": MARKER});
    sqlx::query(
        "INSERT INTO orders (id, customer_id, items, status, total_cents, reservation_id, \
         payment_id, event_id, confirmed_at, event_published_at, request, created_at, updated_at) \
         VALUES ($1, $2, $3, 'CONFIRMED', 17800, $4, $5, $6, $7, $7, $8, $7, $7)",
    )
    .bind(id)
    .bind(customer)
    .bind(&items)
    .bind(Uuid::new_v4().to_string())
    .bind(Uuid::new_v4().to_string())
    .bind(Uuid::new_v4())
    .bind(at)
    .bind(&request)
    .execute(pool)
    .await?;
    Ok(values(
        json!({"orderId": id.to_string(), "customerId": customer}),
    ))
}

/// No order has the id `orderId`: one the states made is deleted, any other is an error.
async fn no_order(orders: &Database, change: StateChange) -> Result<StateValues, HandlerError> {
    if change.action == Action::Teardown {
        return Ok(StateValues::new());
    }
    let raw = change.param("orderId").ok_or("no orderId parameter")?;
    let id: Uuid = raw
        .parse()
        .map_err(|e| format!("orderId {raw:?} is not a UUID: {e}"))?;
    let pool = orders.pool().await?;
    sqlx::query("DELETE FROM orders WHERE id = $1 AND request->>'provider_state' = $2")
        .bind(id)
        .bind(MARKER)
        .execute(pool)
        .await?;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    if left > 0 {
        return Err(format!("order {id} exists and was not made by a provider state").into());
    }
    Ok(StateValues::new())
}

/// The databases and the service the order placed through the gateway touches.
struct System {
    orders: Arc<Database>,
    inventory: Arc<Database>,
    shipping: Arc<Database>,
    env: StackEnv,
}

impl System {
    /// Setup: the ordered product is in the catalogue, the customer has no order left from
    /// an earlier run, and a fresh `idempotencyKey` for the request. Teardown: every order
    /// of the customer and all it caused are removed, then the product.
    async fn new_order(&self, change: StateChange) -> Result<StateValues, HandlerError> {
        let customer = change
            .param("customerId")
            .ok_or("no customerId parameter")?;
        let sku = change.param("sku").ok_or("no sku parameter")?;
        if !customer.starts_with(TEST_CUSTOMERS) {
            return Err(format!(
                "customerId {customer:?} is not a test customer ({TEST_CUSTOMERS}...): its orders would be removed"
            )
            .into());
        }
        self.remove_orders_of(customer).await?;
        let inventory = self.inventory.pool().await?;
        if change.action == Action::Teardown {
            sqlx::query("DELETE FROM products WHERE sku = $1 AND name = $2")
                .bind(sku)
                .bind(PRODUCT_NAME)
                .execute(inventory)
                .await?;
            return Ok(StateValues::new());
        }
        let inserted = sqlx::query(
            "INSERT INTO products (sku, name, price_cents, currency, stock) \
             VALUES ($1, $2, 1000, 'EUR', 100) \
             ON CONFLICT (sku) DO UPDATE SET stock = EXCLUDED.stock WHERE products.name = $2",
        )
        .bind(sku)
        .bind(PRODUCT_NAME)
        .execute(inventory)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(format!(
                "a product with the sku {sku} exists that this state did not make; refusing to use it"
            )
            .into());
        }
        Ok(values(
            json!({"idempotencyKey": Uuid::new_v4().to_string()}),
        ))
    }

    async fn remove_orders_of(&self, customer: &str) -> Result<(), HandlerError> {
        let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orders WHERE customer_id = $1")
            .bind(customer)
            .fetch_all(self.orders.pool().await?)
            .await?;
        for id in ids {
            self.remove_order(id).await?;
        }
        Ok(())
    }

    /// Waits until the system is done with the order, then removes its shipment, its
    /// reservation (released first) and the order.
    async fn remove_order(&self, id: Uuid) -> Result<(), HandlerError> {
        let orders = self.orders.pool().await?;
        let status = wait_for(
            SETTLE_TIMEOUT,
            &format!("order {id} to settle"),
            move || async move {
                let row: Option<(String, Option<DateTime<Utc>>)> =
                    sqlx::query_as("SELECT status, event_published_at FROM orders WHERE id = $1")
                        .bind(id)
                        .fetch_optional(orders)
                        .await?;
                Ok(match row {
                    None => Some("GONE".to_owned()),
                    Some((status, _)) if status == "PENDING" => None,
                    Some((status, None)) if status == "CONFIRMED" => None,
                    Some((status, _)) => Some(status),
                })
            },
        )
        .await?;

        let shipping = self.shipping.pool().await?;
        if status == "CONFIRMED" {
            // Shipping ships a confirmed order once its event arrives. Not waiting long
            // enough is no reason to leave the rest behind: delete whatever is there.
            let _ = wait_for(
                SETTLE_TIMEOUT,
                &format!("the shipment of order {id}"),
                move || async move {
                    let n: i64 =
                        sqlx::query_scalar("SELECT count(*) FROM shipments WHERE order_id = $1")
                            .bind(id)
                            .fetch_one(shipping)
                            .await?;
                    Ok((n > 0).then_some(()))
                },
            )
            .await;
        }
        sqlx::query("DELETE FROM shipments WHERE order_id = $1")
            .bind(id)
            .execute(shipping)
            .await?;
        sqlx::query("DELETE FROM processed_events WHERE order_id = $1")
            .bind(id)
            .execute(shipping)
            .await?;

        let inventory = self.inventory.pool().await?;
        let reservations: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT id, status FROM reservations WHERE order_id = $1")
                .bind(id)
                .fetch_all(inventory)
                .await?;
        for (reservation, status) in reservations {
            if status == "ACTIVE" {
                self.release(reservation).await?;
            }
            sqlx::query("DELETE FROM reservations WHERE id = $1")
                .bind(reservation)
                .execute(inventory)
                .await?;
        }

        sqlx::query("DELETE FROM orders WHERE id = $1")
            .bind(id)
            .execute(orders)
            .await?;
        Ok(())
    }

    /// Releases a reservation through inventory's API, which puts the stock back.
    async fn release(&self, reservation: Uuid) -> Result<(), HandlerError> {
        let url = format!("{}/reservations/{reservation}", self.env.url("inventory")?);
        let response = crate::http_client().delete(&url).send().await?;
        if !response.status().is_success() {
            return Err(format!("DELETE {url} answered {}", response.status()).into());
        }
        Ok(())
    }
}

/// Polls `probe` until it yields a value, for at most `timeout`.
async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, probe: F) -> Result<T, HandlerError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>, HandlerError>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if started.elapsed() > timeout {
            return Err(format!("gave up waiting for {what} after {} s", timeout.as_secs()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Now, as the services store and show it: microseconds, and never a whole second (chrono
/// writes no fraction then, which the pacts' timestamp format does not allow).
pub(crate) fn timestamp() -> DateTime<Utc> {
    let now = Utc::now().trunc_subsecs(6);
    if now.timestamp_subsec_micros() == 0 {
        now + chrono::Duration::microseconds(1)
    } else {
        now
    }
}

/// A JSON object as state values.
pub(crate) fn values(value: Value) -> StateValues {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
