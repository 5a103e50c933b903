//! Fixtures for `harness run`'s own tests (this crate's `tests/pyramid.rs`, the CLI's
//! `tests/stack/run.rs`), not tests of anything: tests whose outcome the calling test
//! chooses, run by `harness run` through nextest with `HARNESS_FIXTURE_DIR` in their
//! environment. nextest's default filter
//! (`.config/nextest.toml`) leaves this binary out of the test command; without
//! `HARNESS_FIXTURE_DIR` (a plain `cargo test`) every fixture returns at once.

use std::{fs, path::PathBuf, time::Duration};

/// The folder the calling test gave, if any.
fn dir() -> Option<PathBuf> {
    std::env::var_os("HARNESS_FIXTURE_DIR").map(PathBuf::from)
}

#[test]
fn passes() {
    let Some(dir) = dir() else { return };
    fs::write(dir.join("passes.ran"), "").unwrap();
}

#[test]
fn fails() {
    if dir().is_some() {
        panic!("the planted failure of the run fixtures");
    }
}

/// Fails on its first attempt, passes on the next (a file counts the attempts).
#[test]
fn flaky() {
    let Some(dir) = dir() else { return };
    let counter = dir.join("flaky.attempts");
    let attempts = fs::read_to_string(&counter)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    fs::write(&counter, attempts.to_string()).unwrap();
    assert!(attempts > 1, "the first attempt of the flaky fixture fails");
}

/// Says it started (its process id in `hangs.pid`), then waits for two minutes: the caller
/// interrupts the run meanwhile.
#[test]
fn hangs() {
    let Some(dir) = dir() else { return };
    fs::write(dir.join("hangs.pid"), std::process::id().to_string()).unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

/// Stands for a check that catches a planted defect: fails when the switch the defects
/// level sets (`FIXTURE_DEFECTS`, the test catalogue's switch) reached this test, as it
/// reaches the services of every stack the test would start (`HARNESS_SERVICE_ENV`).
#[test]
fn catches_the_switch() {
    if dir().is_none() {
        return;
    }
    let switch = std::env::var("FIXTURE_DEFECTS").unwrap_or_default();
    let service_env = std::env::var("HARNESS_SERVICE_ENV").unwrap_or_default();
    assert!(
        switch.is_empty(),
        "planted defect {switch} seen; stacks would get {service_env:?}"
    );
}
