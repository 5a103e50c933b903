//! The verifier against real HTTP providers on loopback: a pact written by pact_consumer
//! (through its mock server, as a consumer test would), then verified against a provider
//! that keeps it, one that breaks it, one that wants credentials (a wiremock stand-in),
//! with states from Rust handlers and from Pact's HTTP state endpoint, and messages from a
//! Rust producer.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use axum::{Json, Router, extract::Path as UrlPath, http::StatusCode, routing::get};
use harness_pact::{
    Handlers, Message, MismatchKind, NoPacts, Outcome, PactCheck, PactSource, Server, StateChange,
    StateValues, Verifier,
    pact_consumer::{
        builders::{HttpPartBuilder, PactBuilder},
        json_pattern, json_pattern_internal, like,
        mock_server::StartMockServer,
        term,
    },
};
use serde_json::{Value, json};

/// Writes the `shop -> catalog` pact into `dir` by driving a client against the mock
/// servers: an item that exists (its id chosen by the provider) and one that does not.
fn write_http_pact(dir: &Path) {
    harness_pact::ensure_crypto_provider();
    let mut found = PactBuilder::new_v4("shop", "catalog");
    found.with_output_dir(dir);
    found.interaction("a request for an item", "", |mut i| {
        i.given("an item exists");
        i.request
            .get()
            .path_from_provider_state("/items/${id}", term!("^/items/[a-z0-9-]+$", "/items/i-1"));
        i.response.ok().json_body(json_pattern!({
            "id": like!("i-1"),
            "name": like!("Keyboard"),
            "status": "AVAILABLE",
        }));
        i
    });
    let mut missing = PactBuilder::new_v4("shop", "catalog");
    missing.with_output_dir(dir);
    missing.interaction("a request for a missing item", "", |mut i| {
        i.given("no item i-404");
        i.request.get().path("/items/i-404");
        i.response.status(404);
        i
    });
    // The consumer: a plain client (blocking, so the mock servers' runtimes stay on their
    // own threads).
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let client = reqwest::Client::new();
                let server = found.start_mock_server(None, None);
                let body: Value = client
                    .get(server.path("/items/i-1"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(body["status"], "AVAILABLE");
                drop(server);
                let server = missing.start_mock_server(None, None);
                let status = client
                    .get(server.path("/items/i-404"))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, 404);
                drop(server);
            });
        });
    });
}

/// A catalogue provider; `rename` breaks the pact by renaming `status` to `state`, and
/// `status` answers a found item with that code.
fn catalog(rename: bool, status: StatusCode, items: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new().route(
        "/items/{id}",
        get(move |UrlPath(id): UrlPath<String>| {
            let items = items.clone();
            async move {
                if !items.lock().unwrap().contains(&id) {
                    return (StatusCode::NOT_FOUND, Json(json!({"type": "not_found"})));
                }
                let key = if rename { "state" } else { "status" };
                (
                    status,
                    Json(json!({"id": id, "name": "Mouse", key: "AVAILABLE"})),
                )
            }
        }),
    )
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// States that create the item for real in the provider's store, hand its id back for
/// `fromProviderState`, and remove it on teardown.
fn item_states(items: Arc<Mutex<Vec<String>>>) -> Handlers {
    let created = items.clone();
    Handlers::new()
        .state("an item exists", move |change: StateChange| {
            let items = created.clone();
            async move {
                let mut values = StateValues::new();
                let id = format!("i-{}", uuid_like());
                match change.action {
                    harness_pact::Action::Setup => {
                        items.lock().unwrap().push(id.clone());
                        values.insert("id".into(), Value::String(id));
                    }
                    harness_pact::Action::Teardown => items.lock().unwrap().clear(),
                }
                Ok(values)
            }
        })
        .state("no item i-404", move |_change: StateChange| {
            let items = items.clone();
            async move {
                items.lock().unwrap().retain(|i| i != "i-404");
                Ok(StateValues::new())
            }
        })
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_keeps_the_pact_passes_with_ids_from_its_states() {
    let dir = tempfile::tempdir().unwrap();
    write_http_pact(dir.path());
    let items = Arc::new(Mutex::new(Vec::new()));
    let url = serve(catalog(false, StatusCode::OK, items.clone())).await;
    let report = Verifier::new("catalog")
        .provider_url(&url)
        .pacts(PactSource::Dir(dir.path().to_path_buf()))
        .handlers(item_states(items.clone()))
        .verify()
        .await
        .unwrap();
    assert!(report.passed(), "{}", report.explain());
    assert_eq!(report.results.len(), 2);
    assert_eq!(report.pacts.len(), 1);
    let found = report
        .results
        .iter()
        .find(|r| r.description == "a request for an item")
        .unwrap();
    assert_eq!(found.consumer, "shop");
    assert_eq!(found.provider_states, vec!["an item exists"]);
    assert!(
        found.source.ends_with("shop-catalog.json"),
        "{}",
        found.source
    );
    // Torn down after the interaction.
    assert!(items.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_field_and_a_wrong_status_fail_naming_interaction_path_and_values() {
    let dir = tempfile::tempdir().unwrap();
    write_http_pact(dir.path());
    let items = Arc::new(Mutex::new(Vec::new()));
    let url = serve(catalog(true, StatusCode::CREATED, items.clone())).await;
    let report = Verifier::new("catalog")
        .provider_url(&url)
        .pacts(PactSource::Dir(dir.path().to_path_buf()))
        .handlers(item_states(items))
        .verify()
        .await
        .unwrap();
    assert!(!report.passed());
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1, "{}", report.explain());
    assert_eq!(failed[0].description, "a request for an item");
    let Outcome::Failed { mismatches } = &failed[0].outcome else {
        panic!("expected mismatches: {:?}", failed[0].outcome);
    };
    let status = mismatches
        .iter()
        .find(|m| m.kind == MismatchKind::Status)
        .unwrap();
    assert_eq!(
        (status.expected.as_str(), status.actual.as_str()),
        ("200", "201")
    );
    let field = mismatches
        .iter()
        .find(|m| m.kind == MismatchKind::Body)
        .unwrap();
    assert_eq!(field.path, "$.status", "{mismatches:?}");
    assert_eq!(field.expected, "\"AVAILABLE\"", "{mismatches:?}");
    assert_eq!(field.actual, "(missing)");
    let text = report.explain();
    assert!(
        text.contains("a request for an item") && text.contains("$.status"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn states_served_over_http_work_and_an_unknown_state_is_an_error_not_a_skip() {
    let dir = tempfile::tempdir().unwrap();
    write_http_pact(dir.path());
    let items = Arc::new(Mutex::new(Vec::new()));
    let url = serve(catalog(false, StatusCode::OK, items.clone())).await;
    let states = Server::start(item_states(items.clone())).await.unwrap();
    let report = Verifier::new("catalog")
        .provider_url(&url)
        .pacts(PactSource::Dir(dir.path().to_path_buf()))
        .state_url(&format!("{}/pact/states", states.url()))
        .verify()
        .await
        .unwrap();
    assert!(report.passed(), "{}", report.explain());

    // Only one of the two states has a handler: the other interaction errors.
    let partial = Handlers::new().state("an item exists", {
        let items = items.clone();
        move |_c: StateChange| {
            let items = items.clone();
            async move {
                items.lock().unwrap().push("i-1".into());
                Ok(StateValues::from_iter([("id".to_owned(), json!("i-1"))]))
            }
        }
    });
    let report = Verifier::new("catalog")
        .provider_url(&url)
        .pacts(PactSource::Dir(dir.path().to_path_buf()))
        .handlers(partial)
        .verify()
        .await
        .unwrap();
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1, "{}", report.explain());
    let Outcome::Error { message } = &failed[0].outcome else {
        panic!("{:?}", failed[0].outcome);
    };
    assert!(message.contains("no item i-404"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_filter_adds_the_credentials_a_provider_requires() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers};
    let dir = tempfile::tempdir().unwrap();
    write_http_pact(dir.path());
    // A stand-in that answers only requests with the bearer token.
    let provider = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path_regex("^/items/.+"))
        .and(matchers::header("authorization", "Bearer s3cret"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "i-9", "name": "Pad", "status": "AVAILABLE"})),
        )
        .mount(&provider)
        .await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(401))
        .mount(&provider)
        .await;
    let states = || {
        Handlers::new().state("an item exists", |_c: StateChange| async {
            Ok(StateValues::from_iter([("id".to_owned(), json!("i-9"))]))
        })
    };
    let source = PactSource::Dir(dir.path().to_path_buf());
    let without = Verifier::new("catalog")
        .provider_url(&provider.uri())
        .pacts(source.clone())
        .consumers(&["shop"])
        .handlers(states())
        .verify()
        .await
        .unwrap();
    let found = without
        .results
        .iter()
        .find(|r| r.description == "a request for an item")
        .unwrap();
    assert!(!found.passed(), "passed without credentials");

    let with = Verifier::new("catalog")
        .provider_url(&provider.uri())
        .pacts(source)
        .handlers(states())
        .request_filter(|request| request.set_header("Authorization", "Bearer s3cret"))
        .verify()
        .await
        .unwrap();
    let found = with
        .results
        .iter()
        .find(|r| r.description == "a request for an item")
        .unwrap();
    assert!(found.passed(), "{}", with.explain());
    // The stand-in saw the token.
    let seen = provider.received_requests().await.unwrap();
    assert!(seen.iter().any(|r| {
        r.headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer s3cret")
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_pacts_fails_by_default_and_says_so() {
    let empty = tempfile::tempdir().unwrap();
    let report = Verifier::new("catalog")
        .provider_url("http://127.0.0.1:9")
        .pacts(PactSource::Dir(empty.path().to_path_buf()))
        .verify()
        .await
        .unwrap();
    assert!(report.no_pacts && !report.passed());
    assert!(
        report
            .explain()
            .contains("no pacts found for provider catalog")
    );
    let allowed = Verifier::new("catalog")
        .provider_url("http://127.0.0.1:9")
        .pacts(PactSource::Dir(empty.path().to_path_buf()))
        .if_no_pacts(NoPacts::Pass)
        .verify()
        .await
        .unwrap();
    assert!(allowed.no_pacts && allowed.passed());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unparsable_pact_is_an_input_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shop-catalog.json"),
        "{\"consumer\": {\"name\": \"shop\"},",
    )
    .unwrap();
    let err = Verifier::new("catalog")
        .provider_url("http://127.0.0.1:9")
        .pacts(PactSource::Dir(dir.path().to_path_buf()))
        .verify()
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("shop-catalog.json"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_come_from_rust_producers_and_a_wrong_field_fails() {
    let dir = tempfile::tempdir().unwrap();
    let check = PactCheck::in_dir("shop", "catalog-events", dir.path()).updating(true);
    let mut builder = check.builder();
    builder.message_interaction("an item.added event", |mut i| {
        i.given("an item was added");
        i.json_body(json_pattern!({"id": like!("i-1"), "status": "AVAILABLE"}));
        i.metadata("routing_key", "item.added");
        i
    });
    for message in builder.messages() {
        let body: Value =
            serde_json::from_slice(&message.contents.contents.value().unwrap()).unwrap();
        assert_eq!(body["status"], "AVAILABLE");
    }
    let written = check.finish().unwrap();
    assert_eq!(written.interactions, 1);

    let producer = |status: &'static str| {
        Handlers::new()
            .state("an item was added", |_c: StateChange| async {
                Ok(StateValues::new())
            })
            .message("an item.added event", move |_r| async move {
                Ok(Message::json(json!({"id": "i-77", "status": status}))?
                    .with_metadata("routing_key", "item.added"))
            })
    };
    let report = Verifier::new("catalog-events")
        .pacts(PactSource::Dir(dir.path().to_path_buf()))
        .handlers(producer("AVAILABLE"))
        .verify()
        .await
        .unwrap();
    assert!(report.passed(), "{}", report.explain());
    assert_eq!(report.results.len(), 1);

    let report = Verifier::new("catalog-events")
        .pacts(PactSource::Dir(dir.path().to_path_buf()))
        .handlers(producer("GONE"))
        .verify()
        .await
        .unwrap();
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1, "{}", report.explain());
    assert!(report.explain().contains("GONE"), "{}", report.explain());
}

#[tokio::test(flavor = "multi_thread")]
async fn pacts_come_from_a_broker_and_a_broker_without_any_is_no_pacts() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers};
    let dir = tempfile::tempdir().unwrap();
    write_http_pact(dir.path());
    let pact: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("shop-catalog.json")).unwrap(),
    )
    .unwrap();
    // A stand-in speaking the Pact Broker's HAL API: root, latest pacts of a provider, a pact.
    let broker = MockServer::start().await;
    let base = broker.uri();
    let hal = |body: Value| {
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/hal+json")
            .set_body_json(body)
    };
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/"))
        .respond_with(hal(json!({"_links": {"pb:latest-provider-pacts": {
            "href": format!("{base}/pacts/provider/{{provider}}/latest"), "templated": true}}})))
        .mount(&broker)
        .await;
    Mock::given(matchers::path("/pacts/provider/catalog/latest"))
        .respond_with(hal(json!({"_links": {"pacts": [
            {"href": format!("{base}/pacts/provider/catalog/consumer/shop/version/1.0.0"), "name": "shop"}]}})))
        .mount(&broker)
        .await;
    Mock::given(matchers::path(
        "/pacts/provider/catalog/consumer/shop/version/1.0.0",
    ))
    .respond_with(hal(pact))
    .mount(&broker)
    .await;
    Mock::given(matchers::path("/pacts/provider/nobody/latest"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&broker)
        .await;

    let items = Arc::new(Mutex::new(Vec::new()));
    let url = serve(catalog(false, StatusCode::OK, items.clone())).await;
    let report = Verifier::new("catalog")
        .provider_url(&url)
        .pacts(PactSource::broker(&base))
        .handlers(item_states(items))
        .verify()
        .await
        .unwrap();
    assert!(report.passed(), "{}", report.explain());
    assert_eq!(report.results.len(), 2);
    assert_eq!(report.pacts[0].consumer, "shop");
    assert!(
        report.results[0].source.contains(&base),
        "{}",
        report.results[0].source
    );

    let none = Verifier::new("nobody")
        .provider_url(&url)
        .pacts(PactSource::broker(&base))
        .verify()
        .await
        .unwrap();
    assert!(none.no_pacts && !none.passed(), "{}", none.explain());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_setup_is_torn_down_and_a_hanging_state_times_out() {
    let dir = tempfile::tempdir().unwrap();
    write_http_pact(dir.path());
    let items = Arc::new(Mutex::new(Vec::new()));
    let url = serve(catalog(false, StatusCode::OK, items.clone())).await;
    let torn_down = Arc::new(Mutex::new(0));
    // Setup creates the item, then fails half-way; the verifier never calls teardown.
    let half_done = {
        let (items, torn_down) = (items.clone(), torn_down.clone());
        Handlers::new()
            .state("an item exists", move |change: StateChange| {
                let (items, torn_down) = (items.clone(), torn_down.clone());
                async move {
                    match change.action {
                        harness_pact::Action::Setup => {
                            items.lock().unwrap().push("i-half".to_owned());
                            Err("the second step failed".into())
                        }
                        harness_pact::Action::Teardown => {
                            items.lock().unwrap().clear();
                            *torn_down.lock().unwrap() += 1;
                            Ok(StateValues::new())
                        }
                    }
                }
            })
            .state("no item i-404", |_c: StateChange| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                Ok(StateValues::new())
            })
    };
    let report = Verifier::new("catalog")
        .provider_url(&url)
        .pacts(PactSource::Dir(dir.path().to_path_buf()))
        .handlers(half_done)
        .state_timeout(std::time::Duration::from_millis(300))
        .verify()
        .await
        .unwrap();
    let message = |description: &str| match &report
        .results
        .iter()
        .find(|r| r.description == description)
        .unwrap()
        .outcome
    {
        Outcome::Error { message } => message.clone(),
        other => panic!("{description}: {other:?}"),
    };
    assert!(message("a request for an item").contains("the second step failed"));
    assert!(message("a request for a missing item").contains("did not finish within 0.3s"));
    assert!(
        items.lock().unwrap().is_empty(),
        "the half-done setup was left behind"
    );
    assert_eq!(*torn_down.lock().unwrap(), 1);
}
