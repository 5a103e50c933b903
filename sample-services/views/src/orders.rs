//! What orders serves and reads through the gateway: `POST /orders` (its body and the
//! order it answers), `GET /orders`, `GET /orders/{id}` (`/api/orders...` at the gateway).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
    #[serde(deserialize_with = "crate::wire::integer")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_of_an_order() {
        let order = OrderView {
            id: Uuid::nil(),
            customer_id: "alice".to_owned(),
            items: vec![ItemView {
                sku: "KB-001".to_owned(),
                quantity: 2,
            }],
            status: StatusView::Cancelled,
            reason: Some("payment_unavailable".to_owned()),
            total_cents: None,
            reservation_id: None,
            payment_id: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        };
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(json["status"], "CANCELLED");
        assert_eq!(
            json["items"],
            serde_json::json!([{"sku": "KB-001", "quantity": 2}])
        );
        for absent in ["total_cents", "reservation_id", "payment_id"] {
            assert!(
                json.get(absent).is_none(),
                "{absent} is left out when absent: {json}"
            );
        }
        let back: OrderView = serde_json::from_value(json).unwrap();
        assert_eq!(back, order);
        let statuses: Vec<String> = [
            StatusView::Pending,
            StatusView::Confirmed,
            StatusView::Rejected,
            StatusView::Cancelled,
        ]
        .iter()
        .map(|s| {
            serde_json::to_value(s)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
        assert_eq!(statuses, ["PENDING", "CONFIRMED", "REJECTED", "CANCELLED"]);
    }
}
