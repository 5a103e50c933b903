//! Contract verification results as report writers read them: one [`InteractionResult`] per
//! interaction of a pact, with every [`Mismatch`] (where, expected, actual) of a failure.
//! Producers (the Pact verifier) fill them in; they carry no Pact types, so a writer needs
//! only this crate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The verdict on one interaction of a pact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionResult {
    pub consumer: String,
    pub provider: String,
    /// The interaction's description (`upon receiving` in the pact).
    pub description: String,
    /// The provider states it was verified in, in order.
    #[serde(default)]
    pub provider_states: Vec<String>,
    /// Where the pact came from: a file, a URL or a broker.
    pub source: String,
    /// State setup, the request (or message) and its check, and the teardown.
    #[serde(with = "crate::events::seconds")]
    pub duration: Duration,
    pub outcome: Outcome,
}

impl InteractionResult {
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Passed)
    }
}

/// Whether an interaction held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    /// The provider answered, differently from the pact.
    Failed {
        mismatches: Vec<Mismatch>,
    },
    /// The interaction could not be checked: a provider state failed, the provider was
    /// unreachable, no producer knows the message.
    Error {
        message: String,
    },
}

/// One difference between what the pact expects and what the provider did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub kind: MismatchKind,
    /// Where: a body path (`$.items[0].sku`), a header or query name, or empty for the
    /// status, method and path.
    pub path: String,
    pub expected: String,
    pub actual: String,
    /// The matcher's own words.
    pub detail: String,
}

/// The part of the request, response or message a [`Mismatch`] is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    Method,
    Path,
    Query,
    Status,
    Header,
    BodyType,
    Body,
    Metadata,
}

impl std::fmt::Display for MismatchKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Method => "method",
            Self::Path => "path",
            Self::Query => "query",
            Self::Status => "status",
            Self::Header => "header",
            Self::BodyType => "body type",
            Self::Body => "body",
            Self::Metadata => "metadata",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_through_json() {
        let result = InteractionResult {
            consumer: "orders".into(),
            provider: "payments".into(),
            description: "a payment request".into(),
            provider_states: vec!["payments is up".into()],
            source: "contracts/pacts/orders-payments.json".into(),
            duration: Duration::from_millis(1500),
            outcome: Outcome::Failed {
                mismatches: vec![Mismatch {
                    kind: MismatchKind::Body,
                    path: "$.status".into(),
                    expected: "\"AUTHORIZED\"".into(),
                    actual: "\"DECLINED\"".into(),
                    detail: "Expected 'AUTHORIZED' to be equal to 'DECLINED'".into(),
                }],
            },
        };
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(json["duration"], 1.5);
        assert_eq!(json["outcome"]["status"], "failed");
        assert_eq!(json["outcome"]["mismatches"][0]["kind"], "body");
        let back: InteractionResult = serde_json::from_value(json).unwrap();
        assert_eq!(back, result);
        assert!(!back.passed());
    }
}
