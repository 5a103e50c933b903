//! An opt-in recording client for any test: a reqwest client that checks every response
//! against the service's document ([`Document::check_response`]) and keeps a coverage
//! summary, which operations and which documented status codes the tests exercised and
//! which never.
//!
//! A wrapper rather than a reqwest-middleware layer: the check needs the whole body, which
//! the wrapper reads once and hands back inside an ordinary `reqwest::Response`, and the
//! workspace keeps one fewer HTTP crate. In a build that also has Pact, install a rustls
//! crypto provider before building the `reqwest::Client` (`harness::pact::ensure_crypto_provider`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use harness_openapi::{Document, RecordingClient};
//! let doc = Document::from_path("contracts/openapi/orders.json")?;
//! let client = RecordingClient::new(reqwest::Client::new(), doc);
//! let response = client.send(client.get("http://127.0.0.1:8081/orders?customer=c1")).await?;
//! assert_eq!(response.status(), 200);
//! println!("{}", client.coverage());
//! client.assert_conformant();
//! # Ok(()) }
//! ```

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex},
};

use crate::{
    conformance::{Nonconformance, Violation},
    document::{Document, StatusKey},
};

/// Why a recorded request failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The response does not conform to the document (strict mode, the default).
    #[error("{method} {url}: {nonconformance}")]
    Nonconformant {
        method: String,
        url: String,
        nonconformance: Nonconformance,
    },
}

#[derive(Default)]
struct Recording {
    /// operationId -> status key -> responses.
    seen: BTreeMap<String, BTreeMap<StatusKey, u32>>,
    /// operationId -> responses of any status.
    calls: BTreeMap<String, u32>,
    violations: Vec<Violation>,
}

/// A reqwest client that checks and records every exchange.
#[derive(Clone)]
pub struct RecordingClient {
    client: reqwest::Client,
    doc: Arc<Document>,
    strict: bool,
    recording: Arc<Mutex<Recording>>,
}

impl fmt::Debug for RecordingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingClient")
            .field("document", &self.doc.origin())
            .field("strict", &self.strict)
            .finish()
    }
}

impl RecordingClient {
    pub fn new(client: reqwest::Client, doc: impl Into<Arc<Document>>) -> Self {
        Self {
            client,
            doc: doc.into(),
            strict: true,
            recording: Arc::default(),
        }
    }

    /// Lenient: a nonconformant response is returned (and kept for
    /// [`violations`](Self::violations)) instead of failing the request.
    pub fn lenient(mut self) -> Self {
        self.strict = false;
        self
    }

    /// The wrapped client, for building requests.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn document(&self) -> &Document {
        &self.doc
    }

    pub fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.client.get(url)
    }

    pub fn post(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.client.post(url)
    }

    pub fn put(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.client.put(url)
    }

    pub fn delete(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.client.delete(url)
    }

    /// Builds and sends a request, checks and records the response.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RecordError> {
        self.execute(request.build()?).await
    }

    /// Sends a request, checks and records the response (returned with its body intact).
    pub async fn execute(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, RecordError> {
        let method = request.method().clone();
        let url = request.url().clone();
        let response = self.client.execute(request).await?;
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        let result = self
            .doc
            .check_response(&method, url.path(), status.as_u16(), &headers, &body);
        {
            let mut rec = self.recording.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(op) = self.doc.find(&method, url.path()) {
                *rec.calls.entry(op.id.clone()).or_default() += 1;
                if let Some(r) = op.response(status.as_u16()) {
                    *rec.seen
                        .entry(op.id.clone())
                        .or_default()
                        .entry(r.key)
                        .or_default() += 1;
                }
            }
            if let Err(n) = &result {
                rec.violations.extend(n.violations.iter().cloned());
            }
        }
        if let Err(nonconformance) = result
            && self.strict
        {
            return Err(RecordError::Nonconformant {
                method: method.to_string(),
                url: url.to_string(),
                nonconformance,
            });
        }
        let mut rebuilt = http::Response::new(body);
        *rebuilt.status_mut() = status;
        *rebuilt.version_mut() = version;
        *rebuilt.headers_mut() = headers;
        Ok(reqwest::Response::from(rebuilt))
    }

    /// Every violation seen so far (lenient mode keeps going after one).
    pub fn violations(&self) -> Vec<Violation> {
        self.recording
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .violations
            .clone()
    }

    /// Panics, listing them, if any response did not conform.
    pub fn assert_conformant(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "{} response(s) do not conform to {}:\n{}",
            v.len(),
            self.doc.origin(),
            v.iter()
                .map(|v| format!("  {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Which operations and documented statuses were exercised so far.
    pub fn coverage(&self) -> Coverage {
        let rec = self.recording.lock().unwrap_or_else(|p| p.into_inner());
        let operations = self
            .doc
            .operations()
            .iter()
            .map(|op| {
                let seen = rec.seen.get(&op.id);
                let (hit, missed): (Vec<_>, Vec<_>) = op
                    .responses
                    .iter()
                    .map(|r| {
                        (
                            r.key,
                            seen.and_then(|s| s.get(&r.key)).copied().unwrap_or(0),
                        )
                    })
                    .partition(|(_, n)| *n > 0);
                OperationCoverage {
                    operation: op.id.clone(),
                    label: op.label(),
                    calls: rec.calls.get(&op.id).copied().unwrap_or(0),
                    statuses_seen: hit.into_iter().map(|(k, _)| k.to_string()).collect(),
                    statuses_unseen: missed.into_iter().map(|(k, _)| k.to_string()).collect(),
                }
            })
            .collect();
        Coverage { operations }
    }
}

/// What the recorded tests exercised of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub operations: Vec<OperationCoverage>,
}

/// One operation's share of the coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationCoverage {
    pub operation: String,
    /// `GET /orders/{id}`.
    pub label: String,
    /// Responses of any status (an undocumented one is also a violation).
    pub calls: u32,
    pub statuses_seen: Vec<String>,
    pub statuses_unseen: Vec<String>,
}

impl Coverage {
    /// Operations no test called.
    pub fn never_called(&self) -> impl Iterator<Item = &OperationCoverage> {
        self.operations.iter().filter(|o| o.calls == 0)
    }

    /// Documented (operation, status) pairs exercised, out of all.
    pub fn statuses(&self) -> (usize, usize) {
        let seen = self.operations.iter().map(|o| o.statuses_seen.len()).sum();
        let all = seen
            + self
                .operations
                .iter()
                .map(|o| o.statuses_unseen.len())
                .sum::<usize>();
        (seen, all)
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let called = self.operations.iter().filter(|o| o.calls > 0).count();
        let (seen, all) = self.statuses();
        writeln!(
            f,
            "{called}/{} operations called, {seen}/{all} documented statuses seen",
            self.operations.len()
        )?;
        for o in &self.operations {
            writeln!(
                f,
                "  {:<32} {:>4} call(s)  seen: {:<16} never: {}",
                o.label,
                o.calls,
                if o.statuses_seen.is_empty() {
                    "-".to_owned()
                } else {
                    o.statuses_seen.join(" ")
                },
                if o.statuses_unseen.is_empty() {
                    "-".to_owned()
                } else {
                    o.statuses_unseen.join(" ")
                },
            )?;
        }
        Ok(())
    }
}
