//! Own services' binaries: `cargo metadata` and one static `cargo build` for all.
//!
//! A workspace may say how its images are built, in its root `Cargo.toml`:
//!
//! ```toml
//! [workspace.metadata.harness.images]
//! # Built together whenever any of them is asked for: one cargo build, whichever stack asks.
//! packages = ["gateway", "orders", "harness-mock"]
//! # The cargo profile of the binaries (default "release").
//! profile = "image"
//! ```
//!
//! Why a set: cargo unifies features across the packages of one build, so `-p orders` alone
//! and `-p orders -p gateway` can compile shared dependencies twice and give two different
//! `orders` binaries (two images). Building the whole set every time makes every stack's
//! request the same build: the first compiles, the others find it fresh.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use harness_core::Event;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::{engine::Engine, reference::BUILD_REPO, request::ImageRequest};

/// The target own services are built for (static, with `+crt-static`).
pub(crate) const TARGET: &str = "x86_64-unknown-linux-gnu";
const CARGO_BUILD_TIMEOUT: Duration = Duration::from_secs(60 * 60);

impl Engine {
    pub(crate) async fn cargo_metadata(&self) -> Result<CargoMetadata> {
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

    pub(crate) async fn cargo_build(
        &self,
        builds: &[(&ImageRequest, &str, Option<&Path>)],
        packages: &[&str],
        meta: &CargoMetadata,
    ) -> Result<()> {
        let packages = meta.build_set(packages, self.image_set);
        let profile = meta.profile();
        let how = format!(
            "cargo build --profile {profile} --target {TARGET} (static) of {}",
            packages.join(", ")
        );
        for (req, package, _) in builds {
            self.emit(Event::ImageWorking {
                service: req.service.clone(),
                reference: format!("{BUILD_REPO}/{package}"),
                how: how.clone(),
            });
        }
        let mut cmd = tokio::process::Command::new(cargo_program());
        cmd.args(["build", "--profile", profile, "--target", TARGET]);
        for p in &packages {
            cmd.args(["-p", p]);
        }
        // cargo's progress goes to stderr, which the user sees; stdout stays quiet.
        // CARGO_ENCODED_RUSTFLAGS would take precedence over RUSTFLAGS.
        for key in inherited_cargo_vars() {
            cmd.env_remove(key);
        }
        cmd.env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .current_dir(&self.workspace_root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let status = tokio::time::timeout(CARGO_BUILD_TIMEOUT, cmd.status())
            .await
            .map_err(|_| cargo_failure(builds, &packages, "timed out after 60 minutes"))?
            .map_err(|e| cargo_failure(builds, &packages, &format!("cannot run cargo: {e}")))?;
        if !status.success() {
            return Err(cargo_failure(
                builds,
                &packages,
                &format!("cargo build failed ({status}); see its output above"),
            ));
        }
        Ok(())
    }
}

fn cargo_failure(
    builds: &[(&ImageRequest, &str, Option<&Path>)],
    packages: &[&str],
    message: &str,
) -> Error {
    let (service, package) = builds
        .first()
        .map(|(r, p, _)| (r.service.clone(), *p))
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

/// The variables cargo sets for the test or program that runs us (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_*`...), to remove from a cargo build or test run started from there: build
/// scripts that watch such a variable (ring's does) would make every build started from a
/// different test rebuild them and all that depends on them. `CARGO`, `CARGO_HOME`,
/// `CARGO_TARGET_DIR` and the like stay: they say which cargo and where, as the caller meant.
pub fn inherited_cargo_vars() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(key, _)| key)
        .filter(|key| {
            let key = key.to_string_lossy();
            matches!(
                key.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
            ) || key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_BIN_")
        })
        .collect()
}

fn cargo_program() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo metadata` facts the images need.
#[derive(Debug)]
pub(crate) struct CargoMetadata {
    pub(crate) target_directory: PathBuf,
    /// Package name -> its folder.
    pub(crate) packages: HashMap<String, PathBuf>,
    /// `[workspace.metadata.harness.images]`.
    pub(crate) images: ImageSettings,
}

/// How a workspace builds its images (`[workspace.metadata.harness.images]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImageSettings {
    /// Packages built together whenever one of them is asked for.
    #[serde(default)]
    pub(crate) packages: Vec<String>,
    /// The cargo profile (default `release`).
    pub(crate) profile: Option<String>,
}

impl CargoMetadata {
    pub(crate) fn parse(json: &[u8]) -> std::result::Result<Self, String> {
        #[derive(Deserialize)]
        struct Raw {
            target_directory: PathBuf,
            packages: Vec<RawPackage>,
            #[serde(default)]
            metadata: Option<RawMetadata>,
        }
        #[derive(Deserialize)]
        struct RawMetadata {
            harness: Option<RawHarness>,
        }
        #[derive(Deserialize)]
        struct RawHarness {
            images: Option<ImageSettings>,
        }
        #[derive(Deserialize)]
        struct RawPackage {
            name: String,
            manifest_path: PathBuf,
        }
        let raw: Raw = serde_json::from_slice(json).map_err(|e| {
            format!("unexpected output (or a bad [workspace.metadata.harness.images]): {e}")
        })?;
        let images = raw
            .metadata
            .and_then(|m| m.harness)
            .and_then(|h| h.images)
            .unwrap_or_default();
        for p in &images.packages {
            if !raw.packages.iter().any(|r| &r.name == p) {
                return Err(format!(
                    "[workspace.metadata.harness.images] packages names {p:?}, which is not a package of the workspace"
                ));
            }
        }
        Ok(Self {
            images,
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

    /// The cargo profile images are built with.
    pub(crate) fn profile(&self) -> &str {
        self.images.profile.as_deref().unwrap_or("release")
    }

    /// The packages one build of `requested` compiles: the workspace's image set when
    /// `use_set` and the set holds every requested package, else the requested ones.
    pub(crate) fn build_set<'a>(&'a self, requested: &[&'a str], use_set: bool) -> Vec<&'a str> {
        let set = &self.images.packages;
        if use_set && requested.iter().all(|p| set.iter().any(|s| s == p)) {
            set.iter().map(String::as_str).collect()
        } else {
            requested.to_vec()
        }
    }

    pub(crate) fn binary(&self, package: &str) -> PathBuf {
        // cargo's folder of a profile: `dev` builds go to `debug`, others to their name.
        let dir = match self.profile() {
            "dev" | "test" => "debug",
            "bench" => "release",
            other => other,
        };
        self.target_directory.join(TARGET).join(dir).join(package)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(extra: &str) -> std::result::Result<CargoMetadata, String> {
        let json = format!(
            r#"{{"target_directory": "/t", "packages": [
                {{"name": "a", "manifest_path": "/w/a/Cargo.toml"}},
                {{"name": "b", "manifest_path": "/w/b/Cargo.toml"}},
                {{"name": "c", "manifest_path": "/w/c/Cargo.toml"}}
            ]{extra}}}"#
        );
        CargoMetadata::parse(json.as_bytes())
    }

    #[test]
    fn without_settings_the_requested_packages_build_in_release() {
        let meta = metadata("").unwrap();
        assert_eq!(meta.profile(), "release");
        assert_eq!(meta.build_set(&["b"], true), ["b"]);
        assert_eq!(
            meta.binary("b"),
            Path::new("/t/x86_64-unknown-linux-gnu/release/b")
        );
    }

    #[test]
    fn the_image_set_builds_whole_with_its_profile() {
        let meta = metadata(
            r#", "metadata": {"harness": {"images": {"packages": ["a", "b"], "profile": "image"}}}"#,
        )
        .unwrap();
        assert_eq!(meta.profile(), "image");
        // Any part of the set builds the whole set: the same build whoever asks.
        assert_eq!(meta.build_set(&["b"], true), ["a", "b"]);
        assert_eq!(meta.build_set(&["a", "b"], true), ["a", "b"]);
        // A package outside it builds alone, as does a helper of another workspace.
        assert_eq!(meta.build_set(&["c"], true), ["c"]);
        assert_eq!(meta.build_set(&["b", "c"], true), ["b", "c"]);
        assert_eq!(meta.build_set(&["b"], false), ["b"]);
        assert_eq!(
            meta.binary("a"),
            Path::new("/t/x86_64-unknown-linux-gnu/image/a")
        );
        let dev = metadata(r#", "metadata": {"harness": {"images": {"profile": "dev"}}}"#).unwrap();
        assert_eq!(
            dev.binary("a"),
            Path::new("/t/x86_64-unknown-linux-gnu/debug/a")
        );
    }

    #[test]
    fn a_set_naming_an_unknown_package_or_key_is_refused() {
        let e = metadata(r#", "metadata": {"harness": {"images": {"packages": ["nope"]}}}"#)
            .unwrap_err();
        assert!(e.contains("\"nope\"") && e.contains("not a package"), "{e}");
        let e =
            metadata(r#", "metadata": {"harness": {"images": {"profiles": "x"}}}"#).unwrap_err();
        assert!(e.contains("profiles"), "{e}");
    }
}
