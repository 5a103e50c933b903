//! Request and response bodies of the inventory API (JSON, with OpenAPI schemas). The
//! catalogue's, which the gateway forwards, are `sample-views`' (one definition for both).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{Invalid, NewReservation, Product, Reservation, ReservationStatus};

/// A product and its stock: the gateway forwards it, so it is defined once, for inventory
/// and the gateway, in `sample-views`.
pub use sample_views::inventory::ProductView;

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        Self {
            sku: p.sku.as_str().to_owned(),
            name: p.name,
            price_cents: p.price_cents,
            currency: p.currency,
            stock: p.stock,
        }
    }
}

/// One requested line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemRequest {
    /// Not blank, no leading or trailing whitespace, no control characters.
    #[schema(
        example = "KB-001",
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub sku: String,
    /// 1 to 100000. Lines with the same SKU are added together.
    #[schema(example = 2, minimum = 1, maximum = 100000)]
    #[serde(deserialize_with = "sample_views::wire::integer")]
    pub quantity: i64,
}

/// `POST /reservations`: reserve stock for an order, all lines or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "order_id": "5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10",
    "items": [{"sku": "KB-001", "quantity": 2}]
}))]
pub struct CreateReservation {
    /// The order; a reservation is unique per order; never the nil UUID.
    #[schema(pattern = "^(?!00000000-0000-0000-0000-000000000000$)")]
    pub order_id: Uuid,
    /// 1 to 100 lines.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<ItemRequest>,
}

impl CreateReservation {
    /// Validates the request into the domain type.
    pub fn into_domain(self) -> Result<NewReservation, Invalid> {
        let items: Vec<(String, i64)> = self
            .items
            .into_iter()
            .map(|i| (i.sku, i.quantity))
            .collect();
        NewReservation::parse(self.order_id, &items)
    }
}

/// One reserved line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReservedItemView {
    pub sku: String,
    pub quantity: i32,
    /// Unit price when the stock was reserved.
    pub unit_price_cents: i64,
}

/// A reservation of stock for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReservationView {
    pub id: Uuid,
    pub order_id: Uuid,
    pub status: ReservationStatus,
    /// Sorted by SKU; duplicate SKUs of the request are merged.
    pub items: Vec<ReservedItemView>,
    pub total_cents: i64,
    pub created_at: DateTime<Utc>,
}

impl From<Reservation> for ReservationView {
    fn from(r: Reservation) -> Self {
        Self {
            id: r.id,
            order_id: r.order_id,
            status: r.status,
            items: r
                .items
                .into_iter()
                .map(|i| ReservedItemView {
                    sku: i.sku.as_str().to_owned(),
                    quantity: i.quantity,
                    unit_price_cents: i.unit_price_cents,
                })
                .collect(),
            total_cents: r.total_cents,
            created_at: r.created_at,
        }
    }
}

/// Parses the `{id}` path parameter; a value that is not a UUID is a 400 naming `id`.
pub fn parse_id(raw: &str) -> Result<Uuid, service_kit::Problem> {
    Uuid::parse_str(raw).map_err(|e| {
        service_kit::Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "validation",
            "invalid path parameter",
        )
        .field("id")
        .detail(format!("{raw:?} is not a UUID: {e}"))
    })
}
