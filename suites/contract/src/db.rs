//! A database of the stack's PostgreSQL, connected on first use: the handlers are built
//! before anything runs, and may be built where the stack is not up.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio::sync::OnceCell;

use crate::StackEnv;

/// One service's database (`orders`, `payments`, `inventory`, `shipping`), shared by its
/// states.
#[derive(Debug)]
pub(crate) struct Database {
    env: StackEnv,
    name: &'static str,
    pool: OnceCell<PgPool>,
}

impl Database {
    pub(crate) fn new(env: &StackEnv, name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            env: env.clone(),
            name,
            pool: OnceCell::new(),
        })
    }

    /// The pool, connecting on first use.
    pub(crate) async fn pool(&self) -> anyhow::Result<&PgPool> {
        self.pool
            .get_or_try_init(|| async {
                let url = self.env.database_url(self.name)?;
                PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&url)
                    .await
                    .with_context(|| format!("cannot connect to the {} database {url}", self.name))
            })
            .await
    }
}
