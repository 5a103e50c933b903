//! Extractors that turn bad input into a 4xx [`Problem`] naming the field, instead of
//! axum's plain-text rejections.
//!
//! [`Json`] reads the body with `serde_path_to_error`, so a wrong type deep inside a
//! request reports its path (`items[1].quantity`). [`Path`] and [`Query`] wrap axum's
//! extractors and convert their rejections.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use crate::Problem;

/// A JSON body; rejections are [`Problem`]s naming the offending field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let mime = ct.split(';').next().unwrap_or("").trim();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a JSON body",
            )
            .detail("set `Content-Type: application/json`"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::bad_request(format!("could not read the body: {e}")))?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses JSON bytes, reporting the path of the first field that does not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let syntax = inner.is_syntax() || inner.is_eof();
        if syntax {
            Problem::bad_request(format!("body is not valid JSON: {inner}"))
        } else {
            let field = if path == "." {
                String::from("body")
            } else {
                path
            };
            Problem::invalid(field, inner.to_string())
        }
    })
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; a parameter that does not parse is a 400 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rejection) => {
                use axum::extract::rejection::PathRejection;
                let problem = match &rejection {
                    PathRejection::FailedToDeserializePathParams(inner) => {
                        let kind = inner.kind();
                        let field = match kind {
                            axum::extract::path::ErrorKind::ParseErrorAtKey { key, .. }
                            | axum::extract::path::ErrorKind::InvalidUtf8InPathParam { key } => {
                                key.clone()
                            }
                            _ => "path".to_owned(),
                        };
                        Problem::new(
                            axum::http::StatusCode::BAD_REQUEST,
                            "validation",
                            "invalid path parameter",
                        )
                        .field(field)
                        .detail(inner.body_text())
                    }
                    other => Problem::bad_request(other.body_text()),
                };
                Err(problem)
            }
        }
    }
}

/// Query parameters; a bad one is a 400 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded_deserializer(query);
        match de {
            Ok(v) => Ok(Query(v)),
            Err((field, detail)) => Err(Problem::new(
                axum::http::StatusCode::BAD_REQUEST,
                "validation",
                "invalid query parameter",
            )
            .field(field)
            .detail(detail)),
        }
    }
}

fn serde_urlencoded_deserializer<T: DeserializeOwned>(query: &str) -> Result<T, (String, String)> {
    // axum's Query already depends on serde_urlencoded; going through its extractor gives a
    // message such as "Failed to deserialize query string: customer: invalid type ...".
    // We parse pairs into a JSON object of strings, then deserialize with a path so the
    // field is named precisely. Values stay strings; numeric fields use `serde_with`-free
    // parsing through `from_str` below.
    let mut map = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k);
        let v = percent_decode(v);
        map.insert(k, serde_json::Value::String(v));
    }
    let value = serde_json::Value::Object(map);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        (
            if path == "." {
                "query".to_owned()
            } else {
                path
            },
            err.into_inner().to_string(),
        )
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Deserializes a number that arrives as a string (query parameters), for
/// `#[serde(deserialize_with = "service_kit::extract::from_str")]`.
pub fn from_str<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let s = <String as serde::Deserialize>::deserialize(deserializer)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// Like [`from_str`] for an optional value.
pub fn opt_from_str<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let s = <Option<String> as serde::Deserialize>::deserialize(deserializer)?;
    s.map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        sku: String,
        quantity: u32,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Item>,
    }

    #[test]
    fn names_nested_field() {
        let err = parse_json::<Order>(
            br#"{"items":[{"sku":"a","quantity":1},{"sku":"b","quantity":"x"}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.status, 422);
        assert_eq!(err.field.as_deref(), Some("items[1].quantity"));
    }

    #[test]
    fn missing_field_is_422_and_syntax_is_400() {
        let err = parse_json::<Order>(br#"{}"#).unwrap_err();
        assert_eq!(err.status, 422);
        assert!(err.detail.unwrap().contains("items"));
        let err = parse_json::<Order>(br#"{"items": ["#).unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[derive(Debug, Deserialize)]
    struct Q {
        customer: String,
        #[serde(default, deserialize_with = "opt_from_str")]
        limit: Option<u32>,
    }

    #[test]
    fn query_decodes_and_names_field() {
        let q: Q = serde_urlencoded_deserializer("customer=a%20b+c&limit=5").unwrap();
        assert_eq!(q.customer, "a b c");
        assert_eq!(q.limit, Some(5));
        let (field, _) = serde_urlencoded_deserializer::<Q>("customer=x&limit=ten").unwrap_err();
        assert_eq!(field, "limit");
        let (_, detail) = serde_urlencoded_deserializer::<Q>("").unwrap_err();
        assert!(detail.contains("customer"), "{detail}");
    }
}
