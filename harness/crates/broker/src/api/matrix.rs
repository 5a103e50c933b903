//! The matrix (`/matrix`, as pact-broker-cli asks it) and `/can-i-deploy`: a participant
//! version's query read into a [`Target`], answered by [`crate::matrix`], and rendered as
//! the reference broker's summary, notices and rows.

use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, App, Base, bad, link, ok};
use crate::matrix::{self, Answer, Target};

/// `GET /matrix?q[][pacticipant]=P&q[][version]=V&latestby=cvpv&environment=E` as
/// pact-broker-cli asks it (one selector with a version, to an environment, to the latest
/// versions with `tag`, or to the latest versions with `latest=true`).
pub(super) async fn get_matrix(
    State(app): State<App>,
    base: Base,
    RawQuery(query): RawQuery,
) -> ApiResult {
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
pub(super) async fn get_can_i_deploy(
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
