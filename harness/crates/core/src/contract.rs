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

/// The outcome of verifying one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderVerification {
    pub provider: String,
    /// The pacts verified: consumer, file (or broker), number of interactions.
    pub pacts: Vec<PactSummary>,
    /// One result per interaction, in pact order.
    pub results: Vec<InteractionResult>,
    /// Failures not tied to an interaction (a pact the verifier could not run).
    pub errors: Vec<String>,
    /// The same for pending pacts (reported; they do not fail the verification).
    pub pending_errors: Vec<String>,
    /// No pact names the provider; `no_pacts_fails` says whether that fails.
    pub no_pacts: bool,
    pub no_pacts_fails: bool,
    #[serde(with = "crate::events::seconds")]
    pub elapsed: Duration,
}

/// A pact that was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PactSummary {
    pub consumer: String,
    pub source: String,
    pub interactions: usize,
    /// A broker's pact: the consumer version(s) it belongs to, as the broker says.
    pub consumer_version: Option<String>,
    /// A broker's pact: why it was selected (`latest from main branch`, ...).
    pub selected_as: Option<String>,
    /// A broker's pact in pending state: its failures do not fail the verification.
    pub pending: bool,
    /// The broker's notices for it.
    pub notices: Vec<String>,
    /// Whether its result was published (`None`: not asked to, or not a broker's pact).
    pub published: Option<Result<(), String>>,
}

impl ProviderVerification {
    /// Every interaction passed (or failed in a pending pact), nothing else failed, and a
    /// missing pact is allowed.
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
            && self
                .results
                .iter()
                .all(|r| r.passed() || self.is_pending(r))
            && !(self.no_pacts && self.no_pacts_fails)
    }

    /// Whether the result belongs to a pending pact of a broker.
    pub fn is_pending(&self, result: &InteractionResult) -> bool {
        self.pacts
            .iter()
            .any(|p| p.pending && p.source == result.source)
    }

    /// The failed interactions (pending ones included).
    pub fn failures(&self) -> impl Iterator<Item = &InteractionResult> {
        self.results.iter().filter(|r| !r.passed())
    }

    /// The failed interactions that fail the verification (not pending).
    pub fn blocking_failures(&self) -> impl Iterator<Item = &InteractionResult> {
        self.failures().filter(|r| !self.is_pending(r))
    }

    /// A plain-text account of every failure (for test assertions and logs).
    pub fn explain(&self) -> String {
        let mut out = String::new();
        if self.no_pacts {
            out.push_str(&format!("no pacts found for provider {}\n", self.provider));
        }
        for e in &self.errors {
            out.push_str(&format!("error: {e}\n"));
        }
        for e in &self.pending_errors {
            out.push_str(&format!(
                "error (pending pact, does not fail the verification): {e}\n"
            ));
        }
        for r in self.failures() {
            out.push_str(&format!(
                "{}{} -> {}: {:?}{}\n",
                if self.is_pending(r) {
                    "(pending: does not fail the verification) "
                } else {
                    ""
                },
                r.consumer,
                r.provider,
                r.description,
                if r.provider_states.is_empty() {
                    String::new()
                } else {
                    format!(" given {}", r.provider_states.join(", "))
                }
            ));
            match &r.outcome {
                Outcome::Passed => {}
                Outcome::Error { message } => out.push_str(&format!("  error: {message}\n")),
                Outcome::Failed { mismatches } => {
                    for m in mismatches {
                        out.push_str(&format!(
                            "  {} {}: expected {} but was {} ({})\n",
                            m.kind, m.path, m.expected, m.actual, m.detail
                        ));
                    }
                }
            }
        }
        out
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
