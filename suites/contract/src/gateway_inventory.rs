//! Provider states for the pact `gateway-inventory` (consumer gateway, provider inventory):
//! catalogue entries, set up and torn down in the real inventory database (`inventory`).
//!
//! A product a state puts in the catalogue is named [`PRODUCT_NAME`], and teardowns delete
//! only products of that name: a real product with the same sku is left as it is.

use std::sync::Arc;

use harness_pact::{Action, HandlerError, Handlers, StateChange, StateValues};

use crate::{StackEnv, db::Database};

/// The name of the products these states put in the catalogue.
const PRODUCT_NAME: &str = "Contract test product (gateway-inventory)";

pub(crate) fn handlers(env: &StackEnv) -> Handlers {
    let inventory = Database::new(env, "inventory");
    let product = |inventory: Arc<Database>| {
        move |change: StateChange| {
            let inventory = inventory.clone();
            async move { product(&inventory, change).await }
        }
    };
    Handlers::new()
        .state("the catalogue lists a product", product(inventory.clone()))
        .state("the catalogue has the product", product(inventory.clone()))
        .state(
            "the catalogue has no product with the sku",
            move |change: StateChange| {
                let inventory = inventory.clone();
                async move { no_product(&inventory, change).await }
            },
        )
}

/// Setup: the product `sku` is in the catalogue (with stock). Teardown: it is gone again.
async fn product(inventory: &Database, change: StateChange) -> Result<StateValues, HandlerError> {
    let sku = change.param("sku").ok_or("no sku parameter")?;
    let pool = inventory.pool().await?;
    if change.action == Action::Teardown {
        sqlx::query("DELETE FROM products WHERE sku = $1 AND name = $2")
            .bind(sku)
            .bind(PRODUCT_NAME)
            .execute(pool)
            .await?;
        return Ok(StateValues::new());
    }
    let inserted = sqlx::query(
        "INSERT INTO products (sku, name, price_cents, currency, stock) \
         VALUES ($1, $2, 1500, 'EUR', 25) \
             ON CONFLICT (sku) DO UPDATE SET stock = EXCLUDED.stock WHERE products.name = $2",
    )
    .bind(sku)
    .bind(PRODUCT_NAME)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(format!(
            "a product with the sku {sku} exists that this state did not make; refusing to use it"
        )
        .into());
    }
    Ok(StateValues::new())
}

/// Setup: no product has the sku `sku` (one a state made is deleted; a real one is an
/// error). Teardown: nothing was changed that needs putting back.
async fn no_product(
    inventory: &Database,
    change: StateChange,
) -> Result<StateValues, HandlerError> {
    if change.action == Action::Teardown {
        return Ok(StateValues::new());
    }
    let sku = change.param("sku").ok_or("no sku parameter")?;
    let pool = inventory.pool().await?;
    sqlx::query("DELETE FROM products WHERE sku = $1 AND name = $2")
        .bind(sku)
        .bind(PRODUCT_NAME)
        .execute(pool)
        .await?;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE sku = $1")
        .bind(sku)
        .fetch_one(pool)
        .await?;
    if left > 0 {
        return Err(format!("the catalogue has a real product {sku:?}").into());
    }
    Ok(StateValues::new())
}
