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

use std::{collections::BTreeMap, str::FromStr};

use serde_json::Value;
use sqlx::{
    AnyPool, Row,
    any::{AnyConnectOptions, AnyPoolOptions},
};

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

/// A participant (consumer or provider).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacticipant {
    pub id: i64,
    pub name: String,
    pub display_name: Option<String>,
    pub main_branch: Option<String>,
    pub repository_url: Option<String>,
    pub created_at: String,
}

/// A version of a participant, with its branches and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: i64,
    pub pacticipant: String,
    pub number: String,
    pub build_url: Option<String>,
    pub created_at: String,
    pub branches: Vec<String>,
    pub tags: Vec<String>,
}

/// A pact published for a consumer version: who, which content (`sha`), and what is known
/// of the consumer version (branches, tags, where it is deployed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub id: i64,
    pub consumer: String,
    pub consumer_main_branch: Option<String>,
    pub provider: String,
    /// The consumer version: its id orders versions (the highest is the latest).
    pub version_id: i64,
    pub version: String,
    pub branches: Vec<String>,
    pub tags: Vec<String>,
    /// The environments the consumer version is currently deployed to.
    pub deployed_in: Vec<String>,
    pub pact_version_id: i64,
    pub sha: String,
    pub created_at: String,
}

/// A verification result of a pact version by a provider version.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub id: i64,
    pub pact_version_id: i64,
    pub sha: String,
    pub consumer: String,
    pub provider: String,
    pub provider_version: String,
    pub provider_version_id: i64,
    pub success: bool,
    pub build_url: Option<String>,
    pub test_results: Value,
    pub verified_by: Value,
    pub created_at: String,
}

/// An environment to deploy to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub uuid: String,
    pub name: String,
    pub display_name: Option<String>,
    pub production: bool,
    pub created_at: String,
}

/// A version recorded as deployed to an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub uuid: String,
    pub pacticipant: String,
    pub version: String,
    pub environment: String,
    pub environment_uuid: String,
    pub application_instance: Option<String>,
    pub target: Option<String>,
    pub created_at: String,
    pub undeployed_at: Option<String>,
}

/// A pact's content and where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PactContent {
    pub consumer: String,
    pub provider: String,
    pub sha: String,
    pub content: String,
    pub created_at: String,
    /// The latest consumer version that published this content, if any.
    pub consumer_version: Option<String>,
}

/// One contract of a publish.
#[derive(Debug, Clone)]
pub struct NewPact {
    pub provider: String,
    pub sha: String,
    pub content: String,
}

/// What a publish stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub version_created: bool,
    /// `(provider, sha, what happened to the version's pact with that provider)`.
    pub pacts: Vec<(String, String, PactChange)>,
}

/// What a publish did to a version's pact with one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PactChange {
    /// The version had no pact with the provider.
    New,
    /// The same content was published for it before.
    Unchanged,
    /// Different content was published for it before, and is replaced (as the reference
    /// broker's `onConflict: overwrite`, pact-broker-cli's default).
    Replaced,
}

/// A new verification result.
#[derive(Debug, Clone)]
pub struct NewVerification {
    pub provider_version: String,
    pub success: bool,
    pub build_url: Option<String>,
    pub test_results: Value,
    pub verified_by: Value,
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

    // ---- participants and versions ------------------------------------------------

    async fn pacticipant_id(tx: &mut Tx<'_>, name: &str) -> Result<i64> {
        sqlx::query("INSERT INTO pacticipants (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(now())
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        let row = sqlx::query("SELECT id FROM pacticipants WHERE name = $1")
            .bind(name)
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?;
        row.try_get(0).map_err(db)
    }

    /// `(version id, created)`.
    async fn version_id(
        tx: &mut Tx<'_>,
        pacticipant_id: i64,
        number: &str,
        build_url: Option<&str>,
    ) -> Result<(i64, bool)> {
        let inserted = sqlx::query(
            "INSERT INTO versions (pacticipant_id, number, build_url, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (pacticipant_id, number) DO NOTHING",
        )
        .bind(pacticipant_id)
        .bind(number)
        .bind(build_url)
        .bind(now())
        .execute(&mut **tx)
        .await
        .map_err(db)?
        .rows_affected()
            > 0;
        if let (false, Some(url)) = (inserted, build_url) {
            sqlx::query(
                "UPDATE versions SET build_url = $1 WHERE pacticipant_id = $2 AND number = $3",
            )
            .bind(url)
            .bind(pacticipant_id)
            .bind(number)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        }
        let row = sqlx::query("SELECT id FROM versions WHERE pacticipant_id = $1 AND number = $2")
            .bind(pacticipant_id)
            .bind(number)
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?;
        Ok((row.try_get(0).map_err(db)?, inserted))
    }

    async fn add_branch(
        tx: &mut Tx<'_>,
        pacticipant_id: i64,
        version_id: i64,
        branch: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO branches (pacticipant_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (pacticipant_id, name) DO NOTHING")
            .bind(pacticipant_id)
            .bind(branch)
            .bind(now())
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        let row = sqlx::query("SELECT id FROM branches WHERE pacticipant_id = $1 AND name = $2")
            .bind(pacticipant_id)
            .bind(branch)
            .fetch_one(&mut **tx)
            .await
            .map_err(db)?;
        let branch_id: i64 = row.try_get(0).map_err(db)?;
        sqlx::query("INSERT INTO branch_versions (branch_id, version_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (branch_id, version_id) DO NOTHING")
            .bind(branch_id)
            .bind(version_id)
            .bind(now())
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn add_tag(tx: &mut Tx<'_>, version_id: i64, tag: &str) -> Result<()> {
        sqlx::query("INSERT INTO tags (version_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (version_id, name) DO NOTHING")
            .bind(version_id)
            .bind(tag)
            .bind(now())
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Creates the participant if needed and sets the fields given.
    pub async fn upsert_pacticipant(
        &self,
        name: &str,
        display_name: Option<&str>,
        main_branch: Option<&str>,
        repository_url: Option<&str>,
    ) -> Result<Pacticipant> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let id = Self::pacticipant_id(&mut tx, name).await?;
        for (column, value) in [
            ("display_name", display_name),
            ("main_branch", main_branch),
            ("repository_url", repository_url),
        ] {
            if let Some(value) = value {
                sqlx::query(&format!(
                    "UPDATE pacticipants SET {column} = $1 WHERE id = $2"
                ))
                .bind(value)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)?;
        self.pacticipant(name)
            .await?
            .ok_or_else(|| Error::Database(format!("pacticipant {name} vanished")))
    }

    pub async fn pacticipant(&self, name: &str) -> Result<Option<Pacticipant>> {
        let row = sqlx::query("SELECT id, name, display_name, main_branch, repository_url, created_at FROM pacticipants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| pacticipant_of(&r)).transpose()
    }

    pub async fn pacticipants(&self) -> Result<Vec<Pacticipant>> {
        let rows = sqlx::query("SELECT id, name, display_name, main_branch, repository_url, created_at FROM pacticipants ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(pacticipant_of).collect()
    }

    /// Creates the version (and participant) if needed, with a branch and tags.
    pub async fn ensure_version(
        &self,
        pacticipant: &str,
        number: &str,
        branch: Option<&str>,
        tags: &[String],
        build_url: Option<&str>,
    ) -> Result<(Version, bool)> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let pid = Self::pacticipant_id(&mut tx, pacticipant).await?;
        let (vid, created) = Self::version_id(&mut tx, pid, number, build_url).await?;
        if let Some(branch) = branch {
            Self::add_branch(&mut tx, pid, vid, branch).await?;
        }
        for tag in tags {
            Self::add_tag(&mut tx, vid, tag).await?;
        }
        tx.commit().await.map_err(db)?;
        let version = self
            .version(pacticipant, number)
            .await?
            .ok_or_else(|| Error::Database(format!("version {number} vanished")))?;
        Ok((version, created))
    }

    pub async fn version(&self, pacticipant: &str, number: &str) -> Result<Option<Version>> {
        let rows = self
            .versions_where("p.name = $1 AND v.number = $2", &[pacticipant, number])
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The participant's versions, latest first.
    pub async fn versions(&self, pacticipant: &str) -> Result<Vec<Version>> {
        self.versions_where("p.name = $1", &[pacticipant]).await
    }

    /// The latest version (on `branch`, or with `tag`, when given).
    pub async fn latest_version(
        &self,
        pacticipant: &str,
        branch: Option<&str>,
        tag: Option<&str>,
    ) -> Result<Option<Version>> {
        let versions = self.versions(pacticipant).await?;
        Ok(versions.into_iter().find(|v| {
            branch.is_none_or(|b| v.branches.iter().any(|x| x == b))
                && tag.is_none_or(|t| v.tags.iter().any(|x| x == t))
        }))
    }

    async fn versions_where(&self, filter: &str, binds: &[&str]) -> Result<Vec<Version>> {
        let sql = format!(
            "SELECT v.id, p.name, v.number, v.build_url, v.created_at FROM versions v \
             JOIN pacticipants p ON p.id = v.pacticipant_id WHERE {filter} ORDER BY v.id DESC"
        );
        let rows = self.rows(&sql, binds).await?;
        let mut versions = Vec::with_capacity(rows.len());
        for r in &rows {
            versions.push(Version {
                id: r.try_get(0).map_err(db)?,
                pacticipant: r.try_get(1).map_err(db)?,
                number: r.try_get(2).map_err(db)?,
                build_url: r.try_get(3).map_err(db)?,
                created_at: r.try_get(4).map_err(db)?,
                branches: Vec::new(),
                tags: Vec::new(),
            });
        }
        let ids: Vec<i64> = versions.iter().map(|v| v.id).collect();
        let (branches, tags) = (self.branches_of(&ids).await?, self.tags_of(&ids).await?);
        for v in &mut versions {
            v.branches = branches.get(&v.id).cloned().unwrap_or_default();
            v.tags = tags.get(&v.id).cloned().unwrap_or_default();
        }
        Ok(versions)
    }

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

    async fn branches_of(&self, ids: &[i64]) -> Result<BTreeMap<i64, Vec<String>>> {
        self.names_by_version(
            "SELECT bv.version_id, b.name FROM branch_versions bv JOIN branches b ON b.id = bv.branch_id \
             WHERE bv.version_id IN ({ids}) ORDER BY b.name",
            ids,
        )
        .await
    }

    async fn tags_of(&self, ids: &[i64]) -> Result<BTreeMap<i64, Vec<String>>> {
        self.names_by_version(
            "SELECT version_id, name FROM tags WHERE version_id IN ({ids}) ORDER BY name",
            ids,
        )
        .await
    }

    async fn deployed_envs_of(&self, ids: &[i64]) -> Result<BTreeMap<i64, Vec<String>>> {
        self.names_by_version(
            "SELECT d.version_id, e.name FROM deployed_versions d JOIN environments e ON e.id = d.environment_id \
             WHERE d.undeployed_at IS NULL AND d.version_id IN ({ids}) ORDER BY e.name",
            ids,
        )
        .await
    }

    /// The branches of a participant, with their latest version.
    pub async fn branches(&self, pacticipant: &str) -> Result<Vec<(String, Option<String>)>> {
        let versions = self.versions(pacticipant).await?;
        let rows = sqlx::query(
            "SELECT b.name FROM branches b JOIN pacticipants p ON p.id = b.pacticipant_id WHERE p.name = $1 ORDER BY b.name",
        )
        .bind(pacticipant)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get(0).map_err(db)?;
                let latest = versions
                    .iter()
                    .find(|v| v.branches.contains(&name))
                    .map(|v| v.number.clone());
                Ok((name, latest))
            })
            .collect()
    }

    /// When a participant's branch was created, if it exists.
    pub async fn branch_created_at(
        &self,
        pacticipant: &str,
        branch: &str,
    ) -> Result<Option<String>> {
        sqlx::query(
            "SELECT b.created_at FROM branches b JOIN pacticipants p ON p.id = b.pacticipant_id WHERE p.name = $1 AND b.name = $2",
        )
        .bind(pacticipant)
        .bind(branch)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(db)
    }

    /// Adds a tag to a version, creating the version if needed.
    pub async fn tag_version(&self, pacticipant: &str, number: &str, tag: &str) -> Result<Version> {
        Ok(self
            .ensure_version(pacticipant, number, None, &[tag.to_owned()], None)
            .await?
            .0)
    }

    // ---- pacts --------------------------------------------------------------------

    /// Stores a consumer version's contracts, with its branch and tags, in one transaction.
    pub async fn publish(
        &self,
        consumer: &str,
        number: &str,
        branch: Option<&str>,
        tags: &[String],
        build_url: Option<&str>,
        pacts: &[NewPact],
    ) -> Result<Published> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let cid = Self::pacticipant_id(&mut tx, consumer).await?;
        let (vid, version_created) = Self::version_id(&mut tx, cid, number, build_url).await?;
        if let Some(branch) = branch {
            Self::add_branch(&mut tx, cid, vid, branch).await?;
            // As the reference broker: a first publish from main, master or develop names
            // the participant's main branch, unless one is set.
            if matches!(branch, "main" | "master" | "develop") {
                sqlx::query("UPDATE pacticipants SET main_branch = $1 WHERE id = $2 AND main_branch IS NULL")
                    .bind(branch)
                    .bind(cid)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        }
        for tag in tags {
            Self::add_tag(&mut tx, vid, tag).await?;
        }
        // Providers in one order (by name) in every transaction: two publishes naming the
        // same new providers then wait for each other instead of deadlocking (PostgreSQL).
        let mut pacts: Vec<&NewPact> = pacts.iter().collect();
        pacts.sort_by(|a, b| a.provider.cmp(&b.provider));
        let mut stored = Vec::new();
        for pact in pacts {
            let pid = Self::pacticipant_id(&mut tx, &pact.provider).await?;
            sqlx::query(
                "INSERT INTO pact_versions (sha, consumer_id, provider_id, content, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (sha) DO NOTHING",
            )
            .bind(&pact.sha)
            .bind(cid)
            .bind(pid)
            .bind(&pact.content)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let pvid: i64 = sqlx::query("SELECT id FROM pact_versions WHERE sha = $1")
                .bind(&pact.sha)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            let before: Option<i64> = sqlx::query(
                "SELECT pact_version_id FROM pact_publications WHERE consumer_version_id = $1 AND provider_id = $2",
            )
            .bind(vid)
            .bind(pid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db)?;
            sqlx::query(
                "INSERT INTO pact_publications (consumer_version_id, provider_id, pact_version_id, revision, created_at) \
                 VALUES ($1, $2, $3, 1, $4) ON CONFLICT (consumer_version_id, provider_id) DO UPDATE \
                 SET pact_version_id = excluded.pact_version_id, revision = pact_publications.revision + 1 \
                 WHERE pact_publications.pact_version_id <> excluded.pact_version_id",
            )
            .bind(vid)
            .bind(pid)
            .bind(pvid)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            stored.push((
                pact.provider.clone(),
                pact.sha.clone(),
                match before {
                    None => PactChange::New,
                    Some(id) if id == pvid => PactChange::Unchanged,
                    Some(_) => PactChange::Replaced,
                },
            ));
        }
        tx.commit().await.map_err(db)?;
        Ok(Published {
            version_created,
            pacts: stored,
        })
    }

    const PUBLICATIONS: &'static str = "SELECT pp.id, c.name, c.main_branch, pr.name, v.id, v.number, pv.id, pv.sha, pp.created_at \
         FROM pact_publications pp \
         JOIN versions v ON v.id = pp.consumer_version_id \
         JOIN pacticipants c ON c.id = v.pacticipant_id \
         JOIN pacticipants pr ON pr.id = pp.provider_id \
         JOIN pact_versions pv ON pv.id = pp.pact_version_id";

    async fn publications_where(&self, filter: &str, binds: &[&str]) -> Result<Vec<Publication>> {
        let sql = format!(
            "{} WHERE {filter} ORDER BY v.id DESC, pr.name",
            Self::PUBLICATIONS
        );
        let rows = self.rows(&sql, binds).await?;
        let mut pubs = Vec::with_capacity(rows.len());
        for r in &rows {
            pubs.push(Publication {
                id: r.try_get(0).map_err(db)?,
                consumer: r.try_get(1).map_err(db)?,
                consumer_main_branch: r.try_get(2).map_err(db)?,
                provider: r.try_get(3).map_err(db)?,
                version_id: r.try_get(4).map_err(db)?,
                version: r.try_get(5).map_err(db)?,
                branches: Vec::new(),
                tags: Vec::new(),
                deployed_in: Vec::new(),
                pact_version_id: r.try_get(6).map_err(db)?,
                sha: r.try_get(7).map_err(db)?,
                created_at: r.try_get(8).map_err(db)?,
            });
        }
        let mut ids: Vec<i64> = pubs.iter().map(|p| p.version_id).collect();
        ids.dedup();
        let branches = self.branches_of(&ids).await?;
        let tags = self.tags_of(&ids).await?;
        let deployed = self.deployed_envs_of(&ids).await?;
        for p in &mut pubs {
            p.branches = branches.get(&p.version_id).cloned().unwrap_or_default();
            p.tags = tags.get(&p.version_id).cloned().unwrap_or_default();
            p.deployed_in = deployed.get(&p.version_id).cloned().unwrap_or_default();
        }
        Ok(pubs)
    }

    /// Every publication of pacts with `provider`, latest consumer version first.
    pub async fn publications_for_provider(&self, provider: &str) -> Result<Vec<Publication>> {
        self.publications_where("pr.name = $1", &[provider]).await
    }

    /// The pacts a consumer version published.
    pub async fn publications_of_version(
        &self,
        consumer: &str,
        number: &str,
    ) -> Result<Vec<Publication>> {
        self.publications_where("c.name = $1 AND v.number = $2", &[consumer, number])
            .await
    }

    /// Every publication, latest first (the page for people, the latest pacts).
    pub async fn all_publications(&self) -> Result<Vec<Publication>> {
        self.publications_where("1 = 1", &[]).await
    }

    /// A pact by its content's sha, with the latest consumer version that published it.
    pub async fn pact_by_sha(
        &self,
        consumer: &str,
        provider: &str,
        sha: &str,
    ) -> Result<Option<PactContent>> {
        let row = sqlx::query(
            "SELECT c.name, pr.name, pv.sha, pv.content, pv.created_at FROM pact_versions pv \
             JOIN pacticipants c ON c.id = pv.consumer_id JOIN pacticipants pr ON pr.id = pv.provider_id \
             WHERE pv.sha = $1 AND c.name = $2 AND pr.name = $3",
        )
        .bind(sha)
        .bind(consumer)
        .bind(provider)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let version = sqlx::query(
            "SELECT v.number FROM pact_publications pp JOIN versions v ON v.id = pp.consumer_version_id \
             JOIN pact_versions pv ON pv.id = pp.pact_version_id WHERE pv.sha = $1 ORDER BY v.id DESC",
        )
        .bind(sha)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()
        .map_err(db)?;
        Ok(Some(PactContent {
            consumer: r.try_get(0).map_err(db)?,
            provider: r.try_get(1).map_err(db)?,
            sha: r.try_get(2).map_err(db)?,
            content: r.try_get(3).map_err(db)?,
            created_at: r.try_get(4).map_err(db)?,
            consumer_version: version,
        }))
    }

    // ---- verifications ------------------------------------------------------------

    const VERIFICATIONS: &'static str = "SELECT vr.id, vr.pact_version_id, pv.sha, c.name, pr.name, v.number, v.id, vr.success, vr.build_url, \
         vr.test_results, vr.verified_by, vr.created_at FROM verifications vr \
         JOIN pact_versions pv ON pv.id = vr.pact_version_id \
         JOIN pacticipants c ON c.id = pv.consumer_id JOIN pacticipants pr ON pr.id = pv.provider_id \
         JOIN versions v ON v.id = vr.provider_version_id";

    async fn verifications_where(&self, filter: &str, binds: &[&str]) -> Result<Vec<Verification>> {
        let sql = format!("{} WHERE {filter} ORDER BY vr.id DESC", Self::VERIFICATIONS);
        let rows = self.rows(&sql, binds).await?;
        rows.iter()
            .map(|r| {
                let json = |i: usize| -> Result<Value> {
                    let text: Option<String> = r.try_get(i).map_err(db)?;
                    Ok(text
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or(Value::Null))
                };
                Ok(Verification {
                    id: r.try_get(0).map_err(db)?,
                    pact_version_id: r.try_get(1).map_err(db)?,
                    sha: r.try_get(2).map_err(db)?,
                    consumer: r.try_get(3).map_err(db)?,
                    provider: r.try_get(4).map_err(db)?,
                    provider_version: r.try_get(5).map_err(db)?,
                    provider_version_id: r.try_get(6).map_err(db)?,
                    success: r.try_get::<i64, _>(7).map_err(db)? != 0,
                    build_url: r.try_get(8).map_err(db)?,
                    test_results: json(9)?,
                    verified_by: json(10)?,
                    created_at: r.try_get(11).map_err(db)?,
                })
            })
            .collect()
    }

    /// Records a verification of the pact with content `sha` by a provider version
    /// (created when new, with its branch and tags).
    pub async fn add_verification(
        &self,
        provider: &str,
        sha: &str,
        new: &NewVerification,
    ) -> Result<Option<Verification>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(pvid) = sqlx::query(
            "SELECT pv.id FROM pact_versions pv JOIN pacticipants pr ON pr.id = pv.provider_id WHERE pv.sha = $1 AND pr.name = $2",
        )
        .bind(sha)
        .bind(provider)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()
        .map_err(db)?
        else {
            return Ok(None);
        };
        let pid = Self::pacticipant_id(&mut tx, provider).await?;
        let (vid, _) = Self::version_id(&mut tx, pid, &new.provider_version, None).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO verifications (pact_version_id, provider_version_id, success, build_url, test_results, verified_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(pvid)
        .bind(vid)
        .bind(i64::from(new.success))
        .bind(new.build_url.as_deref())
        .bind(new.test_results.to_string())
        .bind(new.verified_by.to_string())
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?
        .try_get(0)
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.verification(id).await
    }

    pub async fn verification(&self, id: i64) -> Result<Option<Verification>> {
        let id = id.to_string();
        Ok(self
            .verifications_where("vr.id = CAST($1 AS BIGINT)", &[&id])
            .await?
            .into_iter()
            .next())
    }

    /// The verifications of a pact version, latest first.
    pub async fn verifications_of(&self, sha: &str) -> Result<Vec<Verification>> {
        self.verifications_where("pv.sha = $1", &[sha]).await
    }

    /// Every verification by `provider`, latest first.
    pub async fn verifications_by_provider(&self, provider: &str) -> Result<Vec<Verification>> {
        self.verifications_where("pr.name = $1", &[provider]).await
    }

    /// Every verification, latest first.
    pub async fn all_verifications(&self) -> Result<Vec<Verification>> {
        self.verifications_where("1 = 1", &[]).await
    }

    // ---- environments and deployments ---------------------------------------------

    pub async fn create_environment(
        &self,
        name: &str,
        display_name: Option<&str>,
        production: bool,
    ) -> Result<(Environment, bool)> {
        let created = sqlx::query(
            "INSERT INTO environments (uuid, name, display_name, production, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(name)
        .bind(display_name)
        .bind(i64::from(production))
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected()
            > 0;
        let env = self
            .environment_by("name", name)
            .await?
            .ok_or_else(|| Error::Database(format!("environment {name} vanished")))?;
        Ok((env, created))
    }

    pub async fn environments(&self) -> Result<Vec<Environment>> {
        let rows = sqlx::query("SELECT uuid, name, display_name, production, created_at FROM environments ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(environment_of).collect()
    }

    /// An environment by `uuid` or `name`.
    pub async fn environment_by(&self, column: &str, value: &str) -> Result<Option<Environment>> {
        let column = if column == "uuid" { "uuid" } else { "name" };
        let row = sqlx::query(&format!(
            "SELECT uuid, name, display_name, production, created_at FROM environments WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| environment_of(&r)).transpose()
    }

    /// Records `pacticipant` `number` as deployed to the environment; the version deployed
    /// there before (for the same application instance) is marked undeployed.
    pub async fn record_deployment(
        &self,
        pacticipant: &str,
        number: &str,
        environment_uuid: &str,
        application_instance: Option<&str>,
        target: Option<&str>,
    ) -> Result<Option<Deployment>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(env_id) = sqlx::query("SELECT id FROM environments WHERE uuid = $1")
            .bind(environment_uuid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|r| r.try_get::<i64, _>(0))
            .transpose()
            .map_err(db)?
        else {
            return Ok(None);
        };
        // Deployments to one environment take turns (a row lock on PostgreSQL; SQLite has
        // one writer anyway), so two at once cannot both stay current.
        sqlx::query("UPDATE environments SET name = name WHERE id = $1")
            .bind(env_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let pid = Self::pacticipant_id(&mut tx, pacticipant).await?;
        let (vid, _) = Self::version_id(&mut tx, pid, number, None).await?;
        let instance = application_instance.unwrap_or("");
        let at = now();
        sqlx::query(
            "UPDATE deployed_versions SET undeployed_at = $1 WHERE pacticipant_id = $2 AND environment_id = $3 \
             AND application_instance = $4 AND undeployed_at IS NULL",
        )
        .bind(&at)
        .bind(pid)
        .bind(env_id)
        .bind(instance)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let uuid = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO deployed_versions (uuid, version_id, pacticipant_id, environment_id, application_instance, target, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&uuid)
        .bind(vid)
        .bind(pid)
        .bind(env_id)
        .bind(instance)
        .bind(target)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(self
            .deployments("d.uuid = $1", &[&uuid])
            .await?
            .into_iter()
            .next())
    }

    /// The versions currently deployed to an environment (of one participant, if given).
    pub async fn currently_deployed(
        &self,
        environment_uuid: &str,
        pacticipant: Option<&str>,
    ) -> Result<Vec<Deployment>> {
        match pacticipant {
            Some(p) => {
                self.deployments(
                    "e.uuid = $1 AND p.name = $2 AND d.undeployed_at IS NULL",
                    &[environment_uuid, p],
                )
                .await
            }
            None => {
                self.deployments(
                    "e.uuid = $1 AND d.undeployed_at IS NULL",
                    &[environment_uuid],
                )
                .await
            }
        }
    }

    /// A recorded deployment, current or not.
    pub async fn deployment(&self, uuid: &str) -> Result<Option<Deployment>> {
        Ok(self
            .deployments("d.uuid = $1", &[uuid])
            .await?
            .into_iter()
            .next())
    }

    /// Every deployment still current, by environment name.
    pub async fn all_current_deployments(&self) -> Result<Vec<Deployment>> {
        self.deployments("d.undeployed_at IS NULL", &[]).await
    }

    async fn deployments(&self, filter: &str, binds: &[&str]) -> Result<Vec<Deployment>> {
        let sql = format!(
            "SELECT d.uuid, p.name, v.number, e.name, e.uuid, d.application_instance, d.target, d.created_at, d.undeployed_at \
             FROM deployed_versions d JOIN versions v ON v.id = d.version_id JOIN pacticipants p ON p.id = d.pacticipant_id \
             JOIN environments e ON e.id = d.environment_id WHERE {filter} ORDER BY d.id DESC"
        );
        let rows = self.rows(&sql, binds).await?;
        rows.iter()
            .map(|r| {
                let instance: String = r.try_get(5).map_err(db)?;
                Ok(Deployment {
                    uuid: r.try_get(0).map_err(db)?,
                    pacticipant: r.try_get(1).map_err(db)?,
                    version: r.try_get(2).map_err(db)?,
                    environment: r.try_get(3).map_err(db)?,
                    environment_uuid: r.try_get(4).map_err(db)?,
                    application_instance: (!instance.is_empty()).then_some(instance),
                    target: r.try_get(6).map_err(db)?,
                    created_at: r.try_get(7).map_err(db)?,
                    undeployed_at: r.try_get(8).map_err(db)?,
                })
            })
            .collect()
    }
}

fn pacticipant_of(r: &sqlx::any::AnyRow) -> Result<Pacticipant> {
    Ok(Pacticipant {
        id: r.try_get(0).map_err(db)?,
        name: r.try_get(1).map_err(db)?,
        display_name: r.try_get(2).map_err(db)?,
        main_branch: r.try_get(3).map_err(db)?,
        repository_url: r.try_get(4).map_err(db)?,
        created_at: r.try_get(5).map_err(db)?,
    })
}

fn environment_of(r: &sqlx::any::AnyRow) -> Result<Environment> {
    Ok(Environment {
        uuid: r.try_get(0).map_err(db)?,
        name: r.try_get(1).map_err(db)?,
        display_name: r.try_get(2).map_err(db)?,
        production: r.try_get::<i64, _>(3).map_err(db)? != 0,
        created_at: r.try_get(4).map_err(db)?,
    })
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
