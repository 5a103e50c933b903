//! The inventory client: reserve the stock of an order (idempotent by order id) and
//! release a reservation.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    model::Item,
    upstream::{self, SendTraced, UpstreamError},
};

const SERVICE: &str = "inventory";

/// A reservation as inventory reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reservation {
    pub id: String,
    /// `ACTIVE` or `RELEASED`.
    pub status: String,
    pub total_cents: i64,
}

impl Reservation {
    /// Whether the reservation still holds stock.
    pub fn is_active(&self) -> bool {
        self.status.eq_ignore_ascii_case("ACTIVE")
    }
}

/// The answer to a reservation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Created, or the existing reservation of this order.
    Reserved(Reservation),
    /// 409: not enough stock (detail names the sku).
    OutOfStock(String),
    /// 422 on a sku: inventory does not know it.
    UnknownSku(String),
}

/// What the worker needs from inventory.
#[async_trait::async_trait]
pub trait InventoryClient: Send + Sync {
    /// `POST /reservations`, idempotent by order id.
    async fn reserve(
        &self,
        order_id: Uuid,
        items: &[Item],
    ) -> Result<ReserveOutcome, UpstreamError>;
    /// `DELETE /reservations/{id}`; releasing twice, or an unknown id, is fine.
    async fn release(&self, reservation_id: &str) -> Result<(), UpstreamError>;
}

/// The HTTP client.
#[derive(Debug, Clone)]
pub struct HttpInventoryClient {
    http: reqwest::Client,
    base_url: String,
}

impl HttpInventoryClient {
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }
}

#[derive(Serialize)]
struct ReserveBody<'a> {
    order_id: Uuid,
    items: &'a [Item],
}

#[async_trait::async_trait]
impl InventoryClient for HttpInventoryClient {
    async fn reserve(
        &self,
        order_id: Uuid,
        items: &[Item],
    ) -> Result<ReserveOutcome, UpstreamError> {
        let response = self
            .http
            .post(format!("{}/reservations", self.base_url))
            .json(&ReserveBody { order_id, items })
            .send_traced(SERVICE)
            .await
            .map_err(|e| upstream::transport(SERVICE, &e))?;
        let status = response.status();
        if status.is_success() {
            let reservation: Reservation = response
                .json()
                .await
                .map_err(|e| upstream::transport(SERVICE, &e))?;
            return Ok(ReserveOutcome::Reserved(reservation));
        }
        let (error, problem) = upstream::failure(SERVICE, response).await;
        match status.as_u16() {
            409 => Ok(ReserveOutcome::OutOfStock(
                problem.detail.unwrap_or(problem.kind),
            )),
            422 if problem
                .field
                .as_deref()
                .is_some_and(|f| f.ends_with(".sku")) =>
            {
                Ok(ReserveOutcome::UnknownSku(
                    problem
                        .detail
                        .unwrap_or_else(|| problem.field.unwrap_or_default()),
                ))
            }
            _ => Err(error),
        }
    }

    async fn release(&self, reservation_id: &str) -> Result<(), UpstreamError> {
        let response = self
            .http
            .delete(format!("{}/reservations/{reservation_id}", self.base_url))
            .send_traced(SERVICE)
            .await
            .map_err(|e| upstream::transport(SERVICE, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            tracing::warn!(
                reservation_id,
                "inventory does not know the reservation to release"
            );
            return Ok(());
        }
        Err(upstream::failure(SERVICE, response).await.0)
    }
}
