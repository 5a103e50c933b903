//! The HTTP controllers. Every route serves one customer: the caller named by
//! `X-Customer-Id`, which the gateway sets to the bearer token's subject (a request without
//! it is a 401). Orders are placed for that customer, listed for that customer, and another
//! customer's order is a 404, exactly as if it did not exist.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use service_kit::{
    Json, Path, Problem,
    customer::Customer,
    defects::{self, Defect},
};
use uuid::Uuid;

use crate::{
    AppState, creation,
    model::{IdempotencyKey, NewOrder},
    view::{CreateOrderRequest, OrderView},
};

/// The header carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Place an order for the caller. It is stored as `PENDING` and queued; the worker reserves
/// the stock, authorises the payment and confirms or rejects it.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    security(("customer" = [])),
    request_body = CreateOrderRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes retries safe: the same key with the same body answers the same order. \
                Keys are the caller's own (another customer's equal key is another key) and expire \
                after IDEMPOTENCY_KEY_TTL_SECS (24 h by default). 1 to 200 characters, not only spaces",
            min_length = 1, max_length = 200, pattern = r"\S"),
    ),
    responses(
        (status = 202, description = "Accepted (or the order the caller created earlier with this key)", body = OrderView,
            headers(("Location" = String, description = "/orders/{id}"))),
        (status = 400, description = "Malformed request, or an invalid X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule (`validation`), or the caller used the key for another body (`idempotency_key_reused`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The order store is not available", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    customer: Customer,
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
    let new = NewOrder::parse(customer.as_str(), &items)?;
    let accepted = creation::accept(
        state.orders.as_ref(),
        state.publisher.as_ref(),
        new,
        key,
        state.idempotency_key_ttl,
    )
    .await?;
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

/// One of the caller's orders.
#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = "orders",
    security(("customer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 400, description = "The id is not a UUID, or an invalid X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order of the caller's (another customer's order is not revealed)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The order store is not available", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    customer: Customer,
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
        Some(order) if order.customer_id == customer.as_str() => Ok(Json(OrderView::from(&order))),
        // Planted defect `bola-read`: whoever asks gets the order.
        Some(order) if defects::is_on(Defect::BolaRead) => Ok(Json(OrderView::from(&order))),
        // Another customer's order answers as one that does not exist: the same status and
        // body, so its existence is not revealed.
        _ => Err(Problem::not_found(format!("order {id} does not exist"))),
    }
}

/// The caller's orders, newest first.
#[utoipa::path(
    get,
    path = "/orders",
    tag = "orders",
    security(("customer" = [])),
    responses(
        (status = 200, description = "The caller's orders, newest first", body = Vec<OrderView>),
        (status = 400, description = "An invalid X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No X-Customer-Id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The order store is not available", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_orders(
    State(state): State<AppState>,
    customer: Customer,
) -> Result<Json<Vec<OrderView>>, Problem> {
    let orders = state.orders.list_by_customer(customer.as_str()).await?;
    Ok(Json(orders.iter().map(OrderView::from).collect()))
}
