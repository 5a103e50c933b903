//! What can go wrong before or around a verification (a failing interaction is a result,
//! not an error).

use std::path::PathBuf;

/// An error of the contracts library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pact that cannot be read or parsed (input error, exit 2).
    #[error("{origin}: not a readable pact: {reason}")]
    BadPact { origin: String, reason: String },
    /// A pact source that does not exist.
    #[error("{}: no such pact file or directory", .0.display())]
    MissingSource(PathBuf),
    /// The verifier was set up wrongly (input error, exit 2).
    #[error("{0}")]
    Usage(String),
    /// A checked-in pact differs from what the consumer test wrote.
    #[error(
        "{path} is stale: {reason}\n  regenerate it with `HARNESS_UPDATE_PACTS=1 cargo nextest run` (or `cargo test`), review the diff and commit it"
    )]
    StalePact { path: String, reason: String },
    /// The message or state server could not start, the broker could not be reached, the
    /// verifier failed as a whole (environment error, exit 3).
    #[error("{0}")]
    Environment(String),
    /// The Pact Broker refused a request (a 4xx) with this reason: bad input, an unknown
    /// version or environment, a missing credential (exit 2).
    #[error("the Pact Broker refused it: {reason}")]
    Broker { status: u16, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The CLI's exit code for this error: 2 for bad input, 3 for the environment.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::BadPact { .. }
            | Self::MissingSource(_)
            | Self::Usage(_)
            | Self::Broker { .. } => 2,
            Self::StalePact { .. } => 1,
            Self::Environment(_) | Self::Io { .. } => 3,
        }
    }

    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
