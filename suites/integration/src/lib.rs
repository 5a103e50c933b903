//! Helpers of the sample system's integration suite (`tests/integration/`): the stacks'
//! manifests, recording clients that check every answer of the service under test against
//! its OpenAPI document, the mocks' control clients, waiting for an order's final state, and
//! publishing events straight into RabbitMQ.
//!
//! Each stack is one test (under nextest every test is a process of its own, so a stack
//! shared by several tests would be started once per test): the test runs its scenarios in
//! turn on that stack and ends by checking the suite's two promises, no answer of the service
//! under test broke its document and no answer of a mock broke its peer's.

use std::{path::PathBuf, sync::Arc, time::Duration};

use harness::{
    Stack,
    mock::MockControl,
    openapi::{Document, RecordingClient},
};
use serde_json::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A manifest of this suite (`suites/integration/<name>.toml`).
pub fn manifest(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("{name}.toml"))
}

/// A service's checked-in OpenAPI document.
pub fn document(service: &str) -> Arc<Document> {
    let path = root().join(format!("contracts/openapi/{service}.json"));
    Arc::new(Document::from_path(&path).unwrap_or_else(|e| panic!("{e}")))
}

/// The customer the suite's requests act for: orders and shipping serve the customer named
/// by `X-Customer-Id` (which the gateway sets in the whole system), so every request of a
/// [`recording`] client carries this one unless the request sets its own.
pub const CUSTOMER: &str = "it-customer";

/// A strict recording client for `service`: every answer is checked against its document
/// (a nonconforming one fails the request) and counted for coverage. Requests carry
/// `X-Customer-Id: ` [`CUSTOMER`] unless they set another.
pub fn recording(service: &str) -> RecordingClient {
    // The build contains Pact (through the mock crate), which turns on reqwest's rustls
    // backend without a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-customer-id",
        reqwest::header::HeaderValue::from_static(CUSTOMER),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .expect("a reqwest client");
    RecordingClient::new(http, document(service))
}

/// The control client of a mock service of `stack`, once it answers.
pub async fn mock(stack: &Stack, service: &str) -> MockControl {
    let url = stack
        .url(service)
        .expect("the mock is a service of the stack");
    let control = MockControl::new(&url);
    control
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("mock {service}: {e}"));
    control
}

/// What the suite reports at the end of a stack's test: the coverage of the service under
/// test, and that nothing broke a contract.
pub async fn finish(service: &str, client: &RecordingClient, mocks: &[(&str, &MockControl)]) {
    let coverage = client.coverage();
    eprintln!("{service}: coverage of {}", client.document().origin());
    for op in &coverage.operations {
        eprintln!(
            "  {:<28} {:>3} calls  statuses seen {:?}  unseen {:?}",
            op.label, op.calls, op.statuses_seen, op.statuses_unseen
        );
    }
    client.assert_conformant();
    for (name, control) in mocks {
        let problems = control
            .problems()
            .await
            .unwrap_or_else(|e| panic!("mock {name}: {e}"));
        assert!(
            problems.is_empty(),
            "mock {name} found problems:\n{}",
            problems.join("\n")
        );
    }
}

/// Polls `GET /orders/{id}` until the order leaves `PENDING` (at most `timeout`).
pub async fn final_order(
    client: &RecordingClient,
    base: &str,
    id: &str,
    timeout: Duration,
) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let order: Value = client
            .send(client.get(format!("{base}/orders/{id}")))
            .await
            .unwrap_or_else(|e| panic!("GET /orders/{id}: {e}"))
            .json()
            .await
            .expect("an order");
        if order["status"] != "PENDING" {
            return order;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order {id} still PENDING after {timeout:?}: {order}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publishes `body` on a topic exchange of the broker at `amqp_url` (persistent, JSON, with
/// `message_id`), declaring the exchange as its owner declares it (durable topic).
pub async fn publish(
    amqp_url: &str,
    exchange: &str,
    routing_key: &str,
    message_id: &str,
    body: &Value,
) {
    use lapin::{
        BasicProperties,
        options::{BasicPublishOptions, ConfirmSelectOptions},
    };
    let (conn, channel) = open(amqp_url, Some(exchange)).await;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("publisher confirms");
    let payload = serde_json::to_vec(body).expect("JSON");
    channel
        .basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions::default(),
            &payload,
            BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                .with_message_id(message_id.into()),
        )
        .await
        .expect("published")
        .await
        .expect("confirmed");
    let _ = conn.close(200, "done").await;
}

/// A durable queue bound to `exchange` with `routing_key`, declared as a consumer would (the
/// exchange durable topic too): what takes the events a stack without their consumer
/// publishes (a publisher that asks for routing is refused without one).
pub async fn bind_queue(amqp_url: &str, exchange: &str, routing_key: &str, queue: &str) {
    use lapin::{
        options::{QueueBindOptions, QueueDeclareOptions},
        types::FieldTable,
    };
    let (conn, channel) = open(amqp_url, Some(exchange)).await;
    channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("the queue");
    channel
        .queue_bind(
            queue,
            exchange,
            routing_key,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("the binding");
    let _ = conn.close(200, "done").await;
}

/// Every message now on `queue` (acknowledged), as JSON with its `message_id`.
pub async fn drain(amqp_url: &str, queue: &str) -> Vec<(Option<String>, Value)> {
    use lapin::options::{BasicAckOptions, BasicGetOptions};
    let (conn, channel) = open(amqp_url, None).await;
    let mut out = Vec::new();
    while let Some(message) = channel
        .basic_get(queue, BasicGetOptions::default())
        .await
        .expect("basic.get")
    {
        let delivery = message.delivery;
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string());
        let body = serde_json::from_slice(&delivery.data).unwrap_or(Value::Null);
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        out.push((id, body));
    }
    let _ = conn.close(200, "done").await;
    out
}

/// The AMQP URL of a stack's `rabbitmq` service from the host (guest account).
pub fn amqp_url(stack: &Stack) -> String {
    format!(
        "amqp://guest:guest@127.0.0.1:{}/%2f",
        stack
            .host_port("rabbitmq", 5672)
            .expect("a rabbitmq service")
    )
}

/// A connection and a channel to the broker at `amqp_url`, with `exchange` declared as its
/// owner declares it (a durable topic exchange).
async fn open(amqp_url: &str, exchange: Option<&str>) -> (lapin::Connection, lapin::Channel) {
    use lapin::{
        Connection, ConnectionProperties, ExchangeKind, options::ExchangeDeclareOptions,
        types::FieldTable,
    };
    let conn = Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("connecting to {amqp_url}: {e}"));
    let channel = conn.create_channel().await.expect("a channel");
    if let Some(exchange) = exchange {
        channel
            .exchange_declare(
                exchange,
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the exchange");
    }
    (conn, channel)
}
