//! The orders service of the sample system.
//!
//! It takes orders (`POST /orders`, idempotent with an `Idempotency-Key` that is the
//! customer's own and expires), stores them as `PENDING` in PostgreSQL and queues them on
//! `orders.intake`. Every route serves the customer in `X-Customer-Id` (set by the gateway to
//! the token's subject) and no other: another customer's order is a 404. A worker in the same
//! process takes each order, reserves its stock in inventory, authorises its payment in
//! payments (retried with backoff behind a circuit breaker), marks it `CONFIRMED` or
//! `REJECTED` (or, when payments stays unavailable past the order's payment deadline, voids
//! its payment, releases its stock and marks it `CANCELLED`), and hands confirmed orders to
//! shipping by publishing `order.confirmed`. An
//! order that fails transiently waits in `orders.intake.retry`, a message that can never be
//! processed ends in `orders.intake.dead`, and the broker connection comes back by itself
//! (`service_kit::amqp`): orders never exits on broker loss.
//!
//! Modules by capability: [`creation`] (intake and idempotency), [`payment`] (client,
//! retries, circuit breaker), [`inventory`], [`fulfilment`] (the decision for one order),
//! [`events`] and [`broker`] (the shipping hand-off and the intake queue), [`worker`]
//! (consumer and sweeper), [`intake_depth`] (the intake queues' depths as gauges); plus
//! [`model`], [`view`], [`handlers`] and [`config`].

pub mod broker;
pub mod config;
pub mod creation;
pub mod events;
pub mod fulfilment;
pub mod handlers;
pub mod intake_depth;
pub mod inventory;
pub mod model;
pub mod payment;
pub mod upstream;
pub mod view;
pub mod worker;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use service_kit::Health;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{events::Publisher, model::OrderRepository};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub orders: Arc<dyn OrderRepository>,
    pub publisher: Arc<dyn Publisher>,
    pub health: Health,
    /// How long an idempotency key stands for its order (`IDEMPOTENCY_KEY_TTL_SECS`).
    pub idempotency_key_ttl: std::time::Duration,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::create_order, handlers::list_orders))
        .routes(routes!(handlers::get_order))
}

/// The service's OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_router().split_for_parts();
    doc.info.title = "orders".to_owned();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.contact = None;
    doc.info.license = Some(utoipa::openapi::License::new(env!("CARGO_PKG_LICENSE")));
    doc.info.description = Some(
        "Order intake (queued, idempotent), reservation, payment, hand-off to shipping. Every \
         route serves the customer named by X-Customer-Id, which the gateway sets to the bearer \
         token's subject."
            .to_owned(),
    );
    service_kit::customer::add_security_scheme(&mut doc);
    doc
}

/// The HTTP application: the API, `/openapi.json`, health and metrics.
pub fn app(state: AppState) -> Router {
    let health = state.health.clone();
    let (api, _) = api_router().split_for_parts();
    service_kit::server::service_router(api.with_state(state), &openapi(), health)
}
