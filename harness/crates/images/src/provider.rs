//! The provider: which images a list of services needs, whether they are there, and
//! making them available (own services first, in one cargo build; then dependencies).

use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use bollard::Docker;
use bollard::query_parameters::ListImagesOptionsBuilder;
use harness_core::{Error, Event, EventSink, Result, workspace::find_workspace_root};

pub(crate) const TARGET: &str = "x86_64-unknown-linux-gnu";
/// Repository of own-service images: `harness/<package>:<hash>`.
pub(crate) const BUILD_REPO: &str = "harness";
/// Repository of recipe images: `harness-recipes/<recipe>:<hash>`.
pub(crate) const RECIPE_REPO: &str = "harness-recipes";
/// Label holding the recipe name on recipe images.
pub(crate) const RECIPE_LABEL: &str = "dev.harness.recipe";
/// Part of every recipe hash: changing how recipes are turned into images changes all tags.
pub(crate) const RECIPE_FORMAT: &[u8] = b"harness-recipe-format-1\n";
pub(crate) const PULL_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const MMDEBSTRAP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
pub(crate) const CARGO_BUILD_TIMEOUT: Duration = Duration::from_secs(60 * 60);

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

/// The environment variable naming a prebuilt image of a helper package
/// (`harness-mock` -> `HARNESS_MOCK_IMAGE`).
pub fn helper_image_env(package: &str) -> String {
    let name = package.strip_prefix("harness-").unwrap_or(package);
    format!(
        "HARNESS_{}_IMAGE",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// The root of the harness's own source tree (where helper packages are built).
pub fn harness_source_root() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    dir.canonicalize().unwrap_or(dir)
}

/// One service's image to provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    pub service: String,
    pub source: ImageSource,
}

/// Provides images: see the crate documentation.
pub struct ImageProvider {
    pub(crate) docker: Docker,
    pub(crate) workspace_root: PathBuf,
    pub(crate) events: EventSink,
}

impl ImageProvider {
    /// `docker` must be a client whose API version the engine accepts. The workspace root
    /// (where `cargo` builds own services and where `fixtures/images/<recipe>/` lives) is
    /// the nearest ancestor of `dir` (e.g. a manifest's folder) whose `Cargo.toml` has a
    /// `[workspace]` table, else `dir`.
    pub fn new(docker: Docker, dir: &Path, events: EventSink) -> Self {
        Self {
            docker,
            workspace_root: find_workspace_root(dir),
            events,
        }
    }

    /// Whether `reference` is in the engine.
    pub async fn present(&self, reference: &str) -> Result<bool> {
        self.image_exists(reference).await
    }

    /// Uses `root` as the workspace root instead of the one found from the folder.
    pub fn with_workspace_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.workspace_root = root.into();
        self
    }

    /// The workspace root in use.
    pub fn workspace_root(&self) -> &Path {
        &self.workspace_root
    }

    /// What each request needs and whether it is there; builds nothing.
    ///
    /// For an own service the image tag depends on the binary, so this looks at the binary
    /// cargo built last: if sources changed since, `ensure` will still rebuild.
    pub async fn status(&self, requests: &[ImageRequest]) -> Result<Vec<ImageStatus>> {
        let meta = if requests
            .iter()
            .any(|r| matches!(r.source, ImageSource::Build { .. }))
        {
            Some(self.cargo_metadata().await?)
        } else {
            None
        };
        let mut out = Vec::new();
        for req in requests {
            let status = match &req.source {
                ImageSource::Build {
                    package,
                    dockerfile,
                } => {
                    let meta = meta
                        .as_ref()
                        .expect("metadata is read when there are build services");
                    self.build_status(req, package, dockerfile.as_deref(), meta)
                        .await?
                }
                ImageSource::Image { reference, recipe } => {
                    self.dependency_status(req, reference, recipe.as_deref())
                        .await?
                }
                ImageSource::Helper { .. } => {
                    let (provider, resolved) = self.helper(req)?;
                    let mut status = Box::pin(provider.status(&[resolved])).await?;
                    status.remove(0)
                }
            };
            out.push(status);
        }
        Ok(out)
    }

    /// Makes every requested image available, building what is missing, and returns
    /// service name -> image reference to run.
    pub async fn ensure(&self, requests: &[ImageRequest]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        // Helpers in one go (one cargo build, each image made once), on a provider of their
        // own rooted at the harness's source tree.
        let mut helper: Option<(ImageProvider, Vec<ImageRequest>)> = None;
        for req in requests {
            if let ImageSource::Helper { .. } = &req.source {
                let (provider, resolved) = self.helper(req)?;
                helper
                    .get_or_insert((provider, Vec::new()))
                    .1
                    .push(resolved);
            }
        }
        if let Some((provider, resolved)) = helper {
            out.extend(Box::pin(provider.ensure(&resolved)).await?);
        }
        let builds: Vec<(&ImageRequest, &str, Option<&Path>)> = requests
            .iter()
            .filter_map(|r| match &r.source {
                ImageSource::Build {
                    package,
                    dockerfile,
                } => Some((r, package.as_str(), dockerfile.as_deref())),
                ImageSource::Image { .. } | ImageSource::Helper { .. } => None,
            })
            .collect();
        if !builds.is_empty() {
            let meta = self.cargo_metadata().await?;
            let mut packages: Vec<&str> = Vec::new();
            for (req, package, _) in &builds {
                if !meta.packages.contains_key(*package) {
                    return Err(Error::Image {
                        service: req.service.clone(),
                        reference: format!("{BUILD_REPO}/{package}"),
                        message: format!(
                            "no cargo package {package:?} in the workspace at {}",
                            self.workspace_root.display()
                        ),
                    });
                }
                if !packages.contains(package) {
                    packages.push(package);
                }
            }
            self.cargo_build(&builds, &packages).await?;
            for (req, package, dockerfile) in &builds {
                let reference = self.ensure_build(req, package, *dockerfile, &meta).await?;
                out.insert(req.service.clone(), reference);
            }
        }
        for req in requests {
            if let ImageSource::Image { reference, recipe } = &req.source {
                let reference = self
                    .ensure_dependency(req, reference, recipe.as_deref())
                    .await?;
                out.insert(req.service.clone(), reference);
            }
        }
        Ok(out)
    }

    /// The provider and request that make a helper's image: the override's image, else a
    /// build of the package in the harness's source tree.
    fn helper(&self, req: &ImageRequest) -> Result<(ImageProvider, ImageRequest)> {
        let ImageSource::Helper { package } = &req.source else {
            unreachable!("helper() is called for helper requests only")
        };
        let env = helper_image_env(package);
        let source = match std::env::var(&env) {
            Ok(reference) if !reference.is_empty() => ImageSource::Image {
                reference,
                recipe: None,
            },
            _ => {
                let root = harness_source_root();
                if !root.join("harness/crates").is_dir() {
                    return Err(Error::Image {
                        service: req.service.clone(),
                        reference: format!("{BUILD_REPO}/{package}"),
                        message: format!(
                            "the {package} image is built from the harness's source tree, which is not at {} \
                             (harness is a registry or git dependency here); set {env} to an image of {package}",
                            root.display()
                        ),
                    });
                }
                ImageSource::Build {
                    package: package.clone(),
                    dockerfile: None,
                }
            }
        };
        let provider = ImageProvider {
            docker: self.docker.clone(),
            workspace_root: harness_source_root(),
            events: self.events.clone(),
        };
        Ok((
            provider,
            ImageRequest {
                service: req.service.clone(),
                source,
            },
        ))
    }

    pub(crate) fn emit(&self, event: Event) {
        (self.events)(event);
    }

    // ----- engine helpers ---------------------------------------------------------------

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
