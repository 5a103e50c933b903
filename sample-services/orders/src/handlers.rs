//! The HTTP controllers.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use service_kit::{Json, Path, Problem, Query};
use uuid::Uuid;

use crate::{
    AppState, creation,
    model::{IdempotencyKey, NewOrder},
    view::{CreateOrderRequest, ListQuery, OrderView},
};

/// The header carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Place an order. It is stored as `PENDING` and queued; the worker reserves the stock,
/// authorises the payment and confirms or rejects it.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    request_body = CreateOrderRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes retries safe: the same key with the same body answers the same order"),
    ),
    responses(
        (status = 202, description = "Accepted (or the order created earlier with this key)", body = OrderView,
            headers(("Location" = String, description = "/orders/{id}"))),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule (`validation`), or the key was used for another body (`idempotency_key_reused`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The order store is not available", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CreateOrderRequest>,
) -> Result<Response, Problem> {
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| Problem::invalid("Idempotency-Key", "must be visible ASCII"))?;
            Some(IdempotencyKey::parse(text)?)
        }
    };
    let items: Vec<(String, i64)> = body
        .items
        .into_iter()
        .map(|i| (i.sku, i.quantity))
        .collect();
    let new = NewOrder::parse(&body.customer_id, &items)?;
    let accepted =
        creation::accept(state.orders.as_ref(), state.publisher.as_ref(), new, key).await?;
    let order = accepted.order();
    let location = HeaderValue::from_str(&format!("/orders/{}", order.id))
        .map_err(|e| Problem::internal(&e))?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(OrderView::from(order)),
    )
        .into_response())
}

/// One order.
#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The order store is not available", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<OrderView>, Problem> {
    // Parsed here rather than by the extractor so the problem names `id`.
    let id: Uuid = raw.parse().map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "validation",
            "invalid path parameter",
        )
        .field("id")
        .detail(format!("{raw:?} is not a UUID: {e}"))
    })?;
    match state.orders.get(id).await? {
        Some(order) => Ok(Json(OrderView::from(&order))),
        None => Err(Problem::not_found(format!("order {id} does not exist"))),
    }
}

/// A customer's orders, newest first.
#[utoipa::path(
    get,
    path = "/orders",
    tag = "orders",
    params(ListQuery),
    responses(
        (status = 200, description = "The customer's orders, newest first", body = Vec<OrderView>),
        (status = 400, description = "`customer` is missing, blank or has control characters", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The order store is not available", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_orders(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<OrderView>>, Problem> {
    let customer = query
        .customer
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "validation",
                "invalid query parameter",
            )
            .field("customer")
            .detail("the query parameter `customer` is required: GET /orders?customer=ID")
        })?;
    // Refused at creation, as the document says (PostgreSQL cannot store NUL anyway).
    if customer.chars().any(char::is_control) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "validation",
            "invalid query parameter",
        )
        .field("customer")
        .detail("the query parameter `customer` must not contain control characters"));
    }
    let orders = state.orders.list_by_customer(&customer).await?;
    Ok(Json(orders.iter().map(OrderView::from).collect()))
}
