//! Registered sources and their syncs. A sync reads its source (crawl, dbt artifacts, YAML
//! files; then the curated CSV rows), replaces the datasets the source owns in the live
//! catalog (`sources::combine`), and goes through the same pipeline as any load: validation,
//! the declassification rule, one store transaction, the index, activation. A sync that
//! changes nothing creates no version. Every sync is recorded in the source's history and
//! in the audit log, failures included; a failure changes nothing.
//!
//! Scheduled sources (`every`) are synced by [`Versions::run_schedule`], which the service
//! runs in the background.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{LoadError, LoadGuard, LoadMode, LoadOptions, LoadOutcome, Versions, outcome_of};
use crate::catalog::{Catalog, CatalogDiff, CatalogPatch, CatalogProblem};
use crate::clock::now_ms;
use crate::sources::combine::replace_scope;
use crate::sources::spec::SourceRead;
use crate::sources::{SourceConfig, SourceError, SourceKind, SourceSpec};
use crate::store::{NewVersion, SourceRecord, SyncRecord};

/// How to sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Read and diff only.
    pub dry_run: bool,
    /// Allow a sync that makes a dataset visible to more callers (refused otherwise).
    pub allow_declassify: bool,
}

/// A registered source with its schedule and last sync.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub spec: SourceSpec,
    pub every: Option<Duration>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub last_sync: Option<SyncRecord>,
}

/// Why a source was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("a source `{0}` is already registered")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The `source` of versions a sync of `id` creates.
pub fn version_source(id: &str) -> String {
    format!("source:{id}")
}

fn decode(record: SourceRecord, last_sync: Option<SyncRecord>) -> anyhow::Result<SourceInfo> {
    let kind = SourceKind::parse(&record.kind)
        .with_context(|| format!("unknown kind `{}` of source `{}`", record.kind, record.id))?;
    let config: SourceConfig = serde_json::from_str(&record.config)
        .with_context(|| format!("decoding the settings of source `{}`", record.id))?;
    Ok(SourceInfo {
        spec: SourceSpec {
            id: record.id,
            kind,
            config,
        },
        every: record
            .every_secs
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
        created_at_ms: record.created_at_ms,
        created_by: record.created_by,
        last_sync,
    })
}

/// The diff's counts as stored in the sync history.
fn diff_summary(diff: &CatalogDiff) -> String {
    let c = diff.counts;
    serde_json::json!({
        "datasets_added": c.datasets_added,
        "datasets_removed": c.datasets_removed,
        "datasets_changed": c.datasets_changed,
        "columns_added": c.columns_added,
        "columns_removed": c.columns_removed,
        "security_changes": diff.security_changes.len(),
    })
    .to_string()
}

fn warnings_summary(warnings: &[CatalogProblem]) -> Option<String> {
    if warnings.is_empty() {
        return None;
    }
    let shown: Vec<String> = warnings
        .iter()
        .take(5)
        .map(|w| format!("{}:{} {}", w.file, w.line, w.message))
        .collect();
    Some(format!(
        "{} curated row(s) did not apply: {}",
        warnings.len(),
        shown.join("; ")
    ))
}

impl Versions {
    /// Registers a source (checked first; never a secret in its settings).
    pub async fn register_source(
        &self,
        actor: &str,
        spec: SourceSpec,
        every: Option<Duration>,
    ) -> Result<SourceInfo, RegisterError> {
        spec.validate().map_err(RegisterError::Invalid)?;
        let config = serde_json::to_string(&spec.config).context("encoding source settings")?;
        let record = SourceRecord {
            id: spec.id.clone(),
            kind: spec.kind.as_str().to_string(),
            config,
            every_secs: every.map(|d| d.as_secs() as i64),
            created_at_ms: now_ms(),
            created_by: actor.to_string(),
        };
        if !self.store.create_source(&record).await? {
            return Err(RegisterError::Exists(spec.id));
        }
        self.audit_admin(actor, "register_source", &spec.id).await;
        Ok(decode(record, None)?)
    }

    /// Every registered source with its last sync, by id.
    pub async fn sources(&self) -> anyhow::Result<Vec<SourceInfo>> {
        let mut last: HashMap<String, SyncRecord> = self
            .store
            .last_syncs()
            .await?
            .into_iter()
            .map(|s| (s.source_id.clone(), s))
            .collect();
        self.store
            .sources()
            .await?
            .into_iter()
            .map(|record| {
                let sync = last.remove(&record.id);
                decode(record, sync)
            })
            .collect()
    }

    /// One source with its last sync.
    pub async fn source(&self, id: &str) -> anyhow::Result<Option<SourceInfo>> {
        let Some(record) = self.store.source(id).await? else {
            return Ok(None);
        };
        let last = self.store.syncs(id, 1).await?.into_iter().next();
        decode(record, last).map(Some)
    }

    /// The newest `limit` syncs of a source, newest first.
    pub async fn sync_history(&self, id: &str, limit: usize) -> Result<Vec<SyncRecord>, LoadError> {
        if self.store.source(id).await?.is_none() {
            return Err(LoadError::UnknownSource(id.to_string()));
        }
        Ok(self.store.syncs(id, limit).await?)
    }

    /// Removes a source and its history; the datasets it produced stay until a load
    /// replaces them. `false` when there is none.
    pub async fn delete_source(&self, actor: &str, id: &str) -> anyhow::Result<bool> {
        let removed = self.store.delete_source(id).await?;
        if removed {
            self.audit_admin(actor, "delete_source", id).await;
        }
        Ok(removed)
    }

    async fn audit_admin(&self, actor: &str, action: &str, id: &str) {
        let entry = crate::store::AuditEntry {
            at_ms: now_ms(),
            actor: actor.to_string(),
            action: action.to_string(),
            version: None,
            outcome: "ok".to_string(),
            detail: Some(format!("source `{id}`")),
        };
        if let Err(e) = self.store.record_audit(&entry).await {
            tracing::error!(error = ?e, "could not write the audit log");
        }
    }

    /// Syncs a registered source once: read it, and load what changed. Recorded in the
    /// source's history and the audit log whatever happens.
    pub async fn sync_source(
        self: &Arc<Self>,
        actor: &str,
        id: &str,
        options: SyncOptions,
    ) -> Result<LoadOutcome, LoadError> {
        self.sync_source_as(actor, id, options, true).await
    }

    async fn sync_source_as(
        self: &Arc<Self>,
        actor: &str,
        id: &str,
        options: SyncOptions,
        record_busy: bool,
    ) -> Result<LoadOutcome, LoadError> {
        let this = self.clone();
        let actor = actor.to_string();
        let id = id.to_string();
        self.detached(async move {
            let started_at_ms = now_ms();
            let result = async {
                let record = this
                    .store
                    .source(&id)
                    .await?
                    .ok_or_else(|| LoadError::UnknownSource(id.clone()))?;
                let spec = decode(record, None)?.spec;
                let guard = this.begin_load().await?;
                let max = this.settings.limits.max_upload_bytes;
                let read = spec.read(max).await.map_err(|e| match e.named(&id) {
                    SourceError::Invalid(invalid) => LoadError::SourceInvalid {
                        name: id.clone(),
                        invalid,
                    },
                    other => other.into(),
                })?;
                this.apply_sync(&guard, &actor, &id, read, options).await
            }
            .await;
            if matches!(result, Err(LoadError::UnknownSource(_)))
                || (!record_busy && matches!(result, Err(LoadError::Busy)))
            {
                return result;
            }
            this.record_sync(&id, &actor, started_at_ms, &result).await;
            this.audited_about(&actor, "sync", Some(&format!("source `{id}`")), result)
                .await
        })
        .await
    }

    /// Loads what an unregistered source found (`descoberta crawl`), as a sync of `name`
    /// would: the datasets it produced before are replaced, others stay.
    pub async fn sync_found(
        self: &Arc<Self>,
        actor: &str,
        name: &str,
        read: SourceRead,
        options: SyncOptions,
    ) -> Result<LoadOutcome, LoadError> {
        let this = self.clone();
        let actor = actor.to_string();
        let name = name.to_string();
        self.detached(async move {
            let result = async {
                let guard = this.begin_load().await?;
                this.apply_sync(&guard, &actor, &name, read, options).await
            }
            .await;
            this.audited_about(&actor, "crawl", Some(&format!("source `{name}`")), result)
                .await
        })
        .await
    }

    async fn record_sync(
        &self,
        id: &str,
        actor: &str,
        started_at_ms: i64,
        result: &Result<LoadOutcome, LoadError>,
    ) {
        let (version, outcome, detail) = outcome_of(result);
        let (datasets, columns, diff, detail) = match result {
            Ok(o) => (
                Some(o.datasets as i64),
                Some(o.columns as i64),
                Some(diff_summary(&o.diff)),
                warnings_summary(&o.warnings),
            ),
            Err(_) => (None, None, None, detail),
        };
        let record = SyncRecord {
            source_id: id.to_string(),
            started_at_ms,
            finished_at_ms: now_ms(),
            actor: actor.to_string(),
            outcome: outcome.to_string(),
            version,
            datasets,
            columns,
            diff,
            detail,
        };
        if let Err(e) = self.store.record_sync(&record).await {
            tracing::error!(error = ?e, source = id, "could not record the sync");
        }
    }

    /// What a sync loads: the live catalog with the source's datasets replaced. Nothing
    /// changed: no version (the live one is reported, `changed: false`).
    async fn apply_sync(
        &self,
        guard: &LoadGuard,
        actor: &str,
        id: &str,
        read: SourceRead,
        options: SyncOptions,
    ) -> Result<LoadOutcome, LoadError> {
        let current = self.snapshot();
        let empty = Catalog::default();
        let live = current.as_ref().map_or(&empty, |s| &s.catalog);
        let SourceRead { patch, warnings } = read;
        let live_copy = live.clone();
        let source = id.to_string();
        let next = crate::telemetry::blocking(move || {
            let mut next = replace_scope(&live_copy, patch, &source);
            // Compared with the live catalog as the pipeline will store it.
            next.lift_relationship_properties();
            next.drop_dangling_references();
            next
        })
        .await
        .context("combine task panicked")?;
        if !options.dry_run
            && let Some(current) = &current
        {
            let diff = CatalogDiff::between(&current.catalog, &next);
            if diff.is_empty() && diff.security_changes.is_empty() {
                let active = self.store.version(current.version).await?;
                return Ok(LoadOutcome {
                    datasets: next.datasets.len(),
                    columns: next.column_count(),
                    version: active,
                    changed: false,
                    diff,
                    warnings,
                });
            }
        }
        let meta = NewVersion {
            created_by: actor.to_string(),
            source: version_source(id),
            source_hash: None,
            note: Some(format!("sync of source {id}")),
        };
        let load = LoadOptions {
            mode: LoadMode::Replace,
            dry_run: options.dry_run,
            allow_declassify: options.allow_declassify,
        };
        let mut outcome = self
            .apply(guard, CatalogPatch::from(next), meta, load)
            .await?;
        if options.dry_run {
            outcome.changed =
                !(outcome.diff.is_empty() && outcome.diff.security_changes.is_empty());
        }
        outcome.warnings = warnings;
        Ok(outcome)
    }

    /// Syncs scheduled sources when they are due (their last sync, of any kind, started at
    /// least `every` ago), forever. A sync that finds a load running is tried again at the
    /// next tick.
    pub async fn run_schedule(self: Arc<Self>) {
        let tick = Duration::from_secs(1);
        loop {
            tokio::time::sleep(tick).await;
            if let Err(e) = self.run_due_syncs().await {
                tracing::warn!(error = ?e, "could not run scheduled syncs");
            }
        }
    }

    async fn run_due_syncs(self: &Arc<Self>) -> anyhow::Result<()> {
        let sources = self.store.sources().await?;
        if sources.iter().all(|s| s.every_secs.is_none()) {
            return Ok(());
        }
        let last: HashMap<String, i64> = self
            .store
            .last_syncs()
            .await?
            .into_iter()
            .map(|s| (s.source_id, s.started_at_ms))
            .collect();
        let now = now_ms();
        for source in sources {
            let Some(every) = source.every_secs else {
                continue;
            };
            let due = last
                .get(&source.id)
                .is_none_or(|started| now - started >= every.saturating_mul(1_000));
            if !due {
                continue;
            }
            match self
                .sync_source_as("schedule", &source.id, SyncOptions::default(), false)
                .await
            {
                Ok(outcome) => tracing::info!(
                    source = source.id,
                    changed = outcome.changed,
                    version = outcome.version.map(|v| v.version),
                    "scheduled sync done"
                ),
                Err(LoadError::Busy) => {
                    tracing::debug!(source = source.id, "a load is running; sync later")
                }
                Err(e) => tracing::warn!(source = source.id, error = %e, "scheduled sync failed"),
            }
        }
        Ok(())
    }
}
