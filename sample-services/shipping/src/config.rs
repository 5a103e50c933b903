//! Settings from the environment, with the defaults documented in
//! `docs/sample-services.md`.

use std::time::Duration;

use service_kit::{ConfigError, Env, amqp::AmqpSettings};

/// The shipping service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `PORT` (8084).
    pub port: u16,
    /// `DATABASE_URL`: the service's own database.
    pub database_url: String,
    /// `AMQP_URL`: the broker carrying `order.confirmed`.
    pub amqp_url: String,
    /// `SHIPPING_PREFETCH` (8): unacked deliveries the broker may push at once, which is
    /// also how many events are processed concurrently.
    pub prefetch: u16,
    /// `AMQP_CONNECT_TIMEOUT_MS` (5000): the longest one connection attempt may take.
    pub amqp_connect_timeout: Duration,
    /// `SHIPPING_RETRY_DELAY_MS` (5000): how long an event that failed on the database waits
    /// in the retry queue.
    pub retry_delay: Duration,
    /// `SHIPPING_MAX_RETRIES` (720): retries after which an event is dead-lettered.
    pub max_retries: u32,
}

/// The default `DATABASE_URL`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/shipping";
/// The default `AMQP_URL`.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

impl Config {
    /// Reads the settings; a bad value names the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let prefetch = env.parse("SHIPPING_PREFETCH", 8u16, "a whole number from 1 to 65535")?;
        if prefetch == 0 {
            return Err(ConfigError::Invalid {
                name: "SHIPPING_PREFETCH".to_owned(),
                value: "0".to_owned(),
                reason: "0 would mean unlimited unacked deliveries".to_owned(),
                expected: "a whole number from 1 to 65535",
            });
        }
        let amqp = AmqpSettings::from_env(env, "shipping", DEFAULT_AMQP_URL)?;
        let retry_delay = env.millis("SHIPPING_RETRY_DELAY_MS", 5_000)?;
        if retry_delay.is_zero() {
            return Err(ConfigError::Invalid {
                name: "SHIPPING_RETRY_DELAY_MS".to_owned(),
                value: "0".to_owned(),
                reason: "a retry without a pause would spin".to_owned(),
                expected: "a whole number of milliseconds, at least 1",
            });
        }
        Ok(Self {
            port: env.port(8084)?,
            database_url: env.string("DATABASE_URL", DEFAULT_DATABASE_URL),
            amqp_url: amqp.url,
            prefetch,
            amqp_connect_timeout: amqp.connect_timeout,
            retry_delay,
            max_retries: env.parse("SHIPPING_MAX_RETRIES", 720u32, "a whole number of retries")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let config =
            Config::from_env(&Env::from_pairs::<[(&str, &str); 0], &str, &str>([])).unwrap();
        assert_eq!(config.port, 8084);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.amqp_url, DEFAULT_AMQP_URL);
        assert_eq!(config.prefetch, 8);
        assert_eq!(config.amqp_connect_timeout, Duration::from_secs(5));
        assert_eq!(config.retry_delay, Duration::from_secs(5));
        assert_eq!(config.max_retries, 720);
    }

    #[test]
    fn retry_settings_are_read_and_checked() {
        let config = Config::from_env(&Env::from_pairs([
            ("SHIPPING_RETRY_DELAY_MS", "250"),
            ("SHIPPING_MAX_RETRIES", "3"),
            ("AMQP_CONNECT_TIMEOUT_MS", "900"),
        ]))
        .unwrap();
        assert_eq!(config.retry_delay, Duration::from_millis(250));
        assert_eq!(config.max_retries, 3);
        assert_eq!(config.amqp_connect_timeout, Duration::from_millis(900));
        for (name, bad) in [
            ("SHIPPING_RETRY_DELAY_MS", "0"),
            ("SHIPPING_MAX_RETRIES", "many"),
            ("AMQP_CONNECT_TIMEOUT_MS", "0"),
            ("AMQP_URL", "postgres://nope"),
        ] {
            let err = Config::from_env(&Env::from_pairs([(name, bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn bad_prefetch_names_the_variable() {
        for bad in ["0", "many", "-1"] {
            let err = Config::from_env(&Env::from_pairs([("SHIPPING_PREFETCH", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("SHIPPING_PREFETCH"), "{err}");
        }
        let config = Config::from_env(&Env::from_pairs([
            ("SHIPPING_PREFETCH", "3"),
            ("PORT", "9999"),
        ]))
        .unwrap();
        assert_eq!((config.prefetch, config.port), (3, 9999));
    }
}
