//! Bearer tokens: HS256 JWTs with claims `sub` (the client), `scope` (space-separated)
//! and `exp` (seconds since the epoch).

use std::{fmt, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

/// The claims the gateway reads and the `token` subcommand writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub scope: String,
    pub exp: u64,
}

impl Claims {
    /// Whether the space-separated `scope` claim contains `needed`.
    pub fn has_scope(&self, needed: &str) -> bool {
        self.scope.split_ascii_whitespace().any(|s| s == needed)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub sub: String,
    pub scopes: Vec<String>,
}

impl Client {
    /// Whether the caller was granted `needed`.
    pub fn has_scope(&self, needed: &str) -> bool {
        self.scopes.iter().any(|s| s == needed)
    }
}

/// Why a request is not authenticated (each becomes a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Not `Bearer <token>`, or not a readable HS256 JWT with the required claims.
    Malformed,
    /// `exp` is in the past.
    Expired,
    /// Signed with another key.
    BadSignature,
}

impl AuthFailure {
    /// The `reason` label of `gateway_auth_failures_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::BadSignature => "bad_signature",
        }
    }

    /// A human-readable explanation for the problem body.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Missing => "send `Authorization: Bearer <token>`",
            Self::Malformed => "the bearer token is not a valid HS256 JWT with `sub` and `exp`",
            Self::Expired => "the bearer token has expired",
            Self::BadSignature => "the bearer token's signature does not verify",
        }
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

/// Verifies (and, for the `token` subcommand, signs) tokens with one HS256 secret.
#[derive(Clone)]
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator(HS256, <secret>)")
    }
}

impl Authenticator {
    /// An authenticator for the shared secret.
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Issuer and gateway share one clock in this system; an expired token is expired.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Reads the caller from an `Authorization` header value (`None` when absent).
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Client, AuthFailure> {
        let raw = authorization.ok_or(AuthFailure::Missing)?;
        let raw = std::str::from_utf8(raw).map_err(|_| AuthFailure::Malformed)?;
        let raw = raw.trim();
        let (scheme, token) = raw.split_once(' ').unwrap_or((raw, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthFailure::Malformed);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthFailure::Missing);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                ErrorKind::InvalidSignature => AuthFailure::BadSignature,
                _ => AuthFailure::Malformed,
            })?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthFailure::Malformed);
        }
        Ok(Client {
            scopes: claims
                .scope
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            sub: claims.sub,
        })
    }

    /// Signs a token for `sub` with `scope`, valid for `ttl` from now.
    pub fn issue(
        &self,
        sub: &str,
        scope: &str,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let exp = jsonwebtoken::get_current_timestamp().saturating_add(ttl.as_secs());
        self.sign(&Claims {
            sub: sub.to_owned(),
            scope: scope.split_ascii_whitespace().collect::<Vec<_>>().join(" "),
            exp,
        })
    }

    /// Signs arbitrary claims (tests use it for expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    #[test]
    fn a_signed_token_authenticates_with_its_scopes() {
        let auth = Authenticator::new("k");
        let token = auth
            .issue(
                "alice",
                " orders:read  catalog:read ",
                Duration::from_secs(60),
            )
            .unwrap();
        let client = auth.authenticate(Some(&bearer(&token))).unwrap();
        assert_eq!(client.sub, "alice");
        assert!(client.has_scope("orders:read"));
        assert!(client.has_scope("catalog:read"));
        assert!(!client.has_scope("orders:write"));
        assert!(!client.has_scope("orders"));
    }

    #[test]
    fn failures_are_classified() {
        let auth = Authenticator::new("k");
        assert_eq!(auth.authenticate(None), Err(AuthFailure::Missing));
        assert_eq!(
            auth.authenticate(Some(b"Bearer ")),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            auth.authenticate(Some(b"Basic dXNlcjpwdw==")),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            auth.authenticate(Some(&bearer("not.a.jwt"))),
            Err(AuthFailure::Malformed)
        );

        let other = Authenticator::new("other-key")
            .issue("alice", "a", Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&other))),
            Err(AuthFailure::BadSignature)
        );

        let now = jsonwebtoken::get_current_timestamp();
        let expired = auth
            .sign(&Claims {
                sub: "alice".into(),
                scope: "a".into(),
                exp: now - 5,
            })
            .unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&expired))),
            Err(AuthFailure::Expired)
        );

        let no_sub = auth
            .sign(&Claims {
                sub: " ".into(),
                scope: "a".into(),
                exp: now + 60,
            })
            .unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&no_sub))),
            Err(AuthFailure::Malformed)
        );

        // An HS384 token signed with the right secret is still refused: HS256 only.
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &Claims {
                sub: "alice".into(),
                scope: "a".into(),
                exp: now + 60,
            },
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&hs384))),
            Err(AuthFailure::Malformed)
        );
    }
}
