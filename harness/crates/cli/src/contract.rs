//! `harness contract verify`: start the stack (or use what `--attach` names), start the
//! provider-state program of `harness.toml`, verify every provider that has pacts, print
//! one row per interaction and the failures, and say whether all passed.
//!
//! With `--broker` (or `broker` in harness.toml) the pacts are those the broker selects for
//! each provider (`pb:provider-pacts-for-verification`, with pending status, the consumer
//! version selectors of `--selector` or harness.toml, the provider branch of
//! `--provider-branch`); failures of pending pacts are printed, marked pending, and do
//! not fail the gate; `--publish-results --version V` sends each pact's result back.
//!
//! pact_verifier prints its own report on stdout; while it runs, stdout goes to
//! `<run>/pact-verifier.log` instead (the typed results carry everything in it).

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use harness::{
    Error, EventSink, Stack,
    pact::{
        BrokerSelection, InteractionResult, NoPacts, Outcome, PactSource, PublishResults, Verifier,
        VerifyReport, broker::BrokerAuth,
    },
};

use crate::{
    Failure,
    config::{Config, States},
};

/// The arguments of `harness contract verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// Verify only this provider (as the pacts name it).
    #[arg(long)]
    pub(crate) provider: Option<String>,
    /// A pact file or a directory of pacts (default: `pacts` in harness.toml).
    #[arg(long, value_name = "PATH", conflicts_with = "broker")]
    pub(crate) pacts: Option<PathBuf>,
    /// A Pact Broker: verify the pacts it selects for each provider (pending pacts'
    /// failures do not fail the gate).
    #[arg(long, value_name = "URL")]
    pub(crate) broker: Option<String>,
    /// A consumer version selector for the broker, as JSON (repeatable; default: the
    /// `selectors` under [contract] in harness.toml, else the broker's defaults), e.g.
    /// '{"mainBranch": true}' or '{"deployedOrReleased": true}'.
    #[arg(long = "selector", value_name = "JSON")]
    pub(crate) selectors: Vec<String>,
    /// The branch of the provider version verified (decides which pacts are pending).
    #[arg(long, value_name = "BRANCH")]
    pub(crate) provider_branch: Option<String>,
    /// Publish each broker pact's verification result to the broker (needs --version).
    #[arg(long)]
    pub(crate) publish_results: bool,
    /// The provider version verified (a git sha, a release number), for --publish-results.
    #[arg(long)]
    pub(crate) version: Option<String>,
    /// The URL of the build, published with the results.
    #[arg(long, value_name = "URL")]
    pub(crate) build_url: Option<String>,
    /// Use an already running service instead of a container: NAME=URL (repeatable).
    #[arg(long, value_name = "NAME=URL")]
    pub(crate) attach: Vec<String>,
    /// The harness.toml to read (default: the one at the workspace root).
    #[arg(long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
}

/// What a verification verifies: the pact sources and the providers (None: nothing, and
/// `if_no_pacts = "pass"` allows it).
pub(crate) type Plan = (Vec<PactSource>, BTreeSet<String>);

/// Reads every pact first (a broken file is an input error) and decides the providers.
pub(crate) fn plan(args: &VerifyArgs, config: &Config) -> Result<Option<Plan>, Failure> {
    let contract = &config.contract;
    let selectors = if args.selectors.is_empty() {
        contract.selectors.clone()
    } else {
        args.selectors
            .iter()
            .map(|s| {
                serde_json::from_str::<serde_json::Value>(s)
                    .ok()
                    .filter(serde_json::Value::is_object)
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "--selector {s}: a selector is a JSON object, e.g. '{{\"mainBranch\": true}}'"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if args.publish_results && args.version.is_none() {
        return Err(Error::Usage(
            "--publish-results needs --version V: the provider version the results are for"
                .to_owned(),
        )
        .into());
    }
    let broker = |url: &str| {
        PactSource::BrokerSelected(BrokerSelection {
            auth: BrokerAuth::from_env(),
            selectors: selectors.clone(),
            provider_branch: args.provider_branch.clone(),
            ..BrokerSelection::new(url)
        })
    };
    let mut sources = Vec::new();
    match (&args.pacts, &args.broker) {
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
    if args.publish_results
        && !sources
            .iter()
            .any(|s| matches!(s, PactSource::BrokerSelected(_)))
    {
        return Err(Error::Usage(
            "--publish-results publishes to a broker: give --broker URL (or `broker` under [contract])"
                .to_owned(),
        )
        .into());
    }
    if sources.is_empty() {
        return Err(Error::Usage(format!(
            "no pacts to verify: give --pacts PATH or --broker URL, or set `pacts` under [contract] in {}",
            config.path.display()
        ))
        .into());
    }

    // Parse every pact before anything starts: a broken file is an input error.
    let mut providers = BTreeSet::new();
    for source in &sources {
        for pact in harness::pact::source::load(source)? {
            providers.insert(pact.provider);
        }
    }
    // Pacts named on the command line say which providers to verify; otherwise every
    // provider harness.toml lists is verified too (one without pacts is reported).
    if args.pacts.is_none() {
        providers.extend(contract.providers.keys().cloned());
    }
    if let Some(only) = &args.provider {
        providers.retain(|p| p == only);
        providers.insert(only.clone());
    }
    if providers.is_empty() {
        let message = format!(
            "no provider to verify: the pacts name none and {} lists none under [contract.providers]",
            config.path.display()
        );
        if contract.fail_if_no_pacts {
            return Err(Failure::Gate(message));
        }
        eprintln!("{message} (allowed: if_no_pacts = \"pass\")");
        return Ok(None);
    }
    Ok(Some((sources, providers)))
}

/// Runs the verification; `Ok(true)` when every provider passed.
pub(crate) async fn verify(args: VerifyArgs, events: EventSink) -> Result<bool, Failure> {
    let started = Instant::now();
    let config = load_config(args.config.as_deref())?;
    let Some((sources, providers)) = plan(&args, &config)? else {
        return Ok(true);
    };

    let builder = crate::attach_all(
        Stack::from_manifest(&config.manifest)?.events(events.clone()),
        &args.attach,
    )?;
    let stack = crate::start_unless_interrupted(builder).await?;
    let publish = args.publish_results.then(|| PublishResults {
        version: args.version.clone().unwrap_or_default(),
        branch: args.provider_branch.clone(),
        tags: Vec::new(),
        build_url: args.build_url.clone(),
    });
    let outcome = tokio::select! {
        result = verify_on(&stack, &config, &sources, &providers, publish.as_ref(), events) => result,
        () = crate::signal() => Err(Error::Interrupted.into()),
    };
    stack.shutdown().await?;
    let reports = outcome?;

    let mut out = std::io::stdout().lock();
    let results: Vec<(&InteractionResult, bool)> = reports
        .iter()
        .flat_map(|r| r.results.iter().map(move |i| (i, r.is_pending(i))))
        .collect();
    let _ = writeln!(out, "{}", table(&results));
    // The broker's pacts: which consumer versions, pending or not, published or not.
    for report in &reports {
        for pact in report.pacts.iter().filter(|p| p.selected_as.is_some()) {
            let _ = writeln!(
                out,
                "\npact {} -> {} (consumer version {}; {}){}: {}",
                pact.consumer,
                report.provider,
                pact.consumer_version.as_deref().unwrap_or("?"),
                pact.selected_as.as_deref().unwrap_or_default(),
                if pact.pending { " PENDING" } else { "" },
                pact.source
            );
            match &pact.published {
                None => {}
                Some(Ok(())) => {
                    let _ = writeln!(out, "  verification result published");
                }
                Some(Err(e)) => {
                    let _ = writeln!(out, "  verification result NOT published: {e}");
                }
            }
        }
    }
    let mut passed = true;
    for report in &reports {
        if !report.passed() {
            passed = false;
            let _ = write!(out, "\n{}", report.explain());
        } else if report.failures().next().is_some() || !report.pending_errors.is_empty() {
            let _ = write!(out, "\n{}", report.explain());
        } else if report.no_pacts {
            let _ = writeln!(
                out,
                "\nno pacts found for provider {} (allowed: if_no_pacts = \"pass\")",
                report.provider
            );
        }
    }
    let failed = results.iter().filter(|(r, _)| !r.passed()).count();
    let pending = results
        .iter()
        .filter(|(r, pending)| !r.passed() && *pending)
        .count();
    let _ = writeln!(
        out,
        "\n{} interaction(s) of {} pact(s) verified against {} provider(s) in {:.1}s: {} passed, {} failed{}{}",
        results.len(),
        reports.iter().map(|r| r.pacts.len()).sum::<usize>(),
        reports.len(),
        started.elapsed().as_secs_f64(),
        results.len() - failed,
        failed,
        if pending > 0 {
            format!(" ({pending} of them in pending pacts: they do not fail the gate)")
        } else {
            String::new()
        },
        if passed { "" } else { " -- FAILED" }
    );
    // Results asked for and not delivered: the broker would answer can-i-deploy from stale
    // data, so the run fails (exit 3) even when every interaction passed.
    let unpublished: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.pacts.iter().filter_map(move |p| match &p.published {
                Some(Err(e)) => Some(format!("{} -> {}: {e}", p.consumer, r.provider)),
                _ => None,
            })
        })
        .collect();
    if !unpublished.is_empty() {
        return Err(Error::Environment(format!(
            "{} verification result(s) could not be published to the broker: {}",
            unpublished.len(),
            unpublished.join("; ")
        ))
        .into());
    }
    Ok(passed)
}

/// `--config PATH`, else `harness.toml` at the workspace root (defaults when there is none).
pub(crate) fn load_config(path: Option<&Path>) -> Result<Config, Error> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Usage(format!("cannot read --config {}: {e}", path.display()))
            })?;
            Config::parse(&text, path)
        }
        None => Config::load(&harness::workspace::find_workspace_root(Path::new("."))),
    }
}

pub(crate) async fn verify_on(
    stack: &Stack,
    config: &Config,
    sources: &[PactSource],
    providers: &BTreeSet<String>,
    publish: Option<&PublishResults>,
    events: EventSink,
) -> Result<Vec<VerifyReport>, Failure> {
    let contract = &config.contract;
    // Provider states: a program of the user's, or a URL.
    let (_child, states_url) = match &contract.states {
        None => (None, None),
        Some(States::Url(url)) => (None, Some(url.clone())),
        Some(States::Command {
            argv,
            ready_timeout,
        }) => {
            let (child, url) = start_states(stack, &config.dir, argv, *ready_timeout).await?;
            (Some(child), Some(url))
        }
    };

    let log_path = stack.run_dir().join("pact-verifier.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", log_path.display())))?;
    let mut reports = Vec::new();
    for provider in providers {
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
            .events(events.clone());
        for source in sources {
            verifier = verifier.pacts(source.clone());
        }
        if let Some(publish) = publish {
            verifier = verifier.publish_results(publish.clone());
        }
        if let Some(base) = &states_url {
            verifier = verifier
                .state_url(&format!("{base}{}", harness::pact::serve::STATES_PATH))
                .message_url(&format!("{base}{}", harness::pact::serve::MESSAGES_PATH));
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
            eprintln!(
                "warning: cannot send the verifier's own report to {}: {e}",
                log_path.display()
            );
        }
        let report = verifier.verify().await;
        let _ = std::io::stdout().flush();
        drop(redirect);
        reports.push(report?);
    }
    eprintln!("pact verifier output: {}", log_path.display());
    Ok(reports)
}

/// Starts the provider-state program on a free loopback port and waits until it listens.
async fn start_states(
    stack: &Stack,
    dir: &Path,
    argv: &[String],
    ready_timeout: Duration,
) -> Result<(StatesProcess, String), Failure> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| environment(format!("no free port on 127.0.0.1: {e}")))?;
    let addr = format!("127.0.0.1:{port}");
    let logs = stack.run_dir().join("logs");
    let _ = std::fs::create_dir_all(&logs);
    let log_path = logs.join("contract-states.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| environment(format!("cannot write {}: {e}", log_path.display())))?;
    let err_log = log
        .try_clone()
        .map_err(|e| environment(format!("cannot write {}: {e}", log_path.display())))?;
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(dir)
        .envs(stack.env_vars())
        .env("HARNESS_STATES_ADDR", &addr)
        .env(harness::pact::DO_NOT_TRACK_ENV, "true")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        // Its own process group, so stopping it reaches what it started (`sh -c ...`).
        .process_group(0)
        .kill_on_drop(true);
    let shown = argv.join(" ");
    let child = command.spawn().map_err(|e| {
        Error::Usage(format!(
            "cannot start the provider-state program `{shown}` ([contract.states] command): {e}"
        ))
    })?;
    let mut child = StatesProcess(child);
    let deadline = Instant::now() + ready_timeout;
    loop {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            return Ok((child, format!("http://{addr}")));
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(Error::Start {
                service: "contract states".to_owned(),
                message: format!(
                    "`{shown}` exited ({status}) before listening on {addr}; its log:\n{}",
                    harness::text::tail_of_file(&log_path, 30)
                ),
            }
            .into());
        }
        if Instant::now() >= deadline {
            return Err(Error::Start {
                service: "contract states".to_owned(),
                message: format!(
                    "`{shown}` did not listen on {addr} within {}s; its log:\n{}",
                    ready_timeout.as_secs(),
                    harness::text::tail_of_file(&log_path, 30)
                ),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The provider-state program: its process group gets SIGTERM when the verification ends
/// (and the program itself SIGKILL, from `kill_on_drop`).
struct StatesProcess(tokio::process::Child);

impl Drop for StatesProcess {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

pub(crate) fn environment(message: String) -> Failure {
    Failure::Pact(harness::pact::Error::Environment(message))
}

/// One row per interaction.
fn table(results: &[(&InteractionResult, bool)]) -> String {
    let mut rows = vec![[
        "provider".to_owned(),
        "consumer".to_owned(),
        "interaction".to_owned(),
        "given".to_owned(),
        "result".to_owned(),
        "time".to_owned(),
    ]];
    for (r, pending) in results {
        rows.push([
            r.provider.clone(),
            r.consumer.clone(),
            r.description.clone(),
            r.provider_states.join("; "),
            match &r.outcome {
                Outcome::Passed => "passed".to_owned(),
                Outcome::Failed { mismatches } => format!("FAILED ({})", mismatches.len()),
                Outcome::Error { .. } => "ERROR".to_owned(),
            } + if *pending && !r.passed() {
                " pending"
            } else {
                ""
            },
            format!("{:.2}s", r.duration.as_secs_f64()),
        ]);
    }
    columns(&rows)
}

/// Rows as left-aligned columns, two spaces apart.
pub(crate) fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
