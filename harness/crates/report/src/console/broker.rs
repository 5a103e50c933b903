//! The broker commands' results: what a publication said, a recorded deployment, and
//! can-i-deploy's verdict with the matrix behind it and the interactions that failed.

use std::fmt::Write as _;

use harness_core::broker::{CanIDeploy, Deployment, Notice};

use super::columns;

/// One consumer's publication: `published web version 1.2 (branch main) to URL: its pacts
/// with A, B`, then the broker's notices.
pub fn published(
    consumer: &str,
    version: &str,
    branch: Option<&str>,
    broker: &str,
    providers: &[String],
    notices: &[Notice],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "published {consumer} version {version}{} to {broker}: its pacts with {}",
        branch.map(|b| format!(" (branch {b})")).unwrap_or_default(),
        providers.join(", ")
    );
    for notice in notices {
        let _ = writeln!(out, "  {}: {}", notice.kind, notice.text.trim());
    }
    out
}

/// A recorded deployment (and the environment, when it was created for it).
pub fn deployment_recorded(broker: &str, d: &Deployment) -> String {
    let mut out = String::new();
    if d.environment_created {
        let _ = writeln!(out, "created environment {} in {broker}", d.environment);
    }
    let _ = writeln!(
        out,
        "recorded the deployment of {} version {} to {}{}",
        d.pacticipant,
        d.version,
        d.environment,
        d.application_instance
            .as_ref()
            .map(|i| format!(" (application instance {i})"))
            .unwrap_or_default()
    );
    out
}

/// can-i-deploy's answer for `pacticipant` `version` going to `environment`.
pub fn can_i_deploy(
    pacticipant: &str,
    version: &str,
    environment: &str,
    answer: &CanIDeploy,
) -> String {
    let mut out = String::new();
    let mut rows = vec![[
        "consumer".to_owned(),
        "version".to_owned(),
        "provider".to_owned(),
        "version".to_owned(),
        "verification".to_owned(),
    ]];
    for r in &answer.rows {
        rows.push([
            r.consumer.clone(),
            r.consumer_version.clone(),
            r.provider.clone(),
            r.provider_version.clone().unwrap_or_else(|| "-".to_owned()),
            match &r.verification {
                None => "not verified".to_owned(),
                Some(v) if v.success => "passed".to_owned(),
                Some(v) => format!("FAILED ({} interaction(s))", v.failed_interactions.len()),
            },
        ]);
    }
    if answer.rows.is_empty() {
        let _ = writeln!(out, "no pacts involve {pacticipant} {version}");
    } else {
        let _ = writeln!(out, "{}", columns(&rows));
    }
    for r in &answer.rows {
        if let Some(v) = &r.verification
            && !v.success
        {
            let _ = writeln!(
                out,
                "\n{} {} -> {} {} failed{}:",
                r.consumer,
                r.consumer_version,
                r.provider,
                r.provider_version.as_deref().unwrap_or("-"),
                v.verified_at
                    .as_ref()
                    .map(|t| format!(" (verified at {t})"))
                    .unwrap_or_default()
            );
            for i in &v.failed_interactions {
                let _ = writeln!(out, "  - {i}");
            }
        }
    }
    let _ = writeln!(out);
    for reason in &answer.reasons {
        let _ = writeln!(out, "{reason}");
    }
    let _ = writeln!(
        out,
        "\ncan-i-deploy {pacticipant} {version} to {environment}: {}",
        if answer.deployable { "yes" } else { "NO" }
    );
    out
}
