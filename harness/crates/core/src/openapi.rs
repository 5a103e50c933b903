//! OpenAPI verification results as report writers read them: one [`OperationReport`] per
//! operation of a service's document, with every [`CheckFailure`] (the check, the request,
//! the response and the reason) of the property-based verifier. Producers (harness-openapi)
//! fill them in; they carry no OpenAPI or proptest types, so a writer needs only this crate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The verdict on one operation of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationReport {
    pub service: String,
    /// `operationId`, or `METHOD /path` when the document gives none.
    pub operation: String,
    pub method: String,
    /// The path template, e.g. `/orders/{id}`.
    pub path: String,
    /// Requests sent, by phase.
    pub requests: PhaseCounts,
    /// The documented status codes (and ranges, `default`) some response had.
    #[serde(default)]
    pub statuses_seen: Vec<String>,
    /// The documented status codes no response had.
    #[serde(default)]
    pub statuses_unseen: Vec<String>,
    #[serde(with = "crate::events::seconds")]
    pub duration: Duration,
    /// The time budget ran out before every phase had its examples.
    #[serde(default)]
    pub budget_exhausted: bool,
    #[serde(default)]
    pub failures: Vec<CheckFailure>,
}

impl OperationReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// How many requests each phase sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseCounts {
    /// Requests built from the document's examples.
    pub examples: u32,
    /// Schema-valid requests generated from the schemas.
    pub valid: u32,
    /// Schema-invalid requests (a field missing or retyped, values out of range, bad bytes).
    pub invalid: u32,
    /// Requests without credentials to protected operations.
    pub unauthenticated: u32,
    /// Requests sent again after a `429 Too Many Requests`.
    pub rate_limited: u32,
}

impl PhaseCounts {
    pub fn total(&self) -> u32 {
        self.examples + self.valid + self.invalid + self.unauthenticated
    }
}

/// What a response must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// No 5xx while the service's dependencies are healthy (a documented 5xx included).
    NoServerError,
    /// The status is documented for the operation (or a range, or `default`).
    StatusDocumented,
    /// The content type is one the response documents.
    ContentTypeDocumented,
    /// The body is valid against the documented schema.
    BodyConforms,
    /// Every required response header is present.
    RequiredHeaders,
    /// A schema-valid request gets a 2xx, or a 4xx the document gives for the operation.
    ValidAccepted,
    /// A schema-invalid request gets a 4xx.
    InvalidRejected,
    /// A protected operation without credentials answers 401 or 403.
    AuthRequired,
    /// The service could be reached, answered in time, and not with a 429 to the end.
    Reachable,
    /// The verifier could generate requests for the operation from its schemas.
    Generated,
    /// The operation was reached within the time budget.
    Budget,
}

impl Check {
    /// The check's name as reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoServerError => "no_server_error",
            Self::StatusDocumented => "status_documented",
            Self::ContentTypeDocumented => "content_type_documented",
            Self::BodyConforms => "body_conforms",
            Self::RequiredHeaders => "required_headers",
            Self::ValidAccepted => "valid_accepted",
            Self::InvalidRejected => "invalid_rejected",
            Self::AuthRequired => "auth_required",
            Self::Reachable => "reachable",
            Self::Generated => "generated",
            Self::Budget => "budget",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check that did not hold, on the smallest request the verifier could shrink it to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckFailure {
    pub operation: String,
    pub check: Check,
    /// Which phase's request it was: `examples`, `valid`, `invalid` or `unauthenticated`.
    pub phase: String,
    pub request: HttpRequest,
    /// None when no response came.
    pub response: Option<HttpResponse>,
    /// What was wrong, e.g. `/items/0/quantity: -1 is less than the minimum of 0 (minimum)`.
    pub reason: String,
    /// The run's seed: the same seed sends the same requests.
    pub seed: u64,
    /// The request as a runnable `curl` command.
    pub curl: String,
}

/// A request as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy for bytes that are not UTF-8).
    #[serde(default)]
    pub body: Option<String>,
}

/// A response as received (the body cut to a few KiB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: String,
}
