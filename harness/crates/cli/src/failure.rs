//! What ends a command unsuccessfully, and the documented exit code of each: 0 success,
//! 1 a gate or check that failed, 2 usage or input error (and Ctrl-C), 3 the environment.

use harness::pyramid;

/// A command's failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The library could not run the command (its error carries the exit code).
    #[error(transparent)]
    Run(#[from] pyramid::Error),
    /// A stack command (`up`, `clean`, `images`) failed.
    #[error(transparent)]
    Stack(#[from] harness::Error),
    /// `harness broker serve` failed.
    #[error(transparent)]
    Broker(#[from] harness_broker::Error),
    /// A gate failed; what failed is already printed.
    #[error("{0}")]
    Gate(String),
}

impl Failure {
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Self::Run(e) => e.exit_code(),
            Self::Stack(e) => e.exit_code(),
            Self::Broker(e) => i32::from(e.exit_code()),
            Self::Gate(_) => 1,
        }
    }
}

/// A verdict as the command's result: `Ok` when it passed, else the gate's failure.
pub(crate) fn gate(passed: bool, failed: &str) -> Result<(), Failure> {
    if passed {
        Ok(())
    } else {
        Err(Failure::Gate(failed.to_owned()))
    }
}
