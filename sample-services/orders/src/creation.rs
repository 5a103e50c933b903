//! Order intake: validate, store `PENDING` under the idempotency key, and queue the order
//! for the worker.
//!
//! Idempotency: keys are the customer's own (unique per customer and key in the store), so
//! concurrent requests of one customer with one key create one order, and another
//! customer's equal key is another key: it never finds, nor reveals, this customer's order.
//! A later request of the customer with the key gets that order back when its body is the
//! same (compared in canonical form), and `422 idempotency_key_reused` when not. A key
//! stands for its order for a while only (`IDEMPOTENCY_KEY_TTL_SECS`, 24 h by default);
//! after that, a request with it is a new request.
//! If queueing fails after the insert the order stays `PENDING` and the request still
//! succeeds: the sweeper queues it again, so nothing is lost.

use axum::http::StatusCode;
use service_kit::Problem;

use crate::{
    events::Publisher,
    model::{IdempotencyClaim, IdempotencyKey, Inserted, NewOrder, Order, OrderRepository},
};

/// The result of accepting an order request.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A new order.
    New(Order),
    /// The order created earlier with the same key and body.
    Replayed(Order),
}

impl Accepted {
    pub fn order(&self) -> &Order {
        match self {
            Self::New(o) | Self::Replayed(o) => o,
        }
    }
}

/// The problem for a key reused with another body.
pub fn key_reused() -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "idempotency key reused with a different request",
    )
    .field("Idempotency-Key")
    .detail("this Idempotency-Key was already used for a different order request; use a new key")
}

/// Stores the order (or finds the one the customer made with the same key, if the key has
/// not expired) and queues a new one. A key stands for the new order for `key_ttl`.
pub async fn accept(
    orders: &dyn OrderRepository,
    publisher: &dyn Publisher,
    new: NewOrder,
    key: Option<IdempotencyKey>,
    key_ttl: std::time::Duration,
) -> Result<Accepted, Problem> {
    let fingerprint = new.fingerprint();
    let order = Order::pending(new, crate::model::now());
    let claim = match key {
        None => None,
        Some(key) => {
            let ttl = chrono::Duration::from_std(key_ttl)
                .map_err(|e| Problem::internal(&format!("idempotency key TTL: {e}")))?;
            let expires_at = order
                .created_at
                .checked_add_signed(ttl)
                .ok_or_else(|| Problem::internal(&"idempotency key TTL out of range"))?;
            Some(IdempotencyClaim { key, expires_at })
        }
    };
    let inserted = orders.insert(&order, claim.as_ref(), &fingerprint).await?;
    match inserted {
        Inserted::New(order) => {
            metrics::counter!("orders_accepted_total").increment(1);
            match publisher.enqueue(order.id).await {
                Ok(()) => tracing::info!(order_id = %order.id, "order accepted and queued"),
                Err(e) => tracing::warn!(
                    order_id = %order.id, error = %e,
                    "order accepted but not queued; the sweeper will queue it"
                ),
            }
            Ok(Accepted::New(order))
        }
        Inserted::Existing { order, request } if request == fingerprint => {
            Ok(Accepted::Replayed(order))
        }
        Inserted::Existing { order, .. } => {
            tracing::info!(order_id = %order.id, "idempotency key reused with another body");
            Err(key_reused())
        }
    }
}
