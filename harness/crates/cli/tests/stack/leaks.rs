//! Nothing a run created outlives it, however its process ends: the reaper after `kill -9`
//! of `harness up` and after a signal to a test binary holding a stack, a shared stack at
//! process exit, a cancelled start, and the sweep as second line of defence (undecidable
//! liveness never swept, concurrent sweeps of one dead run).
//!
//! Processes that must die are children of the test: `harness up`, or this very test
//! binary re-run with `HARNESS_TEST_HOLD` set, so that [`hold`] below holds a stack the way a
//! user's test would. Each test ends with zero containers and networks of the run, with no
//! other harness command in between.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use harness::{Event, Stack};

use crate::{docker, fixture, reports, resources_of};

/// Waits (up to `limit`) until the run has no container or network left; returns how
/// long that took.
async fn gone_within(run_id: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if resources_of(run_id).await == (0, 0) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Reads the child's stdout until a line `<prefix><run id>`; the run id. The rest of its
/// output is drained in the background, so the child never writes to a closed pipe.
pub(crate) async fn run_id_from(child: &mut Child, prefix: &'static str) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split(prefix).nth(1)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.trim_end_matches(')').trim().to_owned());
            }
        }
    });
    rx.await.expect("the child ended without reporting a run")
}

fn harness_up(envs: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["up", "--manifest"])
        .arg(fixture("one.toml"))
        .env("HARNESS_REPORTS_DIR", reports())
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Makes a child's runs look owned by another host to every sweep (tests run side by side
/// and each start sweeps dead runs), so that only the reaper can remove them.
const ONLY_THE_REAPER: (&str, &str) = ("HARNESS_OWNER_HOST", "elsewhere-only-the-reaper");

/// This test binary, re-run to execute only [`hold`] in the given mode.
fn holder(mode: &str, envs: &[(&str, &str)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["leaks::hold", "--exact", "--nocapture", "--include-ignored"])
        .env("HARNESS_TEST_HOLD", mode)
        .env("HARNESS_REPORTS_DIR", reports())
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} failed");
}

/// Not a test of its own: the body of the child processes above. Without
/// `HARNESS_TEST_HOLD` it does nothing.
#[tokio::test(flavor = "multi_thread")]
async fn hold() {
    let Ok(mode) = std::env::var("HARNESS_TEST_HOLD") else {
        return;
    };
    match mode.as_str() {
        // A stack held until the process is killed, as by Ctrl-C under `cargo test`.
        "until-killed" => {
            let stack = Stack::from_manifest(fixture("one.toml"))
                .unwrap()
                .start()
                .await
                .unwrap();
            println!("RUN {}", stack.run_id());
            std::future::pending::<()>().await;
        }
        // A shared stack, then a normal exit: statics are never dropped.
        "shared" => {
            let stack = Stack::shared(fixture("one.toml")).await.unwrap();
            println!("RUN {}", stack.run_id());
        }
        // A start of its own, which sweeps first; reports the dead runs it removed.
        "start" => {
            let stack = Stack::from_manifest(fixture("one.toml"))
                .unwrap()
                .start()
                .await
                .unwrap();
            println!("STARTED {}", stack.run_id());
        }
        other => panic!("unknown HARNESS_TEST_HOLD mode {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_harness_up_is_cleaned_up_by_the_reaper() {
    let mut child = harness_up(&[ONLY_THE_REAPER]);
    let run_id = run_id_from(&mut child, "(run ").await;
    assert_eq!(resources_of(&run_id).await, (1, 1));
    child.kill().unwrap(); // SIGKILL: no cleanup of its own
    child.wait().unwrap();
    let took = gone_within(&run_id, Duration::from_secs(60)).await;
    eprintln!("reaper removed run {run_id} {took:?} after kill -9 of harness up");
    assert!(
        took.is_some(),
        "the killed run was not removed by the reaper"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_binary_killed_with_sigkill_or_sigterm_leaves_nothing() {
    for sig in ["KILL", "TERM"] {
        let mut child = holder("until-killed", &[ONLY_THE_REAPER]);
        let run_id = run_id_from(&mut child, "RUN ").await;
        assert_eq!(resources_of(&run_id).await, (1, 1));
        signal(&child, sig);
        child.wait().unwrap();
        let took = gone_within(&run_id, Duration::from_secs(60)).await;
        eprintln!("reaper removed run {run_id} {took:?} after SIG{sig} of its test binary");
        assert!(took.is_some(), "SIG{sig} of a test binary leaked its stack");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_stack_is_removed_after_its_test_binary_exits() {
    let mut child = holder("shared", &[ONLY_THE_REAPER]);
    let run_id = run_id_from(&mut child, "RUN ").await;
    assert!(child.wait().unwrap().success());
    let took = gone_within(&run_id, Duration::from_secs(60)).await;
    eprintln!("reaper removed shared run {run_id} {took:?} after a normal exit");
    assert!(took.is_some(), "a shared stack outlived its test binary");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_cancelled_after_its_first_container_was_created_leaves_nothing() {
    let run_id = harness::StackBuilder::new_run_id();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let seen = tx.clone();
    let sink: harness::EventSink = Arc::new(move |e| {
        // a's container exists and runs; b and c are still to come.
        if matches!(&e, Event::ServiceWaiting { service, .. } if service == "a")
            && let Some(tx) = seen.lock().unwrap().take()
        {
            let _ = tx.send(());
        }
    });
    let start = Stack::from_manifest(fixture("chain.toml"))
        .unwrap()
        .events(sink)
        .reports_dir(reports())
        .run_id(run_id.clone())
        .start();
    tokio::select! {
        result = start => panic!("the start finished before it could be cancelled: {result:?}"),
        _ = rx => {}
    }
    // The start future is dropped here; the drop waited for the run's removal.
    assert_eq!(resources_of(&run_id).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_proc_no_run_is_declared_dead_and_with_the_reaper_off_the_sweep_cleans_up() {
    let docker = docker().await;
    let no_proc = tempfile::tempdir().unwrap();
    let mut child = harness_up(&[("HARNESS_REAPER_DISABLED", "true")]);
    let run_id = run_id_from(&mut child, "(run ").await;

    // Alive: a sweep that cannot see processes leaves it alone, and says so.
    let report = harness::sweep_dead_runs_in(&docker, no_proc.path())
        .await
        .unwrap();
    assert!(report.undecided.contains(&run_id), "{report:?}");
    assert!(!report.runs.contains(&run_id), "{report:?}");
    assert_eq!(resources_of(&run_id).await, (1, 1));

    // Killed, with no reaper: nothing removes it by itself, and a sweep that cannot see
    // processes still leaves it alone (a sweep of another test running beside this one
    // may remove it meanwhile: then it is gone for the right reason).
    child.kill().unwrap();
    child.wait().unwrap();
    let report = harness::sweep_dead_runs_in(&docker, no_proc.path())
        .await
        .unwrap();
    assert!(!report.runs.contains(&run_id), "{report:?}");

    // ...and removed by the sweep of the next start, which can see /proc.
    let next = Stack::from_manifest(fixture("one.toml"))
        .unwrap()
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    assert_eq!(resources_of(&run_id).await, (0, 0));
    drop(next);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_test_binaries_sweeping_the_same_dead_run_at_once_both_start() {
    let mut dead = harness_up(&[("HARNESS_REAPER_DISABLED", "true")]);
    let run_id = run_id_from(&mut dead, "(run ").await;
    assert_eq!(resources_of(&run_id).await, (1, 1));
    dead.kill().unwrap();
    dead.wait().unwrap();

    let mut a = holder("start", &[]);
    let mut b = holder("start", &[]);
    let (ra, rb) = tokio::join!(
        run_id_from(&mut a, "STARTED "),
        run_id_from(&mut b, "STARTED ")
    );
    assert!(a.wait().unwrap().success(), "the first start failed");
    assert!(b.wait().unwrap().success(), "the second start failed");
    assert_eq!(resources_of(&run_id).await, (0, 0));
    // Their own stacks were dropped at the end of their tests.
    for r in [ra, rb] {
        assert!(gone_within(&r, Duration::from_secs(30)).await.is_some());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_that_exits_while_starting_is_reported_with_its_exit_code_and_log() {
    let run_id = harness::StackBuilder::new_run_id();
    let err = Stack::from_manifest(fixture("exits.toml"))
        .unwrap()
        .reports_dir(reports())
        .run_id(run_id.clone())
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("exited with code 2"), "{err}");
    assert!(err.contains("PAYMENTS_LIMIT_CENTS"), "{err}");
    assert_eq!(resources_of(&run_id).await, (0, 0));
}
