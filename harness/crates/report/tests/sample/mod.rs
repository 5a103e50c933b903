//! The sample run of the report tests and of `examples/sample.rs` (which renders it for a
//! look in a browser): unit passes (one flaky), contract has a failing interaction, e2e has
//! a failing test, load is not configured.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use harness_core::{
    Event,
    contract::{InteractionResult, Mismatch, MismatchKind, Outcome},
    run::{Level, LevelStatus, LevelSummary, RunOutcome, TestOutcome, TestResult},
};
use harness_report::{Collector, RunReport};

pub fn test(level: Level, suite: &str, name: &str, outcome: TestOutcome, ms: u64) -> Event {
    Event::TestFinished(TestResult {
        level,
        suite: suite.to_owned(),
        name: name.to_owned(),
        outcome,
        duration: Duration::from_millis(ms),
        retries: u32::from(outcome == TestOutcome::Flaky),
        output: if outcome == TestOutcome::Failed {
            "thread 'an_order' panicked at suites/e2e/tests/e2e.rs:199:5:\nassertion `left == right` failed: total <20500> & more\n".to_owned()
        } else {
            String::new()
        },
    })
}

pub fn summary(
    level: Level,
    status: LevelStatus,
    counts: [u32; 4],
    ms: u64,
    note: Option<&str>,
) -> Event {
    Event::LevelFinished(LevelSummary {
        level,
        status,
        passed: counts[0],
        failed: counts[1],
        skipped: counts[2],
        flaky: counts[3],
        duration: Duration::from_millis(ms),
        note: note.map(str::to_owned),
    })
}

/// The sample run (None: not finished).
pub fn run(outcome: Option<RunOutcome>) -> RunReport {
    let mut c = Collector::new();
    let mut events = vec![
        Event::RunStarted {
            run_id: "r1abc".into(),
            levels: Level::ALL.to_vec(),
        },
        Event::LevelStarted { level: Level::Unit },
        test(
            Level::Unit,
            "orders",
            "model::tests::totals",
            TestOutcome::Passed,
            3,
        ),
        test(
            Level::Unit,
            "orders",
            "model::tests::flaky_clock",
            TestOutcome::Flaky,
            40,
        ),
        test(
            Level::Unit,
            "payments",
            "tests::declines",
            TestOutcome::Passed,
            2,
        ),
        summary(Level::Unit, LevelStatus::Passed, [2, 0, 0, 1], 1200, None),
        Event::LevelStarted {
            level: Level::Contract,
        },
        Event::InteractionVerified(InteractionResult {
            consumer: "orders".into(),
            provider: "payments".into(),
            description: "a request to authorise a payment".into(),
            provider_states: vec![],
            source: "contracts/pacts/orders-payments.json".into(),
            duration: Duration::from_millis(30),
            outcome: Outcome::Failed {
                mismatches: vec![Mismatch {
                    kind: MismatchKind::Status,
                    path: String::new(),
                    expected: "201".into(),
                    actual: "500".into(),
                    detail: "expected status 201 but was 500".into(),
                }],
            },
        }),
        test(
            Level::Contract,
            "contract-suite::verify",
            "every_pact_holds",
            TestOutcome::Passed,
            900,
        ),
        summary(
            Level::Contract,
            LevelStatus::Failed,
            [1, 0, 0, 0],
            2500,
            None,
        ),
        Event::LevelStarted { level: Level::E2e },
        test(
            Level::E2e,
            "e2e-suite::e2e",
            "an_order_is_confirmed_and_shipped_exactly_once",
            TestOutcome::Failed,
            1500,
        ),
        test(
            Level::E2e,
            "e2e-suite::e2e",
            "products_can_be_browsed",
            TestOutcome::Passed,
            200,
        ),
        summary(Level::E2e, LevelStatus::Failed, [1, 1, 0, 0], 1700, None),
        summary(
            Level::Load,
            LevelStatus::NotConfigured,
            [0, 0, 0, 0],
            0,
            Some("no load profile in harness.toml"),
        ),
    ];
    if let Some(outcome) = outcome {
        events.push(Event::RunFinished {
            outcome,
            duration: Duration::from_millis(6100),
        });
    }
    for e in &events {
        c.push(e);
    }
    c.report()
}
