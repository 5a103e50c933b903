//! Settings of the payments service, read from the environment with the documented
//! defaults (see `docs/src/sample-services.md`) through `service_kit::config`: `Vars` is
//! payments' own variables as one serde struct, [`HttpSettings`] and [`DbSettings`] the ones
//! the services share. `DATABASE_URL` has no default: it holds credentials, so start-up fails
//! naming it when it is missing.

use std::collections::BTreeSet;

use serde::Deserialize;
use service_kit::{ConfigError, Env, db::DbSettings, server::HttpSettings};

/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 8082;
/// Default `PAYMENTS_LIMIT_CENTS`: payments above this amount are declined.
pub const DEFAULT_LIMIT_CENTS: i64 = 500_000;
/// Default `PAYMENTS_BLOCKED_CUSTOMERS`.
pub const DEFAULT_BLOCKED_CUSTOMERS: &str = "blocked-customer";

/// What `DATABASE_URL`'s error says when it is missing.
const DATABASE_URL_HINT: &str = "the PostgreSQL database of the payments ledger, e.g. \
     postgres://USER:PASSWORD@HOST:5432/payments (created if missing); \
     PAYMENTS_LEDGER=memory instead keeps a ledger that forgets every payment on restart";

/// Where the ledger is kept (`PAYMENTS_LEDGER`).
#[derive(Clone, PartialEq, Eq)]
pub enum LedgerSetting {
    /// `postgres` (the default): in the database `DATABASE_URL` names, with the
    /// `DB_CONNECT_TIMEOUT_MS` and `DB_STATEMENT_TIMEOUT_MS` timeouts.
    Postgres(DbSettings),
    /// `memory`: in the process, forgotten on restart, so a restart also forgets which
    /// orders were paid. For a small container in Harness's own tests of its stack
    /// machinery; never what the sample system runs.
    Memory,
}

impl std::fmt::Debug for LedgerSetting {
    // The URL holds a password: DbSettings prints it redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Postgres(db) => f.debug_tuple("Postgres").field(db).finish(),
            Self::Memory => f.write_str("Memory"),
        }
    }
}

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `PORT`, `REQUEST_TIMEOUT_MS`, `SHUTDOWN_TIMEOUT_MS`.
    pub http: HttpSettings,
    /// `PAYMENTS_LIMIT_CENTS`: the largest amount that is authorised.
    pub limit_cents: i64,
    /// `PAYMENTS_BLOCKED_CUSTOMERS` (comma-separated): customers whose payments are declined.
    pub blocked_customers: BTreeSet<String>,
    /// `PAYMENTS_LEDGER` and `DATABASE_URL`: where payments are recorded.
    pub ledger: LedgerSetting,
}

/// `PAYMENTS_LEDGER`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LedgerKind {
    Postgres,
    Memory,
}

/// payments' own variables, with their defaults.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", default)]
struct Vars {
    payments_limit_cents: u64,
    payments_blocked_customers: String,
    payments_ledger: LedgerKind,
}

impl Default for Vars {
    fn default() -> Self {
        Self {
            payments_limit_cents: DEFAULT_LIMIT_CENTS.unsigned_abs(),
            payments_blocked_customers: DEFAULT_BLOCKED_CUSTOMERS.to_owned(),
            payments_ledger: LedgerKind::Postgres,
        }
    }
}

impl Config {
    /// Reads the settings; a bad value is an error naming the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let http = HttpSettings::from_env(env, DEFAULT_PORT)?;
        let vars: Vars = env.load()?;
        let blocked_customers = vars
            .payments_blocked_customers
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let ledger = match vars.payments_ledger {
            LedgerKind::Postgres => {
                LedgerSetting::Postgres(DbSettings::from_env(env, DATABASE_URL_HINT)?)
            }
            LedgerKind::Memory => {
                if let Some(url) = env.raw("DATABASE_URL") {
                    return Err(ConfigError::invalid(
                        "DATABASE_URL",
                        service_kit::config::redact_url(&url),
                        "PAYMENTS_LEDGER=memory keeps no database",
                        "DATABASE_URL unset with PAYMENTS_LEDGER=memory, \
                         or PAYMENTS_LEDGER=postgres",
                    ));
                }
                LedgerSetting::Memory
            }
        };
        let limit_cents = i64::try_from(vars.payments_limit_cents).map_err(|_| {
            ConfigError::invalid(
                "PAYMENTS_LIMIT_CENTS",
                vars.payments_limit_cents.to_string(),
                "out of range",
                format!("a whole number of cents, 0 to {}", i64::MAX),
            )
        })?;
        Ok(Self {
            http,
            limit_cents,
            blocked_customers,
            ledger,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const URL: &str = "postgres://payments:s3cret@db:5432/payments";

    fn db(url: &str) -> LedgerSetting {
        LedgerSetting::Postgres(
            DbSettings::from_env(&Env::from_pairs([("DATABASE_URL", url)]), "").unwrap(),
        )
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::from_env(&Env::from_pairs([("DATABASE_URL", URL)])).unwrap();
        assert_eq!(config.ledger, db(URL));
        let LedgerSetting::Postgres(settings) = &config.ledger else {
            unreachable!()
        };
        assert_eq!(settings.url, URL);
        assert_eq!(settings.statement_timeout, Duration::from_secs(5));
        assert_eq!(settings.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.http, HttpSettings::new(8082));
        assert_eq!(config.limit_cents, 500_000);
        assert_eq!(
            config.blocked_customers.iter().collect::<Vec<_>>(),
            ["blocked-customer"]
        );
    }

    #[test]
    fn blocked_customers_are_comma_separated_and_trimmed() {
        let env = Env::from_pairs([
            ("PAYMENTS_BLOCKED_CUSTOMERS", " a, b ,,c "),
            ("PAYMENTS_LIMIT_CENTS", "100"),
            ("PORT", "9999"),
            ("DATABASE_URL", URL),
        ]);
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.http.port, 9999);
        assert_eq!(config.limit_cents, 100);
        assert_eq!(
            config.blocked_customers.iter().collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        // A customer named like a number stays a name.
        let env = Env::from_pairs([("PAYMENTS_BLOCKED_CUSTOMERS", "123"), ("DATABASE_URL", URL)]);
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.blocked_customers.iter().collect::<Vec<_>>(), ["123"]);
    }

    #[test]
    fn bad_limit_names_the_variable_and_the_value() {
        for value in ["lots", "-5", "1.5"] {
            let env = Env::from_pairs([("PAYMENTS_LIMIT_CENTS", value), ("DATABASE_URL", URL)]);
            let err = Config::from_env(&env).unwrap_err();
            assert_eq!(err.variable(), "PAYMENTS_LIMIT_CENTS");
            let text = err.to_string();
            assert!(
                text.contains(&format!("PAYMENTS_LIMIT_CENTS={value:?}")),
                "{text}"
            );
            assert!(text.contains("0 or more"), "{text}");
        }
    }

    #[test]
    fn zero_timeouts_are_refused() {
        for name in [
            "DB_STATEMENT_TIMEOUT_MS",
            "DB_CONNECT_TIMEOUT_MS",
            "REQUEST_TIMEOUT_MS",
            "SHUTDOWN_TIMEOUT_MS",
        ] {
            let env = Env::from_pairs([(name, "0"), ("DATABASE_URL", URL)]);
            let err = Config::from_env(&env).unwrap_err();
            assert_eq!(err.variable(), name, "{err}");
            assert!(err.to_string().contains("at least 1"), "{err}");
        }
        let env = Env::from_pairs([("DB_STATEMENT_TIMEOUT_MS", "1500"), ("DATABASE_URL", URL)]);
        let LedgerSetting::Postgres(db) = Config::from_env(&env).unwrap().ledger else {
            panic!("the postgres ledger")
        };
        assert_eq!(db.statement_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn the_database_url_is_required_and_has_no_default() {
        for env in [
            Env::from_pairs::<[(&str, &str); 0], &str, &str>([]),
            Env::from_pairs([("DATABASE_URL", "  ")]),
            Env::from_pairs([("PAYMENTS_LEDGER", "postgres")]),
        ] {
            let err = Config::from_env(&env).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Missing { name, .. } if name == "DATABASE_URL"),
                "{err}"
            );
            let message = err.to_string();
            assert!(message.contains("DATABASE_URL"), "{message}");
            assert!(message.contains("PAYMENTS_LEDGER=memory"), "{message}");
        }
    }

    #[test]
    fn the_memory_ledger_is_chosen_explicitly_and_alone() {
        let config = Config::from_env(&Env::from_pairs([("PAYMENTS_LEDGER", "memory")])).unwrap();
        assert_eq!(config.ledger, LedgerSetting::Memory);

        let both = Env::from_pairs([("PAYMENTS_LEDGER", "memory"), ("DATABASE_URL", URL)]);
        let err = Config::from_env(&both).unwrap_err().to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
        assert!(!err.contains("s3cret"), "the password leaked: {err}");
        assert!(err.contains("payments:***@db:5432"), "{err}");

        let other = Env::from_pairs([("PAYMENTS_LEDGER", "redis"), ("DATABASE_URL", URL)]);
        let err = Config::from_env(&other).unwrap_err().to_string();
        assert!(err.contains("PAYMENTS_LEDGER=\"redis\""), "{err}");
        assert!(err.contains("one of postgres, memory"), "{err}");
    }

    #[test]
    fn the_database_url_is_never_printed() {
        let config = Config::from_env(&Env::from_pairs([("DATABASE_URL", URL)])).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("payments:***@db"), "{printed}");
    }
}
