//! Events. Nothing below the CLI prints: the library emits [`Event`]s to an [`EventSink`],
//! and the CLI (or a test, or a report writer) decides how to show or store them.
//!
//! Events are serialisable (JSON with a `type` tag, durations as fractional seconds), and
//! stored ones are wrapped in an [`EventRecord`] carrying [`SCHEMA_VERSION`], so writers and
//! readers of stored events can tell which format they hold. Adding a variant (older
//! readers see it as [`Event::Unknown`]) or a field with a default keeps the version;
//! renaming or removing one bumps it.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

/// The version of the stored event format ([`EventRecord`]).
pub const SCHEMA_VERSION: u32 = 1;

/// Something that happened while preparing or running a stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
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
    ReaperReady {
        image: String,
        #[serde(with = "seconds")]
        elapsed: Duration,
    },
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
        #[serde(with = "seconds")]
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
        #[serde(with = "seconds")]
        elapsed: Duration,
    },
    /// A service's container exited while the stack was up (not through a fault control or
    /// the stack's removal).
    ServiceExited {
        service: String,
        exit_code: i64,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The service is attached to an external URL instead of a container.
    ServiceAttached { service: String, url: String },
    /// The stack is being removed.
    Stopping { run_id: String },
    /// A pact is about to be verified against its provider.
    PactVerifying {
        consumer: String,
        provider: String,
        source: String,
        interactions: usize,
    },
    /// One interaction of a pact was verified.
    InteractionVerified(crate::contract::InteractionResult),
    /// No pact names this provider; `failed` says whether that fails the verification.
    NoPacts {
        provider: String,
        sources: Vec<String>,
        failed: bool,
    },
    /// The OpenAPI verifier starts on a service's document.
    OpenApiVerifying {
        service: String,
        document: String,
        operations: usize,
        seed: u64,
    },
    /// One operation of an OpenAPI document was verified.
    OperationVerified(crate::openapi::OperationReport),
    /// A run of the test pyramid started (`harness run`): its id and the levels it will run.
    RunStarted {
        run_id: String,
        levels: Vec<crate::run::Level>,
        /// The run's folder, where its reports go (given by `harness run`, which announces
        /// it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<std::path::PathBuf>,
    },
    /// A level started.
    LevelStarted { level: crate::run::Level },
    /// What a running level is doing now ("starting the stack", "cargo nextest run ...").
    LevelStep {
        level: crate::run::Level,
        step: String,
    },
    /// Live progress of a level's tests as the runner reports them (nextest's status
    /// lines): how many ended so far and the last one. Progress only: the results are the
    /// [`Event::TestFinished`] events read from the runner's JUnit report.
    LevelProgress {
        level: crate::run::Level,
        passed: u32,
        failed: u32,
        /// The test that ended last, and whether it passed.
        last: String,
        last_passed: bool,
    },
    /// A test of the level finished.
    TestFinished(crate::run::TestResult),
    /// A level finished (or was found not configured, or was not run).
    LevelFinished(crate::run::LevelSummary),
    /// A load run ended: its figures, the server's view and each threshold's verdict.
    LoadFinished(Box<crate::load::LoadReport>),
    /// A planted defect was switched on alone and its check ran (the defects level).
    DefectChecked(crate::defects::DefectResult),
    /// The run finished: the gate's verdict, or interrupted.
    RunFinished {
        outcome: crate::run::RunOutcome,
        #[serde(with = "seconds")]
        duration: Duration,
    },
    /// A line for people about what a command does that no other event says (where an
    /// output went, a check that was skipped as allowed).
    Notice { message: String },
    /// Something went wrong that does not stop the command (a report not sent to its log).
    Warning { message: String },
    /// An event of a newer writer that this version does not know (read from a stored
    /// stream; never emitted).
    #[serde(other)]
    Unknown,
}

/// An event as stored: the format's version, when it happened, and the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub event: Event,
}

impl EventRecord {
    /// `event`, stamped now.
    pub fn now(event: Event) -> Self {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self {
            schema: SCHEMA_VERSION,
            at_ms,
            event,
        }
    }
}

/// Durations as fractional seconds (`1.25`), the unit every report shows: use it as
/// `#[serde(with = "harness_core::seconds")]`.
pub mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Where events go.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// A sink that drops every event.
pub fn discard() -> EventSink {
    Arc::new(|_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json_with_their_schema_version() {
        let events = vec![
            Event::ServiceReady {
                service: "orders".into(),
                url: Some("http://127.0.0.1:1".into()),
                elapsed: Duration::from_millis(1250),
            },
            Event::SweepUndecided {
                run_ids: vec!["abc".into()],
            },
            Event::ReaperDisabled,
        ];
        for event in events {
            let record = EventRecord::now(event);
            let json = serde_json::to_string(&record).unwrap();
            assert!(json.contains("\"schema\":1"), "{json}");
            let back: EventRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(back, record);
        }
        let json = serde_json::to_value(Event::ServiceReady {
            service: "orders".into(),
            url: None,
            elapsed: Duration::from_millis(1250),
        })
        .unwrap();
        assert_eq!(json["type"], "service_ready");
        assert_eq!(json["elapsed"], 1.25);
        // A newer writer's event reads as Unknown, not as an error.
        let newer: Event = serde_json::from_str(r#"{"type":"load_summary","rps":5}"#).unwrap();
        assert_eq!(newer, Event::Unknown);
    }
}
