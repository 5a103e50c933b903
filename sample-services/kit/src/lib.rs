//! The one small crate shared by the sample services (gateway, orders, payments,
//! inventory, shipping).
//!
//! It holds what every service needs and nothing domain-specific: configuration from the
//! environment, JSON logs, Prometheus metrics, health endpoints, RFC 9457 problem bodies,
//! a JSON extractor that names the offending field, graceful shutdown, retrying dependencies at start, the `--healthcheck`
//! probe used by `FROM scratch` images, the check that keeps `contracts/openapi`
//! in step with the code, the TLS crypto provider HTTP clients need
//! ([`tls::ensure_crypto_provider`]), and the caller's identity behind the gateway
//! ([`customer`]: the `X-Customer-Id` header and its extractor), W3C trace context
//! ([`tracecontext`]) and, with the `amqp` feature, RabbitMQ that survives the broker's
//! restarts (`amqp`), and the planted defects that `SAMPLE_DEFECTS` switches on
//! ([`defects`]). See `docs/ARCHITECTURE.md` for how the services use it.

#[cfg(feature = "amqp")]
pub mod amqp;
pub mod config;
pub mod customer;
pub mod db;
pub mod defects;
pub mod extract;
pub mod health;
pub mod healthcheck;
pub mod http_metrics;
pub mod openapi;
pub mod problem;
pub mod server;
pub mod startup;
pub mod telemetry;
pub mod tls;
pub mod tracecontext;

pub use config::{ConfigError, Env};
pub use extract::{Json, Path, Query};
pub use health::{Check, Health, ReadinessCheck};
pub use problem::{Invalid, Problem};
