//! What inventory serves through the gateway: the catalogue (`GET /products`,
//! `GET /products/{sku}`; `/api/products...` at the gateway).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A product and its stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductView {
    #[schema(example = "KB-001")]
    pub sku: String,
    pub name: String,
    /// Unit price in the currency's minor unit.
    pub price_cents: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    /// Units available to reserve.
    pub stock: i32,
}
