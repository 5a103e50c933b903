//! Provider states for the pact `orders-payments` (contracts/pacts/orders-payments.json).
//!
//! Every state works on a fresh order id that it hands back as `orderId` (the pact's
//! requests take it with `fromProviderState`). Payments a state needs on record are inserted
//! into payments' own database (`payments`); the check that payments applies the limit the
//! pact assumes goes through its HTTP API, since that is the running service's rule. The
//! teardown deletes every payment of the orders the set-ups handed out or used, so the
//! ledger holds afterwards exactly what it held before and verifying twice against one
//! running payments passes.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use harness_pact::{Action, HandlerError, Handlers, StateChange, StateValues};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{StackEnv, db::Database};

/// No payment is recorded for the order of the request. Values: `orderId`.
pub(crate) const NO_PAYMENT: &str = "no payment is recorded for the order";
/// payments declines amounts above `limit_cents` (param), checked against the running
/// service. Values: `orderId`, an order without a payment.
pub(crate) const DECLINES_ABOVE_LIMIT: &str = "payments declines amounts above the limit";
/// A payment with the terms of the params (`customer_id`, `amount_cents`, `currency`) is
/// recorded for an order. Values: `orderId`, that order.
pub(crate) const PAYMENT_RECORDED: &str = "a payment is recorded for the order";
/// An `AUTHORIZED` payment with the terms of the params (`customer_id`, `amount_cents`,
/// `currency`) is recorded for an order. Values: `orderId`, that order.
pub(crate) const AUTHORISED_RECORDED: &str = "an authorised payment is recorded for the order";

const STATES: [&str; 4] = [
    NO_PAYMENT,
    DECLINES_ABOVE_LIMIT,
    PAYMENT_RECORDED,
    AUTHORISED_RECORDED,
];

/// Whose payments the limit probe records.
const PROBE_CUSTOMER: &str = "pact-probe";

#[derive(Debug, Clone)]
struct Payments {
    /// The service's URL, or why it is unknown (reported when a state runs).
    url: Result<String, String>,
    database: Arc<Database>,
    http: reqwest::Client,
    /// The orders the set-ups handed out or paid, for the teardown.
    orders: Arc<Mutex<Vec<Uuid>>>,
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

    async fn db(&self) -> anyhow::Result<&PgPool> {
        self.database.pool().await
    }

    /// A fresh order id, remembered for the teardown.
    fn fresh_order(&self) -> Uuid {
        let order = Uuid::new_v4();
        self.orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(order);
        order
    }

    /// `POST /payments` for a new order; the payment it recorded (201).
    async fn pay(
        &self,
        order_id: Uuid,
        customer_id: &str,
        amount_cents: i64,
    ) -> anyhow::Result<PaymentView> {
        let url = format!("{}/payments", self.url()?);
        let response = self
            .http
            .post(&url)
            .json(&json!({
                "order_id": order_id,
                "customer_id": customer_id,
                "amount_cents": amount_cents,
                "currency": "EUR",
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

    /// An order nobody paid: its id is fresh, and the ledger is checked to have nothing
    /// for it.
    async fn no_payment(&self) -> anyhow::Result<StateValues> {
        self.url()?;
        let order = self.fresh_order();
        let known: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE order_id = $1")
            .bind(order)
            .fetch_one(self.db().await?)
            .await
            .context("reading payments' ledger")?;
        if known != 0 {
            bail!("payments already has a payment for the fresh order {order}");
        }
        Ok(order_values(order))
    }

    async fn declines_above(&self, change: &StateChange) -> anyhow::Result<StateValues> {
        let limit = change
            .params
            .get("limit_cents")
            .and_then(Value::as_i64)
            .context("the state needs the param `limit_cents` (a whole number of cents)")?;
        let at_limit = self.pay(self.fresh_order(), PROBE_CUSTOMER, limit).await?;
        let above = self
            .pay(self.fresh_order(), PROBE_CUSTOMER, limit + 1)
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
        self.no_payment().await
    }

    /// Inserts an `AUTHORIZED` payment with the params' terms for a fresh order.
    async fn recorded(&self, change: &StateChange) -> anyhow::Result<StateValues> {
        let customer = change.param("customer_id").unwrap_or("customer-42");
        let currency = change.param("currency").unwrap_or("EUR");
        let amount = change
            .params
            .get("amount_cents")
            .and_then(Value::as_i64)
            .context("the state needs the param `amount_cents` (a whole number of cents)")?;
        let order = self.fresh_order();
        sqlx::query(
            "INSERT INTO payments (id, order_id, customer_id, amount_cents, currency, status, \
             created_at) VALUES ($1, $2, $3, $4, $5, 'AUTHORIZED', now())",
        )
        .bind(Uuid::new_v4())
        .bind(order)
        .bind(customer)
        .bind(amount)
        .bind(currency)
        .execute(self.db().await?)
        .await
        .context("inserting a payment into payments' ledger")?;
        Ok(order_values(order))
    }

    /// Deletes the payments of every order the set-ups handed out (those they inserted,
    /// the limit probes, and those the pact's requests recorded).
    async fn teardown(&self) -> anyhow::Result<StateValues> {
        let orders = std::mem::take(&mut *self.orders.lock().unwrap_or_else(|e| e.into_inner()));
        if orders.is_empty() {
            return Ok(StateValues::new());
        }
        sqlx::query("DELETE FROM payments WHERE order_id = ANY($1)")
            .bind(&orders)
            .execute(self.db().await?)
            .await
            .context("deleting the payments of the state's orders")?;
        Ok(StateValues::new())
    }

    async fn change(&self, change: StateChange) -> anyhow::Result<StateValues> {
        if change.action == Action::Teardown {
            return self.teardown().await;
        }
        match change.state.as_str() {
            NO_PAYMENT => self.no_payment().await,
            DECLINES_ABOVE_LIMIT => self.declines_above(&change).await,
            PAYMENT_RECORDED | AUTHORISED_RECORDED => self.recorded(&change).await,
            other => bail!("not a state of orders-payments: {other:?}"),
        }
    }
}

fn order_values(order_id: Uuid) -> StateValues {
    let mut values = StateValues::new();
    values.insert("orderId".to_owned(), Value::String(order_id.to_string()));
    values
}

pub(crate) fn handlers(env: &StackEnv) -> Handlers {
    let payments = Payments {
        url: env
            .url("payments")
            .map(|u| u.trim_end_matches('/').to_owned())
            .map_err(|e| e.to_string()),
        database: Database::new(env, "payments"),
        http: crate::http_client(),
        orders: Arc::new(Mutex::new(Vec::new())),
    };
    let handler = move |change: StateChange| {
        let payments = payments.clone();
        async move { payments.change(change).await.map_err(HandlerError::from) }
    };
    STATES
        .into_iter()
        .fold(Handlers::new(), |h, name| h.state(name, handler.clone()))
}
