//! Which Dockerfile an own service's image is built with.

use std::path::Path;

use crate::error::{Error, Result};
use crate::{cargo::CargoMetadata, engine::Engine, reference::BUILD_REPO, request::ImageRequest};

impl Engine {
    /// The Dockerfile text for `package`, and where it comes from.
    pub(crate) async fn dockerfile_for(
        &self,
        req: &ImageRequest,
        package: &str,
        dockerfile: Option<&Path>,
        meta: &CargoMetadata,
    ) -> Result<(String, String)> {
        let candidate = match dockerfile {
            Some(p) => Some((p.to_path_buf(), true)),
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
                        service: req.service.clone(),
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
}

/// The Dockerfile used when a package has none.
fn generated_dockerfile(package: &str) -> String {
    format!("FROM scratch\nCOPY {package} /{package}\nENTRYPOINT [\"/{package}\"]\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_dockerfile_runs_the_binary() {
        assert_eq!(
            generated_dockerfile("pay"),
            "FROM scratch\nCOPY pay /pay\nENTRYPOINT [\"/pay\"]\n"
        );
    }
}
