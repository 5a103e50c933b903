//! The load suite as a process: started with the stack's endpoints and the plan in its
//! environment, its output into `<run>/logs/load-suite.log`, the servers scraped from the
//! line that says its load started to its end, bounded in time (its start timeout, the
//! load, and a minute).

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use harness_core::{Event, EventSink, run::Level};
use harness_load::scrape::{ScrapeConfig, Scraper, ServerView};
use tokio::io::AsyncBufReadExt as _;

use crate::{Error, LoadConfig, Result, process::GroupGuard};

/// One start of the load suite.
pub(super) struct Suite<'a> {
    pub(super) dir: &'a Path,
    pub(super) load: &'a LoadConfig,
    /// The command as shown in messages.
    pub(super) shown: &'a str,
    pub(super) env: Vec<(String, String)>,
    pub(super) log_path: &'a Path,
    /// Warm-up and measured time.
    pub(super) load_time: Duration,
    pub(super) scrape: Vec<(String, String)>,
    pub(super) level: Level,
    pub(super) sink: EventSink,
}

impl Suite<'_> {
    /// Runs the suite to its end; the servers' view when they were scraped.
    pub(super) async fn run(self) -> Result<Option<ServerView>> {
        use std::io::Write as _;
        let Self {
            dir,
            load,
            shown,
            env,
            log_path,
            load_time,
            scrape,
            level,
            sink,
        } = self;
        let log = std::fs::File::create(log_path)
            .map_err(|e| Error::io(format!("creating {}", log_path.display()), e))?;
        let err = log
            .try_clone()
            .map_err(|e| Error::io(log_path.display().to_string(), e))?;
        let mut cmd = crate::process::user_command(&load.command, dir);
        cmd.envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            Error::Usage(format!(
                "cannot start the load suite `{shown}` ([load] command): {e}"
            ))
        })?;
        let guard = GroupGuard(child.id());
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
                        if line.trim() == harness_load::STARTED && started.is_none() {
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
                    guard.disarm();
                    let view = match scraper {
                        Some(s) => Some(s.stop().await),
                        None => None,
                    };
                    if !status.success() {
                        return Err(Error::Usage(format!(
                            "the load suite `{shown}` exited with {status}; its log:\n{}",
                            harness_core::text::tail_of_file(log_path, 30)
                        )));
                    }
                    return Ok(view);
                }
                _ = tick.tick() => {
                    if Instant::now() > deadline {
                        return Err(Error::Usage(format!(
                            "the load suite `{shown}` did not end within {}s; its log:\n{}",
                            (load.start_timeout + load_time).as_secs() + 60,
                            harness_core::text::tail_of_file(log_path, 30)
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
}
