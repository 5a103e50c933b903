//! shipping: turns confirmed orders into shipments.
//!
//! It consumes `order.confirmed` events (RabbitMQ exchange `orders.events`, queue
//! `shipping.order-confirmed`) and creates one `PENDING` shipment per order, with a carrier
//! chosen deterministically from the order id. Redelivered events never create a second
//! shipment (`order_id` is unique); a delivery is acked only after its insert commits;
//! malformed events go to the dead-letter queue `shipping.order-confirmed.dead` at once, and
//! events that failed on the database wait in `shipping.order-confirmed.retry` before another
//! try. It never exits on broker loss: the connection comes back by itself. It serves
//! `GET /shipments[?order_id=]` and `GET /shipments/{id}` for the gateway, to the customer
//! in `X-Customer-Id` only (another customer's shipment is a 404).
//!
//! Layers: [`model`] (domain and repository), [`events`] (event handling, broker-agnostic),
//! [`consumer`] (the RabbitMQ side: topology and the delivery handler, on
//! `service_kit::amqp`),
//! [`handlers`] (HTTP controllers), [`view`] (response bodies), [`config`].

pub mod config;
pub mod consumer;
pub mod events;
pub mod handlers;
pub mod model;
pub mod view;

use std::sync::Arc;

use axum::Router;
use service_kit::Health;
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::model::ShipmentRepository;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Where shipments are read from.
    pub repo: Arc<dyn ShipmentRepository>,
    /// The readiness checks (postgres, broker).
    pub health: Health,
}

impl AppState {
    /// State over a repository and readiness checks.
    pub fn new(repo: Arc<dyn ShipmentRepository>, health: Health) -> Self {
        Self { repo, health }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    tags((name = "shipments", description = "Shipments created from order.confirmed events")),
    components(schemas(service_kit::Problem))
)]
struct ApiDoc;

fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::list_shipments))
        .routes(routes!(handlers::get_shipment))
        .split_for_parts()
}

/// The service's OpenAPI document, generated from the route annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = routes();
    doc.info.title = "shipping".to_owned();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.description = Some(
        "Consumes order.confirmed events and creates one shipment per order; serves each \
         customer (X-Customer-Id, set by the gateway to the bearer token's subject) its own \
         shipments."
            .to_owned(),
    );
    service_kit::customer::add_security_scheme(&mut doc);
    doc
}

/// The HTTP application: the shipment routes, `/openapi.json`, health and metrics.
pub fn app(state: AppState) -> Router {
    let (router, _) = routes();
    let health = state.health.clone();
    service_kit::server::service_router(router.with_state(state), &openapi(), health)
}

#[cfg(test)]
mod tests {
    use axum::{
        body::Body,
        http::{Request, StatusCode},
    };
    use chrono::Utc;
    use http_body_util::BodyExt;
    use service_kit::{Problem, health::FnCheck};
    use tower::ServiceExt;
    use uuid::Uuid;

    use super::*;
    use crate::{
        model::{InMemoryShipmentRepository, OrderConfirmed, Shipment, tests::event_json},
        view::ShipmentView,
    };

    async fn seeded() -> (Arc<InMemoryShipmentRepository>, Shipment) {
        let repo = Arc::new(InMemoryShipmentRepository::new());
        let event = OrderConfirmed::parse(event_json(Uuid::new_v4()).as_bytes()).unwrap();
        let shipment = Shipment::for_order(&event, Utc::now());
        repo.insert_for_event(&event.event_id.to_string(), &shipment)
            .await
            .unwrap();
        (repo, shipment)
    }

    fn app_over(repo: Arc<InMemoryShipmentRepository>) -> Router {
        app(AppState::new(
            repo,
            Health::new().with(FnCheck::new("postgres", || async { Ok(()) })),
        ))
    }

    /// `GET uri` as the customer of the seeded shipment (`event_json`'s `cust-1`).
    async fn get(app: Router, uri: &str) -> (StatusCode, Vec<u8>) {
        let resp = app
            .oneshot(
                Request::get(uri)
                    .header("X-Customer-Id", "cust-1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        (
            status,
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
    }

    #[tokio::test]
    async fn get_shipment_by_id_and_by_order() {
        let (repo, shipment) = seeded().await;
        let app = app_over(repo);
        let (status, body) = get(app.clone(), &format!("/shipments/{}", shipment.id)).await;
        assert_eq!(status, StatusCode::OK);
        let view: ShipmentView = serde_json::from_slice(&body).unwrap();
        assert_eq!(view, ShipmentView::from(shipment.clone()));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], "PENDING");
        assert_eq!(json["carrier"], model::carrier_for(shipment.order_id));

        let (status, body) = get(app, &format!("/shipments?order_id={}", shipment.order_id)).await;
        assert_eq!(status, StatusCode::OK);
        let list: Vec<ShipmentView> = serde_json::from_slice(&body).unwrap();
        assert_eq!(list, vec![ShipmentView::from(shipment)]);
    }

    #[tokio::test]
    async fn an_order_without_shipment_lists_empty() {
        let (repo, _) = seeded().await;
        let (status, body) = get(
            app_over(repo),
            &format!("/shipments?order_id={}", Uuid::new_v4()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            serde_json::json!([])
        );
    }

    #[tokio::test]
    async fn a_bad_order_id_is_a_400_naming_it() {
        let app = app_over(Arc::new(InMemoryShipmentRepository::new()));
        // Blank is not a UUID either (the document says uuid; it is not "no filter").
        for uri in [
            "/shipments?order_id=nope",
            "/shipments?order_id=1",
            "/shipments?order_id=",
        ] {
            let (status, body) = get(app.clone(), uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            let problem: Problem = serde_json::from_slice(&body).unwrap();
            assert_eq!(problem.field.as_deref(), Some("order_id"), "{uri}");
        }
        // Without one, the list is all the caller's shipments.
        for uri in ["/shipments", "/shipments?other=1"] {
            let (status, _) = get(app.clone(), uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
        }
        let (status, body) = get(app, "/shipments/not-a-uuid").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.field.as_deref(), Some("id"));
    }

    #[tokio::test]
    async fn unknown_shipment_is_a_404_problem() {
        let (repo, _) = seeded().await;
        let resp = app_over(repo)
            .oneshot(
                Request::get(format!("/shipments/{}", Uuid::new_v4()))
                    .header("X-Customer-Id", "cust-1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.kind, "not_found");
    }

    #[tokio::test]
    async fn database_outage_is_a_503_not_a_500() {
        let (repo, shipment) = seeded().await;
        repo.set_unavailable(Some("down"));
        let app = app_over(repo);
        let (status, _) = get(app.clone(), &format!("/shipments/{}", shipment.id)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let (status, _) = get(app, &format!("/shipments?order_id={}", shipment.order_id)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn readiness_reports_the_broker() {
        // A broker that is not there: the connection keeps being tried, readiness says no.
        let shutdown = service_kit::server::Shutdown::new();
        let amqp = service_kit::amqp::Amqp::start(
            service_kit::amqp::AmqpSettings::new("amqp://guest:guest@127.0.0.1:1/%2f", "test"),
            consumer::topology(),
            shutdown.clone(),
        )
        .unwrap();
        let health = Health::new().with(service_kit::amqp::AmqpCheck(amqp.clone()));
        let app = app(AppState::new(
            Arc::new(InMemoryShipmentRepository::new()),
            health,
        ));
        let (status, body) = get(app, "/health/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(report["checks"][0]["name"], "rabbitmq");
        assert_eq!(report["checks"][0]["ok"], false);
        shutdown.cancel();
        amqp.close().await;
    }

    #[tokio::test]
    async fn serves_its_openapi_document() {
        let (status, body) = get(
            app_over(Arc::new(InMemoryShipmentRepository::new())),
            "/openapi.json",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let served: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(served, serde_json::to_value(openapi()).unwrap());
        assert_eq!(served["info"]["title"], "shipping");
        assert!(served["paths"]["/shipments/{id}"]["get"].is_object());
        assert!(served["paths"]["/shipments"]["get"].is_object());
    }

    #[test]
    fn openapi_contract_is_fresh() {
        service_kit::openapi::check_contract(env!("CARGO_MANIFEST_DIR"), "shipping", &openapi());
    }
}
