//! The cost of a whole response check (route match, status, headers, body parse and schema
//! validation) of an order, next to raw `jsonschema` (parse + validate the same body with a
//! validator of the same schema). Target: whole <= 1.25x raw.
//!
//! `cargo bench -p harness-openapi --bench check` prints criterion's figures for both, then
//! a ratio measured in the same run (rounds of each, interleaved, so drift hits both).

use std::{hint::black_box, time::Instant};

use criterion::{Criterion, Throughput};
use harness_openapi::Document;
use http::{HeaderMap, HeaderValue, Method, header};
use serde_json::{Value, json};

const ID: &str = "3f8a6a2e-4b8c-4d2e-9f1a-7c5b2d9e0a11";

fn setup() -> (Document, jsonschema::Validator, Vec<u8>, HeaderMap, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../contracts/openapi/orders.json");
    let doc = Document::from_path(&path).expect("orders.json");
    let mut raw_schema = json!({"$ref": "#/components/schemas/OrderView"});
    raw_schema["components"] = doc.root()["components"].clone();
    let raw = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&raw_schema)
        .expect("schema");
    let body = serde_json::to_vec(&json!({
        "id": ID,
        "customer_id": "customer-42",
        "items": [
            {"sku": "KB-001", "quantity": 2},
            {"sku": "MS-002", "quantity": 1},
            {"sku": "HD-003", "quantity": 4}
        ],
        "status": "CONFIRMED",
        "reservation_id": "5b1e0f3c-8d2a-4c6b-a7e9-0f1d2c3b4a59",
        "payment_id": "pay_7d3c2b1a",
        "total_cents": 15996,
        "reason": null,
        "created_at": "2026-11-30T12:00:00Z",
        "updated_at": "2026-11-30T12:00:01Z"
    }))
    .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-request-id", HeaderValue::from_static("b3c1"));
    (doc, raw, body, headers, format!("/orders/{ID}"))
}

fn raw_check(raw: &jsonschema::Validator, body: &[u8]) -> bool {
    let v: Value = serde_json::from_slice(body).expect("json");
    raw.is_valid(&v)
}

fn main() {
    let (doc, raw, body, headers, path) = setup();
    assert!(raw_check(&raw, &body), "the body is valid");
    doc.check_response(&Method::GET, &path, 200, &headers, &body)
        .expect("conforms");

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("order_response");
        g.throughput(Throughput::Elements(1));
        g.bench_function("raw_jsonschema_parse_validate", |b| {
            b.iter(|| raw_check(&raw, black_box(&body)))
        });
        g.bench_function("whole_check_response", |b| {
            b.iter(|| {
                doc.check_response(
                    &Method::GET,
                    black_box(&path),
                    200,
                    &headers,
                    black_box(&body),
                )
                .is_ok()
            })
        });
        g.finish();
    }
    c.final_summary();

    // The ratio, measured here: rounds alternate so both see the same machine.
    let (mut raw_ns, mut whole_ns) = (0u128, 0u128);
    let n = 20_000;
    for _ in 0..10 {
        let t = Instant::now();
        for _ in 0..n {
            black_box(raw_check(&raw, black_box(&body)));
        }
        raw_ns += t.elapsed().as_nanos();
        let t = Instant::now();
        for _ in 0..n {
            black_box(
                doc.check_response(
                    &Method::GET,
                    black_box(&path),
                    200,
                    &headers,
                    black_box(&body),
                )
                .is_ok(),
            );
        }
        whole_ns += t.elapsed().as_nanos();
    }
    let per = |ns: u128| ns as f64 / (10.0 * n as f64);
    println!(
        "raw: {:.0} ns ({:.2} M/s)  whole check: {:.0} ns ({:.2} M/s)  ratio whole/raw: {:.3}x (target <= 1.25x)",
        per(raw_ns),
        1e3 / per(raw_ns),
        per(whole_ns),
        1e3 / per(whole_ns),
        whole_ns as f64 / raw_ns as f64
    );
}
