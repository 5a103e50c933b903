//! Provider states for the pact `gateway-shipping` (consumer gateway, provider shipping):
//! shipments, set up and torn down in the real shipping database (`shipping`).
//!
//! Shipments are made by shipping itself when an order is confirmed; these states insert
//! the row it would write (status `PENDING`, the carrier its rule picks for the order) for
//! the customer [`RECIPIENT`], and teardowns delete only that customer's shipments.

use harness_pact::{Action, HandlerError, Handlers, StateChange, StateValues};
use serde_json::json;
use uuid::Uuid;

use crate::{
    StackEnv,
    db::Database,
    gateway_orders::{timestamp, values},
};

/// The customer of the shipments these states insert.
const RECIPIENT: &str = "gateway-pact-recipient";

pub(crate) fn handlers(env: &StackEnv) -> Handlers {
    let shipping = Database::new(env, "shipping");
    Handlers::new()
        .state("a shipment is on record for the order", {
            let shipping = shipping.clone();
            move |change: StateChange| {
                let shipping = shipping.clone();
                async move {
                    let order_id = uuid_param(&change, "orderId")?;
                    shipment(&shipping, change.action, order_id).await
                }
            }
        })
        .state("a shipment is on record", {
            let shipping = shipping.clone();
            move |change: StateChange| {
                let shipping = shipping.clone();
                async move { shipment(&shipping, change.action, Uuid::new_v4()).await }
            }
        })
        .state(
            "no shipment is on record with the id",
            move |change: StateChange| {
                let shipping = shipping.clone();
                async move { no_shipment(&shipping, change).await }
            },
        )
}

/// Writes the row shipping writes when `order_id` is confirmed for `customer`: a `PENDING`
/// shipment with the carrier its rule picks; its id.
pub(crate) async fn insert_shipment(
    pool: &sqlx::PgPool,
    order_id: Uuid,
    customer: &str,
    created_at: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO shipments (id, order_id, customer_id, status, carrier, created_at) \
         VALUES ($1, $2, $3, 'PENDING', $4, $5)",
    )
    .bind(id)
    .bind(order_id)
    .bind(customer)
    .bind(shipping::model::carrier_for(order_id))
    .bind(created_at)
    .execute(pool)
    .await?;
    Ok(id)
}

/// Setup: a shipment of `order_id` (answers its `shipmentId` and `orderId`). Teardown:
/// the recipient's shipments are deleted (a crashed run's too, before setup).
async fn shipment(
    shipping: &Database,
    action: Action,
    order_id: Uuid,
) -> Result<StateValues, HandlerError> {
    let pool = shipping.pool().await?;
    sqlx::query("DELETE FROM shipments WHERE customer_id = $1")
        .bind(RECIPIENT)
        .execute(pool)
        .await?;
    if action == Action::Teardown {
        return Ok(StateValues::new());
    }
    let id = insert_shipment(pool, order_id, RECIPIENT, timestamp()).await?;
    Ok(values(
        json!({"shipmentId": id.to_string(), "orderId": order_id.to_string()}),
    ))
}

/// Setup: no shipment has the id `shipmentId` (one a state made is deleted; another is an
/// error). Teardown: nothing was changed that needs putting back.
async fn no_shipment(
    shipping: &Database,
    change: StateChange,
) -> Result<StateValues, HandlerError> {
    if change.action == Action::Teardown {
        return Ok(StateValues::new());
    }
    let id = uuid_param(&change, "shipmentId")?;
    let pool = shipping.pool().await?;
    sqlx::query("DELETE FROM shipments WHERE id = $1 AND customer_id = $2")
        .bind(id)
        .bind(RECIPIENT)
        .execute(pool)
        .await?;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM shipments WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    if left > 0 {
        return Err(format!("shipment {id} exists and was not made by a provider state").into());
    }
    Ok(StateValues::new())
}

fn uuid_param(change: &StateChange, name: &str) -> Result<Uuid, HandlerError> {
    let raw = change
        .param(name)
        .ok_or_else(|| format!("no {name} parameter"))?;
    raw.parse()
        .map_err(|e| format!("{name} {raw:?} is not a UUID: {e}").into())
}
