//! Publishing: `POST /contracts/publish` (a consumer version's pacts, branch and tags in
//! one request, as pact-broker-cli sends them) and the older `PUT` of one pact to
//! `/pacts/provider/P/consumer/C/version/V`. Each pact is checked against the names it is
//! published under before anything is stored.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    ApiError, ApiResult, App, Base, bad, enc, hal, missing, nonempty, ok,
    pacts::{canonical, hex, pact_body},
    parse,
};
use crate::store::{NewPact, PactChange};

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

pub(super) async fn publish_contracts(
    State(app): State<App>,
    base: Base,
    body: Bytes,
) -> ApiResult {
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
pub(super) async fn publish_pact(
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

#[cfg(test)]
mod tests {
    use super::*;

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
