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
    assert_eq!(
        names,
        ["unit", "integration", "contract", "e2e", "load", "defects"]
    );
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
    // Load: a test case per threshold, the run's figures as properties of its suite.
    let load = suites[4];
    assert_eq!(load.attribute("tests"), Some("2"));
    assert_eq!(load.attribute("failures"), Some("1"));
    let threshold = case("p99(order_complete) < 1s");
    assert_eq!(threshold.attribute("classname"), Some("load smoke"));
    assert!(threshold.children().any(|n| n.has_tag_name("failure")));
    let property = |name: &str| {
        load.descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
            .unwrap_or_else(|| panic!("no property {name}"))
    };
    assert_eq!(property("load.profile"), "smoke");
    assert_eq!(property("load.requests"), "11006");
    assert_eq!(property("load.p95_seconds"), "0.044000");
    assert_eq!(property("load.thresholds_failed"), "1");
    assert!(
        !unit.descendants().any(|n| n.has_tag_name("property")),
        "only the load level has load figures"
    );
    // Defects: a test case each, failed when not what the catalogue says.
    assert_eq!(suites[5].attribute("tests"), Some("3"));
    let defect = case("slow-route (load smoke)");
    assert!(defect.children().any(|n| n.has_tag_name("failure")));
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
    let mut broken = json.clone();
    broken["levels"][0]["summary"]["status"] = "green".into();
    assert!(!validator.is_valid(&broken));
    // The load run is on its level, and its schema is checked too.
    let load = json["levels"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l.get("load").is_some())
        .expect("a level with a load run");
    assert_eq!(json["levels"][load]["summary"]["level"], "load");
    assert!(
        json["levels"][0].get("load").is_none(),
        "no load field without a load run"
    );
    for (pointer, bad) in [
        ("/targets/0/kind", serde_json::json!("everything")),
        ("/timeline/3/p95", serde_json::json!("fast")),
        ("/gauges/0/points/2", serde_json::json!([1.0])),
        ("/thresholds/0/passed", serde_json::json!("yes")),
    ] {
        let mut broken = json.clone();
        *broken["levels"][load]["load"].pointer_mut(pointer).unwrap() = bad;
        assert!(!validator.is_valid(&broken), "{pointer}");
    }
    let mut broken = json;
    broken["levels"][load]["load"]
        .as_object_mut()
        .unwrap()
        .remove("profile");
    assert!(!validator.is_valid(&broken));
    // An unfinished run is still a valid report.
    assert!(validator.is_valid(&serde_json::to_value(run(None)).unwrap()));
}

// Durations differ from run to run: snapshots show them redacted. The load run's figures are
// the sample's own and stay: latencies read `12.4 ms` or `1.42 s` (two decimals) and spans
// `2 s`, which the filter does not take for a run's `12.3 s`.
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
        "load: 2 tests, failed",
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
    for forbidden in ["<script", "http://", "https://", "<link", "url(", "@import"] {
        assert!(!page.contains(forbidden), "self-contained: {forbidden}");
    }
}

/// The part of `page` from `start` to the end of the element it opens (`</tag>`).
fn element<'a>(page: &'a str, start: &str, tag: &str) -> &'a str {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the page"));
    let end = format!("</{tag}>");
    let len = page[from..].find(&end).expect("closed") + end.len();
    &page[from..from + len]
}

#[test]
fn report_html_has_the_load_section_with_its_tables_and_three_charts() {
    let page = html(&run(Some(RunOutcome::Failed)));
    let load = element(&page, "<section id=\"load-load\"", "section");
    assert!(load.contains("<h2>Load</h2>"));
    assert!(load.contains("Profile <code>smoke</code>: 20 users, 2 s warm-up, 18 s measured"));
    assert!(load.contains("1 of 2 passed"));
    assert!(
        load.contains("<code>p99(order_complete) &lt; 1s</code></td><td class=\"failed\">failed</td><td>p99 = 1.42s</td>"),
        "the failing threshold, escaped"
    );
    for row in [
        "<code>GET /api/products</code></td><td>request</td>",
        "<code>browse and order</code></td><td>scenario</td>",
        "<code>order_complete</code></td><td>measurement</td>",
        "<tr><td>gateway</td>",
        "<tr><td>orders</td>",
    ] {
        assert!(load.contains(row), "{row}");
    }
    assert!(load.contains("CPU 85 % avg, 140 % max of 200 % (2 cores), RSS 48.3 MB"));
    assert!(load.contains("<p class=\"warn\">payments: /metrics could not be read"));

    // Latency: p50, p95 and p99; the first second has no responses, so each line starts at
    // 1 s (19 points), and the warm-up is shaded.
    let latency = element(load, "<svg id=\"chart-load-latency\"", "svg");
    assert_eq!(latency.matches("<g class=\"series\"").count(), 3);
    assert_eq!(latency.matches("<polyline").count(), 3);
    for line in latency.split("<polyline").skip(1) {
        let points = line.split("points=\"").nth(1).unwrap();
        assert_eq!(points[..points.find('"').unwrap()].split(' ').count(), 19);
    }
    assert!(latency.contains("class=\"band\"") && latency.contains(">warm-up<"));
    // Requests per second: the client's and each service's, 20 points each.
    let rps = element(load, "<svg id=\"chart-load-rps\"", "svg");
    for name in ["client", "gateway (server)", "orders (server)"] {
        assert!(rps.contains(&format!("data-series=\"{name}\"")), "{name}");
    }
    assert_eq!(rps.matches("<polyline").count(), 3);
    // The queue's depth.
    let gauge = element(load, "<svg id=\"chart-load-gauge-0\"", "svg");
    assert!(gauge.contains("data-series=\"orders_intake_queue_depth\""));
    assert_eq!(gauge.matches("<polyline").count(), 1);
    assert_eq!(load.matches("<svg").count(), 3);
    assert!(!load.contains("NaN"));
}

#[test]
fn a_load_run_belongs_to_the_running_level_or_else_to_load() {
    let load = sample::load_report();
    let mut c = Collector::new();
    c.push(&harness_core::Event::LoadFinished(Box::new(load.clone())));
    let report = c.report();
    assert_eq!(
        report.level(Level::Load).unwrap().load.as_ref(),
        Some(&load)
    );
    let mut c = Collector::new();
    c.push(&harness_core::Event::LevelStarted { level: Level::E2e });
    c.push(&harness_core::Event::LoadFinished(Box::new(load.clone())));
    let report = c.report();
    assert_eq!(report.level(Level::E2e).unwrap().load.as_ref(), Some(&load));
    assert!(report.level(Level::Load).is_none());
    assert!(markdown(&report).contains("### Load (level e2e)"));
    assert!(console(&report).starts_with("level"), "the table first");
    assert!(console(&report).contains("e2e smoke: 20 users"));
}

#[test]
fn markdown_load_tables_keep_their_columns() {
    let md = markdown(&run(Some(RunOutcome::Failed)));
    let section = &md[md.find("### Load").expect("a load section")..];
    let targets: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("| target |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(
        targets.len(),
        2 + 5,
        "header, rule and 5 targets: {targets:#?}"
    );
    let server: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("| service |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(server.len(), 2 + 2, "{server:#?}");
    for row in targets.iter().chain(&server) {
        assert_eq!(row.matches(" | ").count(), 7, "8 columns: {row}");
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

#[test]
fn the_detection_score_is_in_every_report() {
    let report = run(Some(RunOutcome::Failed));
    assert_eq!(report.detection_score(), Some((2, 3)));
    let line = "detection score 2/3: 2 caught, 2 marked not yet (jwt-default-secret, slow-route); not as the catalogue says: slow-route";
    assert!(console(&report).contains(line), "{}", console(&report));
    assert!(markdown(&report).contains(line), "{}", markdown(&report));
    let page = html(&report);
    let section = element(&page, "<section id=\"defects\"", "section");
    assert!(section.contains(line), "{section}");
    assert!(section.contains("<code>bola-read</code>"), "{section}");
    // Escaped like every other cell.
    assert!(section.contains("NOT AS EXPECTED"), "{section}");
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    let level = json["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["summary"]["level"] == "defects")
        .unwrap();
    assert_eq!(level["defects"][1]["expected"], "not_yet");
    assert_eq!(level["defects"][2]["outcome"], "caught");
    // The defects' own failures are the level's: the one not as expected fails it.
    let failures: Vec<_> = report
        .failure_lines()
        .into_iter()
        .filter(|f| f.level == Level::Defects)
        .map(|f| f.name)
        .collect();
    assert_eq!(failures, ["slow-route (load smoke)"]);
}
