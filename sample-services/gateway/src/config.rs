//! Settings from the environment, with the defaults documented in
//! `docs/sample-services.md` (gateway section).

use std::{num::NonZeroU32, time::Duration};

use service_kit::{ConfigError, Env};

/// The secret used when `JWT_SECRET` is not set. Fine for tests and local runs only.
pub const DEFAULT_JWT_SECRET: &str = "harness-sample-secret";

/// Everything the gateway reads at start-up.
#[derive(Clone)]
pub struct Config {
    pub port: u16,
    pub jwt_secret: String,
    /// True when `JWT_SECRET` was not set and [`DEFAULT_JWT_SECRET`] is in use.
    pub jwt_secret_is_default: bool,
    pub upstreams: UpstreamUrls,
    pub upstream_timeout: Duration,
    pub rate_limit_per_second: NonZeroU32,
    pub rate_limit_burst: NonZeroU32,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("jwt_secret", &"<redacted>")
            .field("jwt_secret_is_default", &self.jwt_secret_is_default)
            .field("upstreams", &self.upstreams)
            .field("upstream_timeout", &self.upstream_timeout)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .finish()
    }
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
        let jwt_secret_is_default = env.raw("JWT_SECRET").is_none();
        Ok(Self {
            port: env.port(8080)?,
            jwt_secret: jwt_secret(env),
            jwt_secret_is_default,
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

/// `JWT_SECRET`, or the documented default (the `token` subcommand uses the same rule).
pub fn jwt_secret(env: &Env) -> String {
    env.string("JWT_SECRET", DEFAULT_JWT_SECRET)
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

    #[test]
    fn defaults_match_the_contract() {
        let cfg = Config::from_env(&Env::from_pairs::<[(&str, &str); 0], _, _>([])).unwrap();
        assert_eq!(cfg.port, 8080);
        assert_eq!(cfg.jwt_secret, DEFAULT_JWT_SECRET);
        assert!(cfg.jwt_secret_is_default);
        assert_eq!(cfg.upstreams.orders, "http://127.0.0.1:8081");
        assert_eq!(cfg.upstreams.inventory, "http://127.0.0.1:8083");
        assert_eq!(cfg.upstreams.shipping, "http://127.0.0.1:8084");
        assert_eq!(cfg.upstream_timeout, Duration::from_millis(5000));
        assert_eq!(cfg.rate_limit_per_second.get(), 50);
        assert_eq!(cfg.rate_limit_burst.get(), 100);
    }

    #[test]
    fn values_are_read_and_checked() {
        let cfg = Config::from_env(&Env::from_pairs([
            ("JWT_SECRET", "s3cret"),
            ("ORDERS_URL", "http://orders:9000/"),
            ("RATE_LIMIT_BURST", "7"),
        ]))
        .unwrap();
        assert_eq!(cfg.jwt_secret, "s3cret");
        assert!(!cfg.jwt_secret_is_default);
        assert_eq!(cfg.upstreams.orders, "http://orders:9000");
        assert_eq!(cfg.rate_limit_burst.get(), 7);
        assert!(!format!("{cfg:?}").contains("s3cret"));

        for (name, value) in [
            ("RATE_LIMIT_PER_SECOND", "0"),
            ("RATE_LIMIT_BURST", "-1"),
            ("UPSTREAM_TIMEOUT_MS", "0"),
            ("INVENTORY_URL", "not a url"),
            ("SHIPPING_URL", "https://shipping:8084"),
        ] {
            let err = Config::from_env(&Env::from_pairs([(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }
}
