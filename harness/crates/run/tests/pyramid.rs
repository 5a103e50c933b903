//! `harness run` through the library, as a test or another program calls it: a level of the
//! run fixtures (`tests/run_fixtures.rs`) run by nextest, its typed result read back; a
//! level whose filter selects no test fails even when its OpenAPI checks pass; two runs at
//! once each read their own JUnit report; a run's events are in its folder as they happen.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use harness_core::{
    Event, EventRecord,
    defects::DefectOutcome,
    run::{Level, LevelStatus, RunOutcome, TestOutcome},
};
use harness_run::{Config, EVENTS_FILE, RunOptions, RunResult, Session, SessionOptions};

/// A fixture by its exact name, as a nextest filterset.
fn fixture(name: &str) -> String {
    format!("binary_id(harness-run::run_fixtures) & test(={name})")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

/// A harness.toml inside the workspace (nextest runs at the workspace root of its config),
/// a folder for the fixtures and one for the reports.
struct Setup {
    config: Config,
    fixtures: PathBuf,
    reports: PathBuf,
}

fn setup(toml: &str) -> Setup {
    setup_with(toml, &[])
}

/// [`setup`] with more files beside harness.toml (name, text).
fn setup_with(toml: &str, files: &[(&str, &str)]) -> Setup {
    let dir = workspace()
        .join("reports/harness-tests")
        .join(format!("run-lib-{}", std::process::id()))
        .join(format!("{:x}", rand_suffix()));
    let fixtures = dir.join("fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let path = dir.join("harness.toml");
    std::fs::write(&path, toml).unwrap();
    Setup {
        config: Config::from_path(&path).unwrap(),
        fixtures,
        reports: dir.join("reports"),
    }
}

/// A number no other setup of this process has.
fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    now ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs `levels` of the setup; the fixtures' folder reaches them through nextest.
async fn run(s: &Setup, levels: &[Level]) -> (RunResult, Vec<Event>) {
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let events = {
        let seen = seen.clone();
        Arc::new(move |e: Event| seen.lock().unwrap().push(e))
    };
    let session = Session::open(
        s.config.clone(),
        SessionOptions {
            reports_dir: Some(s.reports.clone()),
            events: Some(events),
            ..SessionOptions::default()
        },
    )
    .unwrap();
    // The fixtures read HARNESS_FIXTURE_DIR from their environment.
    let options = RunOptions {
        levels: levels.to_vec(),
        env: vec![(
            "HARNESS_FIXTURE_DIR".to_owned(),
            s.fixtures.display().to_string(),
        )],
        ..RunOptions::default()
    };
    let result = harness_run::run(&session, &options).await.unwrap();
    let events = seen.lock().unwrap().clone();
    (result, events)
}

#[tokio::test]
async fn a_level_runs_through_the_library_and_its_result_is_typed() {
    let s = setup(&format!(
        "[run.levels.unit]\ntests = \"{}\"\n",
        fixture("passes")
    ));
    let (result, events) = run(&s, &[Level::Unit]).await;
    assert!(result.passed(), "{:?}", result.gate);
    assert_eq!(result.outcome, RunOutcome::Passed);
    assert_eq!(result.levels, [Level::Unit]);
    let unit = result.report.level(Level::Unit).expect("the unit level");
    assert_eq!(unit.summary.status, LevelStatus::Passed);
    assert_eq!(unit.summary.passed, 1);
    assert_eq!(unit.tests.len(), 1);
    assert_eq!(unit.tests[0].name, "passes");
    assert_eq!(unit.tests[0].outcome, TestOutcome::Passed);
    // The caller's sink saw the run as it went.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::LevelFinished(s) if s.level == Level::Unit)),
        "{events:?}"
    );
    // The reports are in the run's folder, and so is nextest's JUnit report.
    for f in ["junit.xml", "report.json", "summary.md", "report.html"] {
        assert!(result.dir.join(f).is_file(), "{f}");
    }
    assert!(result.written.iter().all(|f| f.starts_with(&result.dir)));
    let junit = result.dir.join("nextest/harness/unit-junit.xml");
    assert!(
        std::fs::read_to_string(&junit).unwrap().contains("passes"),
        "{}",
        junit.display()
    );
}

#[tokio::test]
async fn a_filter_that_selects_no_test_fails_its_level() {
    // min_tests = 0: the gate's count would let an empty level through; the level itself
    // must not pass when the tests it names are not there.
    let s = setup(&format!(
        "[run.levels.unit]\ntests = \"{}\"\n[run.gate]\nmin_tests = 0\n",
        fixture("no_such_fixture")
    ));
    let (result, _) = run(&s, &[Level::Unit]).await;
    let unit = &result.report.level(Level::Unit).unwrap().summary;
    assert_eq!(unit.status, LevelStatus::Failed, "{unit:?}");
    assert!(
        unit.note
            .as_deref()
            .unwrap_or_default()
            .contains("selected no test"),
        "{unit:?}"
    );
    assert_eq!(result.outcome, RunOutcome::Failed);
    assert!(
        result.gate.iter().any(|g| g.contains("selected no test")),
        "{:?}",
        result.gate
    );
}

#[tokio::test]
async fn two_runs_at_once_each_read_their_own_junit_report() {
    let passing = setup(&format!(
        "[run.levels.unit]\ntests = \"{}\"\n",
        fixture("passes")
    ));
    let failing = setup(&format!(
        "[run.levels.unit]\ntests = \"{}\"\n",
        fixture("fails")
    ));
    let ((a, _), (b, _)) =
        tokio::join!(run(&passing, &[Level::Unit]), run(&failing, &[Level::Unit]));
    let names = |r: &RunResult| -> Vec<(String, TestOutcome)> {
        r.report
            .level(Level::Unit)
            .unwrap()
            .tests
            .iter()
            .map(|t| (t.name.clone(), t.outcome))
            .collect()
    };
    assert_eq!(
        names(&a),
        [("passes".to_owned(), TestOutcome::Passed)],
        "{:?}",
        a.gate
    );
    assert_eq!(
        names(&b),
        [("fails".to_owned(), TestOutcome::Failed)],
        "{:?}",
        b.gate
    );
    assert!(a.passed() && !b.passed());
    assert_ne!(a.dir, b.dir);
}

#[tokio::test]
async fn the_events_of_a_run_are_in_its_folder_as_they_happen() {
    let s = setup(&format!(
        "[run.levels.unit]\ntests = \"{}\"\n[run.levels.e2e]\ntests = \"{}\"\n",
        fixture("passes"),
        fixture("passes")
    ));
    let (result, seen) = run(&s, &[Level::Unit, Level::E2e]).await;
    let text = std::fs::read_to_string(result.dir.join(EVENTS_FILE)).unwrap();
    let stored: Vec<EventRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    // Every event the caller saw, in the same order, each stamped with the schema version.
    let events: Vec<Event> = stored.iter().map(|r| r.event.clone()).collect();
    assert_eq!(events, seen);
    assert!(
        stored
            .iter()
            .all(|r| r.schema == harness_core::SCHEMA_VERSION)
    );
    assert!(matches!(events.first(), Some(Event::RunStarted { .. })));
    assert!(matches!(events.last(), Some(Event::RunFinished { .. })));
}

#[tokio::test]
async fn the_defects_level_checks_each_defect_against_its_catalogue() {
    let catalogue = format!(
        r#"switch = "FIXTURE_DEFECTS"

[defects.seen]
summary = "the switch reaches the check"
check = {{ tests = "{catches}" }}
finding = "planted defect seen"
expected = "caught"

[defects.unseen]
summary = "a check that cannot see it"
check = {{ tests = "{passes}" }}
finding = "anything"
expected = "not yet"

[defects.better-than-said]
summary = "caught although the catalogue says not yet"
check = {{ tests = "{catches}" }}
finding = "planted defect better-than-said seen"
expected = "not yet"

[defects.wrong-finding]
summary = "the check fails, but not with the finding"
check = {{ tests = "{catches}" }}
finding = "something else"
expected = "caught"
"#,
        catches = fixture("catches_the_switch"),
        passes = fixture("passes"),
    );
    let s = setup_with(
        "[run.levels.defects]\ncatalogue = \"expected.toml\"\n",
        &[("expected.toml", &catalogue)],
    );
    let (result, _) = run(&s, &[Level::Defects]).await;
    let level = result
        .report
        .level(Level::Defects)
        .expect("the defects level");
    let outcomes: Vec<(&str, DefectOutcome, bool)> = level
        .defects
        .iter()
        .map(|d| (d.name.as_str(), d.outcome, d.as_expected()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("seen", DefectOutcome::Caught, true),
            ("unseen", DefectOutcome::Missed, true),
            ("better-than-said", DefectOutcome::Caught, false),
            ("wrong-finding", DefectOutcome::Other, false),
        ]
    );
    // The switch reached the test, and the variable every stack it starts would read.
    assert!(
        level.defects[0].detail.contains("FIXTURE_DEFECTS=seen"),
        "{}",
        level.defects[0].detail
    );
    assert_eq!(level.summary.passed, 2);
    assert_eq!(level.summary.failed, 2);
    assert_eq!(result.report.detection_score(), Some((2, 4)));
    assert!(!result.passed());
    // Each defect's check ran in a folder of its own.
    for name in ["seen", "unseen"] {
        assert!(
            result
                .dir
                .join("defects")
                .join(name)
                .join(EVENTS_FILE)
                .is_file(),
            "{name}"
        );
    }
    // The run's report has the defects' tests, not the checks' own tests.
    let names: Vec<&str> = level.tests.iter().map(|t| t.name.as_str()).collect();
    assert!(names.iter().all(|n| !n.starts_with("catches")), "{names:?}");
}
