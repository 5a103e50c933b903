//! The controller: HTTP handlers for `/products` and `/reservations`.

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use service_kit::{
    Json, Path, Problem,
    defects::{self, Defect},
};

use crate::{
    AppState,
    model::{Released, RepoError, ReservationStatus, ReserveError, Reserved},
    view::{CreateReservation, ProductView, ReservationView, parse_id},
};

/// OpenAPI tag of the product routes.
pub const PRODUCTS: &str = "products";
/// OpenAPI tag of the reservation routes.
pub const RESERVATIONS: &str = "reservations";

fn repo_problem(err: &RepoError) -> Problem {
    match err {
        RepoError::Unavailable(_) => {
            tracing::error!(error = %err, "database unavailable");
            Problem::unavailable(err.to_string())
        }
        RepoError::Other(_) => Problem::internal(err),
    }
}

fn count_reservation(outcome: &'static str) {
    metrics::counter!("inventory_reservations_total", "outcome" => outcome).increment(1);
}

/// List all products, sorted by SKU.
#[utoipa::path(
    get,
    path = "/products",
    tag = PRODUCTS,
    responses((status = 200, description = "All products, sorted by SKU", body = [ProductView]))
)]
pub async fn list_products(State(state): State<AppState>) -> Result<Response, Problem> {
    if defects::is_on(Defect::SlowRoute) {
        // Planted defect `slow-route`.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let products = state
        .repo
        .list_products()
        .await
        .map_err(|e| repo_problem(&e))?;
    let products: Vec<ProductView> = products.into_iter().map(ProductView::from).collect();
    Ok(Json(products).into_response())
}

/// Get one product.
#[utoipa::path(
    get,
    path = "/products/{sku}",
    tag = PRODUCTS,
    params(("sku" = String, Path, description = "The product's SKU, e.g. `KB-001`")),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Response, Problem> {
    // No product has a SKU that is not valid (blank, control characters...). Planted defect
    // `nul-500`: any SKU goes to PostgreSQL, which refuses a NUL byte.
    if crate::model::Sku::parse(&sku).is_err() && !defects::is_on(Defect::Nul500) {
        return Err(Problem::not_found(format!("no product with sku {sku:?}")));
    }
    match state.repo.get_product(&sku).await {
        Ok(Some(product)) => Ok(Json(ProductView::from(product)).into_response()),
        Ok(None) => Err(Problem::not_found(format!("no product with sku {sku:?}"))),
        Err(e) => Err(repo_problem(&e)),
    }
}

/// Reserve stock for an order: every line or none.
///
/// Idempotent by `order_id`: reserving again for the same order answers 200 with the
/// existing reservation (whatever its status) and takes no stock. Never oversells: stock is
/// taken with a conditional update inside one transaction.
#[utoipa::path(
    post,
    path = "/reservations",
    tag = RESERVATIONS,
    request_body = CreateReservation,
    responses(
        (status = 201, description = "Stock reserved", body = ReservationView,
            headers(("location" = String, description = "`/reservations/{id}`"))),
        (status = 200, description = "The order already has this reservation; it is returned", body = ReservationView),
        (status = 409, description = "`insufficient_stock`: a line asks for more than is in stock; `field` names its \
            `items[i].quantity`; nothing was reserved", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule, or `unknown_sku`: `field` names it (`items[i].sku`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON (`Content-Type: application/json`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_reservation(
    State(state): State<AppState>,
    Json(body): Json<CreateReservation>,
) -> Result<Response, Problem> {
    let request = body.into_domain().map_err(Problem::from)?;
    match state.repo.reserve(&request).await {
        Ok(Reserved::Created(reservation)) => {
            count_reservation("created");
            tracing::info!(
                reservation_id = %reservation.id,
                order_id = %reservation.order_id,
                lines = reservation.items.len(),
                total_cents = reservation.total_cents,
                "stock reserved"
            );
            let location = HeaderValue::from_str(&format!("/reservations/{}", reservation.id))
                .map_err(|e| Problem::internal(&e))?;
            let mut response = (
                StatusCode::CREATED,
                Json(ReservationView::from(reservation)),
            )
                .into_response();
            response.headers_mut().insert(header::LOCATION, location);
            Ok(response)
        }
        Ok(Reserved::Replayed(reservation)) => {
            count_reservation("replayed");
            Ok((StatusCode::OK, Json(ReservationView::from(reservation))).into_response())
        }
        Err(ReserveError::UnknownSku { index, sku }) => {
            count_reservation("unknown_sku");
            Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_sku",
                "unknown product",
            )
            .field(format!("items[{index}].sku"))
            .detail(format!("no product with sku {:?}", sku.as_str())))
        }
        Err(ReserveError::InsufficientStock {
            index,
            sku,
            requested,
            available,
        }) => {
            count_reservation("insufficient_stock");
            Err(Problem::conflict(
                "insufficient_stock",
                format!(
                    "insufficient stock for {sku}: requested {requested}, available {available}; \
                     nothing was reserved"
                ),
            )
            .field(format!("items[{index}].quantity")))
        }
        Err(ReserveError::Repo(e)) => Err(repo_problem(&e)),
    }
}

/// Get one reservation.
#[utoipa::path(
    get,
    path = "/reservations/{id}",
    tag = RESERVATIONS,
    params(("id" = uuid::Uuid, Path, description = "The reservation id")),
    responses(
        (status = 200, description = "The reservation, holding its stock", body = ReservationView),
        (status = 404, description = "No such reservation", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Released (`DELETE`): gone; its order's `POST /reservations` replay still shows it `RELEASED`", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_reservation(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Json<ReservationView>, Problem> {
    let id = parse_id(&raw_id)?;
    match state.repo.get_reservation(id).await {
        Ok(Some(reservation)) if reservation.status == ReservationStatus::Released => Err(
            Problem::new(StatusCode::GONE, "released", "reservation released")
                .detail(format!("reservation {id} was released")),
        ),
        Ok(Some(reservation)) => Ok(Json(reservation.into())),
        Ok(None) => Err(Problem::not_found(format!("no reservation with id {id}"))),
        Err(e) => Err(repo_problem(&e)),
    }
}

/// Release a reservation: its stock is returned and it is gone (`GET` answers 410).
/// Releasing an already released reservation is a no-op (still 204).
#[utoipa::path(
    delete,
    path = "/reservations/{id}",
    tag = RESERVATIONS,
    params(("id" = uuid::Uuid, Path, description = "The reservation id")),
    responses(
        (status = 204, description = "Released (or already released)"),
        (status = 404, description = "No such reservation", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn release_reservation(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = parse_id(&raw_id)?;
    match state.repo.release(id).await {
        Ok(Released::Released) => {
            metrics::counter!("inventory_releases_total").increment(1);
            tracing::info!(reservation_id = %id, "reservation released");
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(Released::AlreadyReleased) => Ok(StatusCode::NO_CONTENT),
        Ok(Released::NotFound) => Err(Problem::not_found(format!("no reservation with id {id}"))),
        Err(e) => Err(repo_problem(&e)),
    }
}
