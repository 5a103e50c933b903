//! Removing what runs created: a whole run (on drop, Ctrl-C, SIGTERM, a cancelled start),
//! and the second line of defence behind the reaper: the sweep of runs whose owner is known
//! to be dead, found through the labels in [`crate::labels`].
//!
//! Both are safe to run from several processes at once: a container another process is
//! already removing (409), or that is gone (404), counts as removed, and a network whose
//! containers are still going (403/409 "active endpoints") is retried for a while.
//! The sweep is best-effort: a run it cannot remove is reported, never an error.

use std::{collections::HashMap, path::Path, time::Duration};

use bollard::{
    Docker,
    errors::Error as DockerError,
    models::ContainerSummary,
    query_parameters::{
        ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
    },
};

use crate::error::{Error, Result};
use crate::labels::{self, Liveness, Owner};

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Run ids whose resources were removed.
    pub runs: Vec<String>,
    pub containers: usize,
    pub networks: usize,
    /// Runs whose owner's liveness cannot be told (another host, no `/proc`): left alone;
    /// `harness clean --run ID` or `--all` removes them on request.
    pub undecided: Vec<String>,
    /// Dead runs that could not be removed (run id, reason); the next sweep tries again.
    pub failed: Vec<(String, String)>,
}

/// How many containers and networks a removal took away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
}

pub(crate) fn label_filter(label: String) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![label])])
}

/// The filter for everything Harness created.
pub(crate) fn managed_filter() -> HashMap<String, Vec<String>> {
    label_filter(format!("{}=true", labels::MANAGED))
}

/// The filter for one run's resources.
pub(crate) fn run_filter(run_id: &str) -> HashMap<String, Vec<String>> {
    label_filter(labels::run_label(run_id))
}

/// Every container Harness created, running or not.
pub(crate) async fn managed_containers(docker: &Docker) -> Result<Vec<ContainerSummary>> {
    list_containers(docker, &managed_filter()).await
}

async fn list_containers(
    docker: &Docker,
    filter: &HashMap<String, Vec<String>>,
) -> Result<Vec<ContainerSummary>> {
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(filter)
                .build(),
        ))
        .await
        .map_err(|e| Error::docker("listing containers", e))
}

/// The run ids of every container and network Harness created, with each run's owner (as
/// its labels record it).
async fn runs(docker: &Docker) -> Result<Vec<(String, Option<Owner>)>> {
    let containers = managed_containers(docker).await?;
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new()
                .filters(&managed_filter())
                .build(),
        ))
        .await
        .map_err(|e| Error::docker("listing networks", e))?;
    let mut out: Vec<(String, Option<Owner>)> = Vec::new();
    let all_labels = containers
        .iter()
        .filter_map(|c| c.labels.as_ref())
        .chain(networks.iter().filter_map(|n| n.labels.as_ref()));
    for l in all_labels {
        if let Some(run) = l.get(labels::RUN)
            && !out.iter().any(|(r, _)| r == run)
        {
            out.push((run.clone(), Owner::from_labels(l)));
        }
    }
    Ok(out)
}

/// Removes every container and network of runs whose owner process is known to be gone.
/// Live runs, runs whose liveness cannot be told, other hosts' runs, and anything without
/// Harness labels are left alone. A dead run that cannot be removed is reported in
/// [`SweepReport::failed`]; only failing to list what exists is an error.
pub async fn sweep_dead_runs(docker: &Docker) -> Result<SweepReport> {
    sweep_dead_runs_in(docker, Path::new("/proc")).await
}

/// [`sweep_dead_runs`], judging liveness from the process table mounted at `proc`.
pub async fn sweep_dead_runs_in(docker: &Docker, proc: &Path) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    for (run, owner) in runs(docker).await? {
        match owner.map(|o| o.liveness_in(proc)) {
            Some(Liveness::Dead) => match remove_run(docker, &run).await {
                Ok(removed) => {
                    report.containers += removed.containers;
                    report.networks += removed.networks;
                    report.runs.push(run);
                }
                Err(e) => report.failed.push((run, e.to_string())),
            },
            Some(Liveness::Alive) => {}
            Some(Liveness::Unknown) | None => report.undecided.push(run),
        }
    }
    Ok(report)
}

/// Removes every run Harness created, live or not, and returns how many of each resource
/// went (`harness clean --all`).
pub async fn remove_all_runs(docker: &Docker) -> Result<(Vec<String>, Removed)> {
    let mut total = Removed::default();
    let mut ids = Vec::new();
    for (run, _) in runs(docker).await? {
        let removed = remove_run(docker, &run).await?;
        total.containers += removed.containers;
        total.networks += removed.networks;
        ids.push(run);
    }
    Ok((ids, total))
}

/// Whether any container or network carries the run's label.
pub(crate) async fn run_exists(docker: &Docker, run_id: &str) -> Result<bool> {
    let filter = run_filter(run_id);
    if !list_containers(docker, &filter).await?.is_empty() {
        return Ok(true);
    }
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .map_err(|e| Error::docker("listing networks", e))?;
    Ok(!networks.is_empty())
}

/// Removes all containers (forcibly, with their anonymous volumes) and then all networks
/// labelled with `run_id`. Safe to call from several processes at once.
pub async fn remove_run(docker: &Docker, run_id: &str) -> Result<Removed> {
    let filter = run_filter(run_id);
    let mut removed = Removed::default();
    for c in list_containers(docker, &filter).await? {
        let Some(id) = c.id else { continue };
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match docker.remove_container(&id, Some(options)).await {
            Ok(()) => removed.containers += 1,
            // Gone, or being removed by another process (a concurrent sweep).
            Err(e) if status(&e) == Some(404) || status(&e) == Some(409) => {}
            Err(e) => return Err(Error::docker(format!("removing container {id}"), e)),
        }
    }
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .map_err(|e| Error::docker("listing networks", e))?;
    for n in networks {
        let Some(id) = n.id else { continue };
        // A container another process is still removing keeps its endpoint on the network
        // for a moment: the engine answers 403 or 409 until it is gone.
        let mut attempt = 0;
        loop {
            match docker.remove_network(&id).await {
                Ok(()) => {
                    removed.networks += 1;
                    break;
                }
                Err(e) if status(&e) == Some(404) => break,
                Err(e) if matches!(status(&e), Some(403 | 409)) && attempt < 40 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(Error::docker(format!("removing network {id}"), e)),
            }
        }
    }
    Ok(removed)
}

/// The HTTP status of an engine error answer.
pub(crate) fn status(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

pub(crate) fn is_not_found(e: &DockerError) -> bool {
    status(e) == Some(404)
}
