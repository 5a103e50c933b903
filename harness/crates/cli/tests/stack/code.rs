//! Stacks in code, against the real engine: services declared in Rust, a manifest changed
//! per test and mixed with code, a testcontainers image as a service reached by name, exec,
//! log lines, and exits while the stack is up.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bollard::query_parameters::{InspectContainerOptions, KillContainerOptionsBuilder};
use harness::{
    Error, Event, ImageProvider, ImageRequest, ImageSource, Readiness, ServiceSpec, Stack,
};
use testcontainers::{GenericImage, ImageExt, core::IntoContainerPort, core::WaitFor};

use crate::{docker, fixture, get, reports, resources_of};

/// The sample payments service with its ledger in memory (no database to wait for).
fn payments() -> ServiceSpec {
    ServiceSpec::build("payments")
        .env("PAYMENTS_LEDGER", "memory")
        .port(8082)
        .ready(Readiness::http("/health/ready"))
}

async fn pay(url: &str, customer: &str, cents: u64) -> serde_json::Value {
    crate::http()
        .post(format!("{url}/payments"))
        .json(&serde_json::json!({
            "order_id": uuid::Uuid::new_v4(), "customer_id": customer,
            "amount_cents": cents, "currency": "EUR"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn services_declared_in_code_start_without_a_manifest() {
    let stack = Stack::new("code")
        .service("pay", payments())
        .service(
            "other",
            // Wired to pay by name, as in a manifest: pay is its blocked customer.
            payments()
                .env("PAYMENTS_BLOCKED_CUSTOMERS", "${pay.host}")
                .depends_on("pay"),
        )
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    let status = get(&format!("{}/health/ready", stack.url("pay").unwrap()))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let pay_host = stack.container_name("pay").unwrap();
    let body = pay(&stack.url("other").unwrap(), &pay_host, 100).await;
    assert_eq!(body["decline_reason"], "customer_blocked", "{body}");

    // The same rules as a manifest file: a readiness port that is not published.
    let err = Stack::new("code")
        .service(
            "bad",
            ServiceSpec::build("payments").ready(Readiness::tcp(1)),
        )
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in `ports`"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_is_changed_per_test_and_mixed_with_code() {
    let first = Stack::from_manifest(fixture("one.toml"))
        .unwrap()
        .env("payments", "PAYMENTS_LIMIT_CENTS", "100")
        .service("extra", payments())
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    let over = pay(&first.url("payments").unwrap(), "c1", 200).await;
    assert_eq!(over["decline_reason"], "limit_exceeded", "{over}");
    let extra = pay(&first.url("extra").unwrap(), "c1", 200).await;
    assert_eq!(
        extra["status"], "AUTHORIZED",
        "the override leaked: {extra}"
    );

    // Another image and command for one service: the image the first stack built, run as
    // a plain image reference.
    let docker = docker().await;
    let inspect = |name: String| {
        let docker = docker.clone();
        async move {
            docker
                .inspect_container(&name, None::<InspectContainerOptions>)
                .await
                .unwrap()
                .config
                .unwrap()
        }
    };
    let built = inspect(first.container_name("payments").unwrap())
        .await
        .image
        .unwrap();
    let second = Stack::from_manifest(fixture("one.toml"))
        .unwrap()
        .image("payments", built.clone())
        .command("payments", ["--serve-from-test"])
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    let config = inspect(second.container_name("payments").unwrap()).await;
    assert_eq!(config.image.as_deref(), Some(built.as_str()));
    assert_eq!(config.cmd, Some(vec!["--serve-from-test".to_owned()]));

    let unknown = Stack::from_manifest(fixture("one.toml"))
        .unwrap()
        .env("nope", "A", "b")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, Error::UnknownService(ref s) if s == "nope"),
        "{unknown}"
    );
}

/// The PostgreSQL image of the recipe (present, or built from Debian packages).
async fn postgres_image() -> (String, String) {
    let provider = ImageProvider::new(
        docker().await,
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        harness::discard(),
    );
    let images = provider
        .ensure(&[ImageRequest {
            service: "db".to_owned(),
            source: ImageSource::Image {
                reference: "postgres:15".to_owned(),
                recipe: Some("postgres".to_owned()),
            },
        }])
        .await
        .unwrap();
    let reference = images["db"].clone();
    let (name, tag) = reference.rsplit_once(':').unwrap();
    (name.to_owned(), tag.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_testcontainers_image_joins_a_stack_and_is_reached_by_name_and_exec_runs_in_it() {
    let (name, tag) = postgres_image().await;
    let db = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_env_var("POSTGRES_PASSWORD", "pw");
    let stack = Stack::new("bridge")
        .container("db", db)
        .unwrap()
        .service(
            "inventory",
            ServiceSpec::build("inventory")
                .port(8083)
                // `db` is the testcontainers service's name on the stack network.
                .env("DATABASE_URL", "postgres://postgres:pw@db:5432/inventory")
                .depends_on("db")
                .ready(Readiness::http("/health/ready")),
        )
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    // inventory is ready only once it reached its database by the name `db`.
    let products = crate::http()
        .get(format!("{}/products", stack.url("inventory").unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(products.status().as_u16(), 200);

    let psql = "/usr/lib/postgresql/15/bin/psql";
    let out = stack
        .exec(
            "db",
            [
                psql,
                "-h",
                "/tmp",
                "-U",
                "postgres",
                "-d",
                "inventory",
                "-tAc",
            ]
            .into_iter()
            .chain(["select count(*) > 0 from products"]),
        )
        .await
        .unwrap();
    assert_eq!((out.exit_code, out.stdout.trim()), (0, "t"), "{out:?}");
    let failing = stack
        .exec(
            "db",
            [psql, "-h", "/tmp", "-U", "postgres", "-c", "select nope"],
        )
        .await
        .unwrap();
    assert_ne!(failing.exit_code, 0, "{failing:?}");
    assert!(failing.stderr.contains("nope"), "{failing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_lines_are_read_and_waited_for() {
    let stack = Stack::from_manifest(fixture("one.toml"))
        .unwrap()
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    stack
        .wait_for_log("payments", "listening", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(stack.logs("payments").unwrap().contains("listening"));
    let err = stack
        .wait_for_log(
            "payments",
            "a line never logged",
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    match err {
        Error::LogTimeout {
            service, log_tail, ..
        } => {
            assert_eq!(service, "payments");
            assert!(log_tail.contains("listening"), "{log_tail}");
        }
        other => panic!("expected LogTimeout, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_exits_while_the_stack_is_up_is_reported_and_a_stop_is_not() {
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let seen = events.clone();
    let stack = Stack::from_manifest(fixture("one.toml"))
        .unwrap()
        .events(Arc::new(move |e| seen.lock().unwrap().push(e)))
        .reports_dir(reports())
        .start()
        .await
        .unwrap();
    let exits = || {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, Event::ServiceExited { .. }))
            .cloned()
            .collect::<Vec<_>>()
    };
    // A fault control's stop is expected: nothing reported.
    stack.stop("payments").await.unwrap();
    stack.start("payments").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(exits().is_empty(), "{:?}", exits());

    // Killed behind the stack's back, as a crash would: reported with code and log.
    docker()
        .await
        .kill_container(
            &stack.container_name("payments").unwrap(),
            Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()),
        )
        .await
        .unwrap();
    for _ in 0..100 {
        if !exits().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match exits().as_slice() {
        [
            Event::ServiceExited {
                service,
                exit_code,
                log_tail,
            },
        ] => {
            assert_eq!(service, "payments");
            assert_eq!(*exit_code, 137);
            assert!(log_tail.contains("listening"), "{log_tail}");
        }
        other => panic!("expected one exit, got {other:?}"),
    }
    let run_id = stack.run_id().to_owned();
    drop(stack);
    assert_eq!(resources_of(&run_id).await, (0, 0));
    assert_eq!(exits().len(), 1, "the removal was reported as an exit");
}
