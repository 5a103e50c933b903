//! The broker's storage: one query set over sqlx's `Any` driver, so SQLite (the embedded
//! default) and PostgreSQL (a shared broker) run the same SQL; only the migrations differ
//! (`migrations/sqlite`, `migrations/postgres`: the key columns' types).
//!
//! Writes are transactions made of `INSERT .. ON CONFLICT DO NOTHING` (then a read of the
//! row), so two publishes of the same version at once both succeed and store it once. A
//! SQLite broker uses one connection: its writers take turns instead of failing with
//! `SQLITE_BUSY`.
//!
//! Reads for the selectors and the matrix load rows ([`Publication`], [`Verification`]) and
//! leave the deciding to [`crate::select`] and [`crate::matrix`], where it can be tested
//! without a database.
//!
//! This module opens the database and holds what every concern shares (the filtered-query
//! helpers, [`redact`]); [`Store`]'s reads and writes are in one submodule per concern:
//! participants and versions, pacts, verifications, environments and deployments.

mod deployments;
mod pacticipants;
mod pacts;
mod verifications;

use std::{collections::BTreeMap, str::FromStr};

use sqlx::{
    AnyPool, Row,
    any::{AnyConnectOptions, AnyPoolOptions},
};

pub use deployments::{Deployment, Environment};
pub use pacticipants::{Pacticipant, Version};
pub use pacts::{NewPact, PactChange, PactContent, Publication, Published};
pub use verifications::{NewVerification, Verification};

use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The current time as the broker stores and shows it.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Which database a [`Store`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Sqlite,
    Postgres,
}

/// The broker's data.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    database: Database,
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

fn db(e: sqlx::Error) -> Error {
    Error::Database(e.to_string())
}

impl Store {
    /// Opens (creating when missing) the database at `url` — `sqlite://FILE`,
    /// `sqlite::memory:` or `postgres://…` — and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (database, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let url = if rest == ":memory:" || rest.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            (Database::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Database::Postgres, url.to_owned())
        } else {
            return Err(Error::Usage(format!(
                "--db {}: give sqlite://FILE or postgres://USER:PASSWORD@HOST/DB",
                redact(url)
            )));
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| Error::Usage(format!("--db {}: {e}", redact(&url))))?;
        let sqlite = database == Database::Sqlite;
        let mut pool = AnyPoolOptions::new()
            // SQLite: one writer at a time, in turn (see the module docs).
            .max_connections(if sqlite { 1 } else { 8 });
        if sqlite {
            // Its one connection is kept for good: an in-memory database lives only as
            // long as its connection, and the pool would close idle ones.
            pool = pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool
            .connect_with(options)
            .await
            .map_err(|e| Error::Database(format!("cannot open {}: {e}", redact(&url))))?;
        let migrator = match database {
            Database::Sqlite => &SQLITE_MIGRATIONS,
            Database::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| Error::Database(format!("migrating {}: {e}", redact(&url))))?;
        Ok(Self { pool, database })
    }

    pub fn database(&self) -> Database {
        self.database
    }

    /// Whether the database answers (the health endpoint).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db)
    }

    /// The rows of `sql` with its text parameters bound in order.
    async fn rows(&self, sql: &str, binds: &[&str]) -> Result<Vec<sqlx::any::AnyRow>> {
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(*b);
        }
        query.fetch_all(&self.pool).await.map_err(db)
    }

    /// The names (second column) of `sql`'s rows by version id (first column), for the
    /// versions `ids`; `sql` has `{ids}` where the list goes.
    async fn names_by_version(&self, sql: &str, ids: &[i64]) -> Result<BTreeMap<i64, Vec<String>>> {
        let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        // Ids are integers of our own: inlined, so one query serves any number of them.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let rows = sqlx::query(&sql.replace("{ids}", &list))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        for r in rows {
            let id: i64 = r.try_get(0).map_err(db)?;
            out.entry(id).or_default().push(r.try_get(1).map_err(db)?);
        }
        Ok(out)
    }
}

/// A database URL with its password replaced, for messages (in the user part and in a
/// `password=` parameter).
pub fn redact(url: &str) -> String {
    let url = match url.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            return format!("{}?{}", redact(base), query.join("&"));
        }
        None => url,
    };
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://broker:s3cret@127.0.0.1:5432/pacts"),
            "postgres://broker:***@127.0.0.1:5432/pacts"
        );
        assert_eq!(redact("sqlite://broker.db"), "sqlite://broker.db");
        assert_eq!(
            redact("postgres://127.0.0.1/pacts?user=b&password=s3cret"),
            "postgres://127.0.0.1/pacts?user=b&password=***"
        );
    }
}
