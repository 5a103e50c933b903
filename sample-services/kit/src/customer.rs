//! Who the caller is, between the gateway and the services behind it.
//!
//! The gateway authenticates the bearer token and sends its subject (`sub`) to orders and
//! shipping in [`CUSTOMER_HEADER`] (`X-Customer-Id`), a header only the gateway sets: it
//! never forwards a client's. Orders and shipping read it with the [`Customer`] extractor
//! on their customer routes: a request without it is a 401 problem, a value that cannot be
//! a customer id a 400 naming the header. What a customer may see is then decided by the
//! service (its own orders and shipments only; another customer's is a 404).
//!
//! [`validate`] is the one rule for a customer id (the gateway applies it to `sub`), and
//! [`add_security_scheme`] documents the header in a service's OpenAPI document as an
//! API-key scheme named [`SECURITY_SCHEME`], so checks that call a service directly know to
//! send it.

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
};
use utoipa::openapi::{
    OpenApi,
    security::{ApiKey, ApiKeyValue, SecurityScheme},
};

use crate::Problem;

/// The header that carries the caller's customer id (lower case, as `http` spells names).
pub const CUSTOMER_HEADER: &str = "x-customer-id";

/// The name of the security scheme that documents [`CUSTOMER_HEADER`].
pub const SECURITY_SCHEME: &str = "customer";

/// Longest customer id accepted, in characters.
pub const MAX_CUSTOMER_ID_LEN: usize = 200;

/// Checks a customer id: not blank, at most [`MAX_CUSTOMER_ID_LEN`] characters, no
/// control characters. Returns it trimmed; the error says which rule it breaks.
pub fn validate(raw: &str) -> Result<&str, &'static str> {
    let id = raw.trim();
    if id.is_empty() {
        return Err("must not be blank");
    }
    if id.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    if id.chars().count() > MAX_CUSTOMER_ID_LEN {
        return Err("must be at most 200 characters");
    }
    Ok(id)
}

/// The caller of a customer route, from [`CUSTOMER_HEADER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer(pub String);

impl Customer {
    /// The customer id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads the header value: `Ok(None)` when absent or blank.
    pub fn from_header(value: Option<&[u8]>) -> Result<Option<Self>, Problem> {
        let Some(bytes) = value else {
            return Ok(None);
        };
        let text =
            std::str::from_utf8(bytes).map_err(|_| invalid_header("is not UTF-8".to_owned()))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        validate(text)
            .map(|id| Some(Self(id.to_owned())))
            .map_err(|rule| invalid_header(rule.to_owned()))
    }
}

/// 401: the request does not say which customer it is for.
pub fn missing() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "customer required",
    )
    .detail(
        "send X-Customer-Id: this route serves one customer's data; the gateway sets the \
         header to the bearer token's subject",
    )
}

fn invalid_header(rule: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "validation", "invalid header")
        .field("X-Customer-Id")
        .detail(format!("X-Customer-Id {rule}"))
}

impl<S: Send + Sync> FromRequestParts<S> for Customer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(CUSTOMER_HEADER)
            .map(axum::http::HeaderValue::as_bytes);
        Self::from_header(value)?.ok_or_else(missing)
    }
}

/// Adds the [`SECURITY_SCHEME`] (an API key in [`CUSTOMER_HEADER`]) to `doc`'s components.
/// Operations name it with `security(("customer" = []))`.
pub fn add_security_scheme(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        SECURITY_SCHEME.to_owned(),
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Customer-Id",
            "The caller's customer id, set by the gateway to the bearer token's subject \
             (never taken from the client). Required on customer routes: without it 401; \
             another customer's resources are 404.",
        ))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_customer_ids() {
        assert_eq!(validate(" alice "), Ok("alice"));
        assert_eq!(validate("Zoë"), Ok("Zoë"));
        assert!(validate("  ").is_err());
        assert!(validate("a\u{0}b").is_err());
        assert!(validate("a\nb").is_err());
        assert!(validate(&"x".repeat(MAX_CUSTOMER_ID_LEN)).is_ok());
        assert!(validate(&"x".repeat(MAX_CUSTOMER_ID_LEN + 1)).is_err());
    }

    #[test]
    fn reads_the_header() {
        assert_eq!(Customer::from_header(None).unwrap(), None);
        assert_eq!(Customer::from_header(Some(b" ")).unwrap(), None);
        assert_eq!(
            Customer::from_header(Some("alice".as_bytes())).unwrap(),
            Some(Customer("alice".into()))
        );
        assert_eq!(
            Customer::from_header(Some("Zoë".as_bytes())).unwrap(),
            Some(Customer("Zoë".into()))
        );
        let bad = Customer::from_header(Some(b"\xff\xfe")).unwrap_err();
        assert_eq!(bad.status, 400);
        assert_eq!(bad.field.as_deref(), Some("X-Customer-Id"));
        let bad = Customer::from_header(Some(b"a\x01b")).unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("X-Customer-Id"));
        assert_eq!(missing().status, 401);
    }

    #[test]
    fn documents_the_header_as_an_api_key() {
        let mut doc = OpenApi::default();
        add_security_scheme(&mut doc);
        let json = serde_json::to_value(&doc).unwrap();
        let scheme = &json["components"]["securitySchemes"][SECURITY_SCHEME];
        assert_eq!(scheme["type"], "apiKey");
        assert_eq!(scheme["in"], "header");
        assert_eq!(scheme["name"], "X-Customer-Id");
    }
}
