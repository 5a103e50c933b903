//! PostgreSQL: connect with retries, create the service's own database when missing
//! (database per service), and run its migrations.

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, Connection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

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

/// Connects to `url`, creating its database first if it does not exist, then migrates.
/// Retries the first connection for up to `wait` (the database may still be starting).
pub async fn connect(
    url: &str,
    migrator: &Migrator,
    max_connections: u32,
    wait: Duration,
) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(DbError::Url)?;
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
            match ensure_database(&options).await {
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
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|source| DbError::Unreachable {
            target,
            attempts,
            source,
        })?;
    migrator.run(&pool).await?;
    Ok(pool)
}

async fn ensure_database(options: &PgConnectOptions) -> Result<(), DbError> {
    let unreachable = |source| DbError::Unreachable {
        target: String::new(),
        attempts: 0,
        source,
    };
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    match options.connect().await {
        Ok(conn) => {
            let _ = conn.close().await;
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            // invalid_catalog_name: the database does not exist yet.
            let mut admin = options
                .clone()
                .database("postgres")
                .connect()
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
