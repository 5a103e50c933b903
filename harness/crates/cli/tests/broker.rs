//! The broker commands of the `harness` binary (`contract publish`, `record-deployment`,
//! `can-i-deploy`, `verify --publish-results`) against Harness's broker served in-process
//! on an in-memory database: no Docker.

use std::{net::SocketAddr, process::Command};

use harness_broker::{Auth, Broker, Config, Credential};
use serde_json::{Value, json};

/// Runs harness without the caller's broker settings; (exit code, stdout, stderr).
fn harness(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_harness"));
    for name in [
        "PACT_BROKER_BASE_URL",
        "PACT_BROKER_TOKEN",
        "PACT_BROKER_USERNAME",
        "PACT_BROKER_PASSWORD",
    ] {
        command.env_remove(name);
    }
    let out = command
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run harness");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `harness` on a blocking thread (the broker serves on the runtime meanwhile).
async fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        harness(&args, &envs)
    })
    .await
    .unwrap()
}

async fn broker(auth: Auth) -> Broker {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Broker::start(
        addr,
        "sqlite::memory:",
        Config {
            auth,
            ..Config::default()
        },
    )
    .await
    .unwrap()
}

/// A pact of consumer `web` with provider `api`: one HTTP interaction.
fn pact(description: &str) -> String {
    json!({
        "consumer": {"name": "web"},
        "provider": {"name": "api"},
        "interactions": [{
            "type": "Synchronous/HTTP",
            "description": description,
            "request": {"method": "GET", "path": "/it"},
            "response": {"status": 200}
        }],
        "metadata": {"pactSpecification": {"version": "4.0"}}
    })
    .to_string()
}

fn pacts_dir(description: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web-api.json"), pact(description)).unwrap();
    dir
}

fn checked_in_pacts() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../../contracts/pacts").to_owned()
}

async fn get(url: &str) -> Value {
    harness::pact::ensure_crypto_provider();
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Posts a verification result of `web` `version`'s pact by `api` `provider_version`.
async fn verify(broker: &str, version: &str, provider_version: &str, failed: Option<&str>) {
    let pact = get(&format!(
        "{broker}/pacts/provider/api/consumer/web/version/{version}"
    ))
    .await;
    let href = pact["_links"]["pb:publish-verification-results"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = pact["interactions"][0]["_id"].clone();
    let results = match failed {
        None => json!([{"interactionId": id, "success": true}]),
        Some(description) => json!([{"interactionId": id, "success": false,
            "interactionDescription": description,
            "mismatches": [{"attribute": "status", "description": "expected 200 but was 500"}]}]),
    };
    harness::pact::ensure_crypto_provider();
    let status = reqwest::Client::new()
        .post(&href)
        .json(&json!({
            "success": failed.is_none(),
            "providerApplicationVersion": provider_version,
            "testResults": results,
        }))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checked_in_pacts_are_published_per_consumer() {
    let broker = broker(Auth::default()).await;
    let url = broker.url();
    let pacts = checked_in_pacts();
    let (code, out, err) = run(
        &[
            "contract",
            "publish",
            "--broker",
            &url,
            "--version",
            "1.0.0",
            "--branch",
            "main",
            "--tag",
            "ci",
            "--pacts",
            &pacts,
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("published gateway version 1.0.0 (branch main)")
            && out.contains("its pacts with inventory, orders, shipping")
            && out.contains("provider payments"),
        "{out}"
    );
    let latest = get(&format!("{url}/pacts/latest")).await;
    let pairs: Vec<String> = latest["pacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}-{}",
                p["_embedded"]["consumer"]["name"].as_str().unwrap(),
                p["_embedded"]["provider"]["name"].as_str().unwrap()
            )
        })
        .collect();
    for file in std::fs::read_dir(&pacts).unwrap() {
        let name = file.unwrap().file_name().into_string().unwrap();
        let pair = name.trim_end_matches(".json");
        assert!(pairs.iter().any(|p| p == pair), "{pair} not in {pairs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_pact_is_exit_2_naming_its_file_and_nothing_is_published() {
    let broker = broker(Auth::default()).await;
    let dir = pacts_dir("get it");
    std::fs::write(dir.path().join("zz-broken.json"), "{\"consumer\": ").unwrap();
    let pacts = dir.path().to_str().unwrap().to_owned();
    // The broker's URL from PACT_BROKER_BASE_URL, as Pact's tools take it.
    let (code, out, err) = run(
        &["contract", "publish", "--version", "1", "--pacts", &pacts],
        &[("PACT_BROKER_BASE_URL", &broker.url())],
    )
    .await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("zz-broken.json"), "{err}");
    let latest = get(&format!("{}/pacts/latest", broker.url())).await;
    assert_eq!(
        latest["pacts"].as_array().map(Vec::len),
        Some(0),
        "{latest}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_are_recorded_and_can_i_deploy_answers_from_the_verifications() {
    let broker = broker(Auth::default()).await;
    let url = broker.url();
    let v1 = pacts_dir("get it");
    let p1 = v1.path().to_str().unwrap().to_owned();
    let (code, out, err) = run(
        &[
            "contract",
            "publish",
            "--broker",
            &url,
            "--version",
            "1.0.0",
            "--pacts",
            &p1,
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");

    // A version the broker does not know: publish first.
    let (code, _, err) = run(
        &[
            "contract",
            "record-deployment",
            "--broker",
            &url,
            "--pacticipant",
            "web",
            "--version",
            "9.9.9",
            "--environment",
            "production",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("publish it first"), "{err}");

    // The environment is created with the first deployment to it.
    let (code, out, err) = run(
        &[
            "contract",
            "record-deployment",
            "--broker",
            &url,
            "--pacticipant",
            "web",
            "--version",
            "1.0.0",
            "--environment",
            "production",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("created environment production"), "{out}");
    let environments = get(&format!("{url}/environments")).await;
    assert_eq!(
        environments["_embedded"]["environments"][0]["name"], "production",
        "{environments}"
    );

    let can_i_deploy = |version: &'static str, env: &'static str| {
        let url = url.clone();
        async move {
            run(
                &[
                    "contract",
                    "can-i-deploy",
                    "--broker",
                    &url,
                    "--pacticipant",
                    "web",
                    "--version",
                    version,
                    "--to-environment",
                    env,
                ],
                &[],
            )
            .await
        }
    };
    // Never verified: no.
    let (code, out, err) = can_i_deploy("1.0.0", "production").await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("no verified pact"), "{out}");
    assert!(out.contains("NO"), "{out}");

    // Verified by the provider version in production: yes.
    verify(&url, "1.0.0", "2.0.0", None).await;
    let (code, out, err) = run(
        &[
            "contract",
            "record-deployment",
            "--broker",
            &url,
            "--pacticipant",
            "api",
            "--version",
            "2.0.0",
            "--environment",
            "production",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains("created environment"), "{out}");
    let (code, out, err) = can_i_deploy("1.0.0", "production").await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("web       1.0.0    api       2.0.0    passed")
            && out.contains("All required verification results are published and successful"),
        "{out}"
    );

    // A new pact whose verification failed: no, naming the interaction.
    let v2 = pacts_dir("delete it");
    let p2 = v2.path().to_str().unwrap().to_owned();
    let (code, out, err) = run(
        &[
            "contract",
            "publish",
            "--broker",
            &url,
            "--version",
            "1.1.0",
            "--pacts",
            &p2,
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    verify(&url, "1.1.0", "2.0.0", Some("delete it")).await;
    let (code, out, err) = can_i_deploy("1.1.0", "production").await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("FAILED (1 interaction(s))") && out.contains("  - delete it"),
        "{out}"
    );

    // An environment the broker does not know: bad input, with the broker's reason.
    let (code, out, err) = can_i_deploy("1.0.0", "staging").await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("no environment named \"staging\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_exit_3() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = pacts_dir("get it");
    let pacts = dir.path().to_str().unwrap().to_owned();
    for args in [
        vec![
            "contract",
            "publish",
            "--broker",
            &url,
            "--version",
            "1",
            "--pacts",
            &pacts,
        ],
        vec![
            "contract",
            "can-i-deploy",
            "--broker",
            &url,
            "--pacticipant",
            "web",
            "--version",
            "1",
            "--to-environment",
            "production",
        ],
        vec![
            "contract",
            "record-deployment",
            "--broker",
            &url,
            "--pacticipant",
            "web",
            "--version",
            "1",
            "--environment",
            "production",
        ],
    ] {
        let (code, out, err) = run(&args, &[]).await;
        assert_eq!(code, 3, "{args:?}\n{out}\n{err}");
        assert!(err.contains("unreachable"), "{err}");
    }
}

/// A credential the broker refuses (or none where one is needed) is the user's to fix:
/// exit 2, naming the variable to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_write_credential_is_exit_2_and_the_token_is_taken_from_the_environment() {
    let broker = broker(Auth {
        read: None,
        write: Some(Credential::parse("s3cret")),
    })
    .await;
    let url = broker.url();
    let dir = pacts_dir("get it");
    let pacts = dir.path().to_str().unwrap().to_owned();
    let publish = [
        "contract",
        "publish",
        "--broker",
        &url,
        "--version",
        "1",
        "--pacts",
        &pacts,
    ];

    let (code, out, err) = run(&publish, &[]).await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("PACT_BROKER_TOKEN") && err.contains("write") && err.contains("none is set"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");

    let (code, _, err) = run(&publish, &[("PACT_BROKER_TOKEN", "wrong")]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("was refused"), "{err}");

    let (code, out, err) = run(&publish, &[("PACT_BROKER_TOKEN", "s3cret")]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("published web version 1"), "{out}");
}

#[test]
fn publishing_verification_results_needs_a_version() {
    let (code, out, err) = harness(
        &[
            "contract",
            "verify",
            "--broker",
            "http://127.0.0.1:9",
            "--publish-results",
        ],
        &[],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("--publish-results needs --version"), "{err}");
}
