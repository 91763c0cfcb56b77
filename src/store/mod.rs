//! The system of record: catalog versions, API keys, feedback, the question log, the
//! embedding cache and the registered sources with their sync history, in Postgres or SQLite.
//!
//! Four traits split what is stored ([`VersionStore`], [`GovernanceStore`],
//! [`EmbeddingCache`], [`SourceStore`]); [`Store`] is all four. One module per backend ([`postgres`],
//! [`sqlite`]) holds its connection, migrations and notifications; the SQL both run unchanged
//! lives once, in `sql`, with typed rows in `rows`. [`connect`] picks the backend from the
//! URL scheme.

mod codec;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::catalog::Catalog;

pub use crate::clock::now_ms;
pub use codec::{decode_vector, encode_vector};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Metadata about one catalog version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionInfo {
    pub version: i64,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    pub created_by: String,
    /// `directory`, `upload`, `merge`, `cli`.
    pub source: String,
    #[serde(skip)]
    pub source_hash: Option<String>,
    pub datasets: i64,
    pub columns: i64,
    pub note: Option<String>,
    pub active: bool,
    /// When the version was first made active; `None` if it never was (an interrupted load).
    pub activated_at_ms: Option<i64>,
}

/// One line of the audit log (also its row).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub at_ms: i64,
    /// Token id of the admin, or `startup`, `sighup`, `cli`.
    pub actor: String,
    /// `load`, `merge`, `reload`, `activate`.
    pub action: String,
    pub version: Option<i64>,
    /// `ok`, `invalid`, `busy`, `error`, `unchanged`.
    pub outcome: String,
    pub detail: Option<String>,
}

/// An API key as stored (the key itself is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub groups: Vec<String>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub revoked_at_ms: Option<i64>,
}

/// A thumbs up or down.
#[derive(Debug, Clone)]
pub struct FeedbackEntry {
    pub question: String,
    pub question_key: String,
    pub dataset: String,
    pub helpful: bool,
    pub key_id: Option<String>,
}

/// Feedback summed per (similar question, dataset) (also its row).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedbackCount {
    pub question_key: String,
    pub dataset: String,
    pub up: i64,
    pub down: i64,
    /// One of the questions, as asked.
    pub example: String,
}

/// One question asked (`/v1/ask`) or searched (`/v1/search`).
#[derive(Debug, Clone)]
pub struct QuestionLogEntry {
    pub at_ms: i64,
    /// `ask` or `search`.
    pub source: String,
    pub question: String,
    pub question_key: String,
    pub key_id: Option<String>,
    pub top_datasets: Vec<String>,
    pub confidence: f64,
    pub mode: String,
    pub latency_ms: f64,
}

/// What a new version is, besides its catalog.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub created_by: String,
    pub source: String,
    pub source_hash: Option<String>,
    pub note: Option<String>,
}

/// A registered source as stored: its kind and settings (JSON, never a secret), its
/// schedule (also its row).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SourceRecord {
    pub id: String,
    /// `postgres`, `sqlite`, `dbt`, `yaml`.
    pub kind: String,
    /// The source's settings as JSON.
    pub config: String,
    /// Seconds between scheduled syncs; `None`: only on request.
    pub every_secs: Option<i64>,
    pub created_at_ms: i64,
    pub created_by: String,
}

/// One sync of a source (also its row).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SyncRecord {
    pub source_id: String,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    /// Token id of the admin, `schedule`.
    pub actor: String,
    /// `ok`, `unchanged`, `dry_run`, `invalid`, `source_failed`, `declassification_refused`,
    /// `busy`, `error`, ...
    pub outcome: String,
    /// The version live after the sync.
    pub version: Option<i64>,
    pub datasets: Option<i64>,
    pub columns: Option<i64>,
    /// The diff's counts, as JSON.
    pub diff: Option<String>,
    /// What failed, or the curated rows that did not apply.
    pub detail: Option<String>,
}

/// Registered sources and their sync history.
#[async_trait]
pub trait SourceStore: Send + Sync + 'static {
    /// Registers a source; `false` when one with this id exists (nothing changes).
    async fn create_source(&self, record: &SourceRecord) -> anyhow::Result<bool>;

    /// Every source, by id.
    async fn sources(&self) -> anyhow::Result<Vec<SourceRecord>>;

    async fn source(&self, id: &str) -> anyhow::Result<Option<SourceRecord>>;

    /// Removes a source and its history; `false` when there is none.
    async fn delete_source(&self, id: &str) -> anyhow::Result<bool>;

    async fn record_sync(&self, record: &SyncRecord) -> anyhow::Result<()>;

    /// The newest `limit` syncs of a source, newest first.
    async fn syncs(&self, source_id: &str, limit: usize) -> anyhow::Result<Vec<SyncRecord>>;

    /// The newest sync of every source that has one.
    async fn last_syncs(&self) -> anyhow::Result<Vec<SyncRecord>>;
}

/// Catalog versions, their activation, and the audit log of loads.
#[async_trait]
pub trait VersionStore: Send + Sync + 'static {
    /// `postgres` or `sqlite`.
    fn backend(&self) -> &'static str;

    /// Cheap round trip, for readiness.
    async fn ping(&self) -> anyhow::Result<()>;

    /// A random id fixed at the store's creation; keys on-disk caches derived from this store.
    async fn instance_id(&self) -> anyhow::Result<String>;

    /// Writes a whole catalog as a new (inactive) version in one transaction.
    async fn create_version(
        &self,
        catalog: &Catalog,
        meta: &NewVersion,
    ) -> anyhow::Result<VersionInfo>;

    /// Points the active version at `version` (one row, one transaction) and tells other
    /// replicas (Postgres `NOTIFY`).
    async fn activate(&self, version: i64) -> anyhow::Result<()>;

    /// A stream that yields whenever another process changes the active version (Postgres
    /// `LISTEN`); `None` where the backend has no notifications (replicas poll instead).
    async fn listen_active(&self) -> anyhow::Result<Option<BoxStream<'static, ()>>>;

    async fn record_audit(&self, entry: &AuditEntry) -> anyhow::Result<()>;

    /// The newest `limit` audit entries, newest first.
    async fn audit_log(&self, limit: usize) -> anyhow::Result<Vec<AuditEntry>>;

    async fn active_version(&self) -> anyhow::Result<Option<i64>>;

    async fn load_catalog(&self, version: i64) -> anyhow::Result<Catalog>;

    /// All versions, newest first.
    async fn versions(&self) -> anyhow::Result<Vec<VersionInfo>>;

    async fn version(&self, version: i64) -> anyhow::Result<Option<VersionInfo>>;

    /// The source hash of the newest version created from `source` that was ever active.
    async fn latest_source_hash(&self, source: &str) -> anyhow::Result<Option<String>>;

    /// Deletes versions beyond the newest `keep` (never the active one); returns how many.
    async fn prune_versions(&self, keep: usize) -> anyhow::Result<usize>;

    /// Deletes one inactive version and its rows (a load that failed after writing it).
    async fn delete_version(&self, version: i64) -> anyhow::Result<()>;
}

/// API keys, feedback votes and the question log.
#[async_trait]
pub trait GovernanceStore: Send + Sync + 'static {
    async fn create_api_key(&self, record: &ApiKeyRecord, key_hash: &str) -> anyhow::Result<()>;

    /// Every key (revoked ones too) with its hash.
    async fn api_keys(&self) -> anyhow::Result<Vec<(ApiKeyRecord, String)>>;

    /// Revokes a key; `false` when there is no such active key.
    async fn revoke_api_key(&self, id: &str) -> anyhow::Result<bool>;

    async fn record_feedback(&self, entry: &FeedbackEntry) -> anyhow::Result<()>;

    async fn feedback_counts(&self) -> anyhow::Result<Vec<FeedbackCount>>;

    /// Logs a batch of questions, all or none.
    async fn log_questions(&self, entries: &[QuestionLogEntry]) -> anyhow::Result<()>;

    /// Questions logged since `since_ms`, newest first, at most `limit`.
    async fn questions_since(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<QuestionLogEntry>>;

    /// Deletes questions logged before `before_ms`; returns how many.
    async fn prune_questions(&self, before_ms: i64) -> anyhow::Result<u64>;
}

/// A proposal waiting for (or after) a steward's review: an LLM-drafted description of a
/// dataset or column, or a synonym suggested by the gaps report. Also its row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ProposalRecord {
    pub id: String,
    /// `description` or `synonym`.
    pub kind: String,
    pub dataset: String,
    /// The column described (descriptions of a column).
    pub column_name: Option<String>,
    /// The glossary term a synonym is for (`None`: a tag of the dataset).
    pub term: Option<String>,
    /// The proposed description, or the synonym.
    pub text: String,
    /// The text it would replace, when the proposal was made.
    pub current_text: Option<String>,
    pub confidence: f64,
    /// The model that drafted it.
    pub model: Option<String>,
    /// Why it is proposed, as JSON (the questions and votes behind a synonym).
    pub evidence: Option<String>,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    pub created_at_ms: i64,
    pub reviewed_by: Option<String>,
    pub reviewed_at_ms: Option<i64>,
    /// The catalog version an accepted proposal made.
    pub version: Option<i64>,
}

/// One helpful / not-helpful vote, as the insights chart it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VoteEvent {
    pub at_ms: i64,
    pub dataset: String,
    pub question_key: String,
    /// 1 helpful, 0 not.
    pub helpful: i64,
    pub key_id: Option<String>,
}

/// The review queue of proposals.
#[async_trait]
pub trait ProposalStore: Send + Sync + 'static {
    /// Stores new proposals; one whose id exists is left as it is (a rejected suggestion is
    /// not proposed again). Returns how many were new.
    async fn put_proposals(&self, proposals: &[ProposalRecord]) -> anyhow::Result<usize>;

    /// Proposals by status and kind (`None`: any), newest first, at most `limit`.
    async fn proposals(
        &self,
        status: Option<&str>,
        kind: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<ProposalRecord>>;

    async fn proposal(&self, id: &str) -> anyhow::Result<Option<ProposalRecord>>;

    /// Records a review of a pending proposal (`accepted` with the text kept and the version
    /// made, or `rejected`); `false` when it is not pending any more.
    async fn review_proposal(
        &self,
        id: &str,
        status: &str,
        reviewer: &str,
        text: Option<&str>,
        version: Option<i64>,
    ) -> anyhow::Result<bool>;

    /// Votes since `since_ms`, oldest first.
    async fn votes_since(&self, since_ms: i64) -> anyhow::Result<Vec<VoteEvent>>;
}

/// Embedding vectors of catalog texts, by model and content hash (bytes to the store; what
/// they mean is the embedding code's business).
#[async_trait]
pub trait EmbeddingCache: Send + Sync + 'static {
    /// Cached vectors of `model` for the given content hashes (those present).
    async fn embeddings(
        &self,
        model: &str,
        hashes: &[String],
    ) -> anyhow::Result<HashMap<String, Vec<f32>>>;

    /// Caches vectors (idempotent).
    async fn put_embeddings(&self, model: &str, rows: &[(String, Vec<f32>)]) -> anyhow::Result<()>;
}

/// Everything the service stores.
pub trait Store:
    VersionStore + GovernanceStore + EmbeddingCache + SourceStore + ProposalStore
{
}

impl<T: VersionStore + GovernanceStore + EmbeddingCache + SourceStore + ProposalStore> Store for T {}

/// Opens (and migrates) the store named by `url`.
pub async fn connect(url: &SecretString) -> anyhow::Result<Arc<dyn Store>> {
    let raw = url.expose_secret();
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        let store = PostgresStore::connect(raw).await?;
        Ok(Arc::new(store))
    } else if raw.starts_with("sqlite:") {
        let store = SqliteStore::connect(raw).await?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!("unsupported database URL scheme (expected postgres:// or sqlite:)")
    }
}
