//! Settings of the payments service, read from the environment with the documented
//! defaults (see `docs/src/sample-services.md`). `DATABASE_URL` has no default: it holds
//! credentials, so start-up fails naming it when it is missing.

use std::collections::BTreeSet;

use service_kit::{ConfigError, Env};

/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 8082;
/// Default `PAYMENTS_LIMIT_CENTS`: payments above this amount are declined.
pub const DEFAULT_LIMIT_CENTS: i64 = 500_000;
/// Default `PAYMENTS_BLOCKED_CUSTOMERS`.
pub const DEFAULT_BLOCKED_CUSTOMERS: &str = "blocked-customer";
/// Size of the connection pool.
pub const DB_MAX_CONNECTIONS: u32 = 10;

/// What `DATABASE_URL`'s error says when it is missing.
const DATABASE_URL_HINT: &str = "the PostgreSQL database of the payments ledger, e.g. \
     postgres://USER:PASSWORD@HOST:5432/payments (created if missing); \
     PAYMENTS_LEDGER=memory instead keeps a ledger that forgets every payment on restart";

/// Where the ledger is kept (`PAYMENTS_LEDGER`).
#[derive(Clone, PartialEq, Eq)]
pub enum LedgerSetting {
    /// `postgres` (the default): in the database `DATABASE_URL` names.
    Postgres {
        /// `DATABASE_URL` (required; it holds credentials, so it has no default).
        database_url: String,
    },
    /// `memory`: in the process, forgotten on restart, so a restart also forgets which
    /// orders were paid. For a small container in Harness's own tests of its stack
    /// machinery; never what the sample system runs.
    Memory,
}

impl std::fmt::Debug for LedgerSetting {
    // The URL holds a password: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Postgres { .. } => f.write_str("Postgres { database_url: <redacted> }"),
            Self::Memory => f.write_str("Memory"),
        }
    }
}

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `PORT`.
    pub port: u16,
    /// `PAYMENTS_LIMIT_CENTS`: the largest amount that is authorised.
    pub limit_cents: i64,
    /// `PAYMENTS_BLOCKED_CUSTOMERS` (comma-separated): customers whose payments are declined.
    pub blocked_customers: BTreeSet<String>,
    /// `PAYMENTS_LEDGER` and `DATABASE_URL`: where payments are recorded.
    pub ledger: LedgerSetting,
}

impl Config {
    /// Reads the settings; a bad value is an error naming the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let port = env.port(DEFAULT_PORT)?;
        let limit_cents: i64 = env.parse(
            "PAYMENTS_LIMIT_CENTS",
            DEFAULT_LIMIT_CENTS,
            "a whole number of cents, 0 or more",
        )?;
        if limit_cents < 0 {
            return Err(ConfigError::Invalid {
                name: "PAYMENTS_LIMIT_CENTS".to_owned(),
                value: limit_cents.to_string(),
                reason: "the limit cannot be negative".to_owned(),
                expected: "a whole number of cents, 0 or more",
            });
        }
        let blocked_customers = env
            .string("PAYMENTS_BLOCKED_CUSTOMERS", DEFAULT_BLOCKED_CUSTOMERS)
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let ledger = match env.string("PAYMENTS_LEDGER", "postgres").trim() {
            "postgres" => LedgerSetting::Postgres {
                database_url: env.required("DATABASE_URL", DATABASE_URL_HINT)?,
            },
            "memory" => {
                if let Some(url) = env.raw("DATABASE_URL") {
                    return Err(ConfigError::Invalid {
                        name: "DATABASE_URL".to_owned(),
                        value: redact(&url),
                        reason: "PAYMENTS_LEDGER=memory keeps no database".to_owned(),
                        expected: "DATABASE_URL unset with PAYMENTS_LEDGER=memory, \
                                   or PAYMENTS_LEDGER=postgres",
                    });
                }
                LedgerSetting::Memory
            }
            other => {
                return Err(ConfigError::Invalid {
                    name: "PAYMENTS_LEDGER".to_owned(),
                    value: other.to_owned(),
                    reason: "not a ledger".to_owned(),
                    expected: "postgres (the default) or memory",
                });
            }
        };
        Ok(Self {
            port,
            limit_cents,
            blocked_customers,
            ledger,
        })
    }
}

/// A URL for an error message: the password, if any, replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgres://payments:s3cret@db:5432/payments";

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::from_env(&Env::from_pairs([("DATABASE_URL", URL)])).unwrap();
        assert_eq!(
            config.ledger,
            LedgerSetting::Postgres {
                database_url: URL.to_owned()
            }
        );
        assert_eq!(config.port, 8082);
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
        assert_eq!(config.port, 9999);
        assert_eq!(config.limit_cents, 100);
        assert_eq!(
            config.blocked_customers.iter().collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn bad_limit_names_the_variable() {
        for value in ["lots", "-5"] {
            let env = Env::from_pairs([("PAYMENTS_LIMIT_CENTS", value), ("DATABASE_URL", URL)]);
            let err = Config::from_env(&env).unwrap_err().to_string();
            assert!(err.contains("PAYMENTS_LIMIT_CENTS"), "{err}");
        }
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
        assert!(err.contains("postgres (the default) or memory"), "{err}");
    }

    #[test]
    fn the_database_url_is_never_printed() {
        let config = Config::from_env(&Env::from_pairs([("DATABASE_URL", URL)])).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("not a url"), "not a url");
    }
}
