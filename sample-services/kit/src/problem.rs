//! RFC 9457 problem bodies: every error a service answers is JSON that says what went
//! wrong and, for bad input, which field.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The JSON body of every error response (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A short, stable, machine-readable code, e.g. `validation`, `not_found`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A human-readable summary.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What exactly went wrong.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// For bad input: the path of the offending field, e.g. `items[0].quantity`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
    /// Seconds to wait before retrying (rate limits, open circuits).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with a status, a code and a title.
    pub fn new(status: StatusCode, kind: &str, title: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            title: title.into(),
            status: status.as_u16(),
            detail: None,
            field: None,
            retry_after: None,
        }
    }

    /// Adds a detail.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Names the offending field.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Sets `Retry-After` (and the body's `retry_after`).
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 422: a well-formed request whose field `field` breaks a rule.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "request failed validation",
        )
        .field(field)
        .detail(detail)
    }

    /// 400: a request that could not be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", "malformed request").detail(detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "resource not found").detail(detail)
    }

    /// 409.
    pub fn conflict(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, kind, "conflict").detail(detail)
    }

    /// 503: a dependency is not available right now.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "service temporarily unavailable",
        )
        .detail(detail)
    }

    /// 500: logged with its cause; the body does not leak internals.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A domain rule broken by a request field: what the services' parse functions return
/// and what becomes a 422 [`Problem`] naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The path of the request field, e.g. `items[1].quantity`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Invalid {
    /// A broken rule for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<Invalid> for Problem {
    fn from(e: Invalid) -> Self {
        Problem::invalid(e.field, e.message)
    }
}

/// The fallback for unknown routes: a JSON 404 rather than an empty body.
pub async fn route_not_found(uri: axum::http::Uri) -> Problem {
    Problem::not_found(format!("no route for {}", uri.path()))
}

/// Axum's `method_not_allowed_fallback`: JSON 405.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed",
    )
    .detail(format!("{method} is not allowed on {}", uri.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_type_and_field() {
        let p = Problem::invalid("items[0].quantity", "must be at least 1");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "validation");
        assert_eq!(v["status"], 422);
        assert_eq!(v["field"], "items[0].quantity");
        assert!(v.get("retry_after").is_none());
    }

    #[test]
    fn retry_after_sets_header() {
        let r = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down")
            .retry_after(3)
            .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
