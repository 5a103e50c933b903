//! The real gateway binary refuses to start without a usable signing secret: there is no
//! default `JWT_SECRET`. Serving and `gateway token` both exit 2 with a message naming the
//! variable when it is missing or shorter than 32 bytes, and `gateway token` prints a token
//! once it is set. An unknown name in `SAMPLE_DEFECTS` (the planted defects) stops both too.

use std::process::{Command, Output, Stdio};

/// The gateway binary cargo built for this test, with an environment of our own: nothing
/// inherited, so a `JWT_SECRET` in the caller's environment cannot hide the failure.
fn gateway(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        // A port nothing needs: were the gateway to start anyway, the test would hang on it
        // rather than pass, and the timeout below would tell.
        .env("PORT", "0")
        .stdin(Stdio::null());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gateway binary starts");
    // A gateway that started serving would never exit: give it a bounded time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if child.try_wait().expect("wait for the gateway").is_some() {
            return child.wait_with_output().expect("the gateway's output");
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("the gateway's output");
            panic!(
                "the gateway {args:?} did not exit within 20 s (it started?); stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn assert_refused(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{what}: exit status {:?}; stderr: {stderr}",
        output.status
    );
    assert!(
        stderr.contains("JWT_SECRET"),
        "{what}: the message does not name JWT_SECRET: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "{what}: printed {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn the_gateway_does_not_start_without_jwt_secret() {
    assert_refused(&gateway(&[], &[]), "no JWT_SECRET");
    assert_refused(&gateway(&[], &[("JWT_SECRET", "")]), "an empty JWT_SECRET");
}

#[test]
fn the_gateway_does_not_start_with_a_short_jwt_secret() {
    // 21 bytes, as long as the public default there used to be.
    let short = "a-21-byte-weak-secret";
    assert_eq!(short.len(), 21);
    let output = gateway(&[], &[("JWT_SECRET", short)]);
    assert_refused(&output, "a 21-byte JWT_SECRET");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("32"),
        "the message names the minimum: {stderr}"
    );
    assert!(!stderr.contains(short), "the secret is echoed: {stderr}");
    let almost = "k".repeat(31);
    assert_refused(
        &gateway(&[], &[("JWT_SECRET", almost.as_str())]),
        "a 31-byte JWT_SECRET",
    );
}

#[test]
fn an_unknown_planted_defect_stops_the_gateway() {
    let secret = "a-secret-of-exactly-thirty-two-b";
    for args in [
        &[][..],
        &["token", "--sub", "alice", "--scope", "orders:read"][..],
    ] {
        let output = gateway(
            args,
            &[
                ("JWT_SECRET", secret),
                ("SAMPLE_DEFECTS", "bola-read, bola-raed"),
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: exit status {:?}; stderr: {stderr}",
            output.status
        );
        for named in [
            "SAMPLE_DEFECTS",
            "\"bola-raed\"",
            "bola-read",
            "ignore-expiry",
        ] {
            assert!(
                stderr.contains(named),
                "{args:?}: the message does not name {named}: {stderr}"
            );
        }
        assert!(output.stdout.is_empty(), "{args:?}: printed something");
    }
}

#[test]
fn gateway_token_needs_the_secret_too() {
    let args = ["token", "--sub", "alice", "--scope", "orders:read"];
    assert_refused(&gateway(&args, &[]), "token without JWT_SECRET");
    assert_refused(
        &gateway(&args, &[("JWT_SECRET", "short")]),
        "token with a short JWT_SECRET",
    );

    let secret = "a-secret-of-exactly-thirty-two-b";
    assert_eq!(secret.len(), 32);
    let output = gateway(
        &args,
        &[("JWT_SECRET", secret), ("JWT_ISSUER", "startup-test")],
    );
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let settings = gateway::config::JwtSettings {
        secret: secret.to_owned(),
        issuer: "startup-test".to_owned(),
        audience: gateway::config::DEFAULT_JWT_AUDIENCE.to_owned(),
    };
    let client = gateway::model::Authenticator::new(&settings)
        .authenticate(Some(format!("Bearer {}", token.trim()).as_bytes()))
        .expect("the printed token carries the configured iss and the default aud");
    assert_eq!(client.sub, "alice");
}
