//! `harness load`: the arguments (a profile with overrides), the session, progress, and the
//! result as the report writer renders it.

use std::path::PathBuf;

use harness::pyramid::{
    Config, Interrupt, Session, SessionOptions,
    load::{self, LoadOptions},
};

use crate::{
    failure::{Failure, gate},
    progress::progress,
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

impl LoadArgs {
    fn options(&self) -> Result<LoadOptions, Failure> {
        let time = |flag: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| LoadOptions::parse_duration(flag, v))
                .transpose()
        };
        Ok(LoadOptions {
            profile: self.profile.clone(),
            users: self.users,
            duration: time("--duration", &self.duration)?,
            warmup: time("--warmup", &self.warmup)?,
            thresholds: self
                .thresholds
                .iter()
                .map(|t| LoadOptions::parse_threshold(t))
                .collect::<Result<_, _>>()?,
            abort: self.abort,
            attach: self.attach.clone(),
        })
    }
}

pub(crate) async fn load(args: LoadArgs) -> Result<(), Failure> {
    let config = Config::resolve(args.config.as_deref())?;
    let options = args.options()?;
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
    let result = load::load(&session, &options).await;
    // The spinners go before the summary is printed (they would redraw over it).
    let _ = multi.clear();
    let result = result?;
    print!(
        "{}",
        harness::report::console::load_run(&result.run_id, &result.profile, &result.report)
    );
    for f in &result.written {
        println!("wrote {}", f.display());
    }
    gate(result.passed(), "a load threshold did not hold (see above)")
}
