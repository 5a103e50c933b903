//! Harness: test microservices for real.
//!
//! Turn a manifest (`suites/stack.toml`) describing services and their real dependencies
//! into running containers on a private network, ready to test, and make sure nothing is
//! ever left behind:
//!
//! ```no_run
//! # async fn demo() -> Result<(), harness::Error> {
//! let stack = harness::Stack::from_manifest("suites/stack.toml")?.start().await?;
//! let gateway = stack.url("gateway")?; // http://127.0.0.1:<port>
//! # let _ = gateway;
//! // ... drive the system through `gateway` ...
//! drop(stack); // removes every container and network of the run
//! # Ok(()) }
//! ```
//!
//! This crate is the facade: it re-exports the crates of the harness behind cargo
//! features, so a team that only needs stacks compiles only those.
//!
//! | feature | default | brings |
//! | --- | --- | --- |
//! | (none) | | [`Event`], [`run_dir`], [`labels`]: `harness-core` |
//! | `stack` | yes | [`Stack`], [`Manifest`], [`ImageProvider`], cleanup, the reaper; [`Error`] and [`Result`] (`harness-stack`'s, an image's error wrapped as [`images::Error`]): `harness-stack`, `harness-images` |
//! | `pact` | | [`pact`]: consumer pact checks, provider verification (`harness-pact`, on the Pact crates) |
//! | `openapi` | | [`openapi`]: response conformance, a recording client, the property-based verifier (`harness-openapi`, on jsonschema and proptest) |
//! | `report` | | [`report`]: run reports (console summary, `junit.xml`, `report.json` with its schema, `summary.md`, `report.html`) from run events (`harness-report`) |
//! | `mock` | | [`mock`]: mocks from OpenAPI documents and stubs (with `pact`, from pacts too), faults, call verification, the control client of mocks in stacks (`harness-mock`, on wiremock) |
//! | `load` | | [`load`]: thresholds judged over a load suite's results, the servers' view from their `/metrics` (`harness-load`, without goose) |
//! | `goose` | | `load`, plus `load::goose`: the scenario side of a load suite (compiles goose) |
//! | `broker` | | [`broker`]: the contract broker in-process, the Pact Broker's API on SQLite or PostgreSQL (`harness-broker`, on axum and sqlx) |
//!
//! The library never prints: it emits [`Event`]s. See `docs/ARCHITECTURE.md` for the crate
//! map.

mod book;

pub use harness_core::{
    Event, EventRecord, EventSink, SCHEMA_VERSION, contract, discard, run, run_dir, text, workspace,
};

#[cfg(feature = "stack")]
pub use harness_images::{self as images, ImageProvider, ImageRequest, ImageState, ImageStatus};
#[cfg(feature = "stack")]
pub use harness_stack::{
    Condition, Dependency, Endpoint, Error, ExecOutput, FileCopy, ImagePrune, ImageSource,
    Manifest, MockContract, Readiness, Removed, Resources, Result, ServiceSpec, Stack,
    StackBuilder, SweepReport, connect, env_var_name, labels, manifest, prune_images,
    prune_reports, reaper, remove_all_runs, remove_run, sweep_dead_runs, sweep_dead_runs_in,
};

/// Pact contracts: [`pact::PactCheck`] for consumer tests, [`pact::Verifier`] for providers.
/// Set `PACT_DO_NOT_TRACK=true` in your tests' environment (Pact reports usage over the
/// network otherwise), and call [`pact::ensure_crypto_provider`] before building reqwest
/// clients of your own in a build with this feature.
#[cfg(feature = "pact")]
pub use harness_pact as pact;

/// OpenAPI contracts: [`openapi::Document::check_response`] for one response,
/// [`openapi::RecordingClient`] for a test's traffic (with coverage), and
/// [`openapi::PropertyVerifier`] for a whole service.
#[cfg(feature = "openapi")]
pub use harness_openapi as openapi;

/// Mocks: [`mock::OpenApiMock`], [`mock::PactMock`] (with `pact`), [`mock::StubMock`], their
/// [`mock::Fault`]s and verification on drop, and [`mock::MockControl`] for a mock that is a
/// service of a stack (`ServiceSpec::mock_openapi`, `mock = { openapi = "..." }`).
#[cfg(feature = "mock")]
pub use harness_mock as mock;

/// Reports of a run of the test pyramid: [`report::Collector`] turns run events into a
/// [`report::RunReport`], written as `junit.xml`, `report.json`, `summary.md` and
/// `report.html` by [`report::write_reports`].
#[cfg(feature = "report")]
pub use harness_report as report;

/// Load runs: [`load::Threshold`]s (`p95(GET /api/products) < 300ms`) judged over what a
/// load suite measured, the servers' view from their `/metrics` ([`load::scrape`]), and
/// (feature `goose`) the scenario side a load suite is written with
/// (`harness::load::goose::main`).
#[cfg(feature = "load")]
pub use harness_load as load;

/// The contract broker: [`broker::Broker`] serves the Pact Broker's API (publish, pacts for
/// verification with selectors and pending pacts, verification results, deployments,
/// can-i-deploy) in-process on SQLite or PostgreSQL, for Pact's clients and `harness
/// contract`'s broker commands.
#[cfg(feature = "broker")]
pub use harness_broker as broker;

/// The testcontainers crate the bridge is built on (0.28), so an image type and
/// `StackBuilder::container` always agree on its version.
#[cfg(feature = "testcontainers")]
pub use harness_stack::testcontainers;

/// The label names (and, with the `stack` feature, run owners and their liveness).
#[cfg(not(feature = "stack"))]
pub use harness_core::labels;

/// Where runs write unless told otherwise: `HARNESS_REPORTS_DIR`, else `reports/` at the
/// root of the cargo workspace holding `dir`.
pub use harness_core::run_dir::default_reports_dir;

/// Harness's commands as a library: [`pyramid::run`] (`harness run`: the levels of
/// harness.toml, their stacks, nextest, the gate and the reports), [`pyramid::load`],
/// [`pyramid::contract`], [`pyramid::openapi`] and [`pyramid::broker`], each in a
/// [`pyramid::Session`] (the run's folder, its events, interruption) and returning typed
/// results. (`harness::run` is the core's types of a run's events.)
#[cfg(feature = "pyramid")]
pub use harness_run as pyramid;
