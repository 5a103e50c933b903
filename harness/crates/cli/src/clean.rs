//! `harness clean`: remove what dead runs left behind (never a live run's, nor one whose
//! owner's liveness cannot be told), and on request a given run, every run, old images
//! and old report folders.

use std::path::{Path, PathBuf};

use crate::failure::Failure;

#[derive(Debug, clap::Args)]
pub(crate) struct CleanArgs {
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
}

pub(crate) async fn clean(args: CleanArgs) -> Result<(), Failure> {
    if let Some(run) = args.runs.iter().find(|r| !harness::labels::is_run_id(r)) {
        return Err(harness::Error::Usage(format!(
            "--run {run}: a run id is lowercase letters and digits, as printed by `harness up`"
        ))
        .into());
    }
    let docker = harness::connect().await?;
    if args.all {
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
            .filter(|r| !args.runs.contains(r))
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
        for run in &args.runs {
            let removed = harness::remove_run(&docker, run).await?;
            println!(
                "removed {} container(s) and {} network(s) of run {run}",
                removed.containers, removed.networks
            );
        }
    }
    if args.images {
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
    if let Some(keep) = args.reports {
        let dir = args
            .reports_dir
            .unwrap_or_else(|| harness::default_reports_dir(Path::new(".")));
        let deleted = harness::prune_reports(&docker, &dir, keep).await?;
        println!(
            "deleted {} report folder(s) in {}, kept the {keep} most recent and those of live runs",
            deleted.len(),
            dir.display()
        );
    }
    Ok(())
}
