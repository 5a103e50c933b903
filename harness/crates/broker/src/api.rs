//! The broker's HTTP API: the Pact Broker's HAL resources as the reference broker serves
//! them, to the extent Pact's clients (pact_verifier, pact-broker-cli, Harness's own) use
//! them. Every answer is JSON with `_links` (`application/hal+json`), errors included; a
//! browser asking for `/` gets the page for people ([`crate::page`]).
//!
//! Links are absolute, built from the request's `Host` (or the configured public URL), and
//! names in them are percent-encoded path segments.
//!
//! What the clients' sources showed they need (pact_verifier 1.5, pact-broker-cli 0.9):
//! - every 2xx answer is JSON with a JSON content type, also for tag and branch PUTs and
//!   verification results (the verifier drops its results after an empty 201);
//! - the verifier GETs `/pacts/provider/P/for-verification` for its `self` link before it
//!   POSTs there, and reads the answer all or nothing: each pact needs `shortDescription`,
//!   object-valued `_links`, and notices of strings only;
//! - a served pact links `pb:publish-verification-results` and `pb:provider`, whose
//!   resource links the templated `pb:branch-version` and `pb:version-tag`; each
//!   interaction gets an `_id` so results name it;
//! - `pb:record-deployment` on a version is an array named by environment;
//! - `/matrix` is asked with literal `q[][pacticipant]` keys, read in order;
//! - `displayName` is never null (the CLI's tables unwrap it);
//! - 5xx makes both clients retry for a minute or two, so expected refusals are 4xx.

use std::{collections::HashSet, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::{
    auth::{self, Auth},
    error::Error,
    matrix::{self, Answer, Target},
    page,
    select::{self, Selector},
    store::{
        Deployment, Environment, NewPact, NewVerification, PactChange, Pacticipant, Publication,
        Store, Verification, Version,
    },
};

/// How the broker is served.
#[derive(Debug, Clone)]
pub struct Config {
    pub auth: Auth,
    /// The largest request body accepted (413 above it).
    pub body_limit: usize,
    /// The URL links start with, when clients reach the broker through a proxy that does
    /// not pass the `Host` they used; else links follow each request's `Host`.
    pub public_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            auth: Auth::default(),
            body_limit: 4 * 1024 * 1024,
            public_url: None,
        }
    }
}

#[derive(Clone)]
struct App {
    store: Store,
    public_url: Option<String>,
}

/// The broker's router over `store`.
pub fn router(store: Store, config: &Config) -> Router {
    let app = App {
        store,
        public_url: config.public_url.clone(),
    };
    let auth = Arc::new(config.auth.clone());
    Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/diagnostic/status/heartbeat", get(health))
        .route("/contracts/publish", post(publish_contracts))
        .route(
            "/pacticipants",
            get(list_pacticipants).post(create_pacticipant),
        )
        .route(
            "/pacticipants/{p}",
            get(get_pacticipant)
                .put(update_pacticipant)
                .patch(update_pacticipant),
        )
        .route("/pacticipants/{p}/versions", get(list_versions))
        .route(
            "/pacticipants/{p}/versions/{v}",
            get(get_version).put(put_version),
        )
        .route("/pacticipants/{p}/latest-version", get(latest_version))
        .route(
            "/pacticipants/{p}/latest-version/{tag}",
            get(latest_tagged_version),
        )
        .route(
            "/pacticipants/{p}/versions/{v}/tags/{t}",
            get(get_tag).put(put_tag),
        )
        .route("/pacticipants/{p}/branches", get(list_branches))
        .route("/pacticipants/{p}/branches/{b}", get(get_branch))
        .route("/deployed-versions/{uuid}", get(get_deployment))
        .route(
            "/pacticipants/{p}/branches/{b}/versions/{v}",
            get(get_branch_version).put(put_branch_version),
        )
        .route(
            "/pacticipants/{p}/versions/{v}/deployed-versions/environment/{e}",
            post(record_deployment),
        )
        .route("/pacts/latest", get(latest_pacts))
        .route("/pacts/provider/{p}/latest", get(latest_provider_pacts))
        .route(
            "/pacts/provider/{p}/for-verification",
            get(for_verification_self).post(for_verification),
        )
        .route("/pacts/provider/{p}/consumer/{c}/latest", get(latest_pact))
        .route(
            "/pacts/provider/{p}/consumer/{c}/version/{v}",
            get(pact_of_version).put(publish_pact),
        )
        .route(
            "/pacts/provider/{p}/consumer/{c}/pact-version/{sha}",
            get(pact_version),
        )
        .route(
            "/pacts/provider/{p}/consumer/{c}/pact-version/{sha}/verification-results",
            get(list_verifications).post(publish_verification),
        )
        .route(
            "/pacts/provider/{p}/consumer/{c}/pact-version/{sha}/verification-results/{id}",
            get(get_verification),
        )
        .route(
            "/environments",
            get(list_environments).post(create_environment),
        )
        .route("/environments/{e}", get(get_environment))
        .route(
            "/environments/{e}/deployed-versions/currently-deployed",
            get(currently_deployed),
        )
        .route("/matrix", get(get_matrix))
        .route("/can-i-deploy", get(get_can_i_deploy))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(auth, auth::require))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(app)
}

// ---- plumbing -------------------------------------------------------------------------

/// An error answer: `{"errors": [reason]}` (the shape Pact's clients read).
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::BadRequest(_) | Error::Usage(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Database(_) | Error::Environment(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        hal(
            self.0,
            json!({"errors": [self.1], "notices": [{"type": "error", "text": self.1}]}),
        )
    }
}

type ApiResult = Result<Response, ApiError>;

fn bad(reason: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, reason.into())
}

fn missing(what: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what.into())
}

fn hal(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/hal+json;charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> ApiResult {
    Ok(hal(StatusCode::OK, body))
}

async fn not_found() -> ApiError {
    missing("no such resource")
}

/// A JSON request body, or 400 with where it is broken.
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        let at = e.path().to_string();
        if inner.is_syntax() || inner.is_eof() {
            bad(format!(
                "the body is not JSON (line {}, column {}): {inner}",
                inner.line(),
                inner.column()
            ))
        } else {
            bad(format!(
                "the body is not what this resource takes at {at}: {inner}"
            ))
        }
    })
}

/// The URL links start with.
struct Base(String);

impl FromRequestParts<App> for Base {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(url) = &app.public_url {
            return Ok(Base(url.trim_end_matches('/').to_owned()));
        }
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let host = header("x-forwarded-host")
            .or_else(|| header("host"))
            .unwrap_or("localhost");
        let scheme = header("x-forwarded-proto").unwrap_or("http");
        Ok(Base(format!("{scheme}://{host}")))
    }
}

/// A name as a path segment.
pub(crate) fn enc(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn link(href: String) -> Value {
    json!({"href": href})
}

fn titled(href: String, title: &str) -> Value {
    json!({"href": href, "title": title})
}

fn template(href: String, title: &str) -> Value {
    json!({"href": href, "title": title, "templated": true})
}

impl Base {
    fn pacticipant(&self, p: &str) -> String {
        format!("{}/pacticipants/{}", self.0, enc(p))
    }
    fn version(&self, p: &str, v: &str) -> String {
        format!("{}/versions/{}", self.pacticipant(p), enc(v))
    }
    fn pact_version(&self, provider: &str, consumer: &str, sha: &str) -> String {
        format!(
            "{}/pacts/provider/{}/consumer/{}/pact-version/{sha}",
            self.0,
            enc(provider),
            enc(consumer)
        )
    }
    fn pact_of_version(&self, provider: &str, consumer: &str, version: &str) -> String {
        format!(
            "{}/pacts/provider/{}/consumer/{}/version/{}",
            self.0,
            enc(provider),
            enc(consumer),
            enc(version)
        )
    }
    fn verification(&self, v: &Verification) -> String {
        format!(
            "{}/verification-results/{}",
            self.pact_version(&v.provider, &v.consumer, &v.sha),
            v.id
        )
    }
    fn environment(&self, uuid: &str) -> String {
        format!("{}/environments/{uuid}", self.0)
    }
}

// ---- index, health, page --------------------------------------------------------------

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

async fn index(State(app): State<App>, base: Base, headers: HeaderMap) -> ApiResult {
    if wants_html(&headers) {
        let html = page::render(&app.store).await?;
        return Ok(Html(html).into_response());
    }
    let b = &base.0;
    ok(json!({
        "_links": {
            "self": {"href": b, "title": "Index"},
            "pb:publish-contracts": titled(format!("{b}/contracts/publish"), "Publish contracts"),
            "pb:publish-pact": template(format!("{b}/pacts/provider/{{provider}}/consumer/{{consumer}}/version/{{consumerApplicationVersion}}"), "Publish a pact"),
            "pb:latest-pact-versions": titled(format!("{b}/pacts/latest"), "Latest pact versions"),
            "pb:pacticipants": titled(format!("{b}/pacticipants"), "Pacticipants"),
            "pb:pacticipant": template(format!("{b}/pacticipants/{{pacticipant}}"), "Fetch pacticipant by name"),
            "pb:latest-provider-pacts": template(format!("{b}/pacts/provider/{{provider}}/latest"), "Latest pacts by provider"),
            "pb:provider-pacts-for-verification": template(format!("{b}/pacts/provider/{{provider}}/for-verification"), "Pact versions to be verified for the specified provider"),
            "beta:provider-pacts-for-verification": {"name": "beta", "href": format!("{b}/pacts/provider/{{provider}}/for-verification"), "title": "DEPRECATED - please use pb:provider-pacts-for-verification", "templated": true},
            "pb:latest-version": template(format!("{b}/pacticipants/{{pacticipant}}/latest-version"), "Latest pacticipant version"),
            "pb:latest-tagged-version": template(format!("{b}/pacticipants/{{pacticipant}}/latest-version/{{tag}}"), "Latest pacticipant version with the specified tag"),
            "pb:pacticipant-version": template(format!("{b}/pacticipants/{{pacticipant}}/versions/{{version}}"), "Get, create or delete a pacticipant version"),
            "pb:pacticipant-version-tag": template(format!("{b}/pacticipants/{{pacticipant}}/versions/{{version}}/tags/{{tag}}"), "Get, create or delete a tag for a pacticipant version"),
            "pb:pacticipant-branch-version": template(format!("{b}/pacticipants/{{pacticipant}}/branches/{{branch}}/versions/{{version}}"), "Get or add/create a pacticipant version for a branch"),
            "pb:environments": titled(format!("{b}/environments"), "Environments"),
            "pb:environment": template(format!("{b}/environments/{{uuid}}"), "Environment"),
            "pb:can-i-deploy-pacticipant-version-to-environment": template(format!("{b}/can-i-deploy?pacticipant={{pacticipant}}&version={{version}}&environment={{environment}}"), "Determine if an application version can be safely deployed to an environment"),
            "pb:can-i-deploy-pacticipant-version-to-tag": template(format!("{b}/can-i-deploy?pacticipant={{pacticipant}}&version={{version}}&to={{tag}}"), "Determine if an application version can be safely deployed to the latest versions with a tag"),
        }
    }))
}

async fn health(State(app): State<App>) -> ApiResult {
    app.store.ping().await?;
    ok(json!({"ok": true, "status": "ok"}))
}

// ---- publishing ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublishRequest {
    pacticipant_name: String,
    pacticipant_version_number: String,
    branch: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    build_url: Option<String>,
    contracts: Vec<Contract>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Contract {
    consumer_name: String,
    provider_name: String,
    specification: String,
    content_type: Option<String>,
    content: String,
    #[allow(dead_code)]
    on_conflict: Option<String>,
}

fn nonempty(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(bad(format!("{field} is empty")));
    }
    Ok(())
}

/// A pact's content checked against the names it is published under, and its sha (of the
/// JSON with its keys sorted: the same pact published twice is one pact version).
fn check_pact(
    text: &str,
    consumer: &str,
    provider: &str,
    at: &str,
) -> Result<(String, String), ApiError> {
    let json: Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "{at}: the pact is not JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let named = |key: &str| json[key]["name"].as_str().map(str::to_owned);
    match (named("consumer"), named("provider")) {
        (Some(c), Some(p)) if c == consumer && p == provider => {}
        (Some(c), Some(p)) => {
            return Err(bad(format!(
                "{at}: the pact is between {c} and {p}, but is published as between {consumer} and {provider}"
            )));
        }
        _ => {
            return Err(bad(format!(
                "{at}: the pact names no consumer or no provider (consumer.name, provider.name)"
            )));
        }
    }
    if !(json["interactions"].is_array() || json["messages"].is_array()) {
        return Err(bad(format!(
            "{at}: the pact has no interactions or messages array"
        )));
    }
    let canonical = canonical(&json).to_string();
    let sha = hex(&Sha256::digest(canonical.as_bytes()));
    Ok((sha, text.to_owned()))
}

/// The value with every object's keys sorted.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn publish_contracts(State(app): State<App>, base: Base, body: Bytes) -> ApiResult {
    let request: PublishRequest = parse(&body)?;
    let consumer = &request.pacticipant_name;
    let number = &request.pacticipant_version_number;
    nonempty("pacticipantName", consumer)?;
    nonempty("pacticipantVersionNumber", number)?;
    if let Some(branch) = &request.branch {
        nonempty("branch", branch)?;
    }
    if request.contracts.is_empty() {
        return Err(bad("contracts is empty: publish at least one pact"));
    }
    let mut pacts = Vec::new();
    for (i, c) in request.contracts.iter().enumerate() {
        let at = format!("contracts[{i}]");
        if c.specification != "pact" {
            return Err(bad(format!(
                "{at}.specification: only \"pact\" is supported, not {:?}",
                c.specification
            )));
        }
        if let Some(ct) = &c.content_type
            && !ct.contains("json")
        {
            return Err(bad(format!(
                "{at}.contentType: a pact is application/json, not {ct:?}"
            )));
        }
        if c.consumer_name != *consumer {
            return Err(bad(format!(
                "{at}.consumerName {:?} is not the pacticipant publishing ({consumer:?})",
                c.consumer_name
            )));
        }
        nonempty(&format!("{at}.providerName"), &c.provider_name)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(c.content.trim())
            .map_err(|e| bad(format!("{at}.content is not base64: {e}")))?;
        let text =
            String::from_utf8(decoded).map_err(|_| bad(format!("{at}.content is not UTF-8")))?;
        let (sha, content) = check_pact(&text, consumer, &c.provider_name, &at)?;
        pacts.push(NewPact {
            provider: c.provider_name.clone(),
            sha,
            content,
        });
    }
    let published = app
        .store
        .publish(
            consumer,
            number,
            request.branch.as_deref(),
            &request.tags,
            request.build_url.as_deref(),
            &pacts,
        )
        .await?;
    let mut notices = vec![
        json!({"type": if published.version_created {"success"} else {"info"}, "text": format!(
            "{} {consumer} version {number}{}{}",
            if published.version_created { "Created" } else { "Updated" },
            request.branch.as_ref().map(|b| format!(" with branch {b}")).unwrap_or_default(),
            if request.tags.is_empty() { String::new() } else { format!(" and tags {}", request.tags.join(", ")) },
        )}),
    ];
    let mut contracts = Vec::new();
    for (provider, _sha, change) in &published.pacts {
        let href = base.pact_of_version(provider, consumer, number);
        let (kind, text) = match change {
            PactChange::New => (
                "success",
                format!(
                    "Pact successfully published for {consumer} version {number} and provider {provider}."
                ),
            ),
            PactChange::Unchanged => (
                "info",
                format!(
                    "Pact for {consumer} version {number} and provider {provider} is unchanged: it was published before."
                ),
            ),
            PactChange::Replaced => (
                "warning",
                format!(
                    "Pact for {consumer} version {number} and provider {provider} replaces a different pact published before under this version: results of the old content no longer count for this version."
                ),
            ),
        };
        notices.push(json!({"type": kind, "text": text}));
        notices
            .push(json!({"type": "debug", "text": format!("  View the published pact at {href}")}));
        contracts.push(json!({"title": "Pact", "name": format!("Pact between {consumer} ({number}) and {provider}"), "href": href}));
    }
    let logs: Vec<Value> = notices
        .iter()
        .map(|n| json!({"level": n["type"], "message": n["text"], "deprecationWarning": "Replaced by notices"}))
        .collect();
    let pacticipant = base.pacticipant(consumer);
    let version = base.version(consumer, number);
    ok(json!({
        "notices": notices,
        "logs": logs,
        "_embedded": {
            "pacticipant": {"name": consumer, "_links": {"self": {"href": pacticipant}}},
            "version": {"number": number, "_links": {"self": {"href": version, "name": number, "title": "Version"}}},
        },
        "_links": {
            "pb:pacticipant": {"title": "Pacticipant", "name": consumer, "href": pacticipant},
            "pb:pacticipant-version": {"title": "Pacticipant version", "name": number, "href": version},
            "pb:pacticipant-version-tags": request.tags.iter().map(|t| json!({"title": "Tag", "name": t, "href": format!("{version}/tags/{}", enc(t))})).collect::<Vec<_>>(),
            "pb:contracts": contracts,
        }
    }))
}

/// `PUT /pacts/provider/P/consumer/C/version/V`: the older way to publish one pact.
async fn publish_pact(
    State(app): State<App>,
    base: Base,
    Path((provider, consumer, number)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let text = std::str::from_utf8(&body).map_err(|_| bad("the pact is not UTF-8"))?;
    let (sha, content) = check_pact(text, &consumer, &provider, "the body")?;
    let published = app
        .store
        .publish(
            &consumer,
            &number,
            None,
            &[],
            None,
            &[NewPact {
                provider: provider.clone(),
                sha: sha.clone(),
                content,
            }],
        )
        .await?;
    let status = if published.version_created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let pact = app
        .store
        .pact_by_sha(&consumer, &provider, &sha)
        .await?
        .ok_or_else(|| missing("the pact vanished"))?;
    Ok(hal(
        status,
        pact_body(
            &base,
            &pact.content,
            &consumer,
            &provider,
            &sha,
            Some(&number),
            &pact.created_at,
        ),
    ))
}

// ---- pacticipants, versions, branches, tags -------------------------------------------

fn pacticipant_json(base: &Base, p: &Pacticipant) -> Value {
    let href = base.pacticipant(&p.name);
    json!({
        "name": p.name,
        "displayName": p.display_name.clone().unwrap_or_else(|| p.name.clone()),
        "mainBranch": p.main_branch,
        "repositoryUrl": p.repository_url,
        "createdAt": p.created_at,
        "updatedAt": p.created_at,
        "_links": {
            "self": link(href.clone()),
            "pb:versions": link(format!("{href}/versions")),
            "pb:version": template(format!("{href}/versions/{{version}}"), &format!("Get, create or delete a version of {}", p.name)),
            "pb:branches": link(format!("{href}/branches")),
            "pb:branch-version": template(format!("{href}/branches/{{branch}}/versions/{{version}}"), &format!("Get or add/create a version for a branch of {}", p.name)),
            "pb:version-tag": template(format!("{href}/versions/{{version}}/tags/{{tag}}"), &format!("Get, create or delete a tag for a version of {}", p.name)),
            "pb:latest-version": link(format!("{href}/latest-version")),
        }
    })
}

async fn list_pacticipants(State(app): State<App>, base: Base) -> ApiResult {
    let all = app.store.pacticipants().await?;
    let items: Vec<Value> = all.iter().map(|p| pacticipant_json(&base, p)).collect();
    ok(json!({
        "pacticipants": items,
        "_embedded": {"pacticipants": items},
        "_links": {"self": link(format!("{}/pacticipants", base.0))},
    }))
}

async fn get_pacticipant(
    State(app): State<App>,
    base: Base,
    Path(name): Path<String>,
) -> ApiResult {
    let p = app
        .store
        .pacticipant(&name)
        .await?
        .ok_or_else(|| missing(format!("no pacticipant named {name:?}")))?;
    ok(pacticipant_json(&base, &p))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PacticipantFields {
    name: Option<String>,
    display_name: Option<String>,
    main_branch: Option<String>,
    repository_url: Option<String>,
}

async fn create_pacticipant(State(app): State<App>, base: Base, body: Bytes) -> ApiResult {
    let fields: PacticipantFields = parse(&body)?;
    let name = fields.name.clone().ok_or_else(|| bad("name is missing"))?;
    nonempty("name", &name)?;
    let existed = app.store.pacticipant(&name).await?.is_some();
    let p = app
        .store
        .upsert_pacticipant(
            &name,
            fields.display_name.as_deref(),
            fields.main_branch.as_deref(),
            fields.repository_url.as_deref(),
        )
        .await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(hal(status, pacticipant_json(&base, &p)))
}

async fn update_pacticipant(
    State(app): State<App>,
    base: Base,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let fields: PacticipantFields = if body.is_empty() {
        PacticipantFields::default()
    } else {
        parse(&body)?
    };
    if let Some(other) = fields.name.as_deref().filter(|n| *n != name) {
        return Err(bad(format!(
            "name {other:?} in the body is not the pacticipant {name:?} of the URL"
        )));
    }
    let p = app
        .store
        .upsert_pacticipant(
            &name,
            fields.display_name.as_deref(),
            fields.main_branch.as_deref(),
            fields.repository_url.as_deref(),
        )
        .await?;
    ok(pacticipant_json(&base, &p))
}

/// A version, with a `pb:record-deployment` link per environment in `environments`.
fn version_json(base: &Base, v: &Version, environments: &[Environment]) -> Value {
    let href = base.version(&v.pacticipant, &v.number);
    let record: Vec<Value> = environments
        .iter()
        .map(|e| {
            json!({
                "title": format!("Record deployment to {}", e.display_name.as_deref().unwrap_or(&e.name)),
                "name": e.name,
                "href": format!("{href}/deployed-versions/environment/{}", e.uuid),
            })
        })
        .collect();
    json!({
        "number": v.number,
        "buildUrl": v.build_url,
        "createdAt": v.created_at,
        "_embedded": {
            "branchVersions": v.branches.iter().map(|b| json!({"name": b, "_links": {"self": link(format!("{}/branches/{}/versions/{}", base.pacticipant(&v.pacticipant), enc(b), enc(&v.number)))}})).collect::<Vec<_>>(),
            "tags": v.tags.iter().map(|t| json!({"name": t, "_links": {"self": link(format!("{href}/tags/{}", enc(t)))}})).collect::<Vec<_>>(),
        },
        "_links": {
            "self": {"title": "Version", "name": v.number, "href": href},
            "pb:pacticipant": {"title": "Pacticipant", "name": v.pacticipant, "href": base.pacticipant(&v.pacticipant)},
            "pb:tag": template(format!("{href}/tags/{{tag}}"), "Get, create or delete a tag for this pacticipant version"),
            "pb:record-deployment": record,
            "pb:record-release": [],
        }
    })
}

async fn list_versions(State(app): State<App>, base: Base, Path(name): Path<String>) -> ApiResult {
    if app.store.pacticipant(&name).await?.is_none() {
        return Err(missing(format!("no pacticipant named {name:?}")));
    }
    let environments = app.store.environments().await?;
    let items: Vec<Value> = app
        .store
        .versions(&name)
        .await?
        .iter()
        .map(|v| version_json(&base, v, &environments))
        .collect();
    ok(json!({
        "_embedded": {"versions": items},
        "_links": {"self": link(format!("{}/versions", base.pacticipant(&name)))},
    }))
}

async fn get_version(
    State(app): State<App>,
    base: Base,
    Path((p, v)): Path<(String, String)>,
) -> ApiResult {
    let version = app
        .store
        .version(&p, &v)
        .await?
        .ok_or_else(|| missing(format!("no version {v} of {p}")))?;
    ok(version_json(
        &base,
        &version,
        &app.store.environments().await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct VersionFields {
    build_url: Option<String>,
    branch: Option<String>,
}

async fn put_version(
    State(app): State<App>,
    base: Base,
    Path((p, v)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let fields: VersionFields = if body.is_empty() {
        VersionFields::default()
    } else {
        parse(&body)?
    };
    let (version, created) = app
        .store
        .ensure_version(
            &p,
            &v,
            fields.branch.as_deref(),
            &[],
            fields.build_url.as_deref(),
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(hal(
        status,
        version_json(&base, &version, &app.store.environments().await?),
    ))
}

async fn latest_version(State(app): State<App>, base: Base, Path(p): Path<String>) -> ApiResult {
    let v = app
        .store
        .latest_version(&p, None, None)
        .await?
        .ok_or_else(|| missing(format!("{p} has no versions")))?;
    ok(version_json(&base, &v, &app.store.environments().await?))
}

async fn latest_tagged_version(
    State(app): State<App>,
    base: Base,
    Path((p, tag)): Path<(String, String)>,
) -> ApiResult {
    let v = app
        .store
        .latest_version(&p, None, Some(&tag))
        .await?
        .ok_or_else(|| missing(format!("{p} has no version tagged {tag}")))?;
    ok(version_json(&base, &v, &app.store.environments().await?))
}

fn tag_json(base: &Base, p: &str, v: &str, t: &str) -> Value {
    let version = base.version(p, v);
    json!({
        "name": t,
        "_links": {
            "self": link(format!("{version}/tags/{}", enc(t))),
            "pb:version": {"title": "Version", "name": v, "href": version},
            "pb:pacticipant": {"title": "Pacticipant", "name": p, "href": base.pacticipant(p)},
        }
    })
}

async fn get_tag(
    State(app): State<App>,
    base: Base,
    Path((p, v, t)): Path<(String, String, String)>,
) -> ApiResult {
    let version = app.store.version(&p, &v).await?;
    if !version.is_some_and(|x| x.tags.contains(&t)) {
        return Err(missing(format!("version {v} of {p} has no tag {t}")));
    }
    ok(tag_json(&base, &p, &v, &t))
}

async fn put_tag(
    State(app): State<App>,
    base: Base,
    Path((p, v, t)): Path<(String, String, String)>,
) -> ApiResult {
    nonempty("tag", &t)?;
    let before = app.store.version(&p, &v).await?;
    let existed = before.is_some_and(|x| x.tags.contains(&t));
    app.store.tag_version(&p, &v, &t).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(hal(status, tag_json(&base, &p, &v, &t)))
}

async fn list_branches(State(app): State<App>, base: Base, Path(p): Path<String>) -> ApiResult {
    let branches = app.store.branches(&p).await?;
    let href = base.pacticipant(&p);
    ok(json!({
        "_embedded": {"branches": branches.iter().map(|(name, latest)| json!({
            "name": name,
            "latestVersion": latest,
            "_links": {"self": link(format!("{href}/branches/{}", enc(name)))},
        })).collect::<Vec<_>>()},
        "_links": {"self": link(format!("{href}/branches"))},
    }))
}

async fn get_branch(
    State(app): State<App>,
    base: Base,
    Path((p, b)): Path<(String, String)>,
) -> ApiResult {
    let (name, latest) = app
        .store
        .branches(&p)
        .await?
        .into_iter()
        .find(|(name, _)| *name == b)
        .ok_or_else(|| missing(format!("{p} has no branch {b}")))?;
    let href = base.pacticipant(&p);
    ok(json!({
        "name": name,
        "latestVersion": latest,
        "_links": {
            "self": link(format!("{href}/branches/{}", enc(&name))),
            "pb:pacticipant": {"title": "Pacticipant", "name": p, "href": href},
            "pb:latest-version": latest.as_ref().map(|v| link(base.version(&p, v))),
        }
    }))
}

async fn get_deployment(State(app): State<App>, base: Base, Path(uuid): Path<String>) -> ApiResult {
    let d = app
        .store
        .deployment(&uuid)
        .await?
        .ok_or_else(|| missing(format!("no deployed version {uuid}")))?;
    ok(deployment_json(&base, &d))
}

fn branch_version_json(base: &Base, p: &str, b: &str, v: &str) -> Value {
    json!({
        "_links": {
            "self": link(format!("{}/branches/{}/versions/{}", base.pacticipant(p), enc(b), enc(v))),
            "pb:version": {"title": "Version", "name": v, "href": base.version(p, v)},
            "pb:branch": {"title": "Branch", "name": b, "href": format!("{}/branches/{}", base.pacticipant(p), enc(b))},
        }
    })
}

async fn get_branch_version(
    State(app): State<App>,
    base: Base,
    Path((p, b, v)): Path<(String, String, String)>,
) -> ApiResult {
    let version = app.store.version(&p, &v).await?;
    if !version.is_some_and(|x| x.branches.contains(&b)) {
        return Err(missing(format!("version {v} of {p} is not on branch {b}")));
    }
    ok(branch_version_json(&base, &p, &b, &v))
}

async fn put_branch_version(
    State(app): State<App>,
    base: Base,
    Path((p, b, v)): Path<(String, String, String)>,
) -> ApiResult {
    nonempty("branch", &b)?;
    let existed = app
        .store
        .version(&p, &v)
        .await?
        .is_some_and(|x| x.branches.contains(&b));
    app.store
        .ensure_version(&p, &v, Some(&b), &[], None)
        .await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(hal(status, branch_version_json(&base, &p, &b, &v)))
}

// ---- pacts ----------------------------------------------------------------------------

/// A pact as served: its content, each interaction with an `_id` (verification results
/// name interactions by it), and the links the verifier follows.
fn pact_body(
    base: &Base,
    content: &str,
    consumer: &str,
    provider: &str,
    sha: &str,
    consumer_version: Option<&str>,
    created_at: &str,
) -> Value {
    let mut json: Value = serde_json::from_str(content).unwrap_or_else(|_| json!({}));
    for key in ["interactions", "messages"] {
        if let Some(items) = json[key].as_array_mut() {
            for item in items {
                if let Some(obj) = item.as_object_mut()
                    && !obj.contains_key("_id")
                {
                    let text = canonical(&Value::Object(obj.clone())).to_string();
                    obj.insert(
                        "_id".into(),
                        Value::String(hex(&Sha256::digest(text.as_bytes()))[..40].to_owned()),
                    );
                }
            }
        }
    }
    let pact_version = base.pact_version(provider, consumer, sha);
    let mut links = Map::new();
    links.insert(
        "self".into(),
        json!({"title": "Pact", "name": format!("Pact between {consumer}{} and {provider}", consumer_version.map(|v| format!(" ({v})")).unwrap_or_default()), "href": pact_version}),
    );
    links.insert(
        "pb:consumer".into(),
        json!({"title": "Consumer", "name": consumer, "href": base.pacticipant(consumer)}),
    );
    links.insert(
        "pb:provider".into(),
        json!({"title": "Provider", "name": provider, "href": base.pacticipant(provider)}),
    );
    if let Some(v) = consumer_version {
        links.insert(
            "pb:consumer-version".into(),
            json!({"title": "Consumer version", "name": v, "href": base.version(consumer, v)}),
        );
    }
    links.insert(
        "pb:pact-version".into(),
        json!({"title": "Pact content version permalink", "name": sha, "href": pact_version}),
    );
    links.insert(
        "pb:publish-verification-results".into(),
        titled(
            format!("{pact_version}/verification-results"),
            "Publish verification results",
        ),
    );
    links.insert(
        "pb:latest-pact-version".into(),
        titled(
            format!(
                "{}/pacts/provider/{}/consumer/{}/latest",
                base.0,
                enc(provider),
                enc(consumer)
            ),
            "Latest version of this pact",
        ),
    );
    if let Some(obj) = json.as_object_mut() {
        obj.insert("createdAt".into(), Value::String(created_at.to_owned()));
        obj.insert("_links".into(), Value::Object(links));
    }
    json
}

async fn pact_version(
    State(app): State<App>,
    base: Base,
    Path((p, c, sha)): Path<(String, String, String)>,
) -> ApiResult {
    let pact = app
        .store
        .pact_by_sha(&c, &p, &sha)
        .await?
        .ok_or_else(|| missing(format!("no pact between {c} and {p} with content {sha}")))?;
    ok(pact_body(
        &base,
        &pact.content,
        &c,
        &p,
        &sha,
        pact.consumer_version.as_deref(),
        &pact.created_at,
    ))
}

async fn pact_of_version(
    State(app): State<App>,
    base: Base,
    Path((p, c, v)): Path<(String, String, String)>,
) -> ApiResult {
    let publication = app
        .store
        .publications_of_version(&c, &v)
        .await?
        .into_iter()
        .find(|x| x.provider == p)
        .ok_or_else(|| missing(format!("no pact between {c} version {v} and {p}")))?;
    serve_publication(&app, &base, &publication).await
}

async fn serve_publication(app: &App, base: &Base, publication: &Publication) -> ApiResult {
    let pact = app
        .store
        .pact_by_sha(
            &publication.consumer,
            &publication.provider,
            &publication.sha,
        )
        .await?
        .ok_or_else(|| missing("the pact vanished"))?;
    ok(pact_body(
        base,
        &pact.content,
        &publication.consumer,
        &publication.provider,
        &publication.sha,
        Some(&publication.version),
        &publication.created_at,
    ))
}

async fn latest_pact(
    State(app): State<App>,
    base: Base,
    Path((p, c)): Path<(String, String)>,
) -> ApiResult {
    let publication = app
        .store
        .publications_for_provider(&p)
        .await?
        .into_iter()
        .find(|x| x.consumer == c)
        .ok_or_else(|| missing(format!("no pact between {c} and {p}")))?;
    serve_publication(&app, &base, &publication).await
}

/// The latest publication of each consumer/provider pair.
fn latest_per_pair(publications: Vec<Publication>) -> Vec<Publication> {
    let mut seen = HashSet::new();
    publications
        .into_iter()
        .filter(|p| seen.insert((p.consumer.clone(), p.provider.clone())))
        .collect()
}

async fn latest_provider_pacts(
    State(app): State<App>,
    base: Base,
    Path(p): Path<String>,
) -> ApiResult {
    let latest = latest_per_pair(app.store.publications_for_provider(&p).await?);
    if latest.is_empty() && app.store.pacticipant(&p).await?.is_none() {
        return Err(missing(format!("no pacticipant named {p:?}")));
    }
    let pacts: Vec<Value> = latest
        .iter()
        .map(|x| json!({"href": base.pact_of_version(&x.provider, &x.consumer, &x.version), "title": format!("Pact between {} ({}) and {}", x.consumer, x.version, x.provider), "name": x.consumer}))
        .collect();
    ok(json!({
        "_links": {
            "self": link(format!("{}/pacts/provider/{}/latest", base.0, enc(&p))),
            "provider": {"href": base.pacticipant(&p), "name": p},
            "pb:pacts": pacts,
            "pacts": pacts,
        }
    }))
}

async fn latest_pacts(State(app): State<App>, base: Base) -> ApiResult {
    let latest = latest_per_pair(app.store.all_publications().await?);
    let pacts: Vec<Value> = latest
        .iter()
        .map(|x| {
            json!({
                "createdAt": x.created_at,
                "_embedded": {
                    "consumer": {"name": x.consumer, "_links": {"self": link(base.pacticipant(&x.consumer))}, "_embedded": {"version": {"number": x.version}}},
                    "provider": {"name": x.provider, "_links": {"self": link(base.pacticipant(&x.provider))}},
                },
                "_links": {"self": [link(base.pact_of_version(&x.provider, &x.consumer, &x.version)), link(base.pact_version(&x.provider, &x.consumer, &x.sha))]},
            })
        })
        .collect();
    ok(json!({"pacts": pacts, "_links": {"self": link(format!("{}/pacts/latest", base.0))}}))
}

// ---- pacts for verification ------------------------------------------------------------

async fn for_verification_self(
    State(app): State<App>,
    base: Base,
    Path(p): Path<String>,
) -> ApiResult {
    if app.store.pacticipant(&p).await?.is_none() {
        return Err(missing(format!("no pacticipant named {p:?}")));
    }
    ok(
        json!({"_links": {"self": titled(format!("{}/pacts/provider/{}/for-verification", base.0, enc(&p)), "Pacts to be verified")}}),
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ForVerification {
    #[serde(default)]
    consumer_version_selectors: Vec<Selector>,
    provider_version_branch: Option<String>,
    #[serde(default)]
    provider_version_tags: Vec<String>,
    #[serde(default)]
    include_pending_status: bool,
    #[allow(dead_code)]
    include_wip_pacts_since: Option<String>,
}

async fn for_verification(
    State(app): State<App>,
    base: Base,
    Path(p): Path<String>,
    body: Bytes,
) -> ApiResult {
    let request: ForVerification = if body.is_empty() {
        ForVerification::default()
    } else {
        parse(&body)?
    };
    for s in &request.consumer_version_selectors {
        s.check()?;
        if s.matching_branch == Some(true) && request.provider_version_branch.is_none() {
            return Err(bad("a matchingBranch selector needs providerVersionBranch"));
        }
    }
    let publications = app.store.publications_for_provider(&p).await?;
    let verifications = app.store.verifications_by_provider(&p).await?;
    let branch = request.provider_version_branch.as_deref();
    let on_branch: HashSet<i64> = match branch {
        Some(b) => app
            .store
            .versions(&p)
            .await?
            .into_iter()
            .filter(|v| v.branches.iter().any(|x| x == b))
            .map(|v| v.id)
            .collect(),
        None => HashSet::new(),
    };
    let branch_created_at = match branch {
        Some(b) => app.store.branch_created_at(&p, b).await?,
        None => None,
    };
    let selected = select::select(
        &publications,
        &request.consumer_version_selectors,
        branch,
        &verifications,
        &on_branch,
        branch_created_at.as_deref(),
    );
    let who = match (branch, request.provider_version_tags.is_empty()) {
        (Some(b), _) => format!("a version of {p} from branch '{b}'"),
        (None, false) => format!(
            "a version of {p} with tag(s) {}",
            request.provider_version_tags.join(", ")
        ),
        (None, true) => format!("any version of {p}"),
    };
    let pacts: Vec<Value> = selected
        .iter()
        .map(|s| {
            let x = &s.publication;
            let href = base.pact_version(&x.provider, &x.consumer, &x.sha);
            let criteria: Vec<String> = s.reasons.iter().map(|(d, v)| format!("    * {d} ({v})")).collect();
            let mut notices = vec![json!({"when": "before_verification", "text": format!(
                "The pact at {href} is being verified because the pact content belongs to the consumer version{} matching the following criteri{}:\n{}",
                if s.reasons.len() > 1 { "s" } else { "" },
                if s.reasons.len() > 1 { "a" } else { "on" },
                criteria.join("\n"),
            )})];
            let mut properties = json!({"notices": []});
            if request.include_pending_status {
                properties["pending"] = Value::Bool(s.pending);
                if s.pending {
                    notices.push(json!({"when": "before_verification", "text": format!(
                        "This pact is in pending state for this version of {p} because a successful verification result for {who} has not yet been published. If this verification fails, it will not cause the overall build to fail. Read more at https://docs.pact.io/go/pending"
                    )}));
                    notices.push(json!({"when": "after_verification:success_true_published_true", "text": format!(
                        "This pact is no longer in pending state for {who}, as a successful verification result has been published. If a verification for this pact fails in the future, it will fail the build. Read more at https://docs.pact.io/go/pending"
                    )}));
                    notices.push(json!({"when": "after_verification:success_false_published_true", "text": format!(
                        "This pact is still in pending state for {who} as the successful verification results have not yet been published."
                    )}));
                } else {
                    notices.push(json!({"when": "before_verification", "text": format!(
                        "This pact has previously been successfully verified by {who}. If this verification fails, it will fail the build. Read more at https://docs.pact.io/go/pending"
                    )}));
                }
            }
            properties["notices"] = Value::Array(notices);
            let short: Vec<String> = s.reasons.iter().map(|(d, _)| d.replace("latest version", "latest")).collect();
            json!({
                "shortDescription": short.join(", "),
                "verificationProperties": properties,
                "_links": {"self": {"href": href, "name": format!("Pact between {} ({}) and {}", x.consumer, x.version, x.provider)}},
            })
        })
        .collect();
    ok(json!({
        "_embedded": {"pacts": pacts},
        "_links": {"self": titled(format!("{}/pacts/provider/{}/for-verification", base.0, enc(&p)), "Pacts to be verified")},
    }))
}

// ---- verification results ---------------------------------------------------------------

fn verification_json(base: &Base, v: &Verification) -> Value {
    json!({
        "providerName": v.provider,
        "providerApplicationVersion": v.provider_version,
        "success": v.success,
        "verifiedAt": v.created_at,
        "buildUrl": v.build_url,
        "testResults": v.test_results,
        "verifiedBy": v.verified_by,
        "_links": {
            "self": {"title": "Verification result", "name": format!("Verification result {} for {} and {}", v.id, v.consumer, v.provider), "href": base.verification(v)},
            "pb:pact-version": {"title": "Pact", "name": v.sha, "href": base.pact_version(&v.provider, &v.consumer, &v.sha)},
            "pb:provider-version": {"title": "Provider version", "name": v.provider_version, "href": base.version(&v.provider, &v.provider_version)},
        }
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationRequest {
    success: bool,
    provider_application_version: String,
    build_url: Option<String>,
    #[serde(default)]
    test_results: Value,
    #[serde(default)]
    verified_by: Value,
}

async fn publish_verification(
    State(app): State<App>,
    base: Base,
    Path((p, c, sha)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let request: VerificationRequest = parse(&body)?;
    nonempty(
        "providerApplicationVersion",
        &request.provider_application_version,
    )?;
    if app.store.pact_by_sha(&c, &p, &sha).await?.is_none() {
        return Err(missing(format!(
            "no pact between {c} and {p} with content {sha}"
        )));
    }
    let v = app
        .store
        .add_verification(
            &p,
            &sha,
            &NewVerification {
                provider_version: request.provider_application_version,
                success: request.success,
                build_url: request.build_url,
                test_results: request.test_results,
                verified_by: request.verified_by,
            },
        )
        .await?
        .ok_or_else(|| missing(format!("no pact between {c} and {p} with content {sha}")))?;
    Ok(hal(StatusCode::CREATED, verification_json(&base, &v)))
}

async fn list_verifications(
    State(app): State<App>,
    base: Base,
    Path((p, c, sha)): Path<(String, String, String)>,
) -> ApiResult {
    let all: Vec<Value> = app
        .store
        .verifications_of(&sha)
        .await?
        .iter()
        .filter(|v| v.provider == p && v.consumer == c)
        .map(|v| verification_json(&base, v))
        .collect();
    ok(
        json!({"_embedded": {"verificationResults": all}, "_links": {"self": link(format!("{}/verification-results", base.pact_version(&p, &c, &sha)))}}),
    )
}

async fn get_verification(
    State(app): State<App>,
    base: Base,
    Path((p, c, sha, id)): Path<(String, String, String, i64)>,
) -> ApiResult {
    let v = app
        .store
        .verification(id)
        .await?
        .filter(|v| v.provider == p && v.consumer == c && v.sha == sha)
        .ok_or_else(|| missing(format!("no verification result {id}")))?;
    ok(verification_json(&base, &v))
}

// ---- environments and deployments ---------------------------------------------------------

fn environment_json(base: &Base, e: &Environment) -> Value {
    let href = base.environment(&e.uuid);
    json!({
        "uuid": e.uuid,
        "name": e.name,
        "displayName": e.display_name.clone().unwrap_or_else(|| e.name.clone()),
        "production": e.production,
        "contacts": [],
        "createdAt": e.created_at,
        "_links": {
            "self": {"title": "Environment", "name": e.name, "href": href},
            "pb:currently-deployed-deployed-versions": titled(format!("{href}/deployed-versions/currently-deployed"), "Versions currently deployed to this environment"),
        }
    })
}

async fn list_environments(
    State(app): State<App>,
    base: Base,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let name = query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.into_owned())
    });
    let all: Vec<Value> = app
        .store
        .environments()
        .await?
        .iter()
        .filter(|e| name.as_ref().is_none_or(|n| *n == e.name))
        .map(|e| environment_json(&base, e))
        .collect();
    ok(
        json!({"_embedded": {"environments": all}, "_links": {"self": link(format!("{}/environments", base.0))}}),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewEnvironment {
    name: String,
    display_name: Option<String>,
    #[serde(default)]
    production: bool,
}

async fn create_environment(State(app): State<App>, base: Base, body: Bytes) -> ApiResult {
    let request: NewEnvironment = parse(&body)?;
    nonempty("name", &request.name)?;
    if request.name.chars().any(char::is_whitespace) {
        return Err(bad(format!(
            "name {:?}: an environment's name has no spaces (give displayName for people)",
            request.name
        )));
    }
    let (env, created) = app
        .store
        .create_environment(
            &request.name,
            request.display_name.as_deref(),
            request.production,
        )
        .await?;
    if !created {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "an environment named {:?} exists already (uuid {})",
                env.name, env.uuid
            ),
        ));
    }
    Ok(hal(StatusCode::CREATED, environment_json(&base, &env)))
}

async fn get_environment(
    State(app): State<App>,
    base: Base,
    Path(uuid): Path<String>,
) -> ApiResult {
    let env = app
        .store
        .environment_by("uuid", &uuid)
        .await?
        .ok_or_else(|| missing(format!("no environment {uuid}")))?;
    ok(environment_json(&base, &env))
}

fn deployment_json(base: &Base, d: &Deployment) -> Value {
    json!({
        "uuid": d.uuid,
        "currentlyDeployed": d.undeployed_at.is_none(),
        "applicationInstance": d.application_instance,
        "target": d.target,
        "createdAt": d.created_at,
        "undeployedAt": d.undeployed_at,
        "_embedded": {
            "pacticipant": {"name": d.pacticipant, "_links": {"self": link(base.pacticipant(&d.pacticipant))}},
            "version": {"number": d.version, "_links": {"self": link(base.version(&d.pacticipant, &d.version))}},
            "environment": {"uuid": d.environment_uuid, "name": d.environment, "_links": {"self": link(base.environment(&d.environment_uuid))}},
        },
        "_links": {
            "self": link(format!("{}/deployed-versions/{}", base.0, d.uuid)),
            "pb:version": link(base.version(&d.pacticipant, &d.version)),
            "pb:environment": link(base.environment(&d.environment_uuid)),
        }
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeploymentFields {
    application_instance: Option<String>,
    target: Option<String>,
}

async fn record_deployment(
    State(app): State<App>,
    base: Base,
    Path((p, v, env)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let fields: DeploymentFields = if body.is_empty() {
        DeploymentFields::default()
    } else {
        parse(&body)?
    };
    if app.store.version(&p, &v).await?.is_none() {
        return Err(missing(format!(
            "no version {v} of {p}: publish it (or its pacts) first"
        )));
    }
    let instance = fields
        .application_instance
        .as_deref()
        .or(fields.target.as_deref());
    let d = app
        .store
        .record_deployment(&p, &v, &env, instance, fields.target.as_deref())
        .await?
        .ok_or_else(|| missing(format!("no environment {env}")))?;
    Ok(hal(StatusCode::CREATED, deployment_json(&base, &d)))
}

async fn currently_deployed(
    State(app): State<App>,
    base: Base,
    Path(env): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pacticipant = query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "pacticipant")
            .map(|(_, v)| v.into_owned())
    });
    if app.store.environment_by("uuid", &env).await?.is_none() {
        return Err(missing(format!("no environment {env}")));
    }
    let all: Vec<Value> = app
        .store
        .currently_deployed(&env, pacticipant.as_deref())
        .await?
        .iter()
        .map(|d| deployment_json(&base, d))
        .collect();
    ok(
        json!({"_embedded": {"deployedVersions": all}, "_links": {"self": link(format!("{}/deployed-versions/currently-deployed", base.environment(&env)))}}),
    )
}

// ---- matrix and can-i-deploy -----------------------------------------------------------------

/// `GET /matrix?q[][pacticipant]=P&q[][version]=V&latestby=cvpv&environment=E` as
/// pact-broker-cli asks it (one selector with a version, to an environment, to the latest
/// versions with `tag`, or to the latest versions with `latest=true`).
async fn get_matrix(State(app): State<App>, base: Base, RawQuery(query): RawQuery) -> ApiResult {
    let query = query.unwrap_or_default();
    let mut selectors: Vec<(String, Option<String>)> = Vec::new();
    let (mut environment, mut tag, mut latest) = (None, None, false);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "q[][pacticipant]" => selectors.push((value.into_owned(), None)),
            "q[][version]" => match selectors.last_mut() {
                Some(last) => last.1 = Some(value.into_owned()),
                None => return Err(bad("q[][version] comes after its q[][pacticipant]")),
            },
            "environment" => environment = Some(value.into_owned()),
            "tag" => tag = Some(value.into_owned()),
            "latest" => latest = value == "true",
            _ => {}
        }
    }
    let [(pacticipant, Some(version))] = &selectors[..] else {
        return Err(bad(
            "the matrix answers for one pacticipant version: give q[][pacticipant]=P&q[][version]=V (and environment=E, tag=T or latest=true)",
        ));
    };
    let target = target(environment, tag, latest)?;
    let answer = matrix::can_i_deploy(&app.store, pacticipant, version, &target).await?;
    ok(matrix_json(&base, &answer))
}

/// `GET /can-i-deploy?pacticipant=P&version=V&environment=E` (or `to=TAG`).
async fn get_can_i_deploy(
    State(app): State<App>,
    base: Base,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let query = query.unwrap_or_default();
    let get = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
    };
    let pacticipant = get("pacticipant").ok_or_else(|| bad("pacticipant is missing"))?;
    let version = get("version").ok_or_else(|| bad("version is missing"))?;
    let target = target(get("environment"), get("to"), false)?;
    let answer = matrix::can_i_deploy(&app.store, &pacticipant, &version, &target).await?;
    ok(matrix_json(&base, &answer))
}

fn target(
    environment: Option<String>,
    tag: Option<String>,
    latest: bool,
) -> Result<Target, ApiError> {
    Ok(match (environment, tag) {
        (Some(env), None) => Target::Environment(env),
        (None, Some(tag)) => Target::Latest(Some(tag)),
        (None, None) if latest => Target::Latest(None),
        (Some(_), Some(_)) => return Err(bad("give environment or tag, not both")),
        (None, None) => {
            return Err(bad(
                "give environment=E (or tag=T, or latest=true): where would the version go?",
            ));
        }
    })
}

fn matrix_json(base: &Base, answer: &Answer) -> Value {
    let rows: Vec<Value> = answer
        .rows
        .iter()
        .map(|r| {
            json!({
                "consumer": {"name": r.consumer, "version": {"number": r.consumer_version}, "_links": {"self": link(base.pacticipant(&r.consumer))}},
                "provider": {"name": r.provider, "version": r.provider_version.as_ref().map(|v| json!({"number": v})), "_links": {"self": link(base.pacticipant(&r.provider))}},
                "pact": {"createdAt": r.pact_created_at, "_links": {"self": link(base.pact_version(&r.provider, &r.consumer, &r.sha))}},
                "verificationResult": r.verification.as_ref().map(|v| json!({
                    "success": v.success,
                    "verifiedAt": v.created_at,
                    "failedInteractions": matrix::failed_interactions(&v.test_results),
                    "_links": {"self": link(base.verification(v))},
                })),
            })
        })
        .collect();
    let kind = |deployable: bool| if deployable { "success" } else { "error" };
    json!({
        "summary": {
            // As the reference broker: null (not false) while results are only missing, so
            // clients can wait for them (pact-broker-cli --retry-while-unknown).
            "deployable": if answer.deployable {
                json!(true)
            } else if answer.failed == 0 && answer.unknown > 0 {
                Value::Null
            } else {
                json!(false)
            },
            "reason": answer.reasons.join("\n"),
            "success": answer.success,
            "failed": answer.failed,
            "unknown": answer.unknown,
        },
        "notices": answer.reasons.iter().map(|r| json!({"type": kind(answer.deployable), "text": r})).collect::<Vec<_>>(),
        "matrix": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded_as_path_segments() {
        assert_eq!(enc("my app/feat x"), "my%20app%2Ffeat%20x");
        assert_eq!(enc("orders-1.2_3~"), "orders-1.2_3~");
    }

    #[test]
    fn the_same_pact_with_its_keys_reordered_has_one_sha() {
        let a = r#"{"consumer": {"name": "c"}, "provider": {"name": "p"}, "interactions": []}"#;
        let b = r#"{"interactions": [], "provider": {"name": "p"}, "consumer": {"name": "c"}}"#;
        assert_eq!(
            check_pact(a, "c", "p", "x").unwrap().0,
            check_pact(b, "c", "p", "x").unwrap().0
        );
        let err = check_pact(a, "c", "q", "contracts[0]").err().unwrap();
        assert!(err.1.contains("between c and p"), "{}", err.1);
        let err = check_pact("{\"consumer\":", "c", "p", "contracts[0]")
            .err()
            .unwrap();
        assert!(err.1.contains("line 1"), "{}", err.1);
    }
}
