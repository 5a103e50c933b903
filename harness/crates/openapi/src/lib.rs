//! OpenAPI contracts for Harness: a provider must do what its OpenAPI document says.
//!
//! - [`Document`]: OpenAPI 3.0 and 3.1 documents, `$ref`s resolved inside the document
//!   (nothing is fetched), schemas compiled with `jsonschema` (draft 2020-12; 3.0's dialect
//!   rewritten to it). Bad documents are [`DocumentError`]s with the file and JSON pointer.
//! - [`Document::check_response`]: conformance of one response to its operation (status,
//!   content type, body, required headers), each [`Violation`] with the operation, the
//!   status, the JSON pointer and the [`Rule`].
//! - [`Document::check_request`], [`Document::answer`]: the provider's side, for mocks
//!   (is a request one the document accepts; a response the document allows).
//! - [`RecordingClient`]: an opt-in reqwest wrapper for any test that checks every
//!   response and keeps a [`Coverage`] summary.
//! - [`PropertyVerifier`]: the property-based verifier (examples, a deterministic coverage
//!   phase, generated valid and invalid requests with proptest, bad credentials, undocumented
//!   methods, and a stateful phase that chains operations as several [`Identity`]s; shrinking,
//!   `curl` lines and seeds), with results typed in [`harness_core::openapi`] for the report
//!   writers.

mod conformance;
mod document;
mod exchange;
mod generate;
mod record;
mod verify;

pub use conformance::{Nonconformance, Rule, Violation};
pub use document::{
    Document, DocumentError, Location, MediaType, Operation, Parameter, RequestBody, Response,
    RouteError, SpecVersion, StatusKey, document_path,
};
pub use exchange::{Answer, IncomingRequest, RequestMismatch};
pub use harness_core::openapi::{Check, CheckFailure, OperationReport};
pub use record::{Coverage, OperationCoverage, RecordError, RecordingClient};
pub use verify::{
    BusinessRule, Credential, DEFAULT_MAX_EXAMPLES, DEFAULT_TIME_BUDGET, Identity,
    PropertyVerifier, VerifyError, VerifyReport,
};
