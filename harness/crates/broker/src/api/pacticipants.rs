//! Participants and what hangs off them: `/pacticipants` and each participant, its
//! versions (the latest, the latest with a tag), a version's tags, its branches and a
//! branch's versions. A version links `pb:record-deployment` once per environment.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, App, Base, bad, enc, hal, link, missing, nonempty, ok, parse, template};
use crate::store::{Environment, Pacticipant, Version};

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

pub(super) async fn list_pacticipants(State(app): State<App>, base: Base) -> ApiResult {
    let all = app.store.pacticipants().await?;
    let items: Vec<Value> = all.iter().map(|p| pacticipant_json(&base, p)).collect();
    ok(json!({
        "pacticipants": items,
        "_embedded": {"pacticipants": items},
        "_links": {"self": link(format!("{}/pacticipants", base.0))},
    }))
}

pub(super) async fn get_pacticipant(
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

pub(super) async fn create_pacticipant(
    State(app): State<App>,
    base: Base,
    body: Bytes,
) -> ApiResult {
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

pub(super) async fn update_pacticipant(
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

pub(super) async fn list_versions(
    State(app): State<App>,
    base: Base,
    Path(name): Path<String>,
) -> ApiResult {
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

pub(super) async fn get_version(
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

pub(super) async fn put_version(
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

pub(super) async fn latest_version(
    State(app): State<App>,
    base: Base,
    Path(p): Path<String>,
) -> ApiResult {
    let v = app
        .store
        .latest_version(&p, None, None)
        .await?
        .ok_or_else(|| missing(format!("{p} has no versions")))?;
    ok(version_json(&base, &v, &app.store.environments().await?))
}

pub(super) async fn latest_tagged_version(
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

pub(super) async fn get_tag(
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

pub(super) async fn put_tag(
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

pub(super) async fn list_branches(
    State(app): State<App>,
    base: Base,
    Path(p): Path<String>,
) -> ApiResult {
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

pub(super) async fn get_branch(
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

fn branch_version_json(base: &Base, p: &str, b: &str, v: &str) -> Value {
    json!({
        "_links": {
            "self": link(format!("{}/branches/{}/versions/{}", base.pacticipant(p), enc(b), enc(v))),
            "pb:version": {"title": "Version", "name": v, "href": base.version(p, v)},
            "pb:branch": {"title": "Branch", "name": b, "href": format!("{}/branches/{}", base.pacticipant(p), enc(b))},
        }
    })
}

pub(super) async fn get_branch_version(
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

pub(super) async fn put_branch_version(
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
