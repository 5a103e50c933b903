//! **inventory**: the product catalogue and stock reservations (port 8083), on PostgreSQL.
//!
//! - `GET /products`, `GET /products/{sku}`: the catalogue with current stock.
//! - `POST /reservations`: reserve stock for an order, all lines or none, in one
//!   transaction; never oversells under concurrency (conditional stock updates in SKU
//!   order). Short stock is a 409 `insufficient_stock` naming `items[i].quantity`; an
//!   unknown SKU a 422 naming `items[i].sku`. Idempotent by `order_id` (200 with the
//!   existing reservation).
//! - `GET /reservations/{id}`; `DELETE /reservations/{id}` returns the stock once and the
//!   reservation is gone (`GET` answers 410; deleting again is a 204 no-op).
//!
//! The catalogue is seeded at start-up from `fixtures/products.json` (embedded; the
//! `INVENTORY_SEED_FILE` variable names another file); existing products are left alone.
//!
//! Layout: [`model`] (domain rules, the [`model::Repository`] trait with PostgreSQL and
//! in-memory implementations, the seed), [`handlers`] (the controller), [`view`]
//! (request/response bodies), [`config`] (environment settings). Domain counters:
//! `inventory_reservations_total{outcome=created|insufficient_stock|unknown_sku|replayed}`
//! and `inventory_releases_total`.

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

use crate::model::Repository;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Products and reservations.
    pub repo: Arc<dyn Repository>,
    /// The readiness checks (PostgreSQL in production).
    pub health: Health,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(Problem)),
    tags(
        (name = "products", description = "The catalogue and its stock"),
        (name = "reservations", description = "Stock reservations, idempotent by order")
    )
)]
struct ApiDoc;

/// The documented routes and the OpenAPI document generated from them.
fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::list_products))
        .routes(routes!(handlers::get_product))
        .routes(routes!(handlers::create_reservation))
        .routes(routes!(
            handlers::get_reservation,
            handlers::release_reservation
        ))
        .split_for_parts();
    doc.info.title = "inventory".to_owned();
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
    let health = state.health.clone();
    service_kit::server::service_router(api.with_state(state), &doc, health)
}
