//! The sample system's messaging end to end, through the gateway as a client would: the
//! caller's trace reaches shipping through RabbitMQ, and a RabbitMQ restart under traffic
//! loses no order, restarts no service, and every order is confirmed and shipped once. What
//! is asserted is what `docs/src/sample-services.md` ("Messaging") says.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use e2e_suite::{ALL_SCOPES, System, client, eventually, get_json, root, token};
use harness::{Stack, openapi::RecordingClient};
use serde_json::{Value, json};

const SETTLE: Duration = Duration::from_secs(90);

fn sub(name: &str) -> String {
    format!("e2e-{name}-{}", uuid::Uuid::new_v4().simple())
}

/// Places an order through the gateway at `gateway`; its `Location`.
async fn place(
    client: &RecordingClient,
    gateway: &str,
    bearer: &str,
    traceparent: Option<&str>,
) -> Result<String, String> {
    let mut request = client
        .post(format!("{gateway}/api/orders"))
        .bearer_auth(bearer)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"items": [{"sku": "KB-001", "quantity": 1}]}));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let r = client.send(request).await.map_err(|e| e.to_string())?;
    if r.status() != 202 {
        return Err(format!("POST /api/orders answered {}", r.status()));
    }
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| "no Location".to_owned())
}

/// Waits until the order at `location` is `CONFIRMED` and has its one shipment; the order.
async fn confirmed_and_shipped(
    client: &RecordingClient,
    gateway: &str,
    bearer: &str,
    location: &str,
) -> Value {
    let order = eventually(&format!("{location} is CONFIRMED"), SETTLE, || async {
        let order = get_json(client, format!("{gateway}{location}"), bearer).await?;
        if order["status"] == "CONFIRMED" {
            Ok(order)
        } else {
            Err(order.to_string())
        }
    })
    .await;
    let id = order["id"].as_str().unwrap().to_owned();
    let url = format!("{gateway}/api/shipments?order_id={id}");
    eventually(&format!("order {id} is shipped"), SETTLE, || async {
        let list = get_json(client, url.clone(), bearer).await?;
        match list.as_array().map(Vec::len) {
            Some(0) | None => Err(list.to_string()),
            Some(_) => Ok(()),
        }
    })
    .await;
    order
}

#[tokio::test]
async fn the_callers_trace_reaches_shipping_through_the_broker() {
    let system = System::get().await;
    let client = client();
    let bearer = token(&sub("amqp-trace"), ALL_SCOPES);
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let location = place(&client, &system.gateway, &bearer, Some(&traceparent))
        .await
        .unwrap();
    let order = confirmed_and_shipped(&client, &system.gateway, &bearer, &location).await;
    let order_id = order["id"].as_str().unwrap().to_owned();

    // gateway -> orders (HTTP) -> orders.intake -> worker -> order.confirmed -> shipping: the
    // same trace id all along, so shipping logs the shipment under the caller's trace.
    let log = system
        .logs
        .clone()
        .expect("HARNESS_LOGS_DIR names the run's logs folder")
        .join("shipping.log");
    eventually(
        "shipping logs the shipment with the caller's trace id",
        Duration::from_secs(10),
        || async {
            let text =
                std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            text.lines()
                .find(|l| {
                    l.contains("shipment created") && l.contains(&order_id) && l.contains(&trace_id)
                })
                .map(|_| ())
                .ok_or_else(|| {
                    format!(
                        "no shipment line of {} has trace id {trace_id}",
                        log.display()
                    )
                })
        },
    )
    .await;
    client.assert_conformant();
}

/// A service's `/health/{path}` status from the host (0 when it does not answer).
async fn health(http: &reqwest::Client, stack: &Stack, service: &str, path: &str) -> u16 {
    let base = stack.url(service).unwrap();
    http.get(format!("{base}/health/{path}"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// How often the service logged that it started.
fn starts(stack: &Stack, service: &str) -> usize {
    stack
        .logs(service)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"message\":\"starting\""))
        .count()
}

#[tokio::test]
async fn a_broker_restart_under_traffic_loses_no_order() {
    // Always a stack of its own: stopping its broker must not disturb other tests. Its gateway
    // trusts the tokens `token` signs (JWT_* of the environment, else the stack's own), and
    // its sweeper queues an order placed while the broker was away after 10 s, not a minute.
    let mut builder = Stack::from_manifest(root().join("suites/stack.toml"))
        .unwrap()
        .env("orders", "ORDERS_SWEEP_AFTER_MS", "10000")
        .env("orders", "ORDERS_SWEEP_EVERY_MS", "1000");
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
    let bearer = token(&sub("broker-restart"), ALL_SCOPES);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // Orders keep coming, three a second, from before the broker stops to after it is back.
    let placed = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn({
        let (client, gateway, bearer) = (client.clone(), gateway.clone(), bearer.clone());
        let (placed, refused, stop) = (placed.clone(), refused.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                match place(&client, &gateway, &bearer, None).await {
                    Ok(location) => placed.lock().unwrap().push(location),
                    Err(e) => refused.lock().unwrap().push(e),
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.stop("rabbitmq").await.unwrap();
    for service in ["orders", "shipping"] {
        eventually(
            &format!("{service} reports the broker down"),
            Duration::from_secs(15),
            || async {
                match health(&http, &stack, service, "ready").await {
                    503 => Ok(()),
                    other => Err(format!("readiness {other}")),
                }
            },
        )
        .await;
        assert_eq!(
            health(&http, &stack, service, "live").await,
            200,
            "{service} stays live"
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.start("rabbitmq").await.unwrap();
    for service in ["orders", "shipping"] {
        eventually(
            &format!("{service} ready again"),
            Duration::from_secs(60),
            || async {
                match health(&http, &stack, service, "ready").await {
                    200 => Ok(()),
                    other => Err(format!("readiness {other}")),
                }
            },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    traffic.await.unwrap();

    let refused = refused.lock().unwrap().clone();
    assert!(
        refused.is_empty(),
        "orders are taken while the broker is away: {refused:?}"
    );
    let placed = placed.lock().unwrap().clone();
    assert!(
        placed.len() >= 15,
        "traffic went on: {} orders",
        placed.len()
    );
    for location in &placed {
        confirmed_and_shipped(&client, &gateway, &bearer, location).await;
    }
    // Shipped once each, whatever was delivered twice around the restart.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for location in &placed {
        let id = location.rsplit('/').next().unwrap();
        let list = get_json(
            &client,
            format!("{gateway}/api/shipments?order_id={id}"),
            &bearer,
        )
        .await
        .unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1, "order {id}: {list}");
    }
    for service in ["orders", "shipping"] {
        assert_eq!(starts(&stack, service), 1, "{service} started once");
        assert!(
            stack
                .logs(service)
                .unwrap()
                .contains("reconnected to the broker"),
            "{service} reconnected"
        );
    }
    client.assert_conformant();
    stack.shutdown().await.unwrap();
}
