//! Mocks from pacts: a request is matched against the pact's HTTP interactions with Pact's
//! own matching (`pact_matching`, the rules the provider is verified with), and the best
//! match is answered as the provider promised that consumer, generators applied. A request
//! no interaction matches is answered 404 (no interaction on that method and path) or 400
//! (one is close: the mismatches are in the body), and reported by
//! [`crate::MockServer::verify`].
//!
//! Pact's matching is async, wiremock's responders are not: each match runs on a
//! short-lived thread with its own single-threaded runtime (plugins are compiled out, so
//! nothing in it waits on the network).

use std::{collections::HashMap, path::Path};

use bytes::Bytes;
use pact_models::{
    bodies::OptionalBody,
    content_types::ContentType,
    generators::GeneratorTestMode,
    pact::{Pact, load_pact_from_json},
    v4::{
        V4InteractionType,
        http_parts::{HttpRequest, HttpResponse},
        pact::V4Pact,
    },
};
use serde_json::{Value, json};
use wiremock::Request;

use crate::{
    server::MockServer,
    state::{Core, Reply, Responder},
};

/// Why a pact cannot be used for a mock.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PactError {
    pub path: String,
    pub message: String,
}

/// A mock built from a pact file (see the module documentation).
#[derive(Debug, Clone)]
pub struct PactMock {
    pact: V4Pact,
    origin: String,
    allow_unmatched: bool,
}

/// The outcome of matching one request.
enum Matched {
    Answer(String, Box<HttpResponse>),
    Mismatch(String, Vec<String>),
    NotFound,
}

impl PactMock {
    /// Reads a pact (any specification version).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, PactError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let fail = |message: String| PactError {
            path: origin.clone(),
            message,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| {
            fail(format!(
                "not JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ))
        })?;
        let pact = load_pact_from_json(&origin, &json)
            .and_then(|p| p.as_v4_pact())
            .map_err(|e| fail(format!("not a pact: {e:#}")))?;
        let this = Self {
            pact,
            origin: origin.clone(),
            allow_unmatched: false,
        };
        if this.http().is_empty() {
            return Err(fail(
                "the pact has no HTTP interaction to answer with".into(),
            ));
        }
        Ok(this)
    }

    /// Names the pact in messages (default: the path it was read from).
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// Unmatched requests are answered (4xx) but not reported.
    pub fn allow_unmatched(mut self) -> Self {
        self.allow_unmatched = true;
        self
    }

    /// The consumer and provider the pact is between.
    pub fn parties(&self) -> (String, String) {
        (
            self.pact.consumer.name.clone(),
            self.pact.provider.name.clone(),
        )
    }

    /// The descriptions of its HTTP interactions.
    pub fn interactions(&self) -> Vec<String> {
        self.http().into_iter().map(|(d, _, _)| d).collect()
    }

    /// Starts the mock on 127.0.0.1 at a free port.
    pub async fn start(self) -> std::io::Result<MockServer> {
        self.start_on(None).await
    }

    /// Starts the mock on a listener of your own.
    pub async fn start_on(
        self,
        listener: Option<std::net::TcpListener>,
    ) -> std::io::Result<MockServer> {
        let allow = self.allow_unmatched;
        MockServer::start(Core::new(Box::new(self), allow), listener).await
    }

    fn http(&self) -> Vec<(String, HttpRequest, HttpResponse)> {
        self.pact
            .filter_interactions(V4InteractionType::Synchronous_HTTP)
            .into_iter()
            .filter_map(|i| i.as_v4_http())
            .map(|h| (h.description.clone(), h.request.clone(), h.response.clone()))
            .collect()
    }

    fn matched(&self, actual: HttpRequest) -> Matched {
        let pact = self.pact.clone();
        let run = move || -> Matched {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return Matched::NotFound;
            };
            rt.block_on(async move {
                let boxed = pact.boxed();
                // The first interaction that matches wholly answers; else the closest miss
                // (the highest score) is reported, unless even its method or path differ.
                let mut closest: Option<(i8, String, Vec<String>, bool)> = None;
                for i in pact.filter_interactions(V4InteractionType::Synchronous_HTTP) {
                    let Some(http) = i.as_v4_http() else { continue };
                    let Ok(result) = pact_matching::match_request(
                        http.request.clone(),
                        actual.clone(),
                        &boxed,
                        &i,
                    )
                    .await
                    else {
                        continue;
                    };
                    if result.all_matched() {
                        let response = pact_matching::generate_response(
                            &http.response,
                            &GeneratorTestMode::Consumer,
                            &HashMap::new(),
                        )
                        .await;
                        return Matched::Answer(http.description.clone(), Box::new(response));
                    }
                    let score = result.score();
                    if closest.as_ref().is_none_or(|c| score > c.0) {
                        closest = Some((
                            score,
                            http.description.clone(),
                            result
                                .mismatches()
                                .iter()
                                .map(|m| m.description())
                                .collect(),
                            result.method_or_path_mismatch(),
                        ));
                    }
                }
                match closest {
                    Some((_, description, mismatches, false)) => {
                        Matched::Mismatch(description, mismatches)
                    }
                    _ => Matched::NotFound,
                }
            })
        };
        std::thread::scope(|s| s.spawn(run).join().unwrap_or(Matched::NotFound))
    }
}

/// The request as Pact models it.
fn to_pact(req: &Request) -> HttpRequest {
    let mut query: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for (k, v) in req.url.query_pairs() {
        query
            .entry(k.into_owned())
            .or_default()
            .push(Some(v.into_owned()));
    }
    let mut headers: HashMap<String, Vec<String>> = HashMap::new();
    for (n, v) in &req.headers {
        headers
            .entry(n.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ContentType::parse(v).ok());
    let body = if req.body.is_empty() {
        OptionalBody::Missing
    } else {
        OptionalBody::Present(Bytes::from(req.body.clone()), content_type, None)
    };
    HttpRequest {
        method: req.method.to_string(),
        path: req.url.path().to_owned(),
        query: (!query.is_empty()).then_some(query),
        headers: (!headers.is_empty()).then_some(headers),
        body,
        ..HttpRequest::default()
    }
}

impl Responder for PactMock {
    fn kind(&self) -> &'static str {
        "pact"
    }

    fn source(&self) -> String {
        self.origin.clone()
    }

    fn operations(&self) -> Vec<String> {
        self.interactions()
    }

    /// The first interaction on the request's method and path (the one that answers may
    /// differ when several share a path: the call then names the one that answered).
    fn operation(&self, req: &Request) -> Option<String> {
        let method = req.method.as_str();
        self.http()
            .into_iter()
            .find(|(_, r, _)| r.method.eq_ignore_ascii_case(method) && r.path == req.url.path())
            .map(|(d, _, _)| d)
    }

    fn respond(&self, req: &Request, _seq: u64) -> Reply {
        match self.matched(to_pact(req)) {
            Matched::Answer(description, response) => {
                let content_type = response.content_type().map(|c| c.to_string());
                let headers = response
                    .headers
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(n, _)| !n.eq_ignore_ascii_case("content-type"))
                    .flat_map(|(n, vs)| vs.into_iter().map(move |v| (n.clone(), v)))
                    .collect();
                let body = response
                    .body
                    .value()
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                Reply {
                    status: response.status,
                    headers,
                    content_type: if body.is_empty() { None } else { content_type },
                    body,
                    operation: Some(description),
                    ..Reply::default()
                }
            }
            Matched::Mismatch(description, mismatches) => {
                let reason = format!(
                    "closest interaction {description:?} does not match: {}",
                    mismatches.join("; ")
                );
                let mut reply = Reply::json(
                    400,
                    "application/json",
                    &json!({"error": "request-mismatch", "interaction": description, "mismatches": mismatches}),
                );
                reply.rejected = Some(reason);
                reply.operation = Some(description);
                reply
            }
            Matched::NotFound => {
                let reason = format!(
                    "no interaction of {} is {} {}",
                    self.origin,
                    req.method,
                    req.url.path()
                );
                let mut reply = Reply::json(
                    404,
                    "application/json",
                    &json!({"error": "request-not-found", "detail": reason}),
                );
                reply.rejected = Some(reason);
                reply
            }
        }
    }
}
