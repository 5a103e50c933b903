//! What a Pact Broker answers, as the report writers read it: its notices, a recorded
//! deployment, can-i-deploy's verdict with the matrix behind it. The broker client
//! (harness-pact) fills them in; they carry no HTTP or Pact types, so a writer needs only
//! this crate.

use serde::{Deserialize, Serialize};

/// A message of the broker's (`notices[]`): its type (`success`, `info`, `debug`, `error`,
/// ...) and text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: String,
    pub text: String,
}

/// A recorded deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub pacticipant: String,
    pub version: String,
    pub environment: String,
    /// The environment did not exist and was created for it.
    pub environment_created: bool,
    pub application_instance: Option<String>,
}

/// The broker's answer to can-i-deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanIDeploy {
    pub deployable: bool,
    /// Why (the broker's `summary.reason`, one per line, and its notices).
    pub reasons: Vec<String>,
    pub rows: Vec<MatrixRow>,
}

/// One pact between a consumer version and a provider version, and its verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixRow {
    pub consumer: String,
    pub consumer_version: String,
    pub provider: String,
    /// None: no version of the provider is where the question asks.
    pub provider_version: Option<String>,
    /// None: not verified.
    pub verification: Option<MatrixVerification>,
}

/// A verification result of a matrix row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixVerification {
    pub success: bool,
    pub verified_at: Option<String>,
    /// The descriptions of the interactions that failed.
    pub failed_interactions: Vec<String>,
}
