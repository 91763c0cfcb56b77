//! The SQL both backends run unchanged (`$n` placeholders, `RETURNING`, `ON CONFLICT`), once,
//! generic over the sqlx database. Each backend module wraps a [`SqlStore`] of its own pool
//! and implements the store traits by calling these methods ([`impl_store_traits!`]).

use std::collections::HashMap;

use anyhow::Context;
use sqlx::{
    AssertSqlSafe, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Type,
};

use super::codec::{decode_vector, encode_vector};
use super::rows::{
    ApiKeyRow, ColumnRow, DatasetRow, EmbeddingRow, QuestionRow, VERSION_COLUMNS, VersionRow,
    to_json,
};
use super::{
    ApiKeyRecord, AuditEntry, FeedbackCount, FeedbackEntry, NewVersion, ProposalRecord,
    QuestionLogEntry, SourceRecord, SyncRecord, VersionInfo, VoteEvent, now_ms,
};
use crate::catalog::{Catalog, Column, Dataset};

/// The columns of a proposal row, in [`ProposalRecord`]'s order.
const PROPOSAL_COLUMNS: &str = "id, kind, dataset, column_name, term, text, current_text, \
     confidence, model, evidence, status, created_at_ms, reviewed_by, reviewed_at_ms, version";

/// Rows per multi-row INSERT (12 binds per dataset row stays far below both backends' limits).
const INSERT_BATCH: usize = 1000;

/// What differs between backends inside the shared SQL.
pub trait Dialect: Database {
    /// Whether an activation notifies other replicas (Postgres `pg_notify`, inside the
    /// activation's transaction).
    const NOTIFIES: bool;

    /// Rows an `UPDATE` or `DELETE` touched.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// Channel of active-version notifications between replicas.
pub const ACTIVE_CHANNEL: &str = "descoberta_active";

/// A pool and the shared SQL over it.
pub struct SqlStore<DB: Database> {
    pub pool: Pool<DB>,
}

impl<DB> SqlStore<DB>
where
    DB: Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    /// Opens a pool of at most `max` connections and runs `migrations` on it; `what` names
    /// the backend in errors.
    pub async fn open(
        options: <DB::Connection as sqlx::Connection>::Options,
        max: u32,
        migrations: sqlx::migrate::Migrator,
        what: &str,
    ) -> anyhow::Result<SqlStore<DB>> {
        let pool = sqlx::pool::PoolOptions::<DB>::new()
            .max_connections(max)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to {what}"))?;
        migrations
            .run(&pool)
            .await
            .with_context(|| format!("running {what} migrations"))?;
        Ok(SqlStore { pool })
    }
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB> + sqlx::ColumnIndex<DB::Row>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("pinging the store")?;
        Ok(())
    }

    pub async fn instance_id(&self) -> anyhow::Result<String> {
        let candidate = format!("{:016x}", rand::random::<u64>());
        sqlx::query(
            "INSERT INTO store_meta (key, value) VALUES ('instance_id', $1) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(candidate)
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

    pub async fn create_version(
        &self,
        catalog: &Catalog,
        meta: &NewVersion,
    ) -> anyhow::Result<VersionInfo> {
        let mut tx = self.pool.begin().await.context("beginning transaction")?;
        let created_at_ms = now_ms();
        let (version,): (i64,) = sqlx::query_as(
            "INSERT INTO catalog_versions \
             (created_at_ms, created_by, source, source_hash, dataset_count, column_count, note, \
             glossary) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(created_at_ms)
        .bind(meta.created_by.clone())
        .bind(meta.source.clone())
        .bind(meta.source_hash.clone())
        .bind(catalog.datasets.len() as i64)
        .bind(catalog.column_count() as i64)
        .bind(meta.note.clone())
        .bind(to_json(&catalog.terms)?)
        .fetch_one(&mut *tx)
        .await
        .context("inserting catalog version")?;

        let datasets: Vec<(usize, &Dataset)> = catalog.datasets.iter().enumerate().collect();
        for chunk in datasets.chunks(INSERT_BATCH) {
            let mut rows = Vec::with_capacity(chunk.len());
            for (ordinal, d) in chunk {
                let json = (
                    to_json(&d.tags)?,
                    to_json(&d.allowed_groups)?,
                    to_json(&d.properties)?,
                    to_json(&d.lineage)?,
                );
                rows.push((*ordinal as i64, *d, json));
            }
            let mut qb = QueryBuilder::new(
                "INSERT INTO datasets (version_id, ordinal, name, description, owner, \
                 domain, location, sensitivity, tags, allowed_groups, properties, lineage) ",
            );
            qb.push_values(
                rows,
                |mut b, (ordinal, d, (tags, groups, props, lineage))| {
                    b.push_bind(version)
                        .push_bind(ordinal)
                        .push_bind(d.name.clone())
                        .push_bind(d.description.clone())
                        .push_bind(d.owner.clone())
                        .push_bind(d.domain.clone())
                        .push_bind(d.location.clone())
                        .push_bind(d.sensitivity.as_str().to_string())
                        .push_bind(tags)
                        .push_bind(groups)
                        .push_bind(props)
                        .push_bind(lineage);
                },
            );
            qb.build()
                .execute(&mut *tx)
                .await
                .context("inserting datasets")?;
        }

        let mut columns: Vec<(i64, i64, &Column)> = Vec::with_capacity(INSERT_BATCH);
        for (ds, d) in catalog.datasets.iter().enumerate() {
            for (ordinal, c) in d.columns.iter().enumerate() {
                columns.push((ds as i64, ordinal as i64, c));
                if columns.len() == INSERT_BATCH {
                    insert_columns(&mut tx, version, &columns).await?;
                    columns.clear();
                }
            }
        }
        if !columns.is_empty() {
            insert_columns(&mut tx, version, &columns).await?;
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

    pub async fn activate(&self, version: i64) -> anyhow::Result<()> {
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
        anyhow::ensure!(
            DB::rows_affected(&updated) == 1,
            "catalog version {version} does not exist"
        );
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
        if DB::NOTIFIES {
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

    pub async fn record_audit(&self, entry: &AuditEntry) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at_ms, actor, action, version, outcome, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.at_ms)
        .bind(entry.actor.clone())
        .bind(entry.action.clone())
        .bind(entry.version)
        .bind(entry.outcome.clone())
        .bind(entry.detail.clone())
        .execute(&self.pool)
        .await
        .context("writing audit log")?;
        Ok(())
    }

    pub async fn audit_log(&self, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
        let rows: Vec<AuditEntry> = sqlx::query_as(
            "SELECT at_ms, actor, action, version, outcome, detail FROM audit_log \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .context("reading audit log")?;
        Ok(rows)
    }

    pub async fn active_version(&self) -> anyhow::Result<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT version_id FROM active_version WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .context("reading active version")?;
        Ok(row.map(|(v,)| v))
    }

    pub async fn load_catalog(&self, version: i64) -> anyhow::Result<Catalog> {
        let rows: Vec<DatasetRow> = sqlx::query_as(
            "SELECT ordinal, name, description, owner, domain, location, sensitivity, \
             tags, allowed_groups, properties, lineage FROM datasets WHERE version_id = $1 \
             ORDER BY ordinal",
        )
        .bind(version)
        .fetch_all(&self.pool)
        .await
        .context("reading datasets")?;
        let mut datasets = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            anyhow::ensure!(
                row.ordinal == i as i64,
                "dataset ordinals of version {version} have a gap"
            );
            datasets.push(Dataset::try_from(row)?);
        }
        let columns: Vec<ColumnRow> = sqlx::query_as(
            "SELECT dataset_ordinal, name, description, data_type, tags, properties, refs \
             FROM columns WHERE version_id = $1 ORDER BY dataset_ordinal, ordinal",
        )
        .bind(version)
        .fetch_all(&self.pool)
        .await
        .context("reading columns")?;
        for row in columns {
            let ds = row.dataset_ordinal;
            let dataset = datasets
                .get_mut(ds as usize)
                .with_context(|| format!("column of unknown dataset {ds}"))?;
            dataset.columns.push(Column::try_from(row)?);
        }
        let (glossary,): (String,) =
            sqlx::query_as("SELECT glossary FROM catalog_versions WHERE id = $1")
                .bind(version)
                .fetch_one(&self.pool)
                .await
                .context("reading the glossary")?;
        let terms = serde_json::from_str(&glossary)
            .with_context(|| format!("decoding the glossary of version {version}"))?;
        Ok(Catalog { datasets, terms })
    }

    pub async fn versions(&self) -> anyhow::Result<Vec<VersionInfo>> {
        let rows: Vec<VersionRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM catalog_versions v \
             LEFT JOIN active_version a ON a.version_id = v.id ORDER BY v.id DESC"
        )))
        .fetch_all(&self.pool)
        .await
        .context("listing versions")?;
        Ok(rows.into_iter().map(VersionInfo::from).collect())
    }

    pub async fn version(&self, version: i64) -> anyhow::Result<Option<VersionInfo>> {
        let row: Option<VersionRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM catalog_versions v \
             LEFT JOIN active_version a ON a.version_id = v.id WHERE v.id = $1"
        )))
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .context("reading version")?;
        Ok(row.map(VersionInfo::from))
    }

    pub async fn latest_source_hash(&self, source: &str) -> anyhow::Result<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT source_hash FROM catalog_versions WHERE source = $1 \
             AND activated_at_ms IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(source.to_string())
        .fetch_optional(&self.pool)
        .await
        .context("reading source hash")?;
        Ok(row.and_then(|(h,)| h))
    }

    pub async fn prune_versions(&self, keep: usize) -> anyhow::Result<usize> {
        let inactive: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM catalog_versions WHERE id NOT IN \
             (SELECT version_id FROM active_version) ORDER BY id DESC",
        )
        .fetch_all(&self.pool)
        .await
        .context("finding versions to prune")?;
        let doomed = inactive.get(keep..).unwrap_or_default();
        for (id,) in doomed {
            self.delete_version(*id).await?;
        }
        Ok(doomed.len())
    }

    /// Deletes one version and its rows (never called on the active one).
    pub async fn delete_version(&self, id: i64) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await.context("beginning prune")?;
        for table in ["columns", "datasets", "catalog_versions"] {
            let column = if table == "catalog_versions" {
                "id"
            } else {
                "version_id"
            };
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE {column} = $1"
            )))
            .bind(id)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("pruning {table} of version {id}"))?;
        }
        tx.commit().await.context("committing prune")?;
        Ok(())
    }

    pub async fn create_api_key(
        &self,
        record: &ApiKeyRecord,
        key_hash: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, key_hash, groups, created_at_ms, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(record.id.clone())
        .bind(record.name.clone())
        .bind(key_hash.to_string())
        .bind(to_json(&record.groups)?)
        .bind(record.created_at_ms)
        .bind(record.created_by.clone())
        .execute(&self.pool)
        .await
        .context("storing API key")?;
        Ok(())
    }

    pub async fn api_keys(&self) -> anyhow::Result<Vec<(ApiKeyRecord, String)>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(
            "SELECT id, name, key_hash, groups, created_at_ms, created_by, revoked_at_ms \
             FROM api_keys ORDER BY created_at_ms, id",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading API keys")?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }

    pub async fn revoke_api_key(&self, id: &str) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms())
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .context("revoking API key")?;
        Ok(DB::rows_affected(&done) > 0)
    }

    pub async fn record_feedback(&self, entry: &FeedbackEntry) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO feedback (at_ms, question, question_key, dataset, helpful, key_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now_ms())
        .bind(entry.question.clone())
        .bind(entry.question_key.clone())
        .bind(entry.dataset.clone())
        .bind(i64::from(entry.helpful))
        .bind(entry.key_id.clone())
        .execute(&self.pool)
        .await
        .context("storing feedback")?;
        Ok(())
    }

    pub async fn feedback_counts(&self) -> anyhow::Result<Vec<FeedbackCount>> {
        let rows: Vec<FeedbackCount> = sqlx::query_as(
            "SELECT question_key, dataset, CAST(SUM(helpful) AS BIGINT) AS up, \
             CAST(SUM(1 - helpful) AS BIGINT) AS down, MAX(question) AS example \
             FROM feedback GROUP BY question_key, dataset",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading feedback")?;
        Ok(rows)
    }

    /// Writes a batch of question-log entries in one transaction.
    pub async fn log_questions(&self, entries: &[QuestionLogEntry]) -> anyhow::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.context("beginning question log")?;
        for entry in entries {
            sqlx::query(
                "INSERT INTO question_log (at_ms, source, question, question_key, key_id, \
                 top_datasets, confidence, mode, latency_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(entry.at_ms)
            .bind(entry.source.clone())
            .bind(entry.question.clone())
            .bind(entry.question_key.clone())
            .bind(entry.key_id.clone())
            .bind(to_json(&entry.top_datasets)?)
            .bind(entry.confidence)
            .bind(entry.mode.clone())
            .bind(entry.latency_ms)
            .execute(&mut *tx)
            .await
            .context("logging question")?;
        }
        tx.commit().await.context("committing question log")?;
        Ok(())
    }

    pub async fn put_proposals(&self, proposals: &[ProposalRecord]) -> anyhow::Result<usize> {
        let mut added = 0;
        let mut tx = self.pool.begin().await.context("beginning proposals")?;
        for p in proposals {
            let done = sqlx::query(
                "INSERT INTO proposals (id, kind, dataset, column_name, term, text, \
                 current_text, confidence, model, evidence, status, created_at_ms, reviewed_by, \
                 reviewed_at_ms, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(p.id.clone())
            .bind(p.kind.clone())
            .bind(p.dataset.clone())
            .bind(p.column_name.clone())
            .bind(p.term.clone())
            .bind(p.text.clone())
            .bind(p.current_text.clone())
            .bind(p.confidence)
            .bind(p.model.clone())
            .bind(p.evidence.clone())
            .bind(p.status.clone())
            .bind(p.created_at_ms)
            .bind(p.reviewed_by.clone())
            .bind(p.reviewed_at_ms)
            .bind(p.version)
            .execute(&mut *tx)
            .await
            .context("storing a proposal")?;
            added += DB::rows_affected(&done) as usize;
        }
        tx.commit().await.context("committing proposals")?;
        Ok(added)
    }

    pub async fn proposals(
        &self,
        status: Option<&str>,
        kind: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<ProposalRecord>> {
        let rows: Vec<ProposalRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals \
                 WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR kind = $2) \
                 ORDER BY created_at_ms DESC, id LIMIT $3"
        )))
        .bind(status.map(str::to_string))
        .bind(kind.map(str::to_string))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .context("reading proposals")?;
        Ok(rows)
    }

    pub async fn proposal(&self, id: &str) -> anyhow::Result<Option<ProposalRecord>> {
        let row: Option<ProposalRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .context("reading a proposal")?;
        Ok(row)
    }

    pub async fn review_proposal(
        &self,
        id: &str,
        status: &str,
        reviewer: &str,
        text: Option<&str>,
        version: Option<i64>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE proposals SET status = $1, reviewed_by = $2, reviewed_at_ms = $3, \
             text = COALESCE($4, text), version = $5 WHERE id = $6 AND status = 'pending'",
        )
        .bind(status.to_string())
        .bind(reviewer.to_string())
        .bind(now_ms())
        .bind(text.map(str::to_string))
        .bind(version)
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .context("reviewing a proposal")?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub async fn votes_since(&self, since_ms: i64) -> anyhow::Result<Vec<VoteEvent>> {
        let rows: Vec<VoteEvent> = sqlx::query_as(
            "SELECT at_ms, dataset, question_key, CAST(helpful AS BIGINT) AS helpful, key_id \
             FROM feedback WHERE at_ms >= $1 ORDER BY at_ms",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .context("reading votes")?;
        Ok(rows)
    }

    pub async fn questions_since(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<QuestionLogEntry>> {
        let rows: Vec<QuestionRow> = sqlx::query_as(
            "SELECT at_ms, source, question, question_key, key_id, top_datasets, \
             confidence, mode, latency_ms FROM question_log WHERE at_ms >= $1 \
             ORDER BY at_ms DESC LIMIT $2",
        )
        .bind(since_ms)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .context("reading the question log")?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }

    pub async fn prune_questions(&self, before_ms: i64) -> anyhow::Result<u64> {
        let done = sqlx::query("DELETE FROM question_log WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .context("pruning the question log")?;
        Ok(DB::rows_affected(&done))
    }

    pub async fn embeddings(
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
            let rows: Vec<EmbeddingRow> = qb
                .build_query_as()
                .fetch_all(&self.pool)
                .await
                .context("reading cached embeddings")?;
            for row in rows {
                if let Some(vector) = decode_vector(&row.vector) {
                    found.insert(row.hash, vector);
                }
            }
        }
        Ok(found)
    }

    pub async fn put_embeddings(
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

/// The columns of [`SyncRecord`].
const SYNC_COLUMNS: &str = "source_id, started_at_ms, finished_at_ms, actor, outcome, version, \
     datasets, columns, diff, detail";

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB> + sqlx::ColumnIndex<DB::Row>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    pub async fn create_source(&self, record: &SourceRecord) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO sources (id, kind, config, every_secs, created_at_ms, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(record.id.clone())
        .bind(record.kind.clone())
        .bind(record.config.clone())
        .bind(record.every_secs)
        .bind(record.created_at_ms)
        .bind(record.created_by.clone())
        .execute(&self.pool)
        .await
        .context("registering a source")?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub async fn sources(&self) -> anyhow::Result<Vec<SourceRecord>> {
        let rows: Vec<SourceRecord> = sqlx::query_as(
            "SELECT id, kind, config, every_secs, created_at_ms, created_by FROM sources \
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing sources")?;
        Ok(rows)
    }

    pub async fn source(&self, id: &str) -> anyhow::Result<Option<SourceRecord>> {
        let row: Option<SourceRecord> = sqlx::query_as(
            "SELECT id, kind, config, every_secs, created_at_ms, created_by FROM sources \
             WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .context("reading a source")?;
        Ok(row)
    }

    pub async fn delete_source(&self, id: &str) -> anyhow::Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("beginning source removal")?;
        sqlx::query("DELETE FROM source_syncs WHERE source_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .context("removing a source's history")?;
        let done = sqlx::query("DELETE FROM sources WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .context("removing a source")?;
        tx.commit().await.context("committing source removal")?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub async fn record_sync(&self, record: &SyncRecord) -> anyhow::Result<()> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO source_syncs ({SYNC_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(record.source_id.clone())
        .bind(record.started_at_ms)
        .bind(record.finished_at_ms)
        .bind(record.actor.clone())
        .bind(record.outcome.clone())
        .bind(record.version)
        .bind(record.datasets)
        .bind(record.columns)
        .bind(record.diff.clone())
        .bind(record.detail.clone())
        .execute(&self.pool)
        .await
        .context("recording a sync")?;
        Ok(())
    }

    pub async fn syncs(&self, source_id: &str, limit: usize) -> anyhow::Result<Vec<SyncRecord>> {
        let rows: Vec<SyncRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SYNC_COLUMNS} FROM source_syncs WHERE source_id = $1 \
             ORDER BY id DESC LIMIT $2"
        )))
        .bind(source_id.to_string())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .context("reading a source's syncs")?;
        Ok(rows)
    }

    pub async fn last_syncs(&self) -> anyhow::Result<Vec<SyncRecord>> {
        let rows: Vec<SyncRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SYNC_COLUMNS} FROM source_syncs WHERE id IN \
             (SELECT MAX(id) FROM source_syncs GROUP BY source_id) ORDER BY source_id"
        )))
        .fetch_all(&self.pool)
        .await
        .context("reading the last syncs")?;
        Ok(rows)
    }
}

/// Implements [`super::SourceStore`] for a backend's store type by calling the shared SQL of
/// its `sql: SqlStore<_>` field.
macro_rules! impl_source_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::SourceStore for $store {
            async fn create_source(
                &self,
                record: &$crate::store::SourceRecord,
            ) -> anyhow::Result<bool> {
                self.sql.create_source(record).await
            }
            async fn sources(&self) -> anyhow::Result<Vec<$crate::store::SourceRecord>> {
                self.sql.sources().await
            }
            async fn source(
                &self,
                id: &str,
            ) -> anyhow::Result<Option<$crate::store::SourceRecord>> {
                self.sql.source(id).await
            }
            async fn delete_source(&self, id: &str) -> anyhow::Result<bool> {
                self.sql.delete_source(id).await
            }
            async fn record_sync(&self, record: &$crate::store::SyncRecord) -> anyhow::Result<()> {
                self.sql.record_sync(record).await
            }
            async fn syncs(
                &self,
                source_id: &str,
                limit: usize,
            ) -> anyhow::Result<Vec<$crate::store::SyncRecord>> {
                self.sql.syncs(source_id, limit).await
            }
            async fn last_syncs(&self) -> anyhow::Result<Vec<$crate::store::SyncRecord>> {
                self.sql.last_syncs().await
            }
        }
    };
}

pub(super) use impl_source_store;

/// One multi-row INSERT of column rows `(dataset ordinal, ordinal, column)`.
async fn insert_columns<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    version: i64,
    columns: &[(i64, i64, &Column)],
) -> anyhow::Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
{
    let mut rows = Vec::with_capacity(columns.len());
    for &(ds, ordinal, c) in columns {
        let json = (
            to_json(&c.tags)?,
            to_json(&c.properties)?,
            to_json(&c.references)?,
        );
        rows.push((ds, ordinal, c, json));
    }
    let mut qb = QueryBuilder::new(
        "INSERT INTO columns (version_id, dataset_ordinal, ordinal, name, description, \
         data_type, tags, properties, refs) ",
    );
    qb.push_values(rows, |mut b, (ds, ordinal, c, (tags, props, refs))| {
        b.push_bind(version)
            .push_bind(ds)
            .push_bind(ordinal)
            .push_bind(c.name.clone())
            .push_bind(c.description.clone())
            .push_bind(c.data_type.clone())
            .push_bind(tags)
            .push_bind(props)
            .push_bind(refs);
    });
    qb.build()
        .execute(&mut **tx)
        .await
        .context("inserting columns")?;
    Ok(())
}

/// Implements [`super::VersionStore`], [`super::GovernanceStore`] and
/// [`super::EmbeddingCache`] for a backend's store type by calling the shared SQL of its
/// `sql: SqlStore<_>` field; `backend` and `listen` are the backend's own.
macro_rules! impl_store_traits {
    ($store:ty, backend: $backend:literal, listen: $listen:path) => {
        #[async_trait::async_trait]
        impl $crate::store::VersionStore for $store {
            fn backend(&self) -> &'static str {
                $backend
            }
            async fn ping(&self) -> anyhow::Result<()> {
                self.sql.ping().await
            }
            async fn instance_id(&self) -> anyhow::Result<String> {
                self.sql.instance_id().await
            }
            async fn create_version(
                &self,
                catalog: &$crate::catalog::Catalog,
                meta: &$crate::store::NewVersion,
            ) -> anyhow::Result<$crate::store::VersionInfo> {
                self.sql.create_version(catalog, meta).await
            }
            async fn activate(&self, version: i64) -> anyhow::Result<()> {
                self.sql.activate(version).await
            }
            async fn listen_active(
                &self,
            ) -> anyhow::Result<Option<futures::stream::BoxStream<'static, ()>>> {
                $listen(self).await
            }
            async fn record_audit(&self, entry: &$crate::store::AuditEntry) -> anyhow::Result<()> {
                self.sql.record_audit(entry).await
            }
            async fn audit_log(
                &self,
                limit: usize,
            ) -> anyhow::Result<Vec<$crate::store::AuditEntry>> {
                self.sql.audit_log(limit).await
            }
            async fn active_version(&self) -> anyhow::Result<Option<i64>> {
                self.sql.active_version().await
            }
            async fn load_catalog(&self, version: i64) -> anyhow::Result<$crate::catalog::Catalog> {
                self.sql.load_catalog(version).await
            }
            async fn versions(&self) -> anyhow::Result<Vec<$crate::store::VersionInfo>> {
                self.sql.versions().await
            }
            async fn version(
                &self,
                version: i64,
            ) -> anyhow::Result<Option<$crate::store::VersionInfo>> {
                self.sql.version(version).await
            }
            async fn latest_source_hash(&self, source: &str) -> anyhow::Result<Option<String>> {
                self.sql.latest_source_hash(source).await
            }
            async fn prune_versions(&self, keep: usize) -> anyhow::Result<usize> {
                self.sql.prune_versions(keep).await
            }
            async fn delete_version(&self, version: i64) -> anyhow::Result<()> {
                self.sql.delete_version(version).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::GovernanceStore for $store {
            async fn create_api_key(
                &self,
                record: &$crate::store::ApiKeyRecord,
                key_hash: &str,
            ) -> anyhow::Result<()> {
                self.sql.create_api_key(record, key_hash).await
            }
            async fn api_keys(&self) -> anyhow::Result<Vec<($crate::store::ApiKeyRecord, String)>> {
                self.sql.api_keys().await
            }
            async fn revoke_api_key(&self, id: &str) -> anyhow::Result<bool> {
                self.sql.revoke_api_key(id).await
            }
            async fn record_feedback(
                &self,
                entry: &$crate::store::FeedbackEntry,
            ) -> anyhow::Result<()> {
                self.sql.record_feedback(entry).await
            }
            async fn feedback_counts(&self) -> anyhow::Result<Vec<$crate::store::FeedbackCount>> {
                self.sql.feedback_counts().await
            }
            async fn log_questions(
                &self,
                entries: &[$crate::store::QuestionLogEntry],
            ) -> anyhow::Result<()> {
                self.sql.log_questions(entries).await
            }
            async fn questions_since(
                &self,
                since_ms: i64,
                limit: usize,
            ) -> anyhow::Result<Vec<$crate::store::QuestionLogEntry>> {
                self.sql.questions_since(since_ms, limit).await
            }
            async fn prune_questions(&self, before_ms: i64) -> anyhow::Result<u64> {
                self.sql.prune_questions(before_ms).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::ProposalStore for $store {
            async fn put_proposals(
                &self,
                proposals: &[$crate::store::ProposalRecord],
            ) -> anyhow::Result<usize> {
                self.sql.put_proposals(proposals).await
            }
            async fn proposals(
                &self,
                status: Option<&str>,
                kind: Option<&str>,
                limit: usize,
            ) -> anyhow::Result<Vec<$crate::store::ProposalRecord>> {
                self.sql.proposals(status, kind, limit).await
            }
            async fn proposal(
                &self,
                id: &str,
            ) -> anyhow::Result<Option<$crate::store::ProposalRecord>> {
                self.sql.proposal(id).await
            }
            async fn review_proposal(
                &self,
                id: &str,
                status: &str,
                reviewer: &str,
                text: Option<&str>,
                version: Option<i64>,
            ) -> anyhow::Result<bool> {
                self.sql
                    .review_proposal(id, status, reviewer, text, version)
                    .await
            }
            async fn votes_since(
                &self,
                since_ms: i64,
            ) -> anyhow::Result<Vec<$crate::store::VoteEvent>> {
                self.sql.votes_since(since_ms).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::EmbeddingCache for $store {
            async fn embeddings(
                &self,
                model: &str,
                hashes: &[String],
            ) -> anyhow::Result<std::collections::HashMap<String, Vec<f32>>> {
                self.sql.embeddings(model, hashes).await
            }
            async fn put_embeddings(
                &self,
                model: &str,
                rows: &[(String, Vec<f32>)],
            ) -> anyhow::Result<()> {
                self.sql.put_embeddings(model, rows).await
            }
        }
    };
}

pub(super) use impl_store_traits;
