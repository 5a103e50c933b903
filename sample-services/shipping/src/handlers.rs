//! HTTP controllers: reading shipments. (Shipments are created by events, see
//! [`crate::events`].) Every route serves the customer named by `X-Customer-Id`, which the
//! gateway sets to the bearer token's subject (a request without it is a 401): the list is
//! that customer's shipments, and another customer's shipment is a 404, exactly as if it did
//! not exist.

use axum::{extract::State, http::StatusCode};
use service_kit::{Json, Path, Problem, Query, customer::Customer};
use uuid::Uuid;

use crate::{
    AppState,
    view::{ShipmentView, ShipmentsQuery},
};

fn bad_parameter(field: &str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "validation", "invalid parameter")
        .field(field)
        .detail(detail)
}

fn parse_uuid(field: &str, value: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(value.trim())
        .map_err(|e| bad_parameter(field, format!("`{value}` is not a UUID: {e}")))
}

/// The caller's shipments, newest first: all of them, or those of one order (an empty list
/// when it has none yet, or is not the caller's).
#[utoipa::path(
    get,
    path = "/shipments",
    tag = "shipments",
    security(("customer" = [])),
    params(("order_id" = Option<Uuid>, Query, description = "Only the shipments of this order (at most one)")),
    responses(
        (status = 200, description = "The caller's shipments, newest first (empty when none)", body = [ShipmentView]),
        (status = 400, description = "`order_id` is not a UUID, or an invalid X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_shipments(
    State(state): State<AppState>,
    customer: Customer,
    Query(query): Query<ShipmentsQuery>,
) -> Result<Json<Vec<ShipmentView>>, Problem> {
    // An empty `order_id=` is not a UUID: a 400, not "no filter" (the document says uuid).
    let order_id = match query.order_id {
        Some(raw) => Some(parse_uuid("order_id", &raw)?),
        None => None,
    };
    let shipments = state
        .repo
        .of_customer(customer.as_str(), order_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "listing shipments failed");
            Problem::unavailable("the shipments database is not available")
        })?;
    Ok(Json(
        shipments.into_iter().map(ShipmentView::from).collect(),
    ))
}

/// One of the caller's shipments.
#[utoipa::path(
    get,
    path = "/shipments/{id}",
    tag = "shipments",
    security(("customer" = [])),
    params(("id" = Uuid, Path, description = "The shipment id")),
    responses(
        (status = 200, description = "The shipment", body = ShipmentView),
        (status = 400, description = "`id` is not a UUID, or an invalid X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such shipment of the caller's (another customer's shipment is not revealed)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_shipment(
    State(state): State<AppState>,
    customer: Customer,
    Path(id): Path<String>,
) -> Result<Json<ShipmentView>, Problem> {
    let id = parse_uuid("id", &id)?;
    match state.repo.get(id).await {
        Ok(Some(shipment)) if shipment.customer_id == customer.as_str() => {
            Ok(Json(shipment.into()))
        }
        // Another customer's shipment answers as one that does not exist.
        Ok(_) => Err(Problem::not_found(format!("no shipment {id}"))),
        Err(e) => {
            tracing::error!(error = %e, "reading a shipment failed");
            Err(Problem::unavailable(
                "the shipments database is not available",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    //! The customer rules of the routes, against the in-memory repository.

    use std::sync::Arc;

    use axum::{
        Router,
        body::Body,
        http::{Request, StatusCode},
    };
    use chrono::{Duration, Utc};
    use http_body_util::BodyExt;
    use service_kit::Health;
    use tower::ServiceExt;
    use uuid::Uuid;

    use crate::{
        AppState, app,
        model::{InMemoryShipmentRepository, Shipment, ShipmentRepository, ShipmentStatus},
    };

    fn shipment(customer: &str, age_secs: i64) -> Shipment {
        let order_id = Uuid::new_v4();
        Shipment {
            id: Uuid::new_v4(),
            order_id,
            customer_id: customer.to_owned(),
            status: ShipmentStatus::Pending,
            carrier: crate::model::carrier_for(order_id).to_owned(),
            created_at: Utc::now() - Duration::seconds(age_secs),
        }
    }

    async fn stored(shipments: &[&Shipment]) -> Router {
        let repo = Arc::new(InMemoryShipmentRepository::new());
        for s in shipments {
            repo.insert_for_event(&Uuid::new_v4().to_string(), s)
                .await
                .unwrap();
        }
        app(AppState::new(repo, Health::new()))
    }

    async fn get(
        app: &Router,
        uri: &str,
        customer: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let mut request = Request::get(uri);
        if let Some(customer) = customer {
            request = request.header("X-Customer-Id", customer);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    fn ids(list: &serde_json::Value) -> Vec<&str> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn without_x_customer_id_every_route_is_401() {
        let alices = shipment("alice", 0);
        let app = stored(&[&alices]).await;
        for uri in [
            "/shipments".to_owned(),
            format!("/shipments?order_id={}", alices.order_id),
            format!("/shipments/{}", alices.id),
        ] {
            let (status, body) = get(&app, &uri, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
            assert_eq!(body["type"], "unauthorized");
            let (status, _) = get(&app, &uri, Some(" ")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} with a blank id");
        }
    }

    #[tokio::test]
    async fn lists_are_the_callers_own_newest_first() {
        let older = shipment("alice", 60);
        let newer = shipment("alice", 1);
        let bobs = shipment("bob", 30);
        let app = stored(&[&older, &bobs, &newer]).await;
        let (status, list) = get(&app, "/shipments", Some("alice")).await;
        assert_eq!(status, StatusCode::OK);
        let (newer_id, older_id) = (newer.id.to_string(), older.id.to_string());
        assert_eq!(ids(&list), [newer_id.as_str(), older_id.as_str()]);
        let (_, list) = get(&app, "/shipments", Some("bob")).await;
        assert_eq!(ids(&list), [bobs.id.to_string().as_str()]);
        // One order's: the caller's own only; another customer's order lists nothing.
        let uri = format!("/shipments?order_id={}", older.order_id);
        let (_, list) = get(&app, &uri, Some("alice")).await;
        assert_eq!(ids(&list), [older_id.as_str()]);
        let (status, list) = get(&app, &uri, Some("bob")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list, serde_json::json!([]));
    }

    #[tokio::test]
    async fn another_customers_shipment_is_404_like_a_missing_one() {
        let alices = shipment("alice", 0);
        let app = stored(&[&alices]).await;
        let (status, _) = get(&app, &format!("/shipments/{}", alices.id), Some("alice")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, theirs) = get(&app, &format!("/shipments/{}", alices.id), Some("bob")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let missing = Uuid::new_v4();
        let (_, nobodys) = get(&app, &format!("/shipments/{missing}"), Some("bob")).await;
        assert_eq!(
            theirs.to_string().replace(&alices.id.to_string(), "ID"),
            nobodys.to_string().replace(&missing.to_string(), "ID"),
            "the same answer as for a shipment nobody has"
        );
    }
}
