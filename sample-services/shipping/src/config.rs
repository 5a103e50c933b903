//! Settings from the environment, with the defaults documented in
//! `docs/src/sample-services.md`, read through `service_kit::config`: `Vars` is shipping's
//! own variables as one serde struct, [`HttpSettings`], [`DbSettings`] and [`AmqpSettings`]
//! the ones the services share. `DATABASE_URL` and `AMQP_URL` have no default: they hold
//! credentials.

use std::{num::NonZeroU16, time::Duration};

use serde::Deserialize;
use service_kit::{
    ConfigError, Env, amqp::AmqpSettings, config::Millis, db::DbSettings, server::HttpSettings,
};

/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 8084;

/// What `DATABASE_URL`'s error says when it is missing.
const DATABASE_URL_HINT: &str = "the PostgreSQL database of the shipments, \
     e.g. postgres://USER:PASSWORD@HOST:5432/shipping (created if missing)";

/// The shipping service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT` (8084), `REQUEST_TIMEOUT_MS`, `SHUTDOWN_TIMEOUT_MS` (which bounds the
    /// consumer's drain too).
    pub http: HttpSettings,
    /// `DATABASE_URL` (required), `DB_CONNECT_TIMEOUT_MS`, `DB_STATEMENT_TIMEOUT_MS`.
    pub db: DbSettings,
    /// `AMQP_URL` (required: the broker carrying `order.confirmed`) and
    /// `AMQP_CONNECT_TIMEOUT_MS` (5000: the longest one connection attempt may take).
    pub amqp: AmqpSettings,
    /// `SHIPPING_PREFETCH` (8): unacked deliveries the broker may push at once, which is
    /// also how many events are processed concurrently.
    pub prefetch: u16,
    /// `SHIPPING_RETRY_DELAY_MS` (5000): how long an event that failed on the database waits
    /// in the retry queue.
    pub retry_delay: Duration,
    /// `SHIPPING_MAX_RETRIES` (720): retries after which an event is dead-lettered.
    pub max_retries: u32,
}

/// shipping's own variables, with their defaults.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", default)]
struct Vars {
    shipping_prefetch: NonZeroU16,
    shipping_retry_delay_ms: Millis,
    shipping_max_retries: u32,
}

impl Default for Vars {
    fn default() -> Self {
        Self {
            shipping_prefetch: NonZeroU16::new(8).expect("8 is not zero"),
            shipping_retry_delay_ms: Millis::from_ms(5_000),
            shipping_max_retries: 720,
        }
    }
}

impl Config {
    /// Reads the settings; a bad value names the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: Vars = env.load()?;
        Ok(Self {
            http: HttpSettings::from_env(env, DEFAULT_PORT)?,
            db: DbSettings::from_env(env, DATABASE_URL_HINT)?,
            amqp: AmqpSettings::from_env(env, "shipping")?,
            prefetch: vars.shipping_prefetch.get(),
            retry_delay: vars.shipping_retry_delay_ms.get(),
            max_retries: vars.shipping_max_retries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "postgres://shipping:s3cret@db:5432/shipping";
    const AMQP: &str = "amqp://shipping:s3cret@mq:5672/%2f";

    fn env(pairs: &[(&'static str, &'static str)]) -> Env {
        let mut all = vec![("DATABASE_URL", DB), ("AMQP_URL", AMQP)];
        all.retain(|(name, _)| pairs.iter().all(|(n, _)| n != name));
        all.extend_from_slice(pairs);
        Env::from_pairs(all)
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::from_env(&env(&[])).unwrap();
        assert_eq!(config.http, HttpSettings::new(8084));
        assert_eq!(config.db.url, DB);
        assert_eq!(config.db.statement_timeout, Duration::from_secs(5));
        assert_eq!(config.amqp.url, AMQP);
        assert_eq!(config.amqp.connection_name, "shipping");
        assert_eq!(config.prefetch, 8);
        assert_eq!(config.amqp.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.retry_delay, Duration::from_secs(5));
        assert_eq!(config.max_retries, 720);
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret@db"), "{printed}");
    }

    #[test]
    fn credentials_have_no_default() {
        for name in ["DATABASE_URL", "AMQP_URL"] {
            let err = Config::from_env(&env(&[(name, " ")])).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Missing { name: n, .. } if n == name),
                "{err}"
            );
        }
    }

    #[test]
    fn retry_settings_are_read_and_checked() {
        let config = Config::from_env(&env(&[
            ("SHIPPING_RETRY_DELAY_MS", "250"),
            ("SHIPPING_MAX_RETRIES", "3"),
            ("AMQP_CONNECT_TIMEOUT_MS", "900"),
        ]))
        .unwrap();
        assert_eq!(config.retry_delay, Duration::from_millis(250));
        assert_eq!(config.max_retries, 3);
        assert_eq!(config.amqp.connect_timeout, Duration::from_millis(900));
        for (name, bad) in [
            ("SHIPPING_RETRY_DELAY_MS", "0"),
            ("SHIPPING_MAX_RETRIES", "many"),
            ("AMQP_CONNECT_TIMEOUT_MS", "0"),
            ("DB_STATEMENT_TIMEOUT_MS", "0"),
            ("SHUTDOWN_TIMEOUT_MS", "0"),
            ("AMQP_URL", "postgres://nope"),
        ] {
            let err = Config::from_env(&env(&[(name, bad)])).unwrap_err();
            assert_eq!(err.variable(), name, "{err}");
            assert!(err.to_string().contains("expected"), "{err}");
        }
    }

    #[test]
    fn bad_prefetch_names_the_variable_and_the_value() {
        for bad in ["0", "many", "-1", "70000"] {
            let err = Config::from_env(&env(&[("SHIPPING_PREFETCH", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("SHIPPING_PREFETCH={bad:?}")), "{err}");
            assert!(err.contains("1 to 65535"), "{err}");
        }
        let config =
            Config::from_env(&env(&[("SHIPPING_PREFETCH", "3"), ("PORT", "9999")])).unwrap();
        assert_eq!((config.prefetch, config.http.port), (3, 9999));
    }
}
