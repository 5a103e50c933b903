//! Conformance of one response to the operation it answers: the status is documented (or a
//! range, or `default`), the content type is documented, the body is valid against the
//! schema, and the required headers are there. [`Document::check_response`] is the whole
//! check; the recording client and the property verifier both use it.
//!
//! Route match, status and content-type lookups work on borrowed data, and the body is
//! parsed once; a conforming response costs no allocation beyond the parsed body.

use std::fmt;

use http::{HeaderMap, Method, header::CONTENT_TYPE};
use serde_json::Value;

use crate::document::{Document, MediaType, Operation, RouteError, is_json};

/// Which rule a response broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// No path of the document matches the request's path.
    UnknownPath,
    /// The path is documented, the method is not.
    UnknownMethod,
    /// The status is not documented for the operation (no code, range or `default`).
    UndocumentedStatus,
    /// The response has a content type its documented response does not list, or a body
    /// where the document gives none.
    UndocumentedContentType,
    /// The documented response has content, the response has a body without a
    /// `Content-Type`.
    MissingContentType,
    /// A JSON content type whose body does not parse.
    InvalidJson,
    /// No body where the documented response has content (a status other than 204/304,
    /// a method other than HEAD).
    MissingBody,
    /// The body breaks a schema keyword (`type`, `required`, `minimum`...).
    Schema { keyword: String },
    /// A required response header is missing.
    MissingHeader { name: String },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPath => f.write_str("path not documented"),
            Self::UnknownMethod => f.write_str("method not documented"),
            Self::UndocumentedStatus => f.write_str("status not documented"),
            Self::UndocumentedContentType => f.write_str("content type not documented"),
            Self::MissingContentType => f.write_str("no content type"),
            Self::InvalidJson => f.write_str("body is not JSON"),
            Self::MissingBody => f.write_str("no body"),
            Self::Schema { keyword } => write!(f, "schema `{keyword}`"),
            Self::MissingHeader { name } => write!(f, "required header {name} missing"),
        }
    }
}

/// One way a response differs from its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The operation (`operationId`), or `METHOD /path` of the request when none matched.
    pub operation: String,
    pub status: u16,
    /// The JSON pointer of the failing value in the body (empty for the status, headers
    /// and content type).
    pub pointer: String,
    pub rule: Rule,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}: {}", self.operation, self.status, self.rule)?;
        if !self.pointer.is_empty() {
            write!(f, " at {}", self.pointer)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A response that does not conform, with every violation found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Nonconformance {
    pub violations: Vec<Violation>,
}

impl fmt::Display for Nonconformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// The media range (`application/json`, `application/*`, `*/*`) that covers `essence`.
pub(crate) fn media_match<'a>(content: &'a [MediaType], essence: &str) -> Option<&'a MediaType> {
    let (ty, _) = essence.split_once('/').unwrap_or((essence, ""));
    content
        .iter()
        .find(|m| m.range.eq_ignore_ascii_case(essence))
        .or_else(|| {
            content.iter().find(|m| {
                m.range
                    .strip_suffix("/*")
                    .is_some_and(|t| t == "*" || t.eq_ignore_ascii_case(ty))
            })
        })
}

impl Document {
    /// Checks one response against the operation that answers `method` on `path` (a
    /// concrete path without query string). Ok gives the operation.
    pub fn check_response(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<&Operation, Nonconformance> {
        let operation = self.find(method, path).map_err(|e| {
            let (rule, message) = match e {
                RouteError::UnknownPath => (
                    Rule::UnknownPath,
                    format!("no path of {} matches {path}", self.origin()),
                ),
                RouteError::UnknownMethod => (
                    Rule::UnknownMethod,
                    format!("{path} is documented, {method} on it is not"),
                ),
            };
            Nonconformance {
                violations: vec![Violation {
                    operation: format!("{method} {path}"),
                    status,
                    pointer: String::new(),
                    rule,
                    message,
                }],
            }
        })?;
        match check_operation(operation, status, headers, body) {
            None => Ok(operation),
            Some(violations) => Err(Nonconformance { violations }),
        }
    }
}

impl Document {
    /// Checks one response against `operation` itself (no route to match: for a mock that
    /// knows which operation it answers).
    pub fn check_answer(
        &self,
        operation: &Operation,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Nonconformance> {
        match check_operation(operation, status, headers, body) {
            None => Ok(()),
            Some(violations) => Err(Nonconformance { violations }),
        }
    }
}

/// The violations of one response to `operation` (None: it conforms).
pub(crate) fn check_operation(
    operation: &Operation,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Vec<Violation>> {
    let violation = |pointer: String, rule: Rule, message: String| Violation {
        operation: operation.id.clone(),
        status,
        pointer,
        rule,
        message,
    };
    let Some(response) = operation.response(status) else {
        let documented: Vec<String> = operation
            .responses
            .iter()
            .map(|r| r.key.to_string())
            .collect();
        return Some(vec![violation(
            String::new(),
            Rule::UndocumentedStatus,
            format!("{} documents {}", operation.label(), documented.join(", ")),
        )]);
    };
    let mut out: Vec<Violation> = Vec::new();
    for name in &response.required_headers {
        if !headers.contains_key(name.as_str()) {
            out.push(violation(
                String::new(),
                Rule::MissingHeader { name: name.clone() },
                format!("response {} requires header {name}", response.key),
            ));
        }
    }
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if body.is_empty() {
        let may_be_empty = response.content.is_empty()
            || matches!(status, 204 | 304)
            || operation.method == Method::HEAD;
        if !may_be_empty {
            let documented: Vec<&str> = response.content.iter().map(|m| m.range.as_str()).collect();
            out.push(violation(
                String::new(),
                Rule::MissingBody,
                format!(
                    "response {} documents {}, the body is empty",
                    response.key,
                    documented.join(", ")
                ),
            ));
        }
        return (!out.is_empty()).then_some(out);
    }
    if response.content.is_empty() {
        out.push(violation(
            String::new(),
            Rule::UndocumentedContentType,
            format!(
                "response {} documents no body, got {} byte(s) of {}",
                response.key,
                body.len(),
                content_type.unwrap_or("no content type")
            ),
        ));
        return Some(out);
    }
    let Some(content_type) = content_type else {
        out.push(violation(
            String::new(),
            Rule::MissingContentType,
            format!("a {}-byte body without Content-Type", body.len()),
        ));
        return Some(out);
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some(media) = media_match(&response.content, essence) else {
        let documented: Vec<&str> = response.content.iter().map(|m| m.range.as_str()).collect();
        out.push(violation(
            String::new(),
            Rule::UndocumentedContentType,
            format!(
                "{essence} is not among the documented {}",
                documented.join(", ")
            ),
        ));
        return Some(out);
    };
    if let Some(validator) = media.validator.as_deref()
        && is_json(essence)
    {
        match serde_json::from_slice::<Value>(body) {
            Err(e) => out.push(violation(String::new(), Rule::InvalidJson, e.to_string())),
            Ok(value) => {
                if !validator.is_valid(&value) {
                    for error in validator.iter_errors(&value) {
                        out.push(violation(
                            error.instance_path().as_str().to_owned(),
                            Rule::Schema {
                                keyword: error.kind().keyword().to_owned(),
                            },
                            error.to_string(),
                        ));
                    }
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}
