//! The errors of stacks (and, wrapped, of the images they need), and the CLI exit code each
//! maps to.

use std::path::PathBuf;

/// Everything that can go wrong reading a manifest or running a stack; an image that
/// cannot be provided is [`Error::Images`], with the images crate's message as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manifest cannot be read or is invalid.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Manifest {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// Bad input on the command line or through the API (e.g. `--attach` syntax).
    #[error("{0}")]
    Usage(String),
    /// No Docker engine answers.
    #[error("no Docker engine reachable ({detail}); start the Docker daemon or set DOCKER_HOST")]
    NoDocker { detail: String },
    /// A container could not be created or started.
    #[error("service {service} failed to start: {message}")]
    Start { service: String, message: String },
    /// A service never became ready; `log_tail` holds the last lines of its log.
    #[error(
        "service {service} was not ready within {timeout_s} s ({rule}); last lines of its log:\n{log_tail}"
    )]
    NotReady {
        service: String,
        timeout_s: u64,
        rule: String,
        log_tail: String,
    },
    /// A line a test waited for did not appear in a service's log in time.
    #[error(
        "service {service} did not log a line containing {text:?} within {timeout:?}; last lines of its log:\n{log_tail}"
    )]
    LogTimeout {
        service: String,
        text: String,
        timeout: std::time::Duration,
        log_tail: String,
    },
    /// A name that is not a service of the stack.
    #[error("no service named {0:?} in this stack")]
    UnknownService(String),
    /// An operation on the Docker engine failed.
    #[error("docker: {context}: {source}")]
    Docker {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The reaper could not be started (no image, the Docker socket not mountable).
    #[error("reaper: {message}")]
    Reaper { message: String },
    /// The start was interrupted (Ctrl-C, SIGTERM, or its future dropped); what it had
    /// created was removed.
    #[error("interrupted while starting; everything it had started was removed")]
    Interrupted,
    /// Something of the machine is not as needed (a port taken, a signal that cannot be
    /// watched).
    #[error("{0}")]
    Environment(String),
    /// A task of the harness itself failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// Local I/O (logs, reports).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An image could not be provided (a recipe, a build, a pull, a missing tool): the
    /// images crate's error, shown as it is.
    #[error(transparent)]
    Images(#[from] harness_images::Error),
}

impl Error {
    /// The documented exit code of the `harness` CLI for this error:
    /// 2 usage or input error (and an interrupted start: the user stopped it), 3 environment
    /// error, 1 otherwise (the run failed); an images error keeps its own code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Manifest { .. }
            | Error::Usage(_)
            | Error::UnknownService(_)
            | Error::Interrupted => 2,
            Error::NoDocker { .. } | Error::Reaper { .. } | Error::Environment(_) => 3,
            Error::Images(e) => e.exit_code(),
            Error::Start { .. }
            | Error::NotReady { .. }
            | Error::LogTimeout { .. }
            | Error::Docker { .. }
            | Error::Internal(_)
            | Error::Io { .. } => 1,
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

/// `Result` with the stack crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_images_error_keeps_its_message_and_exit_code() {
        let missing = || harness_images::Error::MissingTool {
            tool: "mmdebstrap".into(),
            purpose: "build the image of recipe postgres from Debian packages".into(),
            install: "sudo apt-get install -y mmdebstrap".into(),
        };
        let wrapped = Error::from(missing());
        assert_eq!(wrapped.to_string(), missing().to_string());
        assert_eq!(wrapped.exit_code(), 3);
        let recipe = Error::from(harness_images::Error::Recipe {
            path: "fixtures/images/pg/image.toml".into(),
            line: Some(3),
            message: "suite \"\" must be a Debian suite such as \"bookworm\"".into(),
        });
        assert!(
            recipe
                .to_string()
                .starts_with("fixtures/images/pg/image.toml:3: suite"),
            "{recipe}"
        );
        assert_eq!(recipe.exit_code(), 2);
        let image = Error::from(harness_images::Error::Image {
            service: "db".into(),
            reference: "postgres:15".into(),
            message: "cannot be pulled".into(),
        });
        assert_eq!(
            image.to_string(),
            "image for db (postgres:15): cannot be pulled"
        );
        assert_eq!(image.exit_code(), 1);
    }

    #[test]
    fn exit_codes_by_kind() {
        let manifest = Error::Manifest {
            path: "stack.toml".into(),
            line: None,
            message: "no services".into(),
        };
        assert_eq!(manifest.to_string(), "stack.toml: no services");
        assert_eq!(manifest.exit_code(), 2);
        assert_eq!(Error::UnknownService("x".into()).exit_code(), 2);
        assert_eq!(Error::Interrupted.exit_code(), 2);
        assert_eq!(Error::Environment("port taken".into()).exit_code(), 3);
        assert_eq!(
            Error::NoDocker {
                detail: "no socket".into()
            }
            .exit_code(),
            3
        );
        assert_eq!(Error::Internal("bug".into()).exit_code(), 1);
        assert_eq!(
            Error::io("reading x", std::io::Error::other("gone")).exit_code(),
            1
        );
    }
}
