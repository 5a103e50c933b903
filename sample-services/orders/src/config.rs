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
    /// The broker connection: `AMQP_URL` and `AMQP_CONNECT_TIMEOUT_MS`.
    pub amqp_connect_timeout: Duration,
    /// How long an order that failed transiently waits in `orders.intake.retry`.
    pub intake_retry_delay: Duration,
    /// Retries after which an intake message is dead-lettered.
    pub intake_max_retries: u32,
    /// How often the sweeper looks for orders whose intake message is lost.
    pub sweep_every: Duration,
    /// How long an order's intake message must have gone unseen before the sweeper
    /// queues it again (more than the retry delay).
    pub sweep_after: Duration,
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
        let messaging = Messaging::from_env(env)?;
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
            amqp_connect_timeout: messaging.amqp_connect_timeout,
            intake_retry_delay: messaging.intake_retry_delay,
            intake_max_retries: messaging.intake_max_retries,
            sweep_every: messaging.sweep_every,
            sweep_after: messaging.sweep_after,
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

/// The intake queue's retry and sweep settings, and the broker's connect timeout.
struct Messaging {
    amqp_connect_timeout: Duration,
    intake_retry_delay: Duration,
    intake_max_retries: u32,
    sweep_every: Duration,
    sweep_after: Duration,
}

impl Messaging {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let positive = |name: &str, default_ms: u64| -> Result<Duration, ConfigError> {
            let value = env.millis(name, default_ms)?;
            if value.is_zero() {
                return Err(ConfigError::Invalid {
                    name: name.to_owned(),
                    value: "0".to_owned(),
                    reason: "must be at least 1".to_owned(),
                    expected: "a whole number of milliseconds, at least 1",
                });
            }
            Ok(value)
        };
        let amqp = service_kit::amqp::AmqpSettings::from_env(
            env,
            "orders",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        )?;
        let intake_retry_delay = positive("ORDERS_INTAKE_RETRY_DELAY_MS", 5_000)?;
        let sweep_after = positive("ORDERS_SWEEP_AFTER_MS", 60_000)?;
        if sweep_after < intake_retry_delay * 2 {
            return Err(ConfigError::Invalid {
                name: "ORDERS_SWEEP_AFTER_MS".to_owned(),
                value: sweep_after.as_millis().to_string(),
                reason: format!(
                    "must be at least twice ORDERS_INTAKE_RETRY_DELAY_MS ({} ms), or the sweeper \
                     would copy messages waiting in the retry queue",
                    intake_retry_delay.as_millis()
                ),
                expected: "a whole number of milliseconds",
            });
        }
        Ok(Self {
            amqp_connect_timeout: amqp.connect_timeout,
            intake_retry_delay,
            intake_max_retries: env.parse(
                "ORDERS_INTAKE_MAX_RETRIES",
                720u32,
                "a whole number of retries",
            )?,
            sweep_every: positive("ORDERS_SWEEP_EVERY_MS", 30_000)?,
            sweep_after,
        })
    }
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
        assert_eq!(c.amqp_connect_timeout, Duration::from_secs(5));
        assert_eq!(c.intake_retry_delay, Duration::from_secs(5));
        assert_eq!(c.intake_max_retries, 720);
        assert_eq!(c.sweep_every, Duration::from_secs(30));
        assert_eq!(c.sweep_after, Duration::from_secs(60));
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
    fn the_sweeper_waits_longer_than_a_retry() {
        let c = Config::from_env(&Env::from_pairs([
            ("ORDERS_INTAKE_RETRY_DELAY_MS", "300"),
            ("ORDERS_SWEEP_AFTER_MS", "600"),
            ("ORDERS_SWEEP_EVERY_MS", "100"),
            ("ORDERS_INTAKE_MAX_RETRIES", "3"),
        ]))
        .unwrap();
        assert_eq!(c.intake_retry_delay, Duration::from_millis(300));
        assert_eq!(c.sweep_after, Duration::from_millis(600));
        assert_eq!(c.sweep_every, Duration::from_millis(100));
        assert_eq!(c.intake_max_retries, 3);
        let err = Config::from_env(&Env::from_pairs([
            ("ORDERS_INTAKE_RETRY_DELAY_MS", "5000"),
            ("ORDERS_SWEEP_AFTER_MS", "6000"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("ORDERS_SWEEP_AFTER_MS"), "{err}");
        assert!(err.contains("ORDERS_INTAKE_RETRY_DELAY_MS"), "{err}");
        for name in [
            "ORDERS_INTAKE_RETRY_DELAY_MS",
            "ORDERS_SWEEP_EVERY_MS",
            "ORDERS_SWEEP_AFTER_MS",
            "AMQP_CONNECT_TIMEOUT_MS",
        ] {
            let err = Config::from_env(&Env::from_pairs([(name, "0")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
        }
        let err = Config::from_env(&Env::from_pairs([("ORDERS_INTAKE_MAX_RETRIES", "-1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ORDERS_INTAKE_MAX_RETRIES"), "{err}");
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
