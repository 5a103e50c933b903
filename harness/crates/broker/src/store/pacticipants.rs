//! Participants (consumers and providers) and their versions, branches and tags: creating
//! them as publishes, verifications and deployments name them, and reading them back with
//! their branches and tags. The other concerns create their participants and versions
//! through the transaction helpers here.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Store, Tx, db, now};
use crate::error::{Error, Result};

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

impl Store {
    pub(super) async fn pacticipant_id(tx: &mut Tx<'_>, name: &str) -> Result<i64> {
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
    pub(super) async fn version_id(
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

    pub(super) async fn add_branch(
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

    pub(super) async fn add_tag(tx: &mut Tx<'_>, version_id: i64, tag: &str) -> Result<()> {
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

    pub(super) async fn branches_of(&self, ids: &[i64]) -> Result<BTreeMap<i64, Vec<String>>> {
        self.names_by_version(
            "SELECT bv.version_id, b.name FROM branch_versions bv JOIN branches b ON b.id = bv.branch_id \
             WHERE bv.version_id IN ({ids}) ORDER BY b.name",
            ids,
        )
        .await
    }

    pub(super) async fn tags_of(&self, ids: &[i64]) -> Result<BTreeMap<i64, Vec<String>>> {
        self.names_by_version(
            "SELECT version_id, name FROM tags WHERE version_id IN ({ids}) ORDER BY name",
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
