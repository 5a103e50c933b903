//! Response bodies of the HTTP API. The shipment, which the gateway forwards, is
//! `sample-views`' (one definition for shipping and the gateway).

use serde::Deserialize;

use crate::model::Shipment;

/// A shipment, created when its order was confirmed: the gateway forwards it, so it is
/// defined once, for shipping and the gateway, in `sample-views`.
pub use sample_views::shipping::ShipmentView;

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
