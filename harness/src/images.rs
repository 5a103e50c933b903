//! Images: making every image of a manifest available without a registry.
//!
//! * Own services (`build = "<cargo package>"`) are compiled by ONE
//!   `cargo build --release --target x86_64-unknown-linux-gnu -p A -p B ...` with
//!   `RUSTFLAGS=-C target-feature=+crt-static`, and each static binary is put in a small image
//!   (the package's `Dockerfile`, the manifest's `dockerfile`, or a generated `FROM scratch`
//!   one). The tag is `harness/<package>:<12 hex>` where the hex is the sha256 of the binary
//!   followed by the Dockerfile text: an unchanged service is never rebuilt, and two
//!   Dockerfiles for the same binary do not overwrite each other's image.
//! * Dependencies (`image = "postgres:15"`) are used when present, pulled when a registry
//!   answers, and otherwise built from Debian packages with `mmdebstrap` following the recipe
//!   `fixtures/images/<recipe>/image.toml`, then imported into the engine (no registry
//!   involved). Recipe images are tagged `harness-recipes/<recipe>:<12 hex of the recipe's
//!   content>` and reused while the recipe is unchanged.
//!
//! Every image made here carries the label `dev.harness.managed=true`.
//!
//! Why bollard's `build_image` and not testcontainers' `GenericBuildableImage`: testcontainers
//! 0.28 always builds with BuildKit and a gRPC session, and creates its own client pinned to
//! API 1.53, while the engine this must work with is Docker 20.10 (API 1.41: a raw request
//! to `/v1.53/...` is refused with "client version 1.53 is too new"). So images are built
//! with the legacy builder (version 1) from a tar made here, through the client the caller
//! passes in; the legacy builder handles `FROM scratch` without any registry.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use bollard::{
    self, Docker,
    query_parameters::{
        BuildImageOptionsBuilder, BuilderVersion, CreateImageOptionsBuilder,
        ListImagesOptionsBuilder,
    },
};
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    error::{Error, Result},
    events::{Event, EventSink},
    labels,
    manifest::line_of,
    manifest::{ImageSource, Manifest, ServiceSpec},
};

/// The target own services are compiled for (static glibc binaries).
pub(crate) const TARGET: &str = "x86_64-unknown-linux-gnu";
/// Repository of own-service images: `harness/<package>:<hash>`.
pub(crate) const BUILD_REPO: &str = "harness";
/// Repository of recipe images: `harness-recipes/<recipe>:<hash>`.
pub(crate) const RECIPE_REPO: &str = "harness-recipes";
/// Label holding the recipe name on recipe images.
pub(crate) const RECIPE_LABEL: &str = "dev.harness.recipe";
/// Part of every recipe hash: changing how recipes are turned into images changes all tags.
const RECIPE_FORMAT: &[u8] = b"harness-recipe-format-1\n";
const PULL_TIMEOUT: Duration = Duration::from_secs(60);
const MMDEBSTRAP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const CARGO_BUILD_TIMEOUT: Duration = Duration::from_secs(60 * 60);

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

/// Provides the images of a manifest: see the module documentation.
pub struct ImageProvider {
    docker: Docker,
    workspace_root: PathBuf,
    events: EventSink,
}

impl ImageProvider {
    /// `docker` must be a client whose API version the engine accepts (see `connect`).
    /// The workspace root (where `cargo` builds own services and where
    /// `fixtures/images/<recipe>/` lives) is the nearest ancestor of the manifest's folder
    /// whose `Cargo.toml` has a `[workspace]` table, else the manifest's folder.
    pub fn new(docker: Docker, manifest: &Manifest, events: EventSink) -> Self {
        Self {
            docker,
            workspace_root: find_workspace_root(&manifest.base_dir()),
            events,
        }
    }

    /// A provider for the workspace holding `dir` (the harness's own images).
    pub(crate) fn for_dir(docker: Docker, dir: &Path, events: EventSink) -> Self {
        Self {
            docker,
            workspace_root: find_workspace_root(dir),
            events,
        }
    }

    /// Whether `reference` is in the engine.
    pub(crate) async fn present(&self, reference: &str) -> Result<bool> {
        self.image_exists(reference).await
    }

    /// Uses `root` as the workspace root instead of the one found from the manifest.
    pub fn with_workspace_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.workspace_root = root.into();
        self
    }

    /// The workspace root in use.
    pub fn workspace_root(&self) -> &Path {
        &self.workspace_root
    }

    /// What each service of the manifest needs and whether it is there; builds nothing.
    ///
    /// For an own service the image tag depends on the binary, so this looks at the binary
    /// cargo built last: if sources changed since, `ensure` will still rebuild.
    pub async fn status(&self, manifest: &Manifest) -> Result<Vec<ImageStatus>> {
        let meta = if manifest
            .services
            .values()
            .any(|s| matches!(s.source, ImageSource::Build { .. }))
        {
            Some(self.cargo_metadata().await?)
        } else {
            None
        };
        let mut out = Vec::new();
        for spec in manifest.services.values() {
            let status = match &spec.source {
                ImageSource::Build {
                    package,
                    dockerfile,
                } => {
                    let meta = meta
                        .as_ref()
                        .expect("metadata is read when there are build services");
                    self.build_status(manifest, spec, package, dockerfile.as_deref(), meta)
                        .await?
                }
                ImageSource::Image { reference, recipe } => {
                    self.dependency_status(spec, reference, recipe.as_deref())
                        .await?
                }
            };
            out.push(status);
        }
        Ok(out)
    }

    /// Makes every image of the manifest (or of the services in `only`) available, building
    /// what is missing, and returns service name -> image reference to run.
    pub async fn ensure(
        &self,
        manifest: &Manifest,
        only: Option<&[String]>,
    ) -> Result<HashMap<String, String>> {
        let mut selected: Vec<&ServiceSpec> = Vec::new();
        match only {
            None => selected.extend(manifest.services.values()),
            Some(names) => {
                for name in names {
                    let spec = manifest.service(name)?;
                    if !selected.iter().any(|s| s.name == spec.name) {
                        selected.push(spec);
                    }
                }
            }
        }
        let mut out = HashMap::new();

        let builds: Vec<(&ServiceSpec, &str, Option<&Path>)> = selected
            .iter()
            .filter_map(|s| match &s.source {
                ImageSource::Build {
                    package,
                    dockerfile,
                } => Some((*s, package.as_str(), dockerfile.as_deref())),
                ImageSource::Image { .. } => None,
            })
            .collect();
        if !builds.is_empty() {
            let meta = self.cargo_metadata().await?;
            let mut packages: Vec<&str> = Vec::new();
            for (spec, package, _) in &builds {
                if !meta.packages.contains_key(*package) {
                    return Err(Error::Image {
                        service: spec.name.clone(),
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
            for (spec, package, dockerfile) in &builds {
                let reference = self
                    .ensure_build(manifest, spec, package, *dockerfile, &meta)
                    .await?;
                out.insert(spec.name.clone(), reference);
            }
        }

        for spec in &selected {
            if let ImageSource::Image { reference, recipe } = &spec.source {
                let reference = self
                    .ensure_dependency(spec, reference, recipe.as_deref())
                    .await?;
                out.insert(spec.name.clone(), reference);
            }
        }
        Ok(out)
    }

    fn emit(&self, event: Event) {
        (self.events)(event);
    }

    // ----- own services -----------------------------------------------------------------

    async fn cargo_metadata(&self) -> Result<CargoMetadata> {
        let output = tokio::process::Command::new(cargo_program())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(&self.workspace_root)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| {
                Error::io(
                    format!(
                        "running cargo metadata in {}",
                        self.workspace_root.display()
                    ),
                    e,
                )
            })?;
        if !output.status.success() {
            return Err(Error::Usage(format!(
                "cargo metadata failed in {}: {}",
                self.workspace_root.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        CargoMetadata::parse(&output.stdout).map_err(|m| {
            Error::Usage(format!(
                "cargo metadata in {}: {m}",
                self.workspace_root.display()
            ))
        })
    }

    async fn cargo_build(
        &self,
        builds: &[(&ServiceSpec, &str, Option<&Path>)],
        packages: &[&str],
    ) -> Result<()> {
        let how = format!(
            "cargo build --release --target {TARGET} (static) of {}",
            packages.join(", ")
        );
        for (spec, package, _) in builds {
            self.emit(Event::ImageWorking {
                service: spec.name.clone(),
                reference: format!("{BUILD_REPO}/{package}"),
                how: how.clone(),
            });
        }
        let mut cmd = tokio::process::Command::new(cargo_program());
        cmd.args(["build", "--release", "--target", TARGET]);
        for p in packages {
            cmd.args(["-p", p]);
        }
        // cargo's progress goes to stderr, which the user sees; stdout stays quiet.
        // CARGO_ENCODED_RUSTFLAGS would take precedence over RUSTFLAGS.
        cmd.env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .current_dir(&self.workspace_root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let status = tokio::time::timeout(CARGO_BUILD_TIMEOUT, cmd.status())
            .await
            .map_err(|_| cargo_failure(builds, packages, "timed out after 60 minutes"))?
            .map_err(|e| cargo_failure(builds, packages, &format!("cannot run cargo: {e}")))?;
        if !status.success() {
            return Err(cargo_failure(
                builds,
                packages,
                &format!("cargo build failed ({status}); see its output above"),
            ));
        }
        Ok(())
    }

    /// The Dockerfile text for `package`, and where it comes from.
    async fn dockerfile_for(
        &self,
        manifest: &Manifest,
        spec: &ServiceSpec,
        package: &str,
        dockerfile: Option<&Path>,
        meta: &CargoMetadata,
    ) -> Result<(String, String)> {
        let candidate = match dockerfile {
            Some(p) => Some((manifest.base_dir().join(p), true)),
            None => meta
                .packages
                .get(package)
                .map(|dir| (dir.join("Dockerfile"), false)),
        };
        if let Some((path, required)) = candidate {
            match tokio::fs::read_to_string(&path).await {
                Ok(text) => return Ok((text, path.display().to_string())),
                Err(e) if required || e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Image {
                        service: spec.name.clone(),
                        reference: format!("{BUILD_REPO}/{package}"),
                        message: format!("cannot read the Dockerfile {}: {e}", path.display()),
                    });
                }
                Err(_) => {}
            }
        }
        Ok((
            generated_dockerfile(package),
            "a generated FROM scratch Dockerfile".to_owned(),
        ))
    }

    async fn read_binary(
        &self,
        spec: &ServiceSpec,
        package: &str,
        meta: &CargoMetadata,
    ) -> Result<Option<Vec<u8>>> {
        let path = meta.binary(package);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Image {
                service: spec.name.clone(),
                reference: format!("{BUILD_REPO}/{package}"),
                message: format!("cannot read the binary {}: {e}", path.display()),
            }),
        }
    }

    async fn build_status(
        &self,
        manifest: &Manifest,
        spec: &ServiceSpec,
        package: &str,
        dockerfile: Option<&Path>,
        meta: &CargoMetadata,
    ) -> Result<ImageStatus> {
        let repo = format!("{BUILD_REPO}/{package}");
        let mut status = ImageStatus {
            service: spec.name.clone(),
            reference: repo.clone(),
            state: ImageState::Missing,
            source: format!("cargo package {package}"),
        };
        if !meta.packages.contains_key(package) {
            status.source = format!(
                "cargo package {package} (not in the workspace at {})",
                self.workspace_root.display()
            );
            return Ok(status);
        }
        let (text, _) = self
            .dockerfile_for(manifest, spec, package, dockerfile, meta)
            .await?;
        let older_exists = !self.list_tags(&repo).await?.is_empty();
        match self.read_binary(spec, package, meta).await? {
            Some(binary) => {
                status.reference = build_tag(package, &binary, &text);
                status.state = if self.image_exists(&status.reference).await? {
                    ImageState::Present
                } else if older_exists {
                    ImageState::NeedsRebuild
                } else {
                    ImageState::Missing
                };
            }
            None => {
                status.state = if older_exists {
                    ImageState::NeedsRebuild
                } else {
                    ImageState::Missing
                };
                status.source.push_str(" (not compiled yet)");
            }
        }
        Ok(status)
    }

    async fn ensure_build(
        &self,
        manifest: &Manifest,
        spec: &ServiceSpec,
        package: &str,
        dockerfile: Option<&Path>,
        meta: &CargoMetadata,
    ) -> Result<String> {
        let start = Instant::now();
        let failure = |reference: &str, message: String| Error::Image {
            service: spec.name.clone(),
            reference: reference.to_owned(),
            message,
        };
        let binary = self
            .read_binary(spec, package, meta)
            .await?
            .ok_or_else(|| {
                failure(
                    &format!("{BUILD_REPO}/{package}"),
                    format!(
                        "cargo built {package} but {} does not exist",
                        meta.binary(package).display()
                    ),
                )
            })?;
        let (dockerfile_text, dockerfile_origin) = self
            .dockerfile_for(manifest, spec, package, dockerfile, meta)
            .await?;
        let tag = build_tag(package, &binary, &dockerfile_text);
        if self.image_exists(&tag).await? {
            self.emit(Event::ImageReady {
                service: spec.name.clone(),
                reference: tag.clone(),
                built: false,
                elapsed: start.elapsed(),
            });
            return Ok(tag);
        }
        self.emit(Event::ImageWorking {
            service: spec.name.clone(),
            reference: tag.clone(),
            how: format!(
                "docker build of the static binary ({:.1} MB) with {dockerfile_origin}",
                binary.len() as f64 / 1e6
            ),
        });
        let context = build_context(package, &binary, &dockerfile_text)
            .await
            .map_err(|e| failure(&tag, format!("cannot make the build context: {e}")))?;
        let build_labels = HashMap::from([(labels::MANAGED, "true")]);
        // The legacy builder: BuildKit needs a session the engines we target may not offer,
        // and the legacy builder handles FROM scratch without any registry.
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(&tag)
            .rm(true)
            .forcerm(true)
            .labels(&build_labels)
            .version(BuilderVersion::BuilderV1)
            .build();
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(context.into())));
        let mut log: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                        return Err(failure(
                            &tag,
                            format!("docker build failed: {detail}\n{}", tail(&log, 15)),
                        ));
                    }
                    if let Some(line) = info.stream {
                        log.extend(
                            line.lines()
                                .filter(|l| !l.trim().is_empty())
                                .map(str::to_owned),
                        );
                    }
                }
                Err(e) => {
                    return Err(failure(
                        &tag,
                        format!("docker build failed: {e}\n{}", tail(&log, 15)),
                    ));
                }
            }
        }
        if !self.image_exists(&tag).await? {
            return Err(failure(
                &tag,
                format!("docker build ended without an image\n{}", tail(&log, 15)),
            ));
        }
        self.emit(Event::ImageReady {
            service: spec.name.clone(),
            reference: tag.clone(),
            built: true,
            elapsed: start.elapsed(),
        });
        Ok(tag)
    }

    // ----- dependencies -----------------------------------------------------------------

    fn recipe_dir(&self, recipe: &str) -> PathBuf {
        self.workspace_root
            .join("fixtures")
            .join("images")
            .join(recipe)
    }

    fn load_recipe(&self, spec: &ServiceSpec, reference: &str, recipe: &str) -> Result<Recipe> {
        if recipe.is_empty()
            || !recipe
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(Error::Image {
                service: spec.name.clone(),
                reference: reference.to_owned(),
                message: format!(
                    "recipe name {recipe:?} must be lowercase letters, digits, '-' and '_'"
                ),
            });
        }
        Recipe::load(recipe, &self.recipe_dir(recipe))
    }

    async fn dependency_status(
        &self,
        spec: &ServiceSpec,
        reference: &str,
        recipe: Option<&str>,
    ) -> Result<ImageStatus> {
        let mut status = ImageStatus {
            service: spec.name.clone(),
            reference: reference.to_owned(),
            state: ImageState::Present,
            source: format!("image {reference}"),
        };
        if self.image_exists(reference).await? {
            return Ok(status);
        }
        match recipe {
            None => {
                status.state = ImageState::Missing;
                status.source = format!("pull {reference} (no recipe)");
            }
            Some(name) => {
                let recipe = self.load_recipe(spec, reference, name)?;
                let folder = format!("fixtures/images/{name}");
                status.reference = recipe.tag();
                if self.image_exists(&status.reference).await? {
                    status.source = format!("recipe {folder} (built earlier)");
                } else {
                    status.state = ImageState::Missing;
                    status.source = format!("pull {reference}, else recipe {folder}");
                }
            }
        }
        Ok(status)
    }

    async fn ensure_dependency(
        &self,
        spec: &ServiceSpec,
        reference: &str,
        recipe: Option<&str>,
    ) -> Result<String> {
        let start = Instant::now();
        let ready = |reference: &str, built: bool| {
            self.emit(Event::ImageReady {
                service: spec.name.clone(),
                reference: reference.to_owned(),
                built,
                elapsed: start.elapsed(),
            })
        };
        if self.image_exists(reference).await? {
            ready(reference, false);
            return Ok(reference.to_owned());
        }
        let recipe = recipe
            .map(|name| self.load_recipe(spec, reference, name))
            .transpose()?;
        // A recipe image built earlier is used before trying a registry: trying to pull on
        // every run would cost up to the pull timeout where registries are unreachable.
        if let Some(recipe) = &recipe {
            let tag = recipe.tag();
            if self.image_exists(&tag).await? {
                ready(&tag, false);
                return Ok(tag);
            }
        }
        self.emit(Event::ImageWorking {
            service: spec.name.clone(),
            reference: reference.to_owned(),
            how: "pulling".to_owned(),
        });
        let pull_error = match self.pull(reference).await {
            Ok(()) => {
                ready(reference, true);
                return Ok(reference.to_owned());
            }
            Err(e) => e,
        };
        let Some(recipe) = recipe else {
            return Err(Error::Image {
                service: spec.name.clone(),
                reference: reference.to_owned(),
                message: format!(
                    "the image is not present and cannot be pulled ({pull_error}). Provide it with \
                     `docker load -i <file>.tar` (saved elsewhere with `docker save {reference}`), or name a \
                     recipe in the manifest (`recipe = \"<name>\"`, built from Debian packages as described \
                     in fixtures/images/<name>/image.toml)"
                ),
            });
        };
        let tag = self
            .build_recipe(spec, reference, &recipe, &pull_error)
            .await?;
        ready(&tag, true);
        Ok(tag)
    }

    /// Pulls `reference`; stops at the first error, gives up after [`PULL_TIMEOUT`].
    pub(crate) async fn pull(&self, reference: &str) -> std::result::Result<(), String> {
        let (name, tag) = split_reference(reference);
        let mut options = CreateImageOptionsBuilder::default().from_image(name);
        if !reference.contains('@') {
            // Without a tag the API would pull every tag of the repository.
            options = options.tag(tag.unwrap_or("latest"));
        }
        let mut stream = self.docker.create_image(Some(options.build()), None, None);
        let pulling = async {
            while let Some(item) = stream.next().await {
                item.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        };
        tokio::time::timeout(PULL_TIMEOUT, pulling)
            .await
            .map_err(|_| {
                format!(
                    "no answer from the registry within {} s",
                    PULL_TIMEOUT.as_secs()
                )
            })??;
        // Some engines end the stream without an error although nothing was pulled.
        match self.image_exists(reference).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the pull ended without an image".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn build_recipe(
        &self,
        spec: &ServiceSpec,
        reference: &str,
        recipe: &Recipe,
        pull_error: &str,
    ) -> Result<String> {
        let tag = recipe.tag();
        let failure = |message: String| Error::Image {
            service: spec.name.clone(),
            reference: tag.clone(),
            message,
        };
        let mmdebstrap = self.ensure_mmdebstrap(&recipe.name).await?;
        self.emit(Event::ImageWorking {
            service: spec.name.clone(),
            reference: tag.clone(),
            how: format!(
                "{reference} cannot be pulled ({}); building it from Debian {} packages ({}) with mmdebstrap, \
                 this takes 1-3 minutes",
                first_line(pull_error),
                recipe.suite,
                recipe.packages.join(", ")
            ),
        });
        let work = tempfile::Builder::new()
            .prefix("harness-recipe-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary folder for mmdebstrap", e))?;
        let args = recipe
            .stage(work.path())
            .map_err(|e| failure(format!("cannot stage the recipe's files: {e}")))?;
        let rootfs = work.path().join("rootfs.tar");
        let log_path = work.path().join("mmdebstrap.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| Error::io("creating the mmdebstrap log", e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("creating the mmdebstrap log", e))?;
        let started = Instant::now();
        let mut cmd = tokio::process::Command::new(&mmdebstrap);
        cmd.args(&args)
            .arg(&recipe.suite)
            .arg(&rootfs)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true);
        let status = match tokio::time::timeout(MMDEBSTRAP_TIMEOUT, cmd.status()).await {
            Err(_) => {
                return Err(failure(format!(
                    "mmdebstrap did not finish within {} minutes",
                    MMDEBSTRAP_TIMEOUT.as_secs() / 60
                )));
            }
            Ok(Err(e)) => return Err(failure(format!("cannot run {}: {e}", mmdebstrap.display()))),
            Ok(Ok(status)) => status,
        };
        if !status.success() {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            let lines: Vec<String> = output.lines().map(str::to_owned).collect();
            return Err(failure(format!(
                "mmdebstrap failed ({status}); last lines of its output:\n{}",
                tail(&lines, 20)
            )));
        }
        let size = std::fs::metadata(&rootfs).map(|m| m.len()).unwrap_or(0);
        self.emit(Event::ImageWorking {
            service: spec.name.clone(),
            reference: tag.clone(),
            how: format!(
                "importing the root file system ({} MB, made in {} s)",
                size / 1_000_000,
                started.elapsed().as_secs()
            ),
        });
        self.import(&rootfs, &tag, recipe.changes())
            .await
            .map_err(|m| failure(format!("docker import failed: {m}")))?;
        drop(work);
        if !self.image_exists(&tag).await? {
            return Err(failure("docker import ended without an image".to_owned()));
        }
        Ok(tag)
    }

    /// `docker import`: POST /images/create?fromSrc=- with the tar streamed as the body.
    async fn import(
        &self,
        rootfs: &Path,
        tag: &str,
        changes: Vec<String>,
    ) -> std::result::Result<(), String> {
        let (repo, version) = split_reference(tag);
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(version.unwrap_or("latest"))
            .changes(changes)
            .build();
        let file = tokio::fs::File::open(rootfs)
            .await
            .map_err(|e| format!("cannot open {}: {e}", rootfs.display()))?;
        let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 1 << 20];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            buf.truncate(n);
            Ok(Some((buf.into(), file)))
        });
        let mut stream =
            self.docker
                .create_image(Some(options), Some(bollard::body_try_stream(chunks)), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The path of `mmdebstrap`, installing it with apt when we are root.
    async fn ensure_mmdebstrap(&self, recipe: &str) -> Result<PathBuf> {
        if let Some(path) = find_program("mmdebstrap") {
            return Ok(path);
        }
        let missing = |purpose_note: &str| Error::MissingTool {
            tool: "mmdebstrap".to_owned(),
            purpose: format!(
                "build the image of recipe {recipe} from Debian packages{purpose_note}"
            ),
            install: "sudo apt-get update && sudo apt-get install -y mmdebstrap".to_owned(),
        };
        if !is_root() || find_program("apt-get").is_none() {
            return Err(missing(""));
        }
        self.emit(Event::InstallingTool {
            tool: "mmdebstrap".to_owned(),
            package: "mmdebstrap".to_owned(),
        });
        // One install at a time per process; `apt-get update` runs once.
        static APT: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);
        let mut updated = APT.lock().await;
        if let Some(path) = find_program("mmdebstrap") {
            return Ok(path);
        }
        if !*updated {
            run_apt(&["update"])
                .await
                .map_err(|m| missing(&format!(" (apt-get update failed: {m})")))?;
            *updated = true;
        }
        run_apt(&["install", "-y", "--no-install-recommends", "mmdebstrap"])
            .await
            .map_err(|m| missing(&format!(" (apt-get install failed: {m})")))?;
        find_program("mmdebstrap").ok_or_else(|| missing(" (apt-get install did not provide it)"))
    }

    // ----- engine helpers ---------------------------------------------------------------

    async fn image_exists(&self, reference: &str) -> Result<bool> {
        match self.docker.inspect_image(reference).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(Error::docker(format!("inspecting image {reference}"), e)),
        }
    }

    /// Tags of `repo` present in the engine.
    async fn list_tags(&self, repo: &str) -> Result<Vec<String>> {
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

fn cargo_failure(
    builds: &[(&ServiceSpec, &str, Option<&Path>)],
    packages: &[&str],
    message: &str,
) -> Error {
    let (service, package) = builds
        .first()
        .map(|(s, p, _)| (s.name.clone(), *p))
        .unwrap_or_default();
    Error::Image {
        service,
        reference: format!("{BUILD_REPO}/{package}"),
        message: format!(
            "building cargo package(s) {}: {message}",
            packages.join(", ")
        ),
    }
}

fn cargo_program() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

async fn run_apt(args: &[&str]) -> std::result::Result<(), String> {
    let output = tokio::process::Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        Err(format!("{}: {}", output.status, tail(&lines, 5)))
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn tail(lines: &[String], n: usize) -> String {
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The nearest ancestor of `dir` (itself included) whose `Cargo.toml` has a `[workspace]`
/// table; `dir` itself when there is none.
pub(crate) fn find_workspace_root(dir: &Path) -> PathBuf {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    for candidate in absolute.ancestors() {
        let Ok(text) = std::fs::read_to_string(candidate.join("Cargo.toml")) else {
            continue;
        };
        if text
            .parse::<toml::Table>()
            .is_ok_and(|t| t.contains_key("workspace"))
        {
            return candidate.to_path_buf();
        }
    }
    absolute
}

/// `name[:tag]` of a reference; a `:` before the last `/` is a registry port, and a digest
/// reference is passed whole.
pub(crate) fn split_reference(reference: &str) -> (&str, Option<&str>) {
    if reference.contains('@') {
        return (reference, None);
    }
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], Some(&reference[slash + i + 1..])),
        None => (reference, None),
    }
}

fn hex12(digest: &[u8]) -> String {
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `harness/<package>:<12 hex of sha256(binary ‖ Dockerfile)>`.
pub(crate) fn build_tag(package: &str, binary: &[u8], dockerfile: &str) -> String {
    let mut h = Sha256::new();
    h.update(binary);
    h.update(dockerfile.as_bytes());
    format!("{BUILD_REPO}/{package}:{}", hex12(&h.finalize()))
}

/// The Dockerfile used when a package has none.
pub(crate) fn generated_dockerfile(package: &str) -> String {
    format!("FROM scratch\nCOPY {package} /{package}\nENTRYPOINT [\"/{package}\"]\n")
}

/// A tar holding `Dockerfile` and the binary named `package` (mode 0755).
async fn build_context(package: &str, binary: &[u8], dockerfile: &str) -> std::io::Result<Vec<u8>> {
    let mut tar = tokio_tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        (package, binary, 0o755),
    ] {
        let mut header = tokio_tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data).await?;
    }
    tar.into_inner().await
}

/// `cargo metadata` facts the images need.
#[derive(Debug)]
struct CargoMetadata {
    target_directory: PathBuf,
    /// Package name -> its folder.
    packages: HashMap<String, PathBuf>,
}

impl CargoMetadata {
    fn parse(json: &[u8]) -> std::result::Result<Self, String> {
        #[derive(Deserialize)]
        struct Raw {
            target_directory: PathBuf,
            packages: Vec<RawPackage>,
        }
        #[derive(Deserialize)]
        struct RawPackage {
            name: String,
            manifest_path: PathBuf,
        }
        let raw: Raw =
            serde_json::from_slice(json).map_err(|e| format!("unexpected output: {e}"))?;
        Ok(Self {
            target_directory: raw.target_directory,
            packages: raw
                .packages
                .into_iter()
                .map(|p| {
                    (
                        p.name,
                        p.manifest_path
                            .parent()
                            .map(Path::to_path_buf)
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        })
    }

    fn binary(&self, package: &str) -> PathBuf {
        self.target_directory
            .join(TARGET)
            .join("release")
            .join(package)
    }
}

/// A recipe `fixtures/images/<name>/image.toml`: how to build a dependency's image from
/// Debian packages. The format is documented at the top of each `image.toml`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recipe {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    /// The reference this recipe stands in for (informational).
    pub(crate) provides: Option<String>,
    pub(crate) suite: String,
    pub(crate) packages: Vec<String>,
    pub(crate) user: Option<String>,
    pub(crate) entrypoint: Vec<String>,
    pub(crate) cmd: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) expose: Vec<u16>,
    pub(crate) workdir: Option<String>,
    pub(crate) setup: Vec<String>,
    /// File in the recipe folder -> absolute path in the image.
    pub(crate) files: BTreeMap<String, String>,
    /// sha256 over the format version, image.toml and each listed file.
    pub(crate) digest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    provides: Option<String>,
    suite: String,
    packages: Vec<String>,
    user: Option<String>,
    #[serde(default)]
    entrypoint: Vec<String>,
    #[serde(default)]
    cmd: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    expose: Vec<u16>,
    workdir: Option<String>,
    #[serde(default)]
    setup: Vec<String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
}

impl Recipe {
    /// Reads `<dir>/image.toml` and the files it lists.
    pub(crate) fn load(name: &str, dir: &Path) -> Result<Self> {
        let path = dir.join("image.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Manifest {
            path: path.clone(),
            line: None,
            message: format!("cannot read recipe {name}: {e}"),
        })?;
        let mut recipe = Self::parse(name, dir, &text)?;
        let mut h = Sha256::new();
        h.update(RECIPE_FORMAT);
        h.update(text.as_bytes());
        for (file, dest) in &recipe.files {
            let bytes = std::fs::read(dir.join(file)).map_err(|e| Error::Manifest {
                path: path.clone(),
                line: find_line(&text, file),
                message: format!(
                    "[files] {file:?}: cannot read {}: {e}",
                    dir.join(file).display()
                ),
            })?;
            h.update(format!("\n{file}\n{dest}\n{}\n", bytes.len()).as_bytes());
            h.update(&bytes);
        }
        recipe.digest = format!("{:x}", h.finalize());
        Ok(recipe)
    }

    /// Parses and validates recipe text (the files it lists are not read; `digest` stays empty).
    pub(crate) fn parse(name: &str, dir: &Path, text: &str) -> Result<Self> {
        let path = dir.join("image.toml");
        let raw: RawRecipe = toml::from_str(text).map_err(|e| Error::Manifest {
            path: path.clone(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_owned(),
        })?;
        let err = |key: &str, message: String| Error::Manifest {
            path: path.clone(),
            line: find_line(text, key),
            message,
        };
        if raw.suite.is_empty()
            || !raw
                .suite
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(err(
                "suite",
                format!(
                    "suite {:?} must be a Debian suite such as \"bookworm\"",
                    raw.suite
                ),
            ));
        }
        if raw.packages.is_empty() {
            return Err(err(
                "packages",
                "packages must name at least one Debian package".into(),
            ));
        }
        if let Some(p) = raw.packages.iter().find(|p| !valid_package(p)) {
            return Err(err(
                "packages",
                format!("{p:?} is not a Debian package name"),
            ));
        }
        if let Some(user) = &raw.user
            && (user.is_empty() || user.contains(char::is_whitespace))
        {
            return Err(err(
                "user",
                format!("user {user:?} must be a user name or uid[:gid]"),
            ));
        }
        let mut env = Vec::new();
        for e in &raw.env {
            match e.split_once('=') {
                Some((k, v))
                    if !k.is_empty()
                        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    env.push((k.to_owned(), v.to_owned()));
                }
                _ => return Err(err("env", format!("env entry {e:?} must be NAME=value"))),
            }
        }
        if raw.expose.contains(&0) {
            return Err(err("expose", "expose holds port numbers 1-65535".into()));
        }
        for (file, dest) in &raw.files {
            let relative = Path::new(file);
            if file.is_empty()
                || relative.is_absolute()
                || relative
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(err(
                    file,
                    format!("[files] {file:?} must be a file inside the recipe folder"),
                ));
            }
            if !dest.starts_with('/') || !safe_path(dest) || dest.ends_with('/') {
                return Err(err(
                    file,
                    format!(
                        "[files] destination {dest:?} must be an absolute file path of letters, digits and ._+@-/"
                    ),
                ));
            }
        }
        Ok(Self {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            provides: raw.provides,
            suite: raw.suite,
            packages: raw.packages,
            user: raw.user,
            entrypoint: raw.entrypoint,
            cmd: raw.cmd,
            env,
            expose: raw.expose,
            workdir: raw.workdir,
            setup: raw.setup,
            files: raw.files,
            digest: String::new(),
        })
    }

    /// `harness-recipes/<name>:<12 hex of the recipe's content>`.
    pub(crate) fn tag(&self) -> String {
        format!(
            "{RECIPE_REPO}/{}:{}",
            self.name,
            &self.digest[..self.digest.len().min(12)]
        )
    }

    /// The Dockerfile instructions applied on import.
    pub(crate) fn changes(&self) -> Vec<String> {
        let mut c = Vec::new();
        for (k, v) in &self.env {
            c.push(format!("ENV {k}={}", quote(v)));
        }
        if let Some(dir) = &self.workdir {
            c.push(format!("WORKDIR {dir}"));
        }
        for port in &self.expose {
            c.push(format!("EXPOSE {port}"));
        }
        if let Some(user) = &self.user {
            c.push(format!("USER {user}"));
        }
        if !self.entrypoint.is_empty() {
            c.push(format!(
                "ENTRYPOINT {}",
                serde_json::to_string(&self.entrypoint).unwrap_or_default()
            ));
        }
        if !self.cmd.is_empty() {
            c.push(format!(
                "CMD {}",
                serde_json::to_string(&self.cmd).unwrap_or_default()
            ));
        }
        c.push(format!("LABEL {}=true", labels::MANAGED));
        c.push(format!("LABEL {RECIPE_LABEL}={}", self.name));
        c
    }

    /// Copies the recipe's files and the setup script into `work` and returns the mmdebstrap
    /// options (everything but the suite and the output file).
    pub(crate) fn stage(&self, work: &Path) -> std::io::Result<Vec<String>> {
        let mut args = vec![
            "--variant=essential".to_owned(),
            format!("--include={}", self.packages.join(",")),
            "--dpkgopt=path-exclude=/usr/share/doc/*".to_owned(),
            "--dpkgopt=path-exclude=/usr/share/man/*".to_owned(),
            "--dpkgopt=path-exclude=/usr/share/locale/*".to_owned(),
            "--dpkgopt=path-exclude=/usr/share/info/*".to_owned(),
        ];
        // copy-in keeps a file's name and mode but places it in a folder: each file is
        // staged under its final name in a folder of its own.
        for (i, (file, dest)) in self.files.iter().enumerate() {
            let dest = Path::new(dest);
            let (Some(parent), Some(base)) = (dest.parent(), dest.file_name()) else {
                continue;
            };
            let stage_dir = work.join(format!("file{i}"));
            std::fs::create_dir_all(&stage_dir)?;
            let staged = stage_dir.join(base);
            std::fs::copy(self.dir.join(file), &staged)?;
            args.push(format!(
                "--customize-hook=mkdir -p \"$1{}\"",
                parent.display()
            ));
            args.push(format!(
                "--customize-hook=copy-in {} {}",
                staged.display(),
                parent.display()
            ));
        }
        if !self.setup.is_empty() {
            let stage_dir = work.join("setup");
            std::fs::create_dir_all(&stage_dir)?;
            let mut script = String::from("set -eux\n");
            for line in &self.setup {
                script.push_str(line);
                script.push('\n');
            }
            std::fs::write(stage_dir.join("harness-setup.sh"), script)?;
            args.push(format!(
                "--customize-hook=copy-in {} /",
                stage_dir.join("harness-setup.sh").display()
            ));
            args.push("--customize-hook=chroot \"$1\" /bin/sh /harness-setup.sh".to_owned());
            args.push("--customize-hook=rm -f \"$1/harness-setup.sh\"".to_owned());
        }
        Ok(args)
    }
}

/// A value for a Dockerfile `ENV k=v` instruction.
fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:,+@%".contains(&b))
    {
        return v.to_owned();
    }
    format!(
        "\"{}\"",
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
    )
}

fn valid_package(p: &str) -> bool {
    p.len() >= 2
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

fn safe_path(p: &str) -> bool {
    p.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._+@-/".contains(&b))
}

fn find_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(key) || l.starts_with(&format!("\"{key}\""))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTGRES: &str = r#"
provides = "postgres:15"
suite = "bookworm"
packages = ["postgresql-15"]
user = "postgres"
entrypoint = ["/usr/local/bin/harness-entrypoint"]
env = ["PGDATA=/var/lib/postgresql/data", "GREETING=hello world"]
expose = [5432]
setup = ["mkdir -p /var/lib/postgresql/data"]

[files]
"entrypoint.sh" = "/usr/local/bin/harness-entrypoint"
"#;

    fn parse(text: &str) -> Result<Recipe> {
        Recipe::parse("pg", Path::new("/r/pg"), text)
    }

    #[test]
    fn parses_a_recipe_and_derives_import_changes() {
        let r = parse(POSTGRES).unwrap();
        assert_eq!(r.suite, "bookworm");
        assert_eq!(r.packages, vec!["postgresql-15"]);
        assert_eq!(
            r.files["entrypoint.sh"],
            "/usr/local/bin/harness-entrypoint"
        );
        assert_eq!(
            r.changes(),
            vec![
                "ENV PGDATA=/var/lib/postgresql/data",
                "ENV GREETING=\"hello world\"",
                "EXPOSE 5432",
                "USER postgres",
                "ENTRYPOINT [\"/usr/local/bin/harness-entrypoint\"]",
                "LABEL dev.harness.managed=true",
                "LABEL dev.harness.recipe=pg",
            ]
        );
    }

    #[test]
    fn recipe_errors_name_file_and_line() {
        let e = parse("suite = \"bookworm\"\npackages = [\"a1\"]\nentrypont = [\"x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/r/pg/image.toml:3") && e.contains("entrypont"),
            "{e}"
        );
        let e = parse("suite = \"bookworm\"\npackages = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/r/pg/image.toml:2") && e.contains("at least one"),
            "{e}"
        );
        let e = parse("suite = \"bookworm\"\npackages = [\"a1\"]\nenv = [\"NOVALUE\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/r/pg/image.toml:3") && e.contains("NAME=value"),
            "{e}"
        );
        let e = parse("suite = \"bookworm\"\npackages = [\"a1\"]\n[files]\n\"../x\" = \"/x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/r/pg/image.toml:4") && e.contains("inside the recipe folder"),
            "{e}"
        );
        let e =
            parse("suite = \"bookworm\"\npackages = [\"a1\"]\n[files]\n\"x\" = \"relative/x\"\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("absolute"), "{e}");
        let e = parse("packages = [\"a1\"]\n").unwrap_err().to_string();
        assert!(e.contains("suite"), "{e}");
    }

    #[test]
    fn the_shipped_recipes_parse() {
        let root = find_workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        for name in ["postgres", "rabbitmq"] {
            let r = Recipe::load(name, &root.join("fixtures/images").join(name)).unwrap();
            assert!(r.tag().starts_with(&format!("harness-recipes/{name}:")));
            assert_eq!(r.tag().len(), format!("harness-recipes/{name}:").len() + 12);
            assert!(!r.entrypoint.is_empty() && r.user.is_some(), "{name}");
        }
    }

    #[test]
    fn recipe_hash_covers_image_toml_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("image.toml"), POSTGRES).unwrap();
        std::fs::write(
            dir.path().join("entrypoint.sh"),
            "#!/bin/sh\nexec postgres\n",
        )
        .unwrap();
        let first = Recipe::load("pg", dir.path()).unwrap().tag();
        assert_eq!(
            Recipe::load("pg", dir.path()).unwrap().tag(),
            first,
            "stable"
        );
        std::fs::write(
            dir.path().join("entrypoint.sh"),
            "#!/bin/sh\nexec postgres -d 1\n",
        )
        .unwrap();
        let second = Recipe::load("pg", dir.path()).unwrap().tag();
        assert_ne!(first, second, "a changed file changes the tag");
        std::fs::write(
            dir.path().join("image.toml"),
            POSTGRES.replace("5432", "5433"),
        )
        .unwrap();
        assert_ne!(
            Recipe::load("pg", dir.path()).unwrap().tag(),
            second,
            "a changed image.toml changes the tag"
        );
        std::fs::remove_file(dir.path().join("entrypoint.sh")).unwrap();
        let e = Recipe::load("pg", dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("entrypoint.sh") && e.contains("image.toml:12"),
            "{e}"
        );
    }

    #[test]
    fn staging_copies_files_under_their_final_name_and_writes_the_setup_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("image.toml"), POSTGRES).unwrap();
        std::fs::write(dir.path().join("entrypoint.sh"), "#!/bin/sh\n").unwrap();
        let r = Recipe::load("pg", dir.path()).unwrap();
        let work = tempfile::tempdir().unwrap();
        let args = r.stage(work.path()).unwrap();
        assert!(
            args.contains(&"--include=postgresql-15".to_owned()),
            "{args:?}"
        );
        let staged = work.path().join("file0/harness-entrypoint");
        assert!(staged.is_file());
        assert!(
            args.contains(&format!(
                "--customize-hook=copy-in {} /usr/local/bin",
                staged.display()
            )),
            "{args:?}"
        );
        let script = std::fs::read_to_string(work.path().join("setup/harness-setup.sh")).unwrap();
        assert!(
            script.contains("mkdir -p /var/lib/postgresql/data"),
            "{script}"
        );
        assert!(
            args.iter()
                .any(|a| a.contains("chroot \"$1\" /bin/sh /harness-setup.sh")),
            "{args:?}"
        );
    }

    #[test]
    fn build_tags_follow_binary_and_dockerfile() {
        let t = build_tag("orders", b"binary", "FROM scratch\n");
        assert!(
            t.starts_with("harness/orders:") && t.len() == "harness/orders:".len() + 12,
            "{t}"
        );
        assert!(
            t["harness/orders:".len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
        assert_eq!(build_tag("orders", b"binary", "FROM scratch\n"), t);
        assert_ne!(build_tag("orders", b"binary2", "FROM scratch\n"), t);
        assert_ne!(build_tag("orders", b"binary", "FROM scratch\nUSER 1\n"), t);
        // sha256("abc") = ba7816bf8f01...
        assert_eq!(build_tag("x", b"ab", "c"), "harness/x:ba7816bf8f01");
    }

    #[test]
    fn generated_dockerfile_runs_the_binary() {
        assert_eq!(
            generated_dockerfile("pay"),
            "FROM scratch\nCOPY pay /pay\nENTRYPOINT [\"/pay\"]\n"
        );
    }

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(split_reference("postgres:15"), ("postgres", Some("15")));
        assert_eq!(split_reference("postgres"), ("postgres", None));
        assert_eq!(
            split_reference("localhost:5000/x/y"),
            ("localhost:5000/x/y", None)
        );
        assert_eq!(
            split_reference("localhost:5000/y:2"),
            ("localhost:5000/y", Some("2"))
        );
        assert_eq!(split_reference("y@sha256:abc"), ("y@sha256:abc", None));
    }

    #[test]
    fn workspace_root_is_the_nearest_workspace_ancestor() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = find_workspace_root(&here.join("src"));
        assert!(root.join("sample-services").is_dir(), "{}", root.display());
        let lone = tempfile::tempdir().unwrap();
        assert_eq!(find_workspace_root(lone.path()), lone.path());
    }

    #[tokio::test]
    async fn build_context_holds_dockerfile_and_executable_binary() {
        let tar = build_context("pay", b"\x7fELF", "FROM scratch\n")
            .await
            .unwrap();
        let mut archive = tokio_tar::Archive::new(&tar[..]);
        let mut entries = archive.entries().unwrap();
        let mut seen = Vec::new();
        while let Some(entry) = entries.next().await {
            let entry = entry.unwrap();
            seen.push((
                entry.path().unwrap().display().to_string(),
                entry.header().mode().unwrap(),
            ));
        }
        assert_eq!(
            seen,
            vec![("Dockerfile".to_owned(), 0o644), ("pay".to_owned(), 0o755)]
        );
    }
}
