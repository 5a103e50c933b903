//! The broker commands: `harness contract publish`, `record-deployment` and `can-i-deploy`
//! on any Pact Broker, through harness-pact's [`BrokerClient`]. No stack and no run folder:
//! these only talk to the broker.
//!
//! The broker's URL is the options' `broker` (the CLI fills it from `--broker`, else
//! `PACT_BROKER_BASE_URL`), else `broker` under `[contract]` in harness.toml (read only when
//! needed); its credential `PACT_BROKER_TOKEN`, else `PACT_BROKER_USERNAME` /
//! `PACT_BROKER_PASSWORD` (as Pact's own tools read them).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use harness_core::broker::{CanIDeploy, Deployment, Notice};
use harness_pact::broker::{BrokerAuth, BrokerClient, Publication};

use crate::{Config, Error, Result};

/// Which broker, and the harness.toml to fall back on.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// The broker's URL (default: `broker` under `[contract]` in harness.toml).
    pub broker: Option<String>,
    /// The harness.toml to read (default: the one at the workspace root).
    pub config: Option<PathBuf>,
}

impl BrokerOptions {
    /// A client of the broker, with the credential of the environment.
    pub fn client(&self) -> Result<BrokerClient> {
        let url = match &self.broker {
            Some(url) => url.clone(),
            None => {
                let config = Config::resolve(self.config.as_deref())?;
                config.contract.broker.ok_or_else(|| {
                    Error::Usage(format!(
                        "which broker? give --broker URL, set PACT_BROKER_BASE_URL, or set `broker` under [contract] in {}",
                        config.path.display()
                    ))
                })?
            }
        };
        Ok(BrokerClient::new(&url, BrokerAuth::from_env())?)
    }
}

/// What `harness contract publish` publishes.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    pub broker: BrokerOptions,
    /// The consumer version the pacts belong to.
    pub version: String,
    pub branch: Option<String>,
    pub tags: Vec<String>,
    /// The URL of the build that made the pacts.
    pub build_url: Option<String>,
    /// A pact file or a directory (default: `pacts` under `[contract]`, else
    /// contracts/pacts).
    pub pacts: Option<PathBuf>,
}

/// One consumer's publication, as the broker took it.
#[derive(Debug, Clone)]
pub struct PublishedConsumer {
    pub consumer: String,
    pub version: String,
    pub branch: Option<String>,
    /// The broker's URL.
    pub broker: String,
    /// The providers of its pacts, in order.
    pub providers: Vec<String>,
    /// What the broker said (new, unchanged, replaced...).
    pub notices: Vec<Notice>,
}

/// Publishes every pact, one publication per consumer; `published` hears of each as the
/// broker takes it (so what was published is known even if a later one fails).
pub async fn publish(
    options: &PublishOptions,
    mut published: impl FnMut(&PublishedConsumer),
) -> Result<Vec<PublishedConsumer>> {
    if options.version.trim().is_empty() {
        return Err(Error::Usage(
            "--version is empty: give the consumer version".into(),
        ));
    }
    let path = match &options.pacts {
        Some(p) => p.clone(),
        None => {
            let config = Config::resolve(options.broker.config.as_deref())?;
            config
                .contract
                .pacts
                .unwrap_or_else(|| config.dir.join("contracts/pacts"))
        }
    };
    let by_consumer = read_pacts(&path)?;
    if by_consumer.is_empty() {
        return Err(Error::Usage(format!(
            "no pacts in {}: the consumer tests write them (or give --pacts PATH)",
            path.display()
        )));
    }
    let client = options.broker.client()?;
    let mut out = Vec::new();
    for (consumer, pacts) in by_consumer {
        let providers: Vec<String> = pacts.iter().map(|(p, _)| p.clone()).collect();
        let publication = Publication {
            consumer: consumer.clone(),
            version: options.version.clone(),
            branch: options.branch.clone(),
            tags: options.tags.clone(),
            build_url: options.build_url.clone(),
            pacts,
        };
        let answer = client.publish(&publication).await?;
        let done = PublishedConsumer {
            consumer,
            version: options.version.clone(),
            branch: options.branch.clone(),
            broker: client.url().to_owned(),
            providers,
            notices: answer.notices,
        };
        published(&done);
        out.push(done);
    }
    Ok(out)
}

/// `consumer -> [(provider, pact text)]` of every pact at `path` (each parsed first: a
/// broken pact is an input error naming its file).
fn read_pacts(path: &Path) -> Result<BTreeMap<String, Vec<(String, String)>>> {
    let mut by_consumer: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for pact in harness_pact::source::load(&harness_pact::PactSource::path(path))? {
        let text = std::fs::read_to_string(&pact.origin)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", pact.origin)))?;
        by_consumer
            .entry(pact.consumer)
            .or_default()
            .push((pact.provider, text));
    }
    Ok(by_consumer)
}

/// What `harness contract record-deployment` records.
#[derive(Debug, Clone, Default)]
pub struct DeploymentOptions {
    pub broker: BrokerOptions,
    /// The application (a consumer or provider, as the pacts name it).
    pub pacticipant: String,
    pub version: String,
    /// Created in the broker when missing.
    pub environment: String,
    pub application_instance: Option<String>,
}

/// Records a deployment; the broker's URL and what it recorded.
pub async fn record_deployment(options: &DeploymentOptions) -> Result<(String, Deployment)> {
    let client = options.broker.client()?;
    let d = client
        .record_deployment(
            &options.pacticipant,
            &options.version,
            &options.environment,
            options.application_instance.as_deref(),
        )
        .await?;
    Ok((client.url().to_owned(), d))
}

/// What `harness contract can-i-deploy` asks.
#[derive(Debug, Clone, Default)]
pub struct CanIDeployOptions {
    pub broker: BrokerOptions,
    pub pacticipant: String,
    pub version: String,
    pub to_environment: String,
}

/// Asks the broker whether the version may go to the environment.
pub async fn can_i_deploy(options: &CanIDeployOptions) -> Result<CanIDeploy> {
    let client = options.broker.client()?;
    Ok(client
        .can_i_deploy(
            &options.pacticipant,
            &options.version,
            &options.to_environment,
        )
        .await?)
}
