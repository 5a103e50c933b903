//! The contract level of the sample system from `cargo test`: start the sample stack once,
//! then verify every provider against the checked-in pacts (`contracts/pacts/`), with the
//! provider states and the `order.confirmed` producer of this crate registered on the
//! verifier as Rust handlers. `harness contract verify` does the same through the
//! `contract-states` binary.
//!
//! The whole verification runs twice against the one stack: provider states must set up
//! fresh data and tear it down, so a second round (a re-run in CI, a developer's second
//! try) passes too and the databases hold afterwards exactly what they held before.
//!
//! `harness run` runs this test in its contract level, on the level's stack: the endpoints
//! come in `HARNESS_<SERVICE>_URL`. Without them (`cargo nextest run --ignore-default-filter
//! -E 'package(contract-suite)'`) the test starts the stack itself.

use std::{path::PathBuf, time::Instant};

use harness::{
    Stack,
    pact::{PactSource, Verifier, VerifyReport},
};
use sqlx::PgPool;

fn workspace() -> PathBuf {
    harness::workspace::find_workspace_root(env!("CARGO_MANIFEST_DIR").as_ref())
}

/// The providers of the sample system (each runs as the stack service of its name).
const PROVIDERS: [&str; 4] = ["payments", "inventory", "orders", "shipping"];

/// What the provider states could leave behind, per database. The payment of the order the
/// gateway-orders states place for real (customers `gateway-pact-*`) is not counted: it is
/// the payments service's record of a real order, which that state does not undo.
const TABLES: [(&str, &str); 7] = [
    ("orders", "SELECT count(*) FROM orders"),
    (
        "payments",
        "SELECT count(*) FROM payments WHERE customer_id NOT LIKE 'gateway-pact-%'",
    ),
    ("inventory", "SELECT count(*) FROM products"),
    (
        "inventory",
        "SELECT coalesce(sum(stock), 0)::bigint FROM products",
    ),
    ("inventory", "SELECT count(*) FROM reservations"),
    ("shipping", "SELECT count(*) FROM shipments"),
    ("shipping", "SELECT count(*) FROM processed_events"),
];

async fn counts(env: &contract_suite::StackEnv) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (db, sql) in TABLES {
        let pool = PgPool::connect(&env.database_url(db).unwrap())
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        out.push((format!("{db}: {sql}"), n));
        pool.close().await;
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sample_system_honours_every_pact_twice_and_leaves_nothing_behind() {
    harness::pact::ensure_crypto_provider();
    let root = workspace();
    let given = contract_suite::StackEnv::from_env();
    let stack = match given.url("payments") {
        Ok(_) => None,
        Err(_) => Some(
            Stack::from_manifest(root.join("suites/stack.toml"))
                .unwrap()
                .start()
                .await
                .unwrap(),
        ),
    };
    let env = match &stack {
        Some(stack) => contract_suite::StackEnv::from_vars(stack.env_vars()),
        None => given,
    };
    let pacts = root.join("contracts/pacts");
    let before = counts(&env).await;

    let mut failures = String::new();
    let mut first: Vec<VerifyReport> = Vec::new();
    for round in 1..=2 {
        let started = Instant::now();
        let mut reports = Vec::new();
        for provider in PROVIDERS {
            let report = Verifier::new(provider)
                .provider_url(env.url(provider).unwrap())
                .pacts(PactSource::Dir(pacts.clone()))
                .handlers(contract_suite::handlers(&env))
                .verify()
                .await
                .unwrap();
            if !report.passed() {
                failures.push_str(&format!("round {round}:\n{}", report.explain()));
            }
            reports.push(report);
        }
        eprintln!(
            "round {round}: verified {} interactions of {} pacts against {} providers in {:.2}s",
            reports.iter().map(|r| r.results.len()).sum::<usize>(),
            reports.iter().map(|r| r.pacts.len()).sum::<usize>(),
            reports.len(),
            started.elapsed().as_secs_f64()
        );
        if round == 1 {
            first = reports;
        }
    }
    let after = counts(&env).await;
    if let Some(stack) = stack {
        stack.shutdown().await.unwrap();
    }

    assert!(failures.is_empty(), "pacts that do not hold:\n{failures}");
    // Five HTTP pacts and one message pact, every interaction verified.
    let pacts: Vec<(String, String)> = first
        .iter()
        .flat_map(|r| {
            r.pacts
                .iter()
                .map(|p| (p.consumer.clone(), r.provider.clone()))
        })
        .collect();
    assert_eq!(pacts.len(), 6, "{pacts:?}");
    assert_eq!(
        first.iter().map(|r| r.results.len()).sum::<usize>(),
        first
            .iter()
            .flat_map(|r| &r.pacts)
            .map(|p| p.interactions)
            .sum::<usize>()
    );
    assert_eq!(before, after, "provider states left rows behind");
}
