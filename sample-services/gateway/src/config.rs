//! Settings from the environment, with the defaults documented in
//! `docs/src/sample-services.md` (gateway section), read through `service_kit::config`:
//! `Vars` is the gateway's own variables as one serde struct, [`HttpSettings`] the ones
//! every service has (`PORT`, `REQUEST_TIMEOUT_MS`, `SHUTDOWN_TIMEOUT_MS`).
//!
//! There is no default signing secret: `JWT_SECRET` must be set, at least
//! [`MIN_JWT_SECRET_BYTES`] bytes, or the gateway (and `gateway token`) refuses to start.

use std::{num::NonZeroU32, time::Duration};

use serde::Deserialize;
use service_kit::{
    ConfigError, Env,
    config::{Millis, required},
    defects::{self, Defect},
    server::HttpSettings,
};

/// The shortest `JWT_SECRET` accepted: an HS256 key should be as long as the hash (RFC 7518
/// §3.2 asks for a key of at least 256 bits).
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// The public secret the gateway once fell back to without `JWT_SECRET`; used again only
/// with the planted defect `jwt-default-secret` (`service_kit::defects`).
pub const PUBLIC_DEFAULT_JWT_SECRET: &str = "harness-sample-secret";
/// The `iss` claim tokens must carry when `JWT_ISSUER` is not set.
pub const DEFAULT_JWT_ISSUER: &str = "harness-sample";
/// The `aud` claim tokens must carry when `JWT_AUDIENCE` is not set.
pub const DEFAULT_JWT_AUDIENCE: &str = "harness-sample-api";
/// The gateway's default `PORT`.
pub const DEFAULT_PORT: u16 = 8080;

/// Everything the gateway reads at start-up.
#[derive(Clone)]
pub struct Config {
    /// `PORT`, `REQUEST_TIMEOUT_MS` (above `UPSTREAM_TIMEOUT_MS`), `SHUTDOWN_TIMEOUT_MS`.
    pub http: HttpSettings,
    pub jwt: JwtSettings,
    pub upstreams: UpstreamUrls,
    pub upstream_timeout: Duration,
    pub rate_limit_per_second: NonZeroU32,
    pub rate_limit_burst: NonZeroU32,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("http", &self.http)
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

/// The token settings as variables (`gateway token` reads only these).
#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct JwtVars {
    jwt_secret: Option<String>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
}

impl JwtSettings {
    /// Whether the secret is [`PUBLIC_DEFAULT_JWT_SECRET`] (only with the planted defect
    /// `jwt-default-secret`).
    pub fn is_public_default(&self) -> bool {
        self.secret == PUBLIC_DEFAULT_JWT_SECRET
    }

    /// `JWT_SECRET` (required, at least [`MIN_JWT_SECRET_BYTES`] bytes), `JWT_ISSUER` and
    /// `JWT_AUDIENCE` (defaults [`DEFAULT_JWT_ISSUER`], [`DEFAULT_JWT_AUDIENCE`]). The
    /// `token` subcommand reads them with the same rules.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: JwtVars = env.load()?;
        let issuer = vars
            .jwt_issuer
            .unwrap_or_else(|| DEFAULT_JWT_ISSUER.to_owned());
        let audience = vars
            .jwt_audience
            .unwrap_or_else(|| DEFAULT_JWT_AUDIENCE.to_owned());
        if vars.jwt_secret.is_none() && defects::is_on(Defect::JwtDefaultSecret) {
            return Ok(Self {
                secret: PUBLIC_DEFAULT_JWT_SECRET.to_owned(),
                issuer,
                audience,
            });
        }
        let secret = required(
            vars.jwt_secret,
            "JWT_SECRET",
            "the HS256 secret tokens are signed with, at least 32 bytes; there is no default",
        )?;
        if secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::invalid(
                "JWT_SECRET",
                // Never echo a secret, not even a weak one.
                format!("<{} bytes>", secret.len()),
                format!(
                    "too short: {} bytes, an HS256 secret needs at least {MIN_JWT_SECRET_BYTES}",
                    secret.len()
                ),
                "a secret of at least 32 bytes",
            ));
        }
        Ok(Self {
            secret,
            issuer,
            audience,
        })
    }
}

/// Base URLs of the services behind the gateway (no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrls {
    pub orders: String,
    pub inventory: String,
    pub shipping: String,
}

/// The gateway's own variables (besides the JWT ones), with their defaults.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", default)]
struct Vars {
    orders_url: String,
    inventory_url: String,
    shipping_url: String,
    upstream_timeout_ms: Millis,
    rate_limit_per_second: NonZeroU32,
    rate_limit_burst: NonZeroU32,
}

impl Default for Vars {
    fn default() -> Self {
        Self {
            orders_url: "http://127.0.0.1:8081".to_owned(),
            inventory_url: "http://127.0.0.1:8083".to_owned(),
            shipping_url: "http://127.0.0.1:8084".to_owned(),
            upstream_timeout_ms: Millis::from_ms(5000),
            rate_limit_per_second: NonZeroU32::new(50).expect("50 is not zero"),
            rate_limit_burst: NonZeroU32::new(100).expect("100 is not zero"),
        }
    }
}

impl Config {
    /// Reads the settings; a bad value is an error naming the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let http = HttpSettings::from_env(env, DEFAULT_PORT)?;
        let jwt = JwtSettings::from_env(env)?;
        let vars: Vars = env.load()?;
        let upstream_timeout = vars.upstream_timeout_ms.get();
        if http.request_timeout <= upstream_timeout {
            // The request timeout would fire first: a slow upstream would never be a 504.
            return Err(ConfigError::invalid(
                "REQUEST_TIMEOUT_MS",
                http.request_timeout.as_millis().to_string(),
                format!(
                    "not above UPSTREAM_TIMEOUT_MS ({} ms): a slow upstream must be answered \
                     504 before the request itself times out",
                    upstream_timeout.as_millis()
                ),
                "more milliseconds than UPSTREAM_TIMEOUT_MS",
            ));
        }
        Ok(Self {
            http,
            jwt,
            upstreams: UpstreamUrls {
                orders: base_url("ORDERS_URL", &vars.orders_url)?,
                inventory: base_url("INVENTORY_URL", &vars.inventory_url)?,
                shipping: base_url("SHIPPING_URL", &vars.shipping_url)?,
            },
            upstream_timeout,
            rate_limit_per_second: vars.rate_limit_per_second,
            rate_limit_burst: vars.rate_limit_burst,
        })
    }
}

fn base_url(name: &str, value: &str) -> Result<String, ConfigError> {
    let invalid = |reason: String| {
        ConfigError::invalid(
            name,
            value,
            reason,
            "an http:// URL such as http://127.0.0.1:8081",
        )
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
        assert_eq!(cfg.http, HttpSettings::new(8080));
        assert_eq!(cfg.http.request_timeout, Duration::from_secs(10));
        assert_eq!(cfg.http.shutdown_timeout, Duration::from_secs(8));
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
        let err = Config::from_env(&Env::from_pairs::<[(&str, &str); 0], _, _>([])).expect_err(
            "without JWT_SECRET the gateway must refuse to start: there is no default secret",
        );
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
            ("UPSTREAM_TIMEOUT_MS", "five seconds"),
            ("REQUEST_TIMEOUT_MS", "0"),
            ("SHUTDOWN_TIMEOUT_MS", "0"),
            ("PORT", "http"),
            ("INVENTORY_URL", "not a url"),
            ("SHIPPING_URL", "https://shipping:8084"),
        ] {
            let err = Config::from_env(&Env::from_pairs([("JWT_SECRET", SECRET), (name, value)]))
                .unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
            assert_eq!(err.variable(), name, "{err}");
        }
    }

    #[test]
    fn the_request_timeout_is_above_the_upstream_timeout() {
        let cfg = Config::from_env(&Env::from_pairs([
            ("JWT_SECRET", SECRET),
            ("REQUEST_TIMEOUT_MS", "2500"),
            ("UPSTREAM_TIMEOUT_MS", "2000"),
        ]))
        .unwrap();
        assert_eq!(cfg.http.request_timeout, Duration::from_millis(2500));
        let err = Config::from_env(&Env::from_pairs([
            ("JWT_SECRET", SECRET),
            ("REQUEST_TIMEOUT_MS", "5000"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable(), "REQUEST_TIMEOUT_MS");
        assert!(
            err.to_string().contains("UPSTREAM_TIMEOUT_MS (5000 ms)"),
            "{err}"
        );
    }

    #[test]
    fn a_zero_timeout_and_a_bad_value_name_the_variable_and_the_value() {
        let err = Config::from_env(&Env::from_pairs([
            ("JWT_SECRET", SECRET),
            ("UPSTREAM_TIMEOUT_MS", "0"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("UPSTREAM_TIMEOUT_MS=\"0\""), "{err}");
        assert!(err.contains("at least 1"), "{err}");
        let err = Config::from_env(&Env::from_pairs([
            ("JWT_SECRET", SECRET),
            ("RATE_LIMIT_BURST", "lots"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("RATE_LIMIT_BURST=\"lots\""), "{err}");
        assert!(err.contains("a whole number, 1 to 4294967295"), "{err}");
    }
}
