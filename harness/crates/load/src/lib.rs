//! Harness load testing. The part that judges a run needs no load generator: what was
//! measured ([`series`]: latency histograms, request and error counts per target), the
//! threshold language that turns it into verdicts ([`threshold`]: `p95(GET /api/products)
//! < 300ms`), the server's view from the services' `/metrics` ([`scrape`]), what a suite
//! hands the harness ([`plan`] in, [`results`] out) and the judged report ([`judge`]).
//!
//! The scenario side runs on goose behind the `goose` feature ([`goose`](crate::goose)):
//! a load suite is a binary of the user's workspace, so the CLI evaluates, scrapes and
//! reports without depending on goose. (In a workspace that holds a load suite, as this one
//! does, cargo unifies features across a `--workspace` build and compiles goose into it
//! anyway; a team's own CLI install or a stacks-only user never does.)

mod error;
#[cfg(feature = "goose")]
pub mod goose;
pub mod judge;
pub mod plan;
pub mod results;
pub mod scrape;
pub mod series;
pub mod threshold;
pub mod usage;

/// A judged load run as reports read it (the types live in `harness-core`, beside the
/// event that carries them).
pub use harness_core::load as report;

pub use error::LoadError;
pub use judge::{abort_rules, judge};
pub use plan::{Plan, STARTED};
pub use results::LoadResults;
pub use series::{Histogram, Measurements, Series};
pub use threshold::{
    Kind, Limit, Measured, MeasuredValue, Metric, Op, Threshold, ThresholdError, Unit, Verdict,
    evaluate_all,
};
