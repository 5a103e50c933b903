//! Harness mocks: stand-ins for the peers a test should not touch, on wiremock.
//!
//! - [`OpenApiMock`]: from an OpenAPI document. Valid requests get valid answers (the
//!   document's examples, else data generated from the schema with a seed); requests the
//!   document does not accept get the 4xx a provider would send, saying why.
//! - [`PactMock`] (feature `pact`, on by default): from a pact; answers as the provider
//!   promised that consumer, with Pact's own matching; unmatched requests are reported.
//! - [`StubMock`]: routes with fixed answers, written in code (or mount wiremock mocks on
//!   [`MockServer::inner`]).
//!
//! Every mock is a [`MockServer`] with [`Fault`]s (latency, an error status, a dropped
//! connection; for the first N requests, a fraction, or a time window; for one operation or
//! all), the [`Call`]s it received in order, [`Expectation`]s of call counts, and overrides
//! of its answers, all checked when it drops, as wiremock does: answers that break the
//! contract, rejected requests and unmet expectations make the drop panic.
//!
//! The same operations are served as an HTTP control API under `/__harness/` (see
//! [`control`]), which [`MockControl`] drives: that is how a test talks to a mock that runs
//! as a container of a stack (`mock = { openapi = "..." }` in a manifest). The
//! `harness-mock` binary of this crate is that container's server; see its source for the
//! environment it reads.

mod calls;
pub mod control;
mod fault;
mod openapi;
#[cfg(feature = "pact")]
mod pact;
mod server;
mod state;
mod stub;

pub use calls::{Call, Expectation, Override, Unverified};
pub use control::{ControlError, MockControl};
pub use fault::{Effect, Fault, When};
pub use openapi::OpenApiMock;
#[cfg(feature = "pact")]
pub use pact::{PactError, PactMock};
pub use server::MockServer;
pub use state::DEFAULT_HEALTH_PATHS;
pub use stub::StubMock;
pub use wiremock;
