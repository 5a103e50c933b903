//! Sending: a request's values built into an HTTP request (parameters written where they go,
//! the configured headers and credentials added), sent on a plain HTTP/1.1 client with a
//! timeout, a `429` waited out (its `Retry-After`, at most 10 s, up to 5 times), and the
//! exchange recorded as the report's [`HttpRequest`] and [`HttpResponse`] (sensitive headers
//! redacted, bodies cut at 4 KiB).

use std::time::Duration;

use bytes::Bytes;
use harness_core::openapi::{HttpRequest, HttpResponse};
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use http_body_util::{BodyExt, Full};

use super::values::{Body, Values, scalar_text};
use crate::document::{Location, Operation};

/// A request ready to send.
#[derive(Debug, Clone)]
pub(super) struct Built {
    pub(super) method: Method,
    pub(super) url: reqwest::Url,
    pub(super) headers: HeaderMap,
    pub(super) body: Option<Vec<u8>>,
}

/// The request `v` makes of `op` on the service at `base_url`, with `extra_headers` (sent
/// with every request) and the `credentials` unless the values are anonymous.
pub(super) fn build(
    op: &Operation,
    base_url: &reqwest::Url,
    extra_headers: &[(HeaderName, HeaderValue)],
    credentials: &[(HeaderName, HeaderValue)],
    v: &Values,
) -> Built {
    let mut path = op.path.clone();
    let mut url = base_url.clone();
    let mut headers = HeaderMap::new();
    let mut query: Vec<(String, String)> = Vec::new();
    for (p, value) in op.parameters.iter().zip(&v.params) {
        let Some(value) = value else { continue };
        match p.location {
            Location::Path => {
                let text = scalar_text(value);
                let encoded: String = form_urlencoded::byte_serialize(text.as_bytes())
                    .collect::<String>()
                    .replace('+', "%20");
                path = path.replace(&format!("{{{}}}", p.name), &encoded);
            }
            Location::Query => match value {
                serde_json::Value::Array(items) => {
                    for item in items {
                        query.push((p.name.clone(), scalar_text(item)));
                    }
                }
                other => query.push((p.name.clone(), scalar_text(other))),
            },
            Location::Header => {
                if let (Ok(n), Ok(val)) = (
                    HeaderName::try_from(p.name.as_str()),
                    HeaderValue::try_from(scalar_text(value)),
                ) {
                    headers.insert(n, val);
                }
            }
            Location::Cookie => {
                let c = format!("{}={}", p.name, scalar_text(value));
                if let Ok(val) = HeaderValue::try_from(c) {
                    headers.append(header::COOKIE, val);
                }
            }
        }
    }
    let joined = format!("{}{}", url.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter());
    }
    for (n, val) in extra_headers {
        headers.insert(n.clone(), val.clone());
    }
    if !v.anonymous {
        for (n, val) in credentials {
            headers.insert(n.clone(), val.clone());
        }
    }
    let body = match &v.body {
        Some(Body::Json(value)) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Some(serde_json::to_vec(value).unwrap_or_default())
        }
        Some(Body::Raw {
            content_type,
            bytes,
        }) => {
            if let Ok(ct) = HeaderValue::try_from(content_type.as_str()) {
                headers.insert(header::CONTENT_TYPE, ct);
            }
            Some(bytes.clone())
        }
        None => None,
    };
    Built {
        method: op.method.clone(),
        url,
        headers,
        body,
    }
}

pub(super) type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

/// The verifier's client: plain HTTP/1.1 on hyper directly, as the stack's readiness probes
/// (reqwest's TLS backend needs a crypto provider whenever Pact is in the same build).
/// Redirects are not followed: a 3xx is checked like any status.
pub(super) fn http_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// Sends on `handle`'s runtime, waiting out 429s (`rate_limited` is called for each one
/// waited out). Err: what went wrong, and whether the connection was refused.
pub(super) fn send(
    client: &HttpClient,
    handle: &tokio::runtime::Handle,
    timeout: Duration,
    b: &Built,
    rate_limited: impl Fn(),
) -> Result<(u16, HeaderMap, Vec<u8>), (String, bool)> {
    handle.block_on(async {
        let mut retries = 0;
        loop {
            let mut request =
                http::Request::new(Full::new(Bytes::from(b.body.clone().unwrap_or_default())));
            *request.method_mut() = b.method.clone();
            *request.uri_mut() = b
                .url
                .as_str()
                .parse()
                .map_err(|e| (format!("{}: {e}", b.url), false))?;
            *request.headers_mut() = b.headers.clone();
            let exchange = async {
                let response = client.request(request).await.map_err(|e| {
                    let refused = e.is_connect() && chain(&e).contains("Connection refused");
                    (chain(&e), refused)
                })?;
                let (parts, body) = response.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|e| (format!("reading the body: {}", chain(&e)), false))?
                    .to_bytes();
                Ok::<_, (String, bool)>((parts.status.as_u16(), parts.headers, body.to_vec()))
            };
            let (status, headers, body) =
                tokio::time::timeout(timeout, exchange)
                    .await
                    .map_err(|_| {
                        (
                            format!(
                                "no answer within {}s (the request timeout)",
                                timeout.as_secs_f64()
                            ),
                            false,
                        )
                    })??;
            if status == 429 && retries < 5 {
                retries += 1;
                rate_limited();
                let wait = headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map_or(Duration::from_secs(1), |s| {
                        Duration::from_secs_f64(s.clamp(0.05, 10.0))
                    });
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok((status, headers, body));
        }
    })
}

/// An error with its sources, `: `-joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

const BODY_LIMIT: usize = 4096;

fn lossy(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(BODY_LIMIT)]).into_owned();
    if bytes.len() > BODY_LIMIT {
        format!("{text}... ({} bytes)", bytes.len())
    } else {
        text
    }
}

fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| {
            let value = if v.is_sensitive() {
                "<redacted>".to_owned()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (n.to_string(), value)
        })
        .collect()
}

/// The request as the report shows it.
pub(super) fn record_request(b: &Built) -> HttpRequest {
    HttpRequest {
        method: b.method.to_string(),
        url: b.url.to_string(),
        headers: header_pairs(&b.headers),
        body: b.body.as_deref().map(lossy),
    }
}

/// The response as the report shows it.
pub(super) fn record_response(status: u16, headers: &HeaderMap, body: &[u8]) -> HttpResponse {
    HttpResponse {
        status,
        headers: header_pairs(headers),
        body: lossy(body),
    }
}
