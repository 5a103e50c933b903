//! Messaging for real, on RabbitMQ in a container: orders (`suites/integration/orders.toml`
//! with short retry and sweep settings) dead-letters poison intake messages and goes on,
//! keeps an order that keeps failing in `orders.intake.retry` without the sweeper ever
//! copying it, and survives a RabbitMQ restart under traffic without losing an order;
//! shipping (`suites/integration/shipping.toml`) dead-letters a malformed `order.confirmed`
//! (a NUL byte) instead of requeueing it forever, survives a restart too, and continues the
//! trace an event carries. What is asserted is what `docs/src/sample-services.md` says.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use harness::{Stack, mock::Fault, mock::MockControl, openapi::RecordingClient};
use integration_suite::{amqp_url, bind_queue, finish, manifest, mock, recording};
use lapin::{
    BasicProperties, Connection, ConnectionProperties,
    options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions},
    types::{AMQPValue, FieldTable},
};
use sample_events::{
    EVENTS_EXCHANGE, INTAKE_DEAD_LETTER_QUEUE, INTAKE_QUEUE, IntakeMessage, ORDER_CONFIRMED,
    SHIPPING_DEAD_LETTER_QUEUE, SHIPPING_QUEUE,
};
use serde_json::{Value, json};

// An order that keeps failing is tried for about MAX_RETRIES x RETRY_DELAY (10 s), longer
// than the stuck order below waits (3 x SWEEP_AFTER and a little).
const RETRY_DELAY: Duration = Duration::from_millis(500);
const MAX_RETRIES: u32 = 20;
const SWEEP_AFTER: Duration = Duration::from_millis(1500);
const FINAL: Duration = Duration::from_secs(90);
/// What shipping would bind: orders publishes order.confirmed only where it is routed.
const EVENTS_QUEUE: &str = "it.messaging.order-confirmed";

/// orders with retries and sweeps short enough for a test.
async fn stack() -> Stack {
    Stack::from_manifest(manifest("orders"))
        .unwrap()
        .env(
            "orders",
            "ORDERS_INTAKE_RETRY_DELAY_MS",
            RETRY_DELAY.as_millis().to_string(),
        )
        .env(
            "orders",
            "ORDERS_INTAKE_MAX_RETRIES",
            MAX_RETRIES.to_string(),
        )
        .env(
            "orders",
            "ORDERS_SWEEP_AFTER_MS",
            SWEEP_AFTER.as_millis().to_string(),
        )
        .env("orders", "ORDERS_SWEEP_EVERY_MS", "500")
        .env("orders", "INTAKE_DEPTH_INTERVAL_MS", "200")
        .start()
        .await
        .unwrap()
}

fn reservation() -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "order_id": "00000000-0000-4000-8000-000000000000",
        "status": "ACTIVE",
        "items": [{"sku": "KB-001", "quantity": 1, "unit_price_cents": 8900}],
        "total_cents": 8900,
        "created_at": "2026-12-01T10:00:00Z"
    })
}

fn authorised() -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "order_id": "00000000-0000-4000-8000-000000000000",
        "customer_id": "nobody",
        "amount_cents": 1,
        "currency": "EUR",
        "status": "AUTHORIZED",
        "created_at": "2026-12-01T10:00:00Z"
    })
}

async fn healthy_peers(inventory: &MockControl, payments: &MockControl) {
    for control in [inventory, payments] {
        control.clear_answers().await.unwrap();
        control.clear_faults().await.unwrap();
    }
    inventory
        .answer("create_reservation", 201, Some(reservation()))
        .await
        .unwrap();
    payments
        .answer("create_payment", 201, Some(authorised()))
        .await
        .unwrap();
}

/// Places an order as `customer` (the gateway's header and the body agree); its id.
async fn place(client: &RecordingClient, base: &str, customer: &str) -> Result<String, String> {
    let r = client
        .send(
            client
                .post(format!("{base}/orders"))
                .header("x-customer-id", customer)
                .json(
                    &json!({"customer_id": customer, "items": [{"sku": "KB-001", "quantity": 1}]}),
                ),
        )
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 202 {
        return Err(format!("POST /orders answered {}", r.status()));
    }
    let order: Value = r.json().await.map_err(|e| e.to_string())?;
    Ok(order["id"].as_str().unwrap().to_owned())
}

/// The order as `customer` sees it.
async fn get_order(client: &RecordingClient, base: &str, customer: &str, id: &str) -> Value {
    client
        .send(
            client
                .get(format!("{base}/orders/{id}"))
                .header("x-customer-id", customer),
        )
        .await
        .unwrap_or_else(|e| panic!("GET /orders/{id}: {e}"))
        .json()
        .await
        .expect("an order")
}

/// Polls `probe` every 200 ms until it answers `Some`, at most `timeout`.
async fn until<T>(what: &str, timeout: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out ({timeout:?}) waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn final_status(client: &RecordingClient, base: &str, customer: &str, id: &str) -> Value {
    until(&format!("order {id} to be final"), FINAL, async || {
        let order = get_order(client, base, customer, id).await;
        (order["status"] != "PENDING").then_some(order)
    })
    .await
}

/// Publishes `body` with `headers` straight to a queue (default exchange), confirmed.
async fn publish_to_queue(amqp: &str, queue: &str, body: &[u8], headers: FieldTable) {
    publish_raw(amqp, "", queue, body, headers).await;
}

/// Publishes `body` with `headers` on `exchange` with `routing_key`, confirmed and routed.
async fn publish_raw(
    amqp: &str,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    headers: FieldTable,
) {
    let conn = Connection::connect(amqp, ConnectionProperties::default())
        .await
        .expect("the broker");
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(
        confirm.is_ack() && confirm.take_message().is_none(),
        "{exchange:?}/{routing_key:?} took it"
    );
    let _ = conn.close(200, "done").await;
}

/// A message taken off a queue: its body and its headers.
struct Taken {
    body: Vec<u8>,
    headers: FieldTable,
}

impl Taken {
    fn header_i64(&self, name: &str) -> Option<i64> {
        match self
            .headers
            .inner()
            .get(&lapin::types::ShortString::from(name))?
        {
            AMQPValue::LongLongInt(v) => Some(*v),
            AMQPValue::LongInt(v) => Some(i64::from(*v)),
            AMQPValue::LongUInt(v) => Some(i64::from(*v)),
            AMQPValue::ShortInt(v) => Some(i64::from(*v)),
            AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
            _ => None,
        }
    }
}

/// Every message now on `queue`, acked (so taken off it).
async fn take_all(amqp: &str, queue: &str) -> Vec<Taken> {
    let conn = Connection::connect(amqp, ConnectionProperties::default())
        .await
        .expect("the broker");
    let channel = conn.create_channel().await.unwrap();
    let mut taken = Vec::new();
    while let Some(message) = channel
        .basic_get(queue, BasicGetOptions::default())
        .await
        .unwrap()
    {
        let delivery = message.delivery;
        taken.push(Taken {
            body: delivery.data.clone(),
            headers: delivery.properties.headers().clone().unwrap_or_default(),
        });
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    let _ = conn.close(200, "done").await;
    taken
}

/// The value of a metric line of `/metrics` whose name is `name` and whose labels include
/// every one of `labels` (0 when absent).
async fn metric(base: &str, name: &str, labels: &[&str]) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

/// Runs SQL in orders' database; its output.
async fn sql(stack: &Stack, statement: &str) -> String {
    let out = stack
        .exec(
            "postgres",
            [
                "psql",
                // TCP with the manifest's password: the socket's folder differs by image.
                "postgresql://postgres:postgres@127.0.0.1:5432/orders",
                "-tAc",
                statement,
            ],
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{statement}: {}", out.stderr);
    out.stdout.trim().to_owned()
}

/// `GET {base}{path}`'s status (0 when it does not answer).
async fn status(http: &reqwest::Client, base: &str, path: &str) -> u16 {
    http.get(format!("{base}{path}"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// The `rabbitmq` check of `/health/ready` once it fails.
async fn broker_check_fails(http: &reqwest::Client, base: &str) -> Value {
    until(
        "readiness to report the broker down",
        Duration::from_secs(10),
        async || {
            let body: Value = http
                .get(format!("{base}/health/ready"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let broker = body["checks"]
                .as_array()?
                .iter()
                .find(|c| c["name"] == "rabbitmq")?
                .clone();
            (broker["ok"] == false).then_some(broker)
        },
    )
    .await
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

/// Order ids the sweeper re-queued, from orders' log.
fn swept(stack: &Stack) -> Vec<String> {
    stack
        .logs("orders")
        .unwrap()
        .lines()
        .filter(|l| l.contains("sweeper re-queued the order"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["order_id"].as_str().map(str::to_owned))
        .collect()
}

/// Order ids of the `order.confirmed` events on the test's queue (taken off it).
async fn confirmed_events(amqp: &str) -> Vec<String> {
    take_all(amqp, EVENTS_QUEUE)
        .await
        .iter()
        .filter_map(|m| serde_json::from_slice::<Value>(&m.body).ok())
        .filter_map(|e| e["order_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn orders_dead_letters_poison_and_never_copies_a_waiting_order() {
    let stack = stack().await;
    let base = stack.url("orders").unwrap();
    let amqp = amqp_url(&stack);
    let client = recording("orders");
    let inventory = mock(&stack, "inventory").await;
    let payments = mock(&stack, "payments").await;
    bind_queue(&amqp, EVENTS_EXCHANGE, ORDER_CONFIRMED, EVENTS_QUEUE).await;
    healthy_peers(&inventory, &payments).await;

    // 1. Poison that can never be processed goes to the dead-letter queue at once: a body
    // that is not JSON (with a NUL byte), and an order that does not exist.
    publish_to_queue(
        &amqp,
        INTAKE_QUEUE,
        b"{\"order_id\": \0}",
        FieldTable::default(),
    )
    .await;
    let unknown = uuid::Uuid::new_v4();
    publish_to_queue(
        &amqp,
        INTAKE_QUEUE,
        &IntakeMessage { order_id: unknown }.to_json(),
        FieldTable::default(),
    )
    .await;
    let dead_label = format!("queue=\"{INTAKE_QUEUE}\"");
    until(
        "the two poison messages dead-lettered at once (amqp_messages_dead_lettered_total, malformed and unprocessable)",
        Duration::from_secs(30),
        async || {
            let malformed = metric(
                &base,
                "amqp_messages_dead_lettered_total",
                &[&dead_label, "reason=\"malformed\""],
            )
            .await;
            let unprocessable = metric(
                &base,
                "amqp_messages_dead_lettered_total",
                &[&dead_label, "reason=\"unprocessable\""],
            )
            .await;
            (malformed == 1.0 && unprocessable == 1.0).then_some(())
        },
    )
    .await;

    // 2. A poison order: its row cannot be read (items that are no list), a failure the
    // worker takes for transient. It is retried MAX_RETRIES times through the retry queue,
    // then dead-lettered; the sweeper leaves it there.
    let poison = uuid::Uuid::new_v4();
    sql(
        &stack,
        &format!(
            "INSERT INTO orders (id, customer_id, items, status, request, created_at, updated_at) \
             VALUES ('{poison}', 'it-poison', '{{\"not\": \"a list\"}}', 'PENDING', '{{}}', now(), now())"
        ),
    )
    .await;
    let poisoned_at = Instant::now();
    publish_to_queue(
        &amqp,
        INTAKE_QUEUE,
        &IntakeMessage { order_id: poison }.to_json(),
        FieldTable::default(),
    )
    .await;
    until(
        "the poison order dead-lettered",
        Duration::from_secs(60),
        async || {
            (metric(
                &base,
                "amqp_messages_dead_lettered_total",
                &[&dead_label, "reason=\"retries_exhausted\""],
            )
            .await
                == 1.0)
                .then_some(())
        },
    )
    .await;
    assert!(
        poisoned_at.elapsed() >= RETRY_DELAY * MAX_RETRIES,
        "after {MAX_RETRIES} retries of {RETRY_DELAY:?}, not at once: {:?}",
        poisoned_at.elapsed()
    );
    // The dead-letter queue's gauge, read like orders_intake_queue_depth.
    until(
        "the dead-letter gauge at 3",
        Duration::from_secs(10),
        async || {
            (metric(&base, "orders_intake_dead_letter_queue_depth", &[]).await == 3.0).then_some(())
        },
    )
    .await;
    // The worker goes on: a good order is confirmed meanwhile.
    let good = place(&client, &base, "it-after-poison").await.unwrap();
    let order = final_status(&client, &base, "it-after-poison", &good).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(
        sql(
            &stack,
            &format!("SELECT intake_dead_at IS NOT NULL FROM orders WHERE id = '{poison}'")
        )
        .await,
        "t",
        "the poison order is marked dead-lettered"
    );
    // Longer than the sweep-after time: the sweeper does not bring the poison back.
    tokio::time::sleep(SWEEP_AFTER + Duration::from_secs(2)).await;
    let dead = take_all(&amqp, INTAKE_DEAD_LETTER_QUEUE).await;
    assert_eq!(dead.len(), 3, "the three poison messages, once each");
    let poison_letter = dead
        .iter()
        .find(|m| IntakeMessage::parse(&m.body).is_ok_and(|i| i.order_id == poison))
        .expect("the poison order's message is in the dead-letter queue");
    assert_eq!(
        poison_letter.header_i64("retry-count"),
        Some(i64::from(MAX_RETRIES)),
        "it went through the retry queue {MAX_RETRIES} times"
    );
    assert!(
        dead.iter().any(|m| m.body.contains(&0)),
        "the NUL body as it was sent"
    );
    assert!(!swept(&stack).contains(&poison.to_string()));

    // 3. An order that keeps failing (inventory answers 503): its message waits in the retry
    // queue between tries, longer than the sweep-after time in all, and the sweeper never
    // publishes a second copy. Then inventory is back and it is confirmed once.
    inventory
        .fault(&Fault::status(503).on("create_reservation"))
        .await
        .unwrap();
    let stuck = place(&client, &base, "it-stuck").await.unwrap();
    until(
        "the stuck order's message in the retry queue",
        Duration::from_secs(20),
        async || (metric(&base, "orders_intake_retry_queue_depth", &[]).await >= 1.0).then_some(()),
    )
    .await;
    let waited = Instant::now();
    tokio::time::sleep(SWEEP_AFTER * 3).await;
    let stuck_order = get_order(&client, &base, "it-stuck", &stuck).await;
    assert_eq!(stuck_order["status"], "PENDING", "{stuck_order}");
    let tries = inventory
        .calls_to("create_reservation")
        .await
        .unwrap()
        .iter()
        .filter(|c| {
            c.body
                .as_ref()
                .is_some_and(|b| b["order_id"] == stuck.as_str())
        })
        .count();
    // One message: one try per retry delay at most (a copy would double that).
    let most = (waited.elapsed().as_millis() / RETRY_DELAY.as_millis()) as usize + 3;
    assert!(
        (2..=most).contains(&tries),
        "{tries} reservation tries in {:?} (one message: at most {most})",
        waited.elapsed()
    );
    assert!(
        !swept(&stack).contains(&stuck),
        "the sweeper copied an order whose message waits in the retry queue"
    );
    assert_eq!(metric(&base, "orders_swept_total", &[]).await, 0.0);
    inventory.clear_faults().await.unwrap();
    let order = final_status(&client, &base, "it-stuck", &stuck).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    tokio::time::sleep(RETRY_DELAY * 2).await;
    let events = confirmed_events(&amqp).await;
    assert_eq!(
        events.iter().filter(|id| **id == stuck).count(),
        1,
        "one order.confirmed for the stuck order: {events:?}"
    );
    let paid = payments
        .calls_to("create_payment")
        .await
        .unwrap()
        .iter()
        .filter(|c| {
            c.body
                .as_ref()
                .is_some_and(|b| b["order_id"] == stuck.as_str())
        })
        .count();
    assert_eq!(paid, 1, "paid once");

    finish(
        "orders",
        &client,
        &[("inventory", &inventory), ("payments", &payments)],
    )
    .await;
    stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn orders_survives_a_broker_restart_under_traffic_and_loses_no_order() {
    let stack = stack().await;
    let base = stack.url("orders").unwrap();
    let client = recording("orders");
    let inventory = mock(&stack, "inventory").await;
    let payments = mock(&stack, "payments").await;
    bind_queue(
        &amqp_url(&stack),
        EVENTS_EXCHANGE,
        ORDER_CONFIRMED,
        EVENTS_QUEUE,
    )
    .await;
    healthy_peers(&inventory, &payments).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let probe = |path: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move { status(&http, &base, path).await }
    };
    assert_eq!(probe("/health/ready").await, 200);

    // Orders keep coming, four a second, from before the broker stops to after it is back.
    let placed = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        let (placed, refused, stop) = (placed.clone(), refused.clone(), stop.clone());
        async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                match place(&client, &base, "it-restart").await {
                    Ok(id) => placed.lock().unwrap().push(id),
                    Err(e) => refused.lock().unwrap().push(format!("order {n}: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.stop("rabbitmq").await.unwrap();

    // While the broker is away: orders keeps serving (liveness stays up), and readiness says
    // the broker is not there.
    for _ in 0..10 {
        assert_eq!(
            probe("/health/live").await,
            200,
            "orders stopped serving when the broker went away: liveness must stay up"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let not_ready = broker_check_fails(&http, &base).await;
    assert!(not_ready["error"].is_string(), "{not_ready}");
    assert_eq!(probe("/health/ready").await, 503);
    stack.start("rabbitmq").await.unwrap();
    until("orders ready again", Duration::from_secs(60), async || {
        (probe("/health/ready").await == 200).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    traffic.await.unwrap();

    let refused = refused.lock().unwrap().clone();
    assert!(
        refused.is_empty(),
        "orders are accepted while the broker is away: {refused:?}"
    );
    let placed = placed.lock().unwrap().clone();
    assert!(
        placed.len() >= 20,
        "traffic went on: {} orders",
        placed.len()
    );
    for id in &placed {
        let order = final_status(&client, &base, "it-restart", id).await;
        assert_eq!(order["status"], "CONFIRMED", "{order}");
    }
    // Every order handed to shipping, none lost (at least once: a redelivery after the
    // restart may publish an event again, with the same event id).
    let amqp = amqp_url(&stack);
    let mut events: Vec<String> = Vec::new();
    until(
        "an order.confirmed for every order",
        Duration::from_secs(30),
        async || {
            events.extend(confirmed_events(&amqp).await);
            placed.iter().all(|id| events.contains(id)).then_some(())
        },
    )
    .await;
    // Still the same process, never restarted, and ready.
    assert_eq!(probe("/health/ready").await, 200);
    assert_eq!(starts(&stack, "orders"), 1, "orders started once");
    assert!(
        stack
            .logs("orders")
            .unwrap()
            .contains("reconnected to the broker"),
        "orders reconnected"
    );

    finish(
        "orders",
        &client,
        &[("inventory", &inventory), ("payments", &payments)],
    )
    .await;
    stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn shipping_dead_letters_poison_and_survives_a_broker_restart() {
    let stack = Stack::from_manifest(manifest("shipping"))
        .unwrap()
        .env("shipping", "SHIPPING_RETRY_DELAY_MS", "500")
        .start()
        .await
        .unwrap();
    let base = stack.url("shipping").unwrap();
    let amqp = amqp_url(&stack);
    let client = recording("shipping");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let event = |order_id: &str, customer: &str| {
        json!({
            "event_id": uuid::Uuid::new_v4().to_string(), "order_id": order_id,
            "customer_id": customer, "items": [{"sku": "KB-001", "quantity": 1}],
            "total_cents": 8900, "confirmed_at": "2026-12-01T10:00:00Z"
        })
    };

    // 1. An event whose customer id has a NUL byte (PostgreSQL cannot store it) and a body
    // that is not JSON: each goes to the dead-letter queue once, instead of being requeued
    // every second.
    let nul = event(&uuid::Uuid::new_v4().to_string(), "it-\u{0}-nul");
    let nul_body = serde_json::to_vec(&nul).unwrap();
    publish_raw(
        &amqp,
        EVENTS_EXCHANGE,
        ORDER_CONFIRMED,
        &nul_body,
        FieldTable::default(),
    )
    .await;
    publish_raw(
        &amqp,
        EVENTS_EXCHANGE,
        ORDER_CONFIRMED,
        b"\0{not json",
        FieldTable::default(),
    )
    .await;
    let dead_label = format!("queue=\"{SHIPPING_QUEUE}\"");
    until(
        "two dead letters counted",
        Duration::from_secs(30),
        async || {
            (metric(
                &base,
                "amqp_messages_dead_lettered_total",
                &[&dead_label, "reason=\"malformed\""],
            )
            .await
                == 2.0)
                .then_some(())
        },
    )
    .await;
    until(
        "the dead-letter gauge at 2",
        Duration::from_secs(10),
        async || {
            (metric(&base, "shipping_dead_letter_queue_depth", &[]).await == 2.0).then_some(())
        },
    )
    .await;
    // Three seconds on, nothing was delivered again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        metric(
            &base,
            "shipping_events_consumed_total",
            &["outcome=\"rejected\""]
        )
        .await,
        2.0,
        "each poison event handled once"
    );
    let dead = take_all(&amqp, SHIPPING_DEAD_LETTER_QUEUE).await;
    assert_eq!(dead.len(), 2);
    assert!(
        dead.iter().any(|m| m.body == nul_body),
        "the NUL event as it was sent"
    );

    // 2. RabbitMQ restarts: shipping stays up (live, not ready meanwhile), reconnects and
    // consumes again, and continues the trace an event carries.
    assert_eq!(status(&http, &base, "/health/ready").await, 200);
    stack.stop("rabbitmq").await.unwrap();
    let not_ready = broker_check_fails(&http, &base).await;
    assert!(not_ready["error"].is_string(), "{not_ready}");
    assert_eq!(status(&http, &base, "/health/live").await, 200);
    stack.start("rabbitmq").await.unwrap();
    until(
        "shipping ready again",
        Duration::from_secs(60),
        async || (status(&http, &base, "/health/ready").await == 200).then_some(()),
    )
    .await;
    let amqp = amqp_url(&stack);
    let order_id = uuid::Uuid::new_v4().to_string();
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let mut headers = FieldTable::default();
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(format!("00-{trace_id}-00f067aa0ba902b7-01").into()),
    );
    let good = serde_json::to_vec(&event(&order_id, "it-after-restart")).unwrap();
    publish_raw(&amqp, EVENTS_EXCHANGE, ORDER_CONFIRMED, &good, headers).await;
    let shipments = until(
        "the shipment after the restart",
        Duration::from_secs(30),
        async || {
            let list: Value = client
                .send(
                    client
                        .get(format!("{base}/shipments?order_id={order_id}"))
                        .header("x-customer-id", "it-after-restart"),
                )
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            list.as_array().filter(|a| !a.is_empty()).cloned()
        },
    )
    .await;
    assert_eq!(shipments.len(), 1);
    let log = stack.logs("shipping").unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("shipment created") && l.contains(&trace_id)),
        "shipping logs the event's trace id {trace_id}"
    );
    assert!(log.contains("reconnected to the broker"));
    assert_eq!(starts(&stack, "shipping"), 1, "shipping started once");

    // 3. The delivery limit: a message handed back to the queue again and again (as when its
    // consumer crashes on it every time) is dead-lettered by RabbitMQ after the limit. With
    // shipping stopped, this test is the consumer that gives it back.
    stack.stop("shipping").await.unwrap();
    let poison = serde_json::to_vec(&event(&uuid::Uuid::new_v4().to_string(), "it-limit")).unwrap();
    publish_raw(
        &amqp,
        EVENTS_EXCHANGE,
        ORDER_CONFIRMED,
        &poison,
        FieldTable::default(),
    )
    .await;
    let returned = hand_back_until_dead(&amqp, SHIPPING_QUEUE, SHIPPING_DEAD_LETTER_QUEUE).await;
    assert!(
        (10..=11).contains(&returned),
        "handed back {returned} times before RabbitMQ dead-lettered it (limit 10)"
    );
    let dead = take_all(&amqp, SHIPPING_DEAD_LETTER_QUEUE).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, poison);

    finish("shipping", &client, &[]).await;
    stack.shutdown().await.unwrap();
}

/// Takes the message on `queue` and hands it back (nack, requeue) until it shows up in
/// `dead_letter` instead; how often it was handed back.
async fn hand_back_until_dead(amqp: &str, queue: &str, dead_letter: &str) -> usize {
    let conn = Connection::connect(amqp, ConnectionProperties::default())
        .await
        .expect("the broker");
    let channel = conn.create_channel().await.unwrap();
    let mut returned = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(message) = channel
            .basic_get(queue, BasicGetOptions::default())
            .await
            .unwrap()
        {
            message
                .delivery
                .nack(lapin::options::BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
                .unwrap();
            returned += 1;
            continue;
        }
        let dead = channel
            .queue_declare(
                dead_letter,
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        if dead.message_count() > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{queue} kept the message: handed back {returned} times"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = conn.close(200, "done").await;
    returned
}
