//! Environments and deployments: the environments a team deploys to, and which versions
//! are (or were) deployed there. Recording a deployment marks the version deployed before
//! for the same application instance as undeployed, one deployment at a time per
//! environment.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Store, db, now};
use crate::error::{Error, Result};

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

impl Store {
    pub(super) async fn deployed_envs_of(&self, ids: &[i64]) -> Result<BTreeMap<i64, Vec<String>>> {
        self.names_by_version(
            "SELECT d.version_id, e.name FROM deployed_versions d JOIN environments e ON e.id = d.environment_id \
             WHERE d.undeployed_at IS NULL AND d.version_id IN ({ids}) ORDER BY e.name",
            ids,
        )
        .await
    }

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

fn environment_of(r: &sqlx::any::AnyRow) -> Result<Environment> {
    Ok(Environment {
        uuid: r.try_get(0).map_err(db)?,
        name: r.try_get(1).map_err(db)?,
        display_name: r.try_get(2).map_err(db)?,
        production: r.try_get::<i64, _>(3).map_err(db)? != 0,
        created_at: r.try_get(4).map_err(db)?,
    })
}
