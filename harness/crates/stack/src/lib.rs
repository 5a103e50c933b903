//! Stacks for Harness: a manifest's services (or services declared in code) started as
//! containers on a private network, in dependency order, each waited for by its readiness
//! rule; URLs, fault controls, logs; and nothing left behind, however the process ends.
//!
//! ```no_run
//! # async fn demo() -> Result<(), harness_stack::Error> {
//! let stack = harness_stack::Stack::from_manifest("suites/stack.toml")?.start().await?;
//! let gateway = stack.url("gateway")?; // http://127.0.0.1:<port>
//! # let _ = gateway;
//! drop(stack); // removes every container and network of the run
//! # Ok(()) }
//! ```
//!
//! Modules: [`manifest`] (the file format), `service` (services declared in code), `stack`
//! (the builder, the start, readiness, the exit watch, the running stack's handle), `docker`
//! (the engine runtime and its one client), [`reaper`] (the reaper client), `cleanup`
//! (removal by label, the sweep), [`labels`] (labels, owners, liveness), `logs` (log
//! capture), `prune` (old images and run folders), `error` ([`Error`]: the stack's errors,
//! an images error wrapped as it is, the CLI's exit codes). The library never prints: it
//! emits events (`harness_core::Event`). See `docs/ARCHITECTURE.md`.

#[cfg(feature = "testcontainers")]
mod bridge;
mod cleanup;
mod docker;
mod error;
pub mod labels;
mod logs;
pub mod manifest;
mod prune;
pub mod reaper;
mod service;
mod stack;

pub use cleanup::{
    Removed, SweepReport, remove_all_runs, remove_run, sweep_dead_runs, sweep_dead_runs_in,
};
pub use docker::connect;
pub use error::{Error, Result};
pub use manifest::{
    Condition, Dependency, FileCopy, ImageSource, MOCK_HEALTH_PATH, Manifest, MockContract,
    Readiness, Resources, ServiceSpec,
};
pub use prune::{ImagePrune, prune_images, prune_reports};
pub use stack::{Endpoint, ExecOutput, SERVICE_ENV, Stack, StackBuilder, env_var_name};
#[cfg(feature = "testcontainers")]
pub use testcontainers;
