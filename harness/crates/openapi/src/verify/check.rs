//! The checks of one response, in order: not still rate limited, no 5xx, conformance to
//! the operation (status, content type, body, required headers), then what the request
//! was for: valid input accepted (400, 415 and 422 are not acceptance: the service enforces
//! a rule its document does not state, unless the run lists it as a business rule),
//! invalid input rejected with a 4xx, missing or bad credentials answered with 401/403.
//! The first check that does not hold is the [`Check`] reported.

use harness_core::openapi::Check;
use http::HeaderMap;

use crate::{
    conformance::{Rule, check_operation},
    document::Operation,
};

/// What the answer to a request must show beyond conformance, by what the request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// A schema-valid request (examples, valid phase): accepted; `with_credentials`: the
    /// credentials given were sent with it (so 401/403 does not count as accepting it).
    Accepted { with_credentials: bool },
    /// A schema-invalid request: a 4xx.
    Rejected,
    /// A request without credentials to a protected operation: 401 or 403.
    AuthRequired,
    /// Anything the operation documents (a step of a stateful chain, which judges the
    /// status itself).
    Any,
    /// A request with bad credentials (named by its mutation) to a protected operation:
    /// 401 or 403.
    Refused,
}

/// An answer to a schema-valid request that the run says is a business rule of the
/// operation (e.g. 422 for an unknown SKU), not a gap in its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessRule {
    /// The operation (`operationId` or `METHOD /path`).
    pub operation: String,
    pub status: u16,
    /// Only when the body contains this text (None: any body).
    pub body_contains: Option<String>,
}

impl BusinessRule {
    fn allows(&self, status: u16, body: &[u8]) -> bool {
        self.status == status
            && self
                .body_contains
                .as_ref()
                .is_none_or(|t| String::from_utf8_lossy(body).contains(t.as_str()))
    }
}

/// Checks the response to a request of `op`; `mutation` says what made the request
/// invalid. Err: the check that did not hold and why.
pub(super) fn response(
    op: &Operation,
    expect: Expect,
    rules: &[BusinessRule],
    mutation: Option<&str>,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), (Check, String)> {
    if status == 429 {
        return Err((
            Check::Reachable,
            "still 429 Too Many Requests after 5 retries: the rate limit hides the API (give the verifier a client the service does not limit)".to_owned(),
        ));
    }
    let mutation = mutation
        .map(|m| format!(" (request: {m})"))
        .unwrap_or_default();
    if status >= 500 {
        let documented = if op.documents(status) {
            "documented, but "
        } else {
            ""
        };
        return Err((
            Check::NoServerError,
            format!(
                "{status} ({documented}a server error while the dependencies are healthy){mutation}"
            ),
        ));
    }
    if let Some(violations) = check_operation(op, status, headers, body) {
        let first = &violations[0];
        let check = match first.rule {
            Rule::UndocumentedStatus | Rule::UnknownPath | Rule::UnknownMethod => {
                Check::StatusDocumented
            }
            Rule::UndocumentedContentType | Rule::MissingContentType => {
                Check::ContentTypeDocumented
            }
            Rule::InvalidJson | Rule::MissingBody | Rule::Schema { .. } => Check::BodyConforms,
            Rule::MissingHeader { .. } => Check::RequiredHeaders,
        };
        let reasons: Vec<String> = violations
            .iter()
            .map(|v| {
                let at = if v.pointer.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", v.pointer)
                };
                format!("{at}{} ({})", v.message, v.rule)
            })
            .collect();
        return Err((check, format!("{status}: {}{mutation}", reasons.join("; "))));
    }
    match expect {
        Expect::Accepted { with_credentials } => {
            let ruled = rules.iter().any(|r| r.allows(status, body));
            let accepted = (200..300).contains(&status)
                || ruled
                || ((400..500).contains(&status)
                    && !matches!(status, 400 | 415 | 422 | 429)
                    && !(with_credentials && matches!(status, 401 | 403))
                    && op.documents(status));
            if !accepted {
                let credentials = if with_credentials {
                    ", 401/403 with the credentials given"
                } else {
                    ""
                };
                let answer = problem_detail(body)
                    .map(|d| format!(" \"{d}\""))
                    .unwrap_or_default();
                let hint = if matches!(status, 400 | 422) {
                    "; the service enforces a rule the document does not state: state it in the schema, or list it as a business rule of the operation in harness.toml"
                } else {
                    ""
                };
                return Err((
                    Check::ValidAccepted,
                    format!(
                        "{status}{answer} to a schema-valid request (2xx expected, or a 4xx the operation documents other than 400, 415, 422, 429{credentials}){hint}"
                    ),
                ));
            }
        }
        Expect::Rejected => {
            if !(400..500).contains(&status) {
                return Err((
                    Check::InvalidRejected,
                    format!("{status} to a schema-invalid request (a 4xx expected){mutation}"),
                ));
            }
        }
        Expect::Any => {}
        Expect::Refused => {
            if !matches!(status, 401 | 403) {
                return Err((
                    Check::BadCredentialsRefused,
                    format!(
                        "{status} with bad credentials to an operation that requires valid ones (401 or 403 expected){mutation}"
                    ),
                ));
            }
        }
        Expect::AuthRequired => {
            if !matches!(status, 401 | 403) {
                return Err((
                    Check::AuthRequired,
                    format!(
                        "{status} without credentials to an operation that requires them (401 or 403 expected)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// What an error body says, when it is a problem document or has a `message`/`error`.
fn problem_detail(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["detail", "message", "error", "title"]
        .iter()
        .find_map(|k| v.get(*k).and_then(serde_json::Value::as_str))
        .map(|s| s.chars().take(200).collect())
}
