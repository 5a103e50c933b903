//! The errors of the images crate, and the CLI exit code each maps to.

use std::path::PathBuf;

/// Everything that can go wrong providing images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A recipe (`fixtures/images/<name>/image.toml`) or a file it lists cannot be read, or
    /// the recipe is invalid: the file, the line where known, what is wrong.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Recipe {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// Bad input (e.g. `cargo metadata` fails in the workspace of own services).
    #[error("{0}")]
    Usage(String),
    /// A tool the harness needs is missing and could not be installed.
    #[error("`{tool}` is needed to {purpose} but is not installed; install it with: {install}")]
    MissingTool {
        tool: String,
        purpose: String,
        install: String,
    },
    /// An image could not be provided.
    #[error("image for {service} ({reference}): {message}")]
    Image {
        service: String,
        reference: String,
        message: String,
    },
    /// An operation on the Docker engine failed.
    #[error("docker: {context}: {source}")]
    Docker {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Local I/O (cargo, temporary folders, logs).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The documented exit code of the `harness` CLI for this error: 2 usage or input error
    /// (a recipe, the workspace), 3 environment error (a missing tool), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Recipe { .. } | Error::Usage(_) => 2,
            Error::MissingTool { .. } => 3,
            Error::Image { .. } | Error::Docker { .. } | Error::Io { .. } => 1,
        }
    }

    /// An engine call that failed: what was being done, and the client's error.
    pub fn docker(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Docker {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// Local I/O that failed: what was being done, and the error.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// `Result` with the images crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_by_kind() {
        let recipe = Error::Recipe {
            path: "image.toml".into(),
            line: Some(2),
            message: "bad".into(),
        };
        assert_eq!(recipe.to_string(), "image.toml:2: bad");
        assert_eq!(recipe.exit_code(), 2);
        assert_eq!(Error::Usage("cargo metadata failed".into()).exit_code(), 2);
        let missing = Error::MissingTool {
            tool: "mmdebstrap".into(),
            purpose: "build".into(),
            install: "apt-get install mmdebstrap".into(),
        };
        assert_eq!(missing.exit_code(), 3);
        assert_eq!(
            Error::docker("inspecting image x", std::io::Error::other("refused")).to_string(),
            "docker: inspecting image x: refused"
        );
        assert_eq!(
            Error::io("creating a log", std::io::Error::other("full")).exit_code(),
            1
        );
    }
}
