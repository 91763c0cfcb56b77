//! Typed rows of the store's tables (`FromRow`, by column name), and their conversion into the
//! catalog and governance types. The JSON text columns (tags, groups, properties) are decoded
//! here, so a malformed row is an error with context, never a panic.

use std::collections::BTreeMap;

use anyhow::Context;

use super::{ApiKeyRecord, QuestionLogEntry, VersionInfo};
use crate::catalog::{Column, Dataset, Sensitivity};

/// The columns of [`VersionRow`], from `catalog_versions v LEFT JOIN active_version a`.
pub const VERSION_COLUMNS: &str = "v.id, v.created_at_ms, v.created_by, v.source, v.source_hash, \
     v.dataset_count, v.column_count, v.note, \
     CAST(CASE WHEN a.version_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS active, \
     v.activated_at_ms";

#[derive(sqlx::FromRow)]
pub struct VersionRow {
    pub id: i64,
    pub created_at_ms: i64,
    pub created_by: String,
    pub source: String,
    pub source_hash: Option<String>,
    pub dataset_count: i64,
    pub column_count: i64,
    pub note: Option<String>,
    pub active: i64,
    pub activated_at_ms: Option<i64>,
}

impl From<VersionRow> for VersionInfo {
    fn from(row: VersionRow) -> VersionInfo {
        VersionInfo {
            version: row.id,
            created_at_ms: row.created_at_ms,
            created_by: row.created_by,
            source: row.source,
            source_hash: row.source_hash,
            datasets: row.dataset_count,
            columns: row.column_count,
            note: row.note,
            active: row.active != 0,
            activated_at_ms: row.activated_at_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct DatasetRow {
    pub ordinal: i64,
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub location: Option<String>,
    pub sensitivity: String,
    pub tags: String,
    pub allowed_groups: String,
    pub properties: String,
    pub lineage: String,
}

impl TryFrom<DatasetRow> for Dataset {
    type Error = anyhow::Error;

    fn try_from(row: DatasetRow) -> anyhow::Result<Dataset> {
        Ok(Dataset {
            sensitivity: Sensitivity::parse(&row.sensitivity)
                .with_context(|| format!("bad sensitivity `{}` in store", row.sensitivity))?,
            tags: list(&row.tags)?,
            allowed_groups: list(&row.allowed_groups)?,
            properties: map(&row.properties)?,
            name: row.name,
            description: row.description,
            owner: row.owner,
            domain: row.domain,
            location: row.location,
            columns: Vec::new(),
            lineage: list(&row.lineage)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ColumnRow {
    pub dataset_ordinal: i64,
    pub name: String,
    pub description: Option<String>,
    pub data_type: Option<String>,
    pub tags: String,
    pub properties: String,
    pub refs: String,
}

impl TryFrom<ColumnRow> for Column {
    type Error = anyhow::Error;

    fn try_from(row: ColumnRow) -> anyhow::Result<Column> {
        Ok(Column {
            tags: list(&row.tags)?,
            properties: map(&row.properties)?,
            references: list(&row.refs)?,
            name: row.name,
            description: row.description,
            data_type: row.data_type,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub groups: String,
    pub created_at_ms: i64,
    pub created_by: String,
    pub revoked_at_ms: Option<i64>,
}

impl TryFrom<ApiKeyRow> for (ApiKeyRecord, String) {
    type Error = anyhow::Error;

    fn try_from(row: ApiKeyRow) -> anyhow::Result<(ApiKeyRecord, String)> {
        let record = ApiKeyRecord {
            groups: list(&row.groups)?,
            id: row.id,
            name: row.name,
            created_at_ms: row.created_at_ms,
            created_by: row.created_by,
            revoked_at_ms: row.revoked_at_ms,
        };
        Ok((record, row.key_hash))
    }
}

#[derive(sqlx::FromRow)]
pub struct QuestionRow {
    pub at_ms: i64,
    pub source: String,
    pub question: String,
    pub question_key: String,
    pub key_id: Option<String>,
    pub top_datasets: String,
    pub confidence: f64,
    pub mode: String,
    pub latency_ms: f64,
}

impl TryFrom<QuestionRow> for QuestionLogEntry {
    type Error = anyhow::Error;

    fn try_from(row: QuestionRow) -> anyhow::Result<QuestionLogEntry> {
        Ok(QuestionLogEntry {
            top_datasets: list(&row.top_datasets)?,
            at_ms: row.at_ms,
            source: row.source,
            question: row.question,
            question_key: row.question_key,
            key_id: row.key_id,
            confidence: row.confidence,
            mode: row.mode,
            latency_ms: row.latency_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct EmbeddingRow {
    pub hash: String,
    pub vector: Vec<u8>,
}

/// A JSON column, encoded.
pub fn to_json<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    serde_json::to_string(value).context("encoding JSON column")
}

fn list(text: &str) -> anyhow::Result<Vec<String>> {
    serde_json::from_str(text).context("decoding JSON list column")
}

fn map(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    serde_json::from_str(text).context("decoding JSON map column")
}
