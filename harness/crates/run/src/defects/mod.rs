//! The defects level: every defect of a [`Catalogue`] switched on alone, each against the
//! check that should catch it, and whether that is what the catalogue says.
//!
//! For each defect (`concurrency` of them at a time, two by default; results in the
//! catalogue's order):
//! 1. the switch (`<switch>=<name>`) goes to every service the workspace builds: in the
//!    defect's own stack (the catalogue's manifest with `only` its services, when it has
//!    `only`), and through [`harness_stack::SERVICE_ENV`] in every stack its check's tests
//!    start themselves; the tests also get it in their own environment (a test that runs a
//!    service's binary itself);
//! 2. the check runs: nextest with the filterset (the stack's endpoints in the tests'
//!    environment), the OpenAPI verifier on a service, or a load profile;
//! 3. the outcome: **caught** when the check failed and a failure says the catalogue's
//!    finding, **missed** when it passed, **failed otherwise** when it failed without it, and
//!    **error** when the stack did not start or the check could not run (never a catch).
//!
//! The level's tests are the defects: one passes when its outcome is what the catalogue
//! expects (`caught`, or `missed` for `not yet`), so the catalogue stays true both ways.
//! Each defect's details (its stack's events, nextest's output, the verifier's results)
//! stay in `<run>/defects/<name>/`; the run's report gets one [`Event::DefectChecked`] per
//! defect and the detection score. That the same checks pass with every defect off is what
//! the levels below show in the same run.

pub mod catalogue;

use std::{path::Path, time::Instant};

use futures_util::StreamExt;

use harness_core::{
    Event,
    defects::{DefectOutcome, DefectResult},
    run::{Level, TestOutcome, TestResult},
};
use harness_stack::{Manifest, SERVICE_ENV, Stack};

pub use catalogue::{Catalogue, Check, Defect};

use crate::{Result, Session, load, openapi, pyramid::nextest::NextestRun};

/// Longest an `openapi` check of a defect may take: a level of minutes, not the contract
/// level's budget per service.
const OPENAPI_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs every defect of the catalogue at `path`; `env` goes to every check's tests.
pub(crate) async fn run(
    session: &Session,
    path: &Path,
    level: Level,
    env: &[(String, String)],
) -> Result<Vec<DefectResult>> {
    let catalogue = Catalogue::from_path(path, &session.config().manifest)?;
    crate::config::filterset::check_exprs(
        session.root(),
        catalogue.defects.iter().filter_map(|d| match &d.check {
            Check::Tests(filter) => Some((filter.as_str(), &catalogue.path, Some(d.line))),
            _ => None,
        }),
    )?;
    let total = catalogue.defects.len();
    // `concurrency` defects at a time; their results are emitted in the catalogue's order
    // (a defect done early waits for the ones before it), so every report lists them so.
    let mut results = Vec::new();
    let mut stream = futures_util::stream::iter(catalogue.defects.iter().enumerate())
        .map(|(n, defect)| checked(session, &catalogue, defect, n, total, level, env))
        .buffered(catalogue.concurrency);
    while let Some(result) = stream.next().await {
        emit(session, level, &result);
        results.push(result);
    }
    Ok(results)
}

/// A defect's result as events: the defect, and the level's test it is.
fn emit(session: &Session, level: Level, result: &DefectResult) {
    session.emit(Event::DefectChecked(result.clone()));
    session.emit(Event::TestFinished(TestResult {
        level,
        suite: "defects".to_owned(),
        name: format!("{} ({})", result.name, result.check),
        outcome: if result.as_expected() {
            TestOutcome::Passed
        } else {
            TestOutcome::Failed
        },
        duration: result.duration,
        retries: 0,
        output: if result.as_expected() {
            String::new()
        } else {
            explain(result)
        },
    }));
}

/// One defect: switched on and checked.
async fn checked(
    session: &Session,
    catalogue: &Catalogue,
    defect: &Defect,
    n: usize,
    total: usize,
    level: Level,
    env: &[(String, String)],
) -> DefectResult {
    session.emit(Event::LevelStep {
        level,
        step: format!(
            "defect {} ({}/{total}): {}={} against {}",
            defect.name,
            n + 1,
            catalogue.switch,
            defect.name,
            defect.check
        ),
    });
    let started = Instant::now();
    let (outcome, detail) = match one(session, catalogue, defect, n, level, env).await {
        Ok(failures) => classify(&failures, &defect.finding),
        Err(why) => (DefectOutcome::Error, why),
    };
    DefectResult {
        name: defect.name.clone(),
        summary: defect.summary.clone(),
        check: defect.check.to_string(),
        finding: defect.finding.clone(),
        expected: defect.expected,
        outcome,
        detail,
        duration: started.elapsed(),
    }
}

/// Why a defect's result is not what the catalogue says.
pub fn explain(r: &DefectResult) -> String {
    let what = match r.outcome {
        DefectOutcome::Caught => {
            "caught, but the catalogue says `not yet`: mark it caught".to_owned()
        }
        DefectOutcome::Missed => "missed: the check passed with the defect on".to_owned(),
        DefectOutcome::Other => format!("the check failed, but no failure says {:?}", r.finding),
        DefectOutcome::Error => "the check could not run (not a catch)".to_owned(),
    };
    if r.detail.is_empty() {
        format!("defect {}: {what}", r.name)
    } else {
        format!("defect {}: {what}\n{}", r.name, r.detail)
    }
}

/// The check's failures (empty: it passed), or why it could not run.
async fn one(
    session: &Session,
    catalogue: &Catalogue,
    defect: &Defect,
    n: usize,
    level: Level,
    env: &[(String, String)],
) -> std::result::Result<Vec<String>, String> {
    let dir = session.dir().join("defects").join(&defect.name);
    let child = session.child(dir.clone()).map_err(|e| e.to_string())?;
    let switch = (catalogue.switch.clone(), defect.name.clone());
    let stack = match &defect.only {
        None => None,
        Some(only) => {
            let manifest = Manifest::from_path(&catalogue.manifest).map_err(|e| e.to_string())?;
            let builder = Stack::builder(manifest)
                .only(only.clone())
                .run_id(format!("{}d{}", session.run_id(), n + 1))
                .reports_dir(dir.join("stacks"))
                .events(child.events())
                .own_services_env(&switch.0, &switch.1);
            // An OpenAPI check's service runs as the OpenAPI checks run it.
            let builder = match &defect.check {
                catalogue::Check::OpenApi { service, .. } => session
                    .config()
                    .openapi_env(builder, std::slice::from_ref(service)),
                _ => builder,
            };
            Some(
                session
                    .start(builder)
                    .await
                    .map_err(|e| format!("the defect's stack did not start: {e}"))?,
            )
        }
    };
    let result = check(
        &child,
        catalogue,
        defect,
        stack.as_ref(),
        level,
        env,
        &switch,
    )
    .await;
    if let Some(stack) = stack
        && let Err(e) = stack.shutdown().await
    {
        session.emit(Event::Warning {
            message: format!("defect {}: removing its stack: {e}", defect.name),
        });
    }
    result
}

async fn check(
    child: &Session,
    catalogue: &Catalogue,
    defect: &Defect,
    stack: Option<&Stack>,
    level: Level,
    env: &[(String, String)],
    switch: &(String, String),
) -> std::result::Result<Vec<String>, String> {
    match &defect.check {
        Check::Tests(filter) => {
            let mut env = env.to_vec();
            if let Some(stack) = stack {
                env.extend(crate::pyramid::stack_env(stack));
            }
            env.push((SERVICE_ENV.to_owned(), format!("{}={}", switch.0, switch.1)));
            env.push(switch.clone());
            let tests = NextestRun {
                root: child.root(),
                run_dir: child.dir(),
                level,
                filter,
                retries: 0,
                env,
                sink: child.events(),
            }
            .run()
            .await?;
            if tests.is_empty() {
                return Err(format!(
                    "{}:{}: the filterset {filter:?} selected no test",
                    catalogue.path.display(),
                    defect.line
                ));
            }
            Ok(tests
                .iter()
                .filter(|t| t.outcome == TestOutcome::Failed)
                .map(|t| format!("{} {}: {}", t.suite, t.name, t.output))
                .collect())
        }
        Check::OpenApi { service, examples } => {
            let stack = stack.ok_or("an openapi check needs a stack")?;
            let url = stack.url(service).map_err(|e| e.to_string())?;
            let options = openapi::OpenApiOptions {
                url: Some(url.clone()),
                max_examples: Some(*examples),
                seed: Some(1),
                ..openapi::OpenApiOptions::new(service)
            };
            let mut prepared =
                openapi::prepare(child.config(), &options).map_err(|e| e.to_string())?;
            prepared.time_budget = prepared.time_budget.min(OPENAPI_BUDGET);
            let report = openapi::check_on(child, &options, prepared, &url, Some(stack))
                .await
                .map_err(|e| e.to_string())?;
            Ok(report
                .operations
                .iter()
                .flat_map(|o| o.failures.iter())
                .map(|f| {
                    format!(
                        "{} {}: {} ({} phase): {}",
                        service, f.operation, f.check, f.phase, f.reason
                    )
                })
                .collect())
        }
        Check::Load(profile) => {
            let stack = stack.ok_or("a load check needs a stack")?;
            let config = child.config();
            let load_config = config
                .load
                .as_ref()
                .ok_or("a load check needs [load] in harness.toml")?;
            let settings =
                load::Settings::named(profile, load_config).map_err(|e| e.to_string())?;
            let report = load::run_on(child, stack, load_config, &settings, level)
                .await
                .map_err(|e| e.to_string())?;
            Ok(report
                .thresholds
                .iter()
                .filter(|v| !v.passed)
                .map(|v| {
                    format!(
                        "threshold {} failed: {}",
                        v.threshold,
                        v.measured
                            .clone()
                            .or_else(|| v.reason.clone())
                            .unwrap_or_default()
                    )
                })
                .collect())
        }
    }
}

/// Caught when a failure says the finding; the failure that said it (or the first).
fn classify(failures: &[String], finding: &str) -> (DefectOutcome, String) {
    if failures.is_empty() {
        return (DefectOutcome::Missed, String::new());
    }
    let needle = finding.to_lowercase();
    match failures.iter().find(|f| f.to_lowercase().contains(&needle)) {
        Some(f) => (DefectOutcome::Caught, first_lines(f, 6)),
        None => (DefectOutcome::Other, first_lines(&failures[0], 6)),
    }
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catch_is_a_failure_that_says_the_finding() {
        assert_eq!(classify(&[], "404").0, DefectOutcome::Missed);
        let failures = vec![
            "e2e x: timed out".to_owned(),
            "e2e y: assertion failed: expected 404, got 200".to_owned(),
        ];
        let (outcome, detail) = classify(&failures, "expected 404");
        assert_eq!(outcome, DefectOutcome::Caught);
        assert!(detail.contains("got 200"), "{detail}");
        let (outcome, detail) = classify(&failures, "no_server_error");
        assert_eq!(outcome, DefectOutcome::Other);
        assert!(detail.contains("timed out"), "{detail}");
    }
}
