//! A run of the test pyramid as report writers read it: the [`Level`]s, each test's
//! [`TestResult`], each level's [`LevelSummary`] and the run's [`RunOutcome`]. Producers (the
//! `harness run` command, reading nextest's JUnit output) emit them as events; writers
//! (`harness-report`) turn the events into the console summary, `junit.xml`, `report.json`,
//! `summary.md` and `report.html`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A level of the test pyramid, bottom to top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Unit,
    Integration,
    Contract,
    E2e,
    Load,
    /// Planted defects switched on one at a time, each against the check that should catch
    /// it ([`crate::defects`]): a measure of the levels below, so it runs last.
    Defects,
}

impl Level {
    /// Bottom to top.
    pub const ALL: [Level; 6] = [
        Level::Unit,
        Level::Integration,
        Level::Contract,
        Level::E2e,
        Level::Load,
        Level::Defects,
    ];

    /// `unit`, `integration`, `contract`, `e2e`, `load`, `defects`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unit => "unit",
            Level::Integration => "integration",
            Level::Contract => "contract",
            Level::E2e => "e2e",
            Level::Load => "load",
            Level::Defects => "defects",
        }
    }

    /// Reads a level's name (as [`Level::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Passed,
    Failed,
    Skipped,
    /// Failed, then passed on a retry.
    Flaky,
}

/// One test of a level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub level: Level,
    /// Where it lives: a test binary (`integration-suite::integration`), a pact, a document.
    pub suite: String,
    pub name: String,
    pub outcome: TestOutcome,
    #[serde(with = "crate::events::seconds")]
    pub duration: Duration,
    /// Failed attempts before the last (flaky tests, and failures that were retried).
    #[serde(default)]
    pub retries: u32,
    /// What the test printed, for failures (the panic message among it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// How a level ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelStatus {
    Passed,
    Failed,
    /// Nothing is configured for it (never counts as passed).
    NotConfigured,
    /// Not run: not selected, or the run stopped before it (`--fail-fast`, Ctrl-C).
    NotRun,
}

/// A level's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelSummary {
    pub level: Level,
    pub status: LevelStatus,
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub flaky: u32,
    #[serde(with = "crate::events::seconds")]
    pub duration: Duration,
    /// Why it has the status it has, when that needs saying ("no load profile configured").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl LevelSummary {
    /// Tests that ran (passed, failed, flaky).
    pub fn ran(&self) -> u32 {
        self.passed + self.failed + self.flaky
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// The gate passed.
    Passed,
    /// The gate failed.
    Failed,
    /// Stopped by Ctrl-C / SIGTERM: what finished is reported.
    Interrupted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_read_back_what_they_write() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.as_str()), Some(l));
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
        assert_eq!(Level::parse("smoke"), None);
        assert!(Level::Unit < Level::Load);
    }
}
