//! Pacts: a publish stores a consumer version's contracts (content once per sha, one
//! publication per consumer version and provider), and the reads serve them by version, by
//! provider or by content. Publications come with what the selectors need of their
//! consumer version (branches, tags, where it is deployed).

use sqlx::Row;

use super::{Store, db, now};
use crate::error::Result;

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

impl Store {
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
}
