//! The checks of one response, in order: not still rate limited, no 5xx, conformance to
//! the operation (status, content type, body, required headers), then what the request
//! was for: valid input accepted, invalid input rejected with a 4xx, missing credentials
//! answered with 401/403. The first check that does not hold is the [`Check`] reported.

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
}

/// Checks the response to a request of `op`; `mutation` says what made the request
/// invalid. Err: the check that did not hold and why.
pub(super) fn response(
    op: &Operation,
    expect: Expect,
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
            let accepted = (200..300).contains(&status)
                || ((400..500).contains(&status)
                    && !matches!(status, 400 | 415 | 429)
                    && !(with_credentials && matches!(status, 401 | 403))
                    && op.documents(status));
            if !accepted {
                let credentials = if with_credentials {
                    ", 401/403 with the credentials given"
                } else {
                    ""
                };
                return Err((
                    Check::ValidAccepted,
                    format!(
                        "{status} to a schema-valid request (2xx expected, or a 4xx the operation documents other than 400, 415, 429{credentials})"
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
