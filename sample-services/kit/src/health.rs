//! `/health/live` and `/health/ready`.
//!
//! Liveness answers 200 while the process serves requests. Readiness runs every
//! registered [`ReadinessCheck`] (database, broker, upstreams) concurrently with a timeout
//! and answers 200 only when all pass, 503 otherwise, with each check's outcome in the body.

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde::Serialize;
use utoipa::ToSchema;

/// One dependency whose health decides readiness.
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// A short name shown in the readiness body, e.g. `postgres`.
    fn name(&self) -> &str;
    /// `Ok` when the dependency answers; `Err` says why not.
    async fn check(&self) -> Result<(), String>;
}

/// The set of readiness checks of a service.
#[derive(Clone, Default)]
pub struct Health {
    checks: Vec<Arc<dyn ReadinessCheck>>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field(
                "checks",
                &self
                    .checks
                    .iter()
                    .map(|c| c.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The outcome of one check, as reported by `/health/ready`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// The body of `/health/live` and `/health/ready`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct HealthReport {
    /// `up` or `down`.
    pub status: String,
    pub checks: Vec<Check>,
}

impl Health {
    /// No checks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check.
    #[must_use]
    pub fn with(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Adds a shared check.
    #[must_use]
    pub fn with_arc(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.checks.push(check);
        self
    }

    /// Runs all checks concurrently, each bounded by the timeout (default 2 s).
    pub async fn report(&self) -> HealthReport {
        let timeout = self.timeout.unwrap_or(Duration::from_secs(2));
        let runs = self.checks.iter().map(|c| async move {
            let outcome = match tokio::time::timeout(timeout, c.check()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            };
            Check {
                name: c.name().to_owned(),
                ok: outcome.is_ok(),
                error: outcome.err(),
            }
        });
        let checks = futures_util::future::join_all(runs).await;
        let up = checks.iter().all(|c| c.ok);
        HealthReport {
            status: if up { "up" } else { "down" }.to_owned(),
            checks,
        }
    }

    /// The router serving `/health/live` and `/health/ready`.
    pub fn router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        Router::new()
            .route("/health/live", get(live))
            .route("/health/ready", get(ready))
            .with_state(Arc::new(self))
    }
}

async fn live() -> impl IntoResponse {
    axum::Json(HealthReport {
        status: "up".to_owned(),
        checks: Vec::new(),
    })
}

async fn ready(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let report = health.report().await;
    let status = if report.status == "up" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report))
}

/// A readiness check that runs `SELECT 1` on a PostgreSQL pool.
#[derive(Debug, Clone)]
pub struct PostgresCheck(pub sqlx::PgPool);

#[async_trait::async_trait]
impl ReadinessCheck for PostgresCheck {
    fn name(&self) -> &str {
        "postgres"
    }
    async fn check(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// A readiness check built from a closure-like async function.
pub struct FnCheck<F> {
    name: String,
    f: F,
}

impl<F> FnCheck<F> {
    /// Names the check.
    pub fn new(name: impl Into<String>, f: F) -> Self {
        Self {
            name: name.into(),
            f,
        }
    }
}

#[async_trait::async_trait]
impl<F, Fut> ReadinessCheck for FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    fn name(&self) -> &str {
        &self.name
    }
    async fn check(&self) -> Result<(), String> {
        (self.f)().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn ready_is_503_when_a_check_fails() {
        let health = Health::new()
            .with(FnCheck::new("db", || async { Ok(()) }))
            .with(FnCheck::new("broker", || async {
                Err("refused".to_owned())
            }));
        let app: Router = health.router();
        let resp = app
            .clone()
            .oneshot(
                axum::http::Request::get("/health/ready")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let report: HealthReport = serde_json::from_slice(&body).unwrap();
        assert_eq!(report.status, "down");
        assert_eq!(report.checks[1].error.as_deref(), Some("refused"));
        let resp = app
            .oneshot(
                axum::http::Request::get("/health/live")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn ready_is_200_when_all_pass() {
        let app: Router = Health::new()
            .with(FnCheck::new("db", || async { Ok(()) }))
            .router();
        let resp = app
            .oneshot(
                axum::http::Request::get("/health/ready")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}
