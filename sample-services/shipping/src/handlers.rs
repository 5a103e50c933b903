//! HTTP controllers: reading shipments. (Shipments are created by events, see
//! [`crate::events`].)

use axum::{extract::State, http::StatusCode};
use service_kit::{Json, Path, Problem, Query};
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

/// The shipments of an order (an empty list when it has none yet).
#[utoipa::path(
    get,
    path = "/shipments",
    tag = "shipments",
    params(("order_id" = Uuid, Query, description = "The order whose shipments to list")),
    responses(
        (status = 200, description = "The order's shipments (at most one; empty when none)", body = [ShipmentView]),
        (status = 400, description = "`order_id` missing or not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_shipments(
    State(state): State<AppState>,
    Query(query): Query<ShipmentsQuery>,
) -> Result<Json<Vec<ShipmentView>>, Problem> {
    let raw = query
        .order_id
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| bad_parameter("order_id", "the query parameter `order_id` is required"))?;
    let order_id = parse_uuid("order_id", &raw)?;
    let shipments = state.repo.by_order(order_id).await.map_err(|e| {
        tracing::error!(error = %e, "listing shipments failed");
        Problem::unavailable("the shipments database is not available")
    })?;
    Ok(Json(
        shipments.into_iter().map(ShipmentView::from).collect(),
    ))
}

/// One shipment.
#[utoipa::path(
    get,
    path = "/shipments/{id}",
    tag = "shipments",
    params(("id" = Uuid, Path, description = "The shipment id")),
    responses(
        (status = 200, description = "The shipment", body = ShipmentView),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such shipment", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_shipment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShipmentView>, Problem> {
    let id = parse_uuid("id", &id)?;
    match state.repo.get(id).await {
        Ok(Some(shipment)) => Ok(Json(shipment.into())),
        Ok(None) => Err(Problem::not_found(format!("no shipment {id}"))),
        Err(e) => {
            tracing::error!(error = %e, "reading a shipment failed");
            Err(Problem::unavailable(
                "the shipments database is not available",
            ))
        }
    }
}
