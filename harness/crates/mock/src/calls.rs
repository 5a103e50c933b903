//! The vocabulary of a mock's use, as serde data: the [`Call`]s it received, the
//! [`Override`]s and [`Expectation`]s a test sets, and [`Unverified`], what it found wrong.
//! The mock's state keeps them, its control API serves them as JSON, and [`MockControl`]
//! reads them back.
//!
//! [`MockControl`]: crate::MockControl

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fault::Effect;

/// One request a mock received, in order of arrival.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// 0, 1, 2... in order of arrival (never reused, also after the calls are forgotten).
    pub seq: u64,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Header names lowercased, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body, when it is JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The body as text, when it is not JSON (lossy UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// The operation (OpenAPI `operationId`, pact interaction, stub) it was routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The status answered; None when the connection was dropped (or the answer came from a
    /// mock mounted on the inner server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The faults applied to it (latencies add up; a drop or a status replaces the answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Effect>,
    /// Why the contract does not accept it (it was answered with a 4xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// How the answer broke the contract (an override that does not conform).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// Milliseconds since the mock started.
    pub at_ms: u64,
}

impl Call {
    /// Whether the call is over: answered, or its connection dropped (a call still being
    /// answered has neither; so has one a mock on the inner server answered).
    pub fn finished(&self) -> bool {
        self.status.is_some() || self.dropped()
    }

    /// Whether a fault dropped its connection.
    pub fn dropped(&self) -> bool {
        self.faults.contains(&Effect::Drop)
    }

    /// One line for a log: `#3 POST /payments [create_payment] -> 201`, then indented lines
    /// with why the request was not accepted and how the answer broke the contract.
    pub fn summary(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None if self.dropped() => "dropped".to_owned(),
            None => "(no answer yet)".to_owned(),
        };
        let mut out = format!(
            "#{} {} {}{} [{}] -> {status}",
            self.seq,
            self.method,
            self.path,
            self.query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default(),
            self.operation.as_deref().unwrap_or("-")
        );
        for f in &self.faults {
            out.push_str(&format!(" (fault {f:?})"));
        }
        if let Some(r) = &self.rejected {
            out.push_str(&format!("\n    not accepted: {r}"));
        }
        for v in &self.violations {
            out.push_str(&format!("\n    answer breaks the contract: {v}"));
        }
        out
    }

    /// The header's value, if the request had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer that replaces the responder's for one operation (checked against the contract
/// like every answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub operation: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

/// How many calls an operation expects (checked by [`MockServer::verify`] and on drop).
///
/// [`MockServer::verify`]: crate::MockServer::verify
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub operation: String,
    pub min: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

impl Expectation {
    /// Exactly `n` calls.
    pub fn exactly(operation: impl Into<String>, n: u64) -> Self {
        Self {
            operation: operation.into(),
            min: n,
            max: Some(n),
        }
    }

    /// At least `n` calls.
    pub fn at_least(operation: impl Into<String>, n: u64) -> Self {
        Self {
            operation: operation.into(),
            min: n,
            max: None,
        }
    }

    /// Between `min` and `max` calls.
    pub fn between(operation: impl Into<String>, min: u64, max: u64) -> Self {
        Self {
            operation: operation.into(),
            min,
            max: Some(max),
        }
    }

    pub(crate) fn holds(&self, n: u64) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }
}

/// What a mock found wrong: each line names the call or the expectation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the mock {name} was not used as the test expected:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct Unverified {
    pub name: String,
    pub problems: Vec<String>,
}
