//! Settings of the payments service, read from the environment with the documented
//! defaults (see `docs/sample-services.md`).

use std::collections::BTreeSet;

use service_kit::{ConfigError, Env};

/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 8082;
/// Default `PAYMENTS_LIMIT_CENTS`: payments above this amount are declined.
pub const DEFAULT_LIMIT_CENTS: i64 = 500_000;
/// Default `PAYMENTS_BLOCKED_CUSTOMERS`.
pub const DEFAULT_BLOCKED_CUSTOMERS: &str = "blocked-customer";

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `PORT`.
    pub port: u16,
    /// `PAYMENTS_LIMIT_CENTS`: the largest amount that is authorised.
    pub limit_cents: i64,
    /// `PAYMENTS_BLOCKED_CUSTOMERS` (comma-separated): customers whose payments are declined.
    pub blocked_customers: BTreeSet<String>,
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
        Ok(Self {
            port,
            limit_cents,
            blocked_customers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract() {
        let config =
            Config::from_env(&Env::from_pairs::<[(&str, &str); 0], &str, &str>([])).unwrap();
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
            let env = Env::from_pairs([("PAYMENTS_LIMIT_CENTS", value)]);
            let err = Config::from_env(&env).unwrap_err().to_string();
            assert!(err.contains("PAYMENTS_LIMIT_CENTS"), "{err}");
        }
    }
}
