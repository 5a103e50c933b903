//! A Pact Broker client: [`BrokerClient`] publishes pacts, creates environments, records
//! deployments and asks can-i-deploy, following the HAL links of the broker's index
//! (`pb:publish-contracts`, `pb:environments`, `pb:pacticipant-version`,
//! `pb:can-i-deploy-pacticipant-version-to-environment`), against Harness's own broker
//! (`harness broker serve`) or any other that speaks the Pact Broker API. Results are
//! typed; errors say whose fault they are: an unreachable broker or a 5xx is the
//! environment's ([`Error::Environment`], exit 3), a 4xx carries the broker's reason
//! ([`Error::Broker`], exit 2), and 401/403 name the credential that is missing.
//!
//! Credentials come from the variables Pact's own tools read ([`BrokerAuth::from_env`]):
//! `PACT_BROKER_TOKEN` (bearer), else `PACT_BROKER_USERNAME` / `PACT_BROKER_PASSWORD`
//! (basic).
//!
//! Verification against a broker runs on pact_verifier's own broker code (see
//! [`crate::Verifier`] and [`crate::PactSource::BrokerSelected`]); this module also fetches
//! a provider's latest pacts for the older [`crate::PactSource::Broker`].

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

pub use harness_core::broker::{CanIDeploy, Deployment, MatrixRow, MatrixVerification, Notice};

use crate::error::{Error, Result};

const ACCEPT: &str = "application/hal+json, application/json";

/// The environment variable of a broker's bearer token (as Pact's tools name it).
pub const TOKEN_ENV: &str = "PACT_BROKER_TOKEN";
/// The environment variable of a broker's basic-auth user.
pub const USERNAME_ENV: &str = "PACT_BROKER_USERNAME";
/// The environment variable of a broker's basic-auth password.
pub const PASSWORD_ENV: &str = "PACT_BROKER_PASSWORD";
/// The environment variable of the broker's URL.
pub const BASE_URL_ENV: &str = "PACT_BROKER_BASE_URL";

/// How to authenticate to a broker. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum BrokerAuth {
    Token(String),
    Basic {
        username: String,
        password: Option<String>,
    },
}

impl std::fmt::Debug for BrokerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(***)"),
            Self::Basic { username, .. } => write!(f, "Basic({username}:***)"),
        }
    }
}

impl BrokerAuth {
    /// `PACT_BROKER_TOKEN`, else `PACT_BROKER_USERNAME` (and `PACT_BROKER_PASSWORD`); empty
    /// values count as unset.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(token) = var(TOKEN_ENV) {
            return Some(Self::Token(token));
        }
        var(USERNAME_ENV).map(|username| Self::Basic {
            username,
            password: var(PASSWORD_ENV),
        })
    }

    /// The same credential for pact_verifier's broker client.
    pub(crate) fn to_verifier(&self) -> pact_models::http_utils::HttpAuth {
        match self {
            Self::Token(t) => pact_models::http_utils::HttpAuth::Token(t.clone()),
            Self::Basic { username, password } => {
                pact_models::http_utils::HttpAuth::User(username.clone(), password.clone())
            }
        }
    }

    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Self::Token(t) => request.bearer_auth(t),
            Self::Basic { username, password } => request.basic_auth(username, password.as_ref()),
        }
    }
}

/// The pacts of one consumer version to publish.
#[derive(Debug, Clone, Default)]
pub struct Publication {
    pub consumer: String,
    pub version: String,
    pub branch: Option<String>,
    pub tags: Vec<String>,
    pub build_url: Option<String>,
    /// `(provider, the pact's JSON text)`.
    pub pacts: Vec<(String, String)>,
}

/// What the broker said about a publication.
#[derive(Debug, Clone)]
pub struct Published {
    pub notices: Vec<Notice>,
    /// The published pacts' URLs.
    pub contracts: Vec<String>,
}

/// An environment of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub uuid: String,
    pub name: String,
    pub production: bool,
}

/// A client of one broker.
#[derive(Debug, Clone)]
pub struct BrokerClient {
    url: String,
    auth: Option<BrokerAuth>,
    http: reqwest::Client,
}

/// Percent-encodes a value for a path segment or a query value (RFC 3986 unreserved
/// characters stay).
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl BrokerClient {
    /// A client of the broker at `url` (`http://host:port`, with any path prefix).
    pub fn new(url: &str, auth: Option<BrokerAuth>) -> Result<Self> {
        crate::tls::ensure_crypto_provider();
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            Error::Usage(format!(
                "broker URL {url:?} is not a URL ({e}): give e.g. http://127.0.0.1:9292"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Usage(format!(
                "broker URL {url:?}: give an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| Error::Environment(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            auth,
            http,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn auth(&self) -> Option<&BrokerAuth> {
        self.auth.as_ref()
    }

    /// Sends a request; the JSON of a 2xx answer, an error otherwise (404 is
    /// [`Error::Broker`] with the broker's reason).
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let writing = method != reqwest::Method::GET;
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(reqwest::header::ACCEPT, ACCEPT);
        if let Some(auth) = &self.auth {
            request = auth.apply(request);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| {
            Error::Environment(format!(
                "the Pact Broker at {} is unreachable ({method} {url}): {}",
                self.url,
                error_chain(&e)
            ))
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Error::Environment(format!("{method} {url}: reading the answer: {e}")))?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(json!({}));
            }
            return serde_json::from_str(&text).map_err(|e| {
                Error::Environment(format!(
                    "{method} {url} answered {status} but not JSON ({e}): is {} a Pact Broker?",
                    self.url
                ))
            });
        }
        let reason = reason_of(&text);
        let code = status.as_u16();
        let reason = match code {
            401 => format!(
                "the broker wants credentials for this {}: set {TOKEN_ENV} (or {USERNAME_ENV} and {PASSWORD_ENV}) to its {} credential{}",
                if writing { "write" } else { "read" },
                if writing { "write" } else { "read (or write)" },
                if self.auth.is_some() {
                    " (the one given was refused)"
                } else {
                    " (none is set)"
                }
            ),
            403 => format!(
                "the credential given may not {}: set {TOKEN_ENV} (or {USERNAME_ENV} and {PASSWORD_ENV}) to the broker's write credential",
                if writing { "write" } else { "read" }
            ),
            _ => reason,
        };
        if status.is_server_error() {
            return Err(Error::Environment(format!(
                "the Pact Broker failed on {method} {url} ({status}): {reason}"
            )));
        }
        Err(Error::Broker {
            status: code,
            reason: format!("{method} {url} answered {status}: {reason}"),
        })
    }

    async fn get(&self, url: &str) -> Result<Value> {
        self.send(reqwest::Method::GET, url, None).await
    }

    /// The JSON of a 2xx answer, None for 404.
    async fn get_if_any(&self, url: &str) -> Result<Option<Value>> {
        match self.get(url).await {
            Ok(v) => Ok(Some(v)),
            Err(Error::Broker { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn post(&self, url: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::POST, url, Some(body)).await
    }

    /// The href of the index's link `rel`, its `{name}`s replaced by the encoded values.
    async fn link(&self, rel: &str, values: &[(&str, &str)]) -> Result<String> {
        let index = self
            .get_if_any(&format!("{}/", self.url))
            .await?
            .ok_or_else(|| {
                Error::Environment(format!("{}/ answered 404: not a Pact Broker", self.url))
            })?;
        let mut href = index["_links"][rel]["href"]
            .as_str()
            .ok_or_else(|| {
                Error::Environment(format!(
                    "{} is not a Pact Broker this client knows: its index has no `{rel}` link",
                    self.url
                ))
            })?
            .to_owned();
        for (name, value) in values {
            href = href.replace(&format!("{{{name}}}"), &encode(value));
        }
        Ok(href)
    }

    /// Publishes one consumer version's pacts (`pb:publish-contracts`).
    pub async fn publish(&self, publication: &Publication) -> Result<Published> {
        let href = self.link("pb:publish-contracts", &[]).await?;
        let mut body = json!({
            "pacticipantName": publication.consumer,
            "pacticipantVersionNumber": publication.version,
            "tags": publication.tags,
            "contracts": publication.pacts.iter().map(|(provider, text)| json!({
                "consumerName": publication.consumer,
                "providerName": provider,
                "specification": "pact",
                "contentType": "application/json",
                "content": base64::engine::general_purpose::STANDARD.encode(text),
            })).collect::<Vec<_>>(),
        });
        if let Some(branch) = &publication.branch {
            body["branch"] = json!(branch);
        }
        if let Some(url) = &publication.build_url {
            body["buildUrl"] = json!(url);
        }
        let answer = self.post(&href, &body).await?;
        Ok(Published {
            notices: notices(&answer),
            contracts: answer["_links"]["pb:contracts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["href"].as_str().map(str::to_owned))
                .collect(),
        })
    }

    /// Every environment (`pb:environments`).
    pub async fn environments(&self) -> Result<Vec<Environment>> {
        let href = self.link("pb:environments", &[]).await?;
        let answer = self.get(&href).await?;
        Ok(answer["_embedded"]["environments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(environment)
            .collect())
    }

    /// Creates an environment (`POST pb:environments`); `production` marks it so.
    pub async fn create_environment(&self, name: &str, production: bool) -> Result<Environment> {
        let href = self.link("pb:environments", &[]).await?;
        let answer = self
            .post(
                &href,
                &json!({"name": name, "displayName": name, "production": production}),
            )
            .await?;
        environment(&answer).ok_or_else(|| {
            Error::Environment(format!("POST {href} answered no environment: {answer}"))
        })
    }

    /// The environment named `name`, created when there is none (`production` when its
    /// name is `production` or `prod`); true when created.
    pub async fn ensure_environment(&self, name: &str) -> Result<(Environment, bool)> {
        if let Some(e) = self
            .environments()
            .await?
            .into_iter()
            .find(|e| e.name == name)
        {
            return Ok((e, false));
        }
        match self
            .create_environment(name, matches!(name, "production" | "prod"))
            .await
        {
            Ok(e) => Ok((e, true)),
            // Created meanwhile by someone else.
            Err(Error::Broker { status: 409, .. }) => self
                .environments()
                .await?
                .into_iter()
                .find(|e| e.name == name)
                .map(|e| (e, false))
                .ok_or_else(|| {
                    Error::Environment(format!(
                        "the broker says environment {name} exists, but does not list it"
                    ))
                }),
            Err(e) => Err(e),
        }
    }

    /// Records that `version` of `pacticipant` is deployed to `environment` (created when
    /// missing), through the version's `pb:record-deployment` link of that name.
    pub async fn record_deployment(
        &self,
        pacticipant: &str,
        version: &str,
        environment: &str,
        application_instance: Option<&str>,
    ) -> Result<Deployment> {
        let href = self
            .link(
                "pb:pacticipant-version",
                &[("pacticipant", pacticipant), ("version", version)],
            )
            .await?;
        // The version first: a command that fails creates no environment.
        if self.get_if_any(&href).await?.is_none() {
            return Err(Error::Broker {
                status: 404,
                reason: format!(
                    "the broker has no version {version} of {pacticipant}: publish it first (`harness contract publish --version {version}` for a consumer; a provider's version comes from `harness contract verify --broker ... --publish-results --version {version}`)"
                ),
            });
        }
        let (_, created) = self.ensure_environment(environment).await?;
        // Its links name every environment, the new one too.
        let answer = self.get(&href).await?;
        let record = answer["_links"]["pb:record-deployment"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["name"].as_str() == Some(environment))
            .and_then(|l| l["href"].as_str())
            .ok_or_else(|| {
                Error::Environment(format!(
                    "the broker's version {version} of {pacticipant} has no `pb:record-deployment` link named {environment}"
                ))
            })?
            .to_owned();
        let body = match application_instance {
            Some(i) => json!({"applicationInstance": i}),
            None => json!({}),
        };
        self.post(&record, &body).await?;
        Ok(Deployment {
            pacticipant: pacticipant.to_owned(),
            version: version.to_owned(),
            environment: environment.to_owned(),
            environment_created: created,
            application_instance: application_instance.map(str::to_owned),
        })
    }

    /// May `version` of `pacticipant` go to `environment`?
    pub async fn can_i_deploy(
        &self,
        pacticipant: &str,
        version: &str,
        environment: &str,
    ) -> Result<CanIDeploy> {
        let href = self
            .link(
                "pb:can-i-deploy-pacticipant-version-to-environment",
                &[
                    ("pacticipant", pacticipant),
                    ("version", version),
                    ("environment", environment),
                ],
            )
            .await?;
        Ok(can_i_deploy(&self.get(&href).await?))
    }
}

/// The typed can-i-deploy answer of the broker's JSON.
fn can_i_deploy(answer: &Value) -> CanIDeploy {
    let mut reasons: Vec<String> = answer["summary"]["reason"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    for n in notices(answer) {
        if !reasons.contains(&n.text) {
            reasons.push(n.text);
        }
    }
    let string = |v: &Value| v.as_str().map(str::to_owned);
    let rows = answer["matrix"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| MatrixRow {
            consumer: string(&r["consumer"]["name"]).unwrap_or_default(),
            consumer_version: string(&r["consumer"]["version"]["number"]).unwrap_or_default(),
            provider: string(&r["provider"]["name"]).unwrap_or_default(),
            provider_version: string(&r["provider"]["version"]["number"]),
            verification: r["verificationResult"]
                .as_object()
                .map(|v| MatrixVerification {
                    success: v.get("success").and_then(Value::as_bool) == Some(true),
                    verified_at: v
                        .get("verifiedAt")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    failed_interactions: v
                        .get("failedInteractions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect(),
                }),
        })
        .collect();
    CanIDeploy {
        deployable: answer["summary"]["deployable"].as_bool() == Some(true),
        reasons,
        rows,
    }
}

fn environment(v: &Value) -> Option<Environment> {
    Some(Environment {
        uuid: v["uuid"].as_str()?.to_owned(),
        name: v["name"].as_str()?.to_owned(),
        production: v["production"].as_bool().unwrap_or(false),
    })
}

fn notices(answer: &Value) -> Vec<Notice> {
    answer["notices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            Some(Notice {
                kind: n["type"].as_str().unwrap_or("info").to_owned(),
                text: n["text"].as_str()?.to_owned(),
            })
        })
        .collect()
}

/// The broker's reason in an error body: `errors` as a list, a map of lists or a string;
/// else the start of the body.
fn reason_of(text: &str) -> String {
    let Ok(json) = serde_json::from_str::<Value>(text) else {
        return text.chars().take(300).collect();
    };
    let mut reasons = Vec::new();
    match &json["errors"] {
        Value::String(s) => reasons.push(s.clone()),
        Value::Array(items) => reasons.extend(items.iter().map(|i| match i {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        Value::Object(map) => {
            for (field, messages) in map {
                for m in messages.as_array().into_iter().flatten() {
                    reasons.push(format!("{field}: {}", m.as_str().unwrap_or_default()));
                }
            }
        }
        _ => {}
    }
    if reasons.is_empty() {
        text.chars().take(300).collect()
    } else {
        reasons.join("; ")
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// `(pact URL, pact text)` for each latest pact of `provider` (the root's
/// `pb:latest-provider-pacts`); empty when the broker has none.
pub(crate) async fn latest_pacts(
    http: &reqwest::Client,
    broker: &str,
    token: Option<&str>,
    provider: &str,
) -> Result<Vec<(String, String)>> {
    let root = get(http, &format!("{broker}/"), token)
        .await?
        .ok_or_else(|| Error::Environment(format!("{broker}/ answered 404: not a Pact Broker")))?;
    let root: Value = parse(broker, &root)?;
    let template = root["_links"]["pb:latest-provider-pacts"]["href"]
        .as_str()
        .ok_or_else(|| {
            Error::Environment(format!(
                "{broker} is not a Pact Broker: its root has no `pb:latest-provider-pacts` link"
            ))
        })?;
    let latest = template.replace("{provider}", &encode(provider));
    let Some(list) = get(http, &latest, token).await? else {
        return Ok(Vec::new());
    };
    let list: Value = parse(&latest, &list)?;
    let mut pacts = Vec::new();
    for link in list["_links"]["pacts"].as_array().into_iter().flatten() {
        let Some(href) = link["href"].as_str() else {
            continue;
        };
        let text = get(http, href, token)
            .await?
            .ok_or_else(|| Error::Environment(format!("{href} answered 404")))?;
        pacts.push((href.to_owned(), text));
    }
    Ok(pacts)
}

/// The text of a pact the broker serves (with its `_links` and interaction `_id`s).
pub(crate) async fn fetch_text(
    http: &reqwest::Client,
    url: &str,
    auth: Option<&BrokerAuth>,
) -> Result<String> {
    let mut request = http.get(url).header(reqwest::header::ACCEPT, ACCEPT);
    if let Some(auth) = auth {
        request = auth.apply(request);
    }
    let response = request
        .send()
        .await
        .map_err(|e| Error::Environment(format!("Pact Broker unreachable at {url}: {e}")))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| Error::Environment(format!("{url}: {e}")))?;
    if !status.is_success() {
        return Err(Error::Environment(format!(
            "{url} answered {status}: {}",
            reason_of(&body)
        )));
    }
    Ok(body)
}

/// The body of a 2xx answer, `None` for 404.
async fn get(http: &reqwest::Client, url: &str, token: Option<&str>) -> Result<Option<String>> {
    let mut request = http.get(url).header(reqwest::header::ACCEPT, ACCEPT);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| Error::Environment(format!("Pact Broker unreachable at {url}: {e}")))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body = response
        .text()
        .await
        .map_err(|e| Error::Environment(format!("{url}: {e}")))?;
    if !status.is_success() {
        return Err(Error::Environment(format!(
            "{url} answered {status}: {}",
            body.chars().take(200).collect::<String>()
        )));
    }
    Ok(Some(body))
}

fn parse(url: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::Environment(format!("{url} did not answer JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_as_path_segments() {
        assert_eq!(encode("my app/x"), "my%20app%2Fx");
        assert_eq!(encode("1.0.0-rc_1~"), "1.0.0-rc_1~");
    }

    #[test]
    fn the_reason_of_an_error_body() {
        assert_eq!(
            reason_of(r#"{"errors": ["no such version"]}"#),
            "no such version"
        );
        assert_eq!(
            reason_of(r#"{"errors": {"name": ["is taken"]}}"#),
            "name: is taken"
        );
        assert_eq!(reason_of("plain"), "plain");
    }

    #[test]
    fn a_can_i_deploy_answer_is_typed() {
        let answer = json!({
            "summary": {"deployable": false, "reason": "A failed\nB missing"},
            "notices": [{"type": "error", "text": "A failed"}],
            "matrix": [{
                "consumer": {"name": "c", "version": {"number": "1"}},
                "provider": {"name": "p", "version": null},
                "verificationResult": {"success": false, "failedInteractions": ["get it"]}
            }]
        });
        let typed = can_i_deploy(&answer);
        assert!(!typed.deployable);
        assert_eq!(typed.reasons, vec!["A failed", "B missing"]);
        assert_eq!(typed.rows[0].provider_version, None);
        assert_eq!(
            typed.rows[0]
                .verification
                .as_ref()
                .unwrap()
                .failed_interactions,
            vec!["get it"]
        );
    }
}
