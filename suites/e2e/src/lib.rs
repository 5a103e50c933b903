//! Helpers of the sample system's end-to-end suite (`tests/e2e.rs`): the system under test,
//! tokens as the identity provider would mint them, a strict recording client on the
//! gateway's OpenAPI document, and [`eventually`].
//!
//! The system's endpoints come by environment, as `harness up --env-file` writes them
//! (`GATEWAY_URL`, and `HARNESS_LOGS_DIR` for the containers' logs): the main job starts the
//! stack once and every test of the suite uses it. Without `GATEWAY_URL` a test starts the
//! stack of `suites/stack.toml` itself (under nextest, one per test: slow, but it works
//! anywhere).

use std::{
    future::Future,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use harness::{
    Stack,
    openapi::{Document, RecordingClient},
};

/// The gateway's signing secret in the sample stack (`JWT_SECRET` overrides it).
pub const DEFAULT_JWT_SECRET: &str = "harness-sample-secret";

/// Every scope the gateway knows.
pub const ALL_SCOPES: &str = "catalog:read orders:write orders:read shipments:read";

/// The system under test.
pub struct System {
    /// The gateway's URL.
    pub gateway: String,
    /// Where the containers' logs are (`<run>/logs`), when known.
    pub logs: Option<PathBuf>,
    _stack: Option<Arc<Stack>>,
}

impl System {
    /// From the environment (`GATEWAY_URL` or `HARNESS_GATEWAY_URL`, `HARNESS_LOGS_DIR`),
    /// else a stack started from `suites/stack.toml`.
    pub async fn get() -> Self {
        if let Some(url) = ["GATEWAY_URL", "HARNESS_GATEWAY_URL"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        {
            return Self {
                gateway: url.trim_end_matches('/').to_owned(),
                logs: std::env::var_os("HARNESS_LOGS_DIR").map(PathBuf::from),
                _stack: None,
            };
        }
        let manifest = root().join("suites/stack.toml");
        let stack = Stack::shared(&manifest)
            .await
            .unwrap_or_else(|e| panic!("GATEWAY_URL is not set and the stack did not start: {e}"));
        Self {
            gateway: stack.url("gateway").expect("a gateway"),
            logs: stack.log_path("gateway").parent().map(PathBuf::from),
            _stack: Some(stack),
        }
    }

    /// `{gateway}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    sub: &'a str,
    scope: &'a str,
    exp: u64,
}

/// A bearer token for `sub` with `scope` (space-separated), valid for ten minutes, signed
/// with `JWT_SECRET` (default [`DEFAULT_JWT_SECRET`]) as the identity provider would.
pub fn token(sub: &str, scope: &str) -> String {
    let secret = std::env::var("JWT_SECRET").unwrap_or_else(|_| DEFAULT_JWT_SECRET.to_owned());
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &Claims { sub, scope, exp },
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("a signed token")
}

/// A strict recording client on the gateway's document: an answer that breaks it fails the
/// request.
pub fn client() -> RecordingClient {
    // The workspace's build contains Pact, which turns on reqwest's rustls backend without a
    // provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client");
    let doc = Document::from_path(root().join("contracts/openapi/gateway.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    RecordingClient::new(http, Arc::new(doc))
}

/// Whether the planted failure is asked for (`HARNESS_PLANTED_FAILURE=1`): one test then
/// expects what the system does not do, to show a failure reaches every report.
pub fn planted_failure() -> bool {
    std::env::var("HARNESS_PLANTED_FAILURE").is_ok_and(|v| v == "1" || v == "true")
}

/// Polls `probe` every 200 ms until it gives `Ok`, for at most `timeout`; then panics with
/// `what` and the last state `probe` reported.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let last = match probe().await {
            Ok(v) => return v,
            Err(state) => state,
        };
        if start.elapsed() >= timeout {
            panic!("{what}: not within {timeout:?}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
