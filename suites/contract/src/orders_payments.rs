//! Provider states for the pact `orders-payments` (contracts/pacts/orders-payments.json).
//!
//! payments keeps its ledger in memory and has no database, so every state is set up
//! through its HTTP API, always for a fresh order id that the state hands back as
//! `orderId` (the pact's requests take it with `fromProviderState`): verifying twice
//! against one running payments passes. payments cannot forget a payment, so teardown has
//! nothing to undo; the fresh order ids keep runs apart.

use anyhow::{Context, bail};
use harness_pact::{Action, HandlerError, Handlers, StateChange, StateValues};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::StackEnv;

/// No payment is recorded for the order of the request. Values: `orderId`.
pub(crate) const NO_PAYMENT: &str = "no payment is recorded for the order";
/// payments declines amounts above `limit_cents` (param), checked against the running
/// service. Values: `orderId`, an order without a payment.
pub(crate) const DECLINES_ABOVE_LIMIT: &str = "payments declines amounts above the limit";
/// A payment with the terms of the params (`customer_id`, `amount_cents`, `currency`) is
/// recorded for an order. Values: `orderId`, that order.
pub(crate) const PAYMENT_RECORDED: &str = "a payment is recorded for the order";

#[derive(Debug, Clone)]
struct Payments {
    /// The service's URL, or why it is unknown (reported when a state runs).
    url: Result<String, String>,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct PaymentView {
    status: String,
    #[serde(default)]
    decline_reason: Option<String>,
}

impl Payments {
    fn url(&self) -> anyhow::Result<&str> {
        self.url.as_deref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// `POST /payments`; answers the status code and the payment (on 2xx).
    async fn pay(
        &self,
        order_id: Uuid,
        customer_id: &str,
        amount_cents: i64,
        currency: &str,
    ) -> anyhow::Result<PaymentView> {
        let url = format!("{}/payments", self.url()?);
        let response = self
            .http
            .post(&url)
            .json(&json!({
                "order_id": order_id,
                "customer_id": customer_id,
                "amount_cents": amount_cents,
                "currency": currency,
            }))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::CREATED {
            bail!(
                "POST {url} for a new order answered {status}: {}",
                body.trim()
            );
        }
        serde_json::from_str(&body).with_context(|| format!("POST {url} answered {body:?}"))
    }

    async fn no_payment(&self) -> anyhow::Result<StateValues> {
        // A fresh order id has no payment; the URL is checked now rather than at the request.
        self.url()?;
        Ok(order_values(Uuid::new_v4()))
    }

    async fn declines_above(&self, change: &StateChange) -> anyhow::Result<StateValues> {
        let limit = change
            .params
            .get("limit_cents")
            .and_then(Value::as_i64)
            .context("the state needs the param `limit_cents` (a whole number of cents)")?;
        let at_limit = self.pay(Uuid::new_v4(), "pact-probe", limit, "EUR").await?;
        let above = self
            .pay(Uuid::new_v4(), "pact-probe", limit + 1, "EUR")
            .await?;
        if at_limit.status != "AUTHORIZED"
            || above.status != "DECLINED"
            || above.decline_reason.as_deref() != Some("limit_exceeded")
        {
            bail!(
                "payments does not use the limit {limit} cents (PAYMENTS_LIMIT_CENTS): {limit} cents \
                 was {at_limit:?}, {} cents was {above:?}",
                limit + 1
            );
        }
        Ok(order_values(Uuid::new_v4()))
    }

    async fn recorded(&self, change: &StateChange) -> anyhow::Result<StateValues> {
        let customer = change.param("customer_id").unwrap_or("customer-42");
        let currency = change.param("currency").unwrap_or("EUR");
        let amount = change
            .params
            .get("amount_cents")
            .and_then(Value::as_i64)
            .context("the state needs the param `amount_cents` (a whole number of cents)")?;
        let order_id = Uuid::new_v4();
        self.pay(order_id, customer, amount, currency).await?;
        Ok(order_values(order_id))
    }
}

fn order_values(order_id: Uuid) -> StateValues {
    let mut values = StateValues::new();
    values.insert("orderId".to_owned(), Value::String(order_id.to_string()));
    values
}

impl Payments {
    async fn change(&self, change: StateChange) -> anyhow::Result<StateValues> {
        if change.action == Action::Teardown {
            return Ok(StateValues::new());
        }
        match change.state.as_str() {
            NO_PAYMENT => self.no_payment().await,
            DECLINES_ABOVE_LIMIT => self.declines_above(&change).await,
            PAYMENT_RECORDED => self.recorded(&change).await,
            other => bail!("not a state of orders-payments: {other:?}"),
        }
    }
}

pub(crate) fn handlers(env: &StackEnv) -> Handlers {
    let payments = Payments {
        url: env
            .url("payments")
            .map(|u| u.trim_end_matches('/').to_owned())
            .map_err(|e| e.to_string()),
        http: crate::http_client(),
    };
    let handler = move |change: StateChange| {
        let payments = payments.clone();
        async move { payments.change(change).await.map_err(HandlerError::from) }
    };
    [NO_PAYMENT, DECLINES_ABOVE_LIMIT, PAYMENT_RECORDED]
        .into_iter()
        .fold(Handlers::new(), |h, name| h.state(name, handler.clone()))
}
