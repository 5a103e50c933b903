//! The matrix and can-i-deploy: may version V of a participant go to an environment?
//!
//! The rows are the integrations the version takes part in there:
//! - as a consumer, each provider it has a pact with, against the provider version(s)
//!   currently deployed to the environment (a row with no provider version when none is);
//! - as a provider, each consumer version currently deployed there whose pact names it.
//!
//! Each row carries the latest verification of the pact's content by that provider version.
//! The version is deployable when every row has a successful one. The reasons are worded as
//! the reference broker words them, and a failed verification names its failed interactions.

use serde_json::Value;

use crate::{
    error::{Error, Result},
    store::{Store, Verification},
};

/// One integration of the version being asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub consumer: String,
    pub consumer_version: String,
    pub provider: String,
    /// `None`: no version of the provider is deployed to the environment.
    pub provider_version: Option<String>,
    pub sha: String,
    pub pact_created_at: String,
    pub verification: Option<Verification>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub deployable: bool,
    pub reasons: Vec<String>,
    pub success: usize,
    pub failed: usize,
    pub unknown: usize,
    pub rows: Vec<Row>,
}

/// Where the version would go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An environment, by name: against the versions currently deployed there.
    Environment(String),
    /// Against the latest version of each other participant (with the tag, if given).
    Latest(Option<String>),
}

impl Target {
    /// How the reasons name the other side's version ("the version of P {place}").
    fn place(&self) -> String {
        match self {
            Target::Environment(env) => format!("currently in {env}"),
            Target::Latest(None) => "that is the latest".to_owned(),
            Target::Latest(Some(tag)) => format!("that is the latest with tag {tag}"),
        }
    }
}

/// Asks the store: may `version` of `pacticipant` go to `target`?
pub async fn can_i_deploy(
    store: &Store,
    pacticipant: &str,
    version: &str,
    target: &Target,
) -> Result<Answer> {
    let environment = match target {
        Target::Environment(name) => Some(store.environment_by("name", name).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "no environment named {name:?}: create it (POST /environments) or record a deployment to it"
            ))
        })?),
        Target::Latest(_) => None,
    };
    // The versions of `other` at the target.
    let versions_of = async |other: &str| -> Result<Vec<String>> {
        Ok(match (&environment, target) {
            (Some(env), _) => store
                .currently_deployed(&env.uuid, Some(other))
                .await?
                .into_iter()
                .map(|d| d.version)
                .collect(),
            (None, Target::Latest(tag)) => store
                .latest_version(other, None, tag.as_deref())
                .await?
                .map(|v| v.number)
                .into_iter()
                .collect(),
            (None, Target::Environment(_)) => Vec::new(),
        })
    };
    let known = store.version(pacticipant, version).await?.is_some();
    let mut rows = Vec::new();
    // As a consumer.
    for publication in store.publications_of_version(pacticipant, version).await? {
        let deployed = versions_of(&publication.provider).await?;
        let verifications = store.verifications_of(&publication.sha).await?;
        let row = |provider_version: Option<String>| Row {
            consumer: pacticipant.to_owned(),
            consumer_version: version.to_owned(),
            provider: publication.provider.clone(),
            verification: provider_version.as_ref().and_then(|pv| {
                verifications
                    .iter()
                    .find(|v| &v.provider_version == pv)
                    .cloned()
            }),
            provider_version,
            sha: publication.sha.clone(),
            pact_created_at: publication.created_at.clone(),
        };
        if deployed.is_empty() {
            rows.push(row(None));
        }
        for d in deployed {
            rows.push(row(Some(d)));
        }
    }
    // As a provider: the consumer versions at the target whose pacts name it.
    let mut consumers: Vec<(String, String)> = Vec::new();
    if let Some(env) = &environment {
        for d in store.currently_deployed(&env.uuid, None).await? {
            consumers.push((d.pacticipant, d.version));
        }
    } else {
        let mut names: Vec<String> = store
            .publications_for_provider(pacticipant)
            .await?
            .into_iter()
            .map(|p| p.consumer)
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            for v in versions_of(&name).await? {
                consumers.push((name.clone(), v));
            }
        }
    }
    for (consumer, consumer_version) in consumers {
        if consumer == pacticipant {
            continue;
        }
        for publication in store
            .publications_of_version(&consumer, &consumer_version)
            .await?
            .into_iter()
            .filter(|p| p.provider == pacticipant)
        {
            let verification = store
                .verifications_of(&publication.sha)
                .await?
                .into_iter()
                .find(|v| v.provider_version == version);
            rows.push(Row {
                consumer: consumer.clone(),
                consumer_version: consumer_version.clone(),
                provider: pacticipant.to_owned(),
                provider_version: Some(version.to_owned()),
                sha: publication.sha,
                pact_created_at: publication.created_at,
                verification,
            });
        }
    }
    Ok(judge(pacticipant, version, known, &target.place(), rows))
}

/// The answer for the rows (see the module docs).
pub fn judge(pacticipant: &str, version: &str, known: bool, place: &str, rows: Vec<Row>) -> Answer {
    let mut reasons = Vec::new();
    let (mut success, mut failed, mut unknown) = (0, 0, 0);
    for row in &rows {
        match (&row.provider_version, &row.verification) {
            (_, Some(v)) if v.success => success += 1,
            (Some(pv), Some(v)) => {
                failed += 1;
                let interactions = failed_interactions(&v.test_results);
                reasons.push(format!(
                    "The verification for the pact between version {} of {} and version {pv} of {} failed{}",
                    row.consumer_version,
                    row.consumer,
                    row.provider,
                    if interactions.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ": {}",
                            interactions
                                .iter()
                                .map(|i| format!("{i:?}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ));
            }
            (Some(pv), None) => {
                unknown += 1;
                reasons.push(format!(
                    "There is no verified pact between version {} of {} and version {pv} of {}",
                    row.consumer_version, row.consumer, row.provider
                ));
            }
            (None, _) => {
                unknown += 1;
                reasons.push(format!(
                    "There is no verified pact between version {} of {} and the version of {} {place} \
                     (there is no such version of {})",
                    row.consumer_version, row.consumer, row.provider, row.provider
                ));
            }
        }
    }
    let deployable = known && failed == 0 && unknown == 0;
    if !known {
        reasons.insert(
            0,
            format!("No pacts or verifications have been published for version {version} of {pacticipant}"),
        );
    } else if deployable {
        reasons.push(if rows.is_empty() {
            "There are no missing dependencies".to_owned()
        } else {
            "All required verification results are published and successful".to_owned()
        });
    }
    Answer {
        deployable,
        reasons,
        success,
        failed,
        unknown,
        rows,
    }
}

/// The descriptions of the interactions a verification failed, from its test results
/// (pact_verifier sends `testResults: [{interactionId, interactionDescription, success}]`).
pub fn failed_interactions(test_results: &Value) -> Vec<String> {
    test_results
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["success"] == Value::Bool(false))
        .map(|r| {
            r["interactionDescription"]
                .as_str()
                .or_else(|| r["description"].as_str())
                .or_else(|| r["interactionId"].as_str())
                .unwrap_or("an interaction")
                .to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(provider_version: Option<&str>, success: Option<bool>) -> Row {
        Row {
            consumer: "web".into(),
            consumer_version: "1".into(),
            provider: "api".into(),
            provider_version: provider_version.map(str::to_owned),
            sha: "abc".into(),
            pact_created_at: String::new(),
            verification: success.map(|success| Verification {
                id: 1,
                pact_version_id: 1,
                sha: "abc".into(),
                consumer: "web".into(),
                provider: "api".into(),
                provider_version: provider_version.unwrap_or("?").into(),
                provider_version_id: 1,
                success,
                build_url: None,
                test_results: serde_json::json!([
                    {"interactionId": "1", "interactionDescription": "a request for stock", "success": success},
                ]),
                verified_by: Value::Null,
                created_at: String::new(),
            }),
        }
    }

    #[test]
    fn deployable_only_when_every_row_is_verified_successfully() {
        let yes = judge(
            "web",
            "1",
            true,
            "currently in prod",
            vec![row(Some("2"), Some(true))],
        );
        assert!(yes.deployable, "{yes:?}");
        assert_eq!(
            yes.reasons,
            ["All required verification results are published and successful"]
        );

        let failed = judge(
            "web",
            "1",
            true,
            "currently in prod",
            vec![row(Some("2"), Some(false))],
        );
        assert!(!failed.deployable);
        assert!(
            failed.reasons[0].contains("\"a request for stock\""),
            "{failed:?}"
        );

        let never = judge(
            "web",
            "1",
            true,
            "currently in prod",
            vec![row(Some("2"), None)],
        );
        assert!(!never.deployable);
        assert_eq!(never.unknown, 1);
        assert!(never.reasons[0].starts_with("There is no verified pact"));

        let no_provider = judge("web", "1", true, "currently in prod", vec![row(None, None)]);
        assert!(!no_provider.deployable);
        assert!(no_provider.reasons[0].contains("currently in prod"));

        let unknown = judge("web", "9", false, "currently in prod", Vec::new());
        assert!(!unknown.deployable);
        assert!(unknown.reasons[0].contains("No pacts or verifications"));
    }
}
