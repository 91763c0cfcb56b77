//! Versions: how a catalog becomes live. Every load goes source → validate → one store
//! transaction → index and embeddings → activate (store row, then the in-memory pointer).
//! Loads are serialized and run detached from the request that asked for them, so a client
//! that goes away never leaves a load half done; each one is audited. Also here: rollback,
//! retention of old versions, and replicas following the version activated elsewhere.

mod embedding;
mod index_dirs;
mod sync;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use futures::stream::BoxStream;

use crate::catalog::{
    Catalog, CatalogDiff, CatalogPatch, CatalogProblem, InvalidCatalog, check_glossary,
    check_references,
};
use crate::clock::now_ms;
use crate::embed::Embedder;
use crate::index::LexicalIndex;
use crate::metrics::Metrics;
use crate::retrieval::semantic::SemanticPlan;
use crate::retrieval::{IndexRedaction, Live, Snapshot};
use crate::settings::Settings;
pub use crate::sources::spec::{format_every, parse_every};
use crate::sources::{self, FileInput, SourceError, SourceFailure};
pub use crate::sources::{SourceConfig, SourceKind, SourceSpec};
pub use crate::store::{AuditEntry, SyncRecord, VersionInfo};
use crate::store::{NewVersion, Store};
pub use sync::{RegisterError, SourceInfo, SyncOptions};

/// `source` of versions loaded from the metadata directory.
pub const SOURCE_DIRECTORY: &str = "directory";

/// Why a load did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Invalid(InvalidCatalog),
    #[error("another catalog load is in progress")]
    Busy,
    #[error("catalog version {0} does not exist (or was pruned)")]
    NotFound(i64),
    /// The load would make these datasets visible to callers who cannot see them now, and
    /// declassification was not allowed explicitly.
    #[error("the load would declassify {}", .0.join(", "))]
    Declassifies(Vec<String>),
    /// The disk (or the database) is full: nothing was changed.
    #[error("no space left to store the catalog")]
    StorageFull(anyhow::Error),
    /// A source could not be read (unreachable, refused, not found, ...).
    #[error(transparent)]
    Source(SourceFailure),
    /// A registered source produced an invalid catalog (a malformed manifest or YAML file).
    #[error("source `{name}`: {invalid}")]
    SourceInvalid {
        name: String,
        invalid: InvalidCatalog,
    },
    /// No source is registered with this id.
    #[error("no source `{0}` is registered")]
    UnknownSource(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<SourceError> for LoadError {
    fn from(e: SourceError) -> LoadError {
        match e {
            SourceError::Invalid(invalid) => LoadError::Invalid(invalid),
            SourceError::Failed(failure) => LoadError::Source(failure),
            SourceError::Io(e) => LoadError::Internal(e),
        }
    }
}

/// What a load did.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    /// The version now live; `None` for a dry run.
    pub version: Option<VersionInfo>,
    /// `false` when there was nothing to do (reload of unchanged files, activating the
    /// version already live).
    pub changed: bool,
    pub datasets: usize,
    pub columns: usize,
    pub diff: CatalogDiff,
    /// Rows that did not apply but did not stop the load (curated rows for columns a source
    /// no longer has).
    pub warnings: Vec<CatalogProblem>,
}

/// How a new catalog relates to the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    Replace,
    Merge,
    /// The catalog exactly as given, glossary included (a steward's edit of the live one).
    Exact,
}

/// How to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    pub mode: LoadMode,
    /// Validate and diff only.
    pub dry_run: bool,
    /// Allow changes that make a dataset visible to more callers (refused otherwise).
    pub allow_declassify: bool,
}

impl LoadOptions {
    /// Replace the catalog, for real, refusing declassification.
    pub fn replace() -> LoadOptions {
        LoadOptions {
            mode: LoadMode::Replace,
            dry_run: false,
            allow_declassify: false,
        }
    }
}

/// Whether an error chain says the disk or the database is full.
fn is_storage_full(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28);
        }
        let text = cause.to_string().to_ascii_lowercase();
        text.contains("database or disk is full")
            || text.contains("no space left on device")
            || text.contains("disk_full")
            || text.contains("could not extend file")
    })
}

impl LoadError {
    /// An internal failure, told apart when it is a full disk.
    fn internal(error: anyhow::Error) -> LoadError {
        if is_storage_full(&error) {
            LoadError::StorageFull(error)
        } else {
            LoadError::Internal(error)
        }
    }
}

/// How long a load waits for the load lock before it is refused as concurrent.
pub const LOAD_LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Proof that the load lock is held.
pub struct LoadGuard(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>);

/// A snapshot ready to install, and its embeddings still to compute.
struct Prepared {
    snapshot: Snapshot,
    pending: Option<SemanticPlan>,
    /// The load's own attempt at `pending` failed (the background one retries it).
    pending_failed: bool,
}

pub struct Versions {
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    index_root: PathBuf,
    live: Arc<Live>,
    embedder: Option<Arc<dyn Embedder>>,
    /// Background embedding of the live version.
    progress: embedding::Progress,
    load_lock: Arc<tokio::sync::Mutex<()>>,
    metrics: Arc<Metrics>,
}

impl Versions {
    pub async fn new(
        settings: Arc<Settings>,
        store: Arc<dyn Store>,
        live: Arc<Live>,
        embedder: Option<Arc<dyn Embedder>>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Versions> {
        let instance = store.instance_id().await?;
        let index_root = settings.index_dir().join(instance);
        Ok(Versions {
            settings,
            store,
            index_root,
            live,
            embedder,
            progress: Arc::default(),
            load_lock: Arc::new(tokio::sync::Mutex::new(())),
            metrics,
        })
    }

    /// The live snapshot, if any catalog is loaded.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.live.load_full()
    }

    /// `postgres` or `sqlite`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Whether the store answers (readiness).
    pub async fn ping_store(&self) -> anyhow::Result<()> {
        self.store.ping().await
    }

    /// Every stored version, newest first.
    pub async fn list(&self) -> anyhow::Result<Vec<VersionInfo>> {
        self.store.versions().await
    }

    /// The newest `limit` audit entries.
    pub async fn audit_log(&self, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
        self.store.audit_log(limit).await
    }

    /// The version the store says is active (what every replica should serve).
    pub async fn active_in_store(&self) -> anyhow::Result<Option<i64>> {
        self.store.active_version().await
    }

    /// Degradations worth reporting in `/readyz` (serving continues); counts only for an
    /// operator (they include datasets a caller may not see).
    pub fn warnings(&self, operator: bool) -> Vec<String> {
        let progress = self
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        progress
            .map(|b| {
                let version = b.version;
                let counts = if operator {
                    let done = b.done.load(Ordering::Relaxed);
                    format!(" ({done} of {} datasets embedded)", b.total)
                } else {
                    String::new()
                };
                if b.failures.load(Ordering::Relaxed) > 0 {
                    format!(
                        "the semantic index of catalog version {version} is not built yet{counts}: the embedding model failed and is retried; search is lexical until it is ready"
                    )
                } else {
                    format!(
                        "the semantic index of catalog version {version} is being built{counts}; search is lexical until it is ready"
                    )
                }
            })
            .into_iter()
            .collect()
    }

    /// Waits until the live version's semantic index is ready (benchmarks, tests). Returns
    /// at once without an embedding model.
    pub async fn wait_for_semantic_index(&self) {
        if self.embedder.is_none() {
            return;
        }
        while self.snapshot().is_some_and(|s| s.semantic().is_none()) {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// At start: load the metadata directory when its files changed since the version they
    /// last produced (or when nothing is active yet); otherwise serve the active version.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        index_dirs::remove_unfinished(&self.index_root);
        let active = self.store.active_version().await?;
        let dir = self.settings.metadata_dir.clone();
        let dir_hash = crate::telemetry::blocking(move || sources::directory_hash(&dir))
            .await
            .context("hashing metadata directory")??;
        let last_hash = self.store.latest_source_hash(SOURCE_DIRECTORY).await?;
        let changed = dir_hash.is_some() && dir_hash != last_hash;
        if changed || (active.is_none() && dir_hash.is_some()) {
            tracing::info!(dir = %self.settings.metadata_dir.display(), "loading metadata directory");
            match self.reload_directory("startup", true, false).await {
                Ok(outcome) => {
                    tracing::info!(
                        version = outcome.version.as_ref().map(|v| v.version),
                        datasets = outcome.datasets,
                        columns = outcome.columns,
                        "catalog loaded"
                    );
                    return Ok(());
                }
                Err(LoadError::Invalid(invalid)) if active.is_some() => {
                    tracing::error!(problems = %invalid, "metadata directory is invalid; keeping the active catalog version");
                }
                Err(LoadError::Declassifies(names)) => {
                    tracing::error!(
                        datasets = names.join(", "),
                        "the metadata directory would declassify datasets; keeping the active \
                         catalog version (reload with POST /v1/admin/reload?allow_declassify=true)"
                    );
                }
                Err(LoadError::Invalid(invalid)) => {
                    anyhow::bail!("metadata directory is invalid:\n{invalid}")
                }
                Err(e) => return Err(anyhow::Error::new(e).context("loading metadata directory")),
            }
        }
        match self.store.active_version().await? {
            Some(version) => self.switch_to(version).await,
            None => {
                tracing::warn!(dir = %self.settings.metadata_dir.display(), "no catalog: the metadata directory has no CSV files");
                Ok(())
            }
        }
    }

    /// Makes `version` (already in the store) live: opens its index, or builds it.
    pub async fn switch_to(&self, version: i64) -> anyhow::Result<()> {
        if self.snapshot().is_some_and(|s| s.version == version) {
            return Ok(());
        }
        let started = Instant::now();
        let dir = index_dirs::version_dir(&self.index_root, version);
        let cached =
            crate::telemetry::blocking(move || LexicalIndex::cached_catalog(&dir, version))
                .await
                .context("reading the cached catalog")?;
        let catalog = match cached {
            Some(catalog) => catalog,
            None => self.store.load_catalog(version).await?,
        };
        tracing::info!(
            version,
            took_ms = started.elapsed().as_millis() as u64,
            "catalog read"
        );
        let prepared = self.prepare_snapshot(version, catalog).await?;
        self.install(prepared);
        tracing::info!(
            version,
            took_ms = started.elapsed().as_millis() as u64,
            "catalog version live"
        );
        Ok(())
    }

    /// Builds (or opens) everything a version needs to serve. Embeddings missing from the
    /// cache are computed now when there are few; otherwise later, in the background. A
    /// model that fails now does not fail the load: the version serves lexically and its
    /// embeddings are retried in the background.
    async fn prepare_snapshot(&self, version: i64, catalog: Catalog) -> anyhow::Result<Prepared> {
        let mut semantic = None;
        let mut pending = None;
        let mut pending_failed = false;
        let redaction = IndexRedaction::new(&catalog);
        if let Some(embedder) = &self.embedder {
            let started = Instant::now();
            let mut plan = embedding::plan(
                &catalog.datasets,
                &redaction,
                embedder.as_ref(),
                self.store.as_ref(),
            )
            .await?;
            let missing = plan.missing();
            let now = missing <= self.settings.embedding.sync_limit;
            let embedded = now
                && embedding::embed_missing(
                    &mut plan,
                    embedder.as_ref(),
                    self.store.as_ref(),
                    &AtomicUsize::new(0),
                    || true,
                )
                .await
                .inspect_err(|e| {
                    tracing::warn!(
                        error = ?e,
                        version,
                        "embedding the catalog failed; the version goes live with lexical search and its semantic index is retried in the background"
                    )
                })
                .is_ok();
            if embedded {
                let index = plan.finish()?;
                tracing::info!(
                    version,
                    datasets = index.len(),
                    embedded = missing,
                    took_ms = started.elapsed().as_millis() as u64,
                    "semantic index ready"
                );
                semantic = Some(index);
            } else {
                if now {
                    pending_failed = true;
                } else {
                    tracing::info!(
                        version,
                        missing,
                        "embedding in the background; lexical search until it is done"
                    );
                }
                pending = Some(plan);
            }
        }
        let dir = index_dirs::version_dir(&self.index_root, version);
        let snapshot = crate::telemetry::blocking(move || -> anyhow::Result<Snapshot> {
            let started = Instant::now();
            let opened = LexicalIndex::open(&dir, version, &catalog).unwrap_or_else(|e| {
                tracing::warn!(
                    error = format!("{e:#}"),
                    version,
                    "the index is damaged; rebuilding it from the store"
                );
                index_dirs::move_aside(&dir);
                None
            });
            let lexical = match opened {
                Some(index) => {
                    tracing::info!(version, "opened existing index");
                    index
                }
                None => {
                    let index = LexicalIndex::build(&dir, version, &catalog, &redaction)?;
                    tracing::info!(
                        version,
                        took_ms = started.elapsed().as_millis() as u64,
                        "built index"
                    );
                    index
                }
            };
            Ok(Snapshot::new(version, catalog, lexical, semantic))
        })
        .await
        .context("index task panicked")??;
        Ok(Prepared {
            snapshot,
            pending,
            pending_failed,
        })
    }

    fn install(&self, prepared: Prepared) {
        let snapshot = Arc::new(prepared.snapshot);
        self.metrics.catalog_version.set(snapshot.version);
        self.metrics
            .catalog_datasets
            .set(snapshot.catalog.datasets.len() as i64);
        self.metrics
            .catalog_columns
            .set(snapshot.catalog.column_count() as i64);
        self.live.store(Some(snapshot.clone()));
        index_dirs::remove_old(
            &self.index_root,
            self.settings.keep_index_versions,
            Some(snapshot.version),
        );
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        *progress = None;
        if let (Some(plan), Some(embedder)) = (prepared.pending, self.embedder.clone()) {
            let building = embedding::Building {
                version: snapshot.version,
                done: Arc::default(),
                total: plan.missing(),
                failures: Arc::new(AtomicUsize::new(usize::from(prepared.pending_failed))),
            };
            *progress = Some(building.clone());
            crate::telemetry::spawn(embedding::complete_in_background(
                snapshot,
                plan,
                embedder,
                self.store.clone(),
                self.live.clone(),
                self.progress.clone(),
                building,
            ));
        }
    }

    /// Rebuilds the live version's index from the store when a search found it damaged;
    /// the old directory is moved aside (searches in flight finish on it).
    pub async fn repair_live(&self) -> anyhow::Result<()> {
        let Some(live) = self.snapshot().filter(|s| s.is_unhealthy()) else {
            return Ok(());
        };
        let Ok(_guard) = self.try_begin_load() else {
            return Ok(());
        };
        let version = live.version;
        tracing::warn!(version, "rebuilding the damaged index");
        let dir = index_dirs::version_dir(&self.index_root, version);
        crate::telemetry::blocking(move || index_dirs::move_aside(&dir))
            .await
            .context("moving the damaged index aside")?;
        let catalog = self.store.load_catalog(version).await?;
        let prepared = self.prepare_snapshot(version, catalog).await?;
        self.install(prepared);
        self.metrics
            .catalog_loads
            .with_label_values(&["repair", "ok"])
            .inc();
        tracing::info!(version, "index rebuilt");
        Ok(())
    }

    /// Takes the load lock for a load someone asked for. Loads never interleave: when another
    /// load holds the lock this says so (409), after waiting at most [`LOAD_LOCK_WAIT`] for
    /// it. The wait is for the follower's and the repair's own checks, which take the lock for
    /// a store query or two (on PostgreSQL, the notification of a load's own activation wakes
    /// the follower just as the load returns): a back-to-back load must not fail on them.
    pub async fn begin_load(&self) -> Result<LoadGuard, LoadError> {
        tokio::time::timeout(LOAD_LOCK_WAIT, self.load_lock.clone().lock_owned())
            .await
            .map(LoadGuard)
            .map_err(|_| LoadError::Busy)
    }

    /// Takes the load lock if it is free at once, or says another load is running (the
    /// follower and the repair, which skip their turn rather than wait).
    pub fn try_begin_load(&self) -> Result<LoadGuard, LoadError> {
        self.load_lock
            .clone()
            .try_lock_owned()
            .map(LoadGuard)
            .map_err(|_| LoadError::Busy)
    }

    /// Runs a load on its own task: it completes (and is audited) even when the request
    /// that asked for it times out or its client disconnects.
    async fn detached<F>(&self, load: F) -> Result<LoadOutcome, LoadError>
    where
        F: std::future::Future<Output = Result<LoadOutcome, LoadError>> + Send + 'static,
    {
        crate::telemetry::spawn(load)
            .await
            .map_err(|e| LoadError::Internal(anyhow::anyhow!("load task failed: {e}")))?
    }

    async fn audited(
        &self,
        actor: &str,
        action: &str,
        result: Result<LoadOutcome, LoadError>,
    ) -> Result<LoadOutcome, LoadError> {
        self.audited_about(actor, action, None, result).await
    }

    /// [`Versions::audited`], the detail prefixed with what the load was about (a source).
    async fn audited_about(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        result: Result<LoadOutcome, LoadError>,
    ) -> Result<LoadOutcome, LoadError> {
        let (version, outcome, detail) = outcome_of(&result);
        let detail = match (subject, detail) {
            (Some(subject), Some(detail)) => Some(format!("{subject}: {detail}")),
            (Some(subject), None) => Some(subject.to_string()),
            (None, detail) => detail,
        };
        let entry = AuditEntry {
            at_ms: now_ms(),
            actor: actor.to_string(),
            action: action.to_string(),
            version,
            outcome: outcome.to_string(),
            detail,
        };
        if let Err(e) = self.store.record_audit(&entry).await {
            tracing::error!(error = ?e, "could not write the audit log");
        }
        self.metrics
            .catalog_loads
            .with_label_values(&[action, outcome])
            .inc();
        result
    }

    /// Loads CSV files (name shown in errors, path) as one catalog: a new version, made live.
    /// `spool` keeps the files' directory alive until the load is done.
    pub async fn load_files(
        self: &Arc<Self>,
        actor: &str,
        files: Vec<(String, PathBuf)>,
        spool: Option<tempfile::TempDir>,
        options: LoadOptions,
    ) -> Result<LoadOutcome, LoadError> {
        let input = FileInput { files, dbt: None };
        self.load_input(actor, input, spool, options).await
    }

    /// Loads files (CSVs, YAML dictionaries, dbt artifacts) as one catalog: a new version,
    /// made live. `spool` keeps the files' directory alive until the load is done.
    pub async fn load_input(
        self: &Arc<Self>,
        actor: &str,
        input: FileInput,
        spool: Option<tempfile::TempDir>,
        options: LoadOptions,
    ) -> Result<LoadOutcome, LoadError> {
        let this = self.clone();
        let actor = actor.to_string();
        let mode = options.mode;
        self.detached(async move {
            let action = match mode {
                LoadMode::Replace | LoadMode::Exact => "load",
                LoadMode::Merge => "merge",
            };
            let result = async {
                let guard = this.begin_load().await?;
                let max = this.settings.limits.max_upload_bytes;
                let patch = crate::telemetry::blocking(move || sources::read_input(&input, max))
                    .await
                    .context("parse task panicked")??;
                drop(spool);
                let meta = NewVersion {
                    created_by: actor.clone(),
                    source: match mode {
                        LoadMode::Replace | LoadMode::Exact => "upload",
                        LoadMode::Merge => "merge",
                    }
                    .into(),
                    source_hash: None,
                    note: None,
                };
                this.apply(&guard, patch, meta, options).await
            }
            .await;
            this.audited(&actor, action, result).await
        })
        .await
    }

    /// A steward's edit of the live catalog (glossary terms, accepted proposals): `edit` gets
    /// the live catalog and returns the new one, which becomes a new version, made live, and
    /// audited as `action` about `subject`. Validated like any load; never declassifies.
    pub async fn edit<F>(
        self: &Arc<Self>,
        actor: &str,
        action: &'static str,
        subject: String,
        edit: F,
    ) -> Result<LoadOutcome, LoadError>
    where
        F: FnOnce(&Catalog) -> Result<Catalog, LoadError> + Send + 'static,
    {
        let this = self.clone();
        let actor = actor.to_string();
        self.detached(async move {
            let result = async {
                let guard = this.begin_load().await?;
                let current = this.snapshot();
                let empty = Catalog::default();
                let live = current.as_ref().map_or(&empty, |s| &s.catalog);
                let catalog = edit(live)?;
                let meta = NewVersion {
                    created_by: actor.clone(),
                    source: action.into(),
                    source_hash: None,
                    note: Some(subject.clone()),
                };
                let options = LoadOptions {
                    mode: LoadMode::Exact,
                    ..LoadOptions::replace()
                };
                this.apply(&guard, catalog.into(), meta, options).await
            }
            .await;
            this.audited_about(&actor, action, Some(&subject), result)
                .await
        })
        .await
    }

    /// Re-reads the metadata directory. Unless `force`, nothing happens when its files are
    /// those the active version was loaded from.
    pub async fn reload_directory(
        self: &Arc<Self>,
        actor: &str,
        force: bool,
        allow_declassify: bool,
    ) -> Result<LoadOutcome, LoadError> {
        let this = self.clone();
        let actor = actor.to_string();
        self.detached(async move {
            let result = this
                .reload_directory_now(&actor, force, allow_declassify)
                .await;
            this.audited(&actor, "reload", result).await
        })
        .await
    }

    async fn reload_directory_now(
        &self,
        actor: &str,
        force: bool,
        allow_declassify: bool,
    ) -> Result<LoadOutcome, LoadError> {
        let guard = self.begin_load().await?;
        let dir = self.settings.metadata_dir.clone();
        let max = self.settings.limits.max_upload_bytes;
        let (patch, hash) = crate::telemetry::blocking(move || sources::read_directory(&dir, max))
            .await
            .context("parse task panicked")??;
        if !force && let Some(current) = self.snapshot() {
            let active = self.store.version(current.version).await?;
            if let Some(active) = active.filter(|v| v.source_hash.as_deref() == Some(hash.as_str()))
            {
                return Ok(LoadOutcome {
                    datasets: active.datasets as usize,
                    columns: active.columns as usize,
                    version: Some(active),
                    diff: CatalogDiff::default(),
                    changed: false,
                    warnings: Vec::new(),
                });
            }
        }
        let meta = NewVersion {
            created_by: actor.to_string(),
            source: SOURCE_DIRECTORY.into(),
            source_hash: Some(hash),
            note: None,
        };
        let options = LoadOptions {
            allow_declassify,
            ..LoadOptions::replace()
        };
        self.apply(&guard, patch, meta, options).await
    }

    /// Rolls back (or forward) to a version still in the store.
    pub async fn activate_version(
        self: &Arc<Self>,
        actor: &str,
        version: i64,
    ) -> Result<LoadOutcome, LoadError> {
        let this = self.clone();
        let actor = actor.to_string();
        self.detached(async move {
            let result = this.activate_now(version).await;
            this.audited(&actor, "activate", result).await
        })
        .await
    }

    async fn activate_now(&self, version: i64) -> Result<LoadOutcome, LoadError> {
        let _guard = self.begin_load().await?;
        let Some(mut info) = self.store.version(version).await? else {
            return Err(LoadError::NotFound(version));
        };
        let previous = self.snapshot();
        let catalog = self.store.load_catalog(version).await?;
        let empty = Catalog::default();
        let old = previous.as_ref().map_or(&empty, |s| &s.catalog);
        let diff = CatalogDiff::between(old, &catalog);
        let prepared = self.prepare_snapshot(version, catalog).await?;
        self.store.activate(version).await?;
        self.install(prepared);
        info.active = true;
        Ok(LoadOutcome {
            datasets: info.datasets as usize,
            columns: info.columns as usize,
            version: Some(info),
            changed: previous.is_none_or(|p| p.version != version),
            diff,
            warnings: Vec::new(),
        })
    }

    /// Validates `patch` against the live catalog and, unless a dry run, stores it as a new
    /// version and makes it live: one store transaction writes the version, its index is
    /// built in a new directory, then the store's active row and the in-memory pointer
    /// switch. A crash before the switch leaves the previous version active; a failure after
    /// the version was written removes it at once.
    pub async fn apply(
        &self,
        _guard: &LoadGuard,
        patch: CatalogPatch,
        meta: NewVersion,
        options: LoadOptions,
    ) -> Result<LoadOutcome, LoadError> {
        let current = self.snapshot();
        let empty = Catalog::default();
        let old = current.as_ref().map(|s| &s.catalog).unwrap_or(&empty);
        let sites = patch.reference_sites.clone();
        let term_sites = patch.term_sites.clone();
        let stated: HashSet<String> = patch
            .catalog
            .terms
            .iter()
            .map(|t| t.name.trim().to_lowercase())
            .collect();
        let mut catalog = match options.mode {
            // An input without a glossary keeps the live one (a steward's terms survive a
            // reload of the datasets).
            LoadMode::Replace if stated.is_empty() => Catalog {
                terms: old.terms.clone(),
                ..patch.catalog
            },
            // A glossary alone replaces the glossary, and keeps the datasets.
            LoadMode::Replace if patch.catalog.datasets.is_empty() => Catalog {
                datasets: old.datasets.clone(),
                terms: patch.catalog.terms,
            },
            LoadMode::Replace | LoadMode::Exact => patch.catalog,
            LoadMode::Merge => old.merged_with(patch),
        };
        catalog.lift_relationship_properties();
        check_references(&catalog, &sites).map_err(LoadError::Invalid)?;
        // Terms this input states must link to what exists; a kept term loses the links to
        // datasets this load removed.
        let unlinked = catalog.drop_dangling_term_links(&stated);
        if unlinked > 0 {
            tracing::warn!(
                unlinked,
                "glossary links to datasets no longer in the catalog were left out"
            );
        }
        check_glossary(&catalog, &term_sites, "the glossary").map_err(LoadError::Invalid)?;
        let dropped = catalog.drop_dangling_references();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "references to datasets outside the catalog were left out"
            );
        }
        let diff = CatalogDiff::between(old, &catalog);
        let datasets = catalog.datasets.len();
        let columns = catalog.column_count();
        if options.dry_run {
            return Ok(LoadOutcome {
                version: None,
                datasets,
                columns,
                diff,
                changed: true,
                warnings: Vec::new(),
            });
        }
        let declassified = diff.declassified();
        if !declassified.is_empty() && !options.allow_declassify {
            return Err(LoadError::Declassifies(declassified));
        }
        let mut info = self
            .store
            .create_version(&catalog, &meta)
            .await
            .map_err(LoadError::internal)?;
        let activated = async {
            let prepared = self.prepare_snapshot(info.version, catalog).await?;
            self.store.activate(info.version).await?;
            Ok::<_, anyhow::Error>(prepared)
        }
        .await;
        let prepared = match activated {
            Ok(prepared) => prepared,
            Err(e) => {
                // The version was written but never went live: remove it now, not at the
                // next prune (a full disk must not keep the failed load's rows).
                if let Err(cleanup) = self.store.delete_version(info.version).await {
                    tracing::error!(error = ?cleanup, version = info.version, "could not remove the failed version");
                }
                index_dirs::move_aside(&index_dirs::version_dir(&self.index_root, info.version));
                return Err(LoadError::internal(e));
            }
        };
        self.install(prepared);
        info.active = true;
        if let Err(e) = self.store.prune_versions(self.settings.keep_versions).await {
            tracing::warn!(error = ?e, "could not prune old catalog versions");
        }
        Ok(LoadOutcome {
            version: Some(info),
            datasets,
            columns,
            diff,
            changed: true,
            warnings: Vec::new(),
        })
    }

    /// A stream that yields when another process activates a version (Postgres
    /// notifications); `None` where the store has none (then callers poll).
    pub async fn activations(&self) -> Option<BoxStream<'static, ()>> {
        match self.store.listen_active().await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = ?e, "no active-version notifications; polling only");
                None
            }
        }
    }

    /// Switches to the store's active version if it is not the one served.
    pub async fn catch_up(&self) -> anyhow::Result<()> {
        let Some(active) = self.store.active_version().await? else {
            return Ok(());
        };
        if self.snapshot().is_some_and(|s| s.version == active) {
            return Ok(());
        }
        // A load of our own is running; it leaves the right version in place.
        let Ok(_guard) = self.try_begin_load() else {
            return Ok(());
        };
        let Some(active) = self.store.active_version().await? else {
            return Ok(());
        };
        if self.snapshot().is_none_or(|s| s.version != active) {
            tracing::info!(
                version = active,
                "switching to the catalog version activated elsewhere"
            );
            self.switch_to(active).await?;
            self.metrics
                .catalog_loads
                .with_label_values(&["follow", "ok"])
                .inc();
        }
        Ok(())
    }
}

/// What a load's result is in the audit log and the sync history: the version, the outcome
/// and a detail (never a secret: source failures are redacted where they are made).
fn outcome_of(
    result: &Result<LoadOutcome, LoadError>,
) -> (Option<i64>, &'static str, Option<String>) {
    match result {
        Ok(o) if o.version.is_none() => (None, "dry_run", None),
        Ok(o) if !o.changed => (o.version.as_ref().map(|v| v.version), "unchanged", None),
        Ok(o) => (o.version.as_ref().map(|v| v.version), "ok", None),
        Err(LoadError::Invalid(i)) => (
            None,
            "invalid",
            Some(format!("{} problem(s)", i.total_problems)),
        ),
        Err(LoadError::SourceInvalid { invalid, .. }) => (
            None,
            "invalid",
            Some(format!(
                "{} problem(s): {}",
                invalid.total_problems,
                first_problems(invalid)
            )),
        ),
        Err(LoadError::Busy) => (None, "busy", None),
        Err(LoadError::NotFound(v)) => (Some(*v), "not_found", None),
        Err(LoadError::UnknownSource(_)) => (None, "not_found", None),
        Err(LoadError::Declassifies(names)) => {
            (None, "declassification_refused", Some(names.join(", ")))
        }
        Err(LoadError::Source(failure)) => (
            None,
            "source_failed",
            Some(format!("{}: {}", failure.kind.as_str(), failure.message)),
        ),
        Err(LoadError::StorageFull(e)) => (None, "storage_full", Some(format!("{e:#}"))),
        Err(LoadError::Internal(e)) => (None, "error", Some(format!("{e:#}"))),
    }
}

/// The first few problems of a rejected input, on one line.
fn first_problems(invalid: &InvalidCatalog) -> String {
    invalid
        .problems
        .iter()
        .take(3)
        .map(|p| format!("{}:{} {}", p.file, p.line, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}
