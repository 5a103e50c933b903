//! Own services' images: the static binary and its Dockerfile in a small image, tagged by
//! content, built with the legacy builder.

use std::{collections::HashMap, path::Path, time::Instant};

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures_util::StreamExt;
use harness_core::{Event, labels, text::tail_lines as tail};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::{
    cargo::CargoMetadata,
    context::build_context,
    engine::Engine,
    reference::{BUILD_REPO, hex12},
    request::{ImageRequest, ImageState, ImageStatus},
};

impl Engine {
    async fn read_binary(
        &self,
        req: &ImageRequest,
        package: &str,
        meta: &CargoMetadata,
    ) -> Result<Option<Vec<u8>>> {
        let path = meta.binary(package);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Image {
                service: req.service.clone(),
                reference: format!("{BUILD_REPO}/{package}"),
                message: format!("cannot read the binary {}: {e}", path.display()),
            }),
        }
    }

    pub(crate) async fn build_status(
        &self,
        req: &ImageRequest,
        package: &str,
        dockerfile: Option<&Path>,
        meta: &CargoMetadata,
    ) -> Result<ImageStatus> {
        let repo = format!("{BUILD_REPO}/{package}");
        let mut status = ImageStatus {
            service: req.service.clone(),
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
        let (text, _) = self.dockerfile_for(req, package, dockerfile, meta).await?;
        let older_exists = !self.list_tags(&repo).await?.is_empty();
        match self.read_binary(req, package, meta).await? {
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

    pub(crate) async fn ensure_build(
        &self,
        req: &ImageRequest,
        package: &str,
        dockerfile: Option<&Path>,
        meta: &CargoMetadata,
    ) -> Result<String> {
        let start = Instant::now();
        let failure = |reference: &str, message: String| Error::Image {
            service: req.service.clone(),
            reference: reference.to_owned(),
            message,
        };
        let binary = self.read_binary(req, package, meta).await?.ok_or_else(|| {
            failure(
                &format!("{BUILD_REPO}/{package}"),
                format!(
                    "cargo built {package} but {} does not exist",
                    meta.binary(package).display()
                ),
            )
        })?;
        let (dockerfile_text, dockerfile_origin) =
            self.dockerfile_for(req, package, dockerfile, meta).await?;
        let tag = build_tag(package, &binary, &dockerfile_text);
        if self.image_exists(&tag).await? {
            self.emit(Event::ImageReady {
                service: req.service.clone(),
                reference: tag.clone(),
                built: false,
                elapsed: start.elapsed(),
            });
            return Ok(tag);
        }
        self.emit(Event::ImageWorking {
            service: req.service.clone(),
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
            service: req.service.clone(),
            reference: tag.clone(),
            built: true,
            elapsed: start.elapsed(),
        });
        Ok(tag)
    }
}

/// `harness/<package>:<12 hex of sha256(binary ‖ Dockerfile)>`.
fn build_tag(package: &str, binary: &[u8], dockerfile: &str) -> String {
    let mut h = Sha256::new();
    h.update(binary);
    h.update(dockerfile.as_bytes());
    format!("{BUILD_REPO}/{package}:{}", hex12(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
