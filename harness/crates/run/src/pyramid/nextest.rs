//! A level's tests through `cargo nextest run`: the run's own nextest settings (a tool config
//! file, `--tool-config-file harness:<run>/nextest/<level>.toml`, that defines the `harness`
//! profile and puts nextest's store and JUnit report in the run's folder, so two runs at once
//! never share a report, while the workspace's `.config/nextest.toml` still applies on top:
//! its default filter, test groups and any `[profile.harness]` settings), its status lines
//! followed as progress, and its JUnit report read back with a real XML parser.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use harness_core::{
    Event, EventSink,
    run::{Level, TestOutcome, TestResult},
};

use crate::process::GroupGuard;

/// The nextest profile `harness run` runs levels with (defined by the run's tool config;
/// a workspace may add settings to it in `.config/nextest.toml`).
pub const NEXTEST_PROFILE: &str = "harness";

/// What a level's nextest needs.
pub(crate) struct NextestRun<'a> {
    pub(crate) root: &'a Path,
    pub(crate) run_dir: &'a Path,
    pub(crate) level: Level,
    pub(crate) filter: &'a str,
    pub(crate) retries: u32,
    /// The stack's variables for the tests' environment.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) sink: EventSink,
}

/// Where the run's nextest settings and reports for `level` go.
pub(crate) struct Paths {
    pub(crate) tool_config: PathBuf,
    pub(crate) store: PathBuf,
    pub(crate) junit: PathBuf,
    pub(crate) log: PathBuf,
}

impl Paths {
    pub(crate) fn new(run_dir: &Path, level: Level) -> Self {
        let store = run_dir.join("nextest");
        Self {
            tool_config: store.join(format!("{level}.toml")),
            junit: store
                .join(NEXTEST_PROFILE)
                .join(format!("{level}-junit.xml")),
            log: run_dir.join("logs").join(format!("nextest-{level}.log")),
            store,
        }
    }
}

/// The tool config of one level: nextest's store in the run's folder, the `harness`
/// profile's output settings and its JUnit report (path relative to the profile's store).
fn tool_config(paths: &Paths, level: Level) -> String {
    let quote = |p: &Path| toml_string(&p.display().to_string());
    format!(
        "# Written by `harness run` for its level {level}: nextest's store and JUnit report in\n\
         # the run's folder. The workspace's .config/nextest.toml applies on top of this file.\n\
         [store]\ndir = {store}\n\n\
         [profile.{NEXTEST_PROFILE}]\nfailure-output = \"final\"\nsuccess-output = \"never\"\n\n\
         [profile.{NEXTEST_PROFILE}.junit]\npath = {junit}\nstore-success-output = false\nstore-failure-output = true\n",
        store = quote(&paths.store),
        junit = toml_string(&format!("{level}-junit.xml")),
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

impl NextestRun<'_> {
    /// Runs the level's tests; their results from the JUnit report. `Err` says why there are
    /// none (nextest could not run, or wrote no report).
    pub(crate) async fn run(self) -> Result<Vec<TestResult>, String> {
        let paths = Paths::new(self.run_dir, self.level);
        std::fs::create_dir_all(&paths.store)
            .map_err(|e| format!("creating {}: {e}", paths.store.display()))?;
        std::fs::write(&paths.tool_config, tool_config(&paths, self.level))
            .map_err(|e| format!("writing {}: {e}", paths.tool_config.display()))?;
        let log = std::fs::File::create(&paths.log)
            .map_err(|e| format!("creating {}: {e}", paths.log.display()))?;
        let out = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", paths.log.display()))?;
        let _ = std::fs::remove_file(&paths.junit);
        let mut cmd = tokio::process::Command::new(crate::process::cargo());
        cmd.args([
            "nextest",
            "run",
            "--workspace",
            "--profile",
            NEXTEST_PROFILE,
        ])
        .arg("--tool-config-file")
        .arg(format!("harness:{}", paths.tool_config.display()))
        .args([
            "--ignore-default-filter",
            "--no-fail-fast",
            "--no-tests=warn",
            "--retries",
            &self.retries.to_string(),
            "-E",
            self.filter,
        ])
        .current_dir(self.root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::piped());
        // Run from a test or a cargo-run program, the variables cargo set for it must not
        // reach the build nextest starts (they would rebuild crates whose build scripts watch
        // them), nor the settings of a nextest that runs us.
        for key in harness_images::inherited_cargo_vars() {
            cmd.env_remove(key);
        }
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("NEXTEST_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env);
        (self.sink)(Event::LevelStep {
            level: self.level,
            step: format!(
                "cargo nextest run -E '{}' (output in {})",
                self.filter,
                paths.log.display()
            ),
        });
        // Its own process group, stopped with SIGTERM if the run is interrupted: nextest then
        // stops its tests, whose stacks go with them.
        cmd.process_group(0).kill_on_drop(false);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run cargo nextest: {e}"))?;
        let guard = GroupGuard(child.id());
        if let Some(stderr) = child.stderr.take() {
            follow_progress(self.level, stderr, log, self.sink.clone()).await;
        }
        let status = child
            .wait()
            .await
            .map_err(|e| format!("waiting for cargo nextest: {e}"))?;
        guard.disarm();
        let xml = std::fs::read_to_string(&paths.junit).map_err(|_| {
            format!(
                "cargo nextest exited with {status} and wrote no JUnit report at {} (does the workspace's .config/nextest.toml set `[store] dir` or `[profile.{NEXTEST_PROFILE}.junit] path`? harness run sets both for each run; see {})",
                paths.junit.display(),
                paths.log.display()
            )
        })?;
        let tests =
            parse_junit(self.level, &xml).map_err(|e| format!("{}: {e}", paths.junit.display()))?;
        if !status.success() && !tests.iter().any(|t| t.outcome == TestOutcome::Failed) {
            return Err(format!(
                "cargo nextest exited with {status} although no test failed (see {})",
                paths.log.display()
            ));
        }
        Ok(tests)
    }
}

/// Whether `cargo nextest` can be run.
pub(crate) async fn installed() -> bool {
    tokio::process::Command::new(crate::process::cargo())
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
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

/// A status line of nextest for a test that ended, `PASS [   0.007s] (1/4) harness-run::run_fixtures passes`:
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

/// nextest's JUnit report as test results: one per `<testcase>` (suite: its `classname`,
/// the test binary), failed when it has `<failure>` or `<error>`, flaky when it passed with
/// `<flakyFailure>`/`<flakyError>` reruns, skipped with `<skipped>`; the output of a failure
/// is its text and the captured stdout and stderr.
pub fn parse_junit(level: Level, xml: &str) -> Result<Vec<TestResult>, String> {
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
    fn nextest_status_lines_are_progress() {
        assert_eq!(
            test_ended("        PASS [   0.007s] (1/1) harness-run::run_fixtures passes"),
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
            test_ended("     SIGTERM [   0.092s] (1/1) harness-run::run_fixtures hangs"),
            Some(("hangs".to_owned(), false))
        );
        assert_eq!(
            test_ended("   FLAKY 2/2 [   0.010s] (1/1) harness-run::run_fixtures flaky"),
            Some(("flaky".to_owned(), true))
        );
        assert_eq!(
            test_ended("        PASS [   0.010s] harness-run::run_fixtures flaky"),
            Some(("flaky".to_owned(), true)),
            "without the counter"
        );
        assert_eq!(
            test_ended("  TRY 2 PASS [   0.009s] (1/1) harness-run::run_fixtures flaky"),
            Some(("flaky".to_owned(), true)),
            "the attempt that ends a retried test"
        );
        assert_eq!(
            test_ended("  TRY 3 FAIL [   0.009s] (2/4) harness-run::run_fixtures fails"),
            Some(("fails".to_owned(), false))
        );
        for other in [
            "    Starting 4 tests across 2 binaries (41 binaries skipped)",
            "        SLOW [> 60.000s] (───) integration-suite::integration orders::x",
            "  TRY 1 FAIL [   0.111s] (───) harness-run::run_fixtures flaky",
            "  RETRY 2/2 [         ] (1/1) harness-run::run_fixtures flaky",
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

    #[test]
    fn each_run_and_level_has_its_own_nextest_store_and_junit_report() {
        let a = Paths::new(Path::new("/r/run1"), Level::Unit);
        let b = Paths::new(Path::new("/r/run2"), Level::Unit);
        let c = Paths::new(Path::new("/r/run1"), Level::E2e);
        assert_ne!(a.junit, b.junit);
        assert_ne!(a.junit, c.junit);
        assert!(
            a.junit.starts_with("/r/run1/nextest"),
            "{}",
            a.junit.display()
        );
        let text = tool_config(&a, Level::Unit);
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(parsed["store"]["dir"].as_str(), Some("/r/run1/nextest"));
        let junit = &parsed["profile"][NEXTEST_PROFILE]["junit"];
        // nextest puts the report at <store>/<profile>/<path>.
        assert_eq!(
            a.store
                .join(NEXTEST_PROFILE)
                .join(junit["path"].as_str().unwrap()),
            a.junit
        );
        assert_eq!(junit["store-failure-output"].as_bool(), Some(true));
    }
}
