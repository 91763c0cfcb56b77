//! The Postgres backend: a connection pool, its migrations (`migrations/postgres`), and
//! active-version notifications between replicas (`LISTEN`/`NOTIFY`).

use std::str::FromStr;

use anyhow::Context;
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgListener};

use super::sql::{ACTIVE_CHANNEL, Dialect, SqlStore, impl_source_store, impl_store_traits};

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
        let options = PgConnectOptions::from_str(url).context("parsing the Postgres URL")?;
        let migrations = sqlx::migrate!("./migrations/postgres");
        let sql = SqlStore::open(options, 16, migrations, "Postgres").await?;
        Ok(PostgresStore { sql })
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
impl_source_store!(PostgresStore);
