//! **payments**: authorises payments for orders (port 8082).
//!
//! `POST /payments` records one payment per order, authorised or declined by two rules
//! (an amount above `PAYMENTS_LIMIT_CENTS` is `limit_exceeded`; a customer listed in
//! `PAYMENTS_BLOCKED_CUSTOMERS` is `customer_blocked`). Requests are idempotent by
//! `order_id`: the same order again answers 200 with the recorded payment, the same order
//! with other terms a 409 `payment_mismatch`; concurrent requests for one order never record
//! two payments. `GET /payments/{id}` reads one back.
//!
//! The ledger is **in memory** ([`model::InMemoryLedger`]): restarting payments forgets
//! every payment. That is fine for a sample; readiness therefore depends on nothing external.
//!
//! Layout: [`model`] (domain rules and the [`model::Ledger`] trait), [`handlers`] (the
//! controller), [`view`] (request/response bodies), [`config`] (environment settings).
//! Domain counters: `payments_authorized_total`, `payments_declined_total{reason}`,
//! `payments_replayed_total`, `payments_mismatch_total`.

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
    model::{InMemoryLedger, Ledger, Rules},
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
    /// A fresh in-memory ledger with the configured rules.
    pub fn from_config(config: &Config) -> Self {
        Self {
            ledger: Arc::new(InMemoryLedger::new()),
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
    tags((name = "payments", description = "Payment authorisation, idempotent by order"))
)]
struct ApiDoc;

/// The documented routes and the OpenAPI document generated from them.
fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::create_payment))
        .routes(routes!(handlers::get_payment))
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
