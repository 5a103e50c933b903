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
//! Modules: [`manifest`] (the file format), `images` (own services as `FROM scratch`
//! images, dependencies offline from Debian packages), `stack` (start, readiness, logs,
//! faults, cleanup), `cleanup` (leftovers of dead runs), `prune` (old images and report folders). The library never prints: it emits
//! [`Event`]s. See `docs/ARCHITECTURE.md`.

mod cleanup;
mod docker;
mod error;
mod events;
mod images;
pub mod labels;
mod logs;
pub mod manifest;
mod prune;
pub mod reaper;
mod stack;

pub use cleanup::{
    Removed, SweepReport, remove_all_runs, remove_run, sweep_dead_runs, sweep_dead_runs_in,
};
pub use docker::connect;
pub use error::{Error, Result};
pub use events::{Event, EventSink, discard};
pub use images::{ImageProvider, ImageState, ImageStatus};
pub use manifest::{Condition, Dependency, ImageSource, Manifest, Readiness, ServiceSpec};
pub use prune::{ImagePrune, prune_images, prune_reports};
pub use stack::{Endpoint, Stack, StackBuilder, default_reports_dir};
