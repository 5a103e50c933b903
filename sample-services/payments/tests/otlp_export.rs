//! The real payments binary exports its spans over OTLP/HTTP when, and only when,
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (service-kit's telemetry, the same in every service).
//!
//! A small OTLP/HTTP receiver listens on 127.0.0.1 and decodes what it is sent
//! (`opentelemetry-proto`); payments runs with the in-memory ledger and is asked for a
//! payment with a known `traceparent`, then stopped with SIGTERM (the last spans are
//! exported on the way out).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value,
    trace::v1::span::SpanKind,
};
use prost::Message;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const UNKNOWN_PAYMENT: &str = "5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10";

/// What the receiver was sent: one entry per POST (path, content type, decoded body).
type Received = Arc<Mutex<Vec<(String, String, ExportTraceServiceRequest)>>>;

/// An OTLP/HTTP receiver on 127.0.0.1; returns its base URL and what it receives.
async fn receiver() -> (String, Received) {
    async fn accept(
        State(received): State<Received>,
        uri: axum::http::Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        received
            .lock()
            .unwrap()
            .push((uri.path().to_owned(), content_type, request));
        ""
    }
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(accept))
        .route("/{*other}", post(accept))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// Payments on a port of its choosing, the in-memory ledger, and `env`; returns the child
/// and its base URL (read from its "listening" log line).
fn payments(env: &[(&str, String)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_payments"))
        .env_clear()
        .env("PAYMENTS_LEDGER", "memory")
        .env("PORT", "0")
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the payments binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent
                && let Ok(log) = serde_json::from_str::<serde_json::Value>(&line)
                && log["message"] == "listening"
                && let Some(addr) = log["addr"].as_str()
            {
                let port = addr.rsplit(':').next().unwrap().to_owned();
                let _ = tx.send(format!("http://127.0.0.1:{port}"));
                sent = true;
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => (child, url),
        Err(_) => {
            let _ = child.kill();
            panic!("payments did not log that it listens within 30 s");
        }
    }
}

/// Asks payments for an unknown payment (a 404) with the known `traceparent`.
async fn request_with_trace(base: &str) {
    let status = reqwest::Client::new()
        .get(format!("{base}/payments/{UNKNOWN_PAYMENT}"))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .send()
        .await
        .expect("payments answers")
        .status();
    assert_eq!(status, 404);
}

/// SIGTERM, then the exit status (payments drains and flushes its spans first).
fn stop(mut child: Child) -> std::process::ExitStatus {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("payments did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_endpoint_set_the_request_span_is_exported_in_the_callers_trace() {
    let (collector, received) = receiver().await;
    let (child, base) = payments(&[("OTEL_EXPORTER_OTLP_ENDPOINT", collector)]);
    request_with_trace(&base).await;
    let status = stop(child);
    assert!(status.success(), "payments exited with {status}");

    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "nothing was exported");
    let mut request_spans = Vec::new();
    for (path, content_type, export) in received.iter() {
        assert_eq!(path, "/v1/traces");
        assert_eq!(content_type, "application/x-protobuf");
        for resource in &export.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.clone());
            assert_eq!(
                service,
                Some(any_value::Value::StringValue("payments".to_owned()))
            );
            for scope in &resource.scope_spans {
                request_spans.extend(
                    scope
                        .spans
                        .iter()
                        .filter(|s| s.name == "GET /payments/{id}")
                        .cloned(),
                );
            }
        }
    }
    assert_eq!(request_spans.len(), 1, "{received:?}");
    let span = &request_spans[0];
    assert_eq!(hex(&span.trace_id), TRACE_ID, "the caller's trace");
    assert_eq!(
        hex(&span.parent_span_id),
        PARENT_ID,
        "the caller's span as the parent"
    );
    assert_eq!(span.kind, SpanKind::Server as i32);
    let status_code = span
        .attributes
        .iter()
        .find(|kv| kv.key == "http.response.status_code")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone());
    assert_eq!(status_code, Some(any_value::Value::IntValue(404)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_endpoint_nothing_is_sent() {
    let (collector, received) = receiver().await;
    // The traces endpoint alone does not turn the export on.
    let (child, base) = payments(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        format!("{collector}/v1/traces"),
    )]);
    request_with_trace(&base).await;
    let status = stop(child);
    assert!(status.success(), "payments exited with {status}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        received.lock().unwrap().is_empty(),
        "spans were exported without OTEL_EXPORTER_OTLP_ENDPOINT"
    );
}
