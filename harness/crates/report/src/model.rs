//! The report of one run, built from its events by [`Collector`]: what every writer renders.
//! Its JSON form is `report.json` (see [`REPORT_SCHEMA_VERSION`] and `report.schema.json`).
//! A load run's result (`harness_core::load::LoadReport`) is kept on its level as it came.

use std::time::Duration;

use harness_core::{
    Event,
    contract::InteractionResult,
    defects::DefectResult,
    load::LoadReport,
    openapi::OperationReport,
    run::{Level, LevelStatus, LevelSummary, RunOutcome, TestOutcome, TestResult},
};
use serde::{Deserialize, Serialize};

/// The version of `report.json`'s format. Adding an optional field keeps it; renaming or
/// removing one, or changing a meaning, bumps it (and `report.schema.json` with it).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// One run, as every report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub run_id: String,
    /// None while the run has not finished (a report written then says `interrupted`).
    pub outcome: Option<RunOutcome>,
    #[serde(with = "harness_core::seconds")]
    pub duration: Duration,
    /// Bottom to top.
    pub levels: Vec<LevelReport>,
    /// What the pyramid's shape says (an inverted pyramid).
    pub warnings: Vec<String>,
}

/// One level: its totals, its tests, the contract results gathered in it and, for the load
/// level, the load run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelReport {
    pub summary: LevelSummary,
    pub tests: Vec<TestResult>,
    #[serde(default)]
    pub interactions: Vec<InteractionResult>,
    #[serde(default)]
    pub operations: Vec<OperationReport>,
    /// The load run's figures, timelines and verdicts (its thresholds are also among
    /// `tests`, one test each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadReport>,
    /// The defects level's planted defects, each switched on alone against its check (each
    /// is also among `tests`: passed when its outcome is what the catalogue expects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defects: Vec<DefectResult>,
}

impl RunReport {
    /// The outcome as written: an unfinished run is `interrupted`.
    pub fn outcome_or_interrupted(&self) -> RunOutcome {
        self.outcome.unwrap_or(RunOutcome::Interrupted)
    }

    /// Every failed test, bottom level first.
    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.levels
            .iter()
            .flat_map(|l| l.tests.iter())
            .filter(|t| t.outcome == TestOutcome::Failed)
    }

    /// Everything that failed, bottom level first: tests, then the level's pact interactions
    /// and OpenAPI operations.
    pub fn failure_lines(&self) -> Vec<Failure> {
        let mut out = Vec::new();
        for l in &self.levels {
            let level = l.summary.level;
            for t in l.tests.iter().filter(|t| t.outcome == TestOutcome::Failed) {
                out.push(Failure {
                    level,
                    suite: t.suite.clone(),
                    name: t.name.clone(),
                    why: crate::text::why(&t.output),
                    output: t.output.clone(),
                });
            }
            for i in l.interactions.iter().filter(|i| !i.passed()) {
                let why = match &i.outcome {
                    harness_core::contract::Outcome::Failed { mismatches } => mismatches
                        .iter()
                        .map(|m| m.detail.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                    harness_core::contract::Outcome::Error { message } => message.clone(),
                    harness_core::contract::Outcome::Passed => String::new(),
                };
                out.push(Failure {
                    level,
                    suite: format!("pact {} -> {}", i.consumer, i.provider),
                    name: i.description.clone(),
                    output: why.clone(),
                    why,
                });
            }
            for o in l.operations.iter().filter(|o| !o.failures.is_empty()) {
                let output = o
                    .failures
                    .iter()
                    .map(|f| format!("{:?} ({}): {}\n  {}", f.check, f.phase, f.reason, f.curl))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.push(Failure {
                    level,
                    suite: format!("openapi {}", o.service),
                    name: o.operation.clone(),
                    why: o.failures[0].reason.clone(),
                    output,
                });
            }
        }
        out
    }

    /// The load runs' results with their levels, bottom level first.
    pub fn loads(&self) -> impl Iterator<Item = (Level, &LoadReport)> {
        self.levels
            .iter()
            .filter_map(|l| l.load.as_ref().map(|r| (l.summary.level, r)))
    }

    /// Every planted defect the run switched on, bottom level first.
    pub fn defects(&self) -> impl Iterator<Item = &DefectResult> {
        self.levels.iter().flat_map(|l| l.defects.iter())
    }

    /// The detection score, (caught, planted); `None` when no defect was planted.
    pub fn detection_score(&self) -> Option<(usize, usize)> {
        let (caught, planted) = harness_core::defects::score(self.defects());
        (planted > 0).then_some((caught, planted))
    }

    /// The level's report, if the run has it.
    pub fn level(&self, level: Level) -> Option<&LevelReport> {
        self.levels.iter().find(|l| l.summary.level == level)
    }
}

/// One thing that failed, as the summaries list it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub level: Level,
    pub suite: String,
    pub name: String,
    /// The line that says why.
    pub why: String,
    /// Everything there is to read about it.
    pub output: String,
}

/// Builds a [`RunReport`] from the events of a run, in the order they were emitted.
/// Contract results (`InteractionVerified`, `OperationVerified`) and a load run's result
/// (`LoadFinished`) belong to the level that is running when they arrive (without one: the
/// contract level, the load level).
#[derive(Debug, Default)]
pub struct Collector {
    run_id: String,
    levels: Vec<LevelReport>,
    current: Option<Level>,
    outcome: Option<RunOutcome>,
    duration: Duration,
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one event (events of other kinds are ignored).
    pub fn push(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run_id, levels, .. } => {
                self.run_id = run_id.clone();
                for l in levels {
                    self.level_mut(*l);
                }
            }
            Event::LevelStarted { level } => {
                self.current = Some(*level);
                self.level_mut(*level);
            }
            Event::TestFinished(t) => self.level_mut(t.level).tests.push(t.clone()),
            Event::LevelFinished(s) => {
                self.level_mut(s.level).summary = s.clone();
                if self.current == Some(s.level) {
                    self.current = None;
                }
            }
            Event::InteractionVerified(i) => {
                let level = self.current.unwrap_or(Level::Contract);
                self.level_mut(level).interactions.push(i.clone());
            }
            Event::OperationVerified(o) => {
                let level = self.current.unwrap_or(Level::Contract);
                self.level_mut(level).operations.push(o.clone());
            }
            Event::DefectChecked(d) => {
                let level = self.current.unwrap_or(Level::Defects);
                self.level_mut(level).defects.push(d.clone());
            }
            Event::LoadFinished(load) => {
                let level = self.current.unwrap_or(Level::Load);
                // A second load run in the same level replaces the first.
                self.level_mut(level).load = Some(LoadReport::clone(load));
            }
            Event::RunFinished { outcome, duration } => {
                self.outcome = Some(*outcome);
                self.duration = *duration;
            }
            _ => {}
        }
    }

    fn level_mut(&mut self, level: Level) -> &mut LevelReport {
        if let Some(i) = self.levels.iter().position(|l| l.summary.level == level) {
            return &mut self.levels[i];
        }
        self.levels.push(LevelReport {
            summary: LevelSummary {
                level,
                status: LevelStatus::NotRun,
                passed: 0,
                failed: 0,
                skipped: 0,
                flaky: 0,
                duration: Duration::ZERO,
                note: None,
            },
            tests: Vec::new(),
            interactions: Vec::new(),
            operations: Vec::new(),
            load: None,
            defects: Vec::new(),
        });
        self.levels.sort_by_key(|l| l.summary.level);
        let i = self
            .levels
            .iter()
            .position(|l| l.summary.level == level)
            .expect("just inserted");
        &mut self.levels[i]
    }

    /// The report so far (a run still going is reported as interrupted by the writers).
    pub fn report(&self) -> RunReport {
        RunReport {
            schema_version: REPORT_SCHEMA_VERSION,
            run_id: self.run_id.clone(),
            outcome: self.outcome,
            duration: self.duration,
            levels: self.levels.clone(),
            warnings: shape_warnings(&self.levels),
        }
    }
}

/// The pyramid is inverted when a level has more tests than one below it, or when the
/// end-to-end level takes longer than every level below it together (load and defects are
/// apart: thresholds and planted defects are not a test count). Counted in tests, not in
/// contract checks.
fn shape_warnings(levels: &[LevelReport]) -> Vec<String> {
    let ran: Vec<&LevelReport> = levels
        .iter()
        .filter(|l| {
            !matches!(l.summary.level, Level::Load | Level::Defects)
                && matches!(l.summary.status, LevelStatus::Passed | LevelStatus::Failed)
        })
        .collect();
    // Tests are what the levels' test runs reported (a contract level's pact interactions
    // and OpenAPI operations are checks, not tests); a level without tests is not compared.
    let tests: Vec<(Level, usize)> = ran
        .iter()
        .map(|l| (l.summary.level, l.tests.len()))
        .filter(|(_, n)| *n > 0)
        .collect();
    let mut out = Vec::new();
    for (i, (upper, n)) in tests.iter().enumerate() {
        if let Some((lower, m)) = tests[..i].iter().find(|(_, m)| n > m) {
            out.push(format!(
                "inverted pyramid: {upper} has more tests ({n}) than {lower} below it ({m})"
            ));
        }
    }
    let ran: Vec<&LevelSummary> = ran.iter().map(|l| &l.summary).collect();
    if let Some(top) = ran.iter().find(|s| s.level == Level::E2e) {
        let below: Duration = ran
            .iter()
            .filter(|s| s.level < Level::E2e)
            .map(|s| s.duration)
            .sum();
        if !below.is_zero() && top.duration > below {
            out.push(format!(
                "inverted pyramid: e2e takes longer ({:.1} s) than every level below it together ({:.1} s)",
                top.duration.as_secs_f64(),
                below.as_secs_f64()
            ));
        }
    }
    out
}
