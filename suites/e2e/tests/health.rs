//! Health end to end: readiness is per dependency, so an outage of one service takes out only
//! what needs it. With payments stopped, the catalogue is still served through the gateway,
//! the gateway and orders stay ready (their readiness body reports payments down) and orders
//! live; with orders stopped too, the gateway stays ready and the catalogue served; started
//! again, every check is back. Each stop is graceful and ends inside docker stop's 10 s grace
//! (`SHUTDOWN_TIMEOUT_MS`). What is asserted is what `docs/src/sample-services.md` ("Common to
//! every service": health, shutdown) says.

use std::time::{Duration, Instant};

use e2e_suite::{ALL_SCOPES, client, eventually, root, token};
use harness::Stack;
use serde_json::{Value, json};

/// A service's `/health/{path}`: its status and body (`(0, null)` when it does not answer).
async fn health(http: &reqwest::Client, stack: &Stack, service: &str, path: &str) -> (u16, Value) {
    let Ok(base) = stack.url(service) else {
        return (0, Value::Null);
    };
    match http.get(format!("{base}/health/{path}")).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// The named check of a readiness body.
fn check<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["checks"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
}

/// Waits until `service`'s readiness says `name` is `ok` (or not), and returns the body.
async fn until_check(
    http: &reqwest::Client,
    stack: &Stack,
    service: &str,
    name: &str,
    ok: bool,
) -> (u16, Value) {
    eventually(
        &format!("{service}'s readiness reports {name} ok={ok}"),
        Duration::from_secs(60),
        || async {
            let (status, body) = health(http, stack, service, "ready").await;
            match check(&body, name) {
                Some(c) if c["ok"] == ok => Ok((status, body)),
                _ => Err(format!("{status} {body}")),
            }
        },
    )
    .await
}

#[tokio::test]
async fn an_outage_of_payments_or_orders_leaves_the_catalogue_and_readiness_up() {
    // Always a stack of its own: its services are stopped and started.
    let mut builder = Stack::from_manifest(root().join("suites/stack.toml")).unwrap();
    for name in ["JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE"] {
        if let Ok(value) = std::env::var(name)
            && !value.trim().is_empty()
        {
            builder = builder.env("gateway", name, value);
        }
    }
    let stack = builder.start().await.unwrap();
    let gateway = stack.url("gateway").unwrap();
    let client = client();
    let bearer = token("e2e-health", ALL_SCOPES);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let products = || async {
        let r = client
            .send(
                client
                    .get(format!("{gateway}/api/products"))
                    .bearer_auth(&bearer),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok::<u16, String>(r.status().as_u16())
    };

    // Everything up: every check passes everywhere.
    for service in ["gateway", "orders", "payments", "inventory", "shipping"] {
        let (status, body) = health(&http, &stack, service, "ready").await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("up")),
            "{service}: {body}"
        );
    }
    assert_eq!(products().await, Ok(200));

    // payments stopped (SIGTERM): it drains and exits by itself, well inside docker stop's
    // grace, and says so.
    let stopping = Instant::now();
    stack.stop("payments").await.unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(9),
        "payments took {:?} to stop",
        stopping.elapsed()
    );
    assert!(
        stack
            .logs("payments")
            .unwrap()
            .contains("http server stopped"),
        "payments stopped gracefully"
    );

    // orders notices (its readiness reports payments down) and stays ready and live.
    let (status, body) = until_check(&http, &stack, "orders", "payments", false).await;
    assert_eq!(status, 200, "orders stays ready without payments: {body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(
        check(&body, "payments").unwrap()["required"],
        false,
        "{body}"
    );
    for required in ["postgres", "rabbitmq"] {
        let c = check(&body, required).unwrap_or_else(|| panic!("no {required} check: {body}"));
        assert_eq!(
            (c["ok"].as_bool(), c["required"].as_bool()),
            (Some(true), Some(true)),
            "{body}"
        );
    }
    assert_eq!(health(&http, &stack, "orders", "live").await.0, 200);
    // The gateway stays ready and the catalogue is served.
    let (status, body) = health(&http, &stack, "gateway", "ready").await;
    assert_eq!(
        status, 200,
        "the gateway stays ready without payments: {body}"
    );
    assert_eq!(products().await, Ok(200));
    // Orders are still taken (the worker waits for payments).
    let placed = client
        .send(
            client
                .post(format!("{gateway}/api/orders"))
                .bearer_auth(&bearer)
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .json(&json!({"items": [{"sku": "KB-001", "quantity": 1}]})),
        )
        .await
        .unwrap();
    assert_eq!(
        placed.status(),
        202,
        "orders are taken while payments is away"
    );

    // orders stopped as well (its worker may be holding that order): it stops within its
    // deadline; the gateway reports it, stays ready, serves the catalogue.
    let stopping = Instant::now();
    stack.stop("orders").await.unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(9),
        "orders took {:?} to stop",
        stopping.elapsed()
    );
    assert!(
        stack.logs("orders").unwrap().contains("orders stopped"),
        "orders stopped gracefully"
    );
    let (status, body) = until_check(&http, &stack, "gateway", "orders", false).await;
    assert_eq!(
        status, 200,
        "the gateway stays ready without orders: {body}"
    );
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(products().await, Ok(200));

    // Both back: every check passes again.
    stack.start("payments").await.unwrap();
    stack.start("orders").await.unwrap();
    for (service, name) in [("orders", "payments"), ("gateway", "orders")] {
        until_check(&http, &stack, service, name, true).await;
        eventually(
            &format!("{service} is up again"),
            Duration::from_secs(60),
            || async {
                match health(&http, &stack, service, "ready").await {
                    (200, body) if body["status"] == "up" => Ok(()),
                    (status, body) => Err(format!("{status} {body}")),
                }
            },
        )
        .await;
    }
    client.assert_conformant();
    stack.shutdown().await.unwrap();
}
