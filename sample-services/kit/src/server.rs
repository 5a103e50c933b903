//! Serving a service: the common layers (request metrics, JSON fallbacks), binding, and
//! graceful shutdown on SIGTERM / Ctrl-C.
//!
//! On a signal the [`Shutdown`] token is cancelled: the HTTP server stops accepting and
//! finishes in-flight requests, and background workers (queue consumers) watch the same
//! token to stop taking new work, finish what they hold and ack nothing unfinished.

use std::net::SocketAddr;

use std::sync::Arc;

use axum::{Router, http::header, middleware, routing::get};
use tokio::net::TcpListener;
pub use tokio_util::sync::CancellationToken as Shutdown;

use crate::{Health, http_metrics, problem, tracecontext};

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

/// Binds `0.0.0.0:port` and serves until `shutdown` is cancelled, then drains in-flight
/// requests.
pub async fn serve(router: Router, port: u16, shutdown: Shutdown) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    tracing::info!("http server stopped");
    Ok(())
}
