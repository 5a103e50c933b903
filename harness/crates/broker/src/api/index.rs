//! The index (`/`), the HAL entry point whose links name every other resource, or the page
//! for people when a browser asks; and the health endpoints (`/health`,
//! `/diagnostic/status/heartbeat`), which answer once the database does.

use axum::{
    extract::State,
    http::{HeaderMap, header},
    response::{Html, IntoResponse},
};
use serde_json::json;

use super::{ApiResult, App, Base, ok, template, titled};
use crate::page;

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

pub(super) async fn index(State(app): State<App>, base: Base, headers: HeaderMap) -> ApiResult {
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

pub(super) async fn health(State(app): State<App>) -> ApiResult {
    app.store.ping().await?;
    ok(json!({"ok": true, "status": "ok"}))
}
