//! Request and response bodies of the HTTP API. The gateway forwards them all, so they are
//! defined once, for orders and the gateway, in `sample-views`; the conversions from the
//! domain types are here.

pub use sample_views::orders::{CreateOrderRequest, ItemRequest, ItemView, OrderView, StatusView};

use crate::model::{Item, Order, OrderStatus};

/// A line of an order as answered (the item type is `sample-events`' and the view
/// `sample-views'`, so this is a function, not a `From`).
fn item_view(item: &Item) -> ItemView {
    ItemView {
        sku: item.sku.clone(),
        quantity: item.quantity,
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
            items: o.items.iter().map(item_view).collect(),
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
