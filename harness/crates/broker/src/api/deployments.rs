//! Environments and deployments: `/environments` (listed, created, one by uuid), recording
//! a version as deployed to an environment, the versions currently deployed there, and a
//! deployed version by its uuid.

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, App, Base, bad, hal, link, missing, nonempty, ok, parse, titled};
use crate::store::{Deployment, Environment};

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

pub(super) async fn list_environments(
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

pub(super) async fn create_environment(
    State(app): State<App>,
    base: Base,
    body: Bytes,
) -> ApiResult {
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

pub(super) async fn get_environment(
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

pub(super) async fn record_deployment(
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

pub(super) async fn currently_deployed(
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

pub(super) async fn get_deployment(
    State(app): State<App>,
    base: Base,
    Path(uuid): Path<String>,
) -> ApiResult {
    let d = app
        .store
        .deployment(&uuid)
        .await?
        .ok_or_else(|| missing(format!("no deployed version {uuid}")))?;
    ok(deployment_json(&base, &d))
}
