//! Calls to the services behind the gateway. The proxy talks to an [`Upstream`]; the real
//! one is [`HttpUpstream`] (reqwest), unit tests substitute their own. Each call of
//! [`HttpUpstream`] is a client span of the request's trace, and the `traceparent` it sends
//! names that span as the parent (see `service_kit::tracecontext`).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use service_kit::tracecontext;
use tracing::{Instrument, field::Empty};

use crate::{config::UpstreamUrls, model::Target};

/// One request to forward.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub target: Target,
    pub method: Method,
    /// The upstream path and query, e.g. `/shipments?order_id=...` (no `/api`).
    pub path_and_query: String,
    /// The headers to send (already filtered by the proxy).
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What the upstream answered.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why there is no upstream answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No complete answer within the upstream timeout (-> 504).
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The connection could not be made (refused, no route, DNS) (-> 502).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The connection broke or the answer was not valid HTTP (-> 502).
    #[error("bad response: {0}")]
    BadResponse(String),
}

impl UpstreamError {
    /// The `kind` label of `gateway_upstream_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::BadResponse(_) => "bad_response",
        }
    }
}

/// The services behind the gateway.
#[async_trait::async_trait]
pub trait Upstream: Send + Sync {
    /// The base URL of `target` (used to relativise an absolute `Location`).
    fn base_url(&self, target: Target) -> &str;
    /// Sends one request and reads the whole answer.
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError>;
    /// `Ok` when `target`'s `/health/live` answers 2xx.
    async fn live(&self, target: Target) -> Result<(), String>;
}

/// The real upstream: HTTP/1.1 with reqwest, one connection pool for all three services.
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    client: reqwest::Client,
    urls: UpstreamUrls,
    timeout: Duration,
}

impl HttpUpstream {
    /// A client whose every call (connect, send, read the body) is bounded by `timeout`.
    pub fn new(urls: UpstreamUrls, timeout: Duration) -> Result<Self, reqwest::Error> {
        service_kit::tls::ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // Service-to-service calls never go through an HTTP proxy from the environment.
            .no_proxy()
            // A redirect is the client's business: pass it through (with `Location` rewritten).
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            urls,
            timeout,
        })
    }

    fn classify(&self, err: &reqwest::Error) -> UpstreamError {
        if err.is_connect() {
            UpstreamError::Unreachable(error_chain(err))
        } else if err.is_timeout() {
            UpstreamError::Timeout(self.timeout)
        } else {
            UpstreamError::BadResponse(error_chain(err))
        }
    }
}

/// An error with its sources, for logs and problem details (reqwest's own `Display`
/// hides the cause, e.g. "Connection refused").
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[async_trait::async_trait]
impl Upstream for HttpUpstream {
    fn base_url(&self, target: Target) -> &str {
        match target {
            Target::Orders => &self.urls.orders,
            Target::Inventory => &self.urls.inventory,
            Target::Shipping => &self.urls.shipping,
        }
    }

    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let url = format!(
            "{}{}",
            self.base_url(request.target),
            request.path_and_query
        );
        let span = tracing::info_span!(
            "upstream call",
            otel.name = %format!("{} {}", request.method, request.target),
            otel.kind = "client",
            peer.service = %request.target,
            http.request.method = %request.method,
            url.full = %url,
            http.response.status_code = Empty,
            otel.status_code = Empty,
        );
        let mut headers = request.headers;
        // The request's trace, this call's span as the parent.
        let trace = tracecontext::outgoing_for(&span);
        if let Ok(value) = HeaderValue::from_str(&trace.to_string()) {
            headers.insert(tracecontext::HEADER, value);
        }
        let mut builder = self.client.request(request.method, url).headers(headers);
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        let answered = async {
            let response = builder.send().await.map_err(|e| self.classify(&e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(|e| self.classify(&e))?;
            Ok(UpstreamResponse {
                status,
                headers,
                body,
            })
        }
        .instrument(span.clone())
        .await;
        match &answered {
            Ok(response) => {
                span.record(
                    "http.response.status_code",
                    i64::from(response.status.as_u16()),
                );
                if response.status.is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
            }
        }
        answered
    }

    async fn live(&self, target: Target) -> Result<(), String> {
        let url = format!("{}/health/live", self.base_url(target));
        let response = self
            .client
            .get(url)
            .timeout(self.timeout.min(Duration::from_secs(2)))
            .send()
            .await
            .map_err(|e| self.classify(&e).to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("/health/live answered {}", response.status()))
        }
    }
}

/// Readiness: one check per upstream, passing when its `/health/live` answers.
pub struct UpstreamLive {
    pub upstream: std::sync::Arc<dyn Upstream>,
    pub target: Target,
}

#[async_trait::async_trait]
impl service_kit::ReadinessCheck for UpstreamLive {
    fn name(&self) -> &str {
        self.target.name()
    }
    async fn check(&self) -> Result<(), String> {
        self.upstream.live(self.target).await
    }
}
