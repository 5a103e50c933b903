//! Request and response bodies of the payments API (JSON, with OpenAPI schemas).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{DeclineReason, Invalid, NewPayment, Payment, PaymentStatus};

/// The payment of an order: `POST /payments` authorises it, `POST /payments/void` voids
/// it (and records it voided when the order has no payment yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "order_id": "5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10",
    "customer_id": "customer-42",
    "amount_cents": 17800,
    "currency": "EUR"
}))]
pub struct CreatePayment {
    /// The order being paid; a payment is unique per order; never the nil UUID.
    #[schema(pattern = "^(?!00000000-0000-0000-0000-000000000000$)")]
    pub order_id: Uuid,
    /// Who pays; not blank, at most 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub customer_id: String,
    /// The amount in the currency's minor unit; greater than 0.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "sample_views::wire::integer")]
    pub amount_cents: i64,
    /// Three uppercase letters, e.g. `EUR`.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

impl CreatePayment {
    /// Validates the request into the domain type.
    pub fn into_domain(self) -> Result<NewPayment, Invalid> {
        NewPayment::parse(
            self.order_id,
            &self.customer_id,
            self.amount_cents,
            &self.currency,
        )
    }
}

/// A payment: `AUTHORIZED` (the amount is held), `DECLINED` (refused by a rule, nothing
/// held) or `VOIDED` (released; nothing held, and nothing can be authorised for the order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount_cents: i64,
    pub currency: String,
    pub status: PaymentStatus,
    /// Present when `status` is `DECLINED`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decline_reason: Option<DeclineReason>,
    pub created_at: DateTime<Utc>,
    /// Present when `status` is `VOIDED`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub voided_at: Option<DateTime<Utc>>,
}

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> Self {
        Self {
            id: p.id,
            order_id: p.order_id,
            customer_id: p.customer_id.as_str().to_owned(),
            amount_cents: p.amount.get(),
            currency: p.currency.as_str().to_owned(),
            status: p.status,
            decline_reason: p.decline_reason,
            created_at: p.created_at,
            voided_at: p.voided_at,
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
