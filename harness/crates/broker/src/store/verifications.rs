//! Verification results: a provider version's verdict on a pact version, recorded as the
//! verifier publishes it (the provider version is created when new) and read back by id,
//! by pact version or by provider for the selectors and the matrix.

use serde_json::Value;
use sqlx::Row;

use super::{Store, db, now};
use crate::error::Result;

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

/// A new verification result.
#[derive(Debug, Clone)]
pub struct NewVerification {
    pub provider_version: String,
    pub success: bool,
    pub build_url: Option<String>,
    pub test_results: Value,
    pub verified_by: Value,
}

impl Store {
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
}
