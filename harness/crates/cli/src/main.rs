//! The `harness` CLI: a thin edge over the library. It parses arguments, draws progress,
//! prints what the report writers render, and maps failures to the documented exit codes:
//! 0 success, 1 failure (a stack that did not come up, a pact that does not hold), 2 usage
//! or input error, 3 environment error (no Docker engine, a missing tool). What each
//! command does is `harness::pyramid` (harness-run).
//!
//! Pact reports usage over the network unless `PACT_DO_NOT_TRACK=true`; the workspace
//! forbids `unsafe` (so no `set_var`), so the CLI re-executes itself with the variable set
//! when it is missing, for itself and every child it starts.

mod broker;
mod clean;
mod contract;
mod failure;
mod images;
mod load;
mod mock;
mod openapi;
mod progress;
mod run;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::failure::Failure;

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Test microservices for real: stacks in containers, nothing left behind."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build what is missing, start the stack, print every service's URL, stay up until
    /// Ctrl-C / SIGTERM, then remove everything.
    Up(up::UpArgs),
    /// Remove containers and networks left behind by dead runs (never a live run's, nor
    /// one whose owner's liveness cannot be told); optionally a given run, every run, old
    /// images and old report folders.
    Clean(clean::CleanArgs),
    /// Harness's Pact Broker: `harness broker serve`.
    Broker {
        #[command(subcommand)]
        command: BrokerCommand,
    },
    /// Contracts: verify providers against their pacts, publish pacts, record deployments,
    /// ask can-i-deploy.
    Contract {
        #[command(subcommand)]
        command: ContractCommand,
    },
    /// Run the test pyramid: every level configured in harness.toml ([run.levels]), bottom
    /// first (unit, integration, contract, e2e, load, defects), then write the reports (junit.xml,
    /// report.json, summary.md, report.html) into the run's folder and apply the gate
    /// ([run.gate]). Exit 0 when the gate passed, 1 when it failed, 2 for bad input or
    /// Ctrl-C (what finished is reported, marked interrupted), 3 for the environment.
    Run(run::RunArgs),
    /// Run the workspace's load suite ([load] in harness.toml) against the stack (or what
    /// --attach names) with a profile and thresholds, scraping every service's /metrics,
    /// then print the figures and each threshold's verdict and write the reports. Exit 0
    /// when every threshold held, 1 when one did not, 2 for bad input (a threshold that
    /// does not parse, an unknown profile, a suite that fails), 3 for the environment.
    Load(load::LoadArgs),
    /// Serve a mock of a service on 127.0.0.1 from its OpenAPI document or a pact, for local
    /// work: valid requests get answers the contract allows, others a 4xx saying why; one
    /// line per call. Exit (on Ctrl-C) 0 when nothing was wrong, 1 when a request or an
    /// answer broke the contract, 2 for an unreadable contract, 3 when the port is taken.
    Mock(mock::MockArgs),
    /// List the images a manifest needs and whether they are present; `--build` builds
    /// what is missing.
    Images(images::ImagesArgs),
}

#[derive(Debug, Subcommand)]
enum BrokerCommand {
    /// Serve the Pact Broker API (publish, pacts for verification with pending pacts,
    /// verification results, environments, deployments, can-i-deploy) on a SQLite file or
    /// PostgreSQL until Ctrl-C / SIGTERM. Credentials: HARNESS_BROKER_READ_CREDENTIALS and
    /// HARNESS_BROKER_WRITE_CREDENTIALS (a token or USER:PASSWORD; none: open to all).
    /// Exit 0 when stopped, 2 for a bad --db, 3 when the port is taken or the database
    /// cannot be opened.
    Serve(broker::ServeArgs),
}

#[derive(Debug, Subcommand)]
enum ContractCommand {
    /// Start the stack (or use what --attach names), serve provider states as harness.toml
    /// says, verify every provider that has pacts, print one row per interaction. Exit 0
    /// when all pass, 1 when any fails, 2 for bad input (an unreadable pact), 3 for the
    /// environment.
    Verify(contract::VerifyArgs),
    /// Publish every pact (contracts/pacts, or --pacts) to a Pact Broker as the given
    /// consumer version: one publication per consumer. Exit 0 when published, 2 for bad
    /// input (an unreadable pact, a refused request or credential), 3 when the broker is
    /// unreachable or fails.
    Publish(broker::PublishArgs),
    /// Record in a Pact Broker that a version of an application is deployed to an
    /// environment (created when missing). Exit 0, 2 for bad input (a version the broker
    /// does not know: publish first), 3 when the broker is unreachable.
    RecordDeployment(broker::RecordDeploymentArgs),
    /// Ask a Pact Broker whether a version may go to an environment; print the reasons and
    /// the pacts behind them. Exit 0 when it may, 1 when not, 2 for bad input (an unknown
    /// environment), 3 when the broker is unreachable.
    CanIDeploy(broker::CanIDeployArgs),
    /// Check a service against its OpenAPI document with generated requests: the document's
    /// examples, a deterministic coverage phase (every constraint's boundaries and broken
    /// keywords), schema-valid and schema-invalid requests (proptest, shrunk on failure),
    /// requests without and with bad credentials, undocumented methods, and a stateful
    /// phase that chains operations (create, fetch, delete) as each identity of harness.toml
    /// and across them. Without --url it starts the service and what it depends on. Exit 0
    /// when every operation holds, 1 when any fails (each distinct failure is printed with a
    /// curl line or chain script and the seed), 2 for bad input (an invalid document, a
    /// protected one without credentials), 3 for the environment.
    Openapi(openapi::OpenApiArgs),
}

/// Re-executes this program with `PACT_DO_NOT_TRACK=true` when it is not set so.
fn ensure_do_not_track() -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let key = harness::pact::DO_NOT_TRACK_ENV;
    if std::env::var(key).as_deref() == Ok("true") {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(key, "true")
        .exec();
    Err(error.to_string())
}

fn main() -> ExitCode {
    if let Err(e) = ensure_do_not_track() {
        eprintln!("error: cannot restart with PACT_DO_NOT_TRACK=true: {e}");
        return ExitCode::from(3);
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

async fn dispatch(command: Command) -> Result<(), Failure> {
    match command {
        Command::Up(args) => up::up(args).await,
        Command::Clean(args) => clean::clean(args).await,
        Command::Images(args) => images::images(args).await,
        Command::Mock(args) => mock::serve(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Load(args) => load::load(args).await,
        Command::Broker {
            command: BrokerCommand::Serve(args),
        } => broker::serve(args).await,
        Command::Contract { command } => match command {
            ContractCommand::Verify(args) => contract::verify(args).await,
            ContractCommand::Publish(args) => broker::publish(args).await,
            ContractCommand::RecordDeployment(args) => broker::record_deployment(args).await,
            ContractCommand::CanIDeploy(args) => broker::can_i_deploy(args).await,
            ContractCommand::Openapi(args) => openapi::verify(args).await,
        },
    }
}
