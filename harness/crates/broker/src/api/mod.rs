//! The broker's HTTP API: the Pact Broker's HAL resources as the reference broker serves
//! them, to the extent Pact's clients (pact_verifier, pact-broker-cli, Harness's own) use
//! them. Every answer is JSON with `_links` (`application/hal+json`), errors included; a
//! browser asking for `/` gets the page for people ([`crate::page`]).
//!
//! Links are absolute, built from the request's `Host` (or the configured public URL), and
//! names in them are percent-encoded path segments.
//!
//! What the clients' sources showed they need (pact_verifier 1.5, pact-broker-cli 0.9):
//! - every 2xx answer is JSON with a JSON content type, also for tag and branch PUTs and
//!   verification results (the verifier drops its results after an empty 201);
//! - the verifier GETs `/pacts/provider/P/for-verification` for its `self` link before it
//!   POSTs there, and reads the answer all or nothing: each pact needs `shortDescription`,
//!   object-valued `_links`, and notices of strings only;
//! - a served pact links `pb:publish-verification-results` and `pb:provider`, whose
//!   resource links the templated `pb:branch-version` and `pb:version-tag`; each
//!   interaction gets an `_id` so results name it;
//! - `pb:record-deployment` on a version is an array named by environment;
//! - `/matrix` is asked with literal `q[][pacticipant]` keys, read in order;
//! - `displayName` is never null (the CLI's tables unwrap it);
//! - 5xx makes both clients retry for a minute or two, so expected refusals are 4xx.
//!
//! Each family of resources has its module: the index and health, publishing,
//! participants (with their versions, branches and tags), pacts, pacts for verification
//! and verification results, environments and deployments, the matrix and can-i-deploy.
//! This one holds the router and what they share: error answers, body parsing, and links.

mod deployments;
mod index;
mod matrix;
mod pacticipants;
mod pacts;
mod publish;
mod verification;

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequestParts},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use crate::{
    auth::{self, Auth},
    error::Error,
    store::{Store, Verification},
};

/// How the broker is served.
#[derive(Debug, Clone)]
pub struct Config {
    pub auth: Auth,
    /// The largest request body accepted (413 above it).
    pub body_limit: usize,
    /// The URL links start with, when clients reach the broker through a proxy that does
    /// not pass the `Host` they used; else links follow each request's `Host`.
    pub public_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            auth: Auth::default(),
            body_limit: 4 * 1024 * 1024,
            public_url: None,
        }
    }
}

#[derive(Clone)]
struct App {
    store: Store,
    public_url: Option<String>,
}

/// The broker's router over `store`.
pub fn router(store: Store, config: &Config) -> Router {
    let app = App {
        store,
        public_url: config.public_url.clone(),
    };
    let auth = Arc::new(config.auth.clone());
    Router::new()
        .route("/", get(index::index))
        .route("/health", get(index::health))
        .route("/diagnostic/status/heartbeat", get(index::health))
        .route("/contracts/publish", post(publish::publish_contracts))
        .route(
            "/pacticipants",
            get(pacticipants::list_pacticipants).post(pacticipants::create_pacticipant),
        )
        .route(
            "/pacticipants/{p}",
            get(pacticipants::get_pacticipant)
                .put(pacticipants::update_pacticipant)
                .patch(pacticipants::update_pacticipant),
        )
        .route(
            "/pacticipants/{p}/versions",
            get(pacticipants::list_versions),
        )
        .route(
            "/pacticipants/{p}/versions/{v}",
            get(pacticipants::get_version).put(pacticipants::put_version),
        )
        .route(
            "/pacticipants/{p}/latest-version",
            get(pacticipants::latest_version),
        )
        .route(
            "/pacticipants/{p}/latest-version/{tag}",
            get(pacticipants::latest_tagged_version),
        )
        .route(
            "/pacticipants/{p}/versions/{v}/tags/{t}",
            get(pacticipants::get_tag).put(pacticipants::put_tag),
        )
        .route(
            "/pacticipants/{p}/branches",
            get(pacticipants::list_branches),
        )
        .route(
            "/pacticipants/{p}/branches/{b}",
            get(pacticipants::get_branch),
        )
        .route(
            "/deployed-versions/{uuid}",
            get(deployments::get_deployment),
        )
        .route(
            "/pacticipants/{p}/branches/{b}/versions/{v}",
            get(pacticipants::get_branch_version).put(pacticipants::put_branch_version),
        )
        .route(
            "/pacticipants/{p}/versions/{v}/deployed-versions/environment/{e}",
            post(deployments::record_deployment),
        )
        .route("/pacts/latest", get(pacts::latest_pacts))
        .route(
            "/pacts/provider/{p}/latest",
            get(pacts::latest_provider_pacts),
        )
        .route(
            "/pacts/provider/{p}/for-verification",
            get(verification::for_verification_self).post(verification::for_verification),
        )
        .route(
            "/pacts/provider/{p}/consumer/{c}/latest",
            get(pacts::latest_pact),
        )
        .route(
            "/pacts/provider/{p}/consumer/{c}/version/{v}",
            get(pacts::pact_of_version).put(publish::publish_pact),
        )
        .route(
            "/pacts/provider/{p}/consumer/{c}/pact-version/{sha}",
            get(pacts::pact_version),
        )
        .route(
            "/pacts/provider/{p}/consumer/{c}/pact-version/{sha}/verification-results",
            get(verification::list_verifications).post(verification::publish_verification),
        )
        .route(
            "/pacts/provider/{p}/consumer/{c}/pact-version/{sha}/verification-results/{id}",
            get(verification::get_verification),
        )
        .route(
            "/environments",
            get(deployments::list_environments).post(deployments::create_environment),
        )
        .route("/environments/{e}", get(deployments::get_environment))
        .route(
            "/environments/{e}/deployed-versions/currently-deployed",
            get(deployments::currently_deployed),
        )
        .route("/matrix", get(matrix::get_matrix))
        .route("/can-i-deploy", get(matrix::get_can_i_deploy))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(auth, auth::require))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(app)
}

/// An error answer: `{"errors": [reason]}` (the shape Pact's clients read).
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::BadRequest(_) | Error::Usage(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Database(_) | Error::Environment(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        hal(
            self.0,
            json!({"errors": [self.1], "notices": [{"type": "error", "text": self.1}]}),
        )
    }
}

type ApiResult = Result<Response, ApiError>;

fn bad(reason: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, reason.into())
}

fn missing(what: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what.into())
}

fn hal(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/hal+json;charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> ApiResult {
    Ok(hal(StatusCode::OK, body))
}

async fn not_found() -> ApiError {
    missing("no such resource")
}

/// A JSON request body, or 400 with where it is broken.
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        let at = e.path().to_string();
        if inner.is_syntax() || inner.is_eof() {
            bad(format!(
                "the body is not JSON (line {}, column {}): {inner}",
                inner.line(),
                inner.column()
            ))
        } else {
            bad(format!(
                "the body is not what this resource takes at {at}: {inner}"
            ))
        }
    })
}

/// The URL links start with.
struct Base(String);

impl FromRequestParts<App> for Base {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(url) = &app.public_url {
            return Ok(Base(url.trim_end_matches('/').to_owned()));
        }
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let host = header("x-forwarded-host")
            .or_else(|| header("host"))
            .unwrap_or("localhost");
        let scheme = header("x-forwarded-proto").unwrap_or("http");
        Ok(Base(format!("{scheme}://{host}")))
    }
}

/// A name as a path segment.
pub(crate) fn enc(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn link(href: String) -> Value {
    json!({"href": href})
}

fn titled(href: String, title: &str) -> Value {
    json!({"href": href, "title": title})
}

fn template(href: String, title: &str) -> Value {
    json!({"href": href, "title": title, "templated": true})
}

impl Base {
    fn pacticipant(&self, p: &str) -> String {
        format!("{}/pacticipants/{}", self.0, enc(p))
    }
    fn version(&self, p: &str, v: &str) -> String {
        format!("{}/versions/{}", self.pacticipant(p), enc(v))
    }
    fn pact_version(&self, provider: &str, consumer: &str, sha: &str) -> String {
        format!(
            "{}/pacts/provider/{}/consumer/{}/pact-version/{sha}",
            self.0,
            enc(provider),
            enc(consumer)
        )
    }
    fn pact_of_version(&self, provider: &str, consumer: &str, version: &str) -> String {
        format!(
            "{}/pacts/provider/{}/consumer/{}/version/{}",
            self.0,
            enc(provider),
            enc(consumer),
            enc(version)
        )
    }
    fn verification(&self, v: &Verification) -> String {
        format!(
            "{}/verification-results/{}",
            self.pact_version(&v.provider, &v.consumer, &v.sha),
            v.id
        )
    }
    fn environment(&self, uuid: &str) -> String {
        format!("{}/environments/{uuid}", self.0)
    }
}

fn nonempty(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(bad(format!("{field} is empty")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded_as_path_segments() {
        assert_eq!(enc("my app/feat x"), "my%20app%2Ffeat%20x");
        assert_eq!(enc("orders-1.2_3~"), "orders-1.2_3~");
    }
}
