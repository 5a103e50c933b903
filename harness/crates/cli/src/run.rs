//! `harness run`: the arguments, the session (signals interrupt it), progress, and what is
//! printed at the end (the report's console summary, the gate's reasons, the files).

use std::path::PathBuf;

use harness::pyramid::{self, Config, Interrupt, RunOptions, Session, SessionOptions};
use harness::run::RunOutcome;

use crate::{failure::Failure, progress::progress};

/// The arguments of `harness run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Run only these levels (repeatable or comma-separated): unit, integration, contract,
    /// e2e, load, defects. Default: all, in that order.
    #[arg(long = "level", value_name = "LEVEL", value_delimiter = ',')]
    levels: Vec<String>,
    /// Stop after the first level that fails (the levels after it are reported as not run).
    #[arg(long)]
    fail_fast: bool,
    /// The harness.toml to read (default: the one at the workspace root).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Where run folders go (default: HARNESS_REPORTS_DIR, else `reports/` at the root of
    /// the workspace).
    #[arg(long, value_name = "DIR")]
    reports_dir: Option<PathBuf>,
}

pub(crate) async fn run(args: RunArgs) -> Result<(), Failure> {
    let config = Config::resolve(args.config.as_deref())?;
    let options = RunOptions {
        levels: RunOptions::parse_levels(&args.levels)?,
        fail_fast: args.fail_fast,
        env: Vec::new(),
    };
    // harness.toml whole before anything (a run folder included) is made.
    let levels = if options.levels.is_empty() {
        harness::run::Level::ALL.to_vec()
    } else {
        options.levels.clone()
    };
    config.check_filtersets(&levels)?;
    let (sink, multi) = progress();
    let session = Session::open(
        config,
        SessionOptions {
            reports_dir: args.reports_dir,
            events: Some(sink),
            interrupt: Interrupt::on_signals()?,
            ..SessionOptions::default()
        },
    )?;
    let result = pyramid::run(&session, &options).await;
    // The level spinners go before the summary is printed (they would redraw over it).
    let _ = multi.clear();
    let result = result?;
    print!("{}", harness::report::console(&result.report));
    for g in &result.gate {
        println!("gate: {g}");
    }
    for f in &result.written {
        println!("wrote {}", f.display());
    }
    match result.outcome {
        RunOutcome::Interrupted => Err(pyramid::Error::Interrupted.into()),
        RunOutcome::Passed => Ok(()),
        RunOutcome::Failed => Err(Failure::Gate(
            "the gate failed (see above and the reports)".to_owned(),
        )),
    }
}
