//! Response bodies of the HTTP API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::Shipment;

/// A shipment, created when its order was confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Shipment)]
pub struct ShipmentView {
    pub id: Uuid,
    /// The order shipped (one shipment per order).
    pub order_id: Uuid,
    pub customer_id: String,
    /// Always `PENDING` in this sample.
    #[schema(example = "PENDING")]
    pub status: String,
    /// Chosen deterministically from the order id (FNV-1a hash over DHL, UPS, FedEx, GLS).
    #[schema(example = "DHL")]
    pub carrier: String,
    pub created_at: DateTime<Utc>,
}

impl From<Shipment> for ShipmentView {
    fn from(s: Shipment) -> Self {
        Self {
            id: s.id,
            order_id: s.order_id,
            customer_id: s.customer_id,
            status: s.status.as_str().to_owned(),
            carrier: s.carrier,
            created_at: s.created_at,
        }
    }
}

/// The query of `GET /shipments`. `order_id` (optional) is read as text and validated by
/// the handler so that a malformed value is a 400 naming `order_id`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShipmentsQuery {
    pub order_id: Option<String>,
}
