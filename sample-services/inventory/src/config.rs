//! Settings of the inventory service, read from the environment with the documented
//! defaults (see `docs/sample-services.md`).

use std::path::PathBuf;

use service_kit::{ConfigError, Env};

/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 8083;
/// Default `DATABASE_URL`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/inventory";
/// Size of the connection pool.
pub const DB_MAX_CONNECTIONS: u32 = 10;

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `PORT`.
    pub port: u16,
    /// `DATABASE_URL`: the service's own database (created if missing).
    pub database_url: String,
    /// `INVENTORY_SEED_FILE`: a product list to seed from instead of the embedded one.
    pub seed_file: Option<PathBuf>,
}

impl Config {
    /// Reads the settings; a bad value is an error naming the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            port: env.port(DEFAULT_PORT)?,
            database_url: env.string("DATABASE_URL", DEFAULT_DATABASE_URL),
            seed_file: env.raw("INVENTORY_SEED_FILE").map(PathBuf::from),
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
        assert_eq!(config.port, 8083);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.seed_file, None);
    }

    #[test]
    fn variables_override_defaults() {
        let env = Env::from_pairs([
            ("PORT", "9000"),
            ("DATABASE_URL", "postgres://u:p@db/inv"),
            ("INVENTORY_SEED_FILE", "/data/products.json"),
        ]);
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.port, 9000);
        assert_eq!(config.database_url, "postgres://u:p@db/inv");
        assert_eq!(config.seed_file, Some(PathBuf::from("/data/products.json")));
        let err = Config::from_env(&Env::from_pairs([("PORT", "x")])).unwrap_err();
        assert!(err.to_string().contains("PORT"));
    }
}
