//! Bearer tokens: HS256 JWTs with claims `sub` (the client, which is the customer the
//! request acts for), `scope` (space-separated), `exp` (seconds since the epoch), `iss`
//! (who issued it) and `aud` (who it is for). A token is accepted only when its signature
//! verifies, it has not expired, and its `iss` and `aud` are the ones the gateway is set to.

use std::{fmt, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use service_kit::defects::{self, Defect};

use crate::config::JwtSettings;

/// The claims the `token` subcommand writes (and tests sign, to make bad tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub scope: String,
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aud: Option<String>,
}

/// What the gateway reads from a token once `jsonwebtoken` has checked the signature,
/// `exp`, `iss` and `aud` (`aud` may be a string or a list, so it is not read here).
#[derive(Deserialize)]
struct Identity {
    sub: String,
    #[serde(default)]
    scope: String,
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
    /// No `iss`, or not the issuer the gateway trusts.
    WrongIssuer,
    /// No `aud`, or not meant for this gateway.
    WrongAudience,
}

impl AuthFailure {
    /// The `reason` label of `gateway_auth_failures_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::BadSignature => "bad_signature",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
        }
    }

    /// A human-readable explanation for the problem body.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Missing => "send `Authorization: Bearer <token>`",
            Self::Malformed => {
                "the bearer token is not a valid HS256 JWT with `sub` (1-200 characters, no \
                 control characters), `exp`, `iss` and `aud`"
            }
            Self::Expired => "the bearer token has expired",
            Self::BadSignature => "the bearer token's signature does not verify",
            Self::WrongIssuer => "the bearer token's `iss` is missing or not the trusted issuer",
            Self::WrongAudience => "the bearer token's `aud` is missing or not this API",
        }
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

/// Verifies (and, for the `token` subcommand, signs) tokens with one HS256 secret, for one
/// issuer and audience.
#[derive(Clone)]
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator(HS256, <secret>)")
    }
}

impl Authenticator {
    /// An authenticator for the shared secret, the trusted issuer and this API's audience.
    /// (The secret's length is checked where it is read: [`JwtSettings::from_env`].)
    pub fn new(settings: &JwtSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Issuer and gateway share one clock in this system; an expired token is expired.
        validation.leeway = 0;
        // Planted defect `ignore-expiry`: `exp` must be there, but is not checked.
        validation.validate_exp = !defects::is_on(Defect::IgnoreExpiry);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        Self {
            decoding: DecodingKey::from_secret(settings.secret.as_bytes()),
            encoding: EncodingKey::from_secret(settings.secret.as_bytes()),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
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
        let data = jsonwebtoken::decode::<Identity>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                ErrorKind::InvalidSignature => AuthFailure::BadSignature,
                ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer,
                ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
                ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => {
                    AuthFailure::WrongIssuer
                }
                ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
                    AuthFailure::WrongAudience
                }
                _ => AuthFailure::Malformed,
            })?;
        let claims = data.claims;
        // The subject is the customer: it goes upstream in X-Customer-Id, so it must be one.
        let sub = service_kit::customer::validate(&claims.sub)
            .map_err(|_| AuthFailure::Malformed)?
            .to_owned();
        Ok(Client {
            scopes: claims
                .scope
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            sub,
        })
    }

    /// Signs a token for `sub` with `scope`, valid for `ttl` from now, with the
    /// authenticator's issuer and audience.
    pub fn issue(
        &self,
        sub: &str,
        scope: &str,
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let exp = jsonwebtoken::get_current_timestamp().saturating_add(ttl.as_secs());
        self.sign(&self.claims(sub, scope, exp))
    }

    /// The claims [`Authenticator::issue`] signs, with `exp` as given (tests change them to
    /// make bad tokens).
    pub fn claims(&self, sub: &str, scope: &str, exp: u64) -> Claims {
        Claims {
            sub: sub.to_owned(),
            scope: scope.split_ascii_whitespace().collect::<Vec<_>>().join(" "),
            exp,
            iss: Some(self.issuer.clone()),
            aud: Some(self.audience.clone()),
        }
    }

    /// Signs arbitrary claims (tests use it for expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(secret: &str) -> JwtSettings {
        JwtSettings {
            secret: secret.to_owned(),
            issuer: "test-issuer".to_owned(),
            audience: "test-api".to_owned(),
        }
    }

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    #[test]
    fn a_signed_token_authenticates_with_its_scopes() {
        let auth = Authenticator::new(&settings("k"));
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
        let auth = Authenticator::new(&settings("k"));
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

        let other = Authenticator::new(&settings("other-key"))
            .issue("alice", "a", Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&other))),
            Err(AuthFailure::BadSignature)
        );

        let now = jsonwebtoken::get_current_timestamp();
        let expired = auth.sign(&auth.claims("alice", "a", now - 5)).unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&expired))),
            Err(AuthFailure::Expired)
        );

        for sub in [" ", "a\u{0}b", "line\nbreak", &"x".repeat(201)] {
            let token = auth.sign(&auth.claims(sub, "a", now + 60)).unwrap();
            assert_eq!(
                auth.authenticate(Some(&bearer(&token))),
                Err(AuthFailure::Malformed),
                "sub {sub:?}"
            );
        }

        // An HS384 token signed with the right secret is still refused: HS256 only.
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &auth.claims("alice", "a", now + 60),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&hs384))),
            Err(AuthFailure::Malformed)
        );
    }

    #[test]
    fn issuer_and_audience_are_required_and_checked() {
        let auth = Authenticator::new(&settings("k"));
        let now = jsonwebtoken::get_current_timestamp();
        let with = |change: &dyn Fn(&mut Claims)| {
            let mut claims = auth.claims("alice", "a", now + 60);
            change(&mut claims);
            let token = auth.sign(&claims).unwrap();
            auth.authenticate(Some(&bearer(&token)))
        };
        assert!(with(&|_| {}).is_ok());
        assert_eq!(
            with(&|c| c.iss = Some("someone-else".into())),
            Err(AuthFailure::WrongIssuer)
        );
        assert_eq!(with(&|c| c.iss = None), Err(AuthFailure::WrongIssuer));
        assert_eq!(
            with(&|c| c.aud = Some("another-api".into())),
            Err(AuthFailure::WrongAudience)
        );
        assert_eq!(with(&|c| c.aud = None), Err(AuthFailure::WrongAudience));

        // Another gateway's tokens (same secret, other issuer and audience) do not pass.
        let elsewhere = Authenticator::new(&JwtSettings {
            issuer: "elsewhere".into(),
            audience: "elsewhere-api".into(),
            ..settings("k")
        })
        .issue("alice", "a", Duration::from_secs(60))
        .unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&elsewhere))),
            Err(AuthFailure::WrongIssuer)
        );

        // An audience list that includes this API is fine (RFC 7519 §4.1.3).
        #[derive(Serialize)]
        struct ListAud<'a> {
            sub: &'a str,
            exp: u64,
            iss: &'a str,
            aud: [&'a str; 2],
        }
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &ListAud {
                sub: "alice",
                exp: now + 60,
                iss: "test-issuer",
                aud: ["other", "test-api"],
            },
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&token))).unwrap().sub,
            "alice"
        );
    }
}
