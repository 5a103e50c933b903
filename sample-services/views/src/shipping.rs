//! What shipping serves through the gateway: shipments (`GET /shipments`,
//! `GET /shipments/{id}`; `/api/shipments...` at the gateway).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
