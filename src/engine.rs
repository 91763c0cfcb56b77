//! The engine: which catalog version is live, and how a new one becomes live.
//!
//! A [`Snapshot`] is one catalog version, fully ready to serve (catalog in memory, index open).
//! The live snapshot sits behind an atomic pointer: a request takes the snapshot once and
//! finishes on it, whatever loads happen meanwhile. Loads are serialized; each goes
//! parse → validate → one store transaction → build index → switch (store row, then pointer).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use arc_swap::{ArcSwap, ArcSwapOption};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::access::{Redactor, Visibility};
use crate::catalog::{Catalog, CatalogDiff, Dataset, InvalidCatalog, parse_catalog};
use crate::embed::{self, Embedder, SemanticIndex, SemanticPlan};
use crate::index::LexicalIndex;
use crate::index::suggest::SuggestIndex;
use crate::metrics::Metrics;
use crate::retrieval::{self, Ranked, RetrievalConfig};
use crate::settings::Settings;
use crate::store::{AuditEntry, NewVersion, Store, VersionInfo};

/// `source` of versions loaded from the metadata directory.
pub const SOURCE_DIRECTORY: &str = "directory";

/// One catalog version, ready to serve.
pub struct Snapshot {
    pub version: i64,
    pub catalog: Catalog,
    by_name: HashMap<String, u32>,
    acl: Vec<Vec<String>>,
    /// The distinct ACL term sets of the catalog (few), to tell when a caller sees it all.
    acl_sets: Vec<Vec<String>>,
    redactor: Redactor,
    pub lexical: LexicalIndex,
    /// Typeahead prefix table.
    pub suggest: SuggestIndex,
    /// Dataset embeddings; empty without an embedding model, or while they are being
    /// computed in the background after a large load.
    semantic: ArcSwapOption<SemanticIndex>,
}

impl Snapshot {
    fn new(
        version: i64,
        catalog: Catalog,
        lexical: LexicalIndex,
        semantic: Option<SemanticIndex>,
    ) -> Snapshot {
        let semantic = ArcSwapOption::from(semantic.map(Arc::new));
        let suggest = SuggestIndex::build(&catalog);
        let by_name = catalog.name_index();
        let acl: Vec<Vec<String>> = catalog.datasets.iter().map(Dataset::acl_terms).collect();
        let mut acl_sets = acl.clone();
        acl_sets.sort();
        acl_sets.dedup();
        let redactor = Redactor::new(catalog.datasets.iter().map(|d| d.name.as_str()));
        Snapshot {
            version,
            catalog,
            by_name,
            acl,
            acl_sets,
            redactor,
            lexical,
            suggest,
            semantic,
        }
    }

    /// The dataset called `name` (case-insensitive), if `visibility` allows it.
    pub fn visible_dataset(&self, name: &str, visibility: &Visibility) -> Option<(u32, &Dataset)> {
        let ordinal = *self.by_name.get(&name.to_lowercase())?;
        self.is_visible(ordinal, visibility)
            .then(|| (ordinal, &self.catalog.datasets[ordinal as usize]))
    }

    /// Whether `visibility` sees every dataset of this version (then filtering is moot).
    pub fn all_visible(&self, visibility: &Visibility) -> bool {
        self.acl_sets.iter().all(|acl| visibility.allows(acl))
    }

    pub fn is_visible(&self, ordinal: u32, visibility: &Visibility) -> bool {
        self.acl
            .get(ordinal as usize)
            .is_some_and(|acl| visibility.allows(acl))
    }

    /// The semantic index, when it is ready.
    pub fn semantic(&self) -> Option<Arc<SemanticIndex>> {
        self.semantic.load_full()
    }

    /// Free text (a description) as `visibility` may see it: names of datasets it may not see
    /// are replaced.
    pub fn redact(&self, text: &str, visibility: &Visibility) -> String {
        if matches!(visibility, Visibility::All) {
            return text.to_string();
        }
        self.redactor
            .redact(text, |ordinal| self.is_visible(ordinal, visibility))
    }

    /// `redact` for optional text.
    pub fn redact_opt(&self, text: Option<&String>, visibility: &Visibility) -> Option<String> {
        text.map(|t| self.redact(t, visibility))
    }

    pub fn dataset(&self, ordinal: u32) -> Option<&Dataset> {
        self.catalog.datasets.get(ordinal as usize)
    }
}

/// Why a load did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Invalid(InvalidCatalog),
    #[error("another catalog load is in progress")]
    Busy,
    #[error("catalog version {0} does not exist (or was pruned)")]
    NotFound(i64),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
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
}

/// Background embedding of the live version: (version, embedded so far, to embed).
type SemanticProgress = Arc<std::sync::Mutex<Option<(i64, Arc<AtomicUsize>, usize)>>>;

/// A snapshot ready to install, and its embeddings still to compute.
struct Prepared {
    snapshot: Snapshot,
    pending: Option<SemanticPlan>,
}

/// Embeds what a live version still misses, then gives it its semantic index. Gives up when
/// another version replaces it (what was embedded stays cached for the next one).
async fn complete_semantic_index(
    snapshot: Arc<Snapshot>,
    mut plan: SemanticPlan,
    embedder: Arc<dyn Embedder>,
    store: Arc<dyn Store>,
    active: Arc<ArcSwapOption<Snapshot>>,
    progress: SemanticProgress,
    done: Arc<AtomicUsize>,
) {
    let started = Instant::now();
    let version = snapshot.version;
    let still_live = || active.load().as_ref().is_some_and(|s| s.version == version);
    let result = plan
        .embed_missing(embedder.as_ref(), store.as_ref(), &done, still_live)
        .await;
    match result {
        Ok(true) => match plan.finish() {
            Ok(index) => {
                tracing::info!(
                    version,
                    datasets = index.len(),
                    took_ms = started.elapsed().as_millis() as u64,
                    "semantic index ready"
                );
                snapshot.semantic.store(Some(Arc::new(index)));
            }
            Err(e) => tracing::error!(error = ?e, version, "semantic index failed"),
        },
        Ok(false) => tracing::info!(version, "background embedding stopped: version replaced"),
        Err(e) => {
            tracing::error!(error = ?e, version, "background embedding failed; lexical search only")
        }
    }
    let mut progress = progress.lock().unwrap_or_else(|p| p.into_inner());
    if progress.as_ref().is_some_and(|(v, _, _)| *v == version) {
        *progress = None;
    }
}

/// Proof that the load lock is held.
pub struct LoadGuard(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>);

/// How a new catalog relates to the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    Replace,
    Merge,
}

pub struct Engine {
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    index_root: PathBuf,
    active: Arc<ArcSwapOption<Snapshot>>,
    /// Background embedding of the live version: (version, embedded, to embed).
    semantic_progress: SemanticProgress,
    load_lock: Arc<tokio::sync::Mutex<()>>,
    search_permits: Arc<Semaphore>,
    retrieval: RetrievalConfig,
    embedder: Option<Arc<dyn Embedder>>,
    warnings: Vec<String>,
    pub metrics: Arc<Metrics>,
    /// Active API keys by hash: (key id, groups).
    api_keys: ArcSwap<HashMap<String, (String, Vec<String>)>>,
    /// Net helpful votes by similar question, then by dataset name (lowercase).
    feedback: ArcSwap<HashMap<String, HashMap<String, i64>>>,
    last_retention: std::sync::Mutex<Option<Instant>>,
}

impl Engine {
    pub async fn new(
        settings: Arc<Settings>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Engine> {
        let instance = store.instance_id().await?;
        let index_root = settings.index_dir().join(instance);
        let mut warnings = Vec::new();
        let embedder = match embed::from_settings(&settings) {
            Ok(embedder) => embedder,
            Err(warning) => {
                tracing::warn!("{warning}");
                warnings.push(warning);
                None
            }
        };
        let retrieval = RetrievalConfig {
            semantic_weight: settings.retrieval.semantic_weight,
            ..RetrievalConfig::default()
        };
        Ok(Engine {
            embedder,
            warnings,
            search_permits: Arc::new(Semaphore::new(settings.limits.max_concurrent_searches)),
            settings,
            store,
            index_root,
            active: Arc::new(ArcSwapOption::empty()),
            semantic_progress: Arc::default(),
            load_lock: Arc::new(tokio::sync::Mutex::new(())),
            retrieval,
            metrics,
            api_keys: ArcSwap::default(),
            feedback: ArcSwap::default(),
            last_retention: std::sync::Mutex::new(None),
        })
    }

    /// Re-reads the API keys and the feedback from the store (at start, after changes, and
    /// periodically, so replicas agree), and applies question-log retention now and then.
    pub async fn refresh_governance(&self) -> anyhow::Result<()> {
        let keys = self
            .store
            .api_keys()
            .await?
            .into_iter()
            .filter(|(record, _)| record.revoked_at_ms.is_none())
            .map(|(record, hash)| (hash, (record.id, record.groups)))
            .collect();
        self.api_keys.store(Arc::new(keys));
        let mut feedback: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for count in self.store.feedback_counts().await? {
            feedback
                .entry(count.question_key)
                .or_default()
                .insert(count.dataset.to_lowercase(), count.up - count.down);
        }
        self.feedback.store(Arc::new(feedback));
        let due = {
            let mut last = self
                .last_retention
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(3600));
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            let keep_ms = self.settings.question_retention_days as i64 * 86_400_000;
            let pruned = self
                .store
                .prune_questions(crate::store::now_ms() - keep_ms)
                .await?;
            if pruned > 0 {
                tracing::info!(pruned, "question log retention applied");
            }
        }
        Ok(())
    }

    /// The key id and groups of an active API key, by the key's hash.
    pub fn api_key(&self, hash: &str) -> Option<(String, Vec<String>)> {
        self.api_keys.load().get(hash).cloned()
    }

    /// Net helpful votes (dataset ordinal, votes) for questions similar to `plan`.
    fn feedback_for(&self, snapshot: &Snapshot, plan: &retrieval::QueryPlan) -> Vec<(u32, i64)> {
        let all = self.feedback.load();
        let Some(votes) = all.get(&plan.key()) else {
            return Vec::new();
        };
        votes
            .iter()
            .filter_map(|(name, net)| Some((*snapshot.by_name.get(name)?, *net)))
            .collect()
    }

    /// Logs a question in the background (for the gaps report); never fails the request.
    pub fn log_question(&self, entry: crate::store::QuestionLogEntry) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.log_question(&entry).await {
                tracing::warn!(error = ?e, "could not log a question");
            }
        });
    }

    /// Records a vote and counts it at once.
    pub async fn record_feedback(&self, entry: crate::store::FeedbackEntry) -> anyhow::Result<()> {
        self.store.record_feedback(&entry).await?;
        let mut all = (**self.feedback.load()).clone();
        *all.entry(entry.question_key)
            .or_default()
            .entry(entry.dataset.to_lowercase())
            .or_default() += if entry.helpful { 1 } else { -1 };
        self.feedback.store(Arc::new(all));
        Ok(())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Degradations worth reporting in `/readyz` (serving continues).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = self.warnings.clone();
        let progress = self
            .semantic_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some((version, done, total)) = progress {
            warnings.push(format!(
                "the semantic index of catalog version {version} is being built ({} of {total} datasets embedded); search is lexical until it is ready",
                done.load(Ordering::Relaxed)
            ));
        }
        warnings
    }

    /// Waits until the live version's semantic index is ready (eval, benchmarks). Returns at
    /// once without an embedding model.
    pub async fn wait_for_semantic_index(&self) {
        if self.embedder.is_none() {
            return;
        }
        while self.snapshot().is_some_and(|s| s.semantic().is_none()) {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Whether semantic retrieval is on.
    pub fn has_embedder(&self) -> bool {
        self.embedder.is_some()
    }

    /// The live snapshot, if any catalog is loaded.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.active.load_full()
    }

    /// At start: load the metadata directory when its files changed since the version they
    /// last produced (or when nothing is active yet); otherwise serve the active version.
    pub async fn start(&self) -> anyhow::Result<()> {
        self.remove_unfinished_indexes();
        let active = self.store.active_version().await?;
        let dir = self.settings.metadata_dir.clone();
        let dir_hash = tokio::task::spawn_blocking(move || directory_hash(&dir))
            .await
            .context("hashing metadata directory")??;
        let last_hash = self.store.latest_source_hash(SOURCE_DIRECTORY).await?;
        let changed = dir_hash.is_some() && dir_hash != last_hash;
        if changed || (active.is_none() && dir_hash.is_some()) {
            tracing::info!(dir = %self.settings.metadata_dir.display(), "loading metadata directory");
            match self.reload_directory("startup", true).await {
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
        let dir = self.index_root.join(format!("v{version}"));
        let cached =
            tokio::task::spawn_blocking(move || LexicalIndex::cached_catalog(&dir, version))
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
    /// cache are computed now when there are few; otherwise later, in the background.
    async fn prepare_snapshot(&self, version: i64, catalog: Catalog) -> anyhow::Result<Prepared> {
        let mut semantic = None;
        let mut pending = None;
        if let Some(embedder) = &self.embedder {
            let started = Instant::now();
            let mut plan =
                SemanticPlan::new(&catalog.datasets, embedder.as_ref(), self.store.as_ref())
                    .await
                    .context("reading cached embeddings")?;
            let missing = plan.missing();
            if missing <= self.settings.embedding.sync_limit {
                plan.embed_missing(
                    embedder.as_ref(),
                    self.store.as_ref(),
                    &AtomicUsize::new(0),
                    || true,
                )
                .await
                .context("embedding the catalog")?;
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
                tracing::info!(
                    version,
                    missing,
                    "embedding in the background; lexical search until it is done"
                );
                pending = Some(plan);
            }
        }
        let dir = self.index_root.join(format!("v{version}"));
        let snapshot = tokio::task::spawn_blocking(move || -> anyhow::Result<Snapshot> {
            let started = Instant::now();
            let lexical = match LexicalIndex::open(&dir, version, &catalog)? {
                Some(index) => {
                    tracing::info!(version, "opened existing index");
                    index
                }
                None => {
                    let index = LexicalIndex::build(&dir, version, &catalog)?;
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
        Ok(Prepared { snapshot, pending })
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
        self.active.store(Some(snapshot.clone()));
        self.remove_old_indexes();
        let mut progress = self
            .semantic_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *progress = None;
        if let (Some(plan), Some(embedder)) = (prepared.pending, self.embedder.clone()) {
            let done = Arc::new(AtomicUsize::new(0));
            *progress = Some((snapshot.version, done.clone(), plan.missing()));
            tokio::spawn(complete_semantic_index(
                snapshot,
                plan,
                embedder,
                self.store.clone(),
                self.active.clone(),
                self.semantic_progress.clone(),
                done,
            ));
        }
    }

    /// Removes index builds a crash interrupted (finished builds are renamed to `v<N>`).
    fn remove_unfinished_indexes(&self) {
        let Ok(entries) = std::fs::read_dir(&self.index_root) else {
            return;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".building-")
            {
                tracing::info!(path = %entry.path().display(), "removing an interrupted index build");
                if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                    tracing::warn!(error = %e, "could not remove an interrupted index build");
                }
            }
        }
    }

    /// Removes index directories of versions beyond the newest `keep_index_versions`.
    fn remove_old_indexes(&self) {
        let keep = self.settings.keep_index_versions.max(1);
        let active = self.snapshot().map(|s| s.version);
        let Ok(entries) = std::fs::read_dir(&self.index_root) else {
            return;
        };
        let mut versions: Vec<(i64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let v = name.strip_prefix('v')?.parse::<i64>().ok()?;
                Some((v, e.path()))
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        for (v, path) in versions.into_iter().skip(keep) {
            if Some(v) != active
                && let Err(e) = std::fs::remove_dir_all(&path)
            {
                tracing::warn!(error = %e, path = %path.display(), "could not remove old index");
            }
        }
    }

    /// Takes the load lock, or says another load is running. Loads never interleave.
    pub fn try_begin_load(&self) -> Result<LoadGuard, LoadError> {
        self.load_lock
            .clone()
            .try_lock_owned()
            .map(LoadGuard)
            .map_err(|_| LoadError::Busy)
    }

    async fn audited(
        &self,
        actor: &str,
        action: &str,
        result: Result<LoadOutcome, LoadError>,
    ) -> Result<LoadOutcome, LoadError> {
        let (version, outcome, detail) = match &result {
            Ok(o) if o.version.is_none() => (None, "dry_run", None),
            Ok(o) if !o.changed => (o.version.as_ref().map(|v| v.version), "unchanged", None),
            Ok(o) => (o.version.as_ref().map(|v| v.version), "ok", None),
            Err(LoadError::Invalid(i)) => (
                None,
                "invalid",
                Some(format!("{} problem(s)", i.total_problems)),
            ),
            Err(LoadError::Busy) => (None, "busy", None),
            Err(LoadError::NotFound(v)) => (Some(*v), "not_found", None),
            Err(LoadError::Internal(e)) => (None, "error", Some(format!("{e:#}"))),
        };
        let entry = AuditEntry {
            at_ms: crate::store::now_ms(),
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
    pub async fn load_files(
        &self,
        actor: &str,
        files: Vec<(String, PathBuf)>,
        mode: LoadMode,
        dry_run: bool,
    ) -> Result<LoadOutcome, LoadError> {
        let action = match mode {
            LoadMode::Replace => "load",
            LoadMode::Merge => "merge",
        };
        let result = async {
            let guard = self.try_begin_load()?;
            let max = self.settings.limits.max_upload_bytes;
            let catalog = tokio::task::spawn_blocking(move || parse_named_files(&files, max))
                .await
                .context("parse task panicked")??;
            let meta = NewVersion {
                created_by: actor.to_string(),
                source: match mode {
                    LoadMode::Replace => "upload",
                    LoadMode::Merge => "merge",
                }
                .into(),
                source_hash: None,
                note: None,
            };
            self.apply(&guard, catalog, meta, mode, dry_run).await
        }
        .await;
        self.audited(actor, action, result).await
    }

    /// Re-reads the metadata directory. Unless `force`, nothing happens when its files are
    /// those the active version was loaded from.
    pub async fn reload_directory(
        &self,
        actor: &str,
        force: bool,
    ) -> Result<LoadOutcome, LoadError> {
        let result = async {
            let guard = self.try_begin_load()?;
            let dir = self.settings.metadata_dir.clone();
            let max = self.settings.limits.max_upload_bytes;
            let (catalog, hash) = tokio::task::spawn_blocking(move || read_directory(&dir, max))
                .await
                .context("parse task panicked")??;
            if !force && let Some(current) = self.snapshot() {
                let active = self.store.version(current.version).await?;
                if let Some(active) =
                    active.filter(|v| v.source_hash.as_deref() == Some(hash.as_str()))
                {
                    return Ok(LoadOutcome {
                        datasets: active.datasets as usize,
                        columns: active.columns as usize,
                        version: Some(active),
                        diff: CatalogDiff::default(),
                        changed: false,
                    });
                }
            }
            let meta = NewVersion {
                created_by: actor.to_string(),
                source: SOURCE_DIRECTORY.into(),
                source_hash: Some(hash),
                note: None,
            };
            self.apply(&guard, catalog, meta, LoadMode::Replace, false)
                .await
        }
        .await;
        self.audited(actor, "reload", result).await
    }

    /// Rolls back (or forward) to a version still in the store.
    pub async fn activate_version(
        &self,
        actor: &str,
        version: i64,
    ) -> Result<LoadOutcome, LoadError> {
        let result = async {
            let _guard = self.try_begin_load()?;
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
            })
        }
        .await;
        self.audited(actor, "activate", result).await
    }

    /// Validates `catalog` against the live one and, unless `dry_run`, stores it as a new
    /// version and makes it live: one store transaction writes the version, its index is
    /// built in a new directory, then the store's active row and the in-memory pointer
    /// switch. A crash before the switch leaves the previous version active.
    pub async fn apply(
        &self,
        _guard: &LoadGuard,
        catalog: Catalog,
        meta: NewVersion,
        mode: LoadMode,
        dry_run: bool,
    ) -> Result<LoadOutcome, LoadError> {
        let current = self.snapshot();
        let empty = Catalog::default();
        let old = current.as_ref().map(|s| &s.catalog).unwrap_or(&empty);
        let catalog = match mode {
            LoadMode::Replace => catalog,
            LoadMode::Merge => old.merged_with(catalog),
        };
        let diff = CatalogDiff::between(old, &catalog);
        let datasets = catalog.datasets.len();
        let columns = catalog.column_count();
        if dry_run {
            return Ok(LoadOutcome {
                version: None,
                datasets,
                columns,
                diff,
                changed: true,
            });
        }
        let mut info = self.store.create_version(&catalog, &meta).await?;
        let prepared = self.prepare_snapshot(info.version, catalog).await?;
        self.store.activate(info.version).await?;
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
        })
    }

    /// Follows the active version in the store: when another process (a replica, or
    /// `descoberta load`) activates a version, switch to it. Woken by Postgres
    /// notifications, and checks every `replica_poll_ms` regardless.
    pub async fn follow_active_version(self: Arc<Self>) {
        let mut notifications = match self.store.listen_active().await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = ?e, "no active-version notifications; polling only");
                None
            }
        };
        let poll = std::time::Duration::from_millis(self.settings.replica_poll_ms.max(100));
        loop {
            match notifications.as_mut() {
                Some(stream) => {
                    let _ = tokio::time::timeout(poll, stream.next()).await;
                }
                None => tokio::time::sleep(poll).await,
            }
            if let Err(e) = self.refresh_governance().await {
                tracing::warn!(error = ?e, "could not refresh keys and feedback");
            }
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = ?e, "could not follow the active catalog version");
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

    /// Ranks datasets for `text` off the async runtime, bounded by the search permits.
    /// `depth`: how many of the top datasets the caller will show (their matching columns
    /// are computed).
    pub async fn search(
        &self,
        text: &str,
        visibility: &Visibility,
        depth: usize,
    ) -> Result<(Arc<Snapshot>, Ranked), SearchError> {
        let snapshot = self.snapshot().ok_or(SearchError::NoCatalog)?;
        let _permit = self
            .search_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SearchError::NoCatalog)?;
        let plan = retrieval::understand(text);
        let timer = self.metrics.retrieval_duration.start_timer();
        let semantic = snapshot.semantic();
        let query_vector = match (&self.embedder, &semantic) {
            (Some(embedder), Some(semantic)) if embedder.model_id() == semantic.model_id => {
                match embedder.embed(vec![plan.semantic_text()]).await {
                    Ok(mut vectors) => vectors.pop(),
                    Err(e) => {
                        tracing::warn!(error = ?e, "query embedding failed; lexical only");
                        None
                    }
                }
            }
            _ => None,
        };
        let config = self.retrieval.clone();
        let visibility = visibility.clone();
        let snap = snapshot.clone();
        let feedback = self.feedback_for(&snapshot, &plan);
        let ranked = tokio::task::spawn_blocking(move || {
            let semantic = semantic.as_deref().zip(query_vector.as_deref());
            let signals = retrieval::Signals {
                semantic,
                feedback: &feedback,
            };
            retrieval::rank(&snap, plan, signals, &visibility, &config, depth)
        })
        .await
        .map_err(|e| SearchError::Internal(anyhow::anyhow!("search task failed: {e}")))?
        .map_err(SearchError::Internal)?;
        timer.observe_duration();
        Ok((snapshot, ranked))
    }

    /// Runs blocking work against the live snapshot off the async runtime.
    pub async fn with_snapshot<T, F>(&self, work: F) -> Result<T, SearchError>
    where
        T: Send + 'static,
        F: FnOnce(&Snapshot) -> anyhow::Result<T> + Send + 'static,
    {
        let snapshot = self.snapshot().ok_or(SearchError::NoCatalog)?;
        let _permit = self
            .search_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SearchError::NoCatalog)?;
        tokio::task::spawn_blocking(move || work(&snapshot))
            .await
            .map_err(|e| SearchError::Internal(anyhow::anyhow!("task failed: {e}")))?
            .map_err(SearchError::Internal)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("no catalog is loaded")]
    NoCatalog,
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// The CSV files of a directory, in file-name order.
pub fn csv_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
        .collect();
    files.sort();
    Ok(files)
}

/// A hash of the names and contents of the directory's CSV files (`None` when there are none).
pub fn directory_hash(dir: &Path) -> anyhow::Result<Option<String>> {
    let files = csv_files(dir)?;
    if files.is_empty() {
        return Ok(None);
    }
    let mut hasher = Sha256::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        hasher.update(name.as_bytes());
        hasher.update([0]);
        let mut reader =
            std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .with_context(|| format!("reading {}", file.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        hasher.update([0]);
    }
    Ok(Some(hex::encode(hasher.finalize())))
}

/// Parses every CSV of `dir`; returns the catalog and the directory hash.
pub fn read_directory(dir: &Path, max_bytes: u64) -> Result<(Catalog, String), LoadError> {
    let files = csv_files(dir)?;
    let hash = directory_hash(dir)?.unwrap_or_default();
    parse_files(&files, max_bytes).map(|c| (c, hash))
}

/// Parses CSV files as one catalog; errors name each file by its file name.
pub fn parse_files(files: &[PathBuf], max_bytes: u64) -> Result<Catalog, LoadError> {
    let named: Vec<(String, PathBuf)> = files
        .iter()
        .map(|file| {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| file.display().to_string());
            (name, file.clone())
        })
        .collect();
    parse_named_files(&named, max_bytes)
}

/// Parses CSV files as one catalog; errors name each file as given.
pub fn parse_named_files(
    files: &[(String, PathBuf)],
    max_bytes: u64,
) -> Result<Catalog, LoadError> {
    let mut sources = Vec::with_capacity(files.len());
    for (name, file) in files {
        let reader =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        sources.push((name.clone(), std::io::BufReader::new(reader)));
    }
    parse_catalog(sources, max_bytes).map_err(LoadError::Invalid)
}
