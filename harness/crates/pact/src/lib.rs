//! Harness contracts on Pact.
//!
//! - **Consumer side**: write pacts with [`pact_consumer`] (re-exported) from tests that drive
//!   your real client code against Pact's mock server; [`PactCheck`] gives each test its own
//!   output directory and fails when the checked-in pact (`contracts/pacts/`) is stale.
//! - **Provider side**: [`Verifier`] replays a provider's pacts (from a file, a directory or
//!   a broker) against it, with provider states and message producers from Rust
//!   [`Handlers`] or from Pact's standard HTTP endpoints ([`serve`] offers them for your
//!   handlers), and returns one typed [`InteractionResult`] per interaction.
//! - **Broker**: [`broker::BrokerClient`] publishes pacts, records deployments and asks
//!   can-i-deploy; [`PactSource::BrokerSelected`] verifies the pacts a broker selects (with
//!   pending pacts) and [`Verifier::publish_results`] sends the results back.
//!
//! Nothing here calls out to the internet: the Pact crates are built without their plugin
//! driver, and their usage telemetry is off only when `PACT_DO_NOT_TRACK=true` is in the
//! environment. The `harness` CLI sets it for itself and its children; set it for your
//! own tests (this workspace does in `.cargo/config.toml`).
//!
//! In a build that contains this crate, reqwest needs a rustls crypto provider before any
//! client is built: see [`ensure_crypto_provider`].

pub mod broker;
pub mod consumer;
mod error;
mod executor;
mod handlers;
mod mismatch;
pub mod serve;
pub mod source;
mod tls;
mod verify;

pub use consumer::PactCheck;
pub use error::{Error, Result};
pub use executor::{ProviderRequest, RequestFilter};
pub use handlers::{
    Action, HandlerError, Handlers, Message, MessageProducer, MessageRequest, RequestedState,
    StateChange, StateHandler, StateValues,
};
pub use harness_core::contract::{
    InteractionResult, Mismatch, MismatchKind, Outcome, PactSummary,
    ProviderVerification as VerifyReport,
};
pub use pact_consumer;
/// Pact's models (generators, matching rules) for what the builders do not cover, e.g. a
/// provider-state value in a request body (`generators::Generator::ProviderStateGenerator`).
pub use pact_models;
pub use serve::{Server, router};
pub use source::{BrokerSelection, PactSource};
pub use tls::ensure_crypto_provider;
pub use verify::{NoPacts, PublishResults, Verifier};

/// The environment variable that turns Pact's usage telemetry off.
pub const DO_NOT_TRACK_ENV: &str = "PACT_DO_NOT_TRACK";
