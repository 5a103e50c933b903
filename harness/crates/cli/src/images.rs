//! `harness images`: the images of one or more manifests and whether they are present;
//! `--build` builds (or pulls) what is missing first: own packages in one cargo build, the
//! dependencies' images meanwhile.

use std::path::PathBuf;

use harness::{ImageProvider, Manifest};

use crate::{failure::Failure, progress::progress};

#[derive(Debug, clap::Args)]
pub(crate) struct ImagesArgs {
    /// A stack manifest (repeatable: the images of all, own packages in one build).
    #[arg(long, short, default_value = "suites/stack.toml")]
    manifest: Vec<PathBuf>,
    /// Build (or pull) what is missing before listing.
    #[arg(long)]
    build: bool,
}

pub(crate) async fn images(args: ImagesArgs) -> Result<(), Failure> {
    let mut requests = Vec::new();
    let mut base = None;
    for path in &args.manifest {
        let manifest = Manifest::from_path(path)?;
        base.get_or_insert_with(|| manifest.base_dir());
        requests.extend(manifest.image_requests(None)?);
    }
    let docker = harness::connect().await?;
    let (sink, multi) = progress();
    let provider = ImageProvider::new(docker, &base.unwrap_or_default(), sink);
    if args.build {
        // Own packages and helpers (CPU: cargo) beside the dependencies (network, disk).
        let (own, dependencies): (Vec<_>, Vec<_>) = requests
            .iter()
            .cloned()
            .partition(|r| !matches!(r.source, harness::images::ImageSource::Image { .. }));
        let (own, dependencies) =
            tokio::join!(provider.ensure(&own), provider.ensure(&dependencies));
        let _ = multi.clear();
        own.map_err(harness::Error::from)?;
        dependencies.map_err(harness::Error::from)?;
    }
    let statuses = provider
        .status(&requests)
        .await
        .map_err(harness::Error::from)?;
    println!("{:<12} {:<40} {:<14} source", "service", "image", "state");
    let mut seen = std::collections::HashSet::new();
    for s in statuses {
        // A service of several manifests with the same image: once.
        if !seen.insert((s.service.clone(), s.reference.clone())) {
            continue;
        }
        let state = s.state.to_string();
        println!(
            "{:<12} {:<40} {:<14} {}",
            s.service, s.reference, state, s.source
        );
    }
    Ok(())
}
