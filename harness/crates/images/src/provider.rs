//! The provider: which images a list of services needs, whether they are there, and
//! making them available (own services first, in one cargo build; then dependencies).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use bollard::Docker;
use harness_core::{EventSink, workspace::find_workspace_root};

use crate::error::{Error, Result};
pub use crate::request::{ImageRequest, ImageSource, ImageState, ImageStatus};
use crate::{engine::Engine, reference::BUILD_REPO};

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

/// Provides images: see the crate documentation.
pub struct ImageProvider {
    engine: Engine,
}

impl ImageProvider {
    /// `docker` must be a client whose API version the engine accepts. The workspace root
    /// (where `cargo` builds own services and where `fixtures/images/<recipe>/` lives) is
    /// the nearest ancestor of `dir` (e.g. a manifest's folder) whose `Cargo.toml` has a
    /// `[workspace]` table, else `dir`.
    pub fn new(docker: Docker, dir: &Path, events: EventSink) -> Self {
        Self {
            engine: Engine {
                docker,
                workspace_root: find_workspace_root(dir),
                events,
                image_set: true,
            },
        }
    }

    /// Whether `reference` is in the engine.
    pub async fn present(&self, reference: &str) -> Result<bool> {
        self.engine.image_exists(reference).await
    }

    /// Pulls `reference`; stops at the first error, gives up after a minute.
    pub async fn pull(&self, reference: &str) -> std::result::Result<(), String> {
        self.engine.pull(reference).await
    }

    /// Uses `root` as the workspace root instead of the one found from the folder.
    pub fn with_workspace_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.engine.workspace_root = root.into();
        self
    }

    /// The workspace root in use.
    pub fn workspace_root(&self) -> &Path {
        &self.engine.workspace_root
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
            Some(self.engine.cargo_metadata().await?)
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
                    self.engine
                        .build_status(req, package, dockerfile.as_deref(), meta)
                        .await?
                }
                ImageSource::Image { reference, recipe } => {
                    self.engine
                        .dependency_status(req, reference, recipe.as_deref())
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
            let meta = self.engine.cargo_metadata().await?;
            let mut packages: Vec<&str> = Vec::new();
            for (req, package, _) in &builds {
                if !meta.packages.contains_key(*package) {
                    return Err(Error::Image {
                        service: req.service.clone(),
                        reference: format!("{BUILD_REPO}/{package}"),
                        message: format!(
                            "no cargo package {package:?} in the workspace at {}",
                            self.engine.workspace_root.display()
                        ),
                    });
                }
                if !packages.contains(package) {
                    packages.push(package);
                }
            }
            self.engine.cargo_build(&builds, &packages, &meta).await?;
            for (req, package, dockerfile) in &builds {
                let reference = self
                    .engine
                    .ensure_build(req, package, *dockerfile, &meta)
                    .await?;
                out.insert(req.service.clone(), reference);
            }
        }
        for req in requests {
            if let ImageSource::Image { reference, recipe } = &req.source {
                let reference = self
                    .engine
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
        // The harness's tree builds its image set only when it is the workspace in use
        // (here, its own): built for another workspace, a helper is built alone.
        let root = harness_source_root();
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        let provider = ImageProvider {
            engine: Engine {
                docker: self.engine.docker.clone(),
                image_set: same(&root, &self.engine.workspace_root),
                workspace_root: root,
                events: self.engine.events.clone(),
            },
        };
        Ok((
            provider,
            ImageRequest {
                service: req.service.clone(),
                source,
            },
        ))
    }
}
