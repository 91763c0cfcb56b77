//! The Postgres backend: a connection pool, its migrations (`migrations/postgres`), and
//! active-version notifications between replicas (`LISTEN`/`NOTIFY`).

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::Postgres;
use sqlx::postgres::{PgListener, PgPoolOptions};

use super::sql::{ACTIVE_CHANNEL, Dialect, SqlStore, impl_store_traits};

impl Dialect for Postgres {
    const NOTIFIES: bool = true;

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

pub struct PostgresStore {
    sql: SqlStore<Postgres>,
}

impl PostgresStore {
    /// Connects and migrates.
    pub async fn connect(url: &str) -> anyhow::Result<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .context("connecting to Postgres")?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .context("running Postgres migrations")?;
        Ok(PostgresStore {
            sql: SqlStore { pool },
        })
    }
}

async fn listen(store: &PostgresStore) -> anyhow::Result<Option<BoxStream<'static, ()>>> {
    let mut listener = PgListener::connect_with(&store.sql.pool)
        .await
        .context("connecting the Postgres listener")?;
    listener
        .listen(ACTIVE_CHANNEL)
        .await
        .context("LISTEN on the active-version channel")?;
    let stream = listener.into_stream().filter_map(|n| async move {
        match n {
            Ok(_) => Some(()),
            Err(e) => {
                tracing::warn!(error = %e, "active-version listener error");
                None
            }
        }
    });
    Ok(Some(Box::pin(stream)))
}

impl_store_traits!(PostgresStore, backend: "postgres", listen: listen);
