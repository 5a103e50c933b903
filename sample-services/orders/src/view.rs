//! Request and response bodies of the HTTP API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{Item, Order, OrderStatus};

/// `POST /orders` body. The customer is the caller (`X-Customer-Id`), never the body's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateOrderRequest {
    /// 1 to 50 lines.
    #[schema(min_items = 1, max_items = 50)]
    pub items: Vec<ItemRequest>,
}

/// One line of an order request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemRequest {
    /// Not blank, no control characters.
    #[schema(
        example = "KB-001",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub sku: String,
    /// 1 to 1000.
    #[schema(example = 2, minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    pub sku: String,
    pub quantity: u32,
}

/// Where an order is in its life: `PENDING` (accepted; being reserved and paid, or waiting
/// for payments to answer), then one of the final `CONFIRMED` (stock reserved, payment
/// authorised), `REJECTED` (could not be fulfilled: out of stock, payment declined...) or
/// `CANCELLED` (given up on: payments did not answer before the order's deadline; any
/// authorisation voided and the stock released).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusView {
    Pending,
    Confirmed,
    Rejected,
    Cancelled,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub id: Uuid,
    pub customer_id: String,
    pub items: Vec<ItemView>,
    pub status: StatusView,
    /// Why the order was rejected (e.g. `out_of_stock`, `payment_declined: limit_exceeded`)
    /// or cancelled (`payment_unavailable`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_cents: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reservation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payment_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Item> for ItemView {
    fn from(item: &Item) -> Self {
        Self {
            sku: item.sku.clone(),
            quantity: item.quantity,
        }
    }
}

impl From<OrderStatus> for StatusView {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::Confirmed => Self::Confirmed,
            OrderStatus::Rejected => Self::Rejected,
            OrderStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id,
            customer_id: o.customer_id.clone(),
            items: o.items.iter().map(ItemView::from).collect(),
            status: o.status.into(),
            reason: o.reason.clone(),
            total_cents: o.total_cents,
            reservation_id: o.reservation_id.clone(),
            payment_id: o.payment_id.clone(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}
