//! Pacts as served: by content (`pact-version/SHA`), by consumer version, the latest of a
//! pair, of a provider, and of every pair. A served pact carries the links the verifier
//! follows and an `_id` per interaction; [`canonical`] and [`hex`] make a pact's sha and
//! those ids, for publishing too.

use std::collections::HashSet;

use axum::extract::{Path, State};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{ApiResult, App, Base, enc, link, missing, ok, titled};
use crate::store::Publication;

/// The value with every object's keys sorted.
pub(super) fn canonical(value: &Value) -> Value {
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

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A pact as served: its content, each interaction with an `_id` (verification results
/// name interactions by it), and the links the verifier follows.
pub(super) fn pact_body(
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

pub(super) async fn pact_version(
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

pub(super) async fn pact_of_version(
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

pub(super) async fn latest_pact(
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

pub(super) async fn latest_provider_pacts(
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

pub(super) async fn latest_pacts(State(app): State<App>, base: Base) -> ApiResult {
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
