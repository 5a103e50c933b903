//! The controller: HTTP handlers for `/payments` (authorise, read, void by id, void by
//! order), with the business flow of each route.

use std::sync::Arc;

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
    model::{LedgerError, Payment, PaymentStatus, Recorded, Voided},
    view::{CreatePayment, PaymentView, parse_id},
};

/// The OpenAPI tag of the payment routes.
pub const TAG: &str = "payments";

fn ledger_problem(err: &LedgerError) -> Problem {
    match err {
        LedgerError::Unavailable(_) => {
            tracing::error!(error = %err, "ledger unavailable");
            Problem::unavailable(err.to_string())
        }
        LedgerError::Other(_) => Problem::internal(err),
    }
}

fn created(payment: Payment) -> Result<Response, Problem> {
    let location = HeaderValue::from_str(&format!("/payments/{}", payment.id))
        .map_err(|e| Problem::internal(&e))?;
    let mut response = (StatusCode::CREATED, Json(PaymentView::from(payment))).into_response();
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// Authorise a payment for an order.
///
/// Idempotent by `order_id`: the same order again answers 200 with the payment already
/// recorded, as it is now (a voided one stays `VOIDED`: nothing is authorised again); the
/// same order with another amount, currency or customer is a 409 `payment_mismatch`. A
/// declined payment is still recorded (201, `status` `DECLINED`).
#[utoipa::path(
    post,
    path = "/payments",
    tag = TAG,
    request_body = CreatePayment,
    responses(
        (status = 201, description = "Payment recorded (authorised or declined)", body = PaymentView,
            headers(("location" = String, description = "`/payments/{id}`"))),
        (status = 200, description = "The order already had this payment; it is returned", body = PaymentView),
        (status = 409, description = "`payment_mismatch`: the order already has a payment with other terms",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule; `field` names it",
            body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON (`Content-Type: application/json`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger's database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_payment(
    State(state): State<AppState>,
    Json(body): Json<CreatePayment>,
) -> Result<Response, Problem> {
    let request = body.into_domain().map_err(Problem::from)?;
    let candidate = Payment::decide(request, &state.rules);
    let requested = candidate.clone();
    match state.ledger.record(candidate).await {
        Ok(Recorded::Created(payment)) => {
            count_new(&payment);
            tracing::info!(
                payment_id = %payment.id,
                order_id = %payment.order_id,
                status = ?payment.status,
                reason = payment.decline_reason.map(|r| r.as_str()),
                "payment recorded"
            );
            created(payment)
        }
        Ok(Recorded::Existing(payment)) => {
            metrics::counter!("payments_replayed_total").increment(1);
            Ok((StatusCode::OK, Json(PaymentView::from(payment))).into_response())
        }
        Ok(Recorded::Mismatch(existing)) => {
            metrics::counter!("payments_mismatch_total").increment(1);
            Err(Problem::conflict(
                "payment_mismatch",
                format!(
                    "order {} already has payment {} with other terms: {}",
                    existing.order_id,
                    existing.id,
                    existing.differences(&requested)
                ),
            ))
        }
        Err(e) => Err(ledger_problem(&e)),
    }
}

fn count_new(payment: &Payment) {
    match payment.status {
        PaymentStatus::Authorized => {
            metrics::counter!("payments_authorized_total").increment(1);
        }
        PaymentStatus::Declined => {
            let reason = payment.decline_reason.map_or("unknown", |r| r.as_str());
            metrics::counter!("payments_declined_total", "reason" => reason).increment(1);
        }
        // A new payment is decided by the rules: never voided.
        PaymentStatus::Voided => {}
    }
}

/// Get one payment.
#[utoipa::path(
    get,
    path = "/payments/{id}",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The payment id")),
    responses(
        (status = 200, description = "The payment", body = PaymentView),
        (status = 404, description = "No such payment", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger's database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_payment(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Response, Problem> {
    let id = parse_id(&raw_id)?;
    match state.ledger.get(id).await {
        Ok(Some(payment)) if defects::is_on(Defect::ResponseDrift) => {
            // Planted defect `response-drift`: the optional `decline_reason` is served as
            // `declined_reason` (the document, and `POST /payments`, still say
            // `decline_reason`; an optional field missing breaks no schema).
            let mut value =
                serde_json::to_value(PaymentView::from(payment)).unwrap_or(serde_json::Value::Null);
            if let Some(fields) = value.as_object_mut()
                && let Some(reason) = fields.remove("decline_reason")
            {
                fields.insert("declined_reason".to_owned(), reason);
            }
            Ok(Json(value).into_response())
        }
        Ok(Some(payment)) => Ok(Json(PaymentView::from(payment)).into_response()),
        Ok(None) => Err(Problem::not_found(format!("no payment with id {id}"))),
        Err(e) => Err(ledger_problem(&e)),
    }
}

fn voided(outcome: &Voided) {
    let payment = outcome.payment();
    metrics::counter!("payments_voids_total", "outcome" => outcome.outcome()).increment(1);
    tracing::info!(
        payment_id = %payment.id,
        order_id = %payment.order_id,
        outcome = outcome.outcome(),
        status = payment.status.as_str(),
        "payment voided"
    );
}

/// Void a payment: release its authorisation.
///
/// An `AUTHORIZED` payment becomes `VOIDED` (with `voided_at`). Idempotent: voiding a
/// `VOIDED` payment answers 200 with it unchanged. A `DECLINED` payment holds no money, so
/// there is nothing to release: 200 with it unchanged (still `DECLINED`).
#[utoipa::path(
    post,
    path = "/payments/{id}/void",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The payment id")),
    responses(
        (status = 200, description = "The payment as it is now: `VOIDED`, or `DECLINED` unchanged", body = PaymentView),
        (status = 404, description = "No such payment", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`id` is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger's database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn void_payment(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Json<PaymentView>, Problem> {
    let id = parse_id(&raw_id)?;
    match state.ledger.void(id).await {
        Ok(Some(outcome)) => {
            voided(&outcome);
            Ok(Json(outcome.into_payment().into()))
        }
        Ok(None) => Err(Problem::not_found(format!("no payment with id {id}"))),
        Err(e) => Err(ledger_problem(&e)),
    }
}

/// Void an order's payment.
///
/// For a caller that does not know the payment's id (it gave up waiting for the
/// authorisation). The body is the payment as it was (or would have been) asked for with `POST /payments`.
/// The order's payment, whatever its terms, is voided as `POST /payments/{id}/void` does
/// (200). When the order has no payment yet, one is recorded `VOIDED` with the body's terms
/// (201): an authorisation of the order arriving afterwards then finds it and answers it
/// (200, `VOIDED`) or a 409 `payment_mismatch`, and authorises nothing. So after this call
/// no money is held for the order, now or later.
#[utoipa::path(
    post,
    path = "/payments/void",
    tag = TAG,
    request_body = CreatePayment,
    responses(
        (status = 200, description = "The order's payment as it is now: `VOIDED`, or `DECLINED` unchanged", body = PaymentView),
        (status = 201, description = "The order had no payment: one is recorded `VOIDED`", body = PaymentView,
            headers(("location" = String, description = "`/payments/{id}`"))),
        (status = 422, description = "A field breaks a rule; `field` names it",
            body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON (`Content-Type: application/json`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger's database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn void_order_payment(
    State(state): State<AppState>,
    Json(body): Json<CreatePayment>,
) -> Result<Response, Problem> {
    let request = body.into_domain().map_err(Problem::from)?;
    match state.ledger.void_order(request).await {
        Ok(outcome) => {
            voided(&outcome);
            match outcome {
                Voided::Recorded(payment) => created(payment),
                other => Ok((
                    StatusCode::OK,
                    Json(PaymentView::from(other.into_payment())),
                )
                    .into_response()),
            }
        }
        Err(e) => Err(ledger_problem(&e)),
    }
}

/// Readiness of the ledger (its database, when it has one), for `/health/ready`.
#[derive(Clone)]
pub struct LedgerCheck(pub Arc<dyn crate::model::Ledger>);

#[async_trait::async_trait]
impl service_kit::ReadinessCheck for LedgerCheck {
    fn name(&self) -> &str {
        "ledger"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}
