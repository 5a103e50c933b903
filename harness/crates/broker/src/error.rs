//! The broker's errors: what the server answers (400, 404, 409) and what stops it starting.

/// A broker error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the command line (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A request the broker refuses (400), with the reason.
    #[error("{0}")]
    BadRequest(String),
    /// Something the request names does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The database failed (500 to a client; exit 3 at start).
    #[error("database: {0}")]
    Database(String),
    /// The address could not be bound, and other failures of the environment (exit 3).
    #[error("{0}")]
    Environment(String),
}

impl Error {
    /// The CLI's exit code for the error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::BadRequest(_) => 2,
            Error::NotFound(_) => 1,
            Error::Database(_) | Error::Environment(_) => 3,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
