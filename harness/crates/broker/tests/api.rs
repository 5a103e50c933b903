//! The broker's HTTP API over plain HTTP: what it refuses (400 with the reason, 413 above
//! the body limit, 404), concurrent publishes of one version, the HAL index, and the page
//! for people. Real Pact clients are in `clients.rs`.

use base64::Engine;
use harness_broker::{Broker, Config};
use serde_json::{Value, json};

async fn broker(config: Config) -> Broker {
    Broker::start("127.0.0.1:0".parse().unwrap(), "sqlite::memory:", config)
        .await
        .unwrap()
}

fn pact(consumer: &str, provider: &str, path: &str) -> String {
    json!({
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": [{"type": "Synchronous/HTTP", "description": format!("get {path}"),
            "request": {"method": "GET", "path": path}, "response": {"status": 200}}],
        "metadata": {"pactSpecification": {"version": "4.0"}},
    })
    .to_string()
}

fn publish_body(consumer: &str, version: &str, content: &str) -> Value {
    json!({
        "pacticipantName": consumer,
        "pacticipantVersionNumber": version,
        "branch": "main",
        "tags": ["main"],
        "contracts": [{
            "consumerName": consumer, "providerName": "api", "specification": "pact",
            "contentType": "application/json",
            "content": base64::engine::general_purpose::STANDARD.encode(content),
        }],
    })
}

async fn post(url: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_documents_get_400_with_the_reason() {
    tls();
    let broker = broker(Config::default()).await;
    let url = format!("{}/contracts/publish", broker.url());
    let good = pact("web", "api", "/a");
    let cases = [
        (
            json!({"pacticipantName": "web"}),
            "pacticipantVersionNumber",
        ),
        (publish_body("", "1", &good), "pacticipantName is empty"),
        (
            {
                let mut b = publish_body("web", "1", &good);
                b["contracts"][0]["content"] = json!("not base64!");
                b
            },
            "contracts[0].content is not base64",
        ),
        (
            publish_body("web", "1", "{\"consumer\": "),
            "contracts[0]: the pact is not JSON (line 1",
        ),
        (
            publish_body("web", "1", &pact("mobile", "api", "/a")),
            "the pact is between mobile and api, but is published as between web and api",
        ),
        (
            {
                let mut b = publish_body("web", "1", &good);
                b["contracts"] = json!([]);
                b
            },
            "contracts is empty",
        ),
    ];
    for (body, reason) in cases {
        let (status, answer) = post(&url, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let text = answer["errors"][0].as_str().unwrap_or_default();
        assert!(text.contains(reason), "{reason:?} not in {answer}");
    }
    // Not JSON at all.
    let r = reqwest::Client::new()
        .post(&url)
        .body("publish please")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (status, answer) = post(
        &format!("{}/pacts/provider/api/for-verification", broker.url()),
        &json!({"consumerVersionSelectors": [{}]}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    broker.stop().await;
}

#[tokio::test]
async fn bodies_above_the_limit_are_refused() {
    tls();
    let broker = broker(Config {
        body_limit: 64 * 1024,
        ..Config::default()
    })
    .await;
    let big = pact("web", "api", &"/x".repeat(40 * 1024));
    let (status, _) = post(
        &format!("{}/contracts/publish", broker.url()),
        &publish_body("web", "1", &big),
    )
    .await;
    assert_eq!(status, 413);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_of_one_version_store_it_once() {
    tls();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("b.db").display());
    let broker = Broker::start("127.0.0.1:0".parse().unwrap(), &db, Config::default())
        .await
        .unwrap();
    let url = format!("{}/contracts/publish", broker.url());
    let body = publish_body("web", "1.0.0", &pact("web", "api", "/a"));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            tokio::spawn(async move { post(&url, &body).await.0 })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let base = broker.url();
    let versions: Value = reqwest::get(format!("{base}/pacticipants/web/versions"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let versions = versions["_embedded"]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["_embedded"]["tags"][0]["name"], "main");
    // Published again: unchanged; with other content: replaced, and said so.
    let (_, answer) = post(&url, &body).await;
    assert!(
        answer["notices"].to_string().contains("is unchanged"),
        "{answer}"
    );
    let (status, answer) = post(
        &url,
        &publish_body("web", "1.0.0", &pact("web", "api", "/b")),
    )
    .await;
    assert_eq!(status, 200);
    let replaced = answer["notices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "warning");
    assert!(
        replaced.is_some_and(|n| n["text"]
            .as_str()
            .unwrap()
            .contains("replaces a different pact")),
        "{answer}"
    );

    let latest: Value = reqwest::get(format!("{base}/pacts/latest"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["pacts"].as_array().unwrap().len(), 1);
    broker.stop().await;
}

#[tokio::test]
async fn the_index_links_and_the_page_for_people() {
    tls();
    let broker = broker(Config::default()).await;
    let base = broker.url();
    let http = reqwest::Client::new();
    let index: Value = http
        .get(&base)
        .header("Accept", "application/hal+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for rel in [
        "pb:publish-contracts",
        "pb:provider-pacts-for-verification",
        "pb:pacticipant-version",
        "pb:environments",
        "pb:latest-pact-versions",
    ] {
        let href = index["_links"][rel]["href"].as_str().unwrap_or_default();
        assert!(href.starts_with(&base), "{rel}: {index}");
    }
    assert_eq!(
        index["_links"]["pb:provider-pacts-for-verification"]["templated"],
        true
    );

    let (status, _) = post(
        &format!("{base}/contracts/publish"),
        &publish_body("web <script>", "1", &pact("web <script>", "api", "/a")),
    )
    .await;
    assert_eq!(status, 200);
    let page = http
        .get(&base)
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    assert!(page.contains("<table id=\"pacts\">"), "{page}");
    assert!(
        page.contains("web &lt;script&gt;") && !page.contains("web <script>"),
        "{page}"
    );
    assert!(page.contains("never verified"), "{page}");

    // The links of a version lead somewhere (its branch here).
    let version: Value = http
        .get(format!("{base}/pacticipants/web%20%3Cscript%3E/versions/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let branch = version["_embedded"]["branchVersions"][0]["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .rsplit_once("/versions/")
        .unwrap()
        .0
        .to_owned();
    let answer = http.get(&branch).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{branch}");
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["latestVersion"], "1");

    let missing = http
        .get(format!("{base}/pacticipants/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    broker.stop().await;
}

/// reqwest (and pact_verifier) in a build with Pact need a rustls crypto provider.
fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
