//! Harness's orchestration as a library: what the `harness` commands do, callable from a
//! test or another program. The CLI parses arguments, draws progress and prints what the
//! report writers render; everything in between is here.
//!
//! - [`Config`]: harness.toml, checked whole (nextest filtersets included) before anything
//!   runs, every mistake naming the file and its line.
//! - [`Session`]: one command's run: its id and folder, its events (to the caller, to the
//!   run's report, and appended to `<run>/events.jsonl` as they happen), the stacks it
//!   starts, and the [`Interrupt`] that stops it.
//! - [`run()`]: `harness run`: the levels, their stacks, nextest, the gate, the reports.
//! - [`load`]: `harness load` and the load level; [`defects`]: the defects level (planted
//!   defects, each against the check that should catch it).
//! - [`contract`]: `harness contract verify`; [`broker`]: `publish`, `record-deployment`,
//!   `can-i-deploy`; [`openapi`]: `harness contract openapi`.
//!
//! Every command returns a typed result or an [`Error`] that carries the CLI's exit code.
//! Nothing here prints: progress is events, results are values.
//!
//! ```no_run
//! # async fn demo() -> Result<(), harness_run::Error> {
//! use harness_run::{Config, RunOptions, Session, SessionOptions};
//! use harness_core::run::Level;
//!
//! let config = Config::find(std::path::Path::new("."))?;
//! let session = Session::open(config, SessionOptions::default())?;
//! let options = RunOptions { levels: vec![Level::Unit], ..RunOptions::default() };
//! let result = harness_run::run(&session, &options).await?;
//! assert!(result.passed(), "{:?}", result.gate);
//! # Ok(()) }
//! ```

pub mod broker;
mod config;
pub mod contract;
pub mod defects;
mod error;
pub mod load;
pub mod openapi;
mod process;
mod pyramid;
mod session;
mod states;

pub use config::{
    Auth, BusinessRule, Config, Contract, CredentialSource, FILE, Gate, LevelConfig, LoadConfig,
    OpenApi, OpenApiService, Profile, Provider, Run, SeedCommand, States,
};
pub use error::{Error, Result};
pub use pyramid::{
    RunOptions, RunResult, gate_failures,
    nextest::{NEXTEST_PROFILE, parse_junit},
    run,
};
pub use session::{EVENTS_FILE, Interrupt, Session, SessionOptions, attach_all};
