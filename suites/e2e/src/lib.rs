//! Helpers of the sample system's end-to-end suite (`tests/e2e.rs`): the system under test,
//! tokens as the identity provider would mint them, a strict recording client on the
//! gateway's OpenAPI document, [`get_json`] and [`eventually`].
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

/// The gateway's signing secret in the sample stack (`suites/stack.toml`; `JWT_SECRET`
/// overrides it, as `scripts/e2e-local.sh` does with a secret of its own per run).
pub const SAMPLE_STACK_JWT_SECRET: &str = "harness-sample-stack-jwt-secret-for-tests-only";
/// The issuer (`iss`) the gateway trusts by default (`JWT_ISSUER` overrides it).
pub const DEFAULT_JWT_ISSUER: &str = "harness-sample";
/// The audience (`aud`) the gateway expects by default (`JWT_AUDIENCE` overrides it).
pub const DEFAULT_JWT_AUDIENCE: &str = "harness-sample-api";

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

/// The claims of a token, as the identity provider writes them. [`Claims::new`] makes the
/// ones the gateway accepts; tests change a field to make a token it must refuse.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Claims {
    pub sub: String,
    pub scope: String,
    /// Seconds since the epoch.
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

impl Claims {
    /// `sub` with `scope` (space-separated), valid for ten minutes, with the issuer and
    /// audience the gateway expects (`JWT_ISSUER`, `JWT_AUDIENCE`, or the defaults).
    pub fn new(sub: &str, scope: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            scope: scope.to_owned(),
            exp: jsonwebtoken::get_current_timestamp() + 600,
            iss: Some(setting("JWT_ISSUER", DEFAULT_JWT_ISSUER)),
            aud: Some(setting("JWT_AUDIENCE", DEFAULT_JWT_AUDIENCE)),
        }
    }

    /// Signed with `JWT_SECRET` (default [`SAMPLE_STACK_JWT_SECRET`]), HS256.
    pub fn sign(&self) -> String {
        let secret = setting("JWT_SECRET", SAMPLE_STACK_JWT_SECRET);
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            self,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("a signed token")
    }
}

/// A bearer token for `sub` with `scope` (space-separated), valid for ten minutes, as the
/// identity provider would sign it ([`Claims::new`]).
pub fn token(sub: &str, scope: &str) -> String {
    Claims::new(sub, scope).sign()
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

/// `GET url` with `bearer` through `client`: the JSON body of a success, else the status and
/// body as the error (for [`eventually`] to retry or report).
pub async fn get_json(
    client: &RecordingClient,
    url: String,
    bearer: &str,
) -> Result<serde_json::Value, String> {
    let r = client
        .send(client.get(url).bearer_auth(bearer))
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The suite signs with the secret the stack gives the gateway: one value in two files.
    #[test]
    fn the_default_secret_is_the_stacks() {
        let manifest = std::fs::read_to_string(root().join("suites/stack.toml")).unwrap();
        assert!(
            manifest.contains(&format!("JWT_SECRET = \"{SAMPLE_STACK_JWT_SECRET}\"")),
            "suites/stack.toml gives the gateway another JWT_SECRET than SAMPLE_STACK_JWT_SECRET"
        );
        let harness = std::fs::read_to_string(root().join("harness.toml")).unwrap();
        assert!(
            harness.contains(&format!("JWT_SECRET = \"{SAMPLE_STACK_JWT_SECRET}\"")),
            "harness.toml's OpenAPI auth signs with another JWT_SECRET than the stack's"
        );
        assert!(SAMPLE_STACK_JWT_SECRET.len() >= 32);
    }
}
