//! `harness load` and the load level of `harness run`: the workspace's load suite (a goose
//! binary, `[load] command` in harness.toml) run against a stack and judged by thresholds.
//!
//! The suite gets the stack's endpoints (`HARNESS_<SERVICE>_URL`) and the run's plan
//! (`HARNESS_LOAD_*`: target, users, warm-up, duration, seed, where to write its results,
//! the rules goose may stop on) in its environment. When it prints that its load started
//! ([`harness_load::STARTED`]), every service's `/metrics` is scraped until it ends
//! ([`suite`]); then its results are read and judged ([`harness_load::judge`]) into a
//! `LoadReport`: one `LoadFinished` event and, per threshold, one test of the `load` level,
//! so the thresholds are in every report and in the gate.

mod suite;

use std::{path::PathBuf, time::Duration};

use harness_core::{
    Event, EventSink,
    run::{Level, LevelStatus, LevelSummary, RunOutcome, TestOutcome, TestResult},
};
use harness_load::{LoadResults, Plan, Threshold, report::LoadReport};
use harness_stack::Stack;

use crate::{Config, Error, LoadConfig, Profile, Result, Session, session::attach_all};

/// What `harness load` runs: a profile of harness.toml with changes.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The profile (`[load.profiles.NAME]`; default: smoke, else the defaults as `custom`).
    pub profile: Option<String>,
    /// Virtual users (overrides the profile's).
    pub users: Option<usize>,
    /// The measured time after the warm-up (overrides the profile's).
    pub duration: Option<Duration>,
    /// The warm-up (overrides the profile's).
    pub warmup: Option<Duration>,
    /// Thresholds added to the profile's.
    pub thresholds: Vec<Threshold>,
    /// Stop the load as soon as a threshold goose can judge while running is lost.
    pub abort: bool,
    /// Already running services instead of containers: `NAME=URL`.
    pub attach: Vec<String>,
}

impl LoadOptions {
    /// A duration option given as text (`--duration 30s`), `flag` naming it in errors.
    pub fn parse_duration(flag: &str, text: &str) -> Result<Duration> {
        harness_stack::manifest::parse_duration(text)
            .map_err(|m| Error::Usage(format!("{flag} {text}: {m}")))
    }

    /// A threshold given as text (`--threshold 'p95 < 300ms'`).
    pub fn parse_threshold(text: &str) -> Result<Threshold> {
        Threshold::parse(text).map_err(|e| Error::Usage(format!("--threshold: {e}")))
    }
}

/// A load run's settings: a profile with the options' changes.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub profile: Profile,
}

impl Settings {
    /// The named profile of `[load]` (`smoke` by default; a run without profiles and only
    /// options is `custom`), with the options' overrides.
    pub fn from_options(options: &LoadOptions, load: &LoadConfig) -> Result<Self> {
        let (name, mut profile) = match &options.profile {
            Some(name) => match load.profiles.get(name) {
                Some(p) => (name.clone(), p.clone()),
                None => return Err(unknown_profile(name, load)),
            },
            None => match load.profiles.get("smoke") {
                Some(p) => ("smoke".to_owned(), p.clone()),
                None => ("custom".to_owned(), Profile::default()),
            },
        };
        if let Some(users) = options.users {
            if users == 0 {
                return Err(Error::Usage("--users 0: at least one user".to_owned()));
            }
            profile.users = users;
        }
        if let Some(d) = options.duration {
            profile.duration = d;
        }
        if let Some(w) = options.warmup {
            profile.warmup = w;
        }
        if profile.duration.is_zero() {
            return Err(Error::Usage("--duration must be more than 0s".to_owned()));
        }
        profile
            .thresholds
            .extend(options.thresholds.iter().cloned());
        profile.abort |= options.abort;
        Ok(Self { name, profile })
    }

    /// The named profile of a `harness run` level.
    pub fn named(name: &str, load: &LoadConfig) -> Result<Self> {
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
        "{} has no [load] section: name the load suite there (docs/src/load.md)",
        config.path.display()
    ))
}

/// What `harness load` found.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub run_id: String,
    /// The profile's name.
    pub profile: String,
    pub report: LoadReport,
    /// The run's report files.
    pub written: Vec<PathBuf>,
}

impl LoadResult {
    /// Every threshold held.
    pub fn passed(&self) -> bool {
        self.report.passed()
    }
}

/// `harness load`: the stack, the suite with the settings, the verdicts and the reports of
/// a one-level run.
pub async fn load(session: &Session, options: &LoadOptions) -> Result<LoadResult> {
    let config = session.config();
    let load = config
        .load
        .as_ref()
        .ok_or_else(|| no_load_section(config))?;
    let settings = Settings::from_options(options, load)?;
    session.emit(Event::RunStarted {
        run_id: session.run_id().to_owned(),
        levels: vec![Level::Load],
        // Only `harness run` announces its folder (a load run prints its own lines).
        dir: None,
    });
    session.emit(Event::LevelStarted { level: Level::Load });
    let builder = attach_all(session.stack()?, &options.attach)?;
    let stack = session.start(builder).await?;
    let outcome = session
        .unless_interrupted(run_on(session, &stack, load, &settings, Level::Load))
        .await;
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            let _ = stack.shutdown().await;
            return Err(e);
        }
    };
    let summary = level_summary(&report, &settings, session.elapsed(), &session.events());
    let passed = report.passed();
    session.emit(Event::LevelFinished(summary));
    session.emit(Event::RunFinished {
        outcome: if passed {
            RunOutcome::Passed
        } else {
            RunOutcome::Failed
        },
        duration: session.elapsed(),
    });
    let written = session.write_reports()?;
    session.point_latest()?;
    stack.shutdown().await?;
    Ok(LoadResult {
        run_id: session.run_id().to_owned(),
        profile: settings.name,
        report,
        written,
    })
}

/// The level's totals from a judged run, each threshold a test (emitted as it is read).
pub fn level_summary(
    report: &LoadReport,
    settings: &Settings,
    duration: Duration,
    sink: &EventSink,
) -> LevelSummary {
    let mut summary = crate::pyramid::empty(Level::Load, LevelStatus::Passed, None);
    summary.duration = duration;
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
pub async fn run_on(
    session: &Session,
    stack: &Stack,
    load: &LoadConfig,
    settings: &Settings,
    level: Level,
) -> Result<LoadReport> {
    let config = session.config();
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
            harness_load::abort_rules(&p.thresholds)
        } else {
            Vec::new()
        },
    };
    let scrape = scrape_targets(stack, load)?;
    let log_path = logs.join("load-suite.log");
    let shown = load.command.join(" ");
    session.emit(Event::LevelStep {
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
    let view = suite::Suite {
        dir: &config.dir,
        load,
        shown: &shown,
        env: stack.env_vars().into_iter().chain(plan.env()).collect(),
        log_path: &log_path,
        load_time: p.warmup + p.duration,
        scrape,
        level,
        sink: session.events(),
    }
    .run()
    .await?;
    let results = LoadResults::read(&output).map_err(|e| {
        Error::Usage(format!(
            "the load suite `{shown}` wrote no usable results: {e}; its log:\n{}",
            harness_core::text::tail_of_file(&log_path, 30)
        ))
    })?;
    let report = harness_load::judge(&results, &p.thresholds, view);
    session.emit(Event::LoadFinished(Box::new(report.clone())));
    Ok(report)
}

/// `(service, metrics URL)` of every service `[load] scrape` names, else of every service
/// with an HTTP URL; a name that is no service of the stack is an error.
fn scrape_targets(stack: &Stack, load: &LoadConfig) -> Result<Vec<(String, String)>> {
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
