//! The application object: the layers, built once and wired together. Both front doors (HTTP
//! and MCP) and the CLI work through an [`App`]; it holds no behaviour of its own beyond the
//! wiring (what refreshes what, what follows what).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::answer::Answerer;
use crate::embed;
use crate::governance::Governance;
use crate::metrics::Metrics;
use crate::retrieval::{Dictionary, Live, RetrievalConfig, Searcher};
use crate::settings::Settings;
use crate::stewardship::Stewardship;
use crate::store;
use crate::telemetry::Degradation;
use crate::versions::Versions;

pub struct App {
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub versions: Arc<Versions>,
    pub search: Arc<Searcher>,
    pub governance: Arc<Governance>,
    pub answerer: Arc<Answerer>,
    pub stewardship: Arc<Stewardship>,
    /// Degradations found at start (e.g. no embedding model).
    warnings: Vec<Degradation>,
    /// The exclusive lock on the data directory, held while the app lives.
    _lock: std::fs::File,
}

/// How long warming the query-embedding cache waits for a semantic index (a large catalog's
/// takes a minute or two after its load).
const WARM_WAIT: Duration = Duration::from_secs(600);
/// The questions of how many days warm the query-embedding cache.
const WARM_DAYS: u64 = 7;

/// Takes the exclusive lock of a data directory: one process per data directory (its index
/// files and SQLite database are not shared). Replicas run on Postgres, each with its own.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(".lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            anyhow::bail!(
                "the data directory {} is in use by another descoberta process{}; \
                 give each process its own data directory (replicas share a Postgres store, \
                 not a data directory)",
                dir.display(),
                match holder.trim() {
                    "" => String::new(),
                    pid => format!(" (pid {pid})"),
                }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(anyhow::Error::new(e).context(format!("locking {}", path.display())));
        }
    }
    file.set_len(0).context("writing the lock file")?;
    file.rewind().context("writing the lock file")?;
    write!(file, "{}", std::process::id()).context("writing the lock file")?;
    Ok(file)
}

impl App {
    /// Connects the store and builds every layer, without loading a catalog (see
    /// [`App::start`]).
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let settings = Arc::new(settings);
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
        let lock = lock_data_dir(&settings.data_dir)?;
        let store = store::connect(&settings.database_url()).await?;
        tracing::info!(backend = store.backend(), "store ready");
        let metrics = Arc::new(Metrics::new()?);
        let mut warnings = Vec::new();
        let embedder = embed::from_settings(&settings, &metrics.question_embedding, &mut warnings);
        let live = Arc::new(Live::empty());
        let governance = Arc::new(Governance::new(
            store.clone(),
            settings.question_retention_days,
            metrics.question_log_dropped.clone(),
        ));
        let config = RetrievalConfig::from_settings(&settings);
        let dictionary = Arc::new(Dictionary::for_settings(&settings, &mut warnings));
        let search = Arc::new(Searcher::new(
            live.clone(),
            embedder.clone(),
            config,
            settings.limits.max_concurrent_searches,
            governance.votes(),
            dictionary,
            metrics.clone(),
        ));
        let versions = Arc::new(
            Versions::new(
                settings.clone(),
                store.clone(),
                live,
                embedder,
                metrics.clone(),
            )
            .await?,
        );
        let answerer = Arc::new(Answerer::new(&settings, metrics.clone())?);
        let stewardship = Arc::new(Stewardship::new(
            store,
            versions.clone(),
            search.clone(),
            answerer.clone(),
            settings.clone(),
        ));
        Ok(App {
            settings,
            metrics,
            versions,
            search,
            governance,
            answerer,
            stewardship,
            warnings,
            _lock: lock,
        })
    }

    /// Loads the metadata directory or opens the active version, and reads the keys and
    /// votes.
    pub async fn start(&self) -> anyhow::Result<()> {
        self.versions.start().await?;
        self.governance.refresh().await
    }

    /// Degradations worth reporting in `/readyz` (serving continues); with counts for an
    /// operator.
    pub fn warnings(&self, operator: bool) -> Vec<String> {
        let mut warnings: Vec<String> = self.warnings.iter().map(|w| w.text(operator)).collect();
        warnings.extend(self.versions.warnings(operator));
        warnings
    }

    /// Follows the store: the active version (other replicas' loads, `descoberta load`) and
    /// the keys and votes. Woken by Postgres notifications; checks every `replica_poll_ms`
    /// regardless.
    pub async fn follow(self: Arc<Self>) {
        use futures::StreamExt;
        let mut activations = self.versions.activations().await;
        let poll = std::time::Duration::from_millis(self.settings.replica_poll_ms.max(100));
        loop {
            match activations.as_mut() {
                Some(stream) => {
                    let _ = tokio::time::timeout(poll, stream.next()).await;
                }
                None => tokio::time::sleep(poll).await,
            }
            if let Err(e) = self.governance.refresh().await {
                tracing::warn!(error = ?e, "could not refresh keys and feedback");
            }
            if let Err(e) = self.versions.catch_up().await {
                tracing::warn!(error = ?e, "could not follow the active catalog version");
            }
            if let Err(e) = self.versions.repair_live().await {
                tracing::error!(error = ?e, "could not rebuild the damaged index");
            }
        }
    }

    /// Once the live version has its semantic index, embeds the questions asked most often
    /// in the last week (`retrieval.warm_questions` of them), so that after a restart they
    /// are answered at the speed of a repeated question. Gives up quietly when no semantic
    /// index comes within [`WARM_WAIT`].
    pub async fn warm_query_cache(self: Arc<Self>) {
        self.warm_query_cache_within(WARM_WAIT).await
    }

    /// [`App::warm_query_cache`], giving up when no semantic index comes within `wait`.
    pub async fn warm_query_cache_within(self: Arc<Self>, wait: Duration) {
        let limit = self.settings.retrieval.warm_questions;
        if limit == 0 || !self.search.has_embedder() {
            return;
        }
        let waiting = Instant::now();
        while self
            .search
            .snapshot()
            .is_none_or(|s| s.semantic().is_none())
        {
            if waiting.elapsed() > wait {
                tracing::info!("no semantic index yet: the query-embedding cache is not warmed");
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let questions = match self.governance.frequent_questions(WARM_DAYS, limit).await {
            Ok(questions) => questions,
            Err(e) => {
                tracing::warn!(error = ?e, "reading the question log failed; the query-embedding cache is not warmed");
                return;
            }
        };
        if questions.is_empty() {
            return;
        }
        let started = Instant::now();
        let warmed = self.search.warm(&questions).await;
        tracing::info!(
            questions = warmed,
            took_ms = started.elapsed().as_millis() as u64,
            "query-embedding cache warmed with the most asked questions"
        );
    }

    /// SIGHUP re-reads the metadata directory (when its files changed).
    pub async fn reload_on_sighup(self: Arc<Self>) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP");
                return std::future::pending().await;
            };
            while hangups.recv().await.is_some() {
                match self.versions.reload_directory("sighup", false, false).await {
                    Ok(outcome) => tracing::info!(
                        version = outcome.version.map(|v| v.version),
                        changed = outcome.changed,
                        "SIGHUP: metadata directory reloaded"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "SIGHUP: reload failed; the active version stays")
                    }
                }
            }
        }
        std::future::pending().await
    }
}
