//! The prune: everything the filter sets match, removed in Ryuk's order.
//!
//! Containers go first (forcibly, with their anonymous volumes), then networks (which refuse
//! while a container is attached), volumes (forcibly) and images (untagged and deleted, with
//! their untagged parents). Each removal is tried up to `RYUK_REMOVE_RETRIES` times, 1 s apart;
//! "not found" counts as removed. Listing errors do not stop the removal of what other lists
//! found; every failure is reported, and any makes the prune fail.

use std::{collections::BTreeSet, fmt, future::Future, time::Duration};

use bollard::{
    Docker,
    query_parameters::{
        ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
        ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
        RemoveVolumeOptionsBuilder,
    },
};

use crate::{filter::FilterSet, log};

/// Containers labelled `<one of these>=true` are reapers, Ryuk's or ours: never reaped.
pub(crate) const REAPER_LABELS: [&str; 2] = ["org.testcontainers.ryuk", "dev.harness.reaper"];

/// A Docker request that failed or did not answer in time.
#[derive(Debug)]
pub(crate) enum RequestError {
    Timeout(Duration),
    Docker(bollard::errors::Error),
}

impl RequestError {
    fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::Docker(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })
        )
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(timeout) => write!(f, "no answer from the engine within {timeout:?}"),
            Self::Docker(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RequestError {}

/// `request`, given at most `timeout` (`RYUK_REQUEST_TIMEOUT`).
pub(crate) async fn bounded<T>(
    timeout: Duration,
    request: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, RequestError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(answer) => answer.map_err(RequestError::Docker),
        Err(_) => Err(RequestError::Timeout(timeout)),
    }
}

/// How many of each kind were removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Removed {
    pub(crate) containers: usize,
    pub(crate) networks: usize,
    pub(crate) volumes: usize,
    pub(crate) images: usize,
}

/// What a prune did: the counts, and what went wrong (empty: all removed).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) removed: Removed,
    pub(crate) failures: Vec<String>,
}

/// IDs (names for volumes) of what the filter sets match, each once.
#[derive(Debug, Default)]
struct Resources {
    containers: BTreeSet<String>,
    networks: BTreeSet<String>,
    volumes: BTreeSet<String>,
    images: BTreeSet<String>,
}

pub(crate) struct Pruner {
    pub(crate) docker: Docker,
    pub(crate) request_timeout: Duration,
    pub(crate) remove_retries: u32,
}

impl Pruner {
    /// Removes everything matching any of `sets`.
    pub(crate) async fn prune(&self, sets: &[FilterSet]) -> Outcome {
        let mut outcome = Outcome::default();
        let resources = self.resources(sets, &mut outcome.failures).await;
        let docker = &self.docker;

        let (removed, failure) = self
            .remove("container", &resources.containers, |id| async move {
                let options = RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .v(true)
                    .build();
                docker.remove_container(id, Some(options)).await
            })
            .await;
        outcome.removed.containers = removed;
        outcome.failures.extend(failure);

        let (removed, failure) = self
            .remove("network", &resources.networks, |id| {
                docker.remove_network(id)
            })
            .await;
        outcome.removed.networks = removed;
        outcome.failures.extend(failure);

        let (removed, failure) = self
            .remove("volume", &resources.volumes, |name| async move {
                let options = RemoveVolumeOptionsBuilder::new().force(true).build();
                docker.remove_volume(name, Some(options)).await
            })
            .await;
        outcome.removed.volumes = removed;
        outcome.failures.extend(failure);

        let (removed, failure) = self
            .remove("image", &resources.images, |id| async move {
                let options = RemoveImageOptionsBuilder::new().noprune(false).build();
                docker.remove_image(id, Some(options), None).await.map(drop)
            })
            .await;
        outcome.removed.images = removed;
        outcome.failures.extend(failure);

        outcome
    }

    /// Lists what each filter set matches; listing failures are logged and pushed to `failures`.
    async fn resources(&self, sets: &[FilterSet], failures: &mut Vec<String>) -> Resources {
        let mut found = Resources::default();
        let mut failed = |what: &str, set: &FilterSet, e: RequestError| {
            log::error(what, &[("filter", set), ("error", &e)]);
            failures.push(format!("{what} ({set}): {e}"));
        };
        for set in sets {
            let filters = set.to_docker();
            log::debug("listing", &[("filter", set)]);

            let options = ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build();
            match bounded(
                self.request_timeout,
                self.docker.list_containers(Some(options)),
            )
            .await
            {
                Ok(containers) => {
                    for container in containers {
                        let Some(id) = container.id else { continue };
                        let labels = container.labels.unwrap_or_default();
                        if REAPER_LABELS
                            .iter()
                            .any(|label| labels.get(*label).is_some_and(|v| v == "true"))
                        {
                            log::debug("skipping reaper container", &[("id", &id)]);
                            continue;
                        }
                        log::debug("found container", &[("id", &id), ("filter", set)]);
                        found.containers.insert(id);
                    }
                }
                Err(e) => failed("listing containers", set, e),
            }

            let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
            match bounded(
                self.request_timeout,
                self.docker.list_networks(Some(options)),
            )
            .await
            {
                Ok(networks) => {
                    for id in networks.into_iter().filter_map(|network| network.id) {
                        log::debug("found network", &[("id", &id), ("filter", set)]);
                        found.networks.insert(id);
                    }
                }
                Err(e) => failed("listing networks", set, e),
            }

            let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
            match bounded(
                self.request_timeout,
                self.docker.list_volumes(Some(options)),
            )
            .await
            {
                Ok(answer) => {
                    for volume in answer.volumes.unwrap_or_default() {
                        log::debug("found volume", &[("name", &volume.name), ("filter", set)]);
                        found.volumes.insert(volume.name);
                    }
                }
                Err(e) => failed("listing volumes", set, e),
            }

            let options = ListImagesOptionsBuilder::new().filters(&filters).build();
            match bounded(self.request_timeout, self.docker.list_images(Some(options))).await {
                Ok(images) => {
                    for image in images {
                        log::debug("found image", &[("id", &image.id), ("filter", set)]);
                        found.images.insert(image.id);
                    }
                }
                Err(e) => failed("listing images", set, e),
            }
        }
        found
    }

    /// Removes each of `ids` with `remove_one`, retrying failures; returns how many went and,
    /// when some could not be removed, what is left.
    async fn remove<'a, F, Fut>(
        &self,
        kind: &str,
        ids: &'a BTreeSet<String>,
        remove_one: F,
    ) -> (usize, Option<String>)
    where
        F: Fn(&'a str) -> Fut,
        Fut: Future<Output = Result<(), bollard::errors::Error>>,
    {
        log::debug("removing", &[("resource", &kind), ("count", &ids.len())]);
        let mut removed = 0;
        let mut todo: Vec<&str> = ids.iter().map(String::as_str).collect();
        for attempt in 1..=self.remove_retries {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let last = attempt == self.remove_retries;
            let mut left = Vec::new();
            for id in todo {
                match bounded(self.request_timeout, remove_one(id)).await {
                    Ok(()) => {
                        log::debug("removed", &[("resource", &kind), ("id", &id)]);
                        removed += 1;
                    }
                    Err(e) if e.is_not_found() => {
                        log::debug("not found", &[("resource", &kind), ("id", &id)]);
                        removed += 1;
                    }
                    Err(e) => {
                        let fields: [log::Field<'_>; 4] = [
                            ("resource", &kind),
                            ("id", &id),
                            ("attempt", &attempt),
                            ("error", &e),
                        ];
                        if last {
                            log::error("remove", &fields);
                        } else {
                            log::warn("remove failed, will retry", &fields);
                        }
                        left.push(id);
                    }
                }
            }
            todo = left;
            if todo.is_empty() {
                return (removed, None);
            }
        }
        let failure = format!("{kind} left {} items: {}", todo.len(), todo.join(" "));
        (removed, Some(failure))
    }
}
