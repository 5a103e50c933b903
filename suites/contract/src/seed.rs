//! Data the OpenAPI checks cannot make through a service's own API, made as the service
//! itself would: a shipment is written by shipping when an order is confirmed (a message,
//! not a request), so `openapi-seed shipment --customer NAME` inserts the row it would write
//! for that customer. harness.toml names it as the `seed` of the shipping and gateway checks,
//! so their `GET /shipments/{id}` has something to answer 200 for.

use chrono::Utc;
use uuid::Uuid;

use crate::{StackEnv, db::Database, gateway_shipping::insert_shipment};

/// Inserts a `PENDING` shipment of a new order for `customer` (the customer's earlier
/// seeded shipments are deleted first, so a rerun leaves one); its id.
pub async fn shipment(env: &StackEnv, customer: &str) -> anyhow::Result<Uuid> {
    let shipping = Database::new(env, "shipping");
    let pool = shipping.pool().await?;
    sqlx::query("DELETE FROM shipments WHERE customer_id = $1")
        .bind(customer)
        .execute(pool)
        .await?;
    Ok(insert_shipment(pool, Uuid::new_v4(), customer, Utc::now()).await?)
}
