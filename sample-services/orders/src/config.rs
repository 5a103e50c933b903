//! Settings from the environment, with the defaults documented in `docs/sample-services.md`,
//! read through `service_kit::config`: `Vars` is orders' own variables as one serde struct,
//! [`HttpSettings`], [`DbSettings`] and [`AmqpSettings`] the ones the services share.
//! `DATABASE_URL` and `AMQP_URL` have no default: they hold credentials. Durations are whole
//! milliseconds, at least 1: a zero timeout, delay or interval is refused.

use std::{
    num::{NonZeroU16, NonZeroU32},
    time::Duration,
};

use serde::Deserialize;
use service_kit::{
    ConfigError, Env, amqp::AmqpSettings, config::Millis, db::DbSettings, server::HttpSettings,
};

/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 8081;

/// What `DATABASE_URL`'s error says when it is missing.
const DATABASE_URL_HINT: &str = "the PostgreSQL database of the orders, \
     e.g. postgres://USER:PASSWORD@HOST:5432/orders (created if missing)";

/// Everything the orders service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT` (8081), `REQUEST_TIMEOUT_MS`, `SHUTDOWN_TIMEOUT_MS` (which bounds the intake
    /// worker's drain too).
    pub http: HttpSettings,
    /// `DATABASE_URL` (required), `DB_CONNECT_TIMEOUT_MS`, `DB_STATEMENT_TIMEOUT_MS`.
    pub db: DbSettings,
    /// The broker connection: `AMQP_URL` (required) and `AMQP_CONNECT_TIMEOUT_MS`.
    pub amqp: AmqpSettings,
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
    /// How long after its creation an order waits for payments to answer before it is
    /// cancelled (`ORDERS_PAYMENT_DEADLINE_MS`; at most half the intake retry window).
    pub payment_deadline: Duration,
}

/// orders' own variables, with their defaults (`ORDERS_PAYMENT_DEADLINE_MS`'s depends on the
/// retry window: see [`crate::fulfilment::payment_deadline`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", default)]
struct Vars {
    inventory_url: String,
    payments_url: String,
    orders_worker_concurrency: NonZeroU16,
    payments_max_retries: usize,
    payments_backoff_ms: Millis,
    breaker_failure_threshold: NonZeroU32,
    breaker_open_ms: Millis,
    upstream_timeout_ms: Millis,
    intake_depth_interval_ms: Millis,
    orders_intake_retry_delay_ms: Millis,
    orders_intake_max_retries: u32,
    orders_sweep_every_ms: Millis,
    orders_sweep_after_ms: Millis,
    idempotency_key_ttl_secs: u64,
    orders_payment_deadline_ms: Option<Millis>,
}

impl Default for Vars {
    fn default() -> Self {
        Self {
            inventory_url: "http://127.0.0.1:8083".to_owned(),
            payments_url: "http://127.0.0.1:8082".to_owned(),
            orders_worker_concurrency: NonZeroU16::new(4).expect("4 is not zero"),
            payments_max_retries: 3,
            payments_backoff_ms: Millis::from_ms(100),
            breaker_failure_threshold: NonZeroU32::new(5).expect("5 is not zero"),
            breaker_open_ms: Millis::from_ms(10_000),
            upstream_timeout_ms: Millis::from_ms(3_000),
            intake_depth_interval_ms: Millis::from_ms(500),
            orders_intake_retry_delay_ms: Millis::from_ms(5_000),
            orders_intake_max_retries: 720,
            orders_sweep_every_ms: Millis::from_ms(30_000),
            orders_sweep_after_ms: Millis::from_ms(60_000),
            idempotency_key_ttl_secs: crate::model::DEFAULT_IDEMPOTENCY_KEY_TTL.as_secs(),
            orders_payment_deadline_ms: None,
        }
    }
}

impl Config {
    /// Reads the settings; a bad value is an error naming the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: Vars = env.load()?;
        let http = HttpSettings::from_env(env, DEFAULT_PORT)?;
        let db = DbSettings::from_env(env, DATABASE_URL_HINT)?;
        let amqp = AmqpSettings::from_env(env, "orders")?;
        let intake_retry_delay = vars.orders_intake_retry_delay_ms.get();
        let sweep_after = vars.orders_sweep_after_ms.get();
        if sweep_after < intake_retry_delay * 2 {
            return Err(ConfigError::invalid(
                "ORDERS_SWEEP_AFTER_MS",
                sweep_after.as_millis().to_string(),
                format!(
                    "must be at least twice ORDERS_INTAKE_RETRY_DELAY_MS ({} ms), or the sweeper \
                     would copy messages waiting in the retry queue",
                    intake_retry_delay.as_millis()
                ),
                "a whole number of milliseconds",
            ));
        }
        let payment_deadline = payment_deadline(
            env,
            vars.orders_payment_deadline_ms,
            intake_retry_delay,
            vars.orders_intake_max_retries,
        )?;
        Ok(Self {
            http,
            db,
            amqp,
            inventory_url: trim_slash(&vars.inventory_url),
            payments_url: trim_slash(&vars.payments_url),
            worker_concurrency: vars.orders_worker_concurrency.get(),
            payments_max_retries: vars.payments_max_retries,
            payments_backoff: vars.payments_backoff_ms.get(),
            breaker_failure_threshold: vars.breaker_failure_threshold.get(),
            breaker_open: vars.breaker_open_ms.get(),
            upstream_timeout: vars.upstream_timeout_ms.get(),
            intake_depth_interval: vars.intake_depth_interval_ms.get(),
            intake_retry_delay,
            intake_max_retries: vars.orders_intake_max_retries,
            sweep_every: vars.orders_sweep_every_ms.get(),
            sweep_after,
            idempotency_key_ttl: idempotency_key_ttl(vars.idempotency_key_ttl_secs)?,
            payment_deadline,
        })
    }
}

/// `IDEMPOTENCY_KEY_TTL_SECS`: 1 s to 365 days, default 24 h.
fn idempotency_key_ttl(secs: u64) -> Result<Duration, ConfigError> {
    const EXPECTED: &str = "a whole number of seconds, 1 to 31536000 (365 days)";
    if !(1..=365 * 24 * 3600).contains(&secs) {
        return Err(ConfigError::invalid(
            "IDEMPOTENCY_KEY_TTL_SECS",
            secs.to_string(),
            "out of range",
            EXPECTED,
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// `ORDERS_PAYMENT_DEADLINE_MS`, checked against the intake retry window by
/// [`crate::fulfilment::payment_deadline`].
fn payment_deadline(
    env: &Env,
    set: Option<Millis>,
    retry_delay: Duration,
    max_retries: u32,
) -> Result<Duration, ConfigError> {
    const NAME: &str = "ORDERS_PAYMENT_DEADLINE_MS";
    crate::fulfilment::payment_deadline(set.map(Millis::get), retry_delay, max_retries).map_err(
        |reason| {
            ConfigError::invalid(
                NAME,
                env.raw(NAME).unwrap_or_else(|| "<unset>".to_owned()),
                reason,
                crate::fulfilment::PAYMENT_DEADLINE_EXPECTED,
            )
        },
    )
}

fn trim_slash(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "postgres://orders:s3cret@db:5432/orders";
    const AMQP: &str = "amqp://orders:s3cret@mq:5672/%2f";

    /// The given variables with the two credentials orders cannot start without.
    fn env(pairs: &[(&'static str, &'static str)]) -> Env {
        let mut all = vec![("DATABASE_URL", DB), ("AMQP_URL", AMQP)];
        all.retain(|(name, _)| pairs.iter().all(|(n, _)| n != name));
        all.extend_from_slice(pairs);
        Env::from_pairs(all)
    }

    #[test]
    fn credentials_have_no_default() {
        for name in ["DATABASE_URL", "AMQP_URL"] {
            let err = Config::from_env(&env(&[(name, "")])).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Missing { name: n, .. } if n == name),
                "{err}"
            );
        }
    }

    #[test]
    fn zero_timeouts_are_refused_naming_the_variable() {
        for name in [
            "UPSTREAM_TIMEOUT_MS",
            "PAYMENTS_BACKOFF_MS",
            "BREAKER_OPEN_MS",
            "REQUEST_TIMEOUT_MS",
            "SHUTDOWN_TIMEOUT_MS",
            "DB_CONNECT_TIMEOUT_MS",
            "DB_STATEMENT_TIMEOUT_MS",
        ] {
            let err = Config::from_env(&env(&[(name, "0")])).unwrap_err();
            assert_eq!(err.variable(), name, "{err}");
            let text = err.to_string();
            assert!(text.contains(&format!("{name}=\"0\"")), "{text}");
            assert!(text.contains("at least 1"), "{text}");
        }
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::from_env(&env(&[])).unwrap();
        assert_eq!(c.http, HttpSettings::new(8081));
        assert_eq!(c.db.url, DB);
        assert_eq!(c.db.statement_timeout, Duration::from_secs(5));
        assert_eq!(c.amqp.url, AMQP);
        assert_eq!(c.amqp.connection_name, "orders");
        assert_eq!(c.inventory_url, "http://127.0.0.1:8083");
        assert_eq!(c.payments_url, "http://127.0.0.1:8082");
        assert_eq!(c.worker_concurrency, 4);
        assert_eq!(c.payments_max_retries, 3);
        assert_eq!(c.payments_backoff, Duration::from_millis(100));
        assert_eq!(c.breaker_failure_threshold, 5);
        assert_eq!(c.breaker_open, Duration::from_secs(10));
        assert_eq!(c.upstream_timeout, Duration::from_secs(3));
        assert_eq!(c.intake_depth_interval, Duration::from_millis(500));
        assert_eq!(c.amqp.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.intake_retry_delay, Duration::from_secs(5));
        assert_eq!(c.intake_max_retries, 720);
        assert_eq!(c.sweep_every, Duration::from_secs(30));
        assert_eq!(c.sweep_after, Duration::from_secs(60));
        assert_eq!(c.idempotency_key_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(c.payment_deadline, Duration::from_secs(300));
    }

    #[test]
    fn the_payment_deadline_is_read_and_fits_in_the_retry_window() {
        let c = Config::from_env(&env(&[("ORDERS_PAYMENT_DEADLINE_MS", "20000")])).unwrap();
        assert_eq!(c.payment_deadline, Duration::from_secs(20));
        // Half of the default window (720 x 5 s) is the longest.
        let c = Config::from_env(&env(&[("ORDERS_PAYMENT_DEADLINE_MS", "1800000")])).unwrap();
        assert_eq!(c.payment_deadline, Duration::from_secs(1800));
        for bad in ["0", "1800001", "-5", "soon"] {
            let err = Config::from_env(&env(&[("ORDERS_PAYMENT_DEADLINE_MS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("ORDERS_PAYMENT_DEADLINE_MS"), "{bad}: {err}");
        }
        let err = Config::from_env(&env(&[
            ("ORDERS_INTAKE_RETRY_DELAY_MS", "1000"),
            ("ORDERS_INTAKE_MAX_RETRIES", "10"),
            ("ORDERS_PAYMENT_DEADLINE_MS", "6000"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("ORDERS_PAYMENT_DEADLINE_MS"), "{err}");
        assert!(err.contains("10000 ms"), "names the window: {err}");
        // Unset with a short retry window: half of it, not five minutes.
        let c = Config::from_env(&env(&[
            ("ORDERS_INTAKE_RETRY_DELAY_MS", "500"),
            ("ORDERS_INTAKE_MAX_RETRIES", "20"),
        ]))
        .unwrap();
        assert_eq!(c.payment_deadline, Duration::from_secs(5));
        // No retries at all: no time to wait for payments.
        let err = Config::from_env(&env(&[("ORDERS_INTAKE_MAX_RETRIES", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ORDERS_PAYMENT_DEADLINE_MS"), "{err}");
        assert!(err.contains("ORDERS_INTAKE_MAX_RETRIES"), "{err}");
    }

    #[test]
    fn the_idempotency_key_ttl_is_read_and_bounded() {
        let c = Config::from_env(&env(&[("IDEMPOTENCY_KEY_TTL_SECS", "60")])).unwrap();
        assert_eq!(c.idempotency_key_ttl, Duration::from_secs(60));
        for bad in ["0", "-1", "soon", "31536001"] {
            let err = Config::from_env(&env(&[("IDEMPOTENCY_KEY_TTL_SECS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("IDEMPOTENCY_KEY_TTL_SECS"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_sweeper_waits_longer_than_a_retry() {
        let c = Config::from_env(&env(&[
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
        let err = Config::from_env(&env(&[
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
            let err = Config::from_env(&env(&[(name, "0")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
        }
        let err = Config::from_env(&env(&[("ORDERS_INTAKE_MAX_RETRIES", "-1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ORDERS_INTAKE_MAX_RETRIES"), "{err}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Config::from_env(&env(&[("ORDERS_WORKER_CONCURRENCY", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ORDERS_WORKER_CONCURRENCY"), "{err}");
        let err = Config::from_env(&env(&[("BREAKER_OPEN_MS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("BREAKER_OPEN_MS"), "{err}");
        let err = Config::from_env(&env(&[("INTAKE_DEPTH_INTERVAL_MS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("INTAKE_DEPTH_INTERVAL_MS"), "{err}");
        let c = Config::from_env(&env(&[("INTAKE_DEPTH_INTERVAL_MS", "100")])).unwrap();
        assert_eq!(c.intake_depth_interval, Duration::from_millis(100));
        let c = Config::from_env(&env(&[("PAYMENTS_URL", "http://p:1/")])).unwrap();
        assert_eq!(c.payments_url, "http://p:1");
    }
}
