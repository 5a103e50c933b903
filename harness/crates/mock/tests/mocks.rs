//! Mocks over real HTTP on 127.0.0.1: built from the sample system's checked-in contracts
//! (`contracts/openapi/payments.json`, `contracts/pacts/orders-payments.json`).

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use harness_mock::{Expectation, Fault, MockControl, OpenApiMock, PactMock, StubMock};
use harness_openapi::{Document, PropertyVerifier};
use serde_json::{Value, json};

fn contract(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .join(rel)
}

fn payments_doc() -> Arc<Document> {
    Arc::new(Document::from_path(contract("contracts/openapi/payments.json")).unwrap())
}

fn client() -> reqwest::Client {
    // A build that contains Pact turns on reqwest's rustls backend without a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn payment(amount: i64) -> Value {
    json!({"order_id": "5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10", "customer_id": "customer-42", "amount_cents": amount, "currency": "EUR"})
}

#[tokio::test]
async fn openapi_mock_answers_valid_requests_validly_and_rejects_invalid_ones() {
    let doc = payments_doc();
    let mock = OpenApiMock::new(doc.clone())
        .allow_rejected()
        .start()
        .await
        .unwrap();
    let http = client();

    let ok = http
        .post(format!("{}/payments", mock.uri()))
        .json(&payment(17800))
        .send()
        .await
        .unwrap();
    let status = ok.status().as_u16();
    let headers = ok.headers().clone();
    let body = ok.bytes().await.unwrap();
    assert!((200..300).contains(&status), "{status}");
    doc.check_response(&http::Method::POST, "/payments", status, &headers, &body)
        .expect("the answer conforms");
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        answer["order_id"], "5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10",
        "request fields echoed: {answer}"
    );

    let bad = http
        .post(format!("{}/payments", mock.uri()))
        .json(&json!({"order_id": "not-a-uuid", "customer_id": "c", "amount_cents": "ten", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.status().as_u16(),
        422,
        "the documented status for bad input"
    );
    let why = bad
        .headers()
        .get("x-harness-mock-mismatch")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        why.contains("create_payment") && why.contains("body"),
        "{why}"
    );
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["status"], 422, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("body"),
        "{problem}"
    );

    let missing = http
        .get(format!("{}/refunds", mock.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);

    let calls = mock.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].operation.as_deref(), Some("create_payment"));
    assert_eq!(calls[0].body.as_ref().unwrap()["amount_cents"], 17800);
    assert!(calls[1].rejected.is_some() && calls[2].rejected.is_some());
    assert!(mock.problems().is_empty(), "rejections are allowed here");
}

#[tokio::test]
async fn every_answer_to_hundreds_of_generated_requests_conforms() {
    let doc = payments_doc();
    let mock = OpenApiMock::new(doc.clone())
        .seed(11)
        .allow_rejected()
        .start()
        .await
        .unwrap();
    // The property-based verifier sends the document's examples, generated valid requests,
    // generated invalid ones, and checks every answer against the document.
    // A mock keeps nothing: the stateful phase (create, then fetch the same) is not for it.
    let report = PropertyVerifier::new(doc, "payments", &mock.uri())
        .unwrap()
        .max_examples(100)
        .seed(5)
        .stateful(false)
        .verify()
        .await
        .unwrap();
    let failures: Vec<String> = report.failures().map(|f| format!("{f:?}")).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    let calls = mock.calls();
    assert!(calls.len() >= 300, "only {} requests", calls.len());
    let violations: Vec<&String> = calls.iter().flat_map(|c| &c.violations).collect();
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        calls.iter().any(|c| c.rejected.is_some()) && calls.iter().any(|c| c.rejected.is_none()),
        "both accepted and rejected requests were sent"
    );
}

#[tokio::test]
async fn a_planted_mismatch_is_caught() {
    let doc = payments_doc();
    let mock = OpenApiMock::new(doc)
        .start()
        .await
        .unwrap()
        .no_verify_on_drop();
    // An undocumented status and a retyped field.
    let mut planted = payment(17800);
    planted["amount_cents"] = json!("17800");
    mock.answer("create_payment", 299, Some(planted));
    let r = client()
        .post(format!("{}/payments", mock.uri()))
        .json(&payment(17800))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 299, "the override is served");
    let problems = mock.verify().unwrap_err().problems;
    assert!(
        problems.iter().any(|p| p.contains("299")),
        "undocumented status: {problems:#?}"
    );
    mock.clear_answers();
    mock.clear_calls();
    let mut retyped = client()
        .get(format!(
            "{}/payments/5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10",
            mock.uri()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(retyped.status().as_u16(), 200);
    let mut view: Value = retyped.json().await.unwrap();
    view["amount_cents"] = json!("a lot");
    mock.answer("get_payment", 200, Some(view));
    retyped = client()
        .get(format!(
            "{}/payments/5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10",
            mock.uri()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(retyped.status().as_u16(), 200);
    let problems = mock.verify().unwrap_err().problems;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("/amount_cents") && p.contains("get_payment")),
        "retyped field: {problems:#?}"
    );
}

#[tokio::test]
#[should_panic(expected = "expected exactly 2 calls, received 1")]
async fn unmet_expectations_fail_the_test_when_the_mock_drops() {
    let mock = OpenApiMock::new(payments_doc()).start().await.unwrap();
    mock.expect(Expectation::exactly("create_payment", 2));
    client()
        .post(format!("{}/payments", mock.uri()))
        .json(&payment(100))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
#[should_panic(expected = "not accepted by the contract")]
async fn rejected_requests_fail_the_test_unless_allowed() {
    let mock = OpenApiMock::new(payments_doc()).start().await.unwrap();
    client()
        .post(format!("{}/payments", mock.uri()))
        .json(&json!({"amount_cents": 1}))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn latency_fault_delays_the_answer() {
    let mock = OpenApiMock::new(payments_doc()).start().await.unwrap();
    mock.fault(Fault::latency(Duration::from_millis(400)).first(1));
    let http = client();
    let url = format!("{}/payments", mock.uri());
    let t = Instant::now();
    let r = http.post(&url).json(&payment(1)).send().await.unwrap();
    assert!(r.status().is_success());
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    // A client timeout shorter than the latency gives up.
    mock.fault(Fault::latency(Duration::from_secs(3)).on("create_payment"));
    let err = http
        .post(&url)
        .timeout(Duration::from_millis(200))
        .json(&payment(1))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn status_fault_for_the_first_requests_then_recovery() {
    let mock = OpenApiMock::new(payments_doc()).start().await.unwrap();
    mock.fault(Fault::status(503).first(2).on("create_payment"));
    let http = client();
    let url = format!("{}/payments", mock.uri());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            http.post(&url)
                .json(&payment(5))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..2], &[503, 503]);
    assert!(
        statuses[2..].iter().all(|s| (200..300).contains(s)),
        "{statuses:?}"
    );
    // Another operation is not affected.
    let got = http
        .get(format!("{url}/5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(
        mock.calls().iter().filter(|c| !c.faults.is_empty()).count(),
        2
    );
}

#[tokio::test]
async fn dropped_connection_fault() {
    let mock = OpenApiMock::new(payments_doc()).start().await.unwrap();
    mock.fault(Fault::drop_connection().first(1));
    let http = client();
    let url = format!("{}/payments", mock.uri());
    let err = http.post(&url).json(&payment(5)).send().await.unwrap_err();
    let chain = format!("{err:?}");
    assert!(
        err.is_request() && !err.is_timeout() && chain.contains("IncompleteMessage"),
        "the connection closed without an answer: {chain}"
    );
    let ok = http.post(&url).json(&payment(5)).send().await.unwrap();
    assert!(ok.status().is_success());
    let calls = mock.calls();
    assert_eq!(calls[0].status, None, "no answer for the dropped one");
    assert!(calls[1].status.is_some());
}

#[tokio::test]
async fn fraction_and_window_faults() {
    let mock = OpenApiMock::new(payments_doc()).start().await.unwrap();
    let http = client();
    let url = format!(
        "{}/payments/5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10",
        mock.uri()
    );
    let id = mock.fault(Fault::status(500).fraction(0.5, 3));
    let mut failed = 0;
    for _ in 0..200 {
        if http.get(&url).send().await.unwrap().status().as_u16() == 500 {
            failed += 1;
        }
    }
    assert!((70..=130).contains(&failed), "{failed} of 200");
    assert!(mock.remove_fault(id));

    mock.fault(Fault::status(502).for_duration(Duration::from_millis(300)));
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 502);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn the_control_api_drives_a_mock_over_http() {
    let mock = OpenApiMock::new(payments_doc()).start().await.unwrap();
    let control = MockControl::new(&mock.uri());
    control.wait_ready(Duration::from_secs(5)).await.unwrap();
    let id = control
        .fault(&Fault::status(503).on("create_payment"))
        .await
        .unwrap();
    let http = client();
    let url = format!("{}/payments", mock.uri());
    assert_eq!(
        http.post(&url)
            .json(&payment(1))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    control.remove_fault(id).await.unwrap();
    assert!(
        http.post(&url)
            .json(&payment(1))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let calls = control.calls_to("create_payment").await.unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].body.as_ref().unwrap()["amount_cents"], 1);
    assert!(
        control.fault(&Fault::status(42)).await.is_err(),
        "unusable fault refused"
    );
    control
        .answer("create_payment", 299, Some(json!({})))
        .await
        .unwrap();
    http.post(&url).json(&payment(1)).send().await.unwrap();
    let problems = control.problems().await.unwrap();
    assert!(problems.iter().any(|p| p.contains("299")), "{problems:?}");
    control.reset().await.unwrap();
    assert!(control.calls().await.unwrap().is_empty());
    control.verify().await.unwrap();
}

/// The requests of a pact's HTTP interactions, rebuilt from the file.
fn pact_requests(path: &PathBuf) -> Vec<(String, reqwest::Method, String, Option<Value>, u16)> {
    let pact: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    pact["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "Synchronous/HTTP")
        .map(|i| {
            let req = &i["request"];
            (
                i["description"].as_str().unwrap().to_owned(),
                req["method"].as_str().unwrap().parse().unwrap(),
                req["path"].as_str().unwrap().to_owned(),
                req.pointer("/body/content").cloned(),
                i["response"]["status"].as_u64().unwrap() as u16,
            )
        })
        .collect()
}

#[tokio::test]
async fn pact_mock_answers_the_consumers_interactions() {
    let path = contract("contracts/pacts/orders-payments.json");
    let mock = PactMock::from_path(&path).unwrap().start().await.unwrap();
    let http = client();
    let requests = pact_requests(&path);
    assert!(requests.len() >= 4);
    let mut answered = 0;
    for (description, method, p, body, status) in &requests {
        let mut r = http.request(method.clone(), format!("{}{p}", mock.uri()));
        if let Some(b) = body {
            r = r.json(b);
        }
        let got = r.send().await.unwrap();
        // Interactions whose requests are alike (only provider states differ) answer as
        // the first of them; each request is answered as one of the interactions.
        let alike: Vec<u16> = requests
            .iter()
            .filter(|(_, m, q, _, _)| m == method && q == p)
            .map(|(.., s)| *s)
            .collect();
        assert!(
            alike.contains(&got.status().as_u16()),
            "{description}: {} not in {alike:?}",
            got.status()
        );
        if got.status().as_u16() == *status {
            answered += 1;
        }
    }
    // The pact's bodies are exact values: each request is answered by its own interaction.
    assert_eq!(answered, requests.len());
    let calls = mock.calls();
    for ((description, ..), call) in requests.iter().zip(&calls) {
        assert_eq!(
            call.operation.as_deref(),
            Some(description.as_str()),
            "the interaction that answered"
        );
    }
    mock.verify().unwrap();
}

#[tokio::test]
async fn pact_mock_reports_an_unmatched_request() {
    let path = contract("contracts/pacts/orders-payments.json");
    let mock = PactMock::from_path(&path)
        .unwrap()
        .start()
        .await
        .unwrap()
        .no_verify_on_drop();
    let http = client();
    let r = http
        .delete(format!("{}/payments/1", mock.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let wrong_body = http
        .post(format!("{}/payments", mock.uri()))
        .json(&json!({"amount": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_body.status().as_u16(), 400);
    let detail: Value = wrong_body.json().await.unwrap();
    assert!(
        !detail["mismatches"].as_array().unwrap().is_empty(),
        "{detail}"
    );
    let problems = mock.verify().unwrap_err().problems;
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("DELETE /payments/1"), "{problems:#?}");
}

#[tokio::test]
async fn stub_mocks_in_code() {
    let mock = StubMock::new()
        .route(
            http::Method::GET,
            "/stock/{sku}",
            200,
            Some(json!({"available": 3})),
        )
        .start()
        .await
        .unwrap()
        .no_verify_on_drop();
    mock.expect(Expectation::at_least("GET /stock/{sku}", 1));
    let http = client();
    let r: Value = http
        .get(format!("{}/stock/KB-1", mock.uri()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["available"], 3);
    assert_eq!(
        http.get(format!("{}/nope", mock.uri()))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let problems = mock.problems();
    assert_eq!(problems.len(), 1, "the unrouted call: {problems:?}");
}

#[tokio::test]
async fn an_override_never_hides_a_bad_request() {
    let mock = OpenApiMock::new(payments_doc())
        .start()
        .await
        .unwrap()
        .no_verify_on_drop();
    mock.answer("create_payment", 201, Some(json!({})));
    let r = client()
        .post(format!("{}/payments", mock.uri()))
        .json(&json!({"amount_cents": "ten"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422, "rejected, override or not");
    let problems = mock.verify().unwrap_err().problems;
    assert!(problems[0].contains("not accepted"), "{problems:?}");
}

#[tokio::test]
async fn unknown_operations_and_bad_overrides_are_refused() {
    let mock = OpenApiMock::new(payments_doc()).start().await.unwrap();
    let control = MockControl::new(&mock.uri());
    let e = control
        .fault(&Fault::status(503).on("create_paymnet"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("create_paymnet")
            && e.contains("create_payment, void_order_payment, get_payment, void_payment"),
        "{e}"
    );
    let e = control
        .answer("create_payment", 42, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("42"), "{e}");
    let e = control
        .expect(&Expectation::exactly("nope", 1))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mock.answer("nope", 200, None)
    }));
    assert!(panicked.is_err());
}

#[tokio::test]
async fn faults_combine() {
    let mock = OpenApiMock::new(payments_doc()).start().await.unwrap();
    mock.fault(Fault::latency(Duration::from_millis(300)));
    mock.fault(Fault::status(503).first(1));
    let http = client();
    let url = format!(
        "{}/payments/5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10",
        mock.uri()
    );
    let t = Instant::now();
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        503,
        "the status fault applies"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "and so does the latency"
    );
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(mock.calls()[0].faults.len(), 2);
}
