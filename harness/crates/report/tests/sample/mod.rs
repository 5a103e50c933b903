//! The sample run of the report tests and of `examples/sample.rs` (which renders it for a
//! look in a browser): unit passes (one flaky), integration is not run, contract has a
//! failing interaction, e2e has a failing test, load runs the `smoke` profile and fails one
//! of its two thresholds ([`load_report`]).

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use harness_core::{
    Event,
    contract::{InteractionResult, Mismatch, MismatchKind, Outcome},
    defects::{DefectOutcome, DefectResult, Expectation},
    load::{
        ClientPoint, GaugeSeries, GeneratorStats, LoadReport, ServerPoint, ServerStats,
        ServerTimeline, TargetKind, TargetStats, ThresholdVerdict,
    },
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

/// The defects level's results: one caught as expected, one `not yet` and missed, one
/// caught although the catalogue says `not yet` (the level fails on it).
pub fn defects() -> Vec<DefectResult> {
    let d = |name: &str, check: &str, expected, outcome, detail: &str| DefectResult {
        name: name.into(),
        summary: format!("what {name} breaks"),
        check: check.into(),
        finding: "404".into(),
        expected,
        outcome,
        detail: detail.into(),
        duration: Duration::from_secs(12),
    };
    vec![
        d(
            "bola-read",
            "tests package(e2e-suite) & test(=another_customers_order_is_not_found)",
            Expectation::Caught,
            DefectOutcome::Caught,
            "expected 404, got 200",
        ),
        d(
            "jwt-default-secret",
            "openapi gateway (25 examples)",
            Expectation::NotYet,
            DefectOutcome::Missed,
            "",
        ),
        d(
            "slow-route",
            "load smoke",
            Expectation::NotYet,
            DefectOutcome::Caught,
            "threshold p95(GET /api/products) < 500ms failed: 512ms <b>",
        ),
    ]
}

/// The sample run (None: not finished).
pub fn run(outcome: Option<RunOutcome>) -> RunReport {
    let mut c = Collector::new();
    let mut events = vec![
        Event::RunStarted {
            run_id: "r1abc".into(),
            levels: Level::ALL.to_vec(),
            dir: None,
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
        Event::LevelStarted { level: Level::Load },
    ];
    let load = load_report();
    for t in &load.thresholds {
        events.push(Event::TestFinished(TestResult {
            level: Level::Load,
            suite: format!("load {}", load.profile),
            name: t.threshold.clone(),
            outcome: if t.passed {
                TestOutcome::Passed
            } else {
                TestOutcome::Failed
            },
            duration: Duration::ZERO,
            retries: 0,
            output: if t.passed {
                String::new()
            } else {
                format!("measured {}\n", t.measured.as_deref().unwrap_or("nothing"))
            },
        }));
    }
    events.push(Event::LoadFinished(Box::new(load)));
    events.push(summary(
        Level::Load,
        LevelStatus::Failed,
        [1, 1, 0, 0],
        24_000,
        None,
    ));
    events.push(Event::LevelStarted {
        level: Level::Defects,
    });
    for d in defects() {
        events.push(Event::TestFinished(TestResult {
            level: Level::Defects,
            suite: "defects".into(),
            name: format!("{} ({})", d.name, d.check),
            outcome: if d.as_expected() {
                TestOutcome::Passed
            } else {
                TestOutcome::Failed
            },
            duration: d.duration,
            retries: 0,
            output: if d.as_expected() {
                String::new()
            } else {
                format!(
                    "defect {}: caught, but the catalogue says `not yet`\n",
                    d.name
                )
            },
        }));
        events.push(Event::DefectChecked(d));
    }
    events.push(summary(
        Level::Defects,
        LevelStatus::Failed,
        [2, 1, 0, 0],
        41_000,
        None,
    ));
    if let Some(outcome) = outcome {
        events.push(Event::RunFinished {
            outcome,
            duration: Duration::from_millis(30_100),
        });
    }
    for e in &events {
        c.push(e);
    }
    c.report()
}

/// Per second of the sample's load run (20 s, the first 2 the warm-up): requests the client
/// got answers to, errors, p50/p95/p99 in milliseconds (none in the first second: the users
/// were still starting), and the orders intake queue's depth, which rises while orders come
/// in faster than the worker takes them (seconds 9 to 12) and drains after.
const SECONDS: [(u64, u64, Option<[f64; 3]>, f64); 20] = [
    (0, 0, None, 0.0),
    (412, 0, Some([24.0, 81.0, 162.0]), 0.0),
    (571, 0, Some([13.1, 41.5, 86.0]), 2.0),
    (598, 0, Some([12.2, 38.9, 80.2]), 3.0),
    (603, 1, Some([11.8, 37.4, 79.5]), 2.0),
    (596, 0, Some([12.0, 38.0, 81.1]), 4.0),
    (611, 0, Some([11.9, 37.7, 78.8]), 3.0),
    (602, 0, Some([12.3, 39.2, 83.0]), 5.0),
    (597, 1, Some([12.1, 38.6, 82.4]), 9.0),
    (642, 2, Some([14.8, 52.0, 118.0]), 38.0),
    (705, 4, Some([18.2, 71.3, 151.0]), 96.0),
    (688, 3, Some([17.5, 66.8, 139.5]), 152.0),
    (631, 2, Some([15.0, 55.1, 120.2]), 171.0),
    (589, 1, Some([12.9, 43.0, 92.0]), 148.0),
    (583, 0, Some([12.4, 40.1, 86.3]), 104.0),
    (590, 0, Some([12.0, 38.8, 83.7]), 61.0),
    (601, 0, Some([11.9, 38.1, 80.9]), 27.0),
    (594, 0, Some([12.2, 38.4, 81.6]), 9.0),
    (606, 0, Some([11.8, 37.9, 79.9]), 3.0),
    (599, 0, Some([12.0, 38.2, 80.4]), 1.0),
];

/// The load run of the sample: profile `smoke`, 20 users, 2 s of warm-up and 18 s measured;
/// two named requests, a scenario and the scenarios' own measurement `order_complete`;
/// `p95(GET /api/products) < 300ms` passes, `p99(order_complete) < 1s` fails.
pub fn load_report() -> LoadReport {
    let warmup = 2.0;
    let measured = SECONDS.iter().skip(2);
    let count: u64 = measured.clone().map(|s| s.0).sum();
    let errors: u64 = measured.map(|s| s.1).sum();
    let duration = 18.0;
    let target = |target: &str, kind, count: u64, errors, ms: [f64; 7]| TargetStats {
        target: target.to_owned(),
        kind,
        count,
        errors,
        rate: count as f64 / duration,
        p50: Some(ms[0] / 1000.0),
        p95: Some(ms[1] / 1000.0),
        p99: Some(ms[2] / 1000.0),
        p999: Some(ms[3] / 1000.0),
        avg: Some(ms[4] / 1000.0),
        min: Some(ms[5] / 1000.0),
        max: Some(ms[6] / 1000.0),
    };
    let products = count * 2 / 3;
    LoadReport {
        profile: "smoke".into(),
        users: 20,
        warmup,
        duration,
        targets: vec![
            target(
                "all",
                TargetKind::All,
                count,
                errors,
                [12.4, 44.0, 98.0, 162.0, 16.1, 1.9, 341.0],
            ),
            target(
                "GET /api/products",
                TargetKind::Request,
                products,
                2,
                [8.6, 22.0, 41.0, 88.0, 10.2, 1.9, 190.0],
            ),
            target(
                "POST /api/orders",
                TargetKind::Request,
                count - products,
                errors - 2,
                [21.0, 64.0, 131.0, 240.0, 27.5, 6.1, 341.0],
            ),
            target(
                "browse and order",
                TargetKind::Scenario,
                (count - products) / 2,
                errors - 2,
                [290.0, 520.0, 780.0, 1020.0, 318.0, 201.0, 1210.0],
            ),
            target(
                "order_complete",
                TargetKind::Measurement,
                (count - products) / 2 - 9,
                0,
                [410.0, 930.0, 1420.0, 2300.0, 505.0, 96.0, 2410.0],
            ),
        ],
        thresholds: vec![
            ThresholdVerdict {
                threshold: "p95(GET /api/products) < 300ms".into(),
                passed: true,
                measured: Some("p95 = 22.0ms".into()),
                reason: None,
            },
            ThresholdVerdict {
                threshold: "p99(order_complete) < 1s".into(),
                passed: false,
                measured: Some("p99 = 1.42s".into()),
                reason: None,
            },
        ],
        timeline: SECONDS
            .iter()
            .enumerate()
            .map(|(at, &(requests, errors, ms, _))| ClientPoint {
                at: at as f64,
                requests,
                errors,
                p50: ms.map(|m| m[0] / 1000.0),
                p95: ms.map(|m| m[1] / 1000.0),
                p99: ms.map(|m| m[2] / 1000.0),
            })
            .collect(),
        server: vec![
            ServerStats {
                service: "gateway".into(),
                window: duration,
                by_route: Vec::new(),
                requests: count + 23,
                errors: 3,
                client_errors: 11,
                rps: (count + 23) as f64 / duration,
                p50: Some(0.0105),
                p95: Some(0.0402),
                p99: Some(0.0911),
            },
            ServerStats {
                service: "orders".into(),
                window: duration,
                by_route: Vec::new(),
                requests: count - products + 4,
                errors: errors - 2,
                client_errors: 0,
                rps: (count - products + 4) as f64 / duration,
                p50: Some(0.0187),
                p95: Some(0.0583),
                p99: Some(0.118),
            },
        ],
        server_timeline: [("gateway", 1.0), ("orders", 1.0 / 3.0)]
            .into_iter()
            .map(|(service, share)| ServerTimeline {
                service: service.into(),
                points: SECONDS
                    .iter()
                    .enumerate()
                    .map(|(at, &(requests, errors, ms, _))| ServerPoint {
                        at: at as f64,
                        // The server counts a second a little later than the client.
                        rps: (requests as f64 * share * 1.01).round(),
                        errors: if service == "orders" { errors } else { 0 },
                        p95: ms.map(|m| m[1] * 0.9 / 1000.0),
                    })
                    .collect(),
            })
            .collect(),
        gauges: vec![GaugeSeries {
            service: "orders".into(),
            metric: "orders_intake_queue_depth".into(),
            points: SECONDS
                .iter()
                .enumerate()
                .map(|(at, s)| (at as f64, s.3))
                .collect(),
        }],
        generator: GeneratorStats {
            cpu_avg: 85.0,
            cpu_max: 140.0,
            cores: 2,
            rss_max: 48_300_000,
        },
        warnings: vec!["payments: /metrics could not be read after the run (connection refused); its server view is missing".into()],
    }
}
