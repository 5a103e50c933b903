//! `/health/live` and `/health/ready`.
//!
//! Liveness answers 200 while the process serves requests: it is what the container's
//! health check (`--healthcheck`, [`crate::healthcheck`]) and a restart policy look at, and it
//! never depends on another process.
//!
//! Readiness runs every registered [`ReadinessCheck`] concurrently, each bounded by a timeout,
//! and lists each one's outcome in the body. A service is ready when what *it* needs to serve
//! is there: its **required** checks ([`Health::with`]: its database, the broker it consumes
//! from) decide, 200 when all pass (`status` `up`), 503 otherwise (`down`). **Informational**
//! checks ([`Health::with_informational`]: the services it calls per request, whose outages
//! each request handles on its own) are reported, never decide: when one fails the service
//! stays ready and says `degraded`. So a payments outage takes neither orders nor the
//! gateway (and with it the catalogue) out of rotation.

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
    checks: Vec<Registered>,
    timeout: Option<Duration>,
}

#[derive(Clone)]
struct Registered {
    check: Arc<dyn ReadinessCheck>,
    required: bool,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field(
                "checks",
                &self
                    .checks
                    .iter()
                    .map(|c| (c.check.name().to_owned(), c.required))
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
    /// Whether the check decides readiness (`false`: informational, reported only).
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

fn yes() -> bool {
    true
}

/// The body of `/health/live` and `/health/ready`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct HealthReport {
    /// `up` (every check passes), `degraded` (the required ones pass, an informational one
    /// fails: still ready) or `down` (a required check fails: not ready).
    pub status: String,
    pub checks: Vec<Check>,
}

impl HealthReport {
    /// Whether the service is ready: every required check passes.
    pub fn ready(&self) -> bool {
        self.status != "down"
    }
}

impl Health {
    /// No checks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a required check: the service is not ready while it fails.
    #[must_use]
    pub fn with(self, check: impl ReadinessCheck + 'static) -> Self {
        self.with_arc(Arc::new(check))
    }

    /// Adds a shared required check.
    #[must_use]
    pub fn with_arc(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.checks.push(Registered {
            check,
            required: true,
        });
        self
    }

    /// Adds an informational check: reported in the readiness body, never making the service
    /// not ready (a dependency called per request, whose outage each request handles).
    #[must_use]
    pub fn with_informational(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Registered {
            check: Arc::new(check),
            required: false,
        });
        self
    }

    /// Bounds each check (2 s when not set).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs all checks concurrently, each bounded by the timeout (default 2 s).
    pub async fn report(&self) -> HealthReport {
        let timeout = self.timeout.unwrap_or(Duration::from_secs(2));
        let runs = self.checks.iter().map(|c| async move {
            let outcome = match tokio::time::timeout(timeout, c.check.check()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            };
            Check {
                name: c.check.name().to_owned(),
                ok: outcome.is_ok(),
                required: c.required,
                error: outcome.err(),
            }
        });
        let checks = futures_util::future::join_all(runs).await;
        let status = if checks.iter().all(|c| c.ok) {
            "up"
        } else if checks.iter().all(|c| c.ok || !c.required) {
            "degraded"
        } else {
            "down"
        };
        HealthReport {
            status: status.to_owned(),
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
    let status = if report.ready() {
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
    async fn an_informational_check_is_reported_but_never_decides() {
        let app: Router = Health::new()
            .with(FnCheck::new("postgres", || async { Ok(()) }))
            .with_informational(FnCheck::new("payments", || async {
                Err("connection refused".to_owned())
            }))
            .router();
        let resp = app
            .clone()
            .oneshot(
                axum::http::Request::get("/health/ready")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let report: HealthReport = serde_json::from_slice(&body).unwrap();
        assert_eq!(report.status, "degraded");
        assert!(report.ready());
        assert_eq!(report.checks[0].name, "postgres");
        assert!(report.checks[0].required && report.checks[0].ok);
        assert_eq!(report.checks[1].name, "payments");
        assert!(!report.checks[1].required && !report.checks[1].ok);
        assert_eq!(
            report.checks[1].error.as_deref(),
            Some("connection refused")
        );

        // A required check failing still makes the service not ready.
        let app: Router = Health::new()
            .with(FnCheck::new("postgres", || async {
                Err("down".to_owned())
            }))
            .with_informational(FnCheck::new("payments", || async { Ok(()) }))
            .router();
        let resp = app
            .oneshot(
                axum::http::Request::get("/health/ready")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_that_hangs_fails_after_the_timeout() {
        let report = Health::new()
            .timeout(Duration::from_millis(300))
            .with(FnCheck::new(
                "stuck",
                std::future::pending::<Result<(), String>>,
            ))
            .report()
            .await;
        assert_eq!(report.status, "down");
        assert_eq!(
            report.checks[0].error.as_deref(),
            Some("no answer within 300 ms")
        );
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
