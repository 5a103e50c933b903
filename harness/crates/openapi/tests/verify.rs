//! The OpenAPI crate against a stand-in service: documents load (or fail with their file
//! and pointer), responses are checked, the recording client counts coverage, and the
//! property verifier passes a conforming service and fails, shrunk and named, on each
//! planted fault.

mod standin;

use std::time::Duration;

use harness_openapi::{
    Check, Document, PropertyVerifier, RecordingClient, Rule, SpecVersion, VerifyReport,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use serde_json::{Value, json};
use standin::Knobs;

/// A reqwest client; in the workspace's build Pact turns on reqwest's rustls without a
/// crypto provider, so one is installed first (as a user's test in such a build does).
fn reqwest_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn doc(v: Value) -> Document {
    Document::from_value(v, "items.json").unwrap()
}

async fn verify(doc: Document, url: &str, seed: u64) -> VerifyReport {
    PropertyVerifier::new(doc, "items", url)
        .unwrap()
        .max_examples(60)
        .seed(seed)
        .verify()
        .await
        .unwrap()
}

/// The protected document, with the credentials the guarded stand-in takes.
async fn verify_protected(url: &str) -> VerifyReport {
    PropertyVerifier::new(doc(standin::protected_document()), "items", url)
        .unwrap()
        .max_examples(10)
        .credential(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer good"),
        )
        .verify()
        .await
        .unwrap()
}

/// The plain document as two owners (alice first): the stateful phase's cross-identity
/// checks.
async fn verify_owned(knobs: Knobs, seed: u64) -> VerifyReport {
    let s = standin::start(knobs).await;
    let owner = |name: &'static str| {
        vec![(
            HeaderName::from_static("x-owner"),
            HeaderValue::from_static(name),
        )]
    };
    PropertyVerifier::new(doc(standin::document()), "items", &s.url)
        .unwrap()
        .max_examples(30)
        .seed(seed)
        .identity("alice", owner("alice"))
        .identity("bob", owner("bob"))
        .verify()
        .await
        .unwrap()
}

fn failures_of(report: &VerifyReport, check: Check) -> Vec<&harness_openapi::CheckFailure> {
    report.failures().filter(|f| f.check == check).collect()
}

fn explain(report: &VerifyReport) -> String {
    report
        .failures()
        .map(|f| {
            format!(
                "{} {} [{}]: {}\n  {}",
                f.operation, f.check, f.phase, f.reason, f.curl
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_conforming_service_passes_every_check() {
    let s = standin::start(Knobs::default()).await;
    let report = verify(doc(standin::document()), &s.url, 7).await;
    assert!(report.passed(), "{}", explain(&report));
    let create = report
        .operations
        .iter()
        .find(|o| o.operation == "create_item")
        .unwrap();
    assert_eq!(
        create.requests.examples, 1,
        "the body's examples make one request"
    );
    assert!(
        create.requests.valid >= 60 && create.requests.invalid >= 30,
        "{:?}",
        create.requests
    );
    assert!(
        create.statuses_seen.contains(&"201".to_owned()),
        "{create:?}"
    );
    assert!(
        create.statuses_seen.contains(&"422".to_owned()),
        "invalid bodies get 422: {create:?}"
    );
    assert!(
        create.statuses_seen.contains(&"415".to_owned()),
        "text/plain gets 415: {create:?}"
    );
    let log = s.log().join("\n");
    assert!(
        log.contains(r#"POST /items {"name":"keyboard","quantity":2}"#),
        "the example was sent:\n{log}"
    );
}

#[tokio::test]
async fn a_500_to_one_input_fails_shrunk_to_the_smallest_request_with_a_curl_line() {
    let s = standin::start(Knobs {
        fail_from_quantity: Some(50),
        ..Knobs::default()
    })
    .await;
    let report = verify(doc(standin::document()), &s.url, 11).await;
    assert!(!report.passed());
    let failures: Vec<_> = report
        .failures()
        .filter(|f| f.operation == "create_item")
        .collect();
    let f = failures
        .iter()
        .find(|f| f.phase == "valid")
        .expect("the valid phase finds it");
    assert_eq!(f.check, Check::NoServerError, "{}", explain(&report));
    let body: Value = serde_json::from_str(f.request.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["quantity"], 50, "shrunk to the boundary: {body}");
    assert_eq!(
        body.get("tags"),
        None,
        "optional fields shrink away: {body}"
    );
    assert_eq!(
        body["name"].as_str().unwrap().chars().count(),
        1,
        "the name shrinks to one character: {body}"
    );
    assert!(f.curl.starts_with("curl -sS -i -X POST '"), "{}", f.curl);
    assert!(f.curl.contains(r#""quantity":50"#), "{}", f.curl);
    assert_eq!(f.seed, 11);
    assert!(f.response.as_ref().is_some_and(|r| r.status == 500));
    // Other operations are unaffected.
    assert!(
        report
            .operations
            .iter()
            .filter(|o| o.operation != "create_item")
            .all(|o| o.passed()),
        "{}",
        explain(&report)
    );
}

#[tokio::test]
async fn the_same_seed_sends_the_same_requests() {
    let a = standin::start(Knobs::default()).await;
    let b = standin::start(Knobs::default()).await;
    verify(doc(standin::document()), &a.url, 99).await;
    verify(doc(standin::document()), &b.url, 99).await;
    // Item ids are random per service (and the stateful phase sends the ones it is
    // given), so compare what the verifier chose to send, the services' ids masked.
    let strip = |log: Vec<String>| -> Vec<String> {
        log.into_iter()
            .filter(|l| !l.starts_with("GET /items/"))
            .map(|l| {
                l.split('/')
                    .map(|seg| match uuid::Uuid::parse_str(seg) {
                        Ok(u) if u.get_version_num() == 4 => "<id>",
                        _ => seg,
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect()
    };
    assert_eq!(strip(a.log()), strip(b.log()));
    let c = standin::start(Knobs::default()).await;
    verify(doc(standin::document()), &c.url, 100).await;
    assert_ne!(
        strip(a.log()),
        strip(c.log()),
        "another seed sends other requests"
    );
}

#[tokio::test]
async fn a_retyped_field_in_the_document_fails_the_body_check_naming_operation_and_pointer() {
    let s = standin::start(Knobs::default()).await;
    let mut planted = standin::document();
    planted["components"]["schemas"]["Item"]["properties"]["quantity"] = json!({"type": "string"});
    let report = verify(doc(planted), &s.url, 3).await;
    let f = report
        .failures()
        .find(|f| f.operation == "create_item" && f.check == Check::BodyConforms)
        .unwrap_or_else(|| panic!("{}", explain(&report)));
    assert!(f.reason.starts_with("201: /quantity: "), "{}", f.reason);
    assert!(f.reason.contains("schema `type`"), "{}", f.reason);
}

#[tokio::test]
async fn a_removed_status_fails_the_status_check() {
    let s = standin::start(Knobs::default()).await;
    let mut planted = standin::document();
    planted["paths"]["/items/{id}"]["get"]["responses"]
        .as_object_mut()
        .unwrap()
        .remove("404");
    let report = verify(doc(planted), &s.url, 5).await;
    let f = report
        .failures()
        .find(|f| f.operation == "get_item" && f.check == Check::StatusDocumented)
        .unwrap_or_else(|| panic!("{}", explain(&report)));
    assert!(
        f.reason
            .starts_with("404: GET /items/{id} documents 200, 400"),
        "{}",
        f.reason
    );
}

#[tokio::test]
async fn invalid_input_that_is_accepted_fails_the_rejection_check() {
    let s = standin::start(Knobs {
        ignore_max_length: true,
        ..Knobs::default()
    })
    .await;
    let report = verify(doc(standin::document()), &s.url, 8).await;
    let f = report
        .failures()
        .find(|f| f.check == Check::InvalidRejected)
        .unwrap_or_else(|| panic!("{}", explain(&report)));
    assert_eq!(f.operation, "create_item");
    assert!(
        f.reason.contains("of 21 characters (maxLength 20)"),
        "{}",
        f.reason
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out_not_reported() {
    let s = standin::start(Knobs {
        rate_limit: true,
        ..Knobs::default()
    })
    .await;
    let report = PropertyVerifier::new(doc(standin::document()), "items", &s.url)
        .unwrap()
        .max_examples(5)
        .seed(1)
        .verify()
        .await
        .unwrap();
    assert!(report.passed(), "{}", explain(&report));
    let retried: u32 = report
        .operations
        .iter()
        .map(|o| o.requests.rate_limited)
        .sum();
    assert!(retried >= 3, "every third request got a 429: {retried}");
}

#[tokio::test]
async fn a_protected_operation_that_answers_without_credentials_fails() {
    // The service checks credentials: the verifier's credential-less request gets a 401.
    let guarded = standin::start(Knobs {
        check_auth: true,
        ..Knobs::default()
    })
    .await;
    let report = verify_protected(&guarded.url).await;
    assert!(report.passed(), "{}", explain(&report));
    assert!(
        report
            .operations
            .iter()
            .all(|o| o.requests.unauthenticated == 2),
        "one request without credentials and one with a malformed token per operation"
    );

    // The same document, a service that checks nothing.
    let open = standin::start(Knobs::default()).await;
    let report = verify_protected(&open.url).await;
    let f = report
        .failures()
        .find(|f| f.check == Check::AuthRequired)
        .unwrap_or_else(|| panic!("{}", explain(&report)));
    assert!(
        !f.request.headers.iter().any(|(n, _)| n == "authorization"),
        "{:?}",
        f.request
    );
    assert!(f.reason.contains("without credentials"), "{}", f.reason);
}

#[tokio::test]
async fn an_unreachable_service_is_reported_not_hung() {
    let report = PropertyVerifier::new(doc(standin::document()), "items", "http://127.0.0.1:9")
        .unwrap()
        .max_examples(3)
        .request_timeout(Duration::from_secs(2))
        .verify()
        .await
        .unwrap();
    assert!(report.failures().all(|f| f.check == Check::Reachable));
    assert!(report.failures().count() >= 3);
}

#[test]
fn check_response_names_operation_status_pointer_and_rule() {
    let d = doc(standin::document());
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let good = br#"{"id":"6f1c3a8e-2b4d-4e5f-9a0b-1c2d3e4f5a6b","name":"k","quantity":1}"#;
    let id = "/items/6f1c3a8e-2b4d-4e5f-9a0b-1c2d3e4f5a6b";
    assert_eq!(
        d.check_response(&Method::GET, id, 200, &h, good)
            .unwrap()
            .id,
        "get_item"
    );

    let bad = br#"{"id":"not-a-uuid","name":"k","quantity":"1"}"#;
    let err = d
        .check_response(&Method::GET, id, 200, &h, bad)
        .unwrap_err();
    let rules: Vec<_> = err
        .violations
        .iter()
        .map(|v| (v.pointer.as_str(), v.rule.clone()))
        .collect();
    assert!(
        rules.contains(&(
            "/id",
            Rule::Schema {
                keyword: "format".into()
            }
        )),
        "{rules:?}"
    );
    assert!(
        rules.contains(&(
            "/quantity",
            Rule::Schema {
                keyword: "type".into()
            }
        )),
        "{rules:?}"
    );
    assert!(
        err.violations
            .iter()
            .all(|v| v.operation == "get_item" && v.status == 200)
    );

    let err = d
        .check_response(&Method::GET, id, 418, &h, b"")
        .unwrap_err();
    assert_eq!(err.violations[0].rule, Rule::UndocumentedStatus);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    let err = d
        .check_response(&Method::GET, id, 200, &h, b"<p>")
        .unwrap_err();
    assert_eq!(err.violations[0].rule, Rule::UndocumentedContentType);
    let err = d
        .check_response(&Method::PUT, id, 200, &h, b"")
        .unwrap_err();
    assert_eq!(err.violations[0].rule, Rule::UnknownMethod);
    let err = d
        .check_response(&Method::GET, "/nothing", 200, &h, b"")
        .unwrap_err();
    assert_eq!(err.violations[0].rule, Rule::UnknownPath);
    assert!(
        err.to_string()
            .contains("GET /nothing -> 200: path not documented"),
        "{err}"
    );
}

#[tokio::test]
async fn the_recording_client_checks_responses_and_counts_coverage() {
    let s = standin::start(Knobs::default()).await;
    let client = RecordingClient::new(reqwest_client(), doc(standin::document()));
    let created = client
        .send(
            client
                .post(format!("{}/items", s.url))
                .json(&json!({"name": "pen", "quantity": 3})),
        )
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let item: Value = created.json().await.unwrap();
    assert_eq!(item["name"], "pen", "the body is handed back intact");
    client
        .send(client.get(format!("{}/items/{}", s.url, item["id"].as_str().unwrap())))
        .await
        .unwrap();
    client
        .send(client.get(format!("{}/items/{}", s.url, uuid::Uuid::new_v4())))
        .await
        .unwrap();
    let coverage = client.coverage();
    let get = coverage
        .operations
        .iter()
        .find(|o| o.operation == "get_item")
        .unwrap();
    assert_eq!(
        (
            get.calls,
            get.statuses_seen.clone(),
            get.statuses_unseen.clone()
        ),
        (2, vec!["200".into(), "404".into()], vec!["400".into()])
    );
    assert_eq!(
        coverage
            .never_called()
            .map(|o| o.operation.as_str())
            .collect::<Vec<_>>(),
        ["list_items", "delete_item"]
    );
    assert_eq!(coverage.statuses(), (3, 12));
    assert!(
        coverage
            .to_string()
            .starts_with("2/4 operations called, 3/12 documented statuses seen"),
        "{coverage}"
    );
    client.assert_conformant();

    // A document that disagrees: strict mode fails the request, lenient mode keeps going.
    let mut planted = standin::document();
    planted["components"]["schemas"]["Item"]["properties"]["name"] = json!({"type": "integer"});
    let strict = RecordingClient::new(reqwest_client(), doc(planted.clone()));
    let err = strict
        .send(
            strict
                .post(format!("{}/items", s.url))
                .json(&json!({"name": "pen", "quantity": 3})),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("create_item -> 201: schema `type` at /name"),
        "{err}"
    );
    let lenient = RecordingClient::new(reqwest_client(), doc(planted)).lenient();
    let r = lenient
        .send(
            lenient
                .post(format!("{}/items", s.url))
                .json(&json!({"name": "pen", "quantity": 3})),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(lenient.violations().len(), 1);
}

#[test]
fn bad_documents_name_the_file_and_pointer() {
    let mut d = standin::document();
    d["paths"]["/items"]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/Missing"});
    let e = Document::from_value(d, "items.json").unwrap_err();
    assert_eq!(e.origin, "items.json");
    assert_eq!(
        e.pointer,
        "/paths/~1items/post/requestBody/content/application~1json/schema"
    );
    assert!(e.message.contains("points to nothing"), "{e}");

    let mut d = standin::document();
    d["paths"]["/items"]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        json!({"$ref": "https://example.com/schema.json"});
    let e = Document::from_value(d, "items.json").unwrap_err();
    assert!(e.message.contains("nothing is fetched"), "{e}");

    let mut d = standin::document();
    d["paths"]["/items/{id}"]["get"]["parameters"] = json!([]);
    let e = Document::from_value(d, "items.json").unwrap_err();
    assert!(e.message.contains("path parameter {id}"), "{e}");

    // 3.1: the OpenAPI Initiative's schema of documents, with the pointer of the value.
    let mut d = standin::document();
    d["paths"]["/items"]["get"]["responses"]["200"]["description"] = json!(5);
    let e = Document::from_value(d, "items.json").unwrap_err();
    assert_eq!(
        e.pointer, "/paths/~1items/get/responses/200/description",
        "{e}"
    );
    assert!(
        e.message.contains("not a valid OpenAPI 3.1 document"),
        "{e}"
    );

    let mut d = standin::document();
    d["openapi"] = json!("2.0");
    assert_eq!(
        Document::from_value(d, "x").unwrap_err().pointer,
        "/openapi"
    );

    // 3.0: the structural check of openapiv3, with the pointer of the rejected value.
    let e = Document::from_value(
        json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {"responses": {"200": {"description": 5}}}}}}),
        "old.json",
    )
    .unwrap_err();
    // openapiv3 reads responses through a map of its own: its error stops at the map.
    assert_eq!(e.pointer, "/paths/~1a/get/responses", "{e}");
    assert!(e.message.contains("expected a string"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{\n  \"openapi\": \"3.1.0\",\n  oops\n}").unwrap();
    let e = Document::from_path(&path).unwrap_err();
    assert!(
        e.to_string().contains("broken.json") && e.message.contains("line 3"),
        "{e}"
    );
}

#[test]
fn openapi_3_0_nullable_is_understood() {
    let d = Document::from_value(
        json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {"responses": {"200": {"description": "ok",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}}},
            "components": {"schemas": {"A": {"type": "object", "required": ["n"],
                "properties": {"n": {"type": "integer", "nullable": true, "minimum": 0, "exclusiveMinimum": true}}}}}}),
        "old.json",
    )
    .unwrap();
    assert_eq!(d.version(), SpecVersion::V30);
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    assert!(
        d.check_response(&Method::GET, "/a", 200, &h, br#"{"n": null}"#)
            .is_ok()
    );
    assert!(
        d.check_response(&Method::GET, "/a", 200, &h, br#"{"n": 1}"#)
            .is_ok()
    );
    let e = d
        .check_response(&Method::GET, "/a", 200, &h, br#"{"n": 0}"#)
        .unwrap_err();
    assert_eq!(
        e.violations[0].rule,
        Rule::Schema {
            keyword: "exclusiveMinimum".into()
        }
    );
}

#[test]
fn the_sample_documents_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../contracts/openapi");
    for service in ["gateway", "orders", "payments", "inventory", "shipping"] {
        let d = Document::from_path(harness_openapi::document_path(&dir, service)).unwrap();
        assert!(!d.operations().is_empty(), "{service}");
        assert_eq!(d.version(), SpecVersion::V31);
    }
}

#[tokio::test]
async fn two_owners_of_a_conforming_service_pass_with_links_followed_and_every_operation_succeeding()
 {
    let report = verify_owned(Knobs::default(), 3).await;
    assert!(report.passed(), "{}", explain(&report));
    for o in &report.operations {
        assert!(
            o.statuses_seen.iter().any(|s| s.starts_with('2')),
            "{} saw no 2xx: {:?}",
            o.operation,
            o.statuses_seen
        );
        assert!(
            o.requests.coverage > 0 || o.operation == "delete_item",
            "{o:?}"
        );
    }
    let create = report
        .operations
        .iter()
        .find(|o| o.operation == "create_item")
        .unwrap();
    let targets: Vec<(&str, &str)> = create
        .links
        .iter()
        .map(|l| (l.to.as_str(), l.via.as_str()))
        .collect();
    // The document gives no Location header: the answer's `id` is the link.
    assert!(targets.contains(&("get_item", "body /id")), "{targets:?}");
    assert!(
        targets.contains(&("delete_item", "body /id")),
        "{targets:?}"
    );
    assert!(
        create.links.iter().all(|l| l.chains >= 3),
        "{:?}",
        create.links
    );
}

#[tokio::test]
async fn another_owner_reading_an_item_fails_cross_identity_access_with_the_chain() {
    let report = verify_owned(
        Knobs {
            any_owner_reads: true,
            ..Knobs::default()
        },
        3,
    )
    .await;
    let found = failures_of(&report, Check::CrossIdentityAccess);
    assert!(!found.is_empty(), "{}", explain(&report));
    let f = found[0];
    assert_eq!(f.phase, "stateful");
    assert!(
        f.reason.contains("bob read the resource alice created"),
        "{}",
        f.reason
    );
    // The chain: alice creates, alice fetches, bob fetches; no step after the failing one.
    assert!(f.curl.contains("# 1. create as alice"), "{}", f.curl);
    assert!(f.curl.contains("# 3. fetch it as bob"), "{}", f.curl);
    assert!(!f.curl.contains("# 4."), "{}", f.curl);
    assert!(f.curl.contains("$HARNESS_CREDENTIAL_BOB"), "{}", f.curl);
}

#[tokio::test]
async fn an_owner_taken_from_the_body_fails_the_created_resource_check() {
    let report = verify_owned(
        Knobs {
            owner_from_body: true,
            ..Knobs::default()
        },
        3,
    )
    .await;
    let found: Vec<_> = report
        .failures()
        .filter(|f| {
            matches!(
                f.check,
                Check::CreatedFetchable | Check::CrossIdentityAccess
            )
        })
        .collect();
    assert!(!found.is_empty(), "{}", explain(&report));
    assert!(
        found[0].reason.contains("bob's owner"),
        "{}",
        found[0].reason
    );
}

#[tokio::test]
async fn a_delete_that_keeps_the_item_fails_deleted_gone() {
    let report = verify_owned(
        Knobs {
            delete_keeps: true,
            ..Knobs::default()
        },
        3,
    )
    .await;
    let found = failures_of(&report, Check::DeletedGone);
    assert!(!found.is_empty(), "{}", explain(&report));
    assert!(
        found[0].reason.contains("still there"),
        "{}",
        found[0].reason
    );
}

#[tokio::test]
async fn a_422_to_valid_input_is_a_finding_unless_it_is_a_business_rule() {
    let knobs = Knobs {
        no_z_names: true,
        ..Knobs::default()
    };
    let s = standin::start(knobs.clone()).await;
    let report = verify(doc(standin::document()), &s.url, 5).await;
    let found = failures_of(&report, Check::ValidAccepted);
    assert!(!found.is_empty(), "{}", explain(&report));
    assert!(found[0].reason.contains("422"), "{}", found[0].reason);
    assert!(
        found[0].reason.contains("no names with z"),
        "{}",
        found[0].reason
    );

    let s = standin::start(knobs).await;
    let report = PropertyVerifier::new(doc(standin::document()), "items", &s.url)
        .unwrap()
        .max_examples(60)
        .seed(5)
        .business_rule(harness_openapi::BusinessRule {
            operation: "create_item".into(),
            status: 422,
            body_contains: Some("no names with z".into()),
        })
        .verify()
        .await
        .unwrap();
    assert!(report.passed(), "{}", explain(&report));
}

#[tokio::test]
async fn bad_credentials_accepted_fail_naming_each() {
    let s = standin::start(Knobs {
        check_auth: true,
        accept_any_bearer: true,
        ..Knobs::default()
    })
    .await;
    let report = PropertyVerifier::new(doc(standin::protected_document()), "items", &s.url)
        .unwrap()
        .max_examples(10)
        .credential(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer good"),
        )
        .bad_credential(harness_openapi::Credential {
            name: "expired".into(),
            headers: vec![(
                header::AUTHORIZATION,
                HeaderValue::from_static("Bearer old"),
            )],
            scopes: None,
        })
        .verify()
        .await
        .unwrap();
    let found = failures_of(&report, Check::BadCredentialsRefused);
    assert!(!found.is_empty(), "{}", explain(&report));
    let reasons: String = found.iter().map(|f| f.reason.as_str()).collect();
    // Both kinds of bad credentials are one kind of failure per operation (same check and
    // status): the first one tried, the malformed token, is the one shown, and both counted.
    assert!(reasons.contains("malformed credentials"), "{reasons}");
    assert!(found.iter().all(|f| f.count == 2), "{found:?}");
}

#[tokio::test]
async fn every_distinct_failure_is_kept_with_a_count() {
    let s = standin::start(Knobs {
        fail_from_quantity: Some(50),
        ignore_max_length: true,
        ..Knobs::default()
    })
    .await;
    let report = verify(doc(standin::document()), &s.url, 11).await;
    let create: Vec<_> = report
        .failures()
        .filter(|f| f.operation == "create_item")
        .collect();
    let checks: Vec<Check> = create.iter().map(|f| f.check).collect();
    assert!(
        checks.contains(&Check::NoServerError),
        "{}",
        explain(&report)
    );
    assert!(
        checks.contains(&Check::InvalidRejected),
        "{}",
        explain(&report)
    );
    let keys: std::collections::HashSet<_> = create.iter().map(|f| f.key()).collect();
    assert_eq!(
        keys.len(),
        create.len(),
        "one failure per kind: {}",
        explain(&report)
    );
    assert!(create.iter().any(|f| f.count > 1), "{}", explain(&report));
}

#[tokio::test]
async fn the_coverage_phase_is_the_same_whatever_the_seed_and_reaches_each_boundary() {
    let mut logs = Vec::new();
    for seed in [1, 2] {
        let s = standin::start(Knobs::default()).await;
        let report = PropertyVerifier::new(doc(standin::document()), "items", &s.url)
            .unwrap()
            .max_examples(1)
            .seed(seed)
            .operations(["create_item"])
            .verify()
            .await
            .unwrap();
        let coverage = report.operations[0].requests.coverage as usize;
        let examples = report.operations[0].requests.examples as usize;
        logs.push(s.log()[examples..examples + coverage].to_vec());
    }
    assert_eq!(logs[0], logs[1]);
    let log = logs[0].join("\n");
    for needle in [
        &format!("\"name\":\"{}\"", "x".repeat(20)) as &str,
        &format!("\"name\":\"{}\"", "x".repeat(21)),
        "\"quantity\":100",
        "\"quantity\":101",
        "\"quantity\":0",
        "a\\u0000b",
    ] {
        assert!(
            log.contains(needle),
            "{needle} not among the coverage cases:\n{log}"
        );
    }
}

#[tokio::test]
async fn an_optional_field_that_drifts_on_fetch_fails_the_created_resource_check() {
    let report = verify_owned(
        Knobs {
            owner_drifts: true,
            ..Knobs::default()
        },
        3,
    )
    .await;
    let found = failures_of(&report, Check::CreatedFetchable);
    assert!(!found.is_empty(), "{}", explain(&report));
    assert!(
        found[0].reason.contains("without `owner`"),
        "{}",
        found[0].reason
    );
    assert!(
        found[0].curl.contains("# 2. fetch it as alice"),
        "{}",
        found[0].curl
    );
}
