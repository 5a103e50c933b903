//! `harness run` end to end on the run fixtures (harness-run's `tests/run_fixtures.rs`), through nextest as
//! a user's run goes: a failing level does not hide the levels above it, `--fail-fast` stops
//! after it, a flaky test passes on a retry unless the gate forbids it, and Ctrl-C writes
//! what finished, marked interrupted, and stops the tests; a run killed with SIGKILL leaves
//! the report of what finished; a filterset that does not parse is refused before anything
//! runs. No stack: these levels only run tests. Each run has its own nextest store and
//! JUnit report in its folder, so they run side by side.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::reports;

/// A fixture of harness-run's `tests/run_fixtures.rs` by its exact name, as a nextest filterset.
fn fixture(name: &str) -> String {
    format!("binary_id(harness-run::run_fixtures) & test(={name})")
}

/// A harness.toml inside the workspace (`harness run` runs nextest at the workspace root of
/// its config), a folder for the fixtures and one for the reports.
struct Setup {
    config: PathBuf,
    fixtures: PathBuf,
    reports: PathBuf,
}

fn setup(toml: &str) -> Setup {
    let dir = reports().join(format!("run-test-{}", uuid::Uuid::new_v4().simple()));
    let fixtures = dir.join("fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    let config = dir.join("harness.toml");
    std::fs::write(&config, toml).unwrap();
    Setup {
        config,
        fixtures,
        reports: dir.join("reports"),
    }
}

fn command(s: &Setup, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.arg("run")
        .arg("--config")
        .arg(&s.config)
        .arg("--reports-dir")
        .arg(&s.reports)
        .args(extra)
        .env("HARNESS_FIXTURE_DIR", &s.fixtures)
        .stdin(Stdio::null());
    cmd
}

fn run(s: &Setup, extra: &[&str]) -> (i32, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command(s, extra).output().expect("run harness");
    let text = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code().unwrap_or(-1), text)
}

fn latest(s: &Setup, file: &str) -> String {
    let path = s.reports.join("latest").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn report(s: &Setup) -> Value {
    serde_json::from_str(&latest(s, "report.json")).unwrap()
}

/// The summary of `level` in report.json.
fn level<'a>(report: &'a Value, level: &str) -> &'a Value {
    report["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["summary"])
        .find(|s| s["level"] == level)
        .unwrap_or_else(|| panic!("no level {level} in {report:#}"))
}

const THREE_LEVELS: &str = r#"
[run.levels.unit]
tests = "UNIT"
[run.levels.integration]
tests = "INTEGRATION"
[run.levels.e2e]
tests = "E2E"
"#;

fn three_levels(unit: &str, integration: &str, e2e: &str, more: &str) -> String {
    THREE_LEVELS
        .replace("UNIT", &fixture(unit))
        .replace("INTEGRATION", &fixture(integration))
        .replace("E2E", &fixture(e2e))
        + more
}

#[test]
fn a_failing_level_does_not_hide_the_next_and_fail_fast_stops_there() {
    let s = setup(&three_levels("passes", "fails", "passes", ""));
    let (code, out) = run(&s, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("gate: integration: 1 test(s) failed"), "{out}");
    let r = report(&s);
    assert_eq!(r["outcome"], "failed");
    assert_eq!(level(&r, "unit")["status"], "passed");
    assert_eq!(level(&r, "integration")["status"], "failed");
    assert_eq!(level(&r, "integration")["failed"], 1);
    // The level above the failure still ran and is reported.
    assert_eq!(level(&r, "e2e")["status"], "passed", "{r:#}");
    assert_eq!(level(&r, "e2e")["passed"], 1);
    // Nothing configured for them: reported so, never passed.
    assert_eq!(level(&r, "contract")["status"], "not_configured");
    assert_eq!(level(&r, "load")["status"], "not_configured");
    let failed = &r["levels"].as_array().unwrap()[1]["tests"][0];
    assert_eq!(failed["name"], "fails");
    assert!(
        failed["output"]
            .as_str()
            .unwrap()
            .contains("the planted failure of the run fixtures"),
        "{failed:#}"
    );
    assert!(latest(&s, "summary.md").contains("fails"));
    assert!(latest(&s, "junit.xml").contains("fails"));

    let (code, out) = run(&s, &["--fail-fast"]);
    assert_eq!(code, 1, "{out}");
    let r = report(&s);
    assert_eq!(level(&r, "integration")["status"], "failed");
    let e2e = level(&r, "e2e");
    assert_eq!(e2e["status"], "not_run", "{r:#}");
    assert!(
        e2e["note"].as_str().unwrap().contains("--fail-fast"),
        "{e2e:#}"
    );
    assert!(out.contains("gate: e2e: not run"), "{out}");

    // --level picks levels; the others are not reported as run.
    let (code, out) = run(&s, &["--level", "unit,e2e"]);
    assert_eq!(code, 0, "{out}");
    let r = report(&s);
    assert_eq!(level(&r, "unit")["status"], "passed");
    assert_eq!(level(&r, "e2e")["status"], "passed");
    assert!(
        r["levels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["summary"]["level"] != "integration"),
        "{r:#}"
    );
    let (code, out) = run(&s, &["--level", "smoke"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--level smoke"), "{out}");
}

#[test]
fn a_flaky_test_passes_on_a_retry_unless_the_gate_forbids_it() {
    let gate = "[run.gate]\nretries = 1\n";
    let s = setup(&three_levels("passes", "flaky", "passes", gate));
    let (code, out) = run(&s, &["--level", "integration"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(s.fixtures.join("flaky.attempts")).unwrap(),
        "2"
    );
    let r = report(&s);
    let integration = level(&r, "integration");
    assert_eq!(integration["status"], "passed", "{r:#}");
    assert_eq!(integration["flaky"], 1);
    assert_eq!(r["levels"][0]["tests"][0]["retries"], 1, "{r:#}");
    // The rerun is in the JUnit report as a flaky failure of a passing test.
    let junit = latest(&s, "junit.xml");
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let reruns = doc
        .descendants()
        .filter(|n| n.has_tag_name("flakyFailure"))
        .count();
    assert_eq!(reruns, 1, "{junit}");

    // Without retries the same test fails; with allow_flaky = false a retry does not help.
    std::fs::remove_file(s.fixtures.join("flaky.attempts")).unwrap();
    let strict = setup(&three_levels(
        "passes",
        "flaky",
        "passes",
        "[run.gate]\nretries = 1\nallow_flaky = false\n",
    ));
    let (code, out) = run(&strict, &["--level", "integration"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("integration: 1 flaky test(s) and allow_flaky = false"),
        "{out}"
    );
    let once = setup(&three_levels("passes", "flaky", "passes", ""));
    let (code, out) = run(&once, &["--level", "integration"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(level(&report(&once), "integration")["failed"], 1);
}

#[test]
fn ctrl_c_writes_what_finished_marks_the_run_interrupted_and_stops_the_tests() {
    let s = setup(&three_levels("passes", "hangs", "passes", ""));
    let mut child = command(&s, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = s.fixtures.join("hangs.pid");
    let started = Instant::now();
    while !pid_file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the hanging fixture never started"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("harness run ended before the fixture hung: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let test_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let harness_pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(harness_pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("interrupted"), "{text}");
    let r = report(&s);
    assert_eq!(r["outcome"], "interrupted", "{r:#}");
    assert_eq!(level(&r, "unit")["status"], "passed", "{r:#}");
    assert_ne!(level(&r, "integration")["status"], "passed", "{r:#}");
    assert_ne!(level(&r, "e2e")["status"], "passed", "{r:#}");
    for file in ["junit.xml", "summary.md", "report.html"] {
        assert!(!latest(&s, file).is_empty(), "{file}");
    }
    // nextest and its tests were stopped with the run.
    assert!(
        gone(test_pid, Duration::from_secs(30)),
        "the hanging test (pid {test_pid}) outlived the interrupted run"
    );
}

#[test]
fn a_filterset_that_does_not_parse_is_refused_before_anything_runs() {
    let s = setup("[run.levels.unit]\ntests = \"package((\"\n");
    let (code, out) = run(&s, &[]);
    assert_eq!(code, 2, "{out}");
    // The file, the line, the expression and where in it nextest's parser stopped.
    let file_line = format!("{}:2:", s.config.display());
    assert!(out.contains(&file_line), "{file_line}: {out}");
    assert!(out.contains("package(("), "{out}");
    assert!(out.contains("not a nextest filterset"), "{out}");
    assert!(out.contains("column"), "{out}");
    // Nothing ran: no run folder.
    assert!(!s.reports.exists(), "{out}");
}

#[test]
fn a_killed_run_leaves_the_report_of_what_finished() {
    let s = setup(&three_levels("passes", "hangs", "passes", ""));
    let mut child = command(&s, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = s.fixtures.join("hangs.pid");
    let started = Instant::now();
    while !pid_file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the hanging fixture never started"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("harness run ended before the fixture hung: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // No chance to write anything more: SIGKILL.
    child.kill().unwrap();
    child.wait().unwrap();
    // nextest runs in its own process group; the test stops it itself.
    let test_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if let Ok(group) = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(test_pid))) {
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
    }
    let runs: Vec<PathBuf> = std::fs::read_dir(&s.reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("latest"))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    // The events as they happened, to the moment of the kill.
    let events = std::fs::read_to_string(run.join("events.jsonl")).unwrap();
    assert!(events.contains("\"type\":\"level_finished\""), "{events}");
    assert!(events.contains("\"type\":\"level_started\""), "{events}");
    // The report of what finished: unit passed; the run never finished.
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    assert_eq!(level(&r, "unit")["status"], "passed", "{r:#}");
    assert_eq!(level(&r, "unit")["passed"], 1, "{r:#}");
    assert!(r["outcome"].is_null(), "{r:#}");
    for file in ["junit.xml", "summary.md", "report.html"] {
        assert!(run.join(file).is_file(), "{file}");
    }
    assert!(
        gone(test_pid, Duration::from_secs(30)),
        "the hanging test (pid {test_pid}) outlived its process group's SIGTERM"
    );
}

/// Whether the process ends (or is a zombie) within `limit`.
fn gone(pid: i32, limit: Duration) -> bool {
    let stat = Path::new("/proc").join(pid.to_string()).join("stat");
    let started = Instant::now();
    while started.elapsed() < limit {
        match std::fs::read_to_string(&stat) {
            Err(_) => return true,
            Ok(s)
                if s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                return true;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    false
}
