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
    /// The budget cut the operation off part-way: not every phase ran in full. It fails
    /// (a `budget` failure) unless the run allows incomplete operations.
    #[serde(default)]
    pub incomplete: bool,
    /// The checks applied to the operation's responses.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// The links the stateful phase followed from this operation, e.g.
    /// `create_order -> get_order (Location)`, with how many chains each.
    #[serde(default)]
    pub links: Vec<LinkFollowed>,
    /// Every distinct failure (by check and status), each with how often it was seen.
    #[serde(default)]
    pub failures: Vec<CheckFailure>,
}

impl OperationReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// A link between two operations that the stateful phase followed: a value the first
/// answered (a `Location` header, a response field, an OpenAPI link) used by the second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkFollowed {
    /// The operation whose answer gave the value.
    pub from: String,
    /// The operation it was used in.
    pub to: String,
    /// Where the value came from: `Location`, `body /id`, `link <name>`.
    pub via: String,
    /// Chains that followed it.
    pub chains: u32,
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
    /// Requests without credentials (or with bad ones) to protected operations.
    pub unauthenticated: u32,
    /// The coverage phase's requests: every constraint's boundaries, deterministically.
    #[serde(default)]
    pub coverage: u32,
    /// Requests of the stateful phase's chains made from this operation.
    #[serde(default)]
    pub stateful: u32,
    /// Requests with a method the path does not document.
    #[serde(default)]
    pub methods: u32,
    /// Requests sent again after a `429 Too Many Requests`.
    pub rate_limited: u32,
}

impl PhaseCounts {
    pub fn total(&self) -> u32 {
        self.examples
            + self.valid
            + self.invalid
            + self.unauthenticated
            + self.coverage
            + self.stateful
            + self.methods
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
    /// A schema-valid request gets a 2xx, or a documented 4xx other than 400, 415 and 422
    /// (those say the service enforces a rule the document does not state), unless the
    /// run lists that answer as a business rule of the operation.
    ValidAccepted,
    /// The operation answered a 2xx at least once (else it was never really exercised).
    SuccessSeen,
    /// A schema-invalid request gets a 4xx.
    InvalidRejected,
    /// A protected operation without credentials answers 401 or 403.
    AuthRequired,
    /// A protected operation refuses bad credentials (malformed, expired, wrongly signed,
    /// lacking the scope) with 401 or 403.
    BadCredentialsRefused,
    /// A method the path does not document gets 405 with an `Allow` header.
    MethodNotAllowed,
    /// A resource just created can be fetched by whoever created it.
    CreatedFetchable,
    /// A resource just deleted is gone (404 or 410).
    DeletedGone,
    /// One identity's resource cannot be read, listed, changed or deleted by another.
    CrossIdentityAccess,
    /// The service could be reached, answered in time, and not with a 429 to the end.
    Reachable,
    /// The verifier could generate requests for the operation from its schemas.
    Generated,
    /// The operation was reached, and verified in full, within the time budget.
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
            Self::BadCredentialsRefused => "bad_credentials_refused",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::CreatedFetchable => "created_fetchable",
            Self::DeletedGone => "deleted_gone",
            Self::CrossIdentityAccess => "cross_identity_access",
            Self::SuccessSeen => "success_seen",
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
    /// Which phase's request it was: `examples`, `coverage`, `valid`, `invalid`,
    /// `unauthenticated`, `methods` or `stateful`.
    pub phase: String,
    pub request: HttpRequest,
    /// None when no response came.
    pub response: Option<HttpResponse>,
    /// What was wrong, e.g. `/items/0/quantity: -1 is less than the minimum of 0 (minimum)`.
    pub reason: String,
    /// The run's seed: the same seed sends the same requests.
    pub seed: u64,
    /// The request as a runnable `curl` command; for a stateful failure, the whole chain
    /// as a script (each step's value taken from the previous answer).
    pub curl: String,
    /// How many requests failed this way (same operation, check and status); the one
    /// shown is the first, shrunk.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl CheckFailure {
    /// What makes two failures the same: the operation, the check and the status.
    pub fn key(&self) -> (String, Check, Option<u16>) {
        (
            self.operation.clone(),
            self.check,
            self.response.as_ref().map(|r| r.status),
        )
    }
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
