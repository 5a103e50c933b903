//! Every writer on one run built from events, as `harness run` emits them.

use harness_core::run::{Level, LevelStatus, RunOutcome};
use harness_report::{Collector, REPORT_SCHEMA, RunReport, console, html, junit, markdown};

mod sample;

use sample::{run, summary};

#[test]
fn junit_xml_is_xml_with_a_suite_per_level_and_every_failure() {
    let xml = junit(&run(Some(RunOutcome::Failed)));
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<&str> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["unit", "integration", "contract", "e2e", "load"]);
    let case = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase {name}"))
    };
    let failed = case("an_order_is_confirmed_and_shipped_exactly_once");
    assert_eq!(failed.attribute("classname"), Some("e2e-suite::e2e"));
    let failure = failed
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a <failure>");
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("assertion `left == right` failed"),
        "the panic message"
    );
    assert!(
        failure.text().unwrap().contains("total <20500> & more"),
        "the output, escaped and read back"
    );
    let flaky = case("model::tests::flaky_clock");
    assert!(
        flaky.children().any(|n| n.has_tag_name("flakyFailure")),
        "the retry is recorded"
    );
    let pact = case("a request to authorise a payment");
    assert!(pact.children().any(|n| n.has_tag_name("failure")));
    let unit = suites[0];
    assert_eq!(unit.attribute("tests"), Some("3"));
    assert_eq!(suites[2].attribute("failures"), Some("1"));
}

#[test]
fn report_json_follows_its_schema_and_reads_back() {
    let report = run(Some(RunOutcome::Failed));
    let json = serde_json::to_value(&report).unwrap();
    let schema: serde_json::Value = serde_json::from_str(REPORT_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let back: RunReport = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, report);
    // The schema can fail: a report without its run id, or with an unknown status.
    let mut broken = json.clone();
    broken.as_object_mut().unwrap().remove("run_id");
    assert!(!validator.is_valid(&broken));
    let mut broken = json;
    broken["levels"][0]["summary"]["status"] = "green".into();
    assert!(!validator.is_valid(&broken));
    // An unfinished run is still a valid report.
    assert!(validator.is_valid(&serde_json::to_value(run(None)).unwrap()));
}

// Durations differ from run to run: snapshots show them redacted.
#[test]
fn markdown_summary() {
    let md = markdown(&run(Some(RunOutcome::Failed)));
    insta::with_settings!({filters => vec![(r"\d+\.\d s|\d+ min \d+ s", "[time]")]}, {
        insta::assert_snapshot!(md);
    });
}

#[test]
fn console_summary() {
    let text = console(&run(Some(RunOutcome::Failed)));
    insta::with_settings!({filters => vec![(r"\d+\.\d s|\d+ min \d+ s", "[time]")]}, {
        insta::assert_snapshot!(text);
    });
}

#[test]
fn an_unfinished_run_is_reported_as_interrupted() {
    let report = run(None);
    assert!(markdown(&report).contains(": interrupted"));
    assert!(console(&report).contains("interrupted"));
    assert!(html(&report).contains("id=\"verdict\">interrupted<"));
}

#[test]
fn report_html_is_one_self_contained_page_with_the_pyramid_and_the_failures() {
    let page = html(&run(Some(RunOutcome::Failed)));
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("<svg id=\"pyramid\""));
    for level in [
        "unit: 3 tests",
        "contract: 1 test,",
        "e2e: 2 tests",
        "load: 0 tests, not configured",
    ] {
        assert!(page.contains(level), "{level}");
    }
    assert!(page.contains("an_order_is_confirmed_and_shipped_exactly_once"));
    assert!(
        page.contains("total &lt;20500&gt; &amp; more"),
        "output escaped"
    );
    assert!(!page.contains("total <20500>"));
    assert!(
        page.contains("expected status 201 but was 500"),
        "the pact mismatch"
    );
    for forbidden in ["<script", "http://", "https://", "<link"] {
        assert!(!page.contains(forbidden), "self-contained: {forbidden}");
    }
}

#[test]
fn an_inverted_pyramid_is_warned_about() {
    let report = run(Some(RunOutcome::Failed));
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("e2e has more tests (2) than contract below it (1)")),
        "{:?}",
        report.warnings
    );
    let mut c = Collector::new();
    for e in [
        summary(Level::Unit, LevelStatus::Passed, [50, 0, 0, 0], 1000, None),
        summary(
            Level::Integration,
            LevelStatus::Passed,
            [10, 0, 0, 0],
            20_000,
            None,
        ),
        summary(Level::E2e, LevelStatus::Passed, [5, 0, 0, 0], 3000, None),
    ] {
        c.push(&e);
    }
    assert!(c.report().warnings.is_empty(), "{:?}", c.report().warnings);
}

#[test]
fn reports_are_written_atomically_and_latest_follows_the_newest_run() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("r1abc");
    let written = harness_report::write_reports(&run_dir, &run(Some(RunOutcome::Failed))).unwrap();
    assert_eq!(written.len(), harness_report::FILES.len());
    for f in harness_report::FILES {
        assert!(run_dir.join(f).metadata().unwrap().len() > 0, "{f}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&run_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left");
    harness_report::point_latest(dir.path(), "r1abc").unwrap();
    std::fs::create_dir(dir.path().join("r2def")).unwrap();
    harness_report::point_latest(dir.path(), "r2def").unwrap();
    assert_eq!(
        std::fs::read_link(dir.path().join("latest")).unwrap(),
        std::path::Path::new("r2def")
    );
}

#[test]
fn a_level_that_failed_beyond_its_tests_is_a_junit_case_and_markdown_stays_one_line() {
    let mut c = Collector::new();
    c.push(&summary(
        Level::E2e,
        LevelStatus::Failed,
        [0, 0, 0, 0],
        100,
        Some("the stack did not start: orders exited 2\nlast log | <line>"),
    ));
    let report = c.report();
    let xml = junit(&report);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let case = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("e2e level"))
        .expect("a test case for the level");
    let error = case.children().find(|n| n.has_tag_name("error")).unwrap();
    assert!(
        error
            .attribute("message")
            .unwrap()
            .contains("the stack did not start")
    );
    let md = markdown(&report);
    let row = md.lines().find(|l| l.starts_with("| e2e |")).unwrap();
    assert!(row.contains("last log \\| &lt;line&gt;"), "{row}");
    assert_eq!(
        row.matches(" | ").count(),
        6,
        "the note cannot break the table: {row}"
    );
}
