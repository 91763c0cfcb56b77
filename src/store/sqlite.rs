//! The SQLite backend (the embedded default): one database file in WAL mode, its migrations
//! (`migrations/sqlite`). It has no notifications: other processes poll the active version.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use futures::stream::BoxStream;
use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

use super::sql::{Dialect, SqlStore, impl_source_store, impl_store_traits};

impl Dialect for Sqlite {
    const NOTIFIES: bool = false;

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

pub struct SqliteStore {
    sql: SqlStore<Sqlite>,
}

impl SqliteStore {
    /// Opens (creating it if missing) and migrates.
    pub async fn connect(url: &str) -> anyhow::Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .context("parsing SQLite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let migrations = sqlx::migrate!("./migrations/sqlite");
        let sql = SqlStore::open(options, 8, migrations, "SQLite").await?;
        Ok(SqliteStore { sql })
    }
}

async fn listen(_: &SqliteStore) -> anyhow::Result<Option<BoxStream<'static, ()>>> {
    Ok(None)
}

impl_store_traits!(SqliteStore, backend: "sqlite", listen: listen);
impl_source_store!(SqliteStore);
