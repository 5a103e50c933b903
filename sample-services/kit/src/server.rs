//! Serving a service: the common layers (request metrics, JSON fallbacks), the inbound request
//! timeout, binding, and graceful shutdown on SIGTERM / Ctrl-C within a deadline.
//!
//! On a signal the [`Shutdown`] token is cancelled: the HTTP server stops accepting and
//! finishes in-flight requests, and background workers (queue consumers) watch the same
//! token to stop taking new work, finish what they hold and ack nothing unfinished. The whole
//! stop is bounded by `SHUTDOWN_TIMEOUT_MS` ([`HttpSettings::shutdown_timeout`], 8 s by
//! default: inside the 10 s Docker, Kubernetes and Harness give a container between SIGTERM
//! and SIGKILL): in-flight requests and messages get [`HttpSettings::drain_timeout`] (the
//! deadline less a [`CLOSE_RESERVE`]), what is still running then is abandoned (a dropped
//! connection for a client, an unacked message the broker delivers again), and closing the
//! connections gets what is left ([`Stopping`]).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    error_handling::HandleErrorLayer,
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use tokio::{net::TcpListener, time::Instant};
pub use tokio_util::sync::CancellationToken as Shutdown;
use tower::{BoxError, ServiceBuilder, timeout::TimeoutLayer};

use crate::{
    ConfigError, Env, Health, Problem, config::Millis, http_metrics, problem, tracecontext,
};

/// `REQUEST_TIMEOUT_MS`'s default: above every upstream timeout of the sample system
/// (the gateway's 5 s, orders' 3 s), so that those answer first.
pub const DEFAULT_REQUEST_TIMEOUT: Millis = Millis::from_ms(10_000);
/// `SHUTDOWN_TIMEOUT_MS`'s default: inside the 10 s stop grace of Docker (`docker stop`),
/// Kubernetes and Harness, with 2 s to spare.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Millis = Millis::from_ms(8_000);
/// The part of the shutdown deadline kept for closing connections once the drains are over
/// (a quarter of the deadline when that is shorter).
pub const CLOSE_RESERVE: Duration = Duration::from_secs(1);

/// The HTTP settings every service has: `PORT`, `REQUEST_TIMEOUT_MS`, `SHUTDOWN_TIMEOUT_MS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// `PORT`: where the service listens (on every interface).
    pub port: u16,
    /// `REQUEST_TIMEOUT_MS` (10 000): the longest a request may take; then it is answered
    /// 503 `request_timeout` ([`with_request_timeout`]) and its handler dropped.
    pub request_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_MS` (8 000): the longest the service takes to stop after SIGTERM.
    pub shutdown_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct HttpVars {
    port: Option<u16>,
    request_timeout_ms: Option<Millis>,
    shutdown_timeout_ms: Option<Millis>,
}

impl HttpSettings {
    /// Reads `PORT` (default `default_port`), `REQUEST_TIMEOUT_MS` and `SHUTDOWN_TIMEOUT_MS`
    /// (whole milliseconds, at least 1).
    pub fn from_env(env: &Env, default_port: u16) -> Result<Self, ConfigError> {
        let vars: HttpVars = env.load()?;
        Ok(Self {
            port: vars.port.unwrap_or(default_port),
            request_timeout: vars
                .request_timeout_ms
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT)
                .get(),
            shutdown_timeout: vars
                .shutdown_timeout_ms
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT)
                .get(),
        })
    }

    /// The defaults, listening on `port`.
    pub fn new(port: u16) -> Self {
        Self {
            port,
            request_timeout: DEFAULT_REQUEST_TIMEOUT.get(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT.get(),
        }
    }

    /// How long in-flight requests and messages may take to finish once the service is
    /// stopping: the shutdown deadline less what closing connections needs
    /// ([`CLOSE_RESERVE`], or a quarter of the deadline when that is shorter).
    pub fn drain_timeout(&self) -> Duration {
        self.shutdown_timeout - self.close_reserve()
    }

    fn close_reserve(&self) -> Duration {
        CLOSE_RESERVE.min(self.shutdown_timeout / 4)
    }
}

/// The whole HTTP surface of a service: its API routes (state already applied),
/// `GET /openapi.json` serving `doc` (the same document `contracts/openapi/` holds),
/// `/health/live` and `/health/ready` from `health`, then [`with_common_layers`].
pub fn service_router(api: Router, doc: &utoipa::openapi::OpenApi, health: Health) -> Router {
    let body: Arc<str> = serde_json::to_string(doc)
        .expect("an OpenAPI document serialises")
        .into();
    let router = api
        .route(
            "/openapi.json",
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        body.to_string(),
                    )
                }
            }),
        )
        .merge(health.router());
    with_common_layers(router)
}

/// Adds `/metrics`, the request-metrics middleware, the trace context of each request
/// ([`tracecontext::propagate`]) and JSON 404/405 fallbacks to a service's router.
pub fn with_common_layers(router: Router) -> Router {
    router
        .merge(http_metrics::router())
        .fallback(problem::route_not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(middleware::from_fn(tracecontext::propagate))
        .layer(middleware::from_fn(http_metrics::track))
}

/// Bounds every request of `router` by `timeout` (tower's `TimeoutLayer`): a request that
/// has no answer by then is answered 503 with a problem of type `request_timeout` naming
/// `REQUEST_TIMEOUT_MS`, its handler is dropped (and with it its database calls, which roll
/// back), and `http_request_timeouts_total` counts it. [`serve`] adds it; tests add it to a
/// router of their own.
pub fn with_request_timeout(router: Router, timeout: Duration) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |error: BoxError| async move {
                timed_out(&error, timeout)
            }))
            .layer(TimeoutLayer::new(timeout)),
    )
}

fn timed_out(error: &BoxError, timeout: Duration) -> Response {
    if error.is::<tower::timeout::error::Elapsed>() {
        metrics::counter!("http_request_timeouts_total").increment(1);
        tracing::warn!(timeout_ms = timeout.as_millis() as u64, "request timed out");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            "request timed out",
        )
        .detail(format!(
            "no answer within REQUEST_TIMEOUT_MS ({} ms)",
            timeout.as_millis()
        ))
        .into_response()
    } else {
        // The router's services never fail (`Infallible`): only the timeout is an error here.
        Problem::internal(error).into_response()
    }
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub fn cancel_on_signal(token: Shutdown) {
    tokio::spawn(async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
            () = term => tracing::info!("SIGTERM received, shutting down"),
            () = token.cancelled() => {},
        }
        token.cancel();
    });
}

/// A service on its way out: when its stop began and its deadlines. [`serve`] returns one;
/// the rest of a service's shutdown (waiting for its workers, closing its pool and broker
/// connection) goes through [`Stopping::finish`], so the whole stop ends by
/// `SHUTDOWN_TIMEOUT_MS` after the signal.
#[derive(Debug, Clone, Copy)]
pub struct Stopping {
    began: Instant,
    settings: HttpSettings,
}

impl Stopping {
    /// The stop begins now (for a service whose server failed: nothing was drained).
    pub fn now(settings: &HttpSettings) -> Self {
        Self {
            began: Instant::now(),
            settings: *settings,
        }
    }

    /// When in-flight requests and messages must be finished.
    pub fn drain_deadline(&self) -> Instant {
        self.began + self.settings.drain_timeout()
    }

    /// When everything must be finished: `SHUTDOWN_TIMEOUT_MS` after the stop began.
    pub fn deadline(&self) -> Instant {
        self.began + self.settings.shutdown_timeout
    }

    /// Runs one step of the shutdown (`what`, e.g. "the intake worker", "closing the
    /// database pool") until [`Self::deadline`]; `None` (logged) when it did not finish.
    pub async fn finish<T>(&self, what: &str, step: impl Future<Output = T>) -> Option<T> {
        match tokio::time::timeout_at(self.deadline(), step).await {
            Ok(value) => Some(value),
            Err(_) => {
                tracing::warn!(
                    shutdown_timeout_ms = self.settings.shutdown_timeout.as_millis() as u64,
                    "{what} did not finish within SHUTDOWN_TIMEOUT_MS; abandoned"
                );
                None
            }
        }
    }
}

/// Binds `0.0.0.0:port` and serves `router` (each request bounded by the request timeout,
/// [`with_request_timeout`]) until `shutdown` is cancelled; then stops accepting and lets
/// in-flight requests finish until [`HttpSettings::drain_timeout`] has passed, abandoning
/// the rest. Returns when the stop began, for the rest of the shutdown.
pub async fn serve(
    router: Router,
    settings: &HttpSettings,
    shutdown: Shutdown,
) -> std::io::Result<Stopping> {
    let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], settings.port))).await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        request_timeout_ms = settings.request_timeout.as_millis() as u64,
        shutdown_timeout_ms = settings.shutdown_timeout.as_millis() as u64,
        "listening"
    );
    serve_on(listener, router, *settings, shutdown).await
}

/// [`serve`] on a listener already bound (tests bind port 0).
pub async fn serve_on(
    listener: TcpListener,
    router: Router,
    settings: HttpSettings,
    shutdown: Shutdown,
) -> std::io::Result<Stopping> {
    let router = with_request_timeout(router, settings.request_timeout);
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    tokio::pin!(server);
    let stopping = tokio::select! {
        served = &mut server => {
            // Only a cancelled token ends a graceful server: it drained at once.
            served?;
            Stopping::now(&settings)
        }
        () = shutdown.cancelled() => {
            let stopping = Stopping::now(&settings);
            match tokio::time::timeout_at(stopping.drain_deadline(), &mut server).await {
                Ok(served) => served?,
                Err(_) => tracing::warn!(
                    drain_timeout_ms = settings.drain_timeout().as_millis() as u64,
                    "in-flight requests did not finish in time; their connections are dropped"
                ),
            }
            stopping
        }
    };
    tracing::info!("http server stopped");
    Ok(stopping)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn settings_have_documented_defaults_and_refuse_zero() {
        let s = HttpSettings::from_env(&Env::from_pairs([("X", "")]), 8081).unwrap();
        assert_eq!(s, HttpSettings::new(8081));
        assert_eq!(s.request_timeout, Duration::from_secs(10));
        assert_eq!(s.shutdown_timeout, Duration::from_secs(8));
        assert_eq!(s.drain_timeout(), Duration::from_secs(7));
        let s = HttpSettings::from_env(
            &Env::from_pairs([
                ("PORT", "9000"),
                ("REQUEST_TIMEOUT_MS", "1500"),
                ("SHUTDOWN_TIMEOUT_MS", "2000"),
            ]),
            8081,
        )
        .unwrap();
        assert_eq!(s.port, 9000);
        assert_eq!(s.request_timeout, Duration::from_millis(1500));
        assert_eq!(s.drain_timeout(), Duration::from_millis(1500));
        for name in ["REQUEST_TIMEOUT_MS", "SHUTDOWN_TIMEOUT_MS"] {
            let err = HttpSettings::from_env(&Env::from_pairs([(name, "0")]), 1).unwrap_err();
            assert_eq!(err.variable(), name);
            assert!(err.to_string().contains("at least 1"), "{err}");
        }
        let err = HttpSettings::from_env(&Env::from_pairs([("PORT", "http")]), 1).unwrap_err();
        assert!(err.to_string().contains("PORT=\"http\""), "{err}");
    }

    fn slow_router(delay: Duration) -> Router {
        Router::new()
            .route(
                "/slow",
                get(move || async move {
                    tokio::time::sleep(delay).await;
                    "done"
                }),
            )
            .route("/fast", get(|| async { "fast" }))
    }

    #[tokio::test]
    async fn a_handler_slower_than_the_request_timeout_gets_a_problem() {
        let app = with_request_timeout(
            slow_router(Duration::from_secs(5)),
            Duration::from_millis(50),
        );
        let started = std::time::Instant::now();
        let response = app
            .clone()
            .oneshot(
                axum::http::Request::get("/slow")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.kind, "request_timeout");
        assert_eq!(problem.status, 503);
        assert!(
            problem
                .detail
                .unwrap()
                .contains("REQUEST_TIMEOUT_MS (50 ms)"),
            "the detail names the setting"
        );
        let response = app
            .oneshot(
                axum::http::Request::get("/fast")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn serving_applies_the_request_timeout_and_drains_within_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let settings = HttpSettings {
            port: addr.port(),
            request_timeout: Duration::from_millis(300),
            shutdown_timeout: Duration::from_millis(800),
        };
        let finished = Arc::new(AtomicBool::new(false));
        let router = {
            let finished = finished.clone();
            Router::new()
                .route(
                    "/work",
                    get(move || async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        finished.store(true, Ordering::SeqCst);
                        "done"
                    }),
                )
                .route(
                    "/stuck",
                    get(|| async {
                        std::future::pending::<()>().await;
                        "never"
                    }),
                )
        };
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve_on(listener, router, settings, shutdown.clone()));
        let base = format!("http://{addr}");

        // Through a real connection: the request timeout applies.
        let stuck = get_status(format!("{base}/stuck")).await;
        assert_eq!(stuck, 503);

        // A request in flight when the stop begins is finished.
        let in_flight = tokio::spawn(get_status(format!("{base}/work")));
        tokio::time::sleep(Duration::from_millis(50)).await;
        shutdown.cancel();
        assert_eq!(in_flight.await.unwrap(), 200);
        assert!(finished.load(Ordering::SeqCst));
        let stopping = server.await.unwrap().unwrap();
        assert!(stopping.drain_deadline() <= stopping.deadline());
        assert_eq!(
            stopping.deadline() - stopping.drain_deadline(),
            Duration::from_millis(200),
            "a quarter of an 800 ms deadline is kept for closing"
        );
    }

    #[tokio::test]
    async fn a_request_that_outlives_the_drain_is_abandoned_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A request timeout longer than the stop: only the drain deadline ends the request.
        let settings = HttpSettings {
            port: addr.port(),
            request_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_millis(400),
        };
        let router = Router::new().route(
            "/stuck",
            get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        );
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve_on(listener, router, settings, shutdown.clone()));
        let stuck = tokio::spawn(get_status(format!("http://{addr}/stuck")));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        shutdown.cancel();
        let stopping = server.await.unwrap().unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(2),
            "the drain lasts until its deadline (300 ms), no longer: {took:?}"
        );
        // The rest of the shutdown is bounded by what is left.
        let step = stopping
            .finish("a stuck step", std::future::pending::<()>())
            .await;
        assert!(step.is_none());
        assert!(started.elapsed() < Duration::from_secs(2));
        stuck.abort();
    }

    async fn get_status(url: String) -> u16 {
        // A bare HTTP/1.1 exchange: the kit has no HTTP client.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        stream
            .write_all(
                format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut head = [0u8; 32];
        let n = stream.read(&mut head).await.unwrap();
        String::from_utf8_lossy(&head[..n])
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    }
}
