//! The errors of Harness's commands run as a library, each with the `harness` CLI's exit
//! code: 2 bad input (harness.toml, options, a user's program that cannot start) or an
//! interrupted command, 3 the environment (no Docker engine, a missing tool, an unreachable
//! broker), 1 a run that failed for another reason. A check that ran and found a problem
//! is not an error: it is the command's result (`passed() == false`, exit 1 in the CLI).

use std::path::PathBuf;

/// Everything that can stop a command before it has a verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// harness.toml cannot be read or is invalid: the file, the line, what is wrong.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// Bad input: an option, a file it names, a user's program that does not start or
    /// behaves unexpectedly (the load suite, the provider-state program, the auth command).
    #[error("{0}")]
    Usage(String),
    /// Something of the machine is not as needed (a missing tool, no free port, an
    /// unreachable service, results that could not be delivered).
    #[error("{0}")]
    Environment(String),
    /// Ctrl-C, SIGTERM or [`Interrupt::cancel`](crate::Interrupt::cancel) while starting;
    /// everything started was removed.
    #[error("interrupted while starting; everything it had started was removed")]
    Interrupted,
    /// A program of the user's that a command needs (the provider-state program) did not
    /// come up.
    #[error("service {service} failed to start: {message}")]
    Start { service: String, message: String },
    /// The command found nothing to check and the configuration says that fails
    /// (`if_no_pacts = "fail"`).
    #[error("{0}")]
    NothingToCheck(String),
    /// A stack (or its images) could not be started or used.
    #[error(transparent)]
    Stack(#[from] harness_stack::Error),
    /// Pact: a pact that cannot be read, a broker that refuses or cannot be reached.
    #[error(transparent)]
    Pact(#[from] harness_pact::Error),
    /// Local I/O (run folders, logs, reports).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A part of Harness failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The documented exit code of the `harness` CLI for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::Interrupted => 2,
            Error::Environment(_) => 3,
            Error::NothingToCheck(_)
            | Error::Start { .. }
            | Error::Io { .. }
            | Error::Internal(_) => 1,
            Error::Stack(e) => e.exit_code(),
            Error::Pact(e) => e.exit_code(),
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

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
