//! Settings of the inventory service, read from the environment with the documented
//! defaults (see `docs/src/sample-services.md`) through `service_kit::config`: `Vars` is
//! inventory's own variables as one serde struct, [`HttpSettings`] and [`DbSettings`] the ones
//! the services share. `DATABASE_URL` has no default (it holds credentials).

use std::path::PathBuf;

use serde::Deserialize;
use service_kit::{ConfigError, Env, db::DbSettings, server::HttpSettings};

/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 8083;

/// What `DATABASE_URL`'s error says when it is missing.
const DATABASE_URL_HINT: &str = "the PostgreSQL database of the catalogue and reservations, \
     e.g. postgres://USER:PASSWORD@HOST:5432/inventory (created if missing)";

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `PORT`, `REQUEST_TIMEOUT_MS`, `SHUTDOWN_TIMEOUT_MS`.
    pub http: HttpSettings,
    /// `DATABASE_URL` (required: the service's own database, created if missing),
    /// `DB_CONNECT_TIMEOUT_MS`, `DB_STATEMENT_TIMEOUT_MS`.
    pub db: DbSettings,
    /// `INVENTORY_SEED_FILE`: a product list to seed from instead of the embedded one.
    pub seed_file: Option<PathBuf>,
}

/// inventory's own variables.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct Vars {
    inventory_seed_file: Option<PathBuf>,
}

impl Config {
    /// Reads the settings; a bad value is an error naming the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: Vars = env.load()?;
        Ok(Self {
            http: HttpSettings::from_env(env, DEFAULT_PORT)?,
            db: DbSettings::from_env(env, DATABASE_URL_HINT)?,
            seed_file: vars.inventory_seed_file,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const URL: &str = "postgres://u:p@db/inv";

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::from_env(&Env::from_pairs([("DATABASE_URL", URL)])).unwrap();
        assert_eq!(config.http, HttpSettings::new(8083));
        assert_eq!(config.db.url, URL);
        assert_eq!(config.db.statement_timeout, Duration::from_secs(5));
        assert_eq!(config.db.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.seed_file, None);
    }

    #[test]
    fn variables_override_defaults() {
        let env = Env::from_pairs([
            ("PORT", "9000"),
            ("DATABASE_URL", URL),
            ("DB_STATEMENT_TIMEOUT_MS", "1200"),
            ("REQUEST_TIMEOUT_MS", "3000"),
            ("INVENTORY_SEED_FILE", "/data/products.json"),
        ]);
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.http.port, 9000);
        assert_eq!(config.http.request_timeout, Duration::from_secs(3));
        assert_eq!(config.db.statement_timeout, Duration::from_millis(1200));
        assert_eq!(config.seed_file, Some(PathBuf::from("/data/products.json")));
    }

    #[test]
    fn there_is_no_default_database_and_so_no_default_credentials() {
        for env in [
            Env::from_pairs::<[(&str, &str); 0], &str, &str>([]),
            Env::from_pairs([("DATABASE_URL", "")]),
        ] {
            let err = Config::from_env(&env).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Missing { name, .. } if name == "DATABASE_URL"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_zero_timeout_or_a_bad_value_names_the_variable() {
        for (name, value) in [
            ("DB_STATEMENT_TIMEOUT_MS", "0"),
            ("DB_CONNECT_TIMEOUT_MS", "0"),
            ("REQUEST_TIMEOUT_MS", "0"),
            ("SHUTDOWN_TIMEOUT_MS", "0"),
            ("PORT", "x"),
            ("DB_STATEMENT_TIMEOUT_MS", "5s"),
        ] {
            let err = Config::from_env(&Env::from_pairs([("DATABASE_URL", URL), (name, value)]))
                .unwrap_err();
            assert_eq!(err.variable(), name, "{err}");
            let text = err.to_string();
            assert!(text.contains(&format!("{name}={value:?}")), "{text}");
            assert!(text.contains("expected"), "{text}");
        }
    }
}
