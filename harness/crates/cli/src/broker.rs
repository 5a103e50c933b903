//! The contract broker from the command line: `harness broker serve` runs Harness's Pact
//! Broker (harness-broker) in this process; `harness contract publish`, `record-deployment`
//! and `can-i-deploy` talk to any Pact Broker through harness-pact's
//! [`BrokerClient`](harness::pact::broker::BrokerClient) and print what it answered.
//!
//! The broker's URL is `--broker`, else `PACT_BROKER_BASE_URL`, else `broker` under
//! `[contract]` in harness.toml; its credential `PACT_BROKER_TOKEN`, else
//! `PACT_BROKER_USERNAME` / `PACT_BROKER_PASSWORD` (as Pact's own tools read them).

use std::{
    collections::BTreeMap,
    io::Write,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

use harness::{
    Error,
    pact::broker::{BrokerAuth, BrokerClient, Publication},
};

use crate::{Failure, contract::load_config};

/// The arguments of `harness broker serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The port to listen on (0: any free port; the line printed at start says which).
    #[arg(long, default_value_t = harness_broker::DEFAULT_PORT)]
    port: u16,
    /// The address to listen on (0.0.0.0 for other hosts too).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// The database: sqlite://FILE (created when missing) or
    /// postgres://USER:PASSWORD@HOST/DB.
    #[arg(
        long,
        value_name = "URL",
        env = "HARNESS_BROKER_DB",
        hide_env_values = true,
        default_value = "sqlite://harness-broker.db"
    )]
    db: String,
    /// The URL links start with, when clients reach the broker through a proxy.
    #[arg(long, value_name = "URL", env = "HARNESS_BROKER_PUBLIC_URL")]
    public_url: Option<String>,
}

/// The read and write credentials of the broker (a token, or USER:PASSWORD).
const READ_CREDENTIALS_ENV: &str = "HARNESS_BROKER_READ_CREDENTIALS";
const WRITE_CREDENTIALS_ENV: &str = "HARNESS_BROKER_WRITE_CREDENTIALS";

/// Serves the broker until Ctrl-C / SIGTERM.
pub(crate) async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let credential = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|c| harness_broker::Credential::parse(&c))
    };
    let config = harness_broker::Config {
        auth: harness_broker::Auth {
            read: credential(READ_CREDENTIALS_ENV),
            write: credential(WRITE_CREDENTIALS_ENV),
        },
        public_url: args.public_url,
        ..harness_broker::Config::default()
    };
    let open = config.auth.is_open();
    let addr = SocketAddr::new(args.host, args.port);
    let broker = tokio::select! {
        started = harness_broker::Broker::start(addr, &args.db, config) => started?,
        () = crate::signal() => return Err(Error::Interrupted.into()),
    };
    println!(
        "harness broker listening on {} (database {}){}; Ctrl-C stops it",
        broker.url(),
        harness_broker::store::redact(&args.db),
        if open {
            "; no credentials configured: anyone can read and write"
        } else {
            "; credentials required (HARNESS_BROKER_READ_CREDENTIALS / HARNESS_BROKER_WRITE_CREDENTIALS)"
        }
    );
    let _ = std::io::stdout().flush();
    crate::signal().await;
    broker.stop().await;
    println!("harness broker stopped");
    Ok(())
}

/// `--broker URL` of the broker commands.
#[derive(Debug, clap::Args)]
pub(crate) struct BrokerArgs {
    /// The Pact Broker (default: `broker` under [contract] in harness.toml).
    #[arg(
        long,
        value_name = "URL",
        env = "PACT_BROKER_BASE_URL",
        hide_env_values = true
    )]
    broker: Option<String>,
    /// The harness.toml to read (default: the one at the workspace root).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

impl BrokerArgs {
    /// A client of `--broker`, `PACT_BROKER_BASE_URL` or harness.toml's broker, with the
    /// credential of the environment.
    fn client(&self) -> Result<BrokerClient, Failure> {
        let url = match &self.broker {
            Some(url) => url.clone(),
            None => {
                let config = load_config(self.config.as_deref())?;
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

/// The arguments of `harness contract publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct PublishArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// The consumer version the pacts belong to (a git sha, a release number).
    #[arg(long)]
    version: String,
    /// The consumer version's branch.
    #[arg(long)]
    branch: Option<String>,
    /// A tag for the consumer version (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// The URL of the build that made the pacts.
    #[arg(long, value_name = "URL")]
    build_url: Option<String>,
    /// A pact file or a directory of pacts (default: `pacts` under [contract] in
    /// harness.toml, else contracts/pacts).
    #[arg(long, value_name = "PATH")]
    pacts: Option<PathBuf>,
}

/// Publishes every pact, one request per consumer version.
pub(crate) async fn publish(args: PublishArgs) -> Result<(), Failure> {
    if args.version.trim().is_empty() {
        return Err(Error::Usage("--version is empty: give the consumer version".into()).into());
    }
    let path = match &args.pacts {
        Some(p) => p.clone(),
        None => {
            let config = load_config(args.broker.config.as_deref())?;
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
        ))
        .into());
    }
    let client = args.broker.client()?;
    let mut out = std::io::stdout().lock();
    for (consumer, pacts) in by_consumer {
        let providers: Vec<&str> = pacts.iter().map(|(p, _)| p.as_str()).collect();
        let publication = Publication {
            consumer: consumer.clone(),
            version: args.version.clone(),
            branch: args.branch.clone(),
            tags: args.tags.clone(),
            build_url: args.build_url.clone(),
            pacts: pacts.clone(),
        };
        let published = client.publish(&publication).await?;
        let _ = writeln!(
            out,
            "published {consumer} version {}{} to {}: its pacts with {}",
            args.version,
            args.branch
                .as_ref()
                .map(|b| format!(" (branch {b})"))
                .unwrap_or_default(),
            client.url(),
            providers.join(", ")
        );
        for notice in published.notices {
            let _ = writeln!(out, "  {}: {}", notice.kind, notice.text.trim());
        }
    }
    Ok(())
}

/// `consumer -> [(provider, pact text)]` of every pact at `path` (each parsed first: a
/// broken pact is an input error naming its file).
fn read_pacts(path: &Path) -> Result<BTreeMap<String, Vec<(String, String)>>, Failure> {
    let mut by_consumer: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for pact in harness::pact::source::load(&harness::pact::PactSource::path(path))? {
        let text = std::fs::read_to_string(&pact.origin)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", pact.origin)))?;
        by_consumer
            .entry(pact.consumer)
            .or_default()
            .push((pact.provider, text));
    }
    Ok(by_consumer)
}

/// The arguments of `harness contract record-deployment`.
#[derive(Debug, clap::Args)]
pub(crate) struct RecordDeploymentArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// The application (a consumer or provider, as the pacts name it).
    #[arg(long)]
    pacticipant: String,
    /// Its version that was deployed.
    #[arg(long)]
    version: String,
    /// Where it was deployed (created in the broker when missing).
    #[arg(long)]
    environment: String,
    /// Which instance, when several of the application run side by side in the
    /// environment.
    #[arg(long, value_name = "NAME")]
    application_instance: Option<String>,
}

pub(crate) async fn record_deployment(args: RecordDeploymentArgs) -> Result<(), Failure> {
    let client = args.broker.client()?;
    let d = client
        .record_deployment(
            &args.pacticipant,
            &args.version,
            &args.environment,
            args.application_instance.as_deref(),
        )
        .await?;
    if d.environment_created {
        println!("created environment {} in {}", d.environment, client.url());
    }
    println!(
        "recorded the deployment of {} version {} to {}{}",
        d.pacticipant,
        d.version,
        d.environment,
        d.application_instance
            .map(|i| format!(" (application instance {i})"))
            .unwrap_or_default()
    );
    Ok(())
}

/// The arguments of `harness contract can-i-deploy`.
#[derive(Debug, clap::Args)]
pub(crate) struct CanIDeployArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// The application to deploy.
    #[arg(long)]
    pacticipant: String,
    /// Its version.
    #[arg(long)]
    version: String,
    /// Where it would go.
    #[arg(long, value_name = "ENVIRONMENT")]
    to_environment: String,
}

/// Asks the broker; `Ok(true)` when deployable.
pub(crate) async fn can_i_deploy(args: CanIDeployArgs) -> Result<bool, Failure> {
    let client = args.broker.client()?;
    let answer = client
        .can_i_deploy(&args.pacticipant, &args.version, &args.to_environment)
        .await?;
    let mut out = std::io::stdout().lock();
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
        let _ = writeln!(
            out,
            "no pacts involve {} {}",
            args.pacticipant, args.version
        );
    } else {
        let _ = writeln!(out, "{}", crate::contract::columns(&rows));
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
        "\ncan-i-deploy {} {} to {}: {}",
        args.pacticipant,
        args.version,
        args.to_environment,
        if answer.deployable { "yes" } else { "NO" }
    );
    Ok(answer.deployable)
}
