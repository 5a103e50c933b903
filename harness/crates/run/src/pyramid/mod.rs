//! `harness run`: the test pyramid in one call. Each level configured in harness.toml
//! (`[run.levels.<level>]`) runs in order, bottom first: its tests are the workspace's tests
//! that a nextest filterset selects ([`nextest`]), with the level's stack endpoints in their
//! environment when the level asks for a stack; a level may also verify pacts, check
//! services against their OpenAPI documents and run a load profile on that stack. A level's
//! stack is started for the level and shared by its tests and checks; the next level that
//! needs one gets a fresh one.
//!
//! Before the first level, every image the run will need is made at once ([`images`]): the
//! stack's and those of the manifests the levels' tests start, in one cargo build beside the
//! dependencies' images, with progress as events.
//!
//! Every result is an event of the session (`RunStarted`, `LevelStarted`, `TestFinished`,
//! `OperationVerified`, `LevelFinished`, `RunFinished`): the run's reports are rewritten
//! after every level (a killed run leaves the report of what finished) and at the end, or
//! when the interrupt fires (marked interrupted). The gate ([`gate_failures`]) gives the
//! verdict.

mod gate;
mod images;
pub(crate) mod nextest;

use std::{path::PathBuf, time::Instant};

use harness_core::{
    Event,
    run::{Level, LevelStatus, LevelSummary, RunOutcome, TestOutcome},
};
use harness_report::RunReport;
use harness_stack::Stack;

pub use gate::gate_failures;

use crate::{Error, LevelConfig, Result, Session, contract, load, openapi};

/// What `harness run` runs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The levels to run (empty: all), in any order: they run bottom first.
    pub levels: Vec<Level>,
    /// Stop after the first level that fails (the levels after it are reported as not run).
    pub fail_fast: bool,
    /// Variables for every level's tests besides the stack's endpoints (a program cannot
    /// set its own environment safely while threads run, so a caller gives them here).
    pub env: Vec<(String, String)>,
}

impl RunOptions {
    /// Levels by name (`--level unit,e2e`).
    pub fn parse_levels(names: &[String]) -> Result<Vec<Level>> {
        names
            .iter()
            .map(|name| {
                Level::parse(name).ok_or_else(|| {
                    Error::Usage(format!(
                        "--level {name}: the levels are unit, integration, contract, e2e, load, defects"
                    ))
                })
            })
            .collect()
    }
}

/// What a run found: its report, the gate's verdict and the files written.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub run_id: String,
    /// The run's folder.
    pub dir: PathBuf,
    /// The levels that were selected, in the order they ran.
    pub levels: Vec<Level>,
    pub report: RunReport,
    /// Why the gate failed (empty: it passed, or the run was interrupted).
    pub gate: Vec<String>,
    pub outcome: RunOutcome,
    /// The report files.
    pub written: Vec<PathBuf>,
}

impl RunResult {
    /// Whether the gate passed.
    pub fn passed(&self) -> bool {
        self.outcome == RunOutcome::Passed
    }
}

/// Runs the pyramid in `session`. `Ok` whatever the gate says (see [`RunResult::outcome`]);
/// `Err` for bad input or an environment the run cannot start in.
pub async fn run(session: &Session, options: &RunOptions) -> Result<RunResult> {
    let config = session.config();
    let mut selected = Vec::new();
    for &level in &options.levels {
        if !selected.contains(&level) {
            selected.push(level);
        }
    }
    if selected.is_empty() {
        selected = Level::ALL.to_vec();
    }
    selected.sort();
    // harness.toml whole before anything runs: the selected levels' filtersets too.
    config.check_filtersets(&selected)?;
    let needs_nextest = selected
        .iter()
        .any(|l| config.run.levels.get(l).is_some_and(|c| c.tests.is_some()));
    if needs_nextest && !nextest::installed().await {
        return Err(Error::Environment(
            "cargo-nextest is not installed (harness run runs the tests with it): cargo install cargo-nextest --locked".to_owned(),
        ));
    }
    session.emit(Event::RunStarted {
        run_id: session.run_id().to_owned(),
        levels: selected.clone(),
        dir: Some(session.dir().to_owned()),
    });

    let mut state = RunState {
        session,
        env: &options.env,
        stack: None,
        stacks_started: 0,
    };
    let manifests = images::manifests(session, &selected);
    let interrupted = tokio::select! {
        () = async {
            // A failure here is not the run's: each level that needs the image meets it
            // again, and says so in its own result.
            if let Err(e) = images::prepare(session, &manifests).await {
                session.emit(Event::Warning {
                    message: format!("the run's images could not be made up front: {e}"),
                });
            }
            state.levels(&selected, options.fail_fast).await;
        } => false,
        () = session.interrupt().fired() => true,
    };
    // An interrupted level's stack is still up: the reports are written first (a hung
    // engine must not cost them), then it is removed (its containers carry the run's labels:
    // the reaper removes them if this process is stopped harder).
    let leftover = state.stack.take();

    let gate = if interrupted {
        Vec::new()
    } else {
        gate_failures(config, &selected, &session.report())
    };
    let outcome = match (interrupted, gate.is_empty()) {
        (true, _) => RunOutcome::Interrupted,
        (false, true) => RunOutcome::Passed,
        (false, false) => RunOutcome::Failed,
    };
    session.emit(Event::RunFinished {
        outcome,
        duration: session.elapsed(),
    });
    let written = session.write_reports()?;
    session.point_latest()?;
    if let Some(stack) = leftover {
        let _ = stack.shutdown().await;
    }
    Ok(RunResult {
        run_id: session.run_id().to_owned(),
        dir: session.dir().to_owned(),
        levels: selected,
        report: session.report(),
        gate,
        outcome,
        written,
    })
}

struct RunState<'a> {
    session: &'a Session,
    env: &'a [(String, String)],
    stack: Option<Stack>,
    stacks_started: u32,
}

impl RunState<'_> {
    fn emit(&self, event: Event) {
        self.session.emit(event);
    }

    /// A level finished: its event, and the reports of what finished so far.
    fn finished(&self, summary: LevelSummary) {
        self.emit(Event::LevelFinished(summary));
        if let Err(e) = self.session.write_reports() {
            self.emit(Event::Warning {
                message: format!("the reports of what finished so far were not written: {e}"),
            });
        }
    }

    async fn levels(&mut self, selected: &[Level], fail_fast: bool) {
        let mut failed_below = false;
        for &level in selected {
            let note = |n: &str| Some(n.to_owned());
            let Some(cfg) = self.session.config().run.levels.get(&level).cloned() else {
                let why = if level == Level::Load {
                    "no load profile: give [run.levels.load] a profile of [load.profiles] in harness.toml"
                } else {
                    "no [run.levels] entry for it in harness.toml"
                };
                self.finished(empty(level, LevelStatus::NotConfigured, note(why)));
                continue;
            };
            if fail_fast && failed_below {
                self.finished(empty(
                    level,
                    LevelStatus::NotRun,
                    note("--fail-fast: a level below failed"),
                ));
                continue;
            }
            let summary = self.level(level, &cfg).await;
            failed_below |= summary.status == LevelStatus::Failed;
            self.finished(summary);
        }
    }

    async fn level(&mut self, level: Level, cfg: &LevelConfig) -> LevelSummary {
        let started = Instant::now();
        self.emit(Event::LevelStarted { level });
        let mut summary = empty(level, LevelStatus::Passed, None);
        let mut problems: Vec<String> = Vec::new();
        if cfg.stack
            && let Err(e) = self.start_stack(level).await
        {
            problems.push(format!("the stack did not start: {e}"));
        }
        if let Some(filter) = &cfg.tests
            && (!cfg.stack || self.stack.is_some())
        {
            match self.nextest(level, filter).await {
                Ok(tests) => {
                    // Checks of the level (pacts, OpenAPI) must not hide a filter that
                    // selects nothing: the tests it names were meant to run.
                    if tests.is_empty() {
                        problems.push(format!(
                            "the filterset {filter:?} of [run.levels.{level}] selected no test"
                        ));
                    }
                    for t in tests {
                        match t.outcome {
                            TestOutcome::Passed => summary.passed += 1,
                            TestOutcome::Failed => summary.failed += 1,
                            TestOutcome::Skipped => summary.skipped += 1,
                            TestOutcome::Flaky => summary.flaky += 1,
                        }
                        self.emit(Event::TestFinished(t));
                    }
                }
                Err(why) => problems.push(why),
            }
        }
        if cfg.pact && self.stack.is_some() {
            match self.pact(level).await {
                Ok((passed, failed, more)) => {
                    summary.passed += passed;
                    summary.failed += failed;
                    problems.extend(more.into_iter().map(|p| format!("pact: {p}")));
                }
                Err(why) => problems.push(format!("pact: {why}")),
            }
        }
        for service in &cfg.openapi {
            if self.stack.is_none() {
                break;
            }
            match self.openapi(level, service).await {
                Ok((passed, failed)) => {
                    summary.passed += passed;
                    summary.failed += failed;
                }
                Err(why) => problems.push(format!("openapi {service}: {why}")),
            }
        }
        if let Some(catalogue) = &cfg.catalogue {
            match crate::defects::run(self.session, catalogue, level, self.env).await {
                Ok(results) => {
                    for r in &results {
                        if r.as_expected() {
                            summary.passed += 1;
                        } else {
                            summary.failed += 1;
                        }
                    }
                }
                Err(e) => problems.push(format!("defects: {e}")),
            }
        }
        if let Some(profile) = &cfg.profile
            && self.stack.is_some()
        {
            match self.load(level, profile).await {
                Ok((passed, failed)) => {
                    summary.passed += passed;
                    summary.failed += failed;
                }
                Err(why) => problems.push(format!("load: {why}")),
            }
        }
        // The level's stack goes with it: the next level gets a fresh one (generated
        // contract traffic must not load or change the system the e2e tests see).
        if let Some(stack) = self.stack.take()
            && let Err(e) = stack.shutdown().await
        {
            problems.push(format!("removing the stack: {e}"));
        }
        if summary.failed > 0 || !problems.is_empty() {
            summary.status = LevelStatus::Failed;
        }
        if !problems.is_empty() {
            summary.note = Some(problems.join("; "));
        }
        summary.duration = started.elapsed();
        summary
    }

    fn step(&self, level: Level, step: String) {
        self.emit(Event::LevelStep { level, step });
    }

    async fn start_stack(&mut self, level: Level) -> Result<()> {
        let session = self.session;
        let manifest = &session.config().manifest;
        self.step(level, format!("starting the stack {}", manifest.display()));
        // The first stack has the run's id (its logs go in `<run>/logs`); later ones get the
        // run's id and a number, their logs in `<run>/stacks/<id>/logs`.
        let run_id = session.run_id();
        let (id, reports) = match self.stacks_started {
            0 => (run_id.to_owned(), session.reports_dir().to_owned()),
            n => (format!("{run_id}{n}"), session.dir().join("stacks")),
        };
        self.stacks_started += 1;
        // The services the level checks against their documents run with their
        // `[openapi.services.NAME] env`.
        let checked = session
            .config()
            .run
            .levels
            .get(&level)
            .map(|l| l.openapi.clone())
            .unwrap_or_default();
        let builder = Stack::from_manifest(manifest)?
            .run_id(id)
            .reports_dir(reports)
            .events(session.events());
        let stack = session
            .config()
            .openapi_env(builder, &checked)
            .start()
            .await?;
        self.stack = Some(stack);
        Ok(())
    }

    /// The level's tests through nextest; the JUnit report read back.
    async fn nextest(
        &self,
        level: Level,
        filter: &str,
    ) -> std::result::Result<Vec<harness_core::run::TestResult>, String> {
        let mut env = self.env.to_vec();
        if let Some(stack) = &self.stack {
            env.extend(stack_env(stack));
        }
        nextest::NextestRun {
            root: self.session.root(),
            run_dir: self.session.dir(),
            level,
            filter,
            retries: self.session.config().run.gate.retries,
            env,
            sink: self.session.events(),
        }
        .run()
        .await
    }

    /// Every pact against the level's stack, as `harness contract verify --attach` would:
    /// (passed, failed) interactions, and what went wrong beyond them (a provider without
    /// pacts, a state program that did not start).
    async fn pact(&self, level: Level) -> std::result::Result<(u32, u32, Vec<String>), String> {
        let stack = self.stack.as_ref().ok_or("no stack")?;
        let options = contract::VerifyOptions::default();
        let Some(plan) = contract::plan(self.session, &options).map_err(|e| e.to_string())? else {
            return Ok((0, 0, Vec::new()));
        };
        self.step(
            level,
            format!(
                "pact: verifying {} against the level's stack",
                plan.providers
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let reports = contract::verify_on(self.session, stack, &plan, None)
            .await
            .map_err(|e| e.to_string())?;
        let results = reports.iter().map(|r| r.results.len()).sum::<usize>() as u32;
        // A pending pact's failures do not fail the level.
        let failed = reports
            .iter()
            .map(|r| r.blocking_failures().count())
            .sum::<usize>() as u32;
        let problems = reports
            .iter()
            .filter(|r| !r.passed() && r.results.iter().all(|i| i.passed()))
            .map(|r| format!("provider {}: {}", r.provider, r.explain().trim()))
            .collect();
        Ok((results - failed, failed, problems))
    }

    /// One service against its OpenAPI document on the level's stack: (passed, failed)
    /// operations.
    async fn openapi(
        &self,
        level: Level,
        service: &str,
    ) -> std::result::Result<(u32, u32), String> {
        let stack = self.stack.as_ref().ok_or("no stack")?;
        let url = stack.url(service).map_err(|e| e.to_string())?;
        let options = openapi::OpenApiOptions {
            url: Some(url.clone()),
            ..openapi::OpenApiOptions::new(service)
        };
        let prepared =
            openapi::prepare(self.session.config(), &options).map_err(|e| e.to_string())?;
        self.step(
            level,
            format!(
                "openapi {service}: checking {url} against {}",
                prepared.doc.origin()
            ),
        );
        let report = openapi::check_on(self.session, &options, prepared, &url, Some(stack))
            .await
            .map_err(|e| e.to_string())?;
        let failed = report.operations.iter().filter(|o| !o.passed()).count() as u32;
        Ok((report.operations.len() as u32 - failed, failed))
    }

    /// A load profile on the level's stack: (passed, failed) thresholds.
    async fn load(&self, level: Level, profile: &str) -> std::result::Result<(u32, u32), String> {
        let stack = self.stack.as_ref().ok_or("no stack")?;
        let config = self.session.config();
        let load = config
            .load
            .as_ref()
            .ok_or("no [load] section in harness.toml")?;
        let settings = load::Settings::named(profile, load).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let report = load::run_on(self.session, stack, load, &settings, level)
            .await
            .map_err(|e| e.to_string())?;
        let s = load::level_summary(
            &report,
            &settings,
            started.elapsed(),
            &self.session.events(),
        );
        Ok((s.passed, s.failed))
    }
}

/// A stack's variables for tests: every service's endpoints as `harness up --env-file`
/// writes them (GATEWAY_URL) and as provider-state programs get them (HARNESS_GATEWAY_URL),
/// `HARNESS_LOGS_DIR` and `HARNESS_RUN_ID`.
pub(crate) fn stack_env(stack: &Stack) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (k, v) in stack.env_vars() {
        if let Some(short) = k.strip_prefix("HARNESS_") {
            env.push((short.to_owned(), v.clone()));
        }
        env.push((k, v));
    }
    env.push((
        "HARNESS_LOGS_DIR".to_owned(),
        stack.run_dir().join("logs").display().to_string(),
    ));
    env.push(("HARNESS_RUN_ID".to_owned(), stack.run_id().to_owned()));
    env
}

/// A level's summary with no tests yet.
pub(crate) fn empty(level: Level, status: LevelStatus, note: Option<String>) -> LevelSummary {
    LevelSummary {
        level,
        status,
        passed: 0,
        failed: 0,
        skipped: 0,
        flaky: 0,
        duration: std::time::Duration::ZERO,
        note,
    }
}
