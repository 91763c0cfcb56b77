//! What semantic retrieval indexes: one text per dataset (its name as words, domain,
//! description, tags, and its columns), and the plan that turns a catalog into its
//! [`SemanticIndex`] from cached and freshly embedded vectors.

use std::collections::{HashMap, HashSet};

use super::visibility::IndexRedaction;
use crate::catalog::Dataset;
use crate::embed::{Embedder, SemanticIndex, SimilarityScale, TextKind, content_hash};
use crate::index::TextFilter;
use crate::text;

/// Where a dataset's text stops taking columns. Embedding time grows with the tokens (and
/// attention with their square), and a short text is also the sharper one: the name, the
/// description and the first columns say what a table is about. Measured (2026-12-01,
/// `scripts/bench` at 1M columns and `descoberta eval`), cutting at 2000 / 700 / 350 / 200
/// characters: the semantic index took 18.7 / 10.5 / 6.4 / 4.0 min, recall@5 on the
/// generated questions 76.2 / 86.0 / 92.5 / 94.8; Spider R@5 90.1 at 700, 91.4 at 200;
/// BIRD 94.7 at 700, 93.9 at 200.
const MAX_TEXT_CHARS: usize = 200;

/// The text that represents a dataset for semantic retrieval: its name as words, domain,
/// description, and its columns as words with their descriptions.
pub fn dataset_text(dataset: &Dataset) -> String {
    let mut text = text::words(&dataset.name);
    if let Some(domain) = &dataset.domain {
        text.push_str(" (");
        text.push_str(&text::words(domain));
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
            text.push_str(&text::words(&column.name));
            if let Some(desc) = &column.description {
                let name_words = text::words(&column.name).to_lowercase();
                if desc.to_lowercase() != name_words {
                    text.push_str(" (");
                    text.push_str(desc);
                    text.push(')');
                }
            }
            if text.len() > MAX_TEXT_CHARS {
                break;
            }
        }
    }
    text
}

/// What it takes to build a catalog's semantic index: the text of each dataset, its cache key
/// (model and content hash), and the vectors known so far. The load pipeline fills it from
/// the store's cache and the embedder; `descoberta eval` from the embedder alone.
pub struct SemanticPlan {
    model_id: String,
    scale: SimilarityScale,
    texts: Vec<String>,
    hashes: Vec<String>,
    vectors: HashMap<String, Vec<f32>>,
}

/// Texts per embedding call (and per cache write).
pub const EMBED_BATCH: usize = 64;

impl SemanticPlan {
    /// The texts of `datasets` for `embedder`'s model, with no vectors yet; `filter` as for
    /// the lexical index (hidden names kept out of visible datasets' texts).
    pub fn new(
        datasets: &[Dataset],
        embedder: &dyn Embedder,
        filter: &IndexRedaction,
    ) -> SemanticPlan {
        let model_id = embedder.model_id();
        let texts: Vec<String> = datasets
            .iter()
            .enumerate()
            .map(|(i, d)| filter.filter(i as u32, &dataset_text(d)).into_owned())
            .collect();
        let hashes = texts.iter().map(|t| content_hash(model_id, t)).collect();
        SemanticPlan {
            model_id: model_id.to_string(),
            scale: embedder.scale(),
            texts,
            hashes,
            vectors: HashMap::new(),
        }
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The content hash of every dataset's text (the cache keys).
    pub fn hashes(&self) -> &[String] {
        &self.hashes
    }

    /// Adds vectors (from a cache, or just embedded) by content hash.
    pub fn add(&mut self, vectors: impl IntoIterator<Item = (String, Vec<f32>)>) {
        self.vectors.extend(vectors);
    }

    /// Datasets whose vectors are not known yet.
    pub fn missing(&self) -> usize {
        self.hashes
            .iter()
            .filter(|h| !self.vectors.contains_key(*h))
            .count()
    }

    pub fn total(&self) -> usize {
        self.hashes.len()
    }

    /// The distinct texts still to embed, as (content hash, text), in batches.
    pub fn missing_batches(&self) -> Vec<Vec<(String, String)>> {
        let mut seen = HashSet::new();
        let missing: Vec<(String, String)> = self
            .hashes
            .iter()
            .zip(&self.texts)
            .filter(|(h, _)| !self.vectors.contains_key(*h) && seen.insert(h.as_str()))
            .map(|(h, t)| (h.clone(), t.clone()))
            .collect();
        missing.chunks(EMBED_BATCH).map(<[_]>::to_vec).collect()
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
        Ok(SemanticIndex::new(self.model_id, self.scale, dim, vectors))
    }
}

/// Embeds one batch of (hash, text) as passages: (hash, vector) rows.
pub async fn embed_batch(
    embedder: &dyn Embedder,
    batch: Vec<(String, String)>,
) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    let (hashes, texts): (Vec<String>, Vec<String>) = batch.into_iter().unzip();
    let vectors = embedder.embed(texts, TextKind::Passage).await?;
    anyhow::ensure!(
        vectors.len() == hashes.len(),
        "the embedder returned {} vectors for {} texts",
        vectors.len(),
        hashes.len()
    );
    Ok(hashes.into_iter().zip(vectors).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
