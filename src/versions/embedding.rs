//! Embeddings in the load pipeline: the store keeps vectors by content hash, the embedder
//! computes the missing ones, and this module moves them between the two. A few missing
//! vectors are computed before a version goes live; many are computed in the background
//! while the version serves lexically.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::catalog::Dataset;
use crate::embed::Embedder;
use crate::retrieval::semantic::{SemanticPlan, embed_batch};
use crate::retrieval::{IndexRedaction, Live, Snapshot};
use crate::store::EmbeddingCache;

/// A plan for `datasets`, with every vector the store already has.
pub async fn plan(
    datasets: &[Dataset],
    redaction: &IndexRedaction,
    embedder: &dyn Embedder,
    cache: &dyn EmbeddingCache,
) -> anyhow::Result<SemanticPlan> {
    let mut plan = SemanticPlan::new(datasets, embedder, redaction);
    let cached = cache
        .embeddings(plan.model_id(), plan.hashes())
        .await
        .context("reading cached embeddings")?;
    plan.add(cached);
    Ok(plan)
}

/// Embeds what `plan` misses, caching each batch in the store; `progress` counts embedded
/// texts. Stops early (returning `false`) when `keep_going` says so.
pub async fn embed_missing(
    plan: &mut SemanticPlan,
    embedder: &dyn Embedder,
    cache: &dyn EmbeddingCache,
    progress: &AtomicUsize,
    keep_going: impl Fn() -> bool,
) -> anyhow::Result<bool> {
    for batch in plan.missing_batches() {
        if !keep_going() {
            return Ok(false);
        }
        let rows = embed_batch(embedder, batch).await?;
        cache.put_embeddings(plan.model_id(), &rows).await?;
        progress.fetch_add(rows.len(), Ordering::Relaxed);
        plan.add(rows);
    }
    Ok(true)
}

/// The live version's semantic index while it is being built in the background.
#[derive(Clone)]
pub struct Building {
    pub version: i64,
    /// Datasets embedded so far, of `total`.
    pub done: Arc<AtomicUsize>,
    pub total: usize,
    /// Attempts that failed (the model or its endpoint); the next one follows after a pause.
    pub failures: Arc<AtomicUsize>,
}

/// What is being built in the background, if anything.
pub type Progress = Arc<std::sync::Mutex<Option<Building>>>;

/// The first pause after a failed attempt; each next one doubles, up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Embeds what a live version still misses, then gives it its semantic index. An attempt
/// that fails (an embeddings endpoint that is down, a proxy in the way) is tried again after
/// a pause, from where it stopped, while the version stays live: search is lexical until
/// then. Gives up when another version replaces it (what was embedded stays cached for the
/// next one).
pub async fn complete_in_background(
    snapshot: Arc<Snapshot>,
    mut plan: SemanticPlan,
    embedder: Arc<dyn Embedder>,
    cache: Arc<dyn EmbeddingCache>,
    live: Arc<Live>,
    progress: Progress,
    building: Building,
) {
    let started = Instant::now();
    let version = snapshot.version;
    let still_live = || live.load().as_ref().is_some_and(|s| s.version == version);
    let mut pause = RETRY_FIRST;
    loop {
        // After a failed attempt (this task's, or the load's own), a pause before the next.
        if building.failures.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
            if !still_live() {
                tracing::info!(version, "background embedding stopped: version replaced");
                break;
            }
        }
        let result = embed_missing(
            &mut plan,
            embedder.as_ref(),
            cache.as_ref(),
            &building.done,
            still_live,
        )
        .await;
        match result {
            Ok(true) => {
                match plan.finish() {
                    Ok(index) => {
                        tracing::info!(
                            version,
                            datasets = index.len(),
                            took_ms = started.elapsed().as_millis() as u64,
                            "semantic index ready"
                        );
                        snapshot.set_semantic(index);
                    }
                    Err(e) => tracing::error!(error = ?e, version, "semantic index failed"),
                }
                break;
            }
            Ok(false) => {
                tracing::info!(version, "background embedding stopped: version replaced");
                break;
            }
            Err(e) => {
                let failures = building.failures.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(
                    error = ?e,
                    version,
                    failures,
                    retry_in_ms = pause.as_millis() as u64,
                    "background embedding failed; lexical search until a retry succeeds"
                );
            }
        }
    }
    let mut progress = progress.lock().unwrap_or_else(|p| p.into_inner());
    if progress.as_ref().is_some_and(|b| b.version == version) {
        *progress = None;
    }
}
