//! What every image job shares: the engine's client, the workspace root (where cargo builds
//! own services and recipes live), where events go, and the two questions asked of the
//! engine throughout (is an image there; which tags of a repository are). The jobs
//! (`cargo`, `own`, `dependency`, ...) are methods on [`Engine`]; [`crate::ImageProvider`]
//! holds one and orchestrates them.

use std::{collections::HashMap, path::PathBuf};

use bollard::{Docker, query_parameters::ListImagesOptionsBuilder};
use harness_core::{Event, EventSink};

use crate::error::{Error, Result};

/// The engine, the workspace and the event sink of one provider.
pub(crate) struct Engine {
    pub(crate) docker: Docker,
    pub(crate) workspace_root: PathBuf,
    pub(crate) events: EventSink,
    /// Whether own builds compile the workspace's image set (`cargo`): not for helpers
    /// built from a Harness source tree that is not the workspace being worked in.
    pub(crate) image_set: bool,
}

impl Engine {
    pub(crate) fn emit(&self, event: Event) {
        (self.events)(event);
    }

    pub(crate) async fn image_exists(&self, reference: &str) -> Result<bool> {
        match self.docker.inspect_image(reference).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(Error::docker(format!("inspecting image {reference}"), e)),
        }
    }

    /// Tags of `repo` present in the engine.
    pub(crate) async fn list_tags(&self, repo: &str) -> Result<Vec<String>> {
        let filters = HashMap::from([("reference", vec![format!("{repo}:*")])]);
        let options = ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| Error::docker(format!("listing images of {repo}"), e))?;
        Ok(images
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter(|t| t.starts_with(&format!("{repo}:")))
            .collect())
    }
}
