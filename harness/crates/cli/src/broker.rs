//! The contract broker from the command line: `harness broker serve` runs Harness's Pact
//! Broker (harness-broker) in this process; `harness contract publish`, `record-deployment`
//! and `can-i-deploy` talk to any Pact Broker (`harness::pyramid::broker`) and print what it
//! answered, as the report writers render it.
//!
//! The broker's URL is `--broker`, else `PACT_BROKER_BASE_URL`, else `broker` under
//! `[contract]` in harness.toml; its credential `PACT_BROKER_TOKEN`, else
//! `PACT_BROKER_USERNAME` / `PACT_BROKER_PASSWORD` (as Pact's own tools read them).

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

use harness::pyramid::{
    Interrupt,
    broker::{BrokerOptions, CanIDeployOptions, DeploymentOptions, PublishOptions},
};

use crate::failure::{Failure, gate};

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
    let interrupt = Interrupt::on_signals()?;
    let broker = tokio::select! {
        started = harness_broker::Broker::start(addr, &args.db, config) => started?,
        () = interrupt.fired() => return Err(harness::pyramid::Error::Interrupted.into()),
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
    interrupt.fired().await;
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
    fn options(self) -> BrokerOptions {
        BrokerOptions {
            broker: self.broker,
            config: self.config,
        }
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
    let options = PublishOptions {
        broker: args.broker.options(),
        version: args.version,
        branch: args.branch,
        tags: args.tags,
        build_url: args.build_url,
        pacts: args.pacts,
    };
    harness::pyramid::broker::publish(&options, |p| {
        let mut out = std::io::stdout().lock();
        let _ = write!(
            out,
            "{}",
            harness::report::console::published(
                &p.consumer,
                &p.version,
                p.branch.as_deref(),
                &p.broker,
                &p.providers,
                &p.notices
            )
        );
    })
    .await?;
    Ok(())
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
    let options = DeploymentOptions {
        broker: args.broker.options(),
        pacticipant: args.pacticipant,
        version: args.version,
        environment: args.environment,
        application_instance: args.application_instance,
    };
    let (broker, deployment) = harness::pyramid::broker::record_deployment(&options).await?;
    print!(
        "{}",
        harness::report::console::deployment_recorded(&broker, &deployment)
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

/// Asks the broker; exit 0 when the version may be deployed, 1 when not.
pub(crate) async fn can_i_deploy(args: CanIDeployArgs) -> Result<(), Failure> {
    let options = CanIDeployOptions {
        broker: args.broker.options(),
        pacticipant: args.pacticipant,
        version: args.version,
        to_environment: args.to_environment,
    };
    let answer = harness::pyramid::broker::can_i_deploy(&options).await?;
    print!(
        "{}",
        harness::report::console::can_i_deploy(
            &options.pacticipant,
            &options.version,
            &options.to_environment,
            &answer
        )
    );
    gate(
        answer.deployable,
        "the broker says no: this version may not be deployed there (see above)",
    )
}
