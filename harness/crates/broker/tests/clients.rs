//! The broker against Pact's real clients, on both databases:
//! - pact-broker-cli (crates.io; installed into the target dir on first use, see
//!   [`pact_broker_cli`]): publish, create-environment, record-deployment, can-i-deploy;
//! - pact_verifier's broker source: pacts for verification with selectors and pending
//!   status, verification against a provider served here, results published.
//!
//! `sqlite_in_process` runs the broker in this process on a SQLite file;
//! `postgres_in_its_image` runs the broker's own `FROM scratch` image beside PostgreSQL in
//! a stack (`tests/broker-stack.toml`). Each restarts its broker halfway and checks that
//! everything is still there.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use axum::{Json, Router, extract::Path as UrlPath, http::StatusCode, routing::get};
use harness_broker::{Auth, Broker, Config, Credential};
use pact_verifier::{
    FilterInfo, ProviderInfo, ProviderTransport, PublishOptions, VerificationOptions,
    callback_executors::{HttpRequestProviderStateExecutor, NullRequestFilterExecutor},
    pact_broker::fetch_pacts_dynamically_from_broker,
};
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn sample_pacts() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("contracts/pacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

/// A pact of `web` with the provider `stock` (the second version asks for one item more).
fn stock_pact(items: &[u32]) -> String {
    let interactions: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({
                "type": "Synchronous/HTTP",
                "description": format!("a request for item {i}"),
                "request": {"method": "GET", "path": format!("/items/{i}")},
                "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": {"id": i, "name": "cup"}},
            })
        })
        .collect();
    json!({
        "consumer": {"name": "web"},
        "provider": {"name": "stock"},
        "interactions": interactions,
        "metadata": {"pactSpecification": {"version": "4.0"}},
    })
    .to_string()
}

/// The provider `stock`: answers every item, or (broken) answers 404.
async fn provider(broken: bool) -> SocketAddr {
    let app = Router::new().route(
        "/items/{id}",
        get(move |UrlPath(id): UrlPath<u32>| async move {
            if broken {
                Err(StatusCode::NOT_FOUND)
            } else {
                Ok(Json(json!({"id": id, "name": "cup"})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Where pact-broker-cli is installed for these tests: `<target dir>/pact-broker-cli`.
fn install_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    target.join("pact-broker-cli")
}

/// pact-broker-cli: `PACT_BROKER_CLI`, else the one installed for these tests, else one on
/// `PATH`, else installed now from crates.io (`cargo install --locked`, once: the tests'
/// processes take turns on a lock file), so the test command needs nothing installed by hand.
fn pact_broker_cli() -> PathBuf {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("PACT_BROKER_CLI") {
                return PathBuf::from(path);
            }
            let root = install_root();
            let installed = root.join("bin/pact-broker-cli");
            if installed.exists() {
                return installed;
            }
            let on_path = std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("pact-broker-cli"))
                    .find(|p| p.is_file())
            });
            if let Some(path) = on_path {
                return path;
            }
            std::fs::create_dir_all(&root).unwrap();
            let lock = std::fs::File::create(root.join(".install.lock")).unwrap();
            lock.lock().unwrap();
            if !installed.exists() {
                let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let mut install = std::process::Command::new(cargo);
                install
                    .args([
                        "install",
                        "pact-broker-cli",
                        "--version",
                        "0.9.0",
                        "--locked",
                        "--debug",
                        "--root",
                    ])
                    .arg(&root)
                    .arg("--target-dir")
                    .arg(root.join("build"))
                    // Unoptimized, no debug info: half a release build's time.
                    .env("CARGO_PROFILE_DEV_DEBUG", "0");
                // Not the variables cargo set for this test (they would steer that build).
                for key in harness::images::inherited_cargo_vars() {
                    install.env_remove(key);
                }
                let status = install.status().unwrap();
                assert!(status.success(), "cargo install pact-broker-cli failed");
            }
            installed
        })
        .clone()
}

/// pact-broker-cli with `args` against `url`; `(exit code, stdout and stderr)`.
async fn cli(url: &str, args: &[&str], token: Option<&str>) -> (i32, String) {
    let bin = pact_broker_cli();
    let mut command = tokio::process::Command::new(&bin);
    command
        .args(args)
        .args(["--broker-base-url", url, "--retries", "1"])
        .env_remove("PACT_BROKER_BASE_URL")
        .env_remove("PACT_BROKER_USERNAME")
        .env_remove("PACT_BROKER_PASSWORD")
        .env_remove("PACT_BROKER_TOKEN");
    if let Some(token) = token {
        command.env("PACT_BROKER_TOKEN", token);
    }
    let out = command
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn get_json(url: &str) -> Value {
    let response = reqwest::Client::new()
        .get(url)
        .header("Accept", "application/hal+json")
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// pact_verifier's view of the pacts `stock` must verify on `branch`: the consumer version
/// of each (from its `pb:consumer-version` link) and whether it is pending.
async fn fetch(url: &str, selectors: Value, branch: &str) -> Vec<(String, bool)> {
    let pacts = fetch_pacts_dynamically_from_broker(
        url,
        "stock".into(),
        true,
        None,
        Vec::new(),
        Some(branch.into()),
        serde_json::from_value(selectors).unwrap(),
        None,
        0,
    )
    .await
    .unwrap();
    pacts
        .into_iter()
        .map(|p| {
            let (_, context, links) = p.unwrap();
            let version = links
                .iter()
                .find(|l| l.name == "pb:consumer-version")
                .and_then(|l| l.href.as_deref())
                .and_then(|href| href.rsplit('/').next())
                .unwrap()
                .to_owned();
            (version, context.unwrap().verification_properties.pending)
        })
        .collect()
}

/// pact_verifier verifies `stock` (at `addr`) against the pacts of `web`'s main branch and
/// publishes the results as provider version `version` on branch main.
async fn verify_and_publish(url: &str, addr: SocketAddr, version: &str) -> bool {
    let provider = ProviderInfo {
        name: "stock".into(),
        host: "127.0.0.1".into(),
        transports: vec![ProviderTransport {
            transport: "http".into(),
            port: Some(addr.port()),
            path: None,
            scheme: Some("http".into()),
        }],
        ..ProviderInfo::default()
    };
    let source = pact_verifier::PactSource::BrokerWithDynamicConfiguration {
        provider_name: "stock".into(),
        broker_url: url.into(),
        enable_pending: true,
        include_wip_pacts_since: None,
        provider_tags: Vec::new(),
        provider_branch: Some("main".into()),
        selectors: serde_json::from_value(json!([{"mainBranch": true}])).unwrap(),
        auth: None,
        links: Vec::new(),
    };
    let options = VerificationOptions::<NullRequestFilterExecutor> {
        broker_request_retries: 0,
        ..VerificationOptions::default()
    };
    let publish = PublishOptions {
        provider_version: Some(version.into()),
        build_url: Some("http://ci.example/build/1".into()),
        provider_tags: Vec::new(),
        provider_branch: Some("main".into()),
    };
    let result = pact_verifier::verify_provider_async(
        provider,
        vec![source],
        FilterInfo::None,
        Vec::new(),
        &options,
        Some(&publish),
        &Arc::new(HttpRequestProviderStateExecutor::default()),
        None,
    )
    .await
    .unwrap();
    result.result && result.pending_errors.is_empty()
}

async fn write_pact(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    tokio::fs::write(&path, text).await.unwrap();
    path.display().to_string()
}

/// Everything before the restart.
async fn before_restart(url: &str, dir: &Path) {
    // pact-broker-cli publishes the sample system's pacts.
    let files: Vec<String> = sample_pacts()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["publish"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--consumer-app-version", "1.0.0", "--branch", "main"]);
    let (code, out) = cli(url, &args, None).await;
    assert_eq!(code, 0, "{out}");
    let latest = get_json(&format!("{url}/pacts/latest")).await;
    assert_eq!(
        latest["pacts"].as_array().unwrap().len(),
        files.len(),
        "{latest}"
    );

    // web 1 (main) and web 2 (a feature branch, one interaction more).
    let v1 = write_pact(dir, "web-stock-1.json", &stock_pact(&[1])).await;
    let v2 = write_pact(dir, "web-stock-2.json", &stock_pact(&[1, 2])).await;
    let (code, out) = cli(
        url,
        &["publish", &v1, "-a", "web-1", "--branch", "main"],
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(
        url,
        &[
            "publish", &v2, "-a", "web-2", "--branch", "feat-x", "--tag", "feat-x",
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");

    // pact_verifier fetches with selectors; nothing is verified yet, so all are pending.
    assert_eq!(
        fetch(url, json!([{"mainBranch": true}]), "main").await,
        [("web-1".to_owned(), true)]
    );
    assert_eq!(
        fetch(url, json!([{"matchingBranch": true}]), "feat-x").await,
        [("web-2".to_owned(), true)]
    );
    assert_eq!(
        fetch(
            url,
            json!([{"branch": "feat-x"}, {"mainBranch": true}]),
            "main"
        )
        .await
        .len(),
        2
    );
    assert_eq!(
        fetch(url, json!([{"tag": "feat-x", "latest": true}]), "main").await,
        [("web-2".to_owned(), true)]
    );

    // stock has a feature branch from before the verification below.
    let http = reqwest::Client::new();
    let created = http
        .put(format!(
            "{url}/pacticipants/stock/branches/feat-y/versions/stock-0"
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Verified and published: web 1's pact is no longer pending for stock's main branch.
    let good = provider(false).await;
    assert!(verify_and_publish(url, good, "stock-1").await);
    assert_eq!(
        fetch(url, json!([{"mainBranch": true}]), "main").await,
        [("web-1".to_owned(), false)]
    );
    assert_eq!(
        fetch(url, json!([{"mainBranch": true}]), "feat-y").await,
        [("web-1".to_owned(), true)],
        "verified from main after feat-y was created: still pending for feat-y"
    );
    assert_eq!(
        fetch(url, json!([{"mainBranch": true}]), "brand-new").await,
        [("web-1".to_owned(), false)],
        "a branch created after the verification inherits it"
    );

    // Deployments, recorded by pact-broker-cli.
    let (code, out) = cli(
        url,
        &["create-environment", "--name", "production", "--production"],
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    for (who, version) in [("stock", "stock-1"), ("web", "web-1")] {
        let (code, out) = cli(
            url,
            &[
                "record-deployment",
                "--pacticipant",
                who,
                "--version",
                version,
                "--environment",
                "production",
            ],
            None,
        )
        .await;
        assert_eq!(code, 0, "{out}");
    }

    // can-i-deploy: yes after the passing verification.
    let (code, out) = cli(
        url,
        &[
            "can-i-deploy",
            "--pacticipant",
            "web",
            "--version",
            "web-1",
            "--to-environment",
            "production",
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("All required verification results are published and successful"),
        "{out}"
    );

    // No for a version never verified (web 2 against stock 1).
    let (code, out) = cli(
        url,
        &[
            "can-i-deploy",
            "--pacticipant",
            "web",
            "--version",
            "web-2",
            "--to-environment",
            "production",
        ],
        None,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "There is no verified pact between version web-2 of web and version stock-1 of stock"
        ),
        "{out}"
    );

    // No after a failing verification, naming the interaction.
    let broken = provider(true).await;
    assert!(!verify_and_publish(url, broken, "stock-2").await);
    let (code, out) = cli(
        url,
        &[
            "can-i-deploy",
            "--pacticipant",
            "stock",
            "--version",
            "stock-2",
            "--to-environment",
            "production",
        ],
        None,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed: \"a request for item 1\""), "{out}");
}

/// Everything after the restart: the data is still there.
async fn after_restart(url: &str) {
    let latest = get_json(&format!("{url}/pacts/latest")).await;
    assert_eq!(
        latest["pacts"].as_array().unwrap().len(),
        sample_pacts().len() + 1,
        "{latest}"
    );
    let (code, out) = cli(
        url,
        &[
            "can-i-deploy",
            "--pacticipant",
            "web",
            "--version",
            "web-1",
            "--to-environment",
            "production",
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(
        url,
        &[
            "can-i-deploy",
            "--pacticipant",
            "stock",
            "--version",
            "stock-2",
            "--to-environment",
            "production",
        ],
        None,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        fetch(url, json!([{"mainBranch": true}]), "main").await,
        [("web-1".to_owned(), false)]
    );
    // Recording a new deployment replaces the one before in that environment.
    let (code, out) = cli(
        url,
        &[
            "record-deployment",
            "--pacticipant",
            "stock",
            "--version",
            "stock-2",
            "--environment",
            "production",
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let envs = get_json(&format!("{url}/environments")).await;
    let uuid = envs["_embedded"]["environments"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let deployed = get_json(&format!(
        "{url}/environments/{uuid}/deployed-versions/currently-deployed?pacticipant=stock"
    ))
    .await;
    let versions: Vec<&str> = deployed["_embedded"]["deployedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["_embedded"]["version"]["number"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["stock-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_process() {
    tls();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("broker.db").display());
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let broker = Broker::start(addr, &db, Config::default()).await.unwrap();
    before_restart(&broker.url(), dir.path()).await;
    let addr = broker.addr();
    broker.stop().await;
    let broker = Broker::start(addr, &db, Config::default()).await.unwrap();
    after_restart(&broker.url()).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_without_the_write_credential_are_refused() {
    tls();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        auth: Auth {
            read: Some(Credential::parse("read-token")),
            write: Some(Credential::parse("write-token")),
        },
        ..Config::default()
    };
    let broker = Broker::start("127.0.0.1:0".parse().unwrap(), "sqlite::memory:", config)
        .await
        .unwrap();
    let url = broker.url();
    let pact = write_pact(dir.path(), "web-stock.json", &stock_pact(&[1])).await;
    let publish = ["publish", pact.as_str(), "-a", "web-1"];
    let (code, out) = cli(&url, &publish, None).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("401"), "no credentials: {out}");
    let (code, out) = cli(&url, &publish, Some("read-token")).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("403"), "read credentials: {out}");
    let (code, out) = cli(&url, &publish, Some("write-token")).await;
    assert_eq!(code, 0, "{out}");
    // Reads need a credential too; the health endpoint does not.
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{url}/pacts/latest"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let read = http
        .get(format!("{url}/pacts/latest"))
        .bearer_auth("read-token")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(
        http.get(format!("{url}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_in_its_image() {
    tls();
    let dir = tempfile::tempdir().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broker-stack.toml");
    let stack = harness::Stack::from_manifest(&manifest)
        .unwrap()
        .start()
        .await
        .unwrap();
    let url = stack.url("broker").unwrap();
    before_restart(&url, dir.path()).await;
    stack.stop("broker").await.unwrap();
    stack.start("broker").await.unwrap();
    let url = stack.url("broker").unwrap();
    let mut healthy = false;
    for _ in 0..100 {
        if reqwest::get(format!("{url}/health"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(healthy, "the restarted broker did not answer {url}/health");
    after_restart(&url).await;
    stack.shutdown().await.unwrap();
}

/// reqwest (and pact_verifier) in a build with Pact need a rustls crypto provider.
fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
