//! **payments**: authorises payments for orders and voids them (port 8082), on PostgreSQL.
//!
//! - `POST /payments` records one payment per order, authorised or declined by two rules
//!   (an amount above `PAYMENTS_LIMIT_CENTS` is `limit_exceeded`; a customer listed in
//!   `PAYMENTS_BLOCKED_CUSTOMERS` is `customer_blocked`). Idempotent by `order_id`, across
//!   restarts: the same order again answers 200 with the recorded payment, the same order
//!   with other terms a 409 `payment_mismatch`; concurrent requests for one order never
//!   record two payments.
//! - `GET /payments/{id}` reads one back.
//! - `POST /payments/{id}/void` releases an `AUTHORIZED` payment (`VOIDED`); voiding again
//!   changes nothing, and a `DECLINED` payment is left as it is (it holds nothing).
//! - `POST /payments/void` voids an order's payment for a caller that lost track of it
//!   (the authorisation timed out); when the order has none yet, it is recorded `VOIDED`,
//!   so a late authorisation of that order authorises nothing.
//!
//! The ledger is a table of the service's own PostgreSQL database (`DATABASE_URL`,
//! required; created if missing and migrated at start-up); readiness checks it.
//! `PAYMENTS_LEDGER=memory` keeps it in the process instead, forgotten on restart: for
//! Harness's own tests, which use payments as a small container.
//!
//! Layout: [`model`] (domain rules, the [`model::Ledger`] trait with PostgreSQL and
//! in-memory implementations), [`handlers`] (the controller), [`view`] (request/response
//! bodies), [`config`] (environment settings). Domain counters:
//! `payments_authorized_total`, `payments_declined_total{reason}`,
//! `payments_replayed_total`, `payments_mismatch_total`,
//! `payments_voids_total{outcome=voided|already_voided|declined|recorded_voided}`.

pub mod config;
pub mod handlers;
pub mod model;
pub mod view;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use service_kit::{Health, Problem};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    config::Config,
    model::{Ledger, Rules},
};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Where payments are recorded.
    pub ledger: Arc<dyn Ledger>,
    /// The decline rules.
    pub rules: Arc<Rules>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The given ledger with the configured rules.
    pub fn new(ledger: Arc<dyn Ledger>, config: &Config) -> Self {
        Self {
            ledger,
            rules: Arc::new(Rules {
                limit_cents: config.limit_cents,
                blocked_customers: config.blocked_customers.clone(),
            }),
        }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(Problem)),
    tags((name = "payments", description = "Payment authorisation and voids, idempotent by order"))
)]
struct ApiDoc;

/// The documented routes and the OpenAPI document generated from them.
fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::create_payment))
        .routes(routes!(handlers::get_payment))
        .routes(routes!(handlers::void_payment))
        .routes(routes!(handlers::void_order_payment))
        .split_for_parts();
    doc.info.title = "payments".to_owned();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.description = Some(env!("CARGO_PKG_DESCRIPTION").to_owned());
    (router, doc)
}

/// The service's OpenAPI document (served at `GET /openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts().1
}

/// The whole HTTP service: API routes, `/openapi.json`, health, metrics, JSON fallbacks.
pub fn app(state: AppState) -> Router {
    let (api, doc) = parts();
    let health = Health::new().with(handlers::LedgerCheck(state.ledger.clone()));
    service_kit::server::service_router(api.with_state(state), &doc, health)
}
