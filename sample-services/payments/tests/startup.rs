//! The real payments binary refuses to start without its database: `DATABASE_URL` has no
//! default (it holds credentials). Without it, or with a ledger setting it does not know,
//! payments exits 2 with a message naming the variable, before it listens.

use std::{
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

/// The payments binary cargo built for this test, with an environment of our own: nothing
/// inherited, so a `DATABASE_URL` in the caller's environment cannot hide the failure.
fn payments(env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_payments"))
        .env_clear()
        .envs(env.iter().copied())
        // Were payments to start anyway, it would serve on a port nothing needs and the
        // deadline below would tell.
        .env("PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the payments binary starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().expect("wait for payments").is_some() {
            return child.wait_with_output().expect("payments' output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("payments' output");
            panic!(
                "payments {env:?} did not exit within 20 s (it started?); stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_refused(output: &Output, variable: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{what}: exit status {:?}; stderr: {stderr}",
        output.status
    );
    assert!(
        stderr.contains(variable),
        "{what}: the message does not name {variable}: {stderr}"
    );
}

#[test]
fn without_a_database_url_payments_exits_2_naming_it() {
    assert_refused(&payments(&[]), "DATABASE_URL", "no DATABASE_URL");
    assert_refused(
        &payments(&[("DATABASE_URL", " ")]),
        "DATABASE_URL",
        "a blank DATABASE_URL",
    );
    assert_refused(
        &payments(&[("PAYMENTS_LEDGER", "postgres")]),
        "DATABASE_URL",
        "the postgres ledger without DATABASE_URL",
    );
}

#[test]
fn an_unknown_ledger_or_a_memory_ledger_with_a_database_is_refused() {
    assert_refused(
        &payments(&[
            ("PAYMENTS_LEDGER", "files"),
            ("DATABASE_URL", "postgres://u:p@127.0.0.1:1/payments"),
        ]),
        "PAYMENTS_LEDGER",
        "an unknown ledger",
    );
    let both = payments(&[
        ("PAYMENTS_LEDGER", "memory"),
        (
            "DATABASE_URL",
            "postgres://u:secret-pw@127.0.0.1:1/payments",
        ),
    ]);
    assert_refused(&both, "DATABASE_URL", "memory with a database");
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(
        !stderr.contains("secret-pw"),
        "the password leaked: {stderr}"
    );
}
