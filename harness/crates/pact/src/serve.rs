//! Pact's standard HTTP endpoints for provider states and messages, served from
//! [`Handlers`]:
//!
//! - `POST /pact/states` with `{"state", "params", "action": "setup" | "teardown"}` answers
//!   the state's values (a JSON object, for `fromProviderState` expressions); an unknown
//!   state is `400`, a failing handler `500`, each with the reason as text.
//! - `POST /pact/messages` with `{"description", "providerStates"}` answers the message's
//!   body, its metadata base64-encoded JSON in the `Pact-Message-Metadata` header; an
//!   unknown description is `404`.
//!
//! A provider written in any language can offer the same endpoints; the CLI starts the
//! program named in `harness.toml` and points the verifier at them.

use std::net::SocketAddr;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine;

use crate::{
    error::{Error, Result},
    handlers::{Handlers, MessageRequest, StateChange},
};

/// The state-change path.
pub const STATES_PATH: &str = "/pact/states";
/// The message path.
pub const MESSAGES_PATH: &str = "/pact/messages";
/// The header carrying a message's metadata (base64 of a JSON object).
pub const METADATA_HEADER: &str = "pact-message-metadata";

/// The endpoints as an axum router (to nest in an app of your own).
pub fn router(handlers: Handlers) -> Router {
    Router::new()
        .route(STATES_PATH, post(change_state))
        .route(MESSAGES_PATH, post(produce))
        .with_state(handlers)
}

/// Serves the endpoints on `listener` until the future is dropped.
pub async fn serve(handlers: Handlers, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(handlers)).await
}

/// The endpoints served in the background on `127.0.0.1` (a free port); stopped on drop.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Starts serving `handlers` on a free loopback port.
    pub async fn start(handlers: Handlers) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::Environment(format!("cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Environment(e.to_string()))?;
        let task = tokio::spawn(async move {
            let _ = serve(handlers, listener).await;
        });
        Ok(Self { addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn change_state(
    State(handlers): State<Handlers>,
    Json(change): Json<StateChange>,
) -> Response {
    let known = handlers.has_state(&change.state);
    match handlers.change_state(change).await {
        Ok(values) => Json(values).into_response(),
        Err(e) if !known => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn produce(
    State(handlers): State<Handlers>,
    Json(request): Json<MessageRequest>,
) -> Response {
    let known = handlers
        .message_descriptions()
        .any(|d| d == request.description);
    match handlers.produce(request).await {
        Ok(message) => {
            let mut response = Json(message.contents).into_response();
            if !message.metadata.is_empty() {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(serde_json::Value::Object(message.metadata).to_string());
                if let Ok(value) = HeaderValue::from_str(&encoded) {
                    response.headers_mut().insert(METADATA_HEADER, value);
                }
            }
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) if !known => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
