//! Sentence embeddings, as pure compute: an [`Embedder`] turns texts into L2-normalized
//! vectors, and a [`SemanticIndex`] holds a catalog version's vectors in memory for nearest
//! neighbour search. Kinds of embedder: multilingual-e5-small run in-process by our own
//! engine (the default, [`e5::E5Embedder`]), all-MiniLM-L6-v2 run with candle
//! ([`bert::BertEmbedder`]), its distilled static table, or an OpenAI-compatible
//! `/v1/embeddings` endpoint ([`remote::RemoteEmbedder`]).
//!
//! Embed knows no store and no catalog: the load pipeline reads cached vectors from the
//! store, asks an embedder for the missing ones, and writes them back.

mod bert;
mod distilled;
mod e5;
mod remote;

use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::settings::{E5Prefixes, EmbeddingKind, Settings};

pub use bert::BertEmbedder;
pub use distilled::DistilledEmbedder;
pub use e5::{E5Embedder, MODEL_FILES as E5_MODEL_FILES};
pub use remote::RemoteEmbedder;

/// What a text is: models trained with query and passage prefixes (E5) embed them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A question or search words.
    Query,
    /// A catalog entry.
    Passage,
}

/// Where a model's cosine similarities lie: models differ widely (all-MiniLM-L6-v2 puts
/// unrelated texts near 0.1, multilingual-e5-small near 0.75), so thresholds are set on the
/// calibrated scale, where `unrelated` maps to 0 and `related` to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarityScale {
    /// The similarity of a question to the best dataset of a catalog that does not hold it.
    pub unrelated: f32,
    /// The similarity of a question to a dataset that clearly answers it.
    pub related: f32,
}

impl SimilarityScale {
    /// all-MiniLM-L6-v2 (and its distilled table): the scale the thresholds were first set on.
    pub const MINILM: SimilarityScale = SimilarityScale {
        unrelated: 0.2,
        related: 0.6,
    };

    /// `similarity` on the calibrated scale (0 = unrelated, 1 = related; not clamped).
    pub fn calibrate(&self, similarity: f32) -> f32 {
        let span = (self.related - self.unrelated).max(1e-3);
        (similarity - self.unrelated) / span
    }
}

impl Default for SimilarityScale {
    fn default() -> Self {
        SimilarityScale::MINILM
    }
}

#[async_trait]
pub trait Embedder: Send + Sync {
    /// Identifies the model; cached vectors are keyed by it.
    fn model_id(&self) -> &str;

    /// Where this model's similarities lie (see [`SimilarityScale`]).
    fn scale(&self) -> SimilarityScale;

    /// One L2-normalized vector per text.
    async fn embed(&self, texts: Vec<String>, kind: TextKind) -> anyhow::Result<Vec<Vec<f32>>>;
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
        return Ok(Some(rescaled(Arc::new(embedder), settings)));
    }
    let dir = settings.model_dir();
    let loaded: anyhow::Result<Arc<dyn Embedder>> = match settings.embedding.kind {
        EmbeddingKind::E5 => {
            let file = settings.embedding.e5_file.as_deref();
            let symmetric = settings.embedding.e5_prefixes == E5Prefixes::Symmetric;
            E5Embedder::load(&dir, file, symmetric).map(|e| Arc::new(e) as _)
        }
        EmbeddingKind::Transformer => BertEmbedder::load(&dir).map(|e| Arc::new(e) as _),
        EmbeddingKind::Static => DistilledEmbedder::load(&dir).map(|e| Arc::new(e) as _),
    };
    match loaded {
        Ok(embedder) => Ok(Some(rescaled(embedder, settings))),
        Err(e) => Err(format!(
            "no embedding model at {} ({e:#}); semantic retrieval is off, lexical search only. \
             Run scripts/setup to fetch it.",
            dir.display()
        )),
    }
}

/// `embedder`, with the similarity scale of `embedding.similarity_scale` when it is set.
fn rescaled(embedder: Arc<dyn Embedder>, settings: &Settings) -> Arc<dyn Embedder> {
    match settings.embedding.similarity_scale {
        Some([unrelated, related]) => Arc::new(Rescaled {
            inner: embedder,
            scale: SimilarityScale { unrelated, related },
        }),
        None => embedder,
    }
}

/// An embedder with a configured similarity scale.
struct Rescaled {
    inner: Arc<dyn Embedder>,
    scale: SimilarityScale,
}

#[async_trait]
impl Embedder for Rescaled {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn scale(&self) -> SimilarityScale {
        self.scale
    }

    async fn embed(&self, texts: Vec<String>, kind: TextKind) -> anyhow::Result<Vec<Vec<f32>>> {
        self.inner.embed(texts, kind).await
    }
}

/// Cache key of a text under a model.
pub fn content_hash(model_id: &str, text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(model_id.as_bytes());
    hasher.update([0]);
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

/// Dataset vectors held in memory for one catalog version.
pub struct SemanticIndex {
    pub model_id: String,
    /// The model's similarity scale.
    pub scale: SimilarityScale,
    dim: usize,
    /// `datasets × dim`, row-major, L2-normalized.
    vectors: Vec<f32>,
}

impl SemanticIndex {
    /// An index over `vectors` (`len × dim`, row-major, L2-normalized).
    pub fn new(
        model_id: String,
        scale: SimilarityScale,
        dim: usize,
        vectors: Vec<f32>,
    ) -> SemanticIndex {
        SemanticIndex {
            model_id,
            scale,
            dim,
            vectors,
        }
    }

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

/// The mean cosine similarity of paired vectors (fidelity checks).
pub fn mean_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let n = a.len().min(b.len()).max(1);
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(descoberta_e5::cosine(x, y)))
        .sum();
    sum / n as f64
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
    fn top_respects_visibility_and_order() {
        let index = SemanticIndex {
            model_id: "m".into(),
            scale: SimilarityScale::MINILM,
            dim: 2,
            vectors: vec![1.0, 0.0, 0.0, 1.0, 0.8, 0.6],
        };
        let top = index.top(&[1.0, 0.0], |_| true, 2);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![0, 2]);
        let top = index.top(&[1.0, 0.0], |i| i != 0, 2);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![2, 1]);
    }
}
