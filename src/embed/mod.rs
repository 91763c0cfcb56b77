//! Sentence embeddings for semantic retrieval.
//!
//! An [`Embedder`] turns texts into L2-normalized vectors. Two kinds: a local model run
//! in-process with candle ([`bert::BertEmbedder`], all-MiniLM-L6-v2 by default), or an
//! OpenAI-compatible `/v1/embeddings` endpoint ([`remote::RemoteEmbedder`]). Vectors of
//! catalog entries are cached in the store by content hash, so a reload embeds only what
//! changed; search holds them in memory ([`SemanticIndex`]).

mod bert;
mod distilled;
mod remote;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::catalog::Dataset;
use crate::index::analyzer::split_identifiers;
use crate::settings::{EmbeddingKind, Settings};
use crate::store::Store;

pub use bert::BertEmbedder;
pub use distilled::DistilledEmbedder;
pub use remote::RemoteEmbedder;

#[async_trait]
pub trait Embedder: Send + Sync {
    /// Identifies the model; cached vectors are keyed by it.
    fn model_id(&self) -> &str;

    /// One L2-normalized vector per text.
    async fn embed(&self, texts: Vec<String>) -> anyhow::Result<Vec<Vec<f32>>>;
}

/// The embedder the settings ask for: a remote endpoint when `embedding.base_url` is set,
/// otherwise the local model directory. `Err` carries a warning: the service then runs with
/// lexical retrieval only.
pub fn from_settings(settings: &Settings) -> Result<Option<Arc<dyn Embedder>>, String> {
    if !settings.embedding.enabled {
        return Ok(None);
    }
    if let Some(base_url) = &settings.embedding.base_url {
        let model = settings
            .embedding
            .model
            .clone()
            .ok_or("embedding.base_url is set but embedding.model is not")?;
        let embedder = RemoteEmbedder::new(base_url, settings.embedding.api_key.as_ref(), &model);
        return Ok(Some(Arc::new(embedder)));
    }
    let dir = settings.model_dir();
    let loaded: anyhow::Result<Arc<dyn Embedder>> = match settings.embedding.kind {
        EmbeddingKind::Transformer => BertEmbedder::load(&dir).map(|e| Arc::new(e) as _),
        EmbeddingKind::Static => DistilledEmbedder::load(&dir).map(|e| Arc::new(e) as _),
    };
    match loaded {
        Ok(embedder) => Ok(Some(embedder)),
        Err(e) => Err(format!(
            "no embedding model at {} ({e:#}); semantic retrieval is off, lexical search only. \
             Run scripts/setup to fetch it.",
            dir.display()
        )),
    }
}

/// The text that represents a dataset for semantic retrieval: its name as words, domain,
/// description, and its columns as words with their descriptions.
pub fn dataset_text(dataset: &Dataset) -> String {
    let mut text = words(&dataset.name);
    if let Some(domain) = &dataset.domain {
        text.push_str(" (");
        text.push_str(&words(domain));
        text.push(')');
    }
    if let Some(desc) = &dataset.description {
        text.push_str(": ");
        text.push_str(desc);
    }
    if !dataset.tags.is_empty() {
        text.push_str(". tags: ");
        text.push_str(&dataset.tags.join(", "));
    }
    if !dataset.columns.is_empty() {
        text.push_str(". columns: ");
        for (i, column) in dataset.columns.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(&words(&column.name));
            if let Some(desc) = &column.description {
                let name_words = words(&column.name).to_lowercase();
                if desc.to_lowercase() != name_words {
                    text.push_str(" (");
                    text.push_str(desc);
                    text.push(')');
                }
            }
            if text.len() > 2_000 {
                break;
            }
        }
    }
    text
}

/// `customer_churnScore` → `customer churn Score`.
fn words(identifier: &str) -> String {
    let mut spans = Vec::new();
    split_identifiers(identifier, &mut spans);
    spans
        .iter()
        .map(|&(a, b)| &identifier[a..b])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cache key of a text under a model.
pub fn content_hash(model_id: &str, text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(model_id.as_bytes());
    hasher.update([0]);
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

pub fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn decode_vector(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Dataset vectors held in memory for one catalog version.
pub struct SemanticIndex {
    pub model_id: String,
    dim: usize,
    /// `datasets × dim`, row-major, L2-normalized.
    vectors: Vec<f32>,
}

impl SemanticIndex {
    /// Cosine similarity of `query` with every dataset `allow` accepts, best `k` first.
    pub fn top(&self, query: &[f32], allow: impl Fn(u32) -> bool, k: usize) -> Vec<(u32, f32)> {
        if query.len() != self.dim || self.dim == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(u32, f32)> = self
            .vectors
            .chunks_exact(self.dim)
            .enumerate()
            .filter(|(i, _)| allow(*i as u32))
            .map(|(i, v)| (i as u32, dot(v, query)))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
    }

    /// Cosine similarity of `query` with one dataset.
    pub fn similarity(&self, ordinal: u32, query: &[f32]) -> f32 {
        let start = ordinal as usize * self.dim;
        match self.vectors.get(start..start + self.dim) {
            Some(v) if query.len() == self.dim => dot(v, query),
            _ => 0.0,
        }
    }

    pub fn len(&self) -> usize {
        self.vectors.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// What it takes to build a catalog's semantic index: the texts, and the vectors already
/// cached in the store (by model and content hash).
pub struct SemanticPlan {
    model_id: String,
    texts: Vec<String>,
    hashes: Vec<String>,
    vectors: HashMap<String, Vec<f32>>,
}

/// Texts per embedding call (and per cache write).
const EMBED_BATCH: usize = 64;

impl SemanticPlan {
    /// Computes the texts of `datasets` and fetches their cached vectors.
    pub async fn new(
        datasets: &[Dataset],
        embedder: &dyn Embedder,
        store: &dyn Store,
    ) -> anyhow::Result<SemanticPlan> {
        let model_id = embedder.model_id().to_string();
        let texts: Vec<String> = datasets.iter().map(dataset_text).collect();
        let hashes: Vec<String> = texts.iter().map(|t| content_hash(&model_id, t)).collect();
        let vectors = store.embeddings(&model_id, &hashes).await?;
        Ok(SemanticPlan {
            model_id,
            texts,
            hashes,
            vectors,
        })
    }

    /// Datasets whose vectors are not cached yet.
    pub fn missing(&self) -> usize {
        self.hashes
            .iter()
            .filter(|h| !self.vectors.contains_key(*h))
            .count()
    }

    pub fn total(&self) -> usize {
        self.hashes.len()
    }

    /// Embeds what is missing, caching it in the store batch by batch; `progress` counts
    /// embedded texts. Stops early (returning `false`) when `keep_going` says so.
    pub async fn embed_missing(
        &mut self,
        embedder: &dyn Embedder,
        store: &dyn Store,
        progress: &std::sync::atomic::AtomicUsize,
        keep_going: impl Fn() -> bool,
    ) -> anyhow::Result<bool> {
        let mut missing: Vec<usize> = (0..self.hashes.len())
            .filter(|&i| !self.vectors.contains_key(&self.hashes[i]))
            .collect();
        missing.dedup_by_key(|i| self.hashes[*i].clone());
        for chunk in missing.chunks(EMBED_BATCH) {
            if !keep_going() {
                return Ok(false);
            }
            let batch: Vec<String> = chunk.iter().map(|&i| self.texts[i].clone()).collect();
            let vectors = embedder.embed(batch).await?;
            anyhow::ensure!(
                vectors.len() == chunk.len(),
                "embedder returned a wrong count"
            );
            let rows: Vec<(String, Vec<f32>)> = chunk
                .iter()
                .zip(vectors)
                .map(|(&i, v)| (self.hashes[i].clone(), v))
                .collect();
            store.put_embeddings(&self.model_id, &rows).await?;
            progress.fetch_add(rows.len(), std::sync::atomic::Ordering::Relaxed);
            self.vectors.extend(rows);
        }
        Ok(true)
    }

    /// The index, once every vector is there.
    pub fn finish(self) -> anyhow::Result<SemanticIndex> {
        let dim = self.vectors.values().next().map(Vec::len).unwrap_or(0);
        let mut vectors = Vec::with_capacity(dim * self.hashes.len());
        for hash in &self.hashes {
            let v = self
                .vectors
                .get(hash)
                .ok_or_else(|| anyhow::anyhow!("missing embedding"))?;
            anyhow::ensure!(v.len() == dim, "embeddings of different dimensions");
            vectors.extend_from_slice(v);
        }
        Ok(SemanticIndex {
            model_id: self.model_id,
            dim,
            vectors,
        })
    }
}

/// L2-normalizes in place.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v {
            *x /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = vec![0.25f32, -1.5, 3.0];
        assert_eq!(decode_vector(&encode_vector(&v)), Some(v));
        assert_eq!(decode_vector(&[1, 2, 3]), None);
    }

    #[test]
    fn top_respects_visibility_and_order() {
        let index = SemanticIndex {
            model_id: "m".into(),
            dim: 2,
            vectors: vec![1.0, 0.0, 0.0, 1.0, 0.8, 0.6],
        };
        let top = index.top(&[1.0, 0.0], |_| true, 2);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![0, 2]);
        let top = index.top(&[1.0, 0.0], |i| i != 0, 2);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![2, 1]);
    }

    #[test]
    fn dataset_text_spells_identifiers_as_words() {
        let mut d = Dataset::new("crm.customer_churnScores");
        d.description = Some("Churn model output".into());
        let text = dataset_text(&d);
        assert!(
            text.starts_with("crm customer churn Scores: Churn model output"),
            "{text}"
        );
    }
}
