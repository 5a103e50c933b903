//! The session every command runs in: its run id and folder (`<reports>/<run>/`), the event
//! stream (to the caller's sink, to the run's report collector, and appended to
//! `<run>/events.jsonl` as it happens, so a killed run leaves a record of what finished),
//! the stacks it starts (labelled with the run, so the reaper removes them if the process
//! dies), and interruption ([`Interrupt`]: Ctrl-C and SIGTERM, or a caller's cancel).

use std::{
    io::{LineWriter, Write as _},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use harness_core::{Event, EventRecord, EventSink, run_dir::RunDir};
use harness_report::{Collector, RunReport};
use harness_stack::{Stack, StackBuilder};
use tokio_util::sync::CancellationToken;

use crate::{Config, Error, Result};

/// The file of a run's folder that holds its events, one JSON [`EventRecord`] per line.
pub const EVENTS_FILE: &str = "events.jsonl";

/// Stops a command: Ctrl-C or SIGTERM when made by [`Interrupt::on_signals`], or
/// [`Interrupt::cancel`] from the caller. A command interrupted while it starts a stack
/// removes what it had started; an interrupted `harness run` reports what finished.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    token: CancellationToken,
}

impl Interrupt {
    /// An interrupt that only [`cancel`](Self::cancel) fires.
    pub fn new() -> Self {
        Self::default()
    }

    /// An interrupt fired by the first Ctrl-C (SIGINT) or SIGTERM the process receives. The
    /// handlers are installed before this returns, so a signal right after it is not lost.
    /// Needs a tokio runtime.
    pub fn on_signals() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| Error::Environment(format!("cannot watch {name}: {e}")))
        };
        let mut int = watch(SignalKind::interrupt(), "SIGINT")?;
        let mut term = watch(SignalKind::terminate(), "SIGTERM")?;
        let this = Self::new();
        let token = this.token.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            token.cancel();
        });
        Ok(this)
    }

    /// Fires the interrupt.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether it fired.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Waits until it fires.
    pub async fn fired(&self) {
        self.token.cancelled().await;
    }
}

/// How a session is opened.
#[derive(Default)]
pub struct SessionOptions {
    /// Where run folders go (default: `HARNESS_REPORTS_DIR`, else `reports/` at the root of
    /// the config's workspace).
    pub reports_dir: Option<PathBuf>,
    /// Where events go besides the run's report and events file (progress for people).
    pub events: Option<EventSink>,
    /// What stops the command (default: only a cancel of the caller's).
    pub interrupt: Interrupt,
    /// The run id (default: a new one).
    pub run_id: Option<String>,
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("reports_dir", &self.reports_dir)
            .field("events", &self.events.as_ref().map(|_| "EventSink"))
            .field("interrupt", &self.interrupt)
            .field("run_id", &self.run_id)
            .finish()
    }
}

/// One command's run: see the module documentation.
pub struct Session {
    config: Config,
    root: PathBuf,
    reports: PathBuf,
    run_id: String,
    dir: PathBuf,
    sink: EventSink,
    collector: Arc<Mutex<Collector>>,
    interrupt: Interrupt,
    started: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config.path)
            .field("run_id", &self.run_id)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens a session for `config`: creates the run's folder and its events file.
    pub fn open(config: Config, options: SessionOptions) -> Result<Self> {
        let root = config.workspace_root();
        let reports = options
            .reports_dir
            .unwrap_or_else(|| harness_core::run_dir::default_reports_dir(&root));
        let run_id = options.run_id.unwrap_or_else(StackBuilder::new_run_id);
        let dir = RunDir::new(&reports, &run_id).path().to_owned();
        let forward = options.events.unwrap_or_else(harness_core::discard);
        Self::in_dir(config, reports, run_id, dir, forward, options.interrupt)
    }

    /// A session writing into `dir`: its logs folder and its events file, appended to.
    fn in_dir(
        config: Config,
        reports: PathBuf,
        run_id: String,
        dir: PathBuf,
        forward: EventSink,
        interrupt: Interrupt,
    ) -> Result<Self> {
        let root = config.workspace_root();
        let logs = RunDir::at(&dir).logs();
        std::fs::create_dir_all(&logs)
            .map_err(|e| Error::io(format!("creating {}", logs.display()), e))?;
        let events_path = dir.join(EVENTS_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&events_path)
            .map_err(|e| Error::io(format!("creating {}", events_path.display()), e))?;
        let file = Mutex::new(LineWriter::new(file));
        let collector = Arc::new(Mutex::new(Collector::new()));
        let sink: EventSink = {
            let collector = collector.clone();
            Arc::new(move |e: Event| {
                collector.lock().unwrap_or_else(|p| p.into_inner()).push(&e);
                // One line per event, written through at once: what a killed run did is on
                // disk. An event that cannot be stored is still shown and collected.
                if let Ok(line) = serde_json::to_string(&EventRecord::now(e.clone())) {
                    let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
                    let _ = writeln!(file, "{line}");
                }
                forward(e);
            })
        };
        Ok(Self {
            config,
            root,
            reports,
            run_id,
            dir,
            sink,
            collector,
            interrupt,
            started: Instant::now(),
        })
    }

    /// A session inside this one, for work whose results are not the run's (a planted
    /// defect's check): the same config, run id and interrupt, its own folder `dir` and
    /// collector; its events go to `<dir>/events.jsonl`, and only the progress among them
    /// (images, services, notices, warnings) on to this session's caller.
    pub fn child(&self, dir: PathBuf) -> Result<Session> {
        let parent = self.sink.clone();
        let forward: EventSink = Arc::new(move |e: Event| {
            if matches!(
                e,
                Event::ImageWorking { .. }
                    | Event::ImageReady { .. }
                    | Event::ServiceStarting { .. }
                    | Event::ServiceWaiting { .. }
                    | Event::ServiceReady { .. }
                    | Event::ServiceExited { .. }
                    | Event::Warning { .. }
            ) {
                parent(e);
            }
        });
        Self::in_dir(
            self.config.clone(),
            self.reports.clone(),
            self.run_id.clone(),
            dir,
            forward,
            self.interrupt.clone(),
        )
    }

    /// The harness.toml the session runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The root of the config's cargo workspace (where nextest and user programs run).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The run's id (also the label of its containers).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run's folder, `<reports>/<run>/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where run folders go.
    pub fn reports_dir(&self) -> &Path {
        &self.reports
    }

    /// The session's event sink: the caller's, the report and the events file.
    pub fn events(&self) -> EventSink {
        self.sink.clone()
    }

    /// Emits an event.
    pub fn emit(&self, event: Event) {
        (self.sink)(event);
    }

    /// What stops the command.
    pub fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }

    /// Since the session opened.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A builder of the config's stack for this run: its id, its folder, its events.
    pub fn stack(&self) -> Result<StackBuilder> {
        Ok(Stack::from_manifest(&self.config.manifest)?
            .run_id(self.run_id.clone())
            .reports_dir(self.reports.clone())
            .events(self.sink.clone()))
    }

    /// Starts a stack; an interrupt meanwhile is [`Error::Interrupted`] (dropping the start
    /// removes what it had started).
    pub async fn start(&self, builder: StackBuilder) -> Result<Stack> {
        tokio::select! {
            result = builder.start() => Ok(result?),
            () = self.interrupt.fired() => Err(Error::Interrupted),
        }
    }

    /// Runs `work` unless the interrupt fires first ([`Error::Interrupted`]).
    pub async fn unless_interrupted<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::select! {
            result = work => result,
            () = self.interrupt.fired() => Err(Error::Interrupted),
        }
    }

    /// The report of what the session's events say so far.
    pub fn report(&self) -> RunReport {
        self.collector
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .report()
    }

    /// Writes the run's reports (junit.xml, report.json, summary.md, report.html) into its
    /// folder, each atomically; returns the files.
    pub fn write_reports(&self) -> Result<Vec<PathBuf>> {
        harness_report::write_reports(&self.dir, &self.report()).map_err(|e| {
            Error::io(
                format!("writing the reports into {}", self.dir.display()),
                e,
            )
        })
    }

    /// Points `<reports>/latest` at this run.
    pub fn point_latest(&self) -> Result<()> {
        harness_report::point_latest(&self.reports, &self.run_id).map_err(|e| {
            Error::io(
                format!("pointing {}/latest at the run", self.reports.display()),
                e,
            )
        })
    }
}

/// Applies `NAME=URL` attachments (`--attach`) to a stack builder.
pub fn attach_all(mut builder: StackBuilder, attach: &[String]) -> Result<StackBuilder> {
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
