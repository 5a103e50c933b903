//! Verification: `/pacts/provider/P/for-verification` (the pacts a provider version is to
//! verify, chosen by consumer version selectors, with pending status and the notices the
//! verifier prints) and a pact version's verification results, published and read back.

use std::collections::HashSet;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, App, Base, bad, enc, hal, link, missing, nonempty, ok, parse, titled};
use crate::{
    select::{self, Selector},
    store::{NewVerification, Verification},
};

pub(super) async fn for_verification_self(
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

pub(super) async fn for_verification(
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

pub(super) async fn publish_verification(
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

pub(super) async fn list_verifications(
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

pub(super) async fn get_verification(
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
