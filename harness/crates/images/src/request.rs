//! What the provider is asked for and answers: an [`ImageRequest`] (a service and where its
//! image comes from, [`ImageSource`]) and an [`ImageStatus`] (the reference that runs it and
//! whether it is there, [`ImageState`]).

use std::{fmt, path::PathBuf};

/// Whether an image is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageState {
    /// The image to run is in the engine.
    Present,
    /// Nothing is there yet: it will be built or pulled.
    Missing,
    /// An own service whose image exists for an older binary or Dockerfile: it will be rebuilt.
    NeedsRebuild,
}

impl fmt::Display for ImageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageState::Present => "present",
            ImageState::Missing => "missing",
            ImageState::NeedsRebuild => "needs rebuild",
        })
    }
}

/// What a service of a manifest needs, and whether it is there (`harness images`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageStatus {
    pub service: String,
    /// The image reference that runs (or will run) the service. For an own service whose
    /// binary is not built yet, `harness/<package>` without a tag.
    pub reference: String,
    pub state: ImageState,
    /// How it is or will be provided, e.g. "cargo package orders",
    /// "pull postgres:15, else recipe fixtures/images/postgres".
    pub source: String,
}

/// Where a service's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// An image reference (`postgres:15`), with a recipe to build it from when it is neither
    /// present nor pullable.
    Image {
        reference: String,
        recipe: Option<String>,
    },
    /// A cargo package of the workspace, built as a static binary in a small image, with
    /// the Dockerfile at `dockerfile` (else the package's own, else a generated one).
    Build {
        package: String,
        dockerfile: Option<PathBuf>,
    },
    /// A helper binary of the harness itself (`harness-mock`, the mock server of stacks):
    /// the image named by `HARNESS_<NAME>_IMAGE` if set (`harness-mock` ->
    /// `HARNESS_MOCK_IMAGE`; present, else pulled), else built like an own service from the
    /// harness's source tree, in a cargo build of its own (its features never mix with the
    /// workspace's).
    Helper { package: String },
}

/// One service's image to provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    pub service: String,
    pub source: ImageSource,
}
