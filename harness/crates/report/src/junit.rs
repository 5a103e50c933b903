//! `junit.xml`: one `<testsuite>` per level, one `<testcase>` per test (classname: its
//! suite), failures with their output, flaky tests as passes with `<flakyFailure>` reruns
//! (as nextest writes them), contract interactions and OpenAPI operations as test cases of
//! their level. A load run's thresholds are tests of their level already; its figures are
//! properties of the level's suite (`load.requests`, `load.rps`, `load.p95_seconds`...).
//! Written with quick-junit, the crate nextest writes its own with.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use harness_core::{
    contract::Outcome,
    run::{LevelStatus, TestOutcome},
};

use crate::{model::RunReport, text};

/// The JUnit XML of a run.
pub fn junit(report: &RunReport) -> String {
    let mut out = Report::new(format!("harness run {}", report.run_id));
    out.set_time(report.duration);
    for level in &report.levels {
        let mut suite = TestSuite::new(level.summary.level.as_str());
        suite.set_time(level.summary.duration);
        if matches!(
            level.summary.status,
            LevelStatus::NotConfigured | LevelStatus::NotRun
        ) {
            suite.add_property(quick_junit::Property::new(
                "status",
                text::status(level.summary.status),
            ));
        }
        if let Some(load) = &level.load {
            let mut props = vec![
                ("load.profile", load.profile.clone()),
                ("load.users", load.users.to_string()),
                ("load.warmup_seconds", load.warmup.to_string()),
                ("load.duration_seconds", load.duration.to_string()),
            ];
            if let Some(all) = load.all() {
                props.extend([
                    ("load.requests", all.count.to_string()),
                    ("load.errors", all.errors.to_string()),
                    ("load.rps", format!("{:.3}", all.rate)),
                ]);
                if let Some(p95) = all.p95 {
                    props.push(("load.p95_seconds", format!("{p95:.6}")));
                }
            }
            let passed = load.thresholds.iter().filter(|t| t.passed).count();
            props.extend([
                ("load.thresholds_passed", passed.to_string()),
                (
                    "load.thresholds_failed",
                    (load.thresholds.len() - passed).to_string(),
                ),
            ]);
            for (name, value) in props {
                suite.add_property(quick_junit::Property::new(name, value));
            }
        }
        // A level that failed beyond its tests (its stack did not start, nextest failed
        // without a failing test, a provider had no pacts) is a test case of its own, so a
        // tool that reads only junit.xml sees the failure too.
        if level.summary.status == LevelStatus::Failed
            && let Some(note) = &level.summary.note
        {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(note.clone());
            let mut case = TestCase::new(format!("{} level", level.summary.level), status);
            case.set_classname("harness run");
            suite.add_test_case(case);
        }
        for t in &level.tests {
            let status = match t.outcome {
                TestOutcome::Passed => TestCaseStatus::success(),
                TestOutcome::Flaky => {
                    let mut status = TestCaseStatus::success();
                    if let TestCaseStatus::Success { flaky_runs } = &mut status {
                        for _ in 0..t.retries.max(1) {
                            let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                            rerun.set_message("failed, then passed on a retry");
                            flaky_runs.push(rerun);
                        }
                    }
                    status
                }
                TestOutcome::Skipped => TestCaseStatus::skipped(),
                TestOutcome::Failed => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(text::why(&t.output));
                    status.set_description(t.output.clone());
                    status
                }
            };
            let mut case = TestCase::new(t.name.clone(), status);
            case.set_classname(t.suite.clone());
            case.set_time(t.duration);
            suite.add_test_case(case);
        }
        for i in &level.interactions {
            let status = match &i.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed { mismatches } => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(format!("{} mismatch(es)", mismatches.len()));
                    s.set_description(
                        mismatches
                            .iter()
                            .map(|m| {
                                format!(
                                    "{:?} {}: expected {}, got {}",
                                    m.kind, m.path, m.expected, m.actual
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n"),
                    );
                    s
                }
                Outcome::Error { message } => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(message.clone());
                    s
                }
            };
            let mut case = TestCase::new(i.description.clone(), status);
            case.set_classname(format!("pact {} -> {}", i.consumer, i.provider));
            case.set_time(i.duration);
            suite.add_test_case(case);
        }
        for o in &level.operations {
            let status = if o.failures.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{} check(s) failed", o.failures.len()));
                s.set_description(
                    o.failures
                        .iter()
                        .map(|f| format!("{:?}: {}", f.check, f.reason))
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                s
            };
            let mut case = TestCase::new(o.operation.clone(), status);
            case.set_classname(format!("openapi {}", o.service));
            case.set_time(o.duration);
            suite.add_test_case(case);
        }
        out.add_test_suite(suite);
    }
    out.to_string().unwrap_or_else(|e| {
        // quick-junit only fails on I/O, which a String cannot have.
        format!("<!-- cannot write the JUnit report: {e} -->")
    })
}
