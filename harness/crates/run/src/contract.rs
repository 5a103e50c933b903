//! `harness contract verify`: start the stack (or use what `attach` names), start the
//! provider-state program of harness.toml ([`states`](crate::states)), verify every provider
//! that has pacts, and return the typed reports ([`VerifyResult`]).
//!
//! With a broker (`VerifyOptions::broker` or `broker` in harness.toml) the pacts are those
//! the broker selects for each provider (`pb:provider-pacts-for-verification`, with pending
//! status, the consumer version selectors, the provider branch); failures of pending pacts
//! are reported, marked pending, and do not fail the verification; `publish_results` sends
//! each pact's result back.
//!
//! pact_verifier prints its own report on stdout; while it runs, stdout goes to
//! `<run>/pact-verifier.log` instead (the typed results carry everything in it).

use std::{collections::BTreeSet, io::Write as _, path::PathBuf, time::Duration};

use harness_core::Event;
use harness_pact::{
    BrokerSelection, NoPacts, PactSource, PublishResults, Verifier, VerifyReport,
    broker::BrokerAuth,
};
use harness_stack::Stack;

use crate::{Error, Result, Session, States, session::attach_all};

/// What `harness contract verify` verifies and how.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only this provider (as the pacts name it).
    pub provider: Option<String>,
    /// A pact file or a directory of pacts (default: `pacts` in harness.toml).
    pub pacts: Option<PathBuf>,
    /// A Pact Broker: the pacts it selects for each provider.
    pub broker: Option<String>,
    /// Consumer version selectors for the broker (JSON objects; default: harness.toml's,
    /// else the broker's).
    pub selectors: Vec<serde_json::Value>,
    /// The branch of the provider version verified (decides which pacts are pending).
    pub provider_branch: Option<String>,
    /// Publish each broker pact's verification result (needs `version`).
    pub publish_results: bool,
    /// The provider version verified, for `publish_results`.
    pub version: Option<String>,
    /// The URL of the build, published with the results.
    pub build_url: Option<String>,
    /// Already running services instead of containers: `NAME=URL`.
    pub attach: Vec<String>,
}

impl VerifyOptions {
    /// A consumer version selector given as JSON text (`--selector`).
    pub fn parse_selector(text: &str) -> Result<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--selector {text}: a selector is a JSON object, e.g. '{{\"mainBranch\": true}}'"
                ))
            })
    }
}

/// What a verification verifies: the pact sources (every pact already parsed once) and
/// the providers.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sources: Vec<PactSource>,
    pub providers: BTreeSet<String>,
}

/// The verification's outcome: one report per provider.
#[derive(Debug, Clone)]
pub struct VerifyResult {
    pub reports: Vec<VerifyReport>,
    /// From the session's start to the end of the verification.
    pub elapsed: Duration,
}

impl VerifyResult {
    /// Every provider passed (a pending pact's failures do not count).
    pub fn passed(&self) -> bool {
        self.reports.iter().all(VerifyReport::passed)
    }

    /// Results that were to be published and were not: the broker would answer
    /// can-i-deploy from stale data, so this is an environment error even when every
    /// interaction passed.
    pub fn undelivered(&self) -> Option<Error> {
        let unpublished: Vec<String> = self
            .reports
            .iter()
            .flat_map(|r| {
                r.pacts.iter().filter_map(move |p| match &p.published {
                    Some(Err(e)) => Some(format!("{} -> {}: {e}", p.consumer, r.provider)),
                    _ => None,
                })
            })
            .collect();
        (!unpublished.is_empty()).then(|| {
            Error::Environment(format!(
                "{} verification result(s) could not be published to the broker: {}",
                unpublished.len(),
                unpublished.join("; ")
            ))
        })
    }
}

/// Reads every pact first (a broken file is an input error) and decides the providers;
/// `None` when there is nothing to verify and harness.toml allows that.
pub fn plan(session: &Session, options: &VerifyOptions) -> Result<Option<Plan>> {
    let config = session.config();
    let contract = &config.contract;
    let selectors = if options.selectors.is_empty() {
        contract.selectors.clone()
    } else {
        options.selectors.clone()
    };
    if options.publish_results && options.version.is_none() {
        return Err(Error::Usage(
            "--publish-results needs --version V: the provider version the results are for"
                .to_owned(),
        ));
    }
    let broker = |url: &str| {
        PactSource::BrokerSelected(BrokerSelection {
            auth: BrokerAuth::from_env(),
            selectors: selectors.clone(),
            provider_branch: options.provider_branch.clone(),
            ..BrokerSelection::new(url)
        })
    };
    let mut sources = Vec::new();
    match (&options.pacts, &options.broker) {
        (Some(path), _) => sources.push(PactSource::path(path)),
        (None, Some(url)) => sources.push(broker(url)),
        (None, None) => {
            if let Some(path) = &contract.pacts {
                sources.push(PactSource::path(path));
            }
            if let Some(url) = &contract.broker {
                sources.push(broker(url));
            }
        }
    }
    if options.publish_results
        && !sources
            .iter()
            .any(|s| matches!(s, PactSource::BrokerSelected(_)))
    {
        return Err(Error::Usage(
            "--publish-results publishes to a broker: give --broker URL (or `broker` under [contract])"
                .to_owned(),
        ));
    }
    if sources.is_empty() {
        return Err(Error::Usage(format!(
            "no pacts to verify: give --pacts PATH or --broker URL, or set `pacts` under [contract] in {}",
            config.path.display()
        )));
    }

    // Parse every pact before anything starts: a broken file is an input error.
    let mut providers = BTreeSet::new();
    for source in &sources {
        for pact in harness_pact::source::load(source)? {
            providers.insert(pact.provider);
        }
    }
    // Pacts named on the command line say which providers to verify; otherwise every
    // provider harness.toml lists is verified too (one without pacts is reported).
    if options.pacts.is_none() {
        providers.extend(contract.providers.keys().cloned());
    }
    if let Some(only) = &options.provider {
        providers.retain(|p| p == only);
        providers.insert(only.clone());
    }
    if providers.is_empty() {
        let message = format!(
            "no provider to verify: the pacts name none and {} lists none under [contract.providers]",
            config.path.display()
        );
        if contract.fail_if_no_pacts {
            return Err(Error::NothingToCheck(message));
        }
        session.emit(Event::Notice {
            message: format!("{message} (allowed: if_no_pacts = \"pass\")"),
        });
        return Ok(None);
    }
    Ok(Some(Plan { sources, providers }))
}

/// `harness contract verify`: plans, starts the stack, verifies, removes the stack.
pub async fn verify(session: &Session, options: &VerifyOptions) -> Result<VerifyResult> {
    let Some(plan) = plan(session, options)? else {
        return Ok(VerifyResult {
            reports: Vec::new(),
            elapsed: session.elapsed(),
        });
    };
    let builder = attach_all(session.stack()?, &options.attach)?;
    let stack = session.start(builder).await?;
    let publish = options.publish_results.then(|| PublishResults {
        version: options.version.clone().unwrap_or_default(),
        branch: options.provider_branch.clone(),
        tags: Vec::new(),
        build_url: options.build_url.clone(),
    });
    let outcome = session
        .unless_interrupted(verify_on(session, &stack, &plan, publish.as_ref()))
        .await;
    stack.shutdown().await?;
    Ok(VerifyResult {
        reports: outcome?,
        elapsed: session.elapsed(),
    })
}

/// Verifies every provider of `plan` against `stack` (its services' URLs), with the
/// provider states of harness.toml.
pub async fn verify_on(
    session: &Session,
    stack: &Stack,
    plan: &Plan,
    publish: Option<&PublishResults>,
) -> Result<Vec<VerifyReport>> {
    let config = session.config();
    let contract = &config.contract;
    // Provider states: a program of the user's, or a URL.
    let (_program, states_url) = match &contract.states {
        None => (None, None),
        Some(States::Url(url)) => (None, Some(url.clone())),
        Some(States::Command {
            argv,
            ready_timeout,
        }) => {
            let (program, url) =
                crate::states::start(stack, &config.dir, argv, *ready_timeout).await?;
            (Some(program), Some(url))
        }
    };

    let log_path = stack.run_dir().join("pact-verifier.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", log_path.display())))?;
    let mut reports = Vec::new();
    for provider in &plan.providers {
        let settings = contract
            .providers
            .get(provider)
            .cloned()
            .unwrap_or_default();
        let service = settings.service.clone().unwrap_or_else(|| provider.clone());
        let url = stack.url(&service).map_err(|_| {
            Error::Usage(format!(
                "provider {provider}: the stack {} has no service {service} with a URL (set `service` under [contract.providers.{provider}] in {})",
                config.manifest.display(),
                config.path.display()
            ))
        })?;
        let mut verifier = Verifier::new(provider)
            .provider_url(&url)
            .timeout(contract.timeout)
            .state_timeout(contract.state_timeout)
            .if_no_pacts(if contract.fail_if_no_pacts {
                NoPacts::Fail
            } else {
                NoPacts::Pass
            })
            .events(session.events());
        for source in &plan.sources {
            verifier = verifier.pacts(source.clone());
        }
        if let Some(publish) = publish {
            verifier = verifier.publish_results(publish.clone());
        }
        if let Some(base) = &states_url {
            verifier = verifier
                .state_url(&format!("{base}{}", harness_pact::serve::STATES_PATH))
                .message_url(&format!("{base}{}", harness_pact::serve::MESSAGES_PATH));
        }
        for (name, value) in &settings.headers {
            verifier = verifier.header(name, value);
        }
        // The verifier prints its own report on stdout: into the log while it runs.
        let _ = std::io::stdout().flush();
        let redirect = log
            .try_clone()
            .map_err(|e| e.to_string())
            .and_then(|f| gag::Redirect::stdout(f).map_err(|e| e.to_string()));
        if let Err(e) = &redirect {
            session.emit(Event::Warning {
                message: format!(
                    "cannot send the verifier's own report to {}: {e}",
                    log_path.display()
                ),
            });
        }
        let report = verifier.verify().await;
        let _ = std::io::stdout().flush();
        drop(redirect);
        reports.push(report?);
    }
    session.emit(Event::Notice {
        message: format!("pact verifier output: {}", log_path.display()),
    });
    Ok(reports)
}
