//! Settings from the environment, with the defaults documented in
//! `docs/sample-services.md` (gateway section).
//!
//! There is no default signing secret: `JWT_SECRET` must be set, at least
//! [`MIN_JWT_SECRET_BYTES`] bytes, or the gateway (and `gateway token`) refuses to start.

use std::{num::NonZeroU32, time::Duration};

use service_kit::{ConfigError, Env};

/// The shortest `JWT_SECRET` accepted: an HS256 key should be as long as the hash (RFC 7518
/// §3.2 asks for a key of at least 256 bits).
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// The `iss` claim tokens must carry when `JWT_ISSUER` is not set.
pub const DEFAULT_JWT_ISSUER: &str = "harness-sample";
/// The `aud` claim tokens must carry when `JWT_AUDIENCE` is not set.
pub const DEFAULT_JWT_AUDIENCE: &str = "harness-sample-api";

/// Everything the gateway reads at start-up.
#[derive(Clone)]
pub struct Config {
    pub port: u16,
    pub jwt: JwtSettings,
    pub upstreams: UpstreamUrls,
    pub upstream_timeout: Duration,
    pub rate_limit_per_second: NonZeroU32,
    pub rate_limit_burst: NonZeroU32,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("jwt", &self.jwt)
            .field("upstreams", &self.upstreams)
            .field("upstream_timeout", &self.upstream_timeout)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .finish()
    }
}

/// How tokens are signed and what they must say: the HS256 secret, the issuer (`iss`) and
/// the audience (`aud`).
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSettings {
    pub secret: String,
    pub issuer: String,
    pub audience: String,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl JwtSettings {
    /// `JWT_SECRET` (required, at least [`MIN_JWT_SECRET_BYTES`] bytes), `JWT_ISSUER` and
    /// `JWT_AUDIENCE` (defaults [`DEFAULT_JWT_ISSUER`], [`DEFAULT_JWT_AUDIENCE`]). The
    /// `token` subcommand reads them with the same rules.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let secret = env.required(
            "JWT_SECRET",
            "the HS256 secret tokens are signed with, at least 32 bytes; there is no default",
        )?;
        if secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET".to_owned(),
                // Never echo a secret, not even a weak one.
                value: format!("<{} bytes>", secret.len()),
                reason: format!(
                    "too short: {} bytes, an HS256 secret needs at least {MIN_JWT_SECRET_BYTES}",
                    secret.len()
                ),
                expected: "a secret of at least 32 bytes",
            });
        }
        Ok(Self {
            secret,
            issuer: claim_value(env, "JWT_ISSUER", DEFAULT_JWT_ISSUER),
            audience: claim_value(env, "JWT_AUDIENCE", DEFAULT_JWT_AUDIENCE),
        })
    }
}

/// An `iss` or `aud` value (a blank one counts as unset, as for every variable).
fn claim_value(env: &Env, name: &str, default: &str) -> String {
    env.string(name, default).trim().to_owned()
}

/// Base URLs of the services behind the gateway (no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrls {
    pub orders: String,
    pub inventory: String,
    pub shipping: String,
}

impl Config {
    /// Reads the settings; a bad value is an error naming the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            port: env.port(8080)?,
            jwt: JwtSettings::from_env(env)?,
            upstreams: UpstreamUrls {
                orders: base_url(env, "ORDERS_URL", "http://127.0.0.1:8081")?,
                inventory: base_url(env, "INVENTORY_URL", "http://127.0.0.1:8083")?,
                shipping: base_url(env, "SHIPPING_URL", "http://127.0.0.1:8084")?,
            },
            upstream_timeout: positive_millis(env, "UPSTREAM_TIMEOUT_MS", 5000)?,
            rate_limit_per_second: env.parse(
                "RATE_LIMIT_PER_SECOND",
                NonZeroU32::new(50).expect("50 is not zero"),
                "a whole number of requests per second, at least 1",
            )?,
            rate_limit_burst: env.parse(
                "RATE_LIMIT_BURST",
                NonZeroU32::new(100).expect("100 is not zero"),
                "a whole number of requests, at least 1",
            )?,
        })
    }
}

fn positive_millis(env: &Env, name: &str, default_ms: u64) -> Result<Duration, ConfigError> {
    let d = env.millis(name, default_ms)?;
    if d.is_zero() {
        return Err(ConfigError::Invalid {
            name: name.to_owned(),
            value: "0".to_owned(),
            reason: "a zero timeout would fail every request".to_owned(),
            expected: "a whole number of milliseconds, at least 1",
        });
    }
    Ok(d)
}

fn base_url(env: &Env, name: &str, default: &str) -> Result<String, ConfigError> {
    let value = env.string(name, default);
    let invalid = |reason: String| ConfigError::Invalid {
        name: name.to_owned(),
        value: value.clone(),
        reason,
        expected: "an http:// URL such as http://127.0.0.1:8081",
    };
    let url = reqwest::Url::parse(value.trim()).map_err(|e| invalid(e.to_string()))?;
    if url.scheme() != "http" {
        // reqwest is built without TLS in this workspace.
        return Err(invalid(format!(
            "scheme {:?} is not supported",
            url.scheme()
        )));
    }
    if url.host_str().is_none() {
        return Err(invalid("no host".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL takes no query or fragment".to_owned()));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-test-secret-of-at-least-32-bytes!";

    #[test]
    fn defaults_match_the_contract() {
        let cfg = Config::from_env(&Env::from_pairs([("JWT_SECRET", SECRET)])).unwrap();
        assert_eq!(cfg.port, 8080);
        assert_eq!(cfg.jwt.secret, SECRET);
        assert_eq!(cfg.jwt.issuer, "harness-sample");
        assert_eq!(cfg.jwt.audience, "harness-sample-api");
        assert_eq!(cfg.upstreams.orders, "http://127.0.0.1:8081");
        assert_eq!(cfg.upstreams.inventory, "http://127.0.0.1:8083");
        assert_eq!(cfg.upstreams.shipping, "http://127.0.0.1:8084");
        assert_eq!(cfg.upstream_timeout, Duration::from_millis(5000));
        assert_eq!(cfg.rate_limit_per_second.get(), 50);
        assert_eq!(cfg.rate_limit_burst.get(), 100);
    }

    #[test]
    fn there_is_no_default_secret() {
        let err = Config::from_env(&Env::from_pairs::<[(&str, &str); 0], _, _>([])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("JWT_SECRET"), "{text}");
        assert!(matches!(err, ConfigError::Missing { .. }), "{text}");
        // Set but empty is not set.
        let err = JwtSettings::from_env(&Env::from_pairs([("JWT_SECRET", "")])).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET"), "{err}");
    }

    #[test]
    fn a_short_secret_is_refused_without_echoing_it() {
        // 21 bytes, as long as the public default there used to be.
        let short = "a-21-byte-weak-secret";
        assert_eq!(short.len(), 21);
        let err = JwtSettings::from_env(&Env::from_pairs([("JWT_SECRET", short)])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("JWT_SECRET"), "{text}");
        assert!(text.contains("32"), "{text}");
        assert!(!text.contains(short), "the secret is echoed: {text}");
        let exactly = "k".repeat(MIN_JWT_SECRET_BYTES);
        assert!(
            JwtSettings::from_env(&Env::from_pairs([("JWT_SECRET", exactly.as_str())])).is_ok()
        );
    }

    #[test]
    fn values_are_read_and_checked() {
        let cfg = Config::from_env(&Env::from_pairs([
            ("JWT_SECRET", SECRET),
            ("JWT_ISSUER", " https://id.example "),
            ("JWT_AUDIENCE", "shop"),
            ("ORDERS_URL", "http://orders:9000/"),
            ("RATE_LIMIT_BURST", "7"),
        ]))
        .unwrap();
        assert_eq!(cfg.jwt.secret, SECRET);
        assert_eq!(cfg.jwt.issuer, "https://id.example");
        assert_eq!(cfg.jwt.audience, "shop");
        assert_eq!(cfg.upstreams.orders, "http://orders:9000");
        assert_eq!(cfg.rate_limit_burst.get(), 7);
        assert!(!format!("{cfg:?}").contains(SECRET));

        for (name, value) in [
            ("RATE_LIMIT_PER_SECOND", "0"),
            ("RATE_LIMIT_BURST", "-1"),
            ("UPSTREAM_TIMEOUT_MS", "0"),
            ("INVENTORY_URL", "not a url"),
            ("SHIPPING_URL", "https://shipping:8084"),
        ] {
            let err = Config::from_env(&Env::from_pairs([("JWT_SECRET", SECRET), (name, value)]))
                .unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }
}
