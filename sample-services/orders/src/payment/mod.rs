//! Payments as the worker sees it: authorising an order's payment and voiding it, each
//! through the payments client, retried with exponential backoff behind a hand-written
//! circuit breaker.
//!
//! An attempt that finds payments unavailable (unreachable, no answer in time, 5xx) counts
//! as a breaker failure and is retried up to `max_retries` times, the delay doubling from
//! `backoff`. A refused call (open circuit) is not retried. Either way the outcome is
//! `Unavailable`: nothing is known of the payment (an authorisation that timed out may have
//! been recorded), so the worker keeps the order `PENDING` and tries again later, and once
//! it gives up voids the order's payment before anything else
//! ([`crate::fulfilment`]). Declines and other definite answers count as successes for the
//! breaker (payments is up) and are never retried.

pub mod breaker;
pub mod client;

use std::{sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};

pub use breaker::{BreakerState, CircuitBreaker, Clock, ManualClock, SystemClock};
pub use client::{HttpPaymentsClient, Payment, PaymentRequest, PaymentStatus, PaymentsClient};

use crate::upstream::UpstreamError;

/// The outcome of authorising an order's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    Authorized {
        payment_id: String,
    },
    Declined {
        payment_id: String,
        reason: String,
    },
    /// Payments refused the request itself (e.g. 409 `payment_mismatch`).
    Refused {
        kind: String,
    },
    /// Unavailable after the retries, or the circuit is open. The outcome of an attempt
    /// that got no answer is unknown: an authorisation may exist.
    Unavailable,
}

/// The outcome of voiding an order's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoidOutcome {
    /// No money is held for the order and payments will authorise none: its payment is
    /// `VOIDED` (now, earlier, or recorded voided because there was none yet), or it was
    /// `DECLINED` (it never held any).
    Released { payment_id: String },
    /// Unavailable after the retries, or the circuit is open: the void may not have
    /// happened.
    Unavailable,
    /// Payments answered, but not with a released payment (it refused the request, or
    /// answered the payment still `AUTHORIZED`): the money may still be held.
    NotReleased(String),
}

#[derive(Debug)]
enum Attempt {
    Failed(String),
    CircuitOpen(Duration),
    Refused(String),
}

/// Payments behind retries and the circuit breaker; shared by all workers.
pub struct PaymentGateway {
    client: Arc<dyn PaymentsClient>,
    breaker: Arc<CircuitBreaker>,
    max_retries: usize,
    backoff: Duration,
}

impl std::fmt::Debug for PaymentGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentGateway")
            .field("breaker", &self.breaker)
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl PaymentGateway {
    pub fn new(
        client: Arc<dyn PaymentsClient>,
        breaker: Arc<CircuitBreaker>,
        max_retries: usize,
        backoff: Duration,
    ) -> Self {
        Self {
            client,
            breaker,
            max_retries,
            backoff,
        }
    }

    /// The breaker (to observe its state).
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Authorises the payment, retrying while payments is unavailable.
    pub async fn authorize(&self, request: &PaymentRequest) -> PaymentOutcome {
        let result = self
            .call("authorisation", request, || self.client.authorize(request))
            .await;
        match result {
            Ok(Payment {
                id,
                status: PaymentStatus::Authorized,
                ..
            }) => PaymentOutcome::Authorized { payment_id: id },
            Ok(Payment {
                id,
                status: PaymentStatus::Declined,
                decline_reason,
            }) => PaymentOutcome::Declined {
                payment_id: id,
                reason: decline_reason.unwrap_or_else(|| "declined".to_owned()),
            },
            // The order's payment was voided (orders gave up on it earlier): nothing is
            // authorised for it any more.
            Ok(Payment {
                status: PaymentStatus::Voided,
                ..
            }) => PaymentOutcome::Refused {
                kind: "payment_voided".to_owned(),
            },
            Err(Attempt::Refused(kind)) => PaymentOutcome::Refused { kind },
            Err(Attempt::Failed(_) | Attempt::CircuitOpen(_)) => PaymentOutcome::Unavailable,
        }
    }

    /// Voids the order's payment, whether or not one was authorised (`POST /payments/void`
    /// by order id: idempotent, and it covers an authorisation whose answer was lost),
    /// retrying while payments is unavailable.
    pub async fn void(&self, request: &PaymentRequest) -> VoidOutcome {
        let result = self
            .call("void", request, || self.client.void(request))
            .await;
        match result {
            Ok(Payment {
                id,
                status: PaymentStatus::Voided | PaymentStatus::Declined,
                ..
            }) => {
                metrics::counter!("orders_payment_voids_total", "outcome" => "released")
                    .increment(1);
                VoidOutcome::Released { payment_id: id }
            }
            Ok(Payment {
                id,
                status: PaymentStatus::Authorized,
                ..
            }) => {
                metrics::counter!("orders_payment_voids_total", "outcome" => "not_released")
                    .increment(1);
                VoidOutcome::NotReleased(format!(
                    "payments answered the void with payment {id} still AUTHORIZED"
                ))
            }
            Err(Attempt::Refused(kind)) => {
                metrics::counter!("orders_payment_voids_total", "outcome" => "not_released")
                    .increment(1);
                VoidOutcome::NotReleased(format!("payments refused the void: {kind}"))
            }
            Err(Attempt::Failed(_) | Attempt::CircuitOpen(_)) => {
                metrics::counter!("orders_payment_voids_total", "outcome" => "unavailable")
                    .increment(1);
                VoidOutcome::Unavailable
            }
        }
    }

    /// One call to payments (`what` names it in logs) through the breaker, retried with
    /// backoff while payments is unavailable.
    async fn call<F, Fut>(
        &self,
        what: &'static str,
        request: &PaymentRequest,
        send: F,
    ) -> Result<Payment, Attempt>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Payment, UpstreamError>>,
    {
        let attempt = || async {
            let permit = self
                .breaker
                .acquire()
                .map_err(|r| Attempt::CircuitOpen(r.retry_after))?;
            match send().await {
                Ok(payment) => {
                    permit.success();
                    Ok(payment)
                }
                Err(UpstreamError::Unavailable { detail, .. }) => {
                    permit.failure();
                    Err(Attempt::Failed(detail))
                }
                Err(UpstreamError::Refused { kind, .. }) => {
                    permit.success();
                    Err(Attempt::Refused(kind))
                }
            }
        };
        let policy = ExponentialBuilder::default()
            .with_min_delay(self.backoff)
            .with_factor(2.0)
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(self.max_retries);
        let result = attempt
            .retry(policy)
            .when(|e| matches!(e, Attempt::Failed(_)))
            .notify(|e, delay| {
                metrics::counter!("orders_payment_retries_total").increment(1);
                tracing::warn!(order_id = %request.order_id, call = what, error = ?e, ?delay, "payment call failed, retrying");
            })
            .await;
        match &result {
            Err(Attempt::Failed(detail)) => {
                tracing::warn!(order_id = %request.order_id, call = what, %detail, "payments unavailable after retries");
            }
            Err(Attempt::CircuitOpen(retry_after)) => {
                tracing::warn!(order_id = %request.order_id, call = what, ?retry_after, "payments circuit open");
            }
            _ => {}
        }
        result
    }
}
