//! The `harness` CLI: a thin edge over the library. It parses arguments, renders events as
//! progress, prints results, and maps failures to the documented exit codes:
//! 0 success, 1 failure (a stack that did not come up, a pact that does not hold), 2 usage
//! or input error, 3 environment error (no Docker engine, a missing tool).
//!
//! Pact reports usage over the network unless `PACT_DO_NOT_TRACK=true`; the workspace
//! forbids `unsafe` (so no `set_var`), so the CLI re-executes itself with the variable set
//! when it is missing, for itself and every child it starts.

mod broker;
mod config;
mod contract;
mod load;
mod mock;
mod openapi;
mod run;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Instant,
};

use clap::{Parser, Subcommand};
use harness::{Error, Event, EventSink, ImageProvider, Manifest, Stack};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

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
    Up {
        /// The stack manifest.
        #[arg(long, short, default_value = "suites/stack.toml")]
        manifest: PathBuf,
        /// Use an already running service instead of a container: NAME=URL (repeatable).
        #[arg(long, value_name = "NAME=URL")]
        attach: Vec<String>,
        /// Once all are ready, write NAME_URL=... lines (one per service) to this file.
        #[arg(long, value_name = "PATH")]
        env_file: Option<PathBuf>,
        /// Start only these services (and what they depend on).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Exit (removing the stack) as soon as everything is ready, instead of staying up.
        #[arg(long)]
        exit_when_ready: bool,
    },
    /// Remove containers and networks left behind by dead runs (never a live run's, nor
    /// one whose owner's liveness cannot be told); optionally a given run, every run, old
    /// images and old report folders.
    Clean {
        /// Also remove this run (its id as printed by `harness up`), whatever its owner's
        /// state (repeatable).
        #[arg(long = "run", value_name = "ID")]
        runs: Vec<String>,
        /// Remove every run's containers and networks, live or not (reapers are left to exit
        /// by themselves).
        #[arg(long, conflicts_with = "runs")]
        all: bool,
        /// Also remove images Harness built that a newer image of the same name replaced
        /// (every change of a service or recipe makes a new tag), and untagged ones; never
        /// one a container uses.
        #[arg(long)]
        images: bool,
        /// Also delete the run folders (`<run>/`, with the logs and everything else the run
        /// wrote) of all but the N most recent runs; never the folder of a run that still has
        /// containers.
        #[arg(long, value_name = "N")]
        reports: Option<usize>,
        /// Where the run folders are (default: HARNESS_REPORTS_DIR, else `reports/` at the
        /// root of the cargo workspace of the current folder).
        #[arg(long, value_name = "DIR", requires = "reports")]
        reports_dir: Option<PathBuf>,
    },
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
    /// first (unit, integration, contract, e2e, load), then write the reports (junit.xml,
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
    Images {
        /// The stack manifest.
        #[arg(long, short, default_value = "suites/stack.toml")]
        manifest: PathBuf,
        /// Build (or pull) what is missing before listing.
        #[arg(long)]
        build: bool,
    },
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
    /// examples, schema-valid and schema-invalid requests (proptest, shrunk on failure) and
    /// requests without credentials. Without --url it starts the service and what it
    /// depends on. Exit 0 when every operation holds, 1 when any fails (each failure is
    /// printed with a curl line and the seed), 2 for bad input (an invalid document), 3
    /// for the environment.
    Openapi(openapi::OpenApiArgs),
}

/// What ends a command unsuccessfully.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Harness(#[from] Error),
    #[error(transparent)]
    Pact(#[from] harness::pact::Error),
    #[error(transparent)]
    Broker(#[from] harness_broker::Error),
    /// A gate failed; what failed is already printed.
    #[error("{0}")]
    Gate(String),
}

impl Failure {
    fn exit_code(&self) -> i32 {
        match self {
            Self::Harness(e) => e.exit_code(),
            Self::Pact(e) => e.exit_code(),
            Self::Broker(e) => i32::from(e.exit_code()),
            Self::Gate(_) => 1,
        }
    }
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
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Up {
            manifest,
            attach,
            env_file,
            only,
            exit_when_ready,
        } => Ok(up(manifest, attach, env_file, only, exit_when_ready).await?),
        Command::Clean {
            runs,
            all,
            images,
            reports,
            reports_dir,
        } => {
            if let Some(run) = runs.iter().find(|r| !harness::labels::is_run_id(r)) {
                return Err(Error::Usage(format!(
                    "--run {run}: a run id is lowercase letters and digits, as printed by `harness up`"
                ))
                .into());
            }
            let docker = harness::connect().await?;
            if all {
                let (ids, removed) = harness::remove_all_runs(&docker).await?;
                println!(
                    "removed {} container(s) and {} network(s) of {} run(s)",
                    removed.containers,
                    removed.networks,
                    ids.len()
                );
            } else {
                let report = harness::sweep_dead_runs(&docker).await?;
                println!(
                    "removed {} container(s) and {} network(s) of {} dead run(s)",
                    report.containers,
                    report.networks,
                    report.runs.len()
                );
                for (run, error) in &report.failed {
                    println!("could not remove dead run {run}: {error}");
                }
                let left: Vec<&String> = report
                    .undecided
                    .iter()
                    .filter(|r| !runs.contains(r))
                    .collect();
                if !left.is_empty() {
                    println!(
                        "left alone {} run(s) whose owner cannot be checked from here (another host, or no /proc): {}; remove them with --run ID or --all",
                        left.len(),
                        left.iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                for run in &runs {
                    let removed = harness::remove_run(&docker, run).await?;
                    println!(
                        "removed {} container(s) and {} network(s) of run {run}",
                        removed.containers, removed.networks
                    );
                }
            }
            if images {
                let pruned = harness::prune_images(&docker).await?;
                for reference in &pruned.removed {
                    println!("removed image {reference}");
                }
                for reference in &pruned.in_use {
                    println!("kept image {reference}: a container uses it");
                }
                println!(
                    "removed {} old image(s), {:.1} MB",
                    pruned.removed.len(),
                    pruned.bytes as f64 / 1e6
                );
            }
            if let Some(keep) = reports {
                let dir =
                    reports_dir.unwrap_or_else(|| harness::default_reports_dir(Path::new(".")));
                let deleted = harness::prune_reports(&docker, &dir, keep).await?;
                println!(
                    "deleted {} report folder(s) in {}, kept the {keep} most recent and those of live runs",
                    deleted.len(),
                    dir.display()
                );
            }
            Ok(())
        }
        Command::Images { manifest, build } => Ok(images(manifest, build).await?),
        Command::Mock(args) => mock::serve(args).await,
        Command::Run(args) => {
            let (sink, multi) = progress();
            let passed = run::run(args, sink, &multi).await;
            gate(multi, passed, "the gate failed (see above and the reports)")
        }
        Command::Load(args) => {
            let (sink, multi) = progress();
            let passed = load::load(args, sink, &multi).await;
            gate(multi, passed, "a load threshold did not hold (see above)")
        }
        Command::Contract {
            command: ContractCommand::Verify(args),
        } => {
            let (sink, multi) = progress();
            let passed = contract::verify(args, sink).await;
            gate(multi, passed, "some pacts do not hold")
        }
        Command::Broker {
            command: BrokerCommand::Serve(args),
        } => broker::serve(args).await,
        Command::Contract {
            command: ContractCommand::Publish(args),
        } => broker::publish(args).await,
        Command::Contract {
            command: ContractCommand::RecordDeployment(args),
        } => broker::record_deployment(args).await,
        Command::Contract {
            command: ContractCommand::CanIDeploy(args),
        } => {
            if broker::can_i_deploy(args).await? {
                Ok(())
            } else {
                Err(Failure::Gate(
                    "the broker says no: this version may not be deployed there (see above)"
                        .to_owned(),
                ))
            }
        }
        Command::Contract {
            command: ContractCommand::Openapi(args),
        } => {
            let (sink, multi) = progress();
            let passed = openapi::verify(args, sink).await;
            gate(
                multi,
                passed,
                "the service does not do what its OpenAPI document says",
            )
        }
    }
}

/// Clears the progress display, then maps a check's verdict to the gate's result.
fn gate(multi: MultiProgress, passed: Result<bool, Failure>, failed: &str) -> Result<(), Failure> {
    let _ = multi.clear();
    if passed? {
        Ok(())
    } else {
        Err(Failure::Gate(failed.to_owned()))
    }
}

/// Renders events: a spinner per service, finished lines for what is done.
/// One plain line per event, for logs (stderr is not a terminal).
fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Swept {
            containers,
            networks,
        } => {
            format!(
                "removed leftovers of dead runs: {containers} container(s), {networks} network(s)"
            )
        }
        Event::InstallingTool { tool, package } => {
            format!("installing {tool} (apt package {package})")
        }
        Event::SweepFailed { run_id, error } => {
            format!("could not remove leftovers of dead run {run_id} (going on): {error}")
        }
        Event::SweepUndecided { run_ids } => format!(
            "left alone {} run(s) whose owner cannot be checked from here: {}",
            run_ids.len(),
            run_ids.join(", ")
        ),
        Event::ReaperReady { image, elapsed } => format!(
            "reaper {image} watching this process's runs (up in {:.2}s)",
            elapsed.as_secs_f64()
        ),
        Event::ReaperDisabled => {
            "reaper disabled (HARNESS_REAPER_DISABLED): after a crash only the next run's sweep cleans up".to_owned()
        }
        Event::ImageWorking {
            service,
            reference,
            how,
        } => format!("{service}: image {reference}: {how}"),
        Event::ImageReady {
            service,
            reference,
            built: true,
            elapsed,
        } => {
            format!(
                "{service}: image {reference} built in {:.1}s",
                elapsed.as_secs_f64()
            )
        }
        Event::ImageReady {
            service,
            reference,
            built: false,
            ..
        } => format!("{service}: image {reference} present"),
        Event::ServiceStarting { service } => format!("{service}: starting container"),
        Event::ServiceWaiting { service, rule } => format!("{service}: waiting for {rule}"),
        Event::ServiceReady {
            service,
            url,
            elapsed,
        } => format!(
            "{service}: ready in {:.2}s {}",
            elapsed.as_secs_f64(),
            url.as_deref().unwrap_or_default()
        ),
        Event::ServiceAttached { service, url } => format!("{service}: attached to {url}"),
        Event::ServiceExited {
            service,
            exit_code,
            log_tail,
        } => format!(
            "{service}: its container exited with code {exit_code} while the stack is up; last lines of its log:\n{log_tail}"
        ),
        Event::Stopping { run_id } => format!("removing run {run_id}"),
        Event::LevelStarted { level } => format!("level {level}: started"),
        Event::LevelStep { level, step } => format!("level {level}: {step}"),
        // Progress lines for failures only (the log would otherwise get a line per test).
        Event::LevelProgress {
            level,
            last,
            passed,
            failed,
            last_passed: false,
        } => format!("level {level}: {last} FAILED ({passed} passed, {failed} failed so far)"),
        Event::LevelFinished(summary) => level_line(summary),
        Event::PactVerifying {
            consumer,
            provider,
            source,
            interactions,
        } => format!("verifying {provider} against the pact {consumer} -> {provider} ({interactions} interaction(s), {source})"),
        Event::InteractionVerified(r) => format!(
            "{} -> {}: {} ... {}",
            r.consumer,
            r.provider,
            r.description,
            if r.passed() { "passed" } else { "FAILED" }
        ),
        Event::OpenApiVerifying {
            service,
            document,
            operations,
            seed,
        } => format!("verifying {service} against {document} ({operations} operation(s), seed {seed})"),
        Event::OperationVerified(r) => format!(
            "{}: {} {} ({}) ... {} ({} request(s))",
            r.service,
            r.method,
            r.path,
            r.operation,
            if r.passed() { "passed" } else { "FAILED" },
            r.requests.total()
        ),
        Event::NoPacts {
            provider, failed, ..
        } => format!(
            "no pacts found for provider {provider}{}",
            if *failed { " (a failure)" } else { " (allowed)" }
        ),
        _ => return None,
    })
}

/// A level's closing line: its status and totals.
fn level_line(s: &harness::run::LevelSummary) -> String {
    use harness::run::LevelStatus;
    format!(
        "level {}: {} ({} passed, {} failed, {} skipped, {} flaky) in {:.1}s{}",
        s.level,
        match s.status {
            LevelStatus::Passed => "passed",
            LevelStatus::Failed => "FAILED",
            LevelStatus::NotConfigured => "not configured",
            LevelStatus::NotRun => "not run",
        },
        s.passed,
        s.failed,
        s.skipped,
        s.flaky,
        s.duration.as_secs_f64(),
        s.note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    )
}

fn progress() -> (EventSink, MultiProgress) {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        let sink: EventSink = Arc::new(|event: Event| {
            if let Some(line) = describe(&event) {
                eprintln!("{line}");
            }
        });
        return (
            sink,
            MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden()),
        );
    }
    let multi = MultiProgress::new();
    let bars: Arc<Mutex<std::collections::HashMap<String, ProgressBar>>> = Arc::default();
    let style = ProgressStyle::with_template("{spinner} {prefix:>12} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let m = multi.clone();
    let sink: EventSink = Arc::new(move |event: Event| {
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        let mut bar = |key: &str| {
            bars.entry(key.to_owned())
                .or_insert_with(|| {
                    let b = m.add(ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(key.to_owned());
                    b.enable_steady_tick(std::time::Duration::from_millis(120));
                    b
                })
                .clone()
        };
        match event {
            Event::Swept {
                containers,
                networks,
            } => {
                let _ = m.println(format!("removed leftovers of dead runs: {containers} container(s), {networks} network(s)"));
            }
            Event::InstallingTool { .. }
            | Event::ServiceExited { .. }
            | Event::SweepFailed { .. }
            | Event::SweepUndecided { .. }
            | Event::ReaperReady { .. }
            | Event::ReaperDisabled
            | Event::PactVerifying { .. }
            | Event::InteractionVerified(_)
            | Event::OpenApiVerifying { .. }
            | Event::OperationVerified(_)
            | Event::NoPacts { .. } => {
                if let Some(line) = describe(&event) {
                    let _ = m.println(line);
                }
            }
            Event::ImageWorking {
                service,
                reference,
                how,
            } => bar(&service).set_message(format!("image {reference}: {how}")),
            Event::ImageReady {
                service,
                reference,
                built,
                elapsed,
            } => {
                let what = if built {
                    format!("built in {:.1}s", elapsed.as_secs_f64())
                } else {
                    "present".to_owned()
                };
                bar(&service).set_message(format!("image {reference} {what}"));
            }
            Event::ServiceStarting { service } => {
                bar(&service).set_message("starting container".to_owned())
            }
            Event::ServiceWaiting { service, rule } => {
                bar(&service).set_message(format!("waiting for {rule}"))
            }
            Event::ServiceReady {
                service,
                url,
                elapsed,
            } => {
                let b = bar(&service);
                b.finish_with_message(format!(
                    "ready in {:.1}s {}",
                    elapsed.as_secs_f64(),
                    url.unwrap_or_default()
                ));
            }
            Event::ServiceAttached { service, url } => {
                bar(&service).finish_with_message(format!("attached to {url}"))
            }
            Event::Stopping { run_id } => {
                let _ = m.println(format!("removing run {run_id}"));
            }
            // A spinner per level of `harness run`: what it does now, its tests as they end.
            Event::LevelStarted { level } => {
                bar(&format!("level {level}")).set_message("started".to_owned())
            }
            Event::LevelStep { level, step } => bar(&format!("level {level}")).set_message(step),
            Event::LevelProgress {
                level,
                passed,
                failed,
                last,
                last_passed,
            } => {
                if !last_passed {
                    // A failure is worth a line of its own as it happens.
                    let _ = m.println(format!("level {level}: {last} FAILED"));
                }
                bar(&format!("level {level}"))
                    .set_message(format!("{passed} passed, {failed} failed; last: {last}"));
            }
            Event::LevelFinished(summary) => {
                bar(&format!("level {}", summary.level)).finish_with_message(level_line(&summary))
            }
            _ => {}
        }
    });
    (sink, multi)
}

async fn up(
    manifest: PathBuf,
    attach: Vec<String>,
    env_file: Option<PathBuf>,
    only: Vec<String>,
    exit_when_ready: bool,
) -> Result<(), Error> {
    let started = Instant::now();
    let manifest = Manifest::from_path(&manifest)?;
    let (sink, multi) = progress();
    let mut builder = attach_all(Stack::builder(manifest).events(sink), &attach)?;
    if !only.is_empty() {
        builder = builder.only(only);
    }

    // Dropping the start future (on a signal) removes what it had started before the
    // select ends.
    let stack = tokio::select! {
        result = builder.start() => result?,
        () = signal() => return Err(Error::Interrupted),
    };
    let _ = multi.clear();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "stack {} is ready in {:.2}s (run {})",
        stack.manifest().name,
        started.elapsed().as_secs_f64(),
        stack.run_id()
    );
    let mut env_lines = String::new();
    for ep in stack.endpoints() {
        let url = ep.url.clone().unwrap_or_else(|| "(no ports)".to_owned());
        let note = match (ep.attached, ep.ready_in) {
            (true, _) => "  (attached)".to_owned(),
            (false, Some(d)) => format!("  (ready in {:.2}s)", d.as_secs_f64()),
            (false, None) => String::new(),
        };
        let _ = writeln!(out, "  {:<12} {url}{note}", ep.service);
        if let Some(url) = ep.url {
            env_lines.push_str(&format!(
                "{}_URL={url}\n",
                ep.service.to_uppercase().replace('-', "_")
            ));
        }
    }
    let _ = writeln!(
        out,
        "  logs         {}",
        stack.run_dir().join("logs").display()
    );
    drop(out);
    if let Some(path) = env_file {
        std::fs::write(&path, env_lines).map_err(|e| {
            Error::Usage(format!("cannot write --env-file {}: {e}", path.display()))
        })?;
    }
    if !exit_when_ready {
        println!("press Ctrl-C to stop and remove the stack");
        signal().await;
    }
    stack.shutdown().await
}

/// Applies `--attach NAME=URL` arguments to a stack builder.
pub(crate) fn attach_all(
    mut builder: harness::StackBuilder,
    attach: &[String],
) -> Result<harness::StackBuilder, Error> {
    for a in attach {
        let (name, url) = a.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--attach {a}: expected NAME=URL, e.g. orders=http://127.0.0.1:8081"
            ))
        })?;
        builder = builder.attach(name, url);
    }
    Ok(builder)
}

/// Starts a stack; Ctrl-C / SIGTERM meanwhile is [`Error::Interrupted`] (dropping the start
/// removes what it had started).
pub(crate) async fn start_unless_interrupted(
    builder: harness::StackBuilder,
) -> Result<Stack, Error> {
    tokio::select! {
        result = builder.start() => result,
        () = signal() => Err(Error::Interrupted),
    }
}

pub(crate) async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

async fn images(manifest: PathBuf, build: bool) -> Result<(), Error> {
    let manifest = Manifest::from_path(&manifest)?;
    let docker = harness::connect().await?;
    let (sink, multi) = progress();
    let provider = ImageProvider::new(docker, &manifest.base_dir(), sink);
    let requests = manifest.image_requests(None)?;
    if build {
        provider.ensure(&requests).await?;
        let _ = multi.clear();
    }
    let statuses = provider.status(&requests).await?;
    println!("{:<12} {:<40} {:<14} source", "service", "image", "state");
    for s in statuses {
        let state = s.state.to_string();
        println!(
            "{:<12} {:<40} {:<14} {}",
            s.service, s.reference, state, s.source
        );
    }
    Ok(())
}
