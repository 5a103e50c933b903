//! Provider state and message producer for the message pact `shipping-orders`
//! (contracts/pacts/shipping-orders.json): the `order.confirmed` event.
//!
//! The state stores a confirmed order in orders' real database with orders' own repository
//! and domain code (a new order, confirmed, its event marked as published so orders' sweeper
//! never republishes it); the producer reads that order back and builds the event the way
//! orders' worker does ([`OrderConfirmed::of`]), with the exchange and routing key
//! [`orders::broker`] publishes it on as metadata. Teardown deletes the order.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use harness_pact::{
    Action, HandlerError, Handlers, Message, MessageRequest, StateChange, StateValues,
};
use orders::{
    events::{EVENTS_EXCHANGE, ORDER_CONFIRMED, order_confirmed},
    model::{Confirmation, Inserted, NewOrder, Order, OrderRepository, PgOrderRepository, now},
};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{StackEnv, db::Database};

/// A confirmed order whose `order.confirmed` event the producer builds. Values: `orderId`.
pub(crate) const ORDER_CONFIRMED_FOR_SHIPPING: &str = "an order was confirmed for shipping";
/// The message's description in the pact.
pub(crate) const ORDER_CONFIRMED_EVENT: &str = "an order.confirmed event";

#[derive(Clone)]
struct Orders {
    database: Arc<Database>,
    /// The order the state set up, for the producer and the teardown.
    order: Arc<Mutex<Option<Uuid>>>,
}

impl Orders {
    async fn pool(&self) -> anyhow::Result<&PgPool> {
        self.database.pool().await
    }

    /// orders' own repository, on its database.
    async fn repo(&self) -> anyhow::Result<PgOrderRepository> {
        Ok(PgOrderRepository::new(self.pool().await?.clone()))
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Uuid>> {
        self.order.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn setup(&self) -> anyhow::Result<StateValues> {
        let repo = self.repo().await?;
        let new = NewOrder::parse("customer-42", &[("KB-001".to_owned(), 2)])
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let request = new.fingerprint();
        let order = Order::pending(new, now());
        match repo.insert(&order, None, &request).await? {
            Inserted::New(_) => {}
            Inserted::Existing { .. } => bail!("order {} exists already", order.id),
        }
        *self.slot() = Some(order.id);
        let confirmation = Confirmation {
            total_cents: 5_000,
            reservation_id: Uuid::new_v4().to_string(),
            payment_id: Uuid::new_v4().to_string(),
            event_id: Uuid::new_v4(),
            at: now(),
        };
        repo.confirm(order.id, &confirmation).await?;
        repo.mark_event_published(order.id, now()).await?;
        let mut values = StateValues::new();
        values.insert("orderId".to_owned(), Value::String(order.id.to_string()));
        Ok(values)
    }

    async fn teardown(&self) -> anyhow::Result<StateValues> {
        let Some(id) = self.slot().take() else {
            return Ok(StateValues::new());
        };
        // The repository has no delete (orders never deletes an order): plain SQL.
        sqlx::query("DELETE FROM orders WHERE id = $1")
            .bind(id)
            .execute(self.pool().await?)
            .await
            .with_context(|| format!("deleting order {id}"))?;
        Ok(StateValues::new())
    }

    async fn change(&self, change: StateChange) -> anyhow::Result<StateValues> {
        match change.action {
            Action::Setup => self.setup().await,
            Action::Teardown => self.teardown().await,
        }
    }

    async fn produce(&self, _request: MessageRequest) -> anyhow::Result<Message> {
        let Some(id) = *self.slot() else {
            bail!(
                "no order is set up: the message needs the state {ORDER_CONFIRMED_FOR_SHIPPING:?}"
            );
        };
        let order = self
            .repo()
            .await?
            .get(id)
            .await?
            .with_context(|| format!("order {id} is not in orders' database"))?;
        let event = order_confirmed(&order)
            .with_context(|| format!("order {id} is {} without its confirmation", order.status))?;
        Ok(Message::json(&event)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_metadata("exchange", EVENTS_EXCHANGE)
            .with_metadata("routing_key", ORDER_CONFIRMED))
    }
}

pub(crate) fn handlers(env: &StackEnv) -> Handlers {
    let orders = Orders {
        database: Database::new(env, "orders"),
        order: Arc::new(Mutex::new(None)),
    };
    let state = {
        let orders = orders.clone();
        move |change: StateChange| {
            let orders = orders.clone();
            async move { orders.change(change).await.map_err(HandlerError::from) }
        }
    };
    let producer = move |request: MessageRequest| {
        let orders = orders.clone();
        async move { orders.produce(request).await.map_err(HandlerError::from) }
    };
    Handlers::new()
        .state(ORDER_CONFIRMED_FOR_SHIPPING, state)
        .message(ORDER_CONFIRMED_EVENT, producer)
}
