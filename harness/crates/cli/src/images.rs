//! `harness images`: the images a manifest needs and whether they are present; `--build`
//! builds (or pulls) what is missing first.

use std::path::PathBuf;

use harness::{ImageProvider, Manifest};

use crate::{failure::Failure, progress::progress};

#[derive(Debug, clap::Args)]
pub(crate) struct ImagesArgs {
    /// The stack manifest.
    #[arg(long, short, default_value = "suites/stack.toml")]
    manifest: PathBuf,
    /// Build (or pull) what is missing before listing.
    #[arg(long)]
    build: bool,
}

pub(crate) async fn images(args: ImagesArgs) -> Result<(), Failure> {
    let manifest = Manifest::from_path(&args.manifest)?;
    let docker = harness::connect().await?;
    let (sink, multi) = progress();
    let provider = ImageProvider::new(docker, &manifest.base_dir(), sink);
    let requests = manifest.image_requests(None)?;
    if args.build {
        provider
            .ensure(&requests)
            .await
            .map_err(harness::Error::from)?;
        let _ = multi.clear();
    }
    let statuses = provider
        .status(&requests)
        .await
        .map_err(harness::Error::from)?;
    println!("{:<12} {:<40} {:<14} source", "service", "image", "state");
    for s in statuses {
        let state = s.state.to_string();
        println!(
            "{:<12} {:<40} {:<14} {}",
            s.service, s.reference, state, s.source
        );
    }
    Ok(())
}
