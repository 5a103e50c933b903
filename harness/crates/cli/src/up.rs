//! `harness up`: build what is missing, start the stack, print every service's URL (and
//! write them to `--env-file`), stay up until Ctrl-C / SIGTERM, then remove everything.

use std::{io::Write as _, path::PathBuf, time::Instant};

use harness::{Manifest, Stack, pyramid::Interrupt};

use crate::{failure::Failure, progress::progress};

#[derive(Debug, clap::Args)]
pub(crate) struct UpArgs {
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
}

pub(crate) async fn up(args: UpArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let interrupt = Interrupt::on_signals()?;
    let manifest = Manifest::from_path(&args.manifest)?;
    let (sink, multi) = progress();
    let mut builder =
        harness::pyramid::attach_all(Stack::builder(manifest).events(sink), &args.attach)?;
    if !args.only.is_empty() {
        builder = builder.only(args.only);
    }

    // Dropping the start future (on a signal) removes what it had started before the
    // select ends.
    let stack = tokio::select! {
        result = builder.start() => result?,
        () = interrupt.fired() => return Err(harness::Error::Interrupted.into()),
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
    if let Some(path) = args.env_file {
        std::fs::write(&path, env_lines).map_err(|e| {
            harness::Error::Usage(format!("cannot write --env-file {}: {e}", path.display()))
        })?;
    }
    if !args.exit_when_ready {
        println!("press Ctrl-C to stop and remove the stack");
        interrupt.fired().await;
    }
    Ok(stack.shutdown().await?)
}
