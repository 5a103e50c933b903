//! PostgreSQL: the settings (`DATABASE_URL`, `DB_CONNECT_TIMEOUT_MS`,
//! `DB_STATEMENT_TIMEOUT_MS`), connecting with retries, creating the service's own database
//! when missing (database per service), and running its migrations.
//!
//! Every connection of the pool is opened with `statement_timeout` set (a start-up option of
//! the connection, so it holds from its first statement and for every statement after): a
//! query stuck on a lock or a runaway plan is cancelled by PostgreSQL (SQLSTATE 57014) and the
//! request fails instead of holding a connection for ever. Opening a connection, and taking
//! one from the pool, is bounded by the connect timeout. Migrations run on a connection of
//! their own without the statement timeout (a migration may rightly take longer).

use std::{str::FromStr, time::Duration};

use serde::Deserialize;
use sqlx::{
    ConnectOptions, Connection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::{ConfigError, Env, config::Millis};

/// `DB_CONNECT_TIMEOUT_MS`'s default.
pub const DEFAULT_CONNECT_TIMEOUT: Millis = Millis::from_ms(5_000);
/// `DB_STATEMENT_TIMEOUT_MS`'s default: far above any statement of the sample services,
/// below the request timeout (10 s), so a stuck statement fails its request with a 503 of
/// the service's own.
pub const DEFAULT_STATEMENT_TIMEOUT: Millis = Millis::from_ms(5_000);
/// The size of each service's pool.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// Where the service's database is and how long its statements may take.
#[derive(Clone, PartialEq, Eq)]
pub struct DbSettings {
    /// `DATABASE_URL` (required: it holds credentials, so it has no default).
    pub url: String,
    /// `DB_CONNECT_TIMEOUT_MS` (5000): the longest opening one connection, or waiting for a
    /// free one of the pool, may take.
    pub connect_timeout: Duration,
    /// `DB_STATEMENT_TIMEOUT_MS` (5000): PostgreSQL's `statement_timeout` on every
    /// connection of the pool.
    pub statement_timeout: Duration,
    /// The pool's size.
    pub max_connections: u32,
}

impl std::fmt::Debug for DbSettings {
    // The URL holds a password: only its redacted form is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSettings")
            .field("url", &crate::config::redact_url(&self.url))
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct DbVars {
    database_url: Option<String>,
    db_connect_timeout_ms: Option<Millis>,
    db_statement_timeout_ms: Option<Millis>,
}

impl DbSettings {
    /// Reads `DATABASE_URL` (required; `hint` says what it names, for the error when it is
    /// missing), `DB_CONNECT_TIMEOUT_MS` and `DB_STATEMENT_TIMEOUT_MS` (whole milliseconds, at
    /// least 1). A URL that is not a PostgreSQL URL is an error naming `DATABASE_URL` (its
    /// password never shown).
    pub fn from_env(env: &Env, hint: &str) -> Result<Self, ConfigError> {
        let vars: DbVars = env.load()?;
        let url = crate::config::required(vars.database_url, "DATABASE_URL", hint)?;
        let refused = |reason: String| {
            ConfigError::invalid(
                "DATABASE_URL",
                crate::config::redact_url(&url),
                reason,
                "postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            )
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(refused("not a PostgreSQL URL".to_owned()));
        }
        if let Err(e) = PgConnectOptions::from_str(&url) {
            return Err(refused(e.to_string()));
        }
        Ok(Self {
            url,
            connect_timeout: vars
                .db_connect_timeout_ms
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
                .get(),
            statement_timeout: vars
                .db_statement_timeout_ms
                .unwrap_or(DEFAULT_STATEMENT_TIMEOUT)
                .get(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        })
    }

    /// The pool's connect options: the URL's, with `statement_timeout` set.
    pub fn pool_options(&self) -> Result<PgConnectOptions, DbError> {
        let options = PgConnectOptions::from_str(&self.url).map_err(DbError::Url)?;
        Ok(options.options([(
            "statement_timeout",
            format!("{}ms", self.statement_timeout.as_millis()),
        )]))
    }
}

/// Why the database could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("cannot reach PostgreSQL at {target} after {attempts} attempts: {source}")]
    Unreachable {
        target: String,
        attempts: u32,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create database {name}: {source}")]
    Create {
        name: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connects to the database `settings` name, creating it first if it does not exist, then
/// migrates. Retries the first connection for up to `wait` (the database may still be
/// starting), each attempt bounded by the connect timeout.
pub async fn connect(
    settings: &DbSettings,
    migrator: &Migrator,
    wait: Duration,
) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(&settings.url).map_err(DbError::Url)?;
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    );
    let mut attempts = 0;
    // Only an unreachable server is worth waiting for: other outcomes (ready, or an error
    // such as a failed CREATE DATABASE) end the wait and are returned as they are.
    let outcome = crate::startup::retry(&format!("postgres at {target}"), wait, || {
        attempts += 1;
        async {
            match ensure_database(&options, settings.connect_timeout).await {
                Err(DbError::Unreachable { source, .. }) => Err(source),
                other => Ok(other),
            }
        }
    })
    .await;
    match outcome {
        Ok(done) => done?,
        Err(source) => {
            return Err(DbError::Unreachable {
                target,
                attempts,
                source,
            });
        }
    }
    let unreachable = |source| DbError::Unreachable {
        target: target.clone(),
        attempts,
        source,
    };
    // Migrations on a connection of their own, without the statement timeout.
    let mut migrating = connect_once(&options, settings.connect_timeout)
        .await
        .map_err(unreachable)?;
    migrator.run(&mut migrating).await?;
    let _ = migrating.close().await;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        .connect_with(settings.pool_options()?)
        .await
        .map_err(unreachable)
}

/// One connection, its opening bounded by `timeout`.
async fn connect_once(
    options: &PgConnectOptions,
    timeout: Duration,
) -> Result<sqlx::PgConnection, sqlx::Error> {
    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(connected) => connected,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no connection within DB_CONNECT_TIMEOUT_MS ({} ms)",
                timeout.as_millis()
            ),
        ))),
    }
}

async fn ensure_database(options: &PgConnectOptions, timeout: Duration) -> Result<(), DbError> {
    let unreachable = |source| DbError::Unreachable {
        target: String::new(),
        attempts: 0,
        source,
    };
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    match connect_once(options, timeout).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            // invalid_catalog_name: the database does not exist yet.
            let mut admin = connect_once(&options.clone().database("postgres"), timeout)
                .await
                .map_err(unreachable)?;
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            match sqlx::query(&format!("CREATE DATABASE {quoted}"))
                .execute(&mut admin)
                .await
            {
                Ok(_) => {
                    tracing::info!(database = %name, "created database");
                    Ok(())
                }
                // 42P04 duplicate_database: another replica created it first.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
                Err(source) => Err(DbError::Create { name, source }),
            }
        }
        Err(e) => Err(unreachable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgres://svc:s3cret@db:5432/orders";

    #[test]
    fn settings_have_documented_defaults() {
        let s = DbSettings::from_env(&Env::from_pairs([("DATABASE_URL", URL)]), "hint").unwrap();
        assert_eq!(s.url, URL);
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert_eq!(s.statement_timeout, Duration::from_secs(5));
        assert_eq!(s.max_connections, 10);
        assert!(!format!("{s:?}").contains("s3cret"), "{s:?}");
    }

    #[test]
    fn the_url_is_required_and_timeouts_are_not_zero() {
        let err = DbSettings::from_env(&Env::from_pairs([("DATABASE_URL", " ")]), "the orders db")
            .unwrap_err();
        assert_eq!(err, ConfigError::missing("DATABASE_URL", "the orders db"));
        for name in ["DB_CONNECT_TIMEOUT_MS", "DB_STATEMENT_TIMEOUT_MS"] {
            let err =
                DbSettings::from_env(&Env::from_pairs([("DATABASE_URL", URL), (name, "0")]), "")
                    .unwrap_err();
            assert_eq!(err.variable(), name, "{err}");
        }
        let err = DbSettings::from_env(
            &Env::from_pairs([("DATABASE_URL", "mysql://u:s3cret@h/d")]),
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("DATABASE_URL=\"mysql://u:***@h/d\""), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_given_up_after_the_connect_timeout() {
        // Accepts connections and never says a word: without a connect timeout, sqlx would
        // wait for PostgreSQL's first message for ever.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let settings = DbSettings::from_env(
            &Env::from_pairs([
                (
                    "DATABASE_URL",
                    format!("postgres://u:p@127.0.0.1:{port}/db").as_str(),
                ),
                ("DB_CONNECT_TIMEOUT_MS", "200"),
            ]),
            "",
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err = connect(&settings, &Migrator::DEFAULT, Duration::from_millis(500))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, DbError::Unreachable { .. }), "{err}");
        assert!(
            err.to_string().contains("DB_CONNECT_TIMEOUT_MS (200 ms)"),
            "{err}"
        );
        assert!(took < Duration::from_secs(3), "gave up after {took:?}");
        silent.abort();
    }

    #[test]
    fn every_pool_connection_starts_with_the_statement_timeout() {
        let s = DbSettings::from_env(
            &Env::from_pairs([("DATABASE_URL", URL), ("DB_STATEMENT_TIMEOUT_MS", "750")]),
            "",
        )
        .unwrap();
        assert_eq!(s.statement_timeout, Duration::from_millis(750));
        assert_eq!(
            s.pool_options().unwrap().get_options(),
            Some("-c statement_timeout=750ms")
        );
    }
}
