//! Progress events. Nothing below the CLI prints: the library emits [`Event`]s to an
//! [`EventSink`], and the CLI (or a test) decides how to show them.

use std::{sync::Arc, time::Duration};

/// Something that happened while preparing or running a stack.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Leftovers of a dead run were removed.
    Swept { containers: usize, networks: usize },
    /// Leftovers of a dead run could not be removed (the start goes on; the next sweep
    /// tries again).
    SweepFailed { run_id: String, error: String },
    /// Runs whose owner's liveness cannot be told were left alone (`harness clean --run`
    /// or `--all` removes them).
    SweepUndecided { run_ids: Vec<String> },
    /// This process's reaper is up (started once per process).
    ReaperReady { image: String, elapsed: Duration },
    /// The reaper is turned off (`HARNESS_REAPER_DISABLED`); only the sweep cleans up after
    /// a crash.
    ReaperDisabled,
    /// A tool is being installed (e.g. `mmdebstrap` with apt).
    InstallingTool { tool: String, package: String },
    /// Work on an image started; `how` says what is happening.
    ImageWorking {
        service: String,
        reference: String,
        how: String,
    },
    /// The image is available; `built` says whether it had to be built or pulled now.
    ImageReady {
        service: String,
        reference: String,
        built: bool,
        elapsed: Duration,
    },
    /// A container is being created and started.
    ServiceStarting { service: String },
    /// A container started; waiting for its readiness rule.
    ServiceWaiting { service: String, rule: String },
    /// The service is ready.
    ServiceReady {
        service: String,
        url: Option<String>,
        elapsed: Duration,
    },
    /// The service is attached to an external URL instead of a container.
    ServiceAttached { service: String, url: String },
    /// The stack is being removed.
    Stopping { run_id: String },
}

/// Where events go.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// A sink that drops every event.
pub fn discard() -> EventSink {
    Arc::new(|_| {})
}
