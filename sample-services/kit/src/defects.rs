//! Planted defects: documented bugs of the sample system that [`VARIABLE`]
//! (`SAMPLE_DEFECTS=name,name`) switches back on, so that Harness's checks can be measured by
//! the defects they find (`suites/defects/expected.toml`, the `defects` level of
//! `harness run`; `docs/src/sample-services.md`, "Planted defects").
//!
//! Each [`Defect`] is one small `if defects::is_on(Defect::...)` in a service's code, on a
//! path ordinary traffic takes, restoring a behaviour the sample system once had. With the
//! variable unset (or blank) every switch is off and the services behave as documented.
//!
//! The variable is read once per process: at start-up by [`init`], which refuses an unknown
//! name (a [`ConfigError`] naming the variable and every known defect; the services exit 2,
//! as for any other setting), then [`log_active`] logs each active defect as a warning. A
//! process that never called [`init`] (a service's own tests, in process) reads it at the
//! first [`is_on`]. Nothing else can switch a defect on: no request, header or message
//! reaches it.

use std::{fmt, sync::OnceLock};

use crate::{ConfigError, Env};

/// The environment variable that switches defects on: a comma-separated list of names.
pub const VARIABLE: &str = "SAMPLE_DEFECTS";

/// Every planted defect of the sample system. An enum, so a misspelt switch does not
/// compile; [`Defect::name`] is the name [`VARIABLE`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Defect {
    /// gateway: a body's `customer_id` naming another customer is forwarded as the
    /// customer (instead of a 403), so an order is placed for someone else.
    BolaCreate,
    /// orders: `GET /orders/{id}` answers another customer's order (instead of a 404).
    BolaRead,
    /// gateway: without `JWT_SECRET` it starts with a public default secret (a warning
    /// only, instead of refusing to start).
    JwtDefaultSecret,
    /// inventory: `GET /products/{sku}` hands a SKU with a NUL byte to PostgreSQL, which
    /// refuses it: a 500 (instead of a 404).
    Nul500,
    /// orders: a payments outage rejects the order (`REJECTED payment_unavailable`)
    /// instead of letting it wait for payments.
    OutageRejects,
    /// orders: an order given up on (its payment deadline passed) has its stock released
    /// and is cancelled without its payment being voided: money may stay held for it.
    ChargeWithoutOrder,
    /// orders: the process exits (code 1) when its RabbitMQ connection is lost, instead of
    /// reconnecting.
    ExitOnBrokerLoss,
    /// orders: an intake message that can never be processed is requeued (nack with
    /// requeue) instead of dead-lettered.
    PoisonRequeue,
    /// orders: an `Idempotency-Key` is looked up whoever the customer is: another
    /// customer's equal key answers the first customer's order.
    GlobalIdempotency,
    /// orders: its calls to inventory and payments carry no `traceparent`.
    DropTraceparent,
    /// payments: `GET /payments/{id}` serves the optional `decline_reason` as
    /// `declined_reason` (no schema breaks: the field is optional).
    ResponseDrift,
    /// inventory: `GET /products` (the gateway's `GET /api/products`) sleeps 500 ms.
    SlowRoute,
    /// gateway: expired bearer tokens are accepted.
    IgnoreExpiry,
}

impl Defect {
    /// Every defect, in the catalogue's order.
    pub const ALL: [Defect; 13] = [
        Defect::BolaCreate,
        Defect::BolaRead,
        Defect::JwtDefaultSecret,
        Defect::Nul500,
        Defect::OutageRejects,
        Defect::ChargeWithoutOrder,
        Defect::ExitOnBrokerLoss,
        Defect::PoisonRequeue,
        Defect::GlobalIdempotency,
        Defect::DropTraceparent,
        Defect::ResponseDrift,
        Defect::SlowRoute,
        Defect::IgnoreExpiry,
    ];

    /// The name [`VARIABLE`] takes (`bola-read`).
    pub fn name(self) -> &'static str {
        match self {
            Self::BolaCreate => "bola-create",
            Self::BolaRead => "bola-read",
            Self::JwtDefaultSecret => "jwt-default-secret",
            Self::Nul500 => "nul-500",
            Self::OutageRejects => "outage-rejects",
            Self::ChargeWithoutOrder => "charge-without-order",
            Self::ExitOnBrokerLoss => "exit-on-broker-loss",
            Self::PoisonRequeue => "poison-requeue",
            Self::GlobalIdempotency => "global-idempotency",
            Self::DropTraceparent => "drop-traceparent",
            Self::ResponseDrift => "response-drift",
            Self::SlowRoute => "slow-route",
            Self::IgnoreExpiry => "ignore-expiry",
        }
    }

    /// The service whose code holds the switch.
    pub fn service(self) -> &'static str {
        match self {
            Self::BolaCreate | Self::JwtDefaultSecret | Self::IgnoreExpiry => "gateway",
            Self::BolaRead
            | Self::OutageRejects
            | Self::ChargeWithoutOrder
            | Self::ExitOnBrokerLoss
            | Self::PoisonRequeue
            | Self::GlobalIdempotency
            | Self::DropTraceparent => "orders",
            Self::Nul500 | Self::SlowRoute => "inventory",
            Self::ResponseDrift => "payments",
        }
    }

    /// What it breaks, in a few words (the start-up warning says it).
    pub fn breaks(self) -> &'static str {
        match self {
            Self::BolaCreate => "an order can be placed for another customer",
            Self::BolaRead => "another customer's order can be read",
            Self::JwtDefaultSecret => "without JWT_SECRET, tokens are checked with a public secret",
            Self::Nul500 => "a NUL byte in a SKU reaches PostgreSQL and answers 500",
            Self::OutageRejects => "a payments outage rejects orders instead of waiting",
            Self::ChargeWithoutOrder => {
                "a cancelled order's stock is released without voiding its payment"
            }
            Self::ExitOnBrokerLoss => "the process exits when the broker connection is lost",
            Self::PoisonRequeue => "poison messages are requeued instead of dead-lettered",
            Self::GlobalIdempotency => "idempotency keys are shared between customers",
            Self::DropTraceparent => "calls to inventory and payments carry no traceparent",
            Self::ResponseDrift => {
                "GET /payments/{id} serves the optional decline_reason as declined_reason"
            }
            Self::SlowRoute => "GET /products sleeps 500 ms",
            Self::IgnoreExpiry => "expired tokens are accepted",
        }
    }

    /// The defect called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The defects switched on in this process (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defects {
    on: Vec<Defect>,
}

impl Defects {
    /// No defect: the documented behaviour.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads [`VARIABLE`] from `env`: unset or blank, none.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.raw(VARIABLE)
            .map_or_else(|| Ok(Self::none()), |value| Self::parse(&value))
    }

    /// Parses a comma-separated list of defect names (surrounding whitespace and empty
    /// entries ignored, a name given twice counted once). An unknown name is an error
    /// naming it and every known one.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let mut on = Vec::new();
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(defect) = Defect::from_name(name) else {
                let known: Vec<&str> = Defect::ALL.iter().map(|d| d.name()).collect();
                return Err(ConfigError::invalid(
                    VARIABLE,
                    value,
                    format!("{name:?} is not a planted defect"),
                    format!(
                        "a comma-separated list of planted defects: {}",
                        known.join(", ")
                    ),
                ));
            };
            if !on.contains(&defect) {
                on.push(defect);
            }
        }
        on.sort();
        Ok(Self { on })
    }

    /// Whether `defect` is switched on.
    pub fn is_on(&self, defect: Defect) -> bool {
        self.on.contains(&defect)
    }

    /// The defects switched on, in [`Defect::ALL`]'s order.
    pub fn on(&self) -> &[Defect] {
        &self.on
    }
}

static ACTIVE: OnceLock<Defects> = OnceLock::new();

/// Reads [`VARIABLE`] once, at start-up, before anything asks [`is_on`]. An unknown name is
/// an error (the service exits 2 with it). Once read, the process's defects never change:
/// a second call answers the first reading.
pub fn init(env: &Env) -> Result<&'static Defects, ConfigError> {
    if let Some(read) = ACTIVE.get() {
        return Ok(read);
    }
    let read = Defects::from_env(env)?;
    Ok(ACTIVE.get_or_init(|| read))
}

/// The process's defects: [`init`]'s reading, or the process environment's at the first call
/// (a process that does not run [`init`]: a service's tests, in process).
///
/// # Panics
/// When [`init`] was not called and [`VARIABLE`] names an unknown defect.
pub fn active() -> &'static Defects {
    ACTIVE.get_or_init(|| Defects::from_env(&Env::process()).unwrap_or_else(|e| panic!("{e}")))
}

/// Whether `defect` is switched on in this process.
pub fn is_on(defect: Defect) -> bool {
    active().is_on(defect)
}

/// Logs each active defect as a warning (`service` is the one logging: the defects whose
/// switch is elsewhere are logged too, saying so). Call it once logging is set up.
pub fn log_active(service: &str) {
    for defect in active().on() {
        let here = defect.service() == service;
        tracing::warn!(
            defect = defect.name(),
            variable = VARIABLE,
            switch_in = defect.service(),
            "planted defect switched on{}: {}",
            if here {
                ""
            } else {
                " (its switch is in another service)"
            },
            defect.breaks()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_read_back() {
        for defect in Defect::ALL {
            assert_eq!(Defect::from_name(defect.name()), Some(defect));
            assert_eq!(defect.to_string(), defect.name());
        }
        let mut names: Vec<&str> = Defect::ALL.iter().map(|d| d.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Defect::ALL.len());
        let mut sorted = Defect::ALL;
        sorted.sort();
        assert_eq!(sorted, Defect::ALL, "ALL is in the enum's order");
    }

    #[test]
    fn unset_or_blank_is_none() {
        let none = Defects::from_env(&Env::from_pairs::<[(&str, &str); 0], _, _>([])).unwrap();
        assert_eq!(none, Defects::none());
        assert!(Defect::ALL.iter().all(|d| !none.is_on(*d)));
        let blank = Defects::from_env(&Env::from_pairs([(VARIABLE, "  ")])).unwrap();
        assert_eq!(blank, Defects::none());
    }

    #[test]
    fn a_list_switches_on_its_defects_only() {
        let read = Defects::from_env(&Env::from_pairs([(
            VARIABLE,
            " slow-route, bola-read,,bola-read ",
        )]))
        .unwrap();
        assert_eq!(read.on(), [Defect::BolaRead, Defect::SlowRoute]);
        assert!(read.is_on(Defect::BolaRead));
        assert!(read.is_on(Defect::SlowRoute));
        assert!(!read.is_on(Defect::BolaCreate));
    }

    #[test]
    fn an_unknown_name_is_refused_naming_it_and_the_known_ones() {
        let err = Defects::parse("bola-read,bola-raed").unwrap_err();
        assert_eq!(err.variable(), VARIABLE);
        let text = err.to_string();
        assert!(
            text.contains("\"bola-raed\" is not a planted defect"),
            "{text}"
        );
        for defect in Defect::ALL {
            assert!(text.contains(defect.name()), "{text}");
        }
        // Names are exact: no case folding, no partial names.
        assert!(Defects::parse("BOLA-READ").is_err());
        assert!(Defects::parse("bola").is_err());
    }
}
