//! What the gateway's consumer pact tests share: the real gateway wired to one mock
//! server, a client with a token, the headers every proxied request carries, and the
//! matchers of ids, trace context and timestamps. Each test binary uses part of it.
#![allow(dead_code)]

use std::{num::NonZeroU32, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use gateway::{
    AppState, app,
    config::{JwtSettings, UpstreamUrls},
    model::{Authenticator, KeyedLimiter, Target},
    upstream::HttpUpstream,
};
use harness_pact::{
    PactCheck,
    pact_consumer::{builders::RequestBuilder, prelude::*},
};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub(crate) const SECRET: &str = "gateway-pact-secret-gateway-pact-secret";

/// How the pact tests' gateway checks tokens (and how [`client`] signs them).
pub(crate) fn jwt() -> JwtSettings {
    JwtSettings {
        secret: SECRET.to_owned(),
        issuer: "gateway-pact-issuer".to_owned(),
        audience: "gateway-pact-api".to_owned(),
    }
}
/// The upstreams a pact is not about: nothing listens on the discard port.
pub(crate) const NOWHERE: &str = "http://127.0.0.1:9";
pub(crate) const UUID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/// A W3C `traceparent`: the gateway starts or continues a trace on every request.
pub(crate) const TRACEPARENT: &str = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$";
pub(crate) const TRACEPARENT_EXAMPLE: &str =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// How the services write timestamps (chrono, UTC, up to microseconds), in the
/// DateTimeFormatter pattern letters Pact's datetime matcher takes: `SSSSSS` the fraction,
/// `XXX` the ISO 8601 zone offset (`Z` for UTC). A real pattern, not a placeholder.
pub(crate) const TIMESTAMP: &str = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX";
pub(crate) const TIMESTAMP_EXAMPLE: &str = "2025-01-15T10:30:00.123456Z";

/// `value` and nothing else, also inside `each_like!` (whose elements match by type).
/// The value has no regex metacharacters.
pub(crate) fn exactly(value: &str) -> JsonPattern {
    term!(format!("^{value}$"), value).into()
}

/// The headers the gateway adds to (or passes through on) every proxied request: the
/// client's `Accept` and `x-request-id`, and a `traceparent` of its own.
pub(crate) fn forwarded(request: &mut RequestBuilder, request_id: &str) {
    request
        .header("accept", "application/json")
        .header("x-request-id", request_id)
        .header("traceparent", term!(TRACEPARENT, TRACEPARENT_EXAMPLE));
}

/// [`forwarded`], plus the header the gateway adds to every request to orders and
/// shipping: `x-customer-id`, the token's subject, exactly.
pub(crate) fn forwarded_for(request: &mut RequestBuilder, request_id: &str, customer: &str) {
    forwarded(request, request_id);
    request.header("x-customer-id", customer);
}

pub(crate) fn base_url(server: &dyn ValidatingMockServer) -> String {
    server.url().as_str().trim_end_matches('/').to_owned()
}

/// The real gateway with `target` at `url` (and the other upstreams nowhere).
pub(crate) fn gateway(target: Target, url: &str) -> Router {
    let at = |t: Target| if t == target { url } else { NOWHERE }.to_owned();
    let urls = UpstreamUrls {
        orders: at(Target::Orders),
        inventory: at(Target::Inventory),
        shipping: at(Target::Shipping),
    };
    let upstream = HttpUpstream::new(urls, Duration::from_secs(5)).expect("the upstream client");
    let generous = NonZeroU32::new(1000).unwrap();
    app(AppState::new(
        Authenticator::new(&jwt()),
        KeyedLimiter::new(generous, generous),
        upstream,
    ))
}

/// A client request with a token of `pact-client` for `scope`, `Accept: application/json`
/// and its own request id.
pub(crate) fn client(
    method: Method,
    uri: &str,
    scope: &str,
    request_id: &str,
) -> axum::http::request::Builder {
    client_as("pact-client", method, uri, scope, request_id)
}

/// [`client`] with a token whose subject (the customer it acts for) is `sub`.
pub(crate) fn client_as(
    sub: &str,
    method: Method,
    uri: &str,
    scope: &str,
    request_id: &str,
) -> axum::http::request::Builder {
    let token = Authenticator::new(&jwt())
        .issue(sub, scope, Duration::from_secs(300))
        .unwrap();
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT, "application/json")
        .header("x-request-id", request_id)
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// The gateway relayed the upstream's status and content type, and echoed the id.
    pub(crate) fn assert_relayed(&self, status: StatusCode, content_type: &str, request_id: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("content-type"), content_type);
        assert_eq!(self.header("x-request-id"), request_id);
    }
}

pub(crate) async fn send(app: Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// `GET /health/ready` of the gateway asks `target`'s `/health/live`: the gateway's own
/// call, one interaction of every upstream's pact.
pub(crate) async fn readiness_probes(check: &PactCheck, target: Target) {
    let server = check.mock_server("a liveness probe from the gateway's readiness check", |i| {
        i.request.get().path("/health/live");
        i.response.ok();
    });
    let answer = send(
        gateway(target, &base_url(server.as_ref())),
        Request::get("/health/ready").body(Body::empty()).unwrap(),
    )
    .await;
    let checks = answer.body["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let name = target.name();
    let check = checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {}", answer.body));
    assert_eq!(check["ok"], true, "{}", answer.body);
    drop(server);
}
