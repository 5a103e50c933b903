//! Removing what runs created: a whole run (on drop, Ctrl-C, SIGTERM) and the leftovers of
//! runs whose owner died (`kill -9`), found through the labels in [`crate::labels`].

use std::collections::HashMap;

use testcontainers::bollard::{
    Docker,
    models::ContainerSummary,
    query_parameters::{
        ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
    },
};

use crate::{
    error::{Error, Result},
    labels::{self, Owner},
};

/// What a sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Run ids whose resources were removed.
    pub runs: Vec<String>,
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

/// Every container Harness created, running or not.
pub(crate) async fn managed_containers(docker: &Docker) -> Result<Vec<ContainerSummary>> {
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&managed_filter())
                .build(),
        ))
        .await
        .map_err(|e| Error::docker("listing containers", e))
}

/// Removes every container and network of runs whose owner process is gone. Resources of
/// live runs, of other hosts, and anything without Harness labels are left alone.
pub async fn sweep_dead_runs(docker: &Docker) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let managed = managed_filter();
    let containers = managed_containers(docker).await?;
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&managed).build(),
        ))
        .await
        .map_err(|e| Error::docker("listing networks", e))?;

    let mut dead_runs: Vec<String> = Vec::new();
    let mut consider = |labels: &HashMap<String, String>| {
        let Some(run) = labels.get(labels::RUN) else {
            return;
        };
        let dead = match Owner::from_labels(labels) {
            Some(owner) => !owner.is_alive(),
            None => false, // no owner recorded: not ours to judge
        };
        if dead && !dead_runs.contains(run) {
            dead_runs.push(run.clone());
        }
    };
    for c in &containers {
        if let Some(l) = &c.labels {
            consider(l);
        }
    }
    for n in &networks {
        if let Some(l) = &n.labels {
            consider(l);
        }
    }
    for run in dead_runs {
        let (c, n) = remove_run(docker, &run).await?;
        report.containers += c;
        report.networks += n;
        report.runs.push(run);
    }
    Ok(report)
}

/// Removes all containers (forcibly, with their anonymous volumes) and then all networks
/// labelled with `run_id`. Returns how many of each were removed.
pub async fn remove_run(docker: &Docker, run_id: &str) -> Result<(usize, usize)> {
    let filter = label_filter(format!("{}={run_id}", labels::RUN));
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await
        .map_err(|e| Error::docker("listing containers", e))?;
    let mut removed_containers = 0;
    for c in containers {
        let Some(id) = c.id else { continue };
        match docker
            .remove_container(
                &id,
                Some(
                    RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build(),
                ),
            )
            .await
        {
            Ok(()) => removed_containers += 1,
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::docker(format!("removing container {id}"), e)),
        }
    }
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .map_err(|e| Error::docker("listing networks", e))?;
    let mut removed_networks = 0;
    for n in networks {
        let Some(id) = n.id else { continue };
        match docker.remove_network(&id).await {
            Ok(()) => removed_networks += 1,
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::docker(format!("removing network {id}"), e)),
        }
    }
    Ok((removed_containers, removed_networks))
}

pub(crate) fn is_not_found(e: &testcontainers::bollard::errors::Error) -> bool {
    matches!(
        e,
        testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
