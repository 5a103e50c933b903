//! Who may read and who may write: optional read and write credentials, each a bearer token
//! or a basic-auth user and password. Reads need either credential when a read credential is
//! configured; writes need the write credential when one is configured: none or wrong is 401
//! (with `WWW-Authenticate`), the read credential is 403. With a read credential only, writes
//! need it too. The health endpoints are open.
//!
//! Credentials are compared in constant time and never shown: [`Credential`]'s `Debug`
//! prints only its kind.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine;

/// A credential clients present.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Bearer(_) => "Bearer(***)",
            Credential::Basic { .. } => "Basic(***)",
        })
    }
}

impl Credential {
    /// `user:password` is basic auth, anything else a bearer token.
    pub fn parse(text: &str) -> Self {
        match text.split_once(':') {
            Some((username, password)) => Credential::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            },
            None => Credential::Bearer(text.to_owned()),
        }
    }

    fn matches(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        match self {
            Credential::Bearer(token) => {
                scheme.eq_ignore_ascii_case("bearer") && same(rest.as_bytes(), token.as_bytes())
            }
            Credential::Basic { username, password } => {
                if !scheme.eq_ignore_ascii_case("basic") {
                    return false;
                }
                let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                    return false;
                };
                same(&decoded, format!("{username}:{password}").as_bytes())
            }
        }
    }
}

/// Constant-time equality (the time does not tell how much of a guess was right).
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// The broker's credentials: none configured means open to all.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub read: Option<Credential>,
    pub write: Option<Credential>,
}

impl Auth {
    pub fn is_open(&self) -> bool {
        self.read.is_none() && self.write.is_none()
    }

    fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), StatusCode> {
        if path == "/health" || path.starts_with("/diagnostic/") {
            return Ok(());
        }
        let write = self.write.as_ref().is_some_and(|c| c.matches(headers));
        let read = self.read.as_ref().is_some_and(|c| c.matches(headers));
        let reading = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if reading {
            if self.read.is_none() || read || write {
                return Ok(());
            }
            return Err(StatusCode::UNAUTHORIZED);
        }
        match &self.write {
            // No write credential: writes need what reads need.
            None if self.read.is_none() || read => Ok(()),
            None => Err(StatusCode::UNAUTHORIZED),
            Some(_) if write => Ok(()),
            Some(_) if read => Err(StatusCode::FORBIDDEN),
            Some(_) => Err(StatusCode::UNAUTHORIZED),
        }
    }
}

/// The middleware that applies [`Auth`].
pub(crate) async fn require(
    State(auth): State<std::sync::Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    match auth.check(request.method(), request.uri().path(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(status) => {
            let text = if status == StatusCode::FORBIDDEN {
                "these credentials may read but not write: use the write credentials"
            } else {
                "credentials needed: send Authorization: Bearer <token> or basic auth"
            };
            let mut response = (
                status,
                axum::Json(serde_json::json!({"error": {"message": text}})),
            )
                .into_response();
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static(
                        "Bearer realm=\"harness broker\", Basic realm=\"harness broker\"",
                    ),
                );
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn writes_need_the_write_credential_and_reads_either() {
        let auth = Auth {
            read: Some(Credential::parse("reader-token")),
            write: Some(Credential::parse("ci:s3cret")),
        };
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ci:s3cret")
        );
        let post = Method::POST;
        assert_eq!(
            auth.check(&post, "/contracts/publish", &headers(None)),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            auth.check(
                &post,
                "/contracts/publish",
                &headers(Some("Bearer reader-token"))
            ),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            auth.check(&post, "/contracts/publish", &headers(Some("Bearer wrong"))),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            auth.check(&post, "/contracts/publish", &headers(Some(&basic))),
            Ok(())
        );
        assert_eq!(
            auth.check(&Method::GET, "/", &headers(None)),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            auth.check(&Method::GET, "/", &headers(Some("Bearer reader-token"))),
            Ok(())
        );
        assert_eq!(
            auth.check(&Method::GET, "/", &headers(Some(&basic))),
            Ok(())
        );
        assert_eq!(auth.check(&Method::GET, "/health", &headers(None)), Ok(()));
        assert_eq!(format!("{:?}", auth.write), "Some(Basic(***))");
    }

    #[test]
    fn with_a_write_credential_only_reads_are_open() {
        let auth = Auth {
            read: None,
            write: Some(Credential::parse("writer")),
        };
        assert_eq!(auth.check(&Method::GET, "/matrix", &headers(None)), Ok(()));
        assert_eq!(
            auth.check(&Method::PUT, "/pacticipants/x", &headers(None)),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert!(Auth::default().is_open());
        let read_only = Auth {
            read: Some(Credential::parse("reader")),
            write: None,
        };
        assert_eq!(
            read_only.check(&Method::POST, "/contracts/publish", &headers(None)),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            read_only.check(
                &Method::POST,
                "/contracts/publish",
                &headers(Some("Bearer reader"))
            ),
            Ok(())
        );
    }
}
