//! A provider's latest pacts from a Pact Broker, through its HAL API: the root's
//! `pb:latest-provider-pacts` link, then each pact it lists. Fetched here rather than by
//! pact_verifier so every pact is parsed and verified on its own like a file (its URL is
//! the result's source), an unreachable broker is an environment error, and a provider the
//! broker has no pacts for is "no pacts".

use serde_json::Value;

use crate::error::{Error, Result};

const ACCEPT: &str = "application/hal+json, application/json";

/// `(pact URL, pact text)` for each latest pact of `provider`; empty when the broker has
/// none.
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
    let encoded: String = form_urlencoded::byte_serialize(provider.as_bytes()).collect();
    let latest = template.replace("{provider}", &encoded);
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
