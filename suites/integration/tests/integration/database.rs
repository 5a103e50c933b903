//! The services' PostgreSQL timeouts on real PostgreSQL (`suites/integration/payments.toml`):
//! every connection of a service's pool carries `statement_timeout` (`DB_STATEMENT_TIMEOUT_MS`),
//! so a statement stuck behind a lock is cancelled by PostgreSQL and the request answers a 503
//! of the service's own within that time, instead of holding its connection until the request
//! timeout (or for ever). Shown twice: `SHOW statement_timeout` on the pool the kit builds from
//! the service's settings, and the running payments container answering while its table is
//! locked.

use std::time::{Duration, Instant};

use harness::Stack;
use integration_suite::manifest;
use payments::config::{Config, LedgerSetting};
use serde_json::{Value, json};
use service_kit::Env;
use uuid::Uuid;

/// What the stack's payments gets, and the test's own pool too.
const STATEMENT_TIMEOUT_MS: &str = "800";

#[tokio::test]
async fn a_statement_stuck_on_a_lock_is_cancelled_by_the_statement_timeout() {
    // A stack of its own: its table is locked.
    let stack = Stack::from_manifest(manifest("payments"))
        .unwrap()
        .env("payments", "DB_STATEMENT_TIMEOUT_MS", STATEMENT_TIMEOUT_MS)
        .start()
        .await
        .unwrap();

    // The pool payments builds, from payments' own settings, on the stack's PostgreSQL.
    let port = stack.host_port("postgres", 5432).unwrap();
    let url = format!("postgres://postgres:postgres@127.0.0.1:{port}/payments");
    let config = Config::from_env(&Env::from_pairs([
        ("DATABASE_URL", url.as_str()),
        ("DB_STATEMENT_TIMEOUT_MS", STATEMENT_TIMEOUT_MS),
    ]))
    .unwrap();
    let LedgerSetting::Postgres(db) = &config.ledger else {
        panic!("payments keeps its ledger in PostgreSQL by default");
    };
    let pool = service_kit::db::connect(db, &payments::model::MIGRATOR, Duration::from_secs(30))
        .await
        .unwrap();
    // Every connection of the pool, not only the first.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = pool.acquire().await.unwrap();
        let shown: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(shown, "800ms");
        held.push(conn);
    }
    drop(held);
    let started = Instant::now();
    let err = sqlx::query("SELECT pg_sleep(5)")
        .execute(&pool)
        .await
        .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|e| e.code().map(|c| c.into_owned()));
    assert_eq!(code.as_deref(), Some("57014"), "query_canceled: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    pool.close().await;

    // The running service: its table locked by another session for 6 s, an authorisation
    // waits on the lock until the statement timeout cancels it, and payments answers 503
    // (the ledger unavailable) after about 800 ms, not when the request times out (10 s).
    let base = stack.url("payments").unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let order = Uuid::new_v4();
    let body = json!({"order_id": order, "customer_id": "it-timeout", "amount_cents": 1_000, "currency": "EUR"});
    let lock = stack.exec(
        "postgres",
        [
            "psql",
            // Over TCP: the image's default socket and port may not be the server's.
            "postgresql://postgres:postgres@127.0.0.1:5432/payments",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "BEGIN; LOCK TABLE payments IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;",
        ],
    );
    let blocked = async {
        // The lock is taken first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        let response = http
            .post(format!("{base}/payments"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let problem: Value = response.json().await.unwrap();
        (status, problem, started.elapsed())
    };
    let (locked, (status, problem, took)) = tokio::join!(lock, blocked);
    let locked = locked.unwrap();
    assert_eq!(locked.exit_code, 0, "the lock was held: {}", locked.stderr);
    assert_eq!(status, 503, "{problem}");
    assert_eq!(
        problem["type"], "unavailable",
        "the ledger's own 503: {problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("statement timeout")),
        "PostgreSQL cancelled the statement: {problem}"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(4),
        "answered after {took:?}"
    );

    // The lock gone, the same authorisation goes through.
    let response = http
        .post(format!("{base}/payments"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    stack.shutdown().await.unwrap();
}
