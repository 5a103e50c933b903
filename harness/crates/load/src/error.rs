//! What can go wrong in a load run, beyond a threshold that does not hold (a verdict, not
//! an error).

/// A load run's failure.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The plan in the environment is unusable (a suite started by hand without it).
    #[error("bad load plan: {0}")]
    Plan(String),
    /// goose refused the configuration or could not run.
    #[error("goose: {0}")]
    Goose(String),
    /// The results file is missing, unreadable or of another version.
    #[error("{0}")]
    Results(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl LoadError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LoadError::Io {
            what: what.into(),
            source,
        }
    }
}
