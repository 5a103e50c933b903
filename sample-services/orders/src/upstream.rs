//! Calls to the other services over HTTP: the shared client ([`http_client`]), how a call is
//! sent ([`SendTraced::send_traced`]: in a client span, carrying the W3C `traceparent` of the
//! work it belongs to), the error type shared by the inventory and payments clients, and the
//! readiness check that asks an upstream's `/health/live`.

use std::time::Duration;

use reqwest::header::HeaderValue;
use serde::Deserialize;
use service_kit::{
    defects::{self, Defect},
    tracecontext,
};
use tracing::{Instrument, field::Empty};

/// A call to another service that did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Unreachable, timed out, 5xx, 429: worth retrying later.
    #[error("{service} unavailable: {detail}")]
    Unavailable {
        service: &'static str,
        detail: String,
    },
    /// The service refused the request (a 4xx the caller has no rule for): retrying the
    /// same request will not help.
    #[error("{service} refused the request with {status} {kind}: {detail}")]
    Refused {
        service: &'static str,
        status: u16,
        kind: String,
        detail: String,
    },
}

/// The parts of a problem body we read from an upstream.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UpstreamProblem {
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) detail: Option<String>,
    #[serde(default)]
    pub(crate) field: Option<String>,
}

/// Builds the HTTP client used for every upstream call (installing the TLS crypto
/// provider first: see [`service_kit::tls`]).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    service_kit::tls::ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("orders/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// How orders sends a call to another service.
pub trait SendTraced {
    /// Sends the request to `service` as part of the current work (the request being
    /// served, or the intake message being processed: [`tracecontext::current`]): in a
    /// client span `"{method} {service}"`, with a `traceparent` of the work's trace whose
    /// parent id is that span's (a new random one when spans are not exported), so
    /// `service` continues the trace. Outside any work, the call starts a trace.
    fn send_traced(
        self,
        service: &'static str,
    ) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>> + Send;
}

impl SendTraced for reqwest::RequestBuilder {
    async fn send_traced(self, service: &'static str) -> Result<reqwest::Response, reqwest::Error> {
        let (client, request) = self.build_split();
        let mut request = request?;
        let method = request.method().clone();
        let span = tracing::info_span!(
            "upstream call",
            otel.name = %format!("{method} {service}"),
            otel.kind = "client",
            peer.service = service,
            http.request.method = %method,
            url.full = %request.url(),
            http.response.status_code = Empty,
            otel.status_code = Empty,
        );
        let trace = tracecontext::outgoing_for(&span);
        // Planted defect `drop-traceparent`: the call leaves the trace.
        if !defects::is_on(Defect::DropTraceparent) {
            request.headers_mut().insert(
                tracecontext::HEADER,
                HeaderValue::from_str(&trace.to_string()).expect("a traceparent is visible ASCII"),
            );
        }
        let result = client.execute(request).instrument(span.clone()).await;
        match &result {
            Ok(response) => {
                span.record(
                    "http.response.status_code",
                    i64::from(response.status().as_u16()),
                );
                if response.status().is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
            }
        }
        result
    }
}

/// A transport error (connection refused, timeout, unreadable body) as an
/// [`UpstreamError::Unavailable`].
pub(crate) fn transport(service: &'static str, e: &reqwest::Error) -> UpstreamError {
    UpstreamError::Unavailable {
        service,
        detail: if e.is_timeout() {
            format!("no answer in time: {e}")
        } else {
            e.to_string()
        },
    }
}

/// Classifies a non-success answer: 5xx, 408 and 429 are `Unavailable`, other statuses
/// `Refused` with the problem's type. Returns the parsed problem for callers with rules
/// for particular statuses.
pub(crate) async fn failure(
    service: &'static str,
    response: reqwest::Response,
) -> (UpstreamError, UpstreamProblem) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    let problem: UpstreamProblem = serde_json::from_slice(&bytes).unwrap_or_default();
    let detail = problem
        .detail
        .clone()
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
    let error = if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        UpstreamError::Unavailable {
            service,
            detail: format!("answered {status}: {detail}"),
        }
    } else {
        UpstreamError::Refused {
            service,
            status: status.as_u16(),
            kind: if problem.kind.is_empty() {
                status.as_u16().to_string()
            } else {
                problem.kind.clone()
            },
            detail,
        }
    };
    (error, problem)
}

/// Readiness: the upstream's `GET /health/live` answers 200.
#[derive(Debug, Clone)]
pub struct LiveCheck {
    name: String,
    url: String,
    http: reqwest::Client,
}

impl LiveCheck {
    /// Checks `{base_url}/health/live`.
    pub fn new(name: &str, base_url: &str, http: reqwest::Client) -> Self {
        Self {
            name: name.to_owned(),
            url: format!("{base_url}/health/live"),
            http,
        }
    }
}

#[async_trait::async_trait]
impl service_kit::ReadinessCheck for LiveCheck {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self) -> Result<(), String> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.url))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("{} answered {}", self.url, response.status()))
        }
    }
}
