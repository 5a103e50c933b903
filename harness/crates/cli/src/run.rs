//! `harness run`: the test pyramid in one command. Each level configured in `harness.toml`
//! (`[run.levels.<level>]`) runs in order, bottom first: its tests are the workspace's tests
//! that a nextest filterset selects, run by `cargo nextest run` (profile `harness`, whose
//! JUnit output is read back with a real XML parser, not re-implemented), with the run's
//! stack endpoints in their environment when the level asks for the stack; a contract
//! level may also verify pacts and check services against their OpenAPI documents on that
//! stack. A level's stack is started once for the level and shared by its tests and checks;
//! the next level that needs one gets a fresh one (the images are built once per run).
//!
//! Every result is an event (`RunStarted`, `LevelStarted`, `TestFinished`,
//! `OperationVerified`, `LevelFinished`, `RunFinished`) that a `harness::report::Collector`
//! gathers; the reports are written into the run's folder at the end, or when Ctrl-C stops
//! the run (marked interrupted). The gate (`[run.gate]`) decides the exit code: 0 passed,
//! 1 failed, 2 bad input or interrupted, 3 environment.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use harness::{
    Error, Event, EventSink, Stack,
    report::{Collector, RunReport},
    run::{Level, LevelStatus, LevelSummary, RunOutcome, TestOutcome, TestResult},
};

use crate::{
    Failure,
    config::{Config, LevelConfig},
    openapi::{OpenApiArgs, Prepared},
};

/// The nextest profile whose JUnit output `harness run` reads (`.config/nextest.toml`).
pub(crate) const NEXTEST_PROFILE: &str = "harness";

/// The arguments of `harness run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Run only these levels (repeatable or comma-separated): unit, integration, contract,
    /// e2e, load. Default: all, in that order.
    #[arg(long = "level", value_name = "LEVEL", value_delimiter = ',')]
    levels: Vec<String>,
    /// Stop after the first level that fails (the levels after it are reported as not run).
    #[arg(long)]
    fail_fast: bool,
    /// The harness.toml to read (default: the one at the workspace root).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Where run folders go (default: HARNESS_REPORTS_DIR, else `reports/` at the root of
    /// the workspace).
    #[arg(long, value_name = "DIR")]
    reports_dir: Option<PathBuf>,
}

/// Runs the pyramid; `Ok(true)` when the gate passed.
pub(crate) async fn run(
    args: RunArgs,
    progress: EventSink,
    display: &indicatif::MultiProgress,
) -> Result<bool, Failure> {
    let started = Instant::now();
    let config = crate::contract::load_config(args.config.as_deref())?;
    let mut selected = Vec::new();
    for name in &args.levels {
        let level = Level::parse(name).ok_or_else(|| {
            Error::Usage(format!(
                "--level {name}: the levels are unit, integration, contract, e2e, load"
            ))
        })?;
        if !selected.contains(&level) {
            selected.push(level);
        }
    }
    if selected.is_empty() {
        selected = Level::ALL.to_vec();
    }
    selected.sort();
    let needs_nextest = selected
        .iter()
        .any(|l| config.run.levels.get(l).is_some_and(|c| c.tests.is_some()));
    if needs_nextest && !nextest_installed().await {
        return Err(Error::Environment(
            "cargo-nextest is not installed (harness run runs the tests with it): cargo install cargo-nextest --locked".to_owned(),
        )
        .into());
    }
    let root = harness::workspace::find_workspace_root(&config.dir);
    let reports = args
        .reports_dir
        .clone()
        .unwrap_or_else(|| harness::run_dir::default_reports_dir(&root));
    let run_id = harness::StackBuilder::new_run_id();
    let run_dir = harness::run_dir::RunDir::new(&reports, &run_id)
        .path()
        .to_owned();
    let logs = harness::run_dir::RunDir::at(&run_dir).logs();
    std::fs::create_dir_all(&logs)
        .map_err(|e| Error::io(format!("creating {}", logs.display()), e))?;

    let collector = Arc::new(Mutex::new(Collector::new()));
    let sink: EventSink = {
        let collector = collector.clone();
        Arc::new(move |e: Event| {
            collector.lock().unwrap_or_else(|p| p.into_inner()).push(&e);
            progress(e);
        })
    };
    sink(Event::RunStarted {
        run_id: run_id.clone(),
        levels: selected.clone(),
    });
    eprintln!(
        "harness run {run_id}: levels {}; reports in {}",
        selected
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        run_dir.display()
    );

    let mut state = RunState {
        config: &config,
        root: &root,
        run_id: &run_id,
        reports: &reports,
        logs: &logs,
        sink: sink.clone(),
        stack: None,
        stacks_started: 0,
    };
    let interrupted = tokio::select! {
        () = state.levels(&selected, args.fail_fast) => false,
        () = crate::signal() => true,
    };
    // An interrupted level's stack is still up: the reports are written first (a hung
    // engine must not cost them), then it is removed (its containers carry the run's labels:
    // the reaper removes them if this process is stopped harder).
    let leftover = state.stack.take();

    let report = collector.lock().unwrap_or_else(|p| p.into_inner()).report();
    let gate = if interrupted {
        Vec::new()
    } else {
        gate_failures(&config, &selected, &report)
    };
    let outcome = match (interrupted, gate.is_empty()) {
        (true, _) => RunOutcome::Interrupted,
        (false, true) => RunOutcome::Passed,
        (false, false) => RunOutcome::Failed,
    };
    sink(Event::RunFinished {
        outcome,
        duration: started.elapsed(),
    });
    let report = collector.lock().unwrap_or_else(|p| p.into_inner()).report();
    let written = harness::report::write_reports(&run_dir, &report)
        .map_err(|e| Error::io(format!("writing the reports into {}", run_dir.display()), e))?;
    harness::report::point_latest(&reports, &run_id).map_err(|e| {
        Error::io(
            format!("pointing {}/latest at the run", reports.display()),
            e,
        )
    })?;
    // The level spinners go before the summary is printed (they would redraw over it).
    let _ = display.clear();
    print!("{}", harness::report::console(&report));
    for g in &gate {
        println!("gate: {g}");
    }
    for f in &written {
        println!("wrote {}", f.display());
    }
    if let Some(stack) = leftover {
        let _ = stack.shutdown().await;
    }
    match outcome {
        RunOutcome::Interrupted => Err(Error::Interrupted.into()),
        RunOutcome::Passed => Ok(true),
        RunOutcome::Failed => Ok(false),
    }
}

async fn nextest_installed() -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    tokio::process::Command::new(cargo)
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Why the gate fails (empty: it passes): a required level that did not pass, has too few
/// tests, has flaky tests when they are not allowed, or is not configured.
fn gate_failures(config: &Config, selected: &[Level], report: &RunReport) -> Vec<String> {
    let gate = &config.run.gate;
    let required: Vec<Level> = match &gate.required {
        Some(levels) => levels
            .iter()
            .copied()
            .filter(|l| selected.contains(l))
            .collect(),
        None => selected
            .iter()
            .copied()
            .filter(|l| config.run.levels.contains_key(l))
            .collect(),
    };
    let mut out = Vec::new();
    if required.is_empty() {
        out.push(
            "no configured level was selected: nothing was checked ([run.levels] in harness.toml, --level)"
                .to_owned(),
        );
    }
    for level in required {
        let Some(l) = report.level(level) else {
            out.push(format!("{level}: not reported"));
            continue;
        };
        let s = &l.summary;
        match s.status {
            LevelStatus::Passed => {}
            LevelStatus::Failed => out.push(match &s.note {
                Some(note) => format!("{level}: {} test(s) failed; {note}", s.failed),
                None => format!("{level}: {} test(s) failed", s.failed),
            }),
            LevelStatus::NotConfigured => {
                out.push(format!(
                    "{level}: required but not configured ([run.levels.{level}])"
                ));
                continue;
            }
            LevelStatus::NotRun => {
                out.push(format!("{level}: not run"));
                continue;
            }
        }
        if s.ran() < gate.min_tests {
            out.push(format!(
                "{level}: {} test(s) ran, the gate wants at least {} (min_tests)",
                s.ran(),
                gate.min_tests
            ));
        }
        if !gate.allow_flaky && s.flaky > 0 {
            out.push(format!(
                "{level}: {} flaky test(s) and allow_flaky = false",
                s.flaky
            ));
        }
    }
    out
}

struct RunState<'a> {
    config: &'a Config,
    root: &'a Path,
    run_id: &'a str,
    reports: &'a Path,
    logs: &'a Path,
    sink: EventSink,
    stack: Option<Stack>,
    stacks_started: u32,
}

impl RunState<'_> {
    async fn levels(&mut self, selected: &[Level], fail_fast: bool) {
        let mut failed_below = false;
        for &level in selected {
            let note = |n: &str| Some(n.to_owned());
            let Some(cfg) = self.config.run.levels.get(&level).cloned() else {
                let why = if level == Level::Load {
                    "no load profile: give [run.levels.load] a profile of [load.profiles] in harness.toml"
                } else {
                    "no [run.levels] entry for it in harness.toml"
                };
                (self.sink)(Event::LevelFinished(empty(
                    level,
                    LevelStatus::NotConfigured,
                    note(why),
                )));
                continue;
            };
            if fail_fast && failed_below {
                (self.sink)(Event::LevelFinished(empty(
                    level,
                    LevelStatus::NotRun,
                    note("--fail-fast: a level below failed"),
                )));
                continue;
            }
            let summary = self.level(level, &cfg).await;
            failed_below |= summary.status == LevelStatus::Failed;
            (self.sink)(Event::LevelFinished(summary));
        }
    }

    async fn level(&mut self, level: Level, cfg: &LevelConfig) -> LevelSummary {
        let started = Instant::now();
        (self.sink)(Event::LevelStarted { level });
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
            match self.nextest(level, filter, cfg.stack).await {
                Ok(tests) => {
                    for t in tests {
                        match t.outcome {
                            TestOutcome::Passed => summary.passed += 1,
                            TestOutcome::Failed => summary.failed += 1,
                            TestOutcome::Skipped => summary.skipped += 1,
                            TestOutcome::Flaky => summary.flaky += 1,
                        }
                        (self.sink)(Event::TestFinished(t));
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
        (self.sink)(Event::LevelStep { level, step });
    }

    async fn start_stack(&mut self, level: Level) -> Result<(), Error> {
        self.step(
            level,
            format!("starting the stack {}", self.config.manifest.display()),
        );
        // The first stack has the run's id (its logs go in `<run>/logs`); later ones get the
        // run's id and a number, their logs in `<run>/stacks/<id>/logs`.
        let id = if self.stacks_started == 0 {
            self.run_id.to_owned()
        } else {
            format!("{}{}", self.run_id, self.stacks_started)
        };
        self.stacks_started += 1;
        let reports = if id == self.run_id {
            self.reports.to_owned()
        } else {
            self.reports.join(self.run_id).join("stacks")
        };
        let stack = Stack::from_manifest(&self.config.manifest)?
            .run_id(id)
            .reports_dir(reports)
            .events(self.sink.clone())
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
        with_stack: bool,
    ) -> Result<Vec<TestResult>, String> {
        let log_path = self.logs.join(format!("nextest-{level}.log"));
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let out = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        // nextest keeps its store under the workspace's `target/nextest` whatever
        // CARGO_TARGET_DIR says (its `store.dir` default, relative to the workspace root).
        let junit = self
            .root
            .join("target")
            .join("nextest")
            .join(NEXTEST_PROFILE)
            .join("junit.xml");
        let _ = std::fs::remove_file(&junit);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = tokio::process::Command::new(cargo);
        cmd.args([
            "nextest",
            "run",
            "--workspace",
            "--profile",
            NEXTEST_PROFILE,
            "--ignore-default-filter",
            "--no-fail-fast",
            "--no-tests=warn",
            "--retries",
            &self.config.run.gate.retries.to_string(),
            "-E",
            filter,
        ])
        .current_dir(self.root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::piped());
        // Run from a test or a cargo-run program, the variables cargo set for it must not
        // reach the build nextest starts (they would rebuild crates whose build scripts watch
        // them), nor the settings of a nextest that runs us.
        for key in harness::images::inherited_cargo_vars() {
            cmd.env_remove(key);
        }
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("NEXTEST_") {
                cmd.env_remove(key);
            }
        }
        if with_stack && let Some(stack) = &self.stack {
            // As `harness up --env-file` writes them (GATEWAY_URL) and as provider-state
            // programs get them (HARNESS_GATEWAY_URL).
            for (k, v) in stack.env_vars() {
                if let Some(short) = k.strip_prefix("HARNESS_") {
                    cmd.env(short, &v);
                }
                cmd.env(k, v);
            }
            cmd.env("HARNESS_LOGS_DIR", stack.run_dir().join("logs"));
            cmd.env("HARNESS_RUN_ID", stack.run_id());
        }
        self.step(
            level,
            format!(
                "cargo nextest run -E '{filter}' (output in {})",
                log_path.display()
            ),
        );
        // Its own process group, stopped with SIGTERM if the run is interrupted: nextest then
        // stops its tests, whose stacks go with them.
        cmd.process_group(0).kill_on_drop(false);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run cargo nextest: {e}"))?;
        let guard = GroupGuard(child.id());
        if let Some(stderr) = child.stderr.take() {
            follow_progress(level, stderr, log, self.sink.clone()).await;
        }
        let status = child
            .wait()
            .await
            .map_err(|e| format!("waiting for cargo nextest: {e}"))?;
        std::mem::forget(guard);
        let xml = match std::fs::read_to_string(&junit) {
            Ok(xml) => xml,
            Err(_) => {
                return Err(format!(
                    "cargo nextest exited with {status} and wrote no JUnit report at {} (is the `{NEXTEST_PROFILE}` profile in .config/nextest.toml? see {})",
                    junit.display(),
                    log_path.display()
                ));
            }
        };
        let tests = parse_junit(level, &xml).map_err(|e| format!("{}: {e}", junit.display()))?;
        if !status.success() && !tests.iter().any(|t| t.outcome == TestOutcome::Failed) {
            return Err(format!(
                "cargo nextest exited with {status} although no test failed (see {})",
                log_path.display()
            ));
        }
        Ok(tests)
    }

    /// Every pact against the run's stack, as `harness contract verify --attach` would:
    /// (passed, failed) interactions, and what went wrong beyond them (a provider without
    /// pacts, a state program that did not start).
    async fn pact(&self, level: Level) -> Result<(u32, u32, Vec<String>), String> {
        let stack = self.stack.as_ref().ok_or("no stack")?;
        let args = crate::contract::VerifyArgs {
            provider: None,
            pacts: None,
            broker: None,
            selectors: Vec::new(),
            provider_branch: None,
            publish_results: false,
            version: None,
            build_url: None,
            attach: Vec::new(),
            config: None,
        };
        let Some((sources, providers)) =
            crate::contract::plan(&args, self.config).map_err(|e| e.to_string())?
        else {
            return Ok((0, 0, Vec::new()));
        };
        self.step(
            level,
            format!(
                "pact: verifying {} against the level's stack",
                providers.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
        let reports = crate::contract::verify_on(
            stack,
            self.config,
            &sources,
            &providers,
            None,
            self.sink.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let results: Vec<_> = reports.iter().flat_map(|r| &r.results).collect();
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
        Ok((results.len() as u32 - failed, failed, problems))
    }

    /// One service against its OpenAPI document on the run's stack: (passed, failed)
    /// operations.
    async fn openapi(&self, level: Level, service: &str) -> Result<(u32, u32), String> {
        let stack = self.stack.as_ref().ok_or("no stack")?;
        let url = stack.url(service).map_err(|e| e.to_string())?;
        let args = OpenApiArgs {
            service: service.to_owned(),
            max_examples: None,
            seed: None,
            headers: Vec::new(),
            openapi: None,
            url: Some(url.clone()),
            time_budget: None,
            operations: Vec::new(),
            attach: Vec::new(),
            config: None,
        };
        let Prepared {
            doc,
            headers,
            time_budget,
        } = crate::openapi::prepare(&args, self.config).map_err(|e| e.to_string())?;
        self.step(
            level,
            format!("openapi {service}: checking {url} against {}", doc.origin()),
        );
        let report = crate::openapi::run(
            &args,
            self.config,
            doc,
            &url,
            Some(stack),
            headers,
            time_budget,
            self.sink.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let failed = report.operations.iter().filter(|o| !o.passed()).count() as u32;
        Ok((report.operations.len() as u32 - failed, failed))
    }
}

impl RunState<'_> {
    /// A load profile on the level's stack: (passed, failed) thresholds.
    async fn load(&self, level: Level, profile: &str) -> Result<(u32, u32), String> {
        let stack = self.stack.as_ref().ok_or("no stack")?;
        let load = self
            .config
            .load
            .as_ref()
            .ok_or("no [load] section in harness.toml")?;
        let settings = crate::load::Settings::named(profile, load).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let report = crate::load::run_on(
            stack,
            self.config,
            load,
            &settings,
            level,
            self.sink.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let s = crate::load::level_summary(&report, &settings, started.elapsed(), &self.sink);
        Ok((s.passed, s.failed))
    }
}

/// Reads nextest's status lines until its stderr closes: each goes into the level's log,
/// and each test that ends is a [`Event::LevelProgress`]. Progress only: the results are
/// the JUnit report's. (nextest's libtest-json stream would be the structured choice, but
/// it holds a binary's lines until all its tests end, so a suite of one binary would show
/// nothing until it is done.)
async fn follow_progress(
    level: Level,
    stderr: tokio::process::ChildStderr,
    log: std::fs::File,
    sink: EventSink,
) {
    use std::io::Write as _;
    use tokio::io::AsyncBufReadExt as _;
    let mut log = std::io::LineWriter::new(log);
    let mut reader = tokio::io::BufReader::new(stderr);
    let (mut passed, mut failed) = (0, 0);
    let mut summary = false;
    let mut bytes = Vec::new();
    // To the end of the stream, whatever it holds (a test's output need not be UTF-8):
    // nextest must never find its stderr closed.
    loop {
        bytes.clear();
        match reader.read_until(b'\n', &mut bytes).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&bytes);
        let line = line.trim_end_matches(['\n', '\r']);
        let _ = writeln!(log, "{line}");
        // The summary repeats the failures: counted once, as they happened.
        summary |= line.trim_start().starts_with("Summary [");
        if summary {
            continue;
        }
        let Some((name, ok)) = test_ended(line) else {
            continue;
        };
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
        sink(Event::LevelProgress {
            level,
            passed,
            failed,
            last: name,
            last_passed: ok,
        });
    }
}

/// A status line of nextest for a test that ended, `PASS [   0.007s] (1/4) harness-cli::run_fixtures passes`:
/// the test's name and whether it passed (`PASS`, `FLAKY`; `FAIL`, `TIMEOUT`, a signal...
/// did not). With retries a test's last attempt is `TRY 2 PASS [..] (1/4) ...`: an attempt
/// that nextest counts (`(k/N)`) ends the test, one it will retry (`(───)`) does not.
/// Other lines (`RETRY`, `SLOW`, `Starting`) are `None`.
fn test_ended(line: &str) -> Option<(String, bool)> {
    let mut line = line.trim_start();
    if let Some(rest) = line.strip_prefix("TRY ") {
        // `TRY 2 PASS`: past the attempt's number.
        line = rest.trim_start().split_once(' ')?.1;
        if line.contains("(───)") {
            return None;
        }
    }
    let mut words = line.split_whitespace();
    let status = words.next()?;
    let ok = match status {
        "PASS" | "FLAKY" => true,
        "FAIL" | "TIMEOUT" | "ABORT" | "LEAK-FAIL" => false,
        s if s.starts_with("SIG") => false,
        _ => return None,
    };
    let mut rest = line.trim_start().strip_prefix(status)?.trim_start();
    // `FLAKY 2/2`: the attempt that passed, of how many.
    if status == "FLAKY" {
        rest = rest.split_once(' ')?.1.trim_start();
    }
    // `[   0.007s]`: the time in brackets, maybe with spaces inside.
    let rest = rest.strip_prefix('[')?;
    let (_, rest) = rest.split_once(']')?;
    let mut rest = rest.trim_start();
    // `(1/4)`: the counter, when nextest shows it.
    if rest.starts_with('(') {
        rest = rest.split_once(')')?.1.trim_start();
    }
    let (_binary, name) = rest.split_once(' ')?;
    let name = name.trim();
    (!name.is_empty()).then(|| (name.to_owned(), ok))
}

/// Sends SIGTERM to a process group when dropped (an interrupted level's nextest).
pub(crate) struct GroupGuard(pub(crate) Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

fn empty(level: Level, status: LevelStatus, note: Option<String>) -> LevelSummary {
    LevelSummary {
        level,
        status,
        passed: 0,
        failed: 0,
        skipped: 0,
        flaky: 0,
        duration: Duration::ZERO,
        note,
    }
}

/// nextest's JUnit report as test results: one per `<testcase>` (suite: its `classname`,
/// the test binary), failed when it has `<failure>` or `<error>`, flaky when it passed with
/// `<flakyFailure>`/`<flakyError>` reruns, skipped with `<skipped>`; the output of a failure
/// is its text and the captured stdout and stderr.
pub(crate) fn parse_junit(level: Level, xml: &str) -> Result<Vec<TestResult>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let mut out = Vec::new();
    for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let suite = case
            .attribute("classname")
            .or_else(|| case.parent().and_then(|p| p.attribute("name")))
            .unwrap_or_default()
            .to_owned();
        let name = case.attribute("name").unwrap_or_default().to_owned();
        let duration = case
            .attribute("time")
            .and_then(|t| t.parse::<f64>().ok())
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            .unwrap_or_default();
        let children: BTreeMap<&str, usize> =
            case.children()
                .filter(|c| c.is_element())
                .fold(BTreeMap::new(), |mut m, c| {
                    *m.entry(c.tag_name().name()).or_default() += 1;
                    m
                });
        let count = |tags: &[&str]| {
            tags.iter()
                .map(|t| children.get(t).copied().unwrap_or(0))
                .sum::<usize>()
        };
        let retries = count(&["flakyFailure", "flakyError", "rerunFailure", "rerunError"]) as u32;
        let outcome = if count(&["failure", "error"]) > 0 {
            TestOutcome::Failed
        } else if count(&["skipped"]) > 0 {
            TestOutcome::Skipped
        } else if retries > 0 {
            TestOutcome::Flaky
        } else {
            TestOutcome::Passed
        };
        let output = if outcome == TestOutcome::Failed {
            case.children()
                .filter(|c| {
                    c.is_element()
                        && matches!(
                            c.tag_name().name(),
                            "failure" | "error" | "system-out" | "system-err"
                        )
                })
                .filter_map(|c| {
                    let text = c.text().unwrap_or_default().trim();
                    let message = c.attribute("message").unwrap_or_default();
                    let both = match (message.is_empty(), text.is_empty()) {
                        (true, true) => return None,
                        (false, true) => message.to_owned(),
                        (true, false) => text.to_owned(),
                        (false, false) if text.contains(message) => text.to_owned(),
                        (false, false) => format!("{message}\n{text}"),
                    };
                    Some(both)
                })
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            String::new()
        };
        out.push(TestResult {
            level,
            suite,
            name,
            outcome,
            duration,
            retries,
            output,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As nextest 0.9 writes it (profile with store-failure-output).
    const JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="4" failures="1" errors="0" uuid="x" timestamp="2026-12-01T10:00:00Z" time="1.5">
  <testsuite name="e2e-suite::e2e" tests="4" disabled="0" errors="0" failures="1">
    <testcase name="products_can_be_browsed" classname="e2e-suite::e2e" timestamp="2026-12-01T10:00:00Z" time="0.183"/>
    <testcase name="an_order_is_confirmed" classname="e2e-suite::e2e" timestamp="2026-12-01T10:00:00Z" time="0.594">
      <failure type="test failure with exit code 101">thread 'an_order_is_confirmed' panicked at suites/e2e/tests/e2e.rs:199:5:
assertion `left == right` failed</failure>
      <system-out>running 1 test</system-out>
      <system-err>note: run with `RUST_BACKTRACE=1`</system-err>
    </testcase>
    <testcase name="clock_is_flaky" classname="e2e-suite::e2e" time="0.2">
      <flakyFailure type="test failure" message="first try">boom</flakyFailure>
    </testcase>
    <testcase name="ignored_one" classname="e2e-suite::e2e" time="0"><skipped/></testcase>
  </testsuite>
</testsuites>"#;

    #[test]
    fn a_gate_with_nothing_to_check_fails() {
        let config = Config::parse("", Path::new("/w/harness.toml")).unwrap();
        let report = Collector::new().report();
        let gate = gate_failures(&config, &Level::ALL, &report);
        assert!(gate[0].contains("nothing was checked"), "{gate:?}");
        let config = Config::parse(
            "[run.levels.e2e]\ntests = \"all()\"\n[run.gate]\nmin_tests = 2\n",
            Path::new("/w/harness.toml"),
        )
        .unwrap();
        let mut c = Collector::new();
        c.push(&Event::LevelFinished(LevelSummary {
            passed: 1,
            ..empty(Level::E2e, LevelStatus::Passed, None)
        }));
        let gate = gate_failures(&config, &[Level::E2e, Level::Load], &c.report());
        assert_eq!(gate.len(), 1, "{gate:?}");
        assert!(gate[0].contains("at least 2"), "{gate:?}");
        c.push(&Event::LevelFinished(LevelSummary {
            passed: 2,
            ..empty(Level::E2e, LevelStatus::Passed, None)
        }));
        assert!(
            gate_failures(&config, &[Level::E2e, Level::Load], &c.report()).is_empty(),
            "load is not required: not configured"
        );
    }

    #[test]
    fn nextest_status_lines_are_progress() {
        assert_eq!(
            test_ended("        PASS [   0.007s] (1/1) harness-cli::run_fixtures passes"),
            Some(("passes".to_owned(), true))
        );
        assert_eq!(
            test_ended(
                "        FAIL [ 117.107s] (1/4) integration-suite::integration inventory::inventory_never_oversells_on_real_postgres"
            ),
            Some((
                "inventory::inventory_never_oversells_on_real_postgres".to_owned(),
                false
            ))
        );
        assert_eq!(
            test_ended("     SIGTERM [   0.092s] (1/1) harness-cli::run_fixtures hangs"),
            Some(("hangs".to_owned(), false))
        );
        assert_eq!(
            test_ended("   FLAKY 2/2 [   0.010s] (1/1) harness-cli::run_fixtures flaky"),
            Some(("flaky".to_owned(), true))
        );
        assert_eq!(
            test_ended("        PASS [   0.010s] harness-cli::run_fixtures flaky"),
            Some(("flaky".to_owned(), true)),
            "without the counter"
        );
        assert_eq!(
            test_ended("  TRY 2 PASS [   0.009s] (1/1) harness-cli::run_fixtures flaky"),
            Some(("flaky".to_owned(), true)),
            "the attempt that ends a retried test"
        );
        assert_eq!(
            test_ended("  TRY 3 FAIL [   0.009s] (2/4) harness-cli::run_fixtures fails"),
            Some(("fails".to_owned(), false))
        );
        for other in [
            "    Starting 4 tests across 2 binaries (41 binaries skipped)",
            "        SLOW [> 60.000s] (───) integration-suite::integration orders::x",
            "  TRY 1 FAIL [   0.111s] (───) harness-cli::run_fixtures flaky",
            "  RETRY 2/2 [         ] (1/1) harness-cli::run_fixtures flaky",
            "",
        ] {
            assert_eq!(test_ended(other), None, "{other}");
        }
    }

    #[test]
    fn nextest_junit_reads_back_as_results() {
        let r = parse_junit(Level::E2e, JUNIT).unwrap();
        let by = |n: &str| r.iter().find(|t| t.name == n).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(by("products_can_be_browsed").outcome, TestOutcome::Passed);
        let failed = by("an_order_is_confirmed");
        assert_eq!(failed.outcome, TestOutcome::Failed);
        assert_eq!(failed.suite, "e2e-suite::e2e");
        assert!(failed.output.contains("panicked at") && failed.output.contains("RUST_BACKTRACE"));
        assert_eq!(failed.duration, Duration::from_millis(594));
        let flaky = by("clock_is_flaky");
        assert_eq!((flaky.outcome, flaky.retries), (TestOutcome::Flaky, 1));
        assert_eq!(by("ignored_one").outcome, TestOutcome::Skipped);
        assert!(parse_junit(Level::Unit, "<testsuites").is_err());
    }
}
