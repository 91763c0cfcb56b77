//! The SQL of the store. The statements run unchanged on Postgres and SQLite (`$n`
//! placeholders, `RETURNING`, `ON CONFLICT`), so one macro implements [`Store`] for both pools.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, QueryBuilder};

use std::collections::HashMap;

use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::postgres::PgListener;

use super::{
    ApiKeyRecord, AuditEntry, FeedbackCount, FeedbackEntry, NewVersion, QuestionLogEntry, Store,
    VersionInfo, from_json_list, from_json_map, now_ms, to_json,
};
use crate::access::Sensitivity;
use crate::catalog::{Catalog, Column, Dataset};
use crate::embed::{decode_vector, encode_vector};

/// Rows per multi-row INSERT (8 binds per column row stays far below both backends' limits).
const INSERT_BATCH: usize = 1000;

pub struct PostgresStore {
    pool: PgPool,
}

pub struct SqliteStore {
    pool: SqlitePool,
}

impl PostgresStore {
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
        Ok(PostgresStore { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl SqliteStore {
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
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("opening SQLite database")?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .context("running SQLite migrations")?;
        Ok(SqliteStore { pool })
    }
}

type VersionRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
    i64,
    Option<i64>,
);

const VERSION_COLUMNS: &str = "v.id, v.created_at_ms, v.created_by, v.source, v.source_hash, \
     v.dataset_count, v.column_count, v.note, \
     CAST(CASE WHEN a.version_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS active, \
     v.activated_at_ms";

/// Channel of active-version notifications between replicas.
pub const ACTIVE_CHANNEL: &str = "descoberta_active";

fn version_from_row(row: VersionRow) -> VersionInfo {
    let (
        version,
        created_at_ms,
        created_by,
        source,
        source_hash,
        datasets,
        columns,
        note,
        active,
        activated_at_ms,
    ) = row;
    VersionInfo {
        version,
        created_at_ms,
        created_by,
        source,
        source_hash,
        datasets,
        columns,
        note,
        active: active != 0,
        activated_at_ms,
    }
}

type DatasetRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
);

type ColumnRow = (i64, String, Option<String>, Option<String>, String, String);

macro_rules! impl_store {
    ($store:ty, $backend:literal, notifies: $notifies:literal, listen: $listen:path) => {
        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> anyhow::Result<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .context("pinging the store")?;
                Ok(())
            }

            async fn instance_id(&self) -> anyhow::Result<String> {
                let candidate = format!("{:016x}", rand::random::<u64>());
                sqlx::query(
                    "INSERT INTO store_meta (key, value) VALUES ('instance_id', $1) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(&candidate)
                .execute(&self.pool)
                .await
                .context("writing instance id")?;
                let (id,): (String,) =
                    sqlx::query_as("SELECT value FROM store_meta WHERE key = 'instance_id'")
                        .fetch_one(&self.pool)
                        .await
                        .context("reading instance id")?;
                Ok(id)
            }

            async fn create_version(
                &self,
                catalog: &Catalog,
                meta: &NewVersion,
            ) -> anyhow::Result<VersionInfo> {
                let mut tx = self.pool.begin().await.context("beginning transaction")?;
                let created_at_ms = now_ms();
                let (version,): (i64,) = sqlx::query_as(
                    "INSERT INTO catalog_versions \
                     (created_at_ms, created_by, source, source_hash, dataset_count, column_count, note) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(created_at_ms)
                .bind(&meta.created_by)
                .bind(&meta.source)
                .bind(&meta.source_hash)
                .bind(catalog.datasets.len() as i64)
                .bind(catalog.column_count() as i64)
                .bind(&meta.note)
                .fetch_one(&mut *tx)
                .await
                .context("inserting catalog version")?;

                let datasets: Vec<(usize, &Dataset)> = catalog.datasets.iter().enumerate().collect();
                for chunk in datasets.chunks(INSERT_BATCH) {
                    let mut rows = Vec::with_capacity(chunk.len());
                    for (ordinal, d) in chunk {
                        rows.push((
                            *ordinal as i64,
                            d,
                            to_json(&d.tags)?,
                            to_json(&d.allowed_groups)?,
                            to_json(&d.properties)?,
                        ));
                    }
                    let mut qb = QueryBuilder::new(
                        "INSERT INTO datasets (version_id, ordinal, name, description, owner, \
                         domain, location, sensitivity, tags, allowed_groups, properties) ",
                    );
                    qb.push_values(rows, |mut b, (ordinal, d, tags, groups, props)| {
                        b.push_bind(version)
                            .push_bind(ordinal)
                            .push_bind(d.name.clone())
                            .push_bind(d.description.clone())
                            .push_bind(d.owner.clone())
                            .push_bind(d.domain.clone())
                            .push_bind(d.location.clone())
                            .push_bind(d.sensitivity.as_str())
                            .push_bind(tags)
                            .push_bind(groups)
                            .push_bind(props);
                    });
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .context("inserting datasets")?;
                }

                let mut columns = Vec::with_capacity(INSERT_BATCH);
                for (ds_ordinal, d) in catalog.datasets.iter().enumerate() {
                    for (ordinal, c) in d.columns.iter().enumerate() {
                        columns.push((
                            ds_ordinal as i64,
                            ordinal as i64,
                            c,
                            to_json(&c.tags)?,
                            to_json(&c.properties)?,
                        ));
                        if columns.len() == INSERT_BATCH {
                            let mut qb = column_insert();
                            push_columns(&mut qb, version, std::mem::take(&mut columns));
                            qb.build()
                                .execute(&mut *tx)
                                .await
                                .context("inserting columns")?;
                        }
                    }
                }
                if !columns.is_empty() {
                    let mut qb = column_insert();
                    push_columns(&mut qb, version, columns);
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .context("inserting columns")?;
                }
                tx.commit().await.context("committing catalog version")?;
                Ok(VersionInfo {
                    version,
                    created_at_ms,
                    created_by: meta.created_by.clone(),
                    source: meta.source.clone(),
                    source_hash: meta.source_hash.clone(),
                    datasets: catalog.datasets.len() as i64,
                    columns: catalog.column_count() as i64,
                    note: meta.note.clone(),
                    active: false,
                    activated_at_ms: None,
                })
            }

            async fn activate(&self, version: i64) -> anyhow::Result<()> {
                let now = now_ms();
                let mut tx = self.pool.begin().await.context("beginning activation")?;
                let updated = sqlx::query(
                    "UPDATE catalog_versions SET activated_at_ms = COALESCE(activated_at_ms, $1) \
                     WHERE id = $2",
                )
                .bind(now)
                .bind(version)
                .execute(&mut *tx)
                .await
                .context("marking version activated")?;
                anyhow::ensure!(updated.rows_affected() == 1, "catalog version {version} does not exist");
                sqlx::query(
                    "INSERT INTO active_version (id, version_id, activated_at_ms) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO UPDATE SET version_id = excluded.version_id, \
                     activated_at_ms = excluded.activated_at_ms",
                )
                .bind(version)
                .bind(now)
                .execute(&mut *tx)
                .await
                .context("activating catalog version")?;
                if $notifies {
                    // Delivered to listening replicas when the transaction commits.
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(ACTIVE_CHANNEL)
                        .bind(version.to_string())
                        .execute(&mut *tx)
                        .await
                        .context("notifying replicas")?;
                }
                tx.commit().await.context("committing activation")?;
                Ok(())
            }

            async fn listen_active(&self) -> anyhow::Result<Option<BoxStream<'static, ()>>> {
                $listen(self).await
            }

            async fn record_audit(&self, entry: &AuditEntry) -> anyhow::Result<()> {
                sqlx::query(
                    "INSERT INTO audit_log (at_ms, actor, action, version, outcome, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(entry.at_ms)
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(entry.version)
                .bind(&entry.outcome)
                .bind(&entry.detail)
                .execute(&self.pool)
                .await
                .context("writing audit log")?;
                Ok(())
            }

            async fn audit_log(&self, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
                let rows: Vec<(i64, String, String, Option<i64>, String, Option<String>)> =
                    sqlx::query_as(
                        "SELECT at_ms, actor, action, version, outcome, detail FROM audit_log \
                         ORDER BY id DESC LIMIT $1",
                    )
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await
                    .context("reading audit log")?;
                Ok(rows
                    .into_iter()
                    .map(|(at_ms, actor, action, version, outcome, detail)| AuditEntry {
                        at_ms,
                        actor,
                        action,
                        version,
                        outcome,
                        detail,
                    })
                    .collect())
            }

            async fn active_version(&self) -> anyhow::Result<Option<i64>> {
                let row: Option<(i64,)> =
                    sqlx::query_as("SELECT version_id FROM active_version WHERE id = 1")
                        .fetch_optional(&self.pool)
                        .await
                        .context("reading active version")?;
                Ok(row.map(|(v,)| v))
            }

            async fn load_catalog(&self, version: i64) -> anyhow::Result<Catalog> {
                let rows: Vec<DatasetRow> = sqlx::query_as(
                    "SELECT ordinal, name, description, owner, domain, location, sensitivity, \
                     tags, allowed_groups, properties FROM datasets WHERE version_id = $1 \
                     ORDER BY ordinal",
                )
                .bind(version)
                .fetch_all(&self.pool)
                .await
                .context("reading datasets")?;
                let mut datasets = Vec::with_capacity(rows.len());
                for (i, row) in rows.into_iter().enumerate() {
                    let (ordinal, name, description, owner, domain, location, sensitivity, tags, groups, props) =
                        row;
                    anyhow::ensure!(ordinal == i as i64, "dataset ordinals of version {version} have a gap");
                    datasets.push(Dataset {
                        name,
                        description,
                        owner,
                        domain,
                        location,
                        sensitivity: Sensitivity::parse(&sensitivity)
                            .with_context(|| format!("bad sensitivity `{sensitivity}` in store"))?,
                        tags: from_json_list(&tags)?,
                        allowed_groups: from_json_list(&groups)?,
                        properties: from_json_map(&props)?,
                        columns: Vec::new(),
                    });
                }
                let columns: Vec<ColumnRow> = sqlx::query_as(
                    "SELECT dataset_ordinal, name, description, data_type, tags, properties \
                     FROM columns WHERE version_id = $1 ORDER BY dataset_ordinal, ordinal",
                )
                .bind(version)
                .fetch_all(&self.pool)
                .await
                .context("reading columns")?;
                for (ds, name, description, data_type, tags, props) in columns {
                    let dataset = datasets
                        .get_mut(ds as usize)
                        .with_context(|| format!("column of unknown dataset {ds}"))?;
                    dataset.columns.push(Column {
                        name,
                        description,
                        data_type,
                        tags: from_json_list(&tags)?,
                        properties: from_json_map(&props)?,
                    });
                }
                Ok(Catalog { datasets })
            }

            async fn versions(&self) -> anyhow::Result<Vec<VersionInfo>> {
                let rows: Vec<VersionRow> = sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT {VERSION_COLUMNS} FROM catalog_versions v \
                     LEFT JOIN active_version a ON a.version_id = v.id ORDER BY v.id DESC"
                )))
                .fetch_all(&self.pool)
                .await
                .context("listing versions")?;
                Ok(rows.into_iter().map(version_from_row).collect())
            }

            async fn version(&self, version: i64) -> anyhow::Result<Option<VersionInfo>> {
                let row: Option<VersionRow> = sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT {VERSION_COLUMNS} FROM catalog_versions v \
                     LEFT JOIN active_version a ON a.version_id = v.id WHERE v.id = $1"
                )))
                .bind(version)
                .fetch_optional(&self.pool)
                .await
                .context("reading version")?;
                Ok(row.map(version_from_row))
            }

            async fn latest_source_hash(&self, source: &str) -> anyhow::Result<Option<String>> {
                let row: Option<(Option<String>,)> = sqlx::query_as(
                    "SELECT source_hash FROM catalog_versions WHERE source = $1 \
                     AND activated_at_ms IS NOT NULL ORDER BY id DESC LIMIT 1",
                )
                .bind(source)
                .fetch_optional(&self.pool)
                .await
                .context("reading source hash")?;
                Ok(row.and_then(|(h,)| h))
            }

            async fn prune_versions(&self, keep: usize) -> anyhow::Result<usize> {
                let inactive: Vec<(i64,)> = sqlx::query_as(
                    "SELECT id FROM catalog_versions WHERE id NOT IN \
                     (SELECT version_id FROM active_version) ORDER BY id DESC",
                )
                .fetch_all(&self.pool)
                .await
                .context("finding versions to prune")?;
                let doomed = inactive.get(keep..).unwrap_or_default();
                for (id,) in doomed {
                    let mut tx = self.pool.begin().await.context("beginning prune")?;
                    for table in ["columns", "datasets", "catalog_versions"] {
                        let column = if table == "catalog_versions" { "id" } else { "version_id" };
                        sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE {column} = $1")))
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .with_context(|| format!("pruning {table} of version {id}"))?;
                    }
                    tx.commit().await.context("committing prune")?;
                }
                Ok(doomed.len())
            }

            async fn create_api_key(&self, record: &ApiKeyRecord, key_hash: &str) -> anyhow::Result<()> {
                sqlx::query(
                    "INSERT INTO api_keys (id, name, key_hash, groups, created_at_ms, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&record.id)
                .bind(&record.name)
                .bind(key_hash)
                .bind(to_json(&record.groups)?)
                .bind(record.created_at_ms)
                .bind(&record.created_by)
                .execute(&self.pool)
                .await
                .context("storing API key")?;
                Ok(())
            }

            async fn api_keys(&self) -> anyhow::Result<Vec<(ApiKeyRecord, String)>> {
                let rows: Vec<(String, String, String, String, i64, String, Option<i64>)> =
                    sqlx::query_as(
                        "SELECT id, name, key_hash, groups, created_at_ms, created_by, revoked_at_ms \
                         FROM api_keys ORDER BY created_at_ms, id",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .context("reading API keys")?;
                rows.into_iter()
                    .map(|(id, name, hash, groups, created_at_ms, created_by, revoked_at_ms)| {
                        Ok((
                            ApiKeyRecord {
                                id,
                                name,
                                groups: from_json_list(&groups)?,
                                created_at_ms,
                                created_by,
                                revoked_at_ms,
                            },
                            hash,
                        ))
                    })
                    .collect()
            }

            async fn revoke_api_key(&self, id: &str) -> anyhow::Result<bool> {
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
                )
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await
                .context("revoking API key")?;
                Ok(done.rows_affected() > 0)
            }

            async fn record_feedback(&self, entry: &FeedbackEntry) -> anyhow::Result<()> {
                sqlx::query(
                    "INSERT INTO feedback (at_ms, question, question_key, dataset, helpful, key_id) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(now_ms())
                .bind(&entry.question)
                .bind(&entry.question_key)
                .bind(&entry.dataset)
                .bind(i64::from(entry.helpful))
                .bind(&entry.key_id)
                .execute(&self.pool)
                .await
                .context("storing feedback")?;
                Ok(())
            }

            async fn feedback_counts(&self) -> anyhow::Result<Vec<FeedbackCount>> {
                let rows: Vec<(String, String, i64, i64, String)> = sqlx::query_as(
                    "SELECT question_key, dataset, CAST(SUM(helpful) AS BIGINT), \
                     CAST(SUM(1 - helpful) AS BIGINT), MAX(question) FROM feedback \
                     GROUP BY question_key, dataset",
                )
                .fetch_all(&self.pool)
                .await
                .context("reading feedback")?;
                Ok(rows
                    .into_iter()
                    .map(|(question_key, dataset, up, down, example)| FeedbackCount {
                        question_key,
                        dataset,
                        up,
                        down,
                        example,
                    })
                    .collect())
            }

            async fn log_question(&self, entry: &QuestionLogEntry) -> anyhow::Result<()> {
                sqlx::query(
                    "INSERT INTO question_log (at_ms, source, question, question_key, key_id, \
                     top_datasets, confidence, mode, latency_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(entry.at_ms)
                .bind(&entry.source)
                .bind(&entry.question)
                .bind(&entry.question_key)
                .bind(&entry.key_id)
                .bind(to_json(&entry.top_datasets)?)
                .bind(entry.confidence)
                .bind(&entry.mode)
                .bind(entry.latency_ms)
                .execute(&self.pool)
                .await
                .context("logging question")?;
                Ok(())
            }

            async fn questions_since(
                &self,
                since_ms: i64,
                limit: usize,
            ) -> anyhow::Result<Vec<QuestionLogEntry>> {
                type Row = (i64, String, String, String, Option<String>, String, f64, String, f64);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT at_ms, source, question, question_key, key_id, top_datasets, \
                     confidence, mode, latency_ms FROM question_log WHERE at_ms >= $1 \
                     ORDER BY at_ms DESC LIMIT $2",
                )
                .bind(since_ms)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
                .context("reading the question log")?;
                rows.into_iter()
                    .map(|(at_ms, source, question, question_key, key_id, top, confidence, mode, latency_ms)| {
                        Ok(QuestionLogEntry {
                            at_ms,
                            source,
                            question,
                            question_key,
                            key_id,
                            top_datasets: from_json_list(&top)?,
                            confidence,
                            mode,
                            latency_ms,
                        })
                    })
                    .collect()
            }

            async fn prune_questions(&self, before_ms: i64) -> anyhow::Result<u64> {
                let done = sqlx::query("DELETE FROM question_log WHERE at_ms < $1")
                    .bind(before_ms)
                    .execute(&self.pool)
                    .await
                    .context("pruning the question log")?;
                Ok(done.rows_affected())
            }

            async fn embeddings(
                &self,
                model: &str,
                hashes: &[String],
            ) -> anyhow::Result<HashMap<String, Vec<f32>>> {
                let mut found = HashMap::with_capacity(hashes.len());
                for chunk in hashes.chunks(INSERT_BATCH) {
                    let mut qb = QueryBuilder::new("SELECT hash, vector FROM embeddings WHERE model = ");
                    qb.push_bind(model.to_string()).push(" AND hash IN (");
                    let mut separated = qb.separated(", ");
                    for hash in chunk {
                        separated.push_bind(hash.clone());
                    }
                    qb.push(")");
                    let rows: Vec<(String, Vec<u8>)> = qb
                        .build_query_as()
                        .fetch_all(&self.pool)
                        .await
                        .context("reading cached embeddings")?;
                    for (hash, bytes) in rows {
                        if let Some(vector) = decode_vector(&bytes) {
                            found.insert(hash, vector);
                        }
                    }
                }
                Ok(found)
            }

            async fn put_embeddings(
                &self,
                model: &str,
                rows: &[(String, Vec<f32>)],
            ) -> anyhow::Result<()> {
                for chunk in rows.chunks(INSERT_BATCH / 4) {
                    let mut qb = QueryBuilder::new("INSERT INTO embeddings (model, hash, vector) ");
                    qb.push_values(chunk, |mut b, (hash, vector)| {
                        b.push_bind(model.to_string())
                            .push_bind(hash.clone())
                            .push_bind(encode_vector(vector));
                    });
                    qb.push(" ON CONFLICT (model, hash) DO NOTHING");
                    qb.build()
                        .execute(&self.pool)
                        .await
                        .context("caching embeddings")?;
                }
                Ok(())
            }
        }
    };
}

impl_store!(PostgresStore, "postgres", notifies: true, listen: listen_postgres);
impl_store!(SqliteStore, "sqlite", notifies: false, listen: no_listen);

async fn listen_postgres(store: &PostgresStore) -> anyhow::Result<Option<BoxStream<'static, ()>>> {
    let mut listener = PgListener::connect_with(&store.pool)
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

async fn no_listen(_: &SqliteStore) -> anyhow::Result<Option<BoxStream<'static, ()>>> {
    Ok(None)
}

fn column_insert<DB: sqlx::Database>() -> QueryBuilder<DB> {
    QueryBuilder::new(
        "INSERT INTO columns (version_id, dataset_ordinal, ordinal, name, description, \
         data_type, tags, properties) ",
    )
}

type ColumnInsert<'c> = (i64, i64, &'c Column, String, String);

fn push_columns<DB>(qb: &mut QueryBuilder<DB>, version: i64, rows: Vec<ColumnInsert<'_>>)
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<String>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    qb.push_values(rows, |mut b, (ds, ordinal, c, tags, props)| {
        b.push_bind(version)
            .push_bind(ds)
            .push_bind(ordinal)
            .push_bind(c.name.clone())
            .push_bind(c.description.clone())
            .push_bind(c.data_type.clone())
            .push_bind(tags)
            .push_bind(props);
    });
}
