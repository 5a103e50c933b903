//! Request and response bodies as the gateway's clients see them. The gateway forwards
//! bodies untouched; these types document (in the OpenAPI document) what the services
//! behind it answer, as agreed in `docs/sample-services.md`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A product of the catalogue (served by inventory).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Product {
    #[schema(example = "KB-001")]
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    pub stock: i64,
}

/// One line of an order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderItem {
    #[schema(example = "KB-001")]
    pub sku: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i32,
}

/// The body of `POST /api/orders`. The order is the caller's (the token's subject): the
/// body names no customer (a `customer_id` naming anyone else is a 403
/// `customer_mismatch`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateOrder {
    /// 1 to 50 items.
    pub items: Vec<OrderItem>,
}

/// Where an order is in its life: `PENDING` (accepted; being reserved and paid, or waiting
/// for payments to answer), then one of the final `CONFIRMED`, `REJECTED` (could not be
/// fulfilled) or `CANCELLED` (payments did not answer before the order's deadline; any
/// authorisation voided and the stock released).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Rejected,
    Cancelled,
}

/// An order (served by orders).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: uuid::Uuid,
    pub customer_id: String,
    pub items: Vec<OrderItem>,
    pub status: OrderStatus,
    /// Why the order was rejected (e.g. `out_of_stock`) or cancelled
    /// (`payment_unavailable`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_cents: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reservation_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payment_id: Option<uuid::Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A shipment (served by shipping).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Shipment {
    pub id: uuid::Uuid,
    pub order_id: uuid::Uuid,
    pub customer_id: String,
    #[schema(example = "PENDING")]
    pub status: String,
    pub carrier: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}
