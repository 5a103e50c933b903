//! Settings from the environment, with the defaults documented in `docs/sample-services.md`.

use std::time::Duration;

use service_kit::{ConfigError, Env};

/// Everything the orders service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub database_url: String,
    pub amqp_url: String,
    pub inventory_url: String,
    pub payments_url: String,
    /// Intake messages processed at once (also the consumer prefetch).
    pub worker_concurrency: u16,
    /// Retries after the first payment attempt.
    pub payments_max_retries: usize,
    /// First backoff delay; doubles on each retry.
    pub payments_backoff: Duration,
    /// Consecutive failures that open the payments circuit.
    pub breaker_failure_threshold: u32,
    /// How long the circuit stays open before a trial call.
    pub breaker_open: Duration,
    /// Timeout of each call to inventory or payments.
    pub upstream_timeout: Duration,
    /// How often the intake queue's depth is read for its gauge.
    pub intake_depth_interval: Duration,
    /// How long an idempotency key stands for its order (`IDEMPOTENCY_KEY_TTL_SECS`).
    pub idempotency_key_ttl: Duration,
}

impl Config {
    /// Reads the settings; a bad value is an error naming the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let worker_concurrency = env.parse(
            "ORDERS_WORKER_CONCURRENCY",
            4u16,
            "a whole number of messages, at least 1",
        )?;
        if worker_concurrency == 0 {
            return Err(ConfigError::Invalid {
                name: "ORDERS_WORKER_CONCURRENCY".to_owned(),
                value: "0".to_owned(),
                reason: "must be at least 1".to_owned(),
                expected: "a whole number of messages, at least 1",
            });
        }
        let breaker_failure_threshold = env.parse(
            "BREAKER_FAILURE_THRESHOLD",
            5u32,
            "a whole number of failures, at least 1",
        )?;
        if breaker_failure_threshold == 0 {
            return Err(ConfigError::Invalid {
                name: "BREAKER_FAILURE_THRESHOLD".to_owned(),
                value: "0".to_owned(),
                reason: "must be at least 1".to_owned(),
                expected: "a whole number of failures, at least 1",
            });
        }
        let intake_depth_interval = env.millis("INTAKE_DEPTH_INTERVAL_MS", 500)?;
        if intake_depth_interval.is_zero() {
            return Err(ConfigError::Invalid {
                name: "INTAKE_DEPTH_INTERVAL_MS".to_owned(),
                value: "0".to_owned(),
                reason: "must be at least 1".to_owned(),
                expected: "a whole number of milliseconds",
            });
        }
        let idempotency_key_ttl = idempotency_key_ttl(env)?;
        Ok(Self {
            port: env.port(8081)?,
            database_url: env.string(
                "DATABASE_URL",
                "postgres://postgres:postgres@127.0.0.1:5432/orders",
            ),
            amqp_url: env.string("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            inventory_url: trim_slash(env.string("INVENTORY_URL", "http://127.0.0.1:8083")),
            payments_url: trim_slash(env.string("PAYMENTS_URL", "http://127.0.0.1:8082")),
            worker_concurrency,
            payments_max_retries: env.parse(
                "PAYMENTS_MAX_RETRIES",
                3usize,
                "a whole number of retries",
            )?,
            payments_backoff: env.millis("PAYMENTS_BACKOFF_MS", 100)?,
            breaker_failure_threshold,
            breaker_open: env.millis("BREAKER_OPEN_MS", 10_000)?,
            upstream_timeout: env.millis("UPSTREAM_TIMEOUT_MS", 3_000)?,
            intake_depth_interval,
            idempotency_key_ttl,
        })
    }
}

/// `IDEMPOTENCY_KEY_TTL_SECS`: 1 s to 365 days, default 24 h.
fn idempotency_key_ttl(env: &Env) -> Result<Duration, ConfigError> {
    const EXPECTED: &str = "a whole number of seconds, 1 to 31536000 (365 days)";
    let default = crate::model::DEFAULT_IDEMPOTENCY_KEY_TTL.as_secs();
    let secs: u64 = env.parse("IDEMPOTENCY_KEY_TTL_SECS", default, EXPECTED)?;
    if !(1..=365 * 24 * 3600).contains(&secs) {
        return Err(ConfigError::Invalid {
            name: "IDEMPOTENCY_KEY_TTL_SECS".to_owned(),
            value: secs.to_string(),
            reason: "out of range".to_owned(),
            expected: EXPECTED,
        });
    }
    Ok(Duration::from_secs(secs))
}

fn trim_slash(url: String) -> String {
    url.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::from_env(&Env::from_pairs::<[(&str, &str); 0], &str, &str>([])).unwrap();
        assert_eq!(c.port, 8081);
        assert_eq!(
            c.database_url,
            "postgres://postgres:postgres@127.0.0.1:5432/orders"
        );
        assert_eq!(c.amqp_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(c.inventory_url, "http://127.0.0.1:8083");
        assert_eq!(c.payments_url, "http://127.0.0.1:8082");
        assert_eq!(c.worker_concurrency, 4);
        assert_eq!(c.payments_max_retries, 3);
        assert_eq!(c.payments_backoff, Duration::from_millis(100));
        assert_eq!(c.breaker_failure_threshold, 5);
        assert_eq!(c.breaker_open, Duration::from_secs(10));
        assert_eq!(c.upstream_timeout, Duration::from_secs(3));
        assert_eq!(c.intake_depth_interval, Duration::from_millis(500));
        assert_eq!(c.idempotency_key_ttl, Duration::from_secs(24 * 3600));
    }

    #[test]
    fn the_idempotency_key_ttl_is_read_and_bounded() {
        let c = Config::from_env(&Env::from_pairs([("IDEMPOTENCY_KEY_TTL_SECS", "60")])).unwrap();
        assert_eq!(c.idempotency_key_ttl, Duration::from_secs(60));
        for bad in ["0", "-1", "soon", "31536001"] {
            let err = Config::from_env(&Env::from_pairs([("IDEMPOTENCY_KEY_TTL_SECS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("IDEMPOTENCY_KEY_TTL_SECS"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Config::from_env(&Env::from_pairs([("ORDERS_WORKER_CONCURRENCY", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ORDERS_WORKER_CONCURRENCY"), "{err}");
        let err = Config::from_env(&Env::from_pairs([("BREAKER_OPEN_MS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("BREAKER_OPEN_MS"), "{err}");
        let err = Config::from_env(&Env::from_pairs([("INTAKE_DEPTH_INTERVAL_MS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("INTAKE_DEPTH_INTERVAL_MS"), "{err}");
        let c = Config::from_env(&Env::from_pairs([("INTAKE_DEPTH_INTERVAL_MS", "100")])).unwrap();
        assert_eq!(c.intake_depth_interval, Duration::from_millis(100));
        let c = Config::from_env(&Env::from_pairs([("PAYMENTS_URL", "http://p:1/")])).unwrap();
        assert_eq!(c.payments_url, "http://p:1");
    }
}
