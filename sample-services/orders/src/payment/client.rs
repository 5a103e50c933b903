//! The payments client: authorise an order's amount, and void the order's payment (both
//! idempotent by order id).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::upstream::{self, SendTraced, UpstreamError};

const SERVICE: &str = "payments";

/// `POST /payments` body, and `POST /payments/void`'s (the payment as it was asked for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentRequest {
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount_cents: i64,
    pub currency: String,
}

/// A payment's state as payments reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// The amount is held.
    Authorized,
    /// Refused by a rule; nothing is held.
    Declined,
    /// Released; nothing is held, and payments will authorise nothing more for the order.
    Voided,
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

    /// Voids the payment of `request`'s order (`POST /payments/void`), whether or not
    /// orders learnt its id: afterwards no money is held for the order and payments will
    /// authorise none, even for an authorisation still on its way. Answers the order's
    /// payment as it is now: `Voided`, or `Declined` (nothing was held). Idempotent.
    async fn void(&self, request: &PaymentRequest) -> Result<Payment, UpstreamError>;
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

    /// `POST {path}` with the request as its body; a 2xx answer is the payment.
    async fn send(&self, path: &str, request: &PaymentRequest) -> Result<Payment, UpstreamError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(request)
            .send_traced(SERVICE)
            .await
            .map_err(|e| upstream::transport(SERVICE, &e))?;
        let status = response.status();
        if status.is_success() {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| upstream::transport(SERVICE, &e))?;
            return serde_json::from_slice(&bytes).map_err(|e| UpstreamError::Refused {
                service: SERVICE,
                status: status.as_u16(),
                kind: "unexpected_body".to_owned(),
                detail: e.to_string(),
            });
        }
        Err(upstream::failure(SERVICE, response).await.0)
    }
}

#[async_trait::async_trait]
impl PaymentsClient for HttpPaymentsClient {
    async fn authorize(&self, request: &PaymentRequest) -> Result<Payment, UpstreamError> {
        self.send("/payments", request).await
    }

    async fn void(&self, request: &PaymentRequest) -> Result<Payment, UpstreamError> {
        self.send("/payments/void", request).await
    }
}
