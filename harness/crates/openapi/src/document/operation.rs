//! The operations of a document as the checks read them: method and path template,
//! parameters (where they go, their schemas and examples), the request body and the
//! documented responses by [`StatusKey`] (exact codes, then ranges, then `default`), and the
//! security requirements. Every schema comes with its compiled validator.

use std::{fmt, sync::Arc};

use http::Method;
use jsonschema::Validator;
use serde_json::Value;

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

/// One parameter of an operation.
#[derive(Clone)]
pub struct Parameter {
    pub name: String,
    pub location: Location,
    pub required: bool,
    /// The schema (2020-12 dialect; `$ref`s point into [`Document::root`](crate::Document::root)).
    pub schema: Value,
    /// The parameter's own examples (`example`, then every `examples` value), else its
    /// schema's.
    pub examples: Vec<Value>,
    pub(crate) validator: Arc<Validator>,
}

impl fmt::Debug for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parameter")
            .field("name", &self.name)
            .field("location", &self.location)
            .field("required", &self.required)
            .finish()
    }
}

impl Parameter {
    /// Whether `value` is valid for this parameter.
    pub fn accepts(&self, value: &Value) -> bool {
        self.validator.is_valid(value)
    }
}

/// One media type of a body.
#[derive(Clone)]
pub struct MediaType {
    /// The media range as documented, lowercased (`application/json`, `*/*`).
    pub range: String,
    pub schema: Option<Value>,
    /// `example`, then every value of `examples`.
    pub examples: Vec<Value>,
    pub(crate) validator: Option<Arc<Validator>>,
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaType")
            .field("range", &self.range)
            .finish()
    }
}

impl MediaType {
    /// Whether the media type is JSON (`application/json` or `+json`).
    pub fn is_json(&self) -> bool {
        is_json(&self.range)
    }

    /// Whether `body` is valid against the schema (true without a schema).
    pub fn accepts(&self, body: &Value) -> bool {
        self.validator.as_ref().is_none_or(|v| v.is_valid(body))
    }
}

/// The request body of an operation.
#[derive(Debug, Clone)]
pub struct RequestBody {
    pub required: bool,
    pub content: Vec<MediaType>,
}

impl RequestBody {
    /// The JSON media type, if any (the one the verifier sends).
    pub fn json(&self) -> Option<&MediaType> {
        self.content.iter().find(|m| m.is_json())
    }
}

/// The status codes a response documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusKey {
    Code(u16),
    /// `4XX`: the first digit.
    Range(u8),
    Default,
}

impl StatusKey {
    pub(super) fn parse(key: &str) -> Option<Self> {
        if key == "default" {
            return Some(Self::Default);
        }
        let b = key.as_bytes();
        if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].eq_ignore_ascii_case(b"xx") {
            return Some(Self::Range(b[0] - b'0'));
        }
        key.parse::<u16>()
            .ok()
            .filter(|c| (100..600).contains(c))
            .map(Self::Code)
    }

    /// Whether a response with `status` is documented by this key.
    pub fn covers(self, status: u16) -> bool {
        match self {
            Self::Code(c) => c == status,
            Self::Range(d) => status / 100 == u16::from(d),
            Self::Default => true,
        }
    }
}

impl fmt::Display for StatusKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(c) => write!(f, "{c}"),
            Self::Range(d) => write!(f, "{d}XX"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// One documented response of an operation.
#[derive(Debug, Clone)]
pub struct Response {
    pub key: StatusKey,
    pub content: Vec<MediaType>,
    /// Header names (lowercased) the response must carry.
    pub required_headers: Vec<String>,
}

/// One operation: a method on a path.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `operationId`, or `METHOD /path`.
    pub id: String,
    pub method: Method,
    /// The path template, e.g. `/orders/{id}`.
    pub path: String,
    pub parameters: Vec<Parameter>,
    pub body: Option<RequestBody>,
    /// Sorted: exact codes first, then ranges, then `default`.
    pub responses: Vec<Response>,
    /// The security requirements: any one of them must be met (each names schemes that
    /// must all be met). Empty: the operation is public. A requirement with no scheme
    /// (`{}`) makes credentials optional.
    pub security: Vec<Vec<String>>,
}

impl Operation {
    /// Whether the operation needs credentials.
    pub fn is_protected(&self) -> bool {
        !self.security.is_empty() && self.security.iter().all(|r| !r.is_empty())
    }

    /// The documented response for `status`: an exact code, else its range, else `default`.
    pub fn response(&self, status: u16) -> Option<&Response> {
        // `responses` is sorted exact < range < default, so the first match is the best.
        self.responses.iter().find(|r| r.key.covers(status))
    }

    /// Whether the document says this operation can answer `status`.
    pub fn documents(&self, status: u16) -> bool {
        self.response(status).is_some()
    }

    /// `GET /orders/{id}`.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub(crate) fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .get(essence.len().saturating_sub(5)..)
            .is_some_and(|s| s.eq_ignore_ascii_case("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keys() {
        assert_eq!(StatusKey::parse("404"), Some(StatusKey::Code(404)));
        assert_eq!(StatusKey::parse("4XX"), Some(StatusKey::Range(4)));
        assert_eq!(StatusKey::parse("default"), Some(StatusKey::Default));
        assert_eq!(StatusKey::parse("99"), None);
        assert!(StatusKey::Range(5).covers(503));
        assert!(!StatusKey::Code(200).covers(201));
    }

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/plain"));
    }
}
