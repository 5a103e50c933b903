//! Own services' binaries: `cargo metadata` and one static `cargo build --release` for all.

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
    ) -> Result<()> {
        let how = format!(
            "cargo build --release --target {TARGET} (static) of {}",
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
        cmd.args(["build", "--release", "--target", TARGET]);
        for p in packages {
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
}

impl CargoMetadata {
    pub(crate) fn parse(json: &[u8]) -> std::result::Result<Self, String> {
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

    pub(crate) fn binary(&self, package: &str) -> PathBuf {
        self.target_directory
            .join(TARGET)
            .join("release")
            .join(package)
    }
}
