//! Integration tests of the harness against the real Docker engine: start order, readiness
//! failures, stacks side by side, fault controls and cleanup (on drop, after `kill -9`, by
//! the reaper and the sweep: `leaks`).
//!
//! They use the sample `payments` service as a small, fast container (built once as a
//! static binary in a `FROM scratch` image; later runs reuse the image).

mod cli;
mod code;
mod leaks;
mod run;

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bollard::{
    Docker,
    query_parameters::{
        InspectContainerOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    },
};
use harness::{Error, Event, EventSink, Stack, labels};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reports() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../reports/harness-tests")
}

async fn docker() -> Docker {
    harness::connect()
        .await
        .expect("these tests need a Docker engine")
}

/// (containers, networks) carrying the run's label.
async fn resources_of(run_id: &str) -> (usize, usize) {
    let docker = docker().await;
    let filter = HashMap::from([(
        "label".to_owned(),
        vec![format!("{}={run_id}", labels::RUN)],
    )]);
    let c = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await
        .unwrap();
    let n = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .unwrap();
    (c.len(), n.len())
}

/// Events with the instant they were emitted.
type EventLog = Arc<Mutex<Vec<(Instant, Event)>>>;

fn recorder() -> (EventSink, EventLog) {
    let log: EventLog = Arc::default();
    let l = log.clone();
    (
        Arc::new(move |e| l.lock().unwrap().push((Instant::now(), e))),
        log,
    )
}

/// A reqwest client. This build contains the Pact crates (through `harness-cli`), which turn
/// on reqwest's rustls backend without a crypto provider: install one first.
fn http() -> reqwest::Client {
    harness::pact::ensure_crypto_provider();
    reqwest::Client::new()
}

async fn get(url: &str) -> Result<u16, reqwest::Error> {
    harness::pact::ensure_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    Ok(client.get(url).send().await?.status().as_u16())
}

#[tokio::test(flavor = "multi_thread")]
async fn services_start_after_their_dependencies_and_independent_ones_concurrently() {
    let (sink, log) = recorder();
    let stack = Stack::from_manifest(fixture("chain.toml"))
        .unwrap()
        .events(sink)
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    let events = log.lock().unwrap().clone();
    let at = |pred: &dyn Fn(&Event) -> bool| {
        events
            .iter()
            .find(|(_, e)| pred(e))
            .map(|(t, _)| *t)
            .unwrap()
    };
    let starting = |s: &str| {
        let s = s.to_owned();
        at(&move |e| matches!(e, Event::ServiceStarting { service } if *service == s))
    };
    let ready = |s: &str| {
        let s = s.to_owned();
        at(&move |e| matches!(e, Event::ServiceReady { service, .. } if *service == s))
    };
    assert!(ready("a") <= starting("b"), "b started before a was ready");
    assert!(ready("b") <= starting("c"), "c started before b was ready");
    assert!(starting("d") < ready("a"), "d (independent) waited for a");

    // b was wired to a by container name through ${a.host}: b declines that customer.
    let a_name = stack.container_name("a").unwrap();
    let resp = crate::http()
        .post(format!("{}/payments", stack.url("b").unwrap()))
        .json(&serde_json::json!({
            "order_id": uuid::Uuid::new_v4(), "customer_id": a_name, "amount_cents": 100, "currency": "EUR"
        }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["decline_reason"], "customer_blocked", "{body}");
    // Each container is also reachable by its service name on the stack network.
    let info = docker()
        .await
        .inspect_container(
            &stack.container_name("b").unwrap(),
            None::<InspectContainerOptions>,
        )
        .await
        .unwrap();
    let aliases: Vec<String> = info
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .values()
        .flat_map(|n| n.aliases.clone().unwrap_or_default())
        .collect();
    assert!(aliases.contains(&"b".to_owned()), "{aliases:?}");
    for s in ["a", "b", "c", "d"] {
        assert_eq!(
            get(&format!("{}/health/ready", stack.url(s).unwrap()))
                .await
                .unwrap(),
            200
        );
        assert!(stack.log_path(s).exists(), "no captured log for {s}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_never_gets_ready_fails_the_start_with_its_log_tail() {
    let run_id = harness::StackBuilder::new_run_id();
    let (sink, log) = recorder();
    let err = Stack::from_manifest(fixture("never-ready.toml"))
        .unwrap()
        .events(sink)
        .reports_dir(reports())
        .run_id(run_id.clone())
        .start()
        .await
        .unwrap_err();
    match &err {
        Error::NotReady {
            service,
            log_tail,
            timeout_s,
            ..
        } => {
            assert_eq!(service, "stuck");
            assert_eq!(*timeout_s, 3);
            assert!(
                log_tail.contains("listening"),
                "log tail lacks the service's output: {log_tail}"
            );
        }
        other => panic!("expected NotReady, got {other}"),
    }
    assert!(err.to_string().contains("stuck"));
    // `beside` waited only for stuck's container to run (condition = "started"): it was
    // started and got ready while stuck was still not ready; `after` waits for readiness
    // and was never started. The error names stuck, the root cause.
    let events = log.lock().unwrap().clone();
    let seen = |pred: &dyn Fn(&Event) -> bool| events.iter().any(|(_, e)| pred(e));
    assert!(
        seen(&|e| matches!(e, Event::ServiceReady { service, .. } if service == "beside")),
        "beside did not start beside stuck: {events:?}"
    );
    assert!(
        !seen(&|e| matches!(e, Event::ServiceStarting { service } if service == "after")),
        "after started although stuck never got ready"
    );
    assert_eq!(
        resources_of(&run_id).await,
        (0, 0),
        "a failed start left resources behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stacks_of_one_manifest_run_side_by_side() {
    let start = || {
        Stack::from_manifest(fixture("one.toml"))
            .unwrap()
            .reports_dir(reports())
            .start()
    };
    let (a, b) = tokio::join!(start(), start());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.run_id(), b.run_id());
    assert_ne!(a.url("payments").unwrap(), b.url("payments").unwrap());
    assert_ne!(
        a.container_name("payments").unwrap(),
        b.container_name("payments").unwrap()
    );
    for s in [&a, &b] {
        assert!(s.url("payments").unwrap().starts_with("http://127.0.0.1:"));
        assert_eq!(
            get(&format!("{}/health/ready", s.url("payments").unwrap()))
                .await
                .unwrap(),
            200
        );
    }
    let run_a = a.run_id().to_owned();
    drop(a);
    // Removing one leaves the other alone.
    assert_eq!(resources_of(&run_a).await, (0, 0));
    assert_eq!(
        get(&format!("{}/health/ready", b.url("payments").unwrap()))
            .await
            .unwrap(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_controls_stop_start_kill_pause_and_cut_off_a_service() {
    let stack = Stack::from_manifest(fixture("one.toml"))
        .unwrap()
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    let health =
        || async { get(&format!("{}/health/ready", stack.url("payments").unwrap())).await };
    assert_eq!(health().await.unwrap(), 200);

    stack.pause("payments").await.unwrap();
    assert!(health().await.is_err(), "a paused service answered");
    stack.unpause("payments").await.unwrap();
    assert_eq!(health().await.unwrap(), 200);

    stack.disconnect("payments").await.unwrap();
    assert!(health().await.is_err(), "a disconnected service answered");
    stack.connect("payments").await.unwrap();
    let mut ok = false;
    for _ in 0..50 {
        if health().await.is_ok_and(|s| s == 200) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the service did not answer after reconnecting");

    stack.stop("payments").await.unwrap();
    assert!(health().await.is_err(), "a stopped service answered");
    stack.start("payments").await.unwrap();
    assert_eq!(health().await.unwrap(), 200);

    stack.kill("payments").await.unwrap();
    assert!(health().await.is_err(), "a killed service answered");
    stack.start("payments").await.unwrap();
    assert_eq!(health().await.unwrap(), 200);

    // Logs go on being captured across restarts: one "listening" line per start.
    let mut starts = 0;
    for _ in 0..40 {
        let log = std::fs::read_to_string(stack.log_path("payments")).unwrap();
        starts = log.matches("\"listening\"").count();
        if starts >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(starts, 3, "the captured log missed the output of a restart");

    assert!(matches!(
        stack.stop("nope").await,
        Err(Error::UnknownService(_))
    ));
}

// A current-thread runtime (the #[tokio::test] default): dropping must not deadlock on it.
#[tokio::test]
async fn dropping_the_stack_removes_its_containers_and_network() {
    let stack = Stack::from_manifest(fixture("one.toml"))
        .unwrap()
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    let run_id = stack.run_id().to_owned();
    assert_eq!(resources_of(&run_id).await, (1, 1));
    drop(stack);
    assert_eq!(resources_of(&run_id).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn leftovers_of_a_killed_run_are_removed_and_live_runs_are_not() {
    // A live run of this process: the sweep must leave it alone.
    let live = Stack::from_manifest(fixture("one.toml"))
        .unwrap()
        .reports_dir(reports())
        .start()
        .await
        .unwrap();

    // A `harness up` that is then killed with SIGKILL: it cannot clean up.
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["up", "--manifest"])
        .arg(fixture("one.toml"))
        .env("HARNESS_REPORTS_DIR", reports())
        // No reaper: this is about the sweep, the second line of defence.
        .env("HARNESS_REAPER_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let run_id = leaks::run_id_from(&mut child, "(run ").await;
    assert_eq!(resources_of(&run_id).await, (1, 1));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Tests run side by side and every start sweeps: another test's sweep may have removed
    // the dead run first. Either way it is gone, and the live run is untouched.
    let report = harness::sweep_dead_runs(&docker().await).await.unwrap();
    assert!(!report.runs.contains(&live.run_id().to_owned()));
    assert_eq!(resources_of(&run_id).await, (0, 0));
    assert_eq!(
        resources_of(live.run_id()).await,
        (1, 1),
        "the sweep touched a live run"
    );
    assert_eq!(
        get(&format!("{}/health/ready", live.url("payments").unwrap()))
            .await
            .unwrap(),
        200
    );
}

#[test]
fn a_shared_stack_is_started_once_and_outlives_the_runtime_that_started_it() {
    let in_fresh_runtime = || {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let stack = Stack::shared(fixture("one.toml")).await.unwrap();
                    let status = get(&format!("{}/health/ready", stack.url("payments").unwrap()))
                        .await
                        .unwrap();
                    (stack.run_id().to_owned(), status, stack)
                })
        })
        .join()
        .unwrap()
    };
    let (first, status1, _) = in_fresh_runtime();
    let (second, status2, stack) = in_fresh_runtime();
    assert_eq!(first, second, "the second caller got another stack");
    assert_eq!((status1, status2), (200, 200));

    // Fault controls still work from yet another runtime, after the first ones are gone.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        stack.stop("payments").await.unwrap();
        stack.start("payments").await.unwrap();
        assert_eq!(
            get(&format!("{}/health/ready", stack.url("payments").unwrap()))
                .await
                .unwrap(),
            200
        );
        // A shared stack lives until the process ends; remove it here so the test leaves nothing.
        harness::remove_run(&docker().await, &first).await.unwrap();
        assert_eq!(resources_of(&first).await, (0, 0));
    });
}
