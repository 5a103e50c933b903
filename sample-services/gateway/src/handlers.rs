//! The controller: every `/api/...` route authenticates the caller, applies the caller's
//! rate limit, checks the route's scope, then forwards the request to its upstream and
//! relays the answer.
//!
//! Requests to orders and shipping act for the token's subject: the gateway sends it in
//! `X-Customer-Id` (a client's own `X-Customer-Id` is never forwarded), and a request that
//! names another customer (body `customer_id`, query `customer` / `customer_id`) is a 403
//! `customer_mismatch` (see [`crate::model::ownership`]).

use std::time::{Duration, Instant};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use service_kit::{
    Problem,
    defects::{self, Defect},
    tracecontext,
};

use crate::{
    AppState,
    model::{AuthFailure, Client, CustomerMismatch, Target, ownership, retry_after_secs, routing},
    upstream::{UpstreamError, UpstreamRequest},
    view,
};

/// The largest request body the gateway forwards.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `x-request-id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `idempotency-key`.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// `traceparent` (W3C Trace Context).
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate` (W3C Trace Context).
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `x-customer-id`: the customer a request to orders or shipping acts for; only the gateway
/// sets it.
pub const X_CUSTOMER_ID: HeaderName =
    HeaderName::from_static(service_kit::customer::CUSTOMER_HEADER);

/// Why the gateway answered itself instead of relaying an upstream answer.
#[derive(Debug)]
pub enum Rejection {
    Unauthenticated(AuthFailure),
    Forbidden {
        scope: &'static str,
    },
    /// The request names another customer than the token's subject.
    CustomerMismatch(CustomerMismatch),
    RateLimited {
        wait: Duration,
    },
    BodyTooLarge,
    Upstream {
        target: Target,
        error: UpstreamError,
    },
}

impl Rejection {
    /// Counts the rejection in the gateway's domain metrics.
    fn record(&self) {
        match self {
            Self::Unauthenticated(failure) => {
                metrics::counter!("gateway_auth_failures_total", "reason" => failure.reason())
                    .increment(1);
            }
            Self::Forbidden { .. } => {
                metrics::counter!("gateway_auth_failures_total", "reason" => "insufficient_scope")
                    .increment(1);
            }
            Self::CustomerMismatch(_) => {
                metrics::counter!("gateway_auth_failures_total", "reason" => "customer_mismatch")
                    .increment(1);
            }
            Self::RateLimited { .. } => {
                metrics::counter!("gateway_rate_limited_total").increment(1)
            }
            Self::BodyTooLarge => {}
            Self::Upstream { target, error } => {
                metrics::counter!(
                    "gateway_upstream_errors_total",
                    "upstream" => target.name(),
                    "kind" => error.kind()
                )
                .increment(1);
            }
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthenticated(failure) => {
                let mut response = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "authentication required",
                )
                .detail(failure.detail())
                .into_response();
                // RFC 6750 §3: no error code when the request carried no token at all.
                let challenge = match failure {
                    AuthFailure::Missing => HeaderValue::from_static("Bearer"),
                    _ => HeaderValue::from_static("Bearer error=\"invalid_token\""),
                };
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge);
                response
            }
            Self::Forbidden { scope } => {
                let mut response =
                    Problem::new(StatusCode::FORBIDDEN, "forbidden", "insufficient scope")
                        .detail(format!("this route needs the scope `{scope}`"))
                        .into_response();
                if let Ok(challenge) = HeaderValue::from_str(&format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
                )) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, challenge);
                }
                response
            }
            Self::CustomerMismatch(mismatch) => Problem::new(
                StatusCode::FORBIDDEN,
                "customer_mismatch",
                "another customer",
            )
            .field(mismatch.field.clone())
            .detail(format!(
                "`{}` names another customer than the bearer token's subject; a token acts for \
                 its subject only (leave `{}` out)",
                mismatch.field, mismatch.field
            ))
            .into_response(),
            Self::RateLimited { wait } => {
                let secs = retry_after_secs(wait);
                Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests",
                )
                .detail(format!(
                    "rate limit reached for this client; retry in {secs} s"
                ))
                .retry_after(secs)
                .into_response()
            }
            Self::BodyTooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "body too large",
            )
            .detail(format!(
                "request bodies are limited to {MAX_BODY_BYTES} bytes"
            ))
            .into_response(),
            Self::Upstream { target, error } => match error {
                UpstreamError::Timeout(after) => Problem::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    "upstream timed out",
                )
                .detail(format!(
                    "{target} gave no answer within {} ms",
                    after.as_millis()
                ))
                .into_response(),
                UpstreamError::Unreachable(_) => Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unavailable",
                    "upstream unavailable",
                )
                .detail(format!("{target} is unreachable"))
                .into_response(),
                UpstreamError::BadResponse(_) => Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    "invalid upstream response",
                )
                .detail(format!(
                    "{target} did not answer with a complete HTTP response"
                ))
                .into_response(),
            },
        }
    }
}

/// Authenticates, rate-limits, authorises, forwards and relays.
pub async fn forward(
    state: &AppState,
    target: Target,
    scope: &'static str,
    request: Request,
) -> Response {
    match try_forward(state, target, scope, request).await {
        Ok(response) => response,
        Err(rejection) => {
            rejection.record();
            rejection.into_response()
        }
    }
}

fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scope: &'static str,
) -> Result<Client, Rejection> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let client = state
        .auth
        .authenticate(authorization)
        .map_err(Rejection::Unauthenticated)?;
    // The bucket is taken before the scope check: a client hammering routes it may not
    // use is still a client hammering the gateway.
    state
        .limiter
        .check(&client.sub)
        .map_err(|wait| Rejection::RateLimited { wait })?;
    if !client.has_scope(scope) {
        return Err(Rejection::Forbidden { scope });
    }
    Ok(client)
}

async fn try_forward(
    state: &AppState,
    target: Target,
    scope: &'static str,
    request: Request,
) -> Result<Response, Rejection> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let client = authorize(state, &parts.headers, scope)?;

    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| Rejection::BodyTooLarge)?;
    // Orders and shipping serve one customer's data: the token's subject, and no other.
    let per_customer = matches!(target, Target::Orders | Target::Shipping);
    // Planted defect `bola-create`: a body that names a customer acts for that customer.
    let customer = if per_customer && defects::is_on(Defect::BolaCreate) {
        ownership::body_customer(&body).unwrap_or_else(|| client.sub.clone())
    } else {
        client.sub.clone()
    };
    let (query, body) = if per_customer {
        let query = ownership::scrub_query(parts.uri.query(), &client.sub)
            .map_err(Rejection::CustomerMismatch)?;
        let body = ownership::scrub_body(body, &customer).map_err(Rejection::CustomerMismatch)?;
        (query, body)
    } else {
        (parts.uri.query().map(str::to_owned), body)
    };
    // Handlers are only mounted on `/api/...`, so this cannot miss; stay total anyway.
    let path_and_query = routing::upstream_path(parts.uri.path(), query.as_deref())
        .unwrap_or_else(|| parts.uri.path().to_owned());

    // An allow-list: whatever else the client sent (its own X-Customer-Id among it) stays here.
    let mut headers = HeaderMap::new();
    for name in [
        header::CONTENT_TYPE,
        header::ACCEPT,
        IDEMPOTENCY_KEY,
        X_REQUEST_ID,
    ] {
        for value in parts.headers.get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    if per_customer {
        // The subject passed `customer::validate` (no control characters), so it is a valid
        // header value; a failure here would be a bug, not the client's fault.
        let value = HeaderValue::from_str(&customer)
            .map_err(|_| Rejection::Unauthenticated(AuthFailure::Malformed))?;
        headers.insert(X_CUSTOMER_ID, value);
    }
    // The request runs in its trace (`tracecontext::propagate`): the caller's, or one it
    // started. tracestate belongs to the caller's trace: forwarded only when that continues.
    if tracecontext::from_headers(&parts.headers).is_some()
        && let Some(state) = parts.headers.get(&TRACESTATE)
    {
        headers.insert(TRACESTATE, state.clone());
    }
    let outgoing = tracecontext::outgoing();
    if let Ok(value) = HeaderValue::from_str(&outgoing.to_string()) {
        headers.insert(TRACEPARENT, value);
    }

    let request_id = parts
        .headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let method = parts.method.clone();
    let result = state
        .upstream
        .send(UpstreamRequest {
            target,
            method: parts.method,
            path_and_query: path_and_query.clone(),
            headers,
            body,
        })
        .await;
    let upstream = match result {
        Ok(upstream) => upstream,
        Err(error) => {
            tracing::warn!(
                %request_id, trace_id = %outgoing.trace_id_hex(), client = %client.sub,
                upstream = %target, %method, path = %path_and_query, %error,
                "upstream call failed"
            );
            return Err(Rejection::Upstream { target, error });
        }
    };
    tracing::info!(
        %request_id, trace_id = %outgoing.trace_id_hex(), client = %client.sub,
        upstream = %target, %method, path = %path_and_query, status = upstream.status.as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "proxied"
    );

    let mut response = Response::new(Body::from(upstream.body));
    *response.status_mut() = upstream.status;
    let out = response.headers_mut();
    for name in [header::CONTENT_TYPE, header::RETRY_AFTER] {
        if let Some(value) = upstream.headers.get(&name) {
            out.insert(name, value.clone());
        }
    }
    if let Some(location) = upstream.headers.get(header::LOCATION) {
        let rewritten = location
            .to_str()
            .ok()
            .map(|l| routing::rewrite_location(l, state.upstream.base_url(target)))
            .and_then(|l| HeaderValue::from_str(&l).ok())
            .unwrap_or_else(|| location.clone());
        out.insert(header::LOCATION, rewritten);
    }
    Ok(response)
}

/// The catalogue.
#[utoipa::path(
    get, path = "/api/products", tag = "catalog",
    security(("bearer" = ["catalog:read"])),
    responses((status = 200, description = "All products, sorted by sku (inventory `GET /products`)", body = [view::ProductView]))
)]
pub async fn list_products(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, Target::Inventory, "catalog:read", request).await
}

/// One product.
#[utoipa::path(
    get, path = "/api/products/{sku}", tag = "catalog",
    security(("bearer" = ["catalog:read"])),
    params(("sku" = String, Path, description = "The product's stock-keeping unit", example = "KB-001")),
    responses(
        (status = 200, description = "The product (inventory `GET /products/{sku}`)", body = view::ProductView),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, Target::Inventory, "catalog:read", request).await
}

/// Places an order for the caller (the token's subject); it is confirmed or rejected
/// asynchronously. A body that still carries `customer_id` must name the subject (403
/// `customer_mismatch` otherwise).
#[utoipa::path(
    post, path = "/api/orders", tag = "orders",
    security(("bearer" = ["orders:write"])),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "The same key with the same body answers the same order again; keys are the caller's own and expire (24 h by default). 1 to 200 characters, not only spaces",
        min_length = 1, max_length = 200, pattern = r"\S")),
    request_body(content = view::CreateOrderRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted as PENDING (orders `POST /orders`)", body = view::OrderView,
            headers(("Location" = String, description = "`/api/orders/{id}`"))),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body exceeds 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule (named in `field`), or the caller used the Idempotency-Key with another body",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "orders cannot serve it now (its order store is unavailable): orders' answer, relayed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_order(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, Target::Orders, "orders:write", request).await
}

/// The caller's orders (the token's subject). A `customer` query parameter naming anyone
/// else is a 403 `customer_mismatch`.
#[utoipa::path(
    get, path = "/api/orders", tag = "orders",
    security(("bearer" = ["orders:read"])),
    responses(
        (status = 200, description = "The caller's orders, newest first (orders `GET /orders`)", body = [view::OrderView]),
        (status = 503, description = "orders cannot serve it now (its order store is unavailable): orders' answer, relayed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_orders(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, Target::Orders, "orders:read", request).await
}

/// One of the caller's orders.
#[utoipa::path(
    get, path = "/api/orders/{id}", tag = "orders",
    security(("bearer" = ["orders:read"])),
    params(("id" = uuid::Uuid, Path, description = "The order id")),
    responses(
        (status = 200, description = "The order (orders `GET /orders/{id}`)", body = view::OrderView),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order of the caller (another customer's order is not revealed)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "orders cannot serve it now (its order store is unavailable): orders' answer, relayed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, Target::Orders, "orders:read", request).await
}

/// The caller's shipments (the token's subject), all or one order's.
#[utoipa::path(
    get, path = "/api/shipments", tag = "shipments",
    security(("bearer" = ["shipments:read"])),
    params(("order_id" = Option<uuid::Uuid>, Query, description = "Only the shipments of this order of the caller's")),
    responses(
        (status = 200, description = "The caller's shipments, newest first (shipping `GET /shipments`); empty when none", body = [view::ShipmentView]),
        (status = 400, description = "`order_id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "shipping cannot serve it now (its database is unavailable): shipping's answer, relayed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_shipments(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, Target::Shipping, "shipments:read", request).await
}

/// One of the caller's shipments.
#[utoipa::path(
    get, path = "/api/shipments/{id}", tag = "shipments",
    security(("bearer" = ["shipments:read"])),
    params(("id" = uuid::Uuid, Path, description = "The shipment id")),
    responses(
        (status = 200, description = "The shipment (shipping `GET /shipments/{id}`)", body = view::ShipmentView),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such shipment of the caller (another customer's shipment is not revealed)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "shipping cannot serve it now (its database is unavailable): shipping's answer, relayed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_shipment(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, Target::Shipping, "shipments:read", request).await
}
