//! `harness contract verify`: the arguments, the session, progress, and the result as the
//! report writer renders it (one row per interaction, the broker's pacts, the failures).

use std::path::PathBuf;

use harness::pyramid::{
    Config, Interrupt, Session, SessionOptions,
    contract::{self, VerifyOptions},
};

use crate::{
    failure::{Failure, gate},
    progress::progress,
};

/// The arguments of `harness contract verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// Verify only this provider (as the pacts name it).
    #[arg(long)]
    provider: Option<String>,
    /// A pact file or a directory of pacts (default: `pacts` in harness.toml).
    #[arg(long, value_name = "PATH", conflicts_with = "broker")]
    pacts: Option<PathBuf>,
    /// A Pact Broker: verify the pacts it selects for each provider (pending pacts'
    /// failures do not fail the gate).
    #[arg(long, value_name = "URL")]
    broker: Option<String>,
    /// A consumer version selector for the broker, as JSON (repeatable; default: the
    /// `selectors` under [contract] in harness.toml, else the broker's defaults), e.g.
    /// '{"mainBranch": true}' or '{"deployedOrReleased": true}'.
    #[arg(long = "selector", value_name = "JSON")]
    selectors: Vec<String>,
    /// The branch of the provider version verified (decides which pacts are pending).
    #[arg(long, value_name = "BRANCH")]
    provider_branch: Option<String>,
    /// Publish each broker pact's verification result to the broker (needs --version).
    #[arg(long)]
    publish_results: bool,
    /// The provider version verified (a git sha, a release number), for --publish-results.
    #[arg(long)]
    version: Option<String>,
    /// The URL of the build, published with the results.
    #[arg(long, value_name = "URL")]
    build_url: Option<String>,
    /// Use an already running service instead of a container: NAME=URL (repeatable).
    #[arg(long, value_name = "NAME=URL")]
    attach: Vec<String>,
    /// The harness.toml to read (default: the one at the workspace root).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

pub(crate) async fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let config = Config::resolve(args.config.as_deref())?;
    let options = VerifyOptions {
        selectors: args
            .selectors
            .iter()
            .map(|s| VerifyOptions::parse_selector(s))
            .collect::<Result<_, _>>()?,
        provider: args.provider,
        pacts: args.pacts,
        broker: args.broker,
        provider_branch: args.provider_branch,
        publish_results: args.publish_results,
        version: args.version,
        build_url: args.build_url,
        attach: args.attach,
    };
    let (sink, multi) = progress();
    let session = Session::open(
        config,
        SessionOptions {
            events: Some(sink),
            interrupt: Interrupt::on_signals()?,
            ..SessionOptions::default()
        },
    )?;
    let result = contract::verify(&session, &options).await;
    let _ = multi.clear();
    let result = result?;
    if result.reports.is_empty() {
        // Nothing to verify, and harness.toml allows it (said as it was found).
        return Ok(());
    }
    print!(
        "{}",
        harness::report::console::pact_verification(&result.reports, result.elapsed)
    );
    if let Some(e) = result.undelivered() {
        return Err(e.into());
    }
    gate(result.passed(), "some pacts do not hold")
}
