//! The run's images, made once before its first level: the stack's (for the levels that
//! start it: a level's stack, the load level's, the defects level's) and those of the manifests a level's tests start themselves
//! (`[run.levels.<level>] manifests`). Own packages and Harness's helpers go through one
//! `ImageProvider::ensure` (one cargo build; with the workspace's image set, the same build
//! every later stack asks for, so it finds everything fresh), and the dependencies' images
//! (pulled, or built from Debian packages) are made meanwhile: the cargo build wants the CPU,
//! the recipes mostly the network and the disk.
//!
//! Without this, each test that starts a stack builds what it needs when it starts, one
//! after another, inside nextest's captured output: minutes with nothing on the screen.

use std::path::PathBuf;

use harness_core::{Event, run::Level};
use harness_images::{ImageProvider, ImageRequest, ImageSource};
use harness_stack::Manifest;

use crate::{Result, Session};

/// The manifests whose images `selected` levels need, the stack's first.
pub(super) fn manifests(session: &Session, selected: &[Level]) -> Vec<PathBuf> {
    let config = session.config();
    let mut out: Vec<PathBuf> = Vec::new();
    let levels = selected.iter().filter_map(|l| config.run.levels.get(l));
    // A stack of the manifest: the level's own, the load level's, each defect's.
    if levels
        .clone()
        .any(|c| c.stack || c.profile.is_some() || c.catalogue.is_some())
    {
        out.push(config.manifest.clone());
    }
    for m in levels.flat_map(|c| c.manifests.iter()) {
        if !out.contains(m) {
            out.push(m.clone());
        }
    }
    out
}

/// Makes every image of `manifests` available. Nothing to do is quick: present images are
/// only looked up, and cargo finds its build fresh.
pub(super) async fn prepare(session: &Session, manifests: &[PathBuf]) -> Result<()> {
    if manifests.is_empty() {
        return Ok(());
    }
    let mut own: Vec<ImageRequest> = Vec::new();
    let mut dependencies: Vec<ImageRequest> = Vec::new();
    for path in manifests {
        let manifest = Manifest::from_path(path)?;
        for request in manifest.image_requests(None)? {
            let list = match request.source {
                ImageSource::Image { .. } => &mut dependencies,
                ImageSource::Build { .. } | ImageSource::Helper { .. } => &mut own,
            };
            if !list.iter().any(|r| r.source == request.source) {
                list.push(request);
            }
        }
    }
    session.emit(Event::Notice {
        message: format!(
            "images of {} manifest(s) before the first level: {} own (one cargo build), {} dependencies",
            manifests.len(),
            own.len(),
            dependencies.len()
        ),
    });
    let docker = harness_stack::connect().await?;
    let provider = ImageProvider::new(docker, session.root(), session.events());
    let (own, dependencies) = tokio::join!(provider.ensure(&own), provider.ensure(&dependencies));
    own.map_err(harness_stack::Error::from)?;
    dependencies.map_err(harness_stack::Error::from)?;
    Ok(())
}
