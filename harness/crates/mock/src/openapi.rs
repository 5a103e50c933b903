//! Mocks from OpenAPI documents: a request the document accepts is answered with the
//! operation's lowest documented 2xx (else 3xx; else 200 for a `2XX` or `default` response),
//! its body the document's example, else data built from the schema's examples, else
//! generated from the schema with a seed (the mock's seed, the operation and the request's
//! number: the same sequence of requests gets the same answers on every run).
//! Top-level request fields the response also has are echoed where valid (a payment
//! answers with the `order_id` it was asked about).
//!
//! A request the document does not accept gets the status a provider would answer (404,
//! 405, 401, 415, else the operation's documented 422 or 400) with an
//! `application/problem+json` body saying why, and an `x-harness-mock-mismatch` header; the
//! call is reported by [`crate::MockServer::verify`] unless the mock allows it.
//!
//! Every answer, overrides included, is checked against the document with
//! [`Document::check_response`]; one that breaks it is reported the same way. Two kinds of
//! answer are not: those of status faults (deliberately outside the contract) and
//! rejections, whose status the document may not list (a 404 for an unknown path); a
//! rejection uses the operation's documented body for its status when it has one.
//!
//! An override is served only to requests the document accepts: a bad request gets its
//! rejection whatever the override says.

use std::{path::Path, sync::Arc};

use harness_openapi::{Document, DocumentError, IncomingRequest};
use serde_json::Value;
use wiremock::Request;

use crate::{
    server::MockServer,
    state::{Core, Reply, Responder},
};

/// A mock built from an OpenAPI document (see the module documentation).
#[derive(Debug, Clone)]
pub struct OpenApiMock {
    doc: Arc<Document>,
    seed: u64,
    allow_rejected: bool,
}

impl OpenApiMock {
    /// From a document already loaded.
    pub fn new(doc: impl Into<Arc<Document>>) -> Self {
        Self {
            doc: doc.into(),
            seed: 0,
            allow_rejected: false,
        }
    }

    /// Reads a document (JSON, OpenAPI 3.0 or 3.1).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, DocumentError> {
        Document::from_path(path).map(Self::new)
    }

    /// The seed of generated answers (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Requests the document does not accept are answered (4xx) but not reported.
    pub fn allow_rejected(mut self) -> Self {
        self.allow_rejected = true;
        self
    }

    /// The document.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// Starts the mock on 127.0.0.1 at a free port.
    pub async fn start(self) -> std::io::Result<MockServer> {
        self.start_on(None).await
    }

    /// Starts the mock on a listener of your own (a fixed port, another address).
    pub async fn start_on(
        self,
        listener: Option<std::net::TcpListener>,
    ) -> std::io::Result<MockServer> {
        let allow = self.allow_rejected;
        MockServer::start(Core::new(Box::new(self), allow), listener).await
    }

    fn incoming<'a>(req: &'a Request) -> IncomingRequest<'a> {
        IncomingRequest {
            method: &req.method,
            path: req.url.path(),
            query: req.url.query(),
            headers: &req.headers,
            body: &req.body,
        }
    }

    fn problem_for(&self, operation: Option<&str>, status: u16, detail: &str, seq: u64) -> Reply {
        let title = format!("the request does not match {}", self.doc.origin());
        let reply = Reply::problem(status, "mock_mismatch", &title, detail);
        let Some(op) = operation.and_then(|id| self.doc.operation(id)) else {
            return reply;
        };
        if !op.documents(status) {
            return reply;
        }
        // The document says what this status carries: answer that, the reason in the header.
        let mut headers = http::HeaderMap::new();
        if let Some(ct) = &reply.content_type
            && let Ok(v) = ct.parse()
        {
            headers.insert(http::header::CONTENT_TYPE, v);
        }
        if self
            .doc
            .check_answer(op, status, &headers, &reply.body)
            .is_ok()
        {
            return reply;
        }
        match self.doc.answer(op, Some(status), None, self.seed ^ seq) {
            Some(a) => to_reply(a),
            None => reply,
        }
    }
}

fn to_reply(a: harness_openapi::Answer) -> Reply {
    match (a.content_type, a.body) {
        (Some(ct), Some(body)) => Reply::json(a.status, &ct, &body),
        _ => Reply {
            status: a.status,
            ..Reply::default()
        },
    }
}

/// FNV-1a of a text (stable across Rust releases, so seeds are).
pub(crate) fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Responder for OpenApiMock {
    fn kind(&self) -> &'static str {
        "openapi"
    }

    fn source(&self) -> String {
        self.doc.origin().to_owned()
    }

    fn operations(&self) -> Vec<String> {
        self.doc.operations().iter().map(|o| o.id.clone()).collect()
    }

    fn reject(&self, req: &Request, seq: u64) -> Option<Reply> {
        let m = self.doc.check_request(&Self::incoming(req)).err()?;
        let mut reply = self.problem_for(m.operation.as_deref(), m.status, &m.to_string(), seq);
        if m.status == 405 {
            // RFC 9110: a 405 says which methods the path has.
            let allowed: Vec<&str> = [
                http::Method::GET,
                http::Method::POST,
                http::Method::PUT,
                http::Method::PATCH,
                http::Method::DELETE,
            ]
            .iter()
            .filter(|method| self.doc.find(method, req.url.path()).is_ok())
            .map(http::Method::as_str)
            .collect();
            reply.headers.push(("allow".to_owned(), allowed.join(", ")));
        }
        reply.rejected = Some(m.to_string());
        Some(reply)
    }

    fn operation(&self, req: &Request) -> Option<String> {
        self.doc
            .find(&req.method, req.url.path())
            .ok()
            .map(|o| o.id.clone())
    }

    fn respond(&self, req: &Request, seq: u64) -> Reply {
        let op = match self.doc.check_request(&Self::incoming(req)) {
            Ok(op) => op,
            Err(_) => return self.reject(req, seq).unwrap_or_default(),
        };
        let request_body: Option<Value> = serde_json::from_slice(&req.body).ok();
        let seed = self.seed ^ fnv(&op.id) ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        match self.doc.answer(op, None, request_body.as_ref(), seed) {
            Some(a) => to_reply(a),
            None => {
                let mut reply = Reply::problem(
                    500,
                    "mock_cannot_answer",
                    "the mock cannot make an answer",
                    &format!(
                        "{}: no documented 2xx/3xx, or no value generated meets its schema",
                        op.id
                    ),
                );
                reply.violations = vec![format!(
                    "{}: the mock could not make a valid answer (no documented 2xx/3xx, or a schema the generator cannot meet)",
                    op.id
                )];
                reply
            }
        }
    }

    fn echo(&self, req: &Request, operation: &str, status: u16, body: &Value) -> Value {
        match (
            self.doc.operation(operation),
            serde_json::from_slice::<Value>(&req.body),
        ) {
            (Some(op), Ok(request)) => self.doc.echo(op, status, body, &request),
            _ => body.clone(),
        }
    }

    fn media_type(&self, operation: &str, status: u16) -> String {
        self.doc
            .operation(operation)
            .and_then(|op| op.response(status))
            .and_then(|r| r.content.iter().find(|m| m.is_json()).or(r.content.first()))
            .map(|m| m.range.clone())
            .filter(|r| !r.contains('*'))
            .unwrap_or_else(|| "application/json".to_owned())
    }

    fn check(&self, req: &Request, reply: &Reply) -> Vec<String> {
        let mut headers = http::HeaderMap::new();
        if let Some(ct) = &reply.content_type
            && let Ok(v) = ct.parse()
        {
            headers.insert(http::header::CONTENT_TYPE, v);
        }
        for (n, v) in &reply.headers {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::try_from(n.as_str()),
                http::HeaderValue::try_from(v.as_str()),
            ) {
                headers.append(n, v);
            }
        }
        match self.doc.check_response(
            &req.method,
            req.url.path(),
            reply.status,
            &headers,
            &reply.body,
        ) {
            Ok(_) => Vec::new(),
            Err(n) => n.violations.iter().map(ToString::to_string).collect(),
        }
    }
}
