//! `harness load` and the load level of `harness run`: the workspace's load suite (a goose
//! binary, `[load] command` in harness.toml) run against a stack and judged by thresholds.
//!
//! The suite gets the stack's endpoints (`HARNESS_<SERVICE>_URL`) and the run's plan
//! (`HARNESS_LOAD_*`: target, users, warm-up, duration, seed, where to write its results,
//! the rules goose may stop on) in its environment. When it prints that its load started
//! ([`harness::load::STARTED`]), every service's `/metrics` is scraped until it ends (the
//! server's view, the gauges over time); then its results are read and judged
//! ([`harness::load::judge`]) into a `LoadReport`: one `LoadFinished` event and, per
//! threshold, one test of the `load` level, so the thresholds are in every report and in
//! the gate.
//!
//! Exit codes of `harness load`: 0 every threshold held, 1 one did not, 2 bad input (a
//! threshold that does not parse, an unknown profile, a suite that fails or writes no
//! results) or Ctrl-C, 3 the environment (no Docker engine).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use harness::{
    Error, Event, EventSink, Stack,
    load::{
        LoadResults, Plan, Threshold,
        report::LoadReport,
        scrape::{ScrapeConfig, Scraper},
    },
    report::Collector,
    run::{Level, LevelStatus, LevelSummary, RunOutcome, TestOutcome, TestResult},
};
use tokio::io::AsyncBufReadExt as _;

use crate::{
    Failure,
    config::{Config, LoadConfig, Profile},
};

/// The arguments of `harness load`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// The profile of harness.toml to run ([load.profiles.NAME]; default: smoke).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Virtual users (overrides the profile's).
    #[arg(long, value_name = "N")]
    users: Option<usize>,
    /// The measured time after the warm-up, e.g. 30s, 2m (overrides the profile's).
    #[arg(long, value_name = "TIME")]
    duration: Option<String>,
    /// The warm-up, left out of the figures and the thresholds (overrides the profile's).
    #[arg(long, value_name = "TIME")]
    warmup: Option<String>,
    /// A threshold, added to the profile's (repeatable): `METRIC[(TARGET)] OP VALUE`, e.g.
    /// 'p95 < 300ms', 'p95(order_complete) < 2s', 'error_rate < 1%'.
    #[arg(long = "threshold", value_name = "RULE")]
    thresholds: Vec<String>,
    /// Stop the load as soon as a threshold goose can judge while running is lost.
    #[arg(long)]
    abort: bool,
    /// Use an already running service instead of a container: NAME=URL (repeatable).
    #[arg(long, value_name = "NAME=URL")]
    attach: Vec<String>,
    /// The harness.toml to read (default: the one at the workspace root).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Where run folders go (default: HARNESS_REPORTS_DIR, else `reports/`).
    #[arg(long, value_name = "DIR")]
    reports_dir: Option<PathBuf>,
}

/// A load run's settings: a profile with the command line's changes.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) name: String,
    pub(crate) profile: Profile,
}

impl Settings {
    /// The named profile of `[load]` (`smoke` by default; a run without profiles and only
    /// command-line settings is `custom`), with the command line's overrides.
    fn from_args(args: &LoadArgs, load: &LoadConfig) -> Result<Self, Error> {
        let (name, mut profile) = match &args.profile {
            Some(name) => match load.profiles.get(name) {
                Some(p) => (name.clone(), p.clone()),
                None => return Err(unknown_profile(name, load)),
            },
            None => match load.profiles.get("smoke") {
                Some(p) => ("smoke".to_owned(), p.clone()),
                None => ("custom".to_owned(), Profile::default()),
            },
        };
        if let Some(users) = args.users {
            if users == 0 {
                return Err(Error::Usage("--users 0: at least one user".to_owned()));
            }
            profile.users = users;
        }
        let time = |flag: &str, v: &Option<String>, into: &mut Duration| -> Result<(), Error> {
            if let Some(v) = v {
                *into = harness::manifest::parse_duration(v)
                    .map_err(|m| Error::Usage(format!("{flag} {v}: {m}")))?;
            }
            Ok(())
        };
        time("--duration", &args.duration, &mut profile.duration)?;
        time("--warmup", &args.warmup, &mut profile.warmup)?;
        if profile.duration.is_zero() {
            return Err(Error::Usage("--duration must be more than 0s".to_owned()));
        }
        for t in &args.thresholds {
            let parsed =
                Threshold::parse(t).map_err(|e| Error::Usage(format!("--threshold: {e}")))?;
            profile.thresholds.push(parsed);
        }
        profile.abort |= args.abort;
        Ok(Self { name, profile })
    }

    /// The named profile of a `harness run` level.
    pub(crate) fn named(name: &str, load: &LoadConfig) -> Result<Self, Error> {
        load.profiles
            .get(name)
            .map(|p| Self {
                name: name.to_owned(),
                profile: p.clone(),
            })
            .ok_or_else(|| unknown_profile(name, load))
    }
}

fn unknown_profile(name: &str, load: &LoadConfig) -> Error {
    let known: Vec<&str> = load.profiles.keys().map(String::as_str).collect();
    Error::Usage(format!(
        "no load profile {name:?} in harness.toml (profiles: {})",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    ))
}

fn no_load_section(config: &Config) -> Error {
    Error::Usage(format!(
        "{} has no [load] section: name the load suite there (README.md, \"Load tests\")",
        config.path.display()
    ))
}

/// `harness load`: `Ok(true)` when every threshold held.
pub(crate) async fn load(
    args: LoadArgs,
    sink: EventSink,
    display: &indicatif::MultiProgress,
) -> Result<bool, Failure> {
    let started = Instant::now();
    let config = crate::contract::load_config(args.config.as_deref())?;
    let load = config
        .load
        .as_ref()
        .ok_or_else(|| no_load_section(&config))?;
    let settings = Settings::from_args(&args, load)?;
    let root = harness::workspace::find_workspace_root(&config.dir);
    let reports = args
        .reports_dir
        .clone()
        .unwrap_or_else(|| harness::run_dir::default_reports_dir(&root));
    let run_id = harness::StackBuilder::new_run_id();
    let run_dir = harness::run_dir::RunDir::new(&reports, &run_id)
        .path()
        .to_owned();

    let collector = Arc::new(Mutex::new(Collector::new()));
    let sink: EventSink = {
        let collector = collector.clone();
        Arc::new(move |e: Event| {
            collector.lock().unwrap_or_else(|p| p.into_inner()).push(&e);
            sink(e);
        })
    };
    sink(Event::RunStarted {
        run_id: run_id.clone(),
        levels: vec![Level::Load],
    });
    sink(Event::LevelStarted { level: Level::Load });
    let builder = crate::attach_all(
        Stack::from_manifest(&config.manifest)?
            .run_id(run_id.clone())
            .reports_dir(reports.clone())
            .events(sink.clone()),
        &args.attach,
    )?;
    let stack = crate::start_unless_interrupted(builder).await?;
    let outcome = tokio::select! {
        result = run_on(&stack, &config, load, &settings, Level::Load, sink.clone()) => result,
        () = crate::signal() => Err(Error::Interrupted),
    };
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            let _ = stack.shutdown().await;
            return Err(e.into());
        }
    };
    let summary = level_summary(&report, &settings, started.elapsed(), &sink);
    let passed = report.passed();
    sink(Event::LevelFinished(summary));
    sink(Event::RunFinished {
        outcome: if passed {
            RunOutcome::Passed
        } else {
            RunOutcome::Failed
        },
        duration: started.elapsed(),
    });
    let written = {
        let report = collector.lock().unwrap_or_else(|p| p.into_inner()).report();
        let written = harness::report::write_reports(&run_dir, &report)
            .map_err(|e| Error::io(format!("writing the reports into {}", run_dir.display()), e))?;
        harness::report::point_latest(&reports, &run_id).map_err(|e| {
            Error::io(
                format!("pointing {}/latest at the run", reports.display()),
                e,
            )
        })?;
        written
    };
    stack.shutdown().await?;
    // The spinners go before the summary is printed (they would redraw over it).
    let _ = display.clear();
    println!(
        "run {run_id}: load {} {}",
        settings.name,
        if passed { "passed" } else { "FAILED" }
    );
    print!("{}", text_summary(&report));
    for f in &written {
        println!("wrote {}", f.display());
    }
    Ok(passed)
}

/// The level's totals from a judged run, each threshold a test (emitted as it is read).
pub(crate) fn level_summary(
    report: &LoadReport,
    settings: &Settings,
    duration: Duration,
    sink: &EventSink,
) -> LevelSummary {
    let mut summary = LevelSummary {
        level: Level::Load,
        status: LevelStatus::Passed,
        passed: 0,
        failed: 0,
        skipped: 0,
        flaky: 0,
        duration,
        note: None,
    };
    for t in &report.thresholds {
        let outcome = if t.passed {
            summary.passed += 1;
            TestOutcome::Passed
        } else {
            summary.failed += 1;
            TestOutcome::Failed
        };
        let output = match (&t.reason, &t.measured) {
            (Some(reason), _) => reason.clone(),
            (None, Some(measured)) => format!("measured {measured}"),
            (None, None) => String::new(),
        };
        sink(Event::TestFinished(TestResult {
            level: Level::Load,
            suite: format!("load {}", settings.name),
            name: t.threshold.clone(),
            outcome,
            duration: Duration::ZERO,
            retries: 0,
            output: if t.passed { String::new() } else { output },
        }));
    }
    if summary.failed > 0 {
        summary.status = LevelStatus::Failed;
    }
    if !report.warnings.is_empty() {
        summary.note = Some(report.warnings.join("; "));
    }
    summary
}

/// Runs the suite with `settings` against `stack`, scraping the servers meanwhile, and
/// judges what it measured. Emits `LoadFinished` with the report.
pub(crate) async fn run_on(
    stack: &Stack,
    config: &Config,
    load: &LoadConfig,
    settings: &Settings,
    level: Level,
    sink: EventSink,
) -> Result<LoadReport, Error> {
    let target = stack.url(&load.target).map_err(|_| {
        Error::Usage(format!(
            "[load] target = {:?}: the stack {} has no such service with a URL",
            load.target,
            config.manifest.display()
        ))
    })?;
    let logs = stack.run_dir().join("logs");
    std::fs::create_dir_all(&logs)
        .map_err(|e| Error::io(format!("creating {}", logs.display()), e))?;
    let output = stack.run_dir().join(format!("load-{}.json", settings.name));
    let _ = std::fs::remove_file(&output);
    let p = &settings.profile;
    let plan = Plan {
        target,
        users: p.users,
        warmup: p.warmup,
        duration: p.duration,
        output: Some(output.clone()),
        profile: settings.name.clone(),
        seed: load.seed,
        abort: if p.abort {
            harness::load::abort_rules(&p.thresholds)
        } else {
            Vec::new()
        },
    };
    let scrape = scrape_targets(stack, load)?;
    let log_path = logs.join("load-suite.log");
    let shown = load.command.join(" ");
    sink(Event::LevelStep {
        level,
        step: format!(
            "load {}: {} user(s), {}s warm-up + {}s; `{shown}` (output in {})",
            settings.name,
            p.users,
            p.warmup.as_secs_f64(),
            p.duration.as_secs_f64(),
            log_path.display()
        ),
    });
    let view = run_suite(
        &config.dir,
        load,
        &shown,
        stack.env_vars().into_iter().chain(plan.env()),
        &log_path,
        p.warmup + p.duration,
        scrape,
        level,
        &sink,
    )
    .await?;
    let results = LoadResults::read(&output).map_err(|e| {
        Error::Usage(format!(
            "the load suite `{shown}` wrote no usable results: {e}; its log:\n{}",
            harness::text::tail_of_file(&log_path, 30)
        ))
    })?;
    let report = harness::load::judge(&results, &p.thresholds, view);
    sink(Event::LoadFinished(Box::new(report.clone())));
    Ok(report)
}

/// `(service, metrics URL)` of every service `[load] scrape` names, else of every service
/// with an HTTP URL; a name that is no service of the stack is an error.
fn scrape_targets(stack: &Stack, load: &LoadConfig) -> Result<Vec<(String, String)>, Error> {
    let endpoints = stack.endpoints();
    for name in load.scrape.iter().flatten() {
        if !endpoints.iter().any(|e| &e.service == name) {
            return Err(Error::Usage(format!(
                "[load] scrape names {name:?}, which is no service of the stack"
            )));
        }
    }
    Ok(endpoints
        .into_iter()
        .filter(|e| match &load.scrape {
            Some(names) => names.contains(&e.service),
            None => true,
        })
        .filter_map(|e| {
            let url = e.url?;
            url.starts_with("http://").then(|| {
                (
                    e.service,
                    format!("{}{}", url.trim_end_matches('/'), load.metrics_path),
                )
            })
        })
        .collect())
}

/// Starts the suite, scrapes from its start line to its end, waits for it (at most its
/// start timeout plus the load's time and a minute), and returns the servers' view.
#[allow(clippy::too_many_arguments)]
async fn run_suite(
    dir: &Path,
    load: &LoadConfig,
    shown: &str,
    env: impl Iterator<Item = (String, String)>,
    log_path: &Path,
    load_time: Duration,
    scrape: Vec<(String, String)>,
    level: Level,
    sink: &EventSink,
) -> Result<Option<harness::load::scrape::ServerView>, Error> {
    use std::io::Write as _;
    let log = std::fs::File::create(log_path)
        .map_err(|e| Error::io(format!("creating {}", log_path.display()), e))?;
    let err = log
        .try_clone()
        .map_err(|e| Error::io(log_path.display().to_string(), e))?;
    let argv = &load.command;
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        // Its own process group, so stopping it reaches what it started (`cargo run`).
        .process_group(0)
        .kill_on_drop(true);
    for key in harness::images::inherited_cargo_vars() {
        cmd.env_remove(key);
    }
    let mut child = cmd.spawn().map_err(|e| {
        Error::Usage(format!(
            "cannot start the load suite `{shown}` ([load] command): {e}"
        ))
    })?;
    let guard = crate::run::GroupGuard(child.id());
    let stdout = child.stdout.take();
    let deadline = Instant::now() + load.start_timeout + load_time + Duration::from_secs(60);
    let mut lines = stdout.map(|s| tokio::io::BufReader::new(s).lines());
    let mut log = std::io::LineWriter::new(log);
    let mut scraper = None;
    let mut started: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut said_starting = false;
    loop {
        tokio::select! {
            line = async {
                match lines.as_mut() {
                    Some(l) => l.next_line().await,
                    None => std::future::pending().await,
                }
            } => match line {
                Ok(Some(line)) => {
                    let _ = writeln!(log, "{line}");
                    if line.trim() == harness::load::STARTED && started.is_none() {
                        started = Some(Instant::now());
                        if !scrape.is_empty() {
                            let config = ScrapeConfig::new(scrape.clone()).gauges(load.gauges.clone());
                            match Scraper::start(config).await {
                                Ok(s) => scraper = Some(s),
                                Err(e) => sink(Event::LevelStep {
                                    level,
                                    step: format!("the servers' /metrics cannot be scraped: {e}"),
                                }),
                            }
                        }
                    }
                }
                _ => lines = None,
            },
            status = child.wait() => {
                let status = status.map_err(|e| Error::Usage(format!("waiting for the load suite `{shown}`: {e}")))?;
                std::mem::forget(guard);
                let view = match scraper {
                    Some(s) => Some(s.stop().await),
                    None => None,
                };
                if !status.success() {
                    return Err(Error::Usage(format!(
                        "the load suite `{shown}` exited with {status}; its log:\n{}",
                        harness::text::tail_of_file(log_path, 30)
                    )));
                }
                return Ok(view);
            }
            _ = tick.tick() => {
                if Instant::now() > deadline {
                    return Err(Error::Usage(format!(
                        "the load suite `{shown}` did not end within {}s; its log:\n{}",
                        (load.start_timeout + load_time).as_secs() + 60,
                        harness::text::tail_of_file(log_path, 30)
                    )));
                }
                let step = match started {
                    None if said_starting => continue,
                    None => {
                        said_starting = true;
                        "load: starting the suite (a `cargo run` may build it first)".to_owned()
                    }
                    Some(at) => format!(
                        "load: {:.0}s of {:.0}s",
                        at.elapsed().as_secs_f64().min(load_time.as_secs_f64()),
                        load_time.as_secs_f64()
                    ),
                };
                sink(Event::LevelStep { level, step });
            }
        }
    }
}

/// What `harness load` prints: the thresholds, then the figures of every target.
fn text_summary(report: &LoadReport) -> String {
    use std::fmt::Write as _;
    let ms = |s: Option<f64>| match s {
        Some(s) => format!("{:.1}ms", s * 1e3),
        None => "-".to_owned(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "load {}: {} user(s), {:.0}s warm-up, {:.0}s measured",
        report.profile, report.users, report.warmup, report.duration
    );
    let _ = writeln!(
        out,
        "{:<40} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "target", "count", "errors", "rate/s", "p50", "p95", "p99"
    );
    for t in &report.targets {
        let _ = writeln!(
            out,
            "{:<40} {:>8} {:>7} {:>9.1} {:>9} {:>9} {:>9}",
            t.target,
            t.count,
            t.errors,
            t.rate,
            ms(t.p50),
            ms(t.p95),
            ms(t.p99)
        );
    }
    for s in &report.server {
        let _ = writeln!(
            out,
            "server {:<33} {:>8} {:>7} {:>9.1} {:>9} {:>9} {:>9}",
            s.service,
            s.requests,
            s.errors,
            s.rps,
            ms(s.p50),
            ms(s.p95),
            ms(s.p99)
        );
    }
    let g = &report.generator;
    let _ = writeln!(
        out,
        "generator: {:.0}% CPU on average ({:.0}% at most) of {} core(s), {:.0} MB",
        g.cpu_avg,
        g.cpu_max,
        g.cores,
        g.rss_max as f64 / 1e6
    );
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for t in &report.thresholds {
        let detail = match (&t.reason, &t.measured) {
            (Some(r), _) => format!(": {r}"),
            (None, Some(m)) => format!(" ({m})"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "threshold {} {}{detail}",
            if t.passed { "passed" } else { "FAILED" },
            t.threshold
        );
    }
    if report.thresholds.is_empty() {
        let _ = writeln!(out, "no thresholds: nothing was judged");
    }
    out
}
