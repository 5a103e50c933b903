//! Pacts for verification: which consumer versions' pacts a provider must verify, from the
//! consumer version selectors the verifier sends, and which of them are pending.
//!
//! The rules follow the reference Pact Broker:
//! - `mainBranch`: the latest version of each consumer on that consumer's main branch;
//! - `branch`: the latest version on that branch (every version with `latest: false`),
//!   else on `fallbackBranch`;
//! - `matchingBranch`: `branch` with the provider version's branch;
//! - `tag` with `latest: true`: the latest version with the tag (every one without it);
//! - `latest: true` alone: the latest version of each consumer;
//! - `deployed`, `released`, `deployedOrReleased`, `environment`: the versions currently
//!   deployed (to that environment). Harness records deployments only, so `released`
//!   selects deployed versions;
//! - `consumer` narrows any of them to one consumer (alone: its latest version).
//!
//! With no selectors, the reference broker's defaults apply: for each consumer, the latest
//! version on its main branch (else its latest version), and every version currently
//! deployed. Pacts with the same content are verified once, with every selector that chose
//! them. A pact is pending until its content has been verified successfully by a provider
//! version on the verifying branch, or by any provider version before that branch was
//! created (or at all, when no branch is given), as in the reference broker: a new
//! provider branch inherits what its parent verified, and a failing pending pact is reported
//! without failing the build.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    store::{Publication, Verification},
};

/// A consumer version selector, as the verifier sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_branch: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching_branch: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_or_released: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl Selector {
    fn deployment(&self) -> bool {
        self.deployed == Some(true)
            || self.released == Some(true)
            || self.deployed_or_released == Some(true)
            || self.environment.is_some()
    }

    /// Refuses selectors that select nothing or mix what cannot be mixed (the reason is
    /// the 400's text).
    pub fn check(&self) -> Result<()> {
        let kinds = [
            self.main_branch == Some(true),
            self.branch.is_some(),
            self.matching_branch == Some(true),
            self.tag.is_some(),
            self.deployment(),
        ]
        .iter()
        .filter(|k| **k)
        .count();
        let bad = |why: &str| {
            Err(Error::BadRequest(format!(
                "consumerVersionSelectors: {why}: {}",
                serde_json::to_string(self).unwrap_or_default()
            )))
        };
        if kinds > 1 {
            return bad(
                "a selector has one of mainBranch, branch, matchingBranch, tag, deployed/released/environment",
            );
        }
        if kinds == 0 && self.latest != Some(true) && self.consumer.is_none() {
            return bad(
                "a selector needs mainBranch, branch, matchingBranch, tag, deployed, environment, latest or consumer",
            );
        }
        if self.fallback_branch.is_some() && self.branch.is_none() {
            return bad("fallbackBranch needs branch");
        }
        if self.fallback_tag.is_some() && self.tag.is_none() {
            return bad("fallbackTag needs tag");
        }
        Ok(())
    }

    /// How the reference broker words the selector in its notices.
    pub fn describe(&self, provider_branch: Option<&str>) -> String {
        let what = if self.main_branch == Some(true) {
            "latest version from the main branch".to_owned()
        } else if let Some(branch) = &self.branch {
            if self.latest == Some(false) {
                format!("all versions from branch '{branch}'")
            } else {
                format!("latest version from branch '{branch}'")
            }
        } else if self.matching_branch == Some(true) {
            format!(
                "latest version from a branch matching the provider's branch '{}'",
                provider_branch.unwrap_or("")
            )
        } else if let Some(tag) = &self.tag {
            if self.latest == Some(true) {
                format!("latest version tagged '{tag}'")
            } else {
                format!("all versions tagged '{tag}'")
            }
        } else if self.deployment() {
            match &self.environment {
                Some(env) => format!("version(s) currently deployed to {env}"),
                None => "version(s) currently deployed".to_owned(),
            }
        } else {
            "latest version".to_owned()
        };
        match &self.consumer {
            Some(c) => format!("{what} of {c}"),
            None => what,
        }
    }
}

/// The selectors used when a verifier sends none: the main branch's latest version and the
/// deployed versions. A consumer with nothing on a main branch gets its latest version (see
/// [`select`]).
pub fn default_selectors() -> Vec<Selector> {
    vec![
        Selector {
            main_branch: Some(true),
            ..Selector::default()
        },
        Selector {
            deployed: Some(true),
            ..Selector::default()
        },
    ]
}

/// A pact (one content) chosen for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The latest publication of this content among those selected.
    pub publication: Publication,
    /// Why: each selector's description with the consumer version it chose.
    pub reasons: Vec<(String, String)>,
    pub pending: bool,
}

/// Chooses the pacts to verify from every publication with the provider (latest first).
/// For pending: `provider_versions_on_branch` holds the ids of provider versions on the
/// verifying branch, `branch_created_at` when that branch was created (`None`: it does not
/// exist yet).
pub fn select(
    publications: &[Publication],
    selectors: &[Selector],
    provider_branch: Option<&str>,
    verifications: &[Verification],
    provider_versions_on_branch: &HashSet<i64>,
    branch_created_at: Option<&str>,
) -> Vec<Selected> {
    let mut defaults = default_selectors();
    if selectors.is_empty() {
        // Consumers without a version on a main branch: their latest version.
        let main = choose(publications, &defaults[0], provider_branch);
        let mut others: Vec<&str> = publications
            .iter()
            .map(|p| p.consumer.as_str())
            .filter(|c| !main.iter().any(|m| m.consumer == *c))
            .collect();
        others.dedup();
        for consumer in others {
            defaults.push(Selector {
                latest: Some(true),
                consumer: Some(consumer.to_owned()),
                ..Selector::default()
            });
        }
    }
    let selectors = if selectors.is_empty() {
        &defaults[..]
    } else {
        selectors
    };
    // By content, in order of first choice.
    let mut chosen: BTreeMap<String, (usize, Selected)> = BTreeMap::new();
    for selector in selectors {
        let description = selector.describe(provider_branch);
        for p in choose(publications, selector, provider_branch) {
            let order = chosen.len();
            let entry = chosen.entry(p.sha.clone()).or_insert_with(|| {
                (
                    order,
                    Selected {
                        publication: p.clone(),
                        reasons: Vec::new(),
                        pending: false,
                    },
                )
            });
            if p.version_id > entry.1.publication.version_id {
                entry.1.publication = p.clone();
            }
            let reason = (description.clone(), p.version.clone());
            if !entry.1.reasons.contains(&reason) {
                entry.1.reasons.push(reason);
            }
        }
    }
    let mut selected: Vec<(usize, Selected)> = chosen.into_values().collect();
    selected.sort_by_key(|(order, _)| *order);
    selected
        .into_iter()
        .map(|(_, mut s)| {
            s.pending = !verifications.iter().any(|v| {
                v.pact_version_id == s.publication.pact_version_id
                    && v.success
                    && (provider_branch.is_none()
                        || provider_versions_on_branch.contains(&v.provider_version_id)
                        || branch_created_at.is_none_or(|t| v.created_at.as_str() < t))
            });
            s
        })
        .collect()
}

/// The publications one selector chooses.
fn choose<'a>(
    publications: &'a [Publication],
    selector: &Selector,
    provider_branch: Option<&str>,
) -> Vec<&'a Publication> {
    let of_consumer =
        |p: &&Publication| selector.consumer.as_ref().is_none_or(|c| *c == p.consumer);
    let candidates: Vec<&Publication> = publications.iter().filter(of_consumer).collect();
    // The first (latest) publication of each consumer that `keep` accepts.
    let latest_per_consumer = |keep: &dyn Fn(&Publication) -> bool| -> Vec<&'a Publication> {
        let mut seen = HashSet::new();
        candidates
            .iter()
            .filter(|p| keep(p) && seen.insert(p.consumer.clone()))
            .copied()
            .collect()
    };
    let all = |keep: &dyn Fn(&Publication) -> bool| -> Vec<&'a Publication> {
        candidates.iter().filter(|p| keep(p)).copied().collect()
    };
    let on_branch = |branch: &str| {
        let branch = branch.to_owned();
        move |p: &Publication| p.branches.contains(&branch)
    };
    if selector.main_branch == Some(true) {
        return latest_per_consumer(&|p| {
            p.consumer_main_branch
                .as_ref()
                .is_some_and(|main| p.branches.contains(main))
        });
    }
    let branch = match (&selector.branch, selector.matching_branch) {
        (Some(b), _) => Some(b.as_str()),
        (None, Some(true)) => match provider_branch {
            Some(b) => Some(b),
            None => return Vec::new(),
        },
        _ => None,
    };
    if let Some(branch) = branch {
        let found = if selector.latest == Some(false) {
            all(&on_branch(branch))
        } else {
            latest_per_consumer(&on_branch(branch))
        };
        if found.is_empty()
            && let Some(fallback) = &selector.fallback_branch
        {
            return latest_per_consumer(&on_branch(fallback));
        }
        return found;
    }
    if let Some(tag) = &selector.tag {
        let tagged = |t: &str| {
            let t = t.to_owned();
            move |p: &Publication| p.tags.contains(&t)
        };
        let found = if selector.latest == Some(true) {
            latest_per_consumer(&tagged(tag))
        } else {
            all(&tagged(tag))
        };
        if found.is_empty()
            && let Some(fallback) = &selector.fallback_tag
        {
            return latest_per_consumer(&tagged(fallback));
        }
        return found;
    }
    if selector.deployment() {
        return all(&|p| match &selector.environment {
            Some(env) => p.deployed_in.contains(env),
            None => !p.deployed_in.is_empty(),
        });
    }
    latest_per_consumer(&|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(consumer: &str, version_id: i64, sha: &str, branches: &[&str]) -> Publication {
        Publication {
            id: version_id,
            consumer: consumer.into(),
            consumer_main_branch: Some("main".into()),
            provider: "p".into(),
            version_id,
            version: format!("{consumer}-{version_id}"),
            branches: branches.iter().map(|b| (*b).to_owned()).collect(),
            tags: Vec::new(),
            deployed_in: Vec::new(),
            pact_version_id: sha.len() as i64,
            sha: sha.into(),
            created_at: String::new(),
        }
    }

    fn selector(json: &str) -> Selector {
        let s: Selector = serde_json::from_str(json).unwrap();
        s.check().unwrap();
        s
    }

    #[test]
    fn main_branch_branch_and_matching_branch_choose_the_latest_version_there() {
        // Latest first, as the store lists them.
        let mut deployed = publication("web", 3, "ccc", &["feat-x"]);
        deployed.deployed_in = vec!["production".into()];
        let pubs = vec![
            deployed,
            publication("web", 2, "bb", &["main"]),
            publication("web", 1, "a", &["main"]),
            publication("app", 4, "dddd", &["feat-x"]),
        ];
        let versions = |selectors: &[Selector], branch: Option<&str>| -> Vec<String> {
            select(&pubs, selectors, branch, &[], &HashSet::new(), None)
                .into_iter()
                .map(|s| s.publication.version)
                .collect()
        };
        assert_eq!(
            versions(&[selector(r#"{"mainBranch": true}"#)], None),
            ["web-2"]
        );
        assert_eq!(
            versions(&[selector(r#"{"branch": "feat-x"}"#)], None),
            ["web-3", "app-4"]
        );
        assert_eq!(
            versions(&[selector(r#"{"matchingBranch": true}"#)], Some("feat-x")),
            ["web-3", "app-4"]
        );
        assert!(versions(&[selector(r#"{"matchingBranch": true}"#)], None).is_empty());
        assert_eq!(
            versions(
                &[selector(
                    r#"{"deployed": true, "environment": "production"}"#
                )],
                None
            ),
            ["web-3"]
        );
        assert_eq!(
            versions(&[selector(r#"{"latest": true, "consumer": "app"}"#)], None),
            ["app-4"]
        );
        assert_eq!(
            versions(&[selector(r#"{"branch": "main", "latest": false}"#)], None),
            ["web-2", "web-1"]
        );
        assert_eq!(
            versions(
                &[selector(r#"{"branch": "nope", "fallbackBranch": "main"}"#)],
                None
            ),
            ["web-2"]
        );
        // No selectors: the main branch's latest (web), the deployed versions (web 3), and
        // the latest of a consumer with nothing on its main branch (app).
        assert_eq!(versions(&[], None), ["web-2", "web-3", "app-4"]);
    }

    #[test]
    fn the_same_content_is_verified_once_with_every_reason() {
        let pubs = vec![
            publication("web", 2, "same", &["main"]),
            publication("web", 1, "same", &["feat"]),
        ];
        let chosen = select(
            &pubs,
            &[
                selector(r#"{"mainBranch": true}"#),
                selector(r#"{"branch": "feat"}"#),
            ],
            None,
            &[],
            &HashSet::new(),
            None,
        );
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].publication.version, "web-2");
        assert_eq!(
            chosen[0].reasons,
            [
                (
                    "latest version from the main branch".to_owned(),
                    "web-2".to_owned()
                ),
                (
                    "latest version from branch 'feat'".to_owned(),
                    "web-1".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_pact_is_pending_until_verified_successfully_from_the_branch() {
        let pubs = vec![publication("web", 1, "abc", &["main"])];
        let verification = |success: bool, provider_version_id: i64| Verification {
            id: 1,
            pact_version_id: 3,
            sha: "abc".into(),
            consumer: "web".into(),
            provider: "p".into(),
            provider_version: "1".into(),
            provider_version_id,
            success,
            build_url: None,
            test_results: serde_json::Value::Null,
            verified_by: serde_json::Value::Null,
            created_at: "2026-01-02T00:00:00Z".into(),
        };
        let pending = |verifications: &[Verification],
                       branch: Option<&str>,
                       on_branch: &[i64],
                       branch_created: Option<&str>| {
            select(
                &pubs,
                &[],
                branch,
                verifications,
                &on_branch.iter().copied().collect(),
                branch_created,
            )[0]
            .pending
        };
        let earlier = Some("2026-01-01T00:00:00Z");
        assert!(pending(&[], Some("main"), &[], earlier));
        assert!(pending(
            &[verification(false, 7)],
            Some("main"),
            &[7],
            earlier
        ));
        assert!(!pending(
            &[verification(true, 7)],
            Some("main"),
            &[7],
            earlier
        ));
        // Verified from another branch after this one was created: still pending here.
        assert!(pending(
            &[verification(true, 7)],
            Some("feat"),
            &[8],
            earlier
        ));
        // ... but a branch created after that verification (or not yet) inherits it.
        assert!(!pending(
            &[verification(true, 7)],
            Some("feat"),
            &[8],
            Some("2026-01-03T00:00:00Z")
        ));
        assert!(!pending(&[verification(true, 7)], Some("feat"), &[8], None));
        assert!(!pending(&[verification(true, 7)], None, &[], None));
    }

    #[test]
    fn selectors_that_select_nothing_or_mix_kinds_are_refused() {
        for bad in [
            r#"{}"#,
            r#"{"mainBranch": true, "branch": "x"}"#,
            r#"{"fallbackBranch": "x"}"#,
            r#"{"tag": "x", "deployed": true}"#,
        ] {
            let s: Selector = serde_json::from_str(bad).unwrap();
            let err = s.check().unwrap_err().to_string();
            assert!(err.starts_with("consumerVersionSelectors"), "{bad}: {err}");
        }
    }
}
