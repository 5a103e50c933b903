//! The errors of the harness library, and the CLI exit code each maps to.

use std::path::PathBuf;

/// Everything that can go wrong building images or running a stack.
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
}

impl Error {
    /// The documented exit code of the `harness` CLI for this error:
    /// 2 usage or input error (and an interrupted start: the user stopped it), 3 environment
    /// error, 1 otherwise (the run failed).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Manifest { .. }
            | Error::Usage(_)
            | Error::UnknownService(_)
            | Error::Interrupted => 2,
            Error::NoDocker { .. }
            | Error::MissingTool { .. }
            | Error::Reaper { .. }
            | Error::Environment(_) => 3,
            _ => 1,
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

/// `Result` with the harness [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
