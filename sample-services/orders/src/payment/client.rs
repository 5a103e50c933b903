//! The payments client: authorise an order's amount (idempotent by order id).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::upstream::{self, UpstreamError};

const SERVICE: &str = "payments";

/// `POST /payments` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentRequest {
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount_cents: i64,
    pub currency: String,
}

/// A payment's outcome as payments reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Authorized,
    Declined,
}

/// A payment (the fields orders uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Payment {
    pub id: String,
    pub status: PaymentStatus,
    #[serde(default)]
    pub decline_reason: Option<String>,
}

/// What the worker needs from payments.
#[async_trait::async_trait]
pub trait PaymentsClient: Send + Sync {
    /// Authorises (or declines) the payment of an order.
    async fn authorize(&self, request: &PaymentRequest) -> Result<Payment, UpstreamError>;
}

/// The HTTP client.
#[derive(Debug, Clone)]
pub struct HttpPaymentsClient {
    http: reqwest::Client,
    base_url: String,
}

impl HttpPaymentsClient {
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl PaymentsClient for HttpPaymentsClient {
    async fn authorize(&self, request: &PaymentRequest) -> Result<Payment, UpstreamError> {
        let response = self
            .http
            .post(format!("{}/payments", self.base_url))
            .json(request)
            .send()
            .await
            .map_err(|e| upstream::transport(SERVICE, &e))?;
        if response.status().is_success() {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| upstream::transport(SERVICE, &e))?;
            return serde_json::from_slice(&bytes).map_err(|e| UpstreamError::Refused {
                service: SERVICE,
                status: 200,
                kind: "unexpected_body".to_owned(),
                detail: e.to_string(),
            });
        }
        Err(upstream::failure(SERVICE, response).await.0)
    }
}
