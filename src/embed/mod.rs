//! Sentence embeddings, as pure compute: an [`Embedder`] turns texts into L2-normalized
//! vectors, and a [`SemanticIndex`] holds a catalog version's vectors in memory for nearest
//! neighbour search. Kinds of embedder: multilingual-e5-small run in-process by our own
//! engine (the default, [`e5::E5Embedder`]), all-MiniLM-L6-v2 run with candle
//! ([`bert::BertEmbedder`]), its distilled static table, or an OpenAI-compatible
//! `/v1/embeddings` endpoint ([`remote::RemoteEmbedder`]).
//!
//! Embed knows no store and no catalog: the load pipeline reads cached vectors from the
//! store, asks an embedder for the missing ones, and writes them back.

mod batcher;
mod bert;
mod distilled;
mod e5;
mod nearest;
mod remote;

use std::sync::Arc;

use async_trait::async_trait;
use half::f16;
use half::slice::HalfFloatSliceExt;
use sha2::{Digest, Sha256};

use crate::metrics::QuestionEmbeddingMetrics;
use crate::settings::{E5Prefixes, E5Questions, EmbeddingKind, Settings};
use crate::telemetry::Degradation;

pub use bert::BertEmbedder;
pub use distilled::DistilledEmbedder;
pub use e5::{E5Embedder, MODEL_FILES as E5_MODEL_FILES};
pub use remote::RemoteEmbedder;

/// What a text is: models trained with query and passage prefixes (E5) embed them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A question or search words.
    Query,
    /// A question in another language than the catalog's: a model with a cross-lingual
    /// companion weighs it in (the others embed it as a [`TextKind::Query`]).
    ForeignQuery,
    /// A question in the catalog's language read by the full model where such questions are
    /// read fast: the second reading of one whose fast ranking was unsure
    /// (`embedding.e5_questions = "cascade"`). Other models read it as a [`TextKind::Query`].
    FullQuery,
    /// A catalog entry.
    Passage,
}

/// Vectors remembered by text (or by a key that says how the text was embedded).
pub(crate) type Memo = moka::sync::Cache<String, Arc<Vec<f32>>>;

/// The vectors of `keys`: those `memo` holds, and the others from `compute` (given their
/// positions in `keys`, it returns their vectors in that order), which `memo` then keeps.
/// Questions are counted in `questions`, when given, by where their vectors came from.
pub(crate) async fn through_memo<F, Fut>(
    memo: &Memo,
    keys: Vec<String>,
    questions: Option<&QuestionEmbeddingMetrics>,
    compute: F,
) -> anyhow::Result<Vec<Vec<f32>>>
where
    F: FnOnce(Vec<usize>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<Vec<f32>>>>,
{
    use anyhow::Context;
    let mut out: Vec<Option<Vec<f32>>> = keys
        .iter()
        .map(|k| memo.get(k).map(|v| v.as_ref().clone()))
        .collect();
    let missing: Vec<usize> = (0..out.len()).filter(|&i| out[i].is_none()).collect();
    if let Some(questions) = questions {
        questions.count(out.len() - missing.len(), missing.len());
    }
    if !missing.is_empty() {
        let vectors = compute(missing.clone()).await?;
        anyhow::ensure!(
            vectors.len() == missing.len(),
            "the model returned {} vectors for {} texts",
            vectors.len(),
            missing.len()
        );
        for (i, vector) in missing.into_iter().zip(vectors) {
            memo.insert(keys[i].clone(), Arc::new(vector.clone()));
            out[i] = Some(vector);
        }
    }
    out.into_iter()
        .map(|v| v.context("an embedding is missing"))
        .collect()
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

    /// Where a question's similarities lie when it is embedded as `kind` (a model whose
    /// questions in another language go through another space has another scale for them).
    fn scale_for(&self, kind: TextKind) -> SimilarityScale {
        let _ = kind;
        self.scale()
    }

    /// Whether questions in the catalog's language go through a faster encoder than catalog
    /// entries (e5's fast questions).
    fn fast_questions(&self) -> bool {
        false
    }

    /// The share of new questions read fast whose rankings, the least sure, are read again by
    /// the full model ([`TextKind::FullQuery`]) and ranked anew (`e5_questions = "cascade"`);
    /// `None` without the cascade.
    fn reread_share(&self) -> Option<f32> {
        None
    }

    /// One L2-normalized vector per text.
    async fn embed(&self, texts: Vec<String>, kind: TextKind) -> anyhow::Result<Vec<Vec<f32>>>;
}

/// The embedder the settings ask for: a remote endpoint when `embedding.base_url` is set,
/// otherwise the local model directory. `None` when it cannot be had: the service then runs
/// with lexical retrieval only. What is missing (the model, or e5's cross-lingual
/// companion) is reported to `warnings`. The e5 and remote embedders report questions to
/// `metrics` (the others keep no query-embedding cache and make no batches of questions).
pub fn from_settings(
    settings: &Settings,
    metrics: &QuestionEmbeddingMetrics,
    warnings: &mut Vec<Degradation>,
) -> Option<Arc<dyn Embedder>> {
    if !settings.embedding.enabled {
        return None;
    }
    let off = "semantic retrieval is off, lexical search only";
    if let Some(base_url) = &settings.embedding.base_url {
        let Some(model) = settings.embedding.model.clone() else {
            let detail = "embedding.base_url is set but embedding.model is not".to_string();
            Degradation::report(warnings, format!("no embedding model: {off}"), detail);
            return None;
        };
        let embedder = RemoteEmbedder::new(base_url, settings.embedding.api_key.as_ref(), &model)
            .with_metrics(metrics.clone());
        return Some(rescaled(Arc::new(embedder), settings));
    }
    let dir = settings.model_dir();
    let loaded: anyhow::Result<Arc<dyn Embedder>> = match settings.embedding.kind {
        EmbeddingKind::E5 => {
            let file = settings.embedding.e5_file.as_deref();
            let symmetric = settings.embedding.e5_prefixes == E5Prefixes::Symmetric;
            E5Embedder::load(&dir, file, symmetric).map(|e| {
                let share = settings.embedding.cross_lingual_share;
                let mut e = e.with_companion(&settings.cross_lingual_dir(), share, warnings);
                match settings.embedding.e5_questions {
                    E5Questions::Full => {}
                    E5Questions::Fast => e = e.with_fast_questions(warnings),
                    E5Questions::Cascade => {
                        let share = settings.embedding.cascade_share;
                        e = e.with_fast_questions(warnings).rereading(share)
                    }
                }
                Arc::new(e.with_metrics(metrics.clone())) as _
            })
        }
        EmbeddingKind::Transformer => BertEmbedder::load(&dir).map(|e| Arc::new(e) as _),
        EmbeddingKind::Static => DistilledEmbedder::load(&dir).map(|e| Arc::new(e) as _),
    };
    match loaded {
        Ok(embedder) => Some(rescaled(embedder, settings)),
        Err(e) => {
            let summary = format!("no embedding model: {off}. Run scripts/setup to fetch it.");
            Degradation::report(warnings, summary, format!("{}: {e:#}", dir.display()));
            None
        }
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

    /// The configured scale is the model's own. Questions the model reads on another scale
    /// (e5's through its cross-lingual companion, or by its fast encoder) keep theirs: on the
    /// model's own they would all count as unrelated, or all as related.
    fn scale_for(&self, kind: TextKind) -> SimilarityScale {
        let theirs = self.inner.scale_for(kind);
        if theirs == self.inner.scale() {
            self.scale
        } else {
            theirs
        }
    }

    fn fast_questions(&self) -> bool {
        self.inner.fast_questions()
    }

    fn reread_share(&self) -> Option<f32> {
        self.inner.reread_share()
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
    /// `datasets × dim`, row-major, L2-normalized, in half precision (at 20,000 datasets of
    /// e5 and its companion, 36 MB instead of 72; a search reads a few hundred rows of them,
    /// through `codes`), and a unit vector's components
    /// lose at most 2⁻¹¹ of their value (round to nearest), about 10⁻⁴ of a cosine
    /// typically and under 5·10⁻⁴ at worst.
    vectors: Vec<f16>,
    /// Their 8-bit copy, which finds the nearest without reading every row in full.
    codes: nearest::Codes,
}

impl SemanticIndex {
    /// An index over `vectors` (`len × dim`, row-major, L2-normalized).
    pub fn new(
        model_id: String,
        scale: SimilarityScale,
        dim: usize,
        vectors: Vec<f32>,
    ) -> SemanticIndex {
        let mut half = vec![f16::ZERO; vectors.len()];
        half.convert_from_f32_slice(&vectors);
        // The codes approximate the rows as stored (half precision), so their error bounds
        // hold against the products `similarity` computes.
        let mut stored = vectors;
        half.convert_to_f32_slice(&mut stored);
        let codes = nearest::Codes::new(&stored, dim);
        SemanticIndex {
            model_id,
            scale,
            dim,
            vectors: half,
            codes,
        }
    }

    /// The `k` datasets `allow` accepts that are most similar to `query`, most similar
    /// first (ties by ordinal), with their cosine similarities: the same datasets and the
    /// same bits as [`SemanticIndex::score_all`] then [`Similarities::top`], from the 8-bit
    /// codes and the exact products of the few rows they cannot tell apart
    /// (`embed::nearest`).
    pub fn top(&self, query: &[f32], allow: impl Fn(u32) -> bool, k: usize) -> Vec<(u32, f32)> {
        if query.len() != self.dim || self.dim == 0 || k == 0 {
            return Vec::new();
        }
        let active = active_len(query);
        let (estimate, bound) = self.codes.estimate(query, active);
        let query = &query[..active];
        let mut scored: Vec<(u32, f32)> = nearest::candidates(&estimate, &bound, allow, k)
            .into_iter()
            .map(|i| {
                let start = i as usize * self.dim;
                (i, row_dot(&self.vectors[start..start + active], query))
            })
            .collect();
        scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored
    }

    /// `query`'s cosine similarity with every dataset, in one pass over the vectors (for
    /// measures over all of them, `descoberta eval`; a search needs only the nearest:
    /// [`SemanticIndex::top`]).
    ///
    /// Only the query's leading components up to its last nonzero one are read (rounded up
    /// to [`DOT_LANES`]): a question in the catalog's language has zeros across the whole
    /// cross-lingual half (`embed::e5`), and the scan then reads 384 of each row's 896
    /// components. The products skipped are zeros that each lane would add to itself, so the
    /// similarities are the same bits as over the whole row.
    pub fn score_all(&self, query: &[f32]) -> Similarities {
        if query.len() != self.dim || self.dim == 0 {
            return Similarities(Vec::new());
        }
        let active = active_len(query);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            // SAFETY: AVX2 and F16C are present; `active <= dim`, the query's length.
            return Similarities(unsafe { scan_f16c(&self.vectors, self.dim, &query[..active]) });
        }
        Similarities(scan(&self.vectors, self.dim, &query[..active]))
    }

    /// Cosine similarity of `query` with one dataset.
    pub fn similarity(&self, ordinal: u32, query: &[f32]) -> f32 {
        let start = ordinal as usize * self.dim;
        match self.vectors.get(start..start + self.dim) {
            Some(v) if query.len() == self.dim => {
                let active = active_len(query);
                row_dot(&v[..active], &query[..active])
            }
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

/// One query's cosine similarity with every dataset of a [`SemanticIndex`], by ordinal.
#[derive(Debug, Clone)]
pub struct Similarities(Vec<f32>);

impl Similarities {
    /// The `k` most similar datasets that `allow` admits, most similar first (ties by
    /// ordinal).
    pub fn top(&self, allow: impl Fn(u32) -> bool, k: usize) -> Vec<(u32, f32)> {
        let mut scored: Vec<(u32, f32)> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u32, *s))
            .filter(|(i, _)| allow(*i))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        scored.select_nth_unstable_by(k - 1, order);
        scored.truncate(k);
        scored.sort_unstable_by(order);
        scored
    }

    /// The similarity with one dataset (0 for an unknown ordinal, or a query of the wrong
    /// dimension).
    pub fn get(&self, ordinal: u32) -> f32 {
        self.0.get(ordinal as usize).copied().unwrap_or(0.0)
    }
}

/// How many leading components of `query` a product must read: up to its last nonzero one,
/// rounded up to whole [`DOT_LANES`] (so each lane sums the same terms, zeros aside).
fn active_len(query: &[f32]) -> usize {
    let last = query.iter().rposition(|x| *x != 0.0).map_or(0, |i| i + 1);
    last.next_multiple_of(DOT_LANES).min(query.len())
}

/// Every vector's similarity with `query`, over each row's first `query.len()` components
/// (rows are `dim` long). Each row is widened to f32 (exactly; F16C instructions when the
/// CPU has them) into a buffer that stays in L1, then multiplied.
#[inline(always)]
fn scan(vectors: &[f16], dim: usize, query: &[f32]) -> Vec<f32> {
    let len = query.len().min(dim);
    let mut out = Vec::with_capacity(vectors.len() / dim.max(1));
    let mut row = vec![0f32; len];
    for half_row in vectors.chunks_exact(dim) {
        half_row[..len].convert_to_f32_slice(&mut row);
        out.push(dot(&row, query));
    }
    out
}

/// [`scan`] with AVX2 and F16C: eight halves widened per instruction, multiplied and summed
/// in [`dot`]'s lanes, in its order (no fused multiply-add), so the same bits as [`scan`].
///
/// # Safety
/// The CPU has AVX2 and F16C, and `query.len() <= dim`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn scan_f16c(vectors: &[f16], dim: usize, query: &[f32]) -> Vec<f32> {
    let len = query.len().min(dim);
    vectors
        .chunks_exact(dim)
        // SAFETY: the caller's contract; each row holds `dim >= len` halves.
        .map(|row| unsafe { dot_f16c(&row[..len], query) })
        .collect()
}

/// One row's product with `query` as [`scan_f16c`] computes it (the same bits as [`dot`]).
///
/// # Safety
/// The CPU has AVX2 and F16C, and `row.len() == query.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn dot_f16c(row: &[f16], query: &[f32]) -> f32 {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm256_add_ps, _mm256_cvtph_ps, _mm256_loadu_ps, _mm256_mul_ps,
        _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let len = query.len().min(row.len());
    let body = len - len % DOT_LANES;
    let mut tail = 0f32;
    for j in body..len {
        tail += row[j].to_f32() * query[j];
    }
    let (mut low, mut high) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let (r, q) = (row.as_ptr(), query.as_ptr());
    let mut j = 0;
    while j < body {
        // SAFETY: j + 16 <= body <= len, the length of both.
        unsafe {
            let x0 = _mm256_cvtph_ps(_mm_loadu_si128(r.add(j).cast::<__m128i>()));
            let x1 = _mm256_cvtph_ps(_mm_loadu_si128(r.add(j + 8).cast::<__m128i>()));
            low = _mm256_add_ps(low, _mm256_mul_ps(x0, _mm256_loadu_ps(q.add(j))));
            high = _mm256_add_ps(high, _mm256_mul_ps(x1, _mm256_loadu_ps(q.add(j + 8))));
        }
        j += DOT_LANES;
    }
    let mut lanes = [0f32; DOT_LANES];
    // SAFETY: `lanes` holds 16 floats.
    unsafe {
        _mm256_storeu_ps(lanes.as_mut_ptr(), low);
        _mm256_storeu_ps(lanes.as_mut_ptr().add(8), high);
    }
    let mut sum = 0f32;
    for lane in lanes {
        sum += lane;
    }
    sum + tail
}

/// `row · query` (equal lengths) with F16C when the CPU has it, else widened element by
/// element (exactly, no buffer for one row): the same bits either way.
fn row_dot(row: &[f16], query: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: both features are present; the caller passes equal lengths.
        return unsafe { dot_f16c(row, query) };
    }
    dot(row, query)
}

/// Lanes of [`dot`]'s independent partial sums.
const DOT_LANES: usize = 16;

/// `a · b`, summed in [`DOT_LANES`] independent lanes, which the compiler keeps in SIMD
/// registers: a single running sum is one long chain of dependent additions that cannot be
/// vectorized (float addition does not reassociate). A search computes one per dataset: at
/// 20,000 datasets the single running sum, computed twice (the nearest, then each lexical
/// match), was 45% of a search's CPU (`perf` on `/v1/search` at 1M columns); the one
/// 16-lane pass (AVX2) was 9%. On a newer machine (AVX-512, 2026-12-02), where the rest of a
/// search runs faster, that pass over f32 vectors took 20%; over half-precision vectors
/// ([`scan_f16c`]), which it reads half as many bytes of, 14%.
/// `a` is f32, or f16 widened exactly as it is read (the same bits as widening it first).
#[inline(always)]
fn dot<T: Copy>(a: &[T], b: &[f32]) -> f32
where
    f32: From<T>,
{
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let chunks_a = a.chunks_exact(DOT_LANES);
    let chunks_b = b.chunks_exact(DOT_LANES);
    let mut tail = 0f32;
    for (x, y) in chunks_a.remainder().iter().zip(chunks_b.remainder()) {
        tail += f32::from(*x) * y;
    }
    let mut lanes = [0f32; DOT_LANES];
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..DOT_LANES {
            lanes[i] += f32::from(x[i]) * y[i];
        }
    }
    let mut sum = 0f32;
    for lane in lanes {
        sum += lane;
    }
    sum + tail
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

/// A stand-in model for tests ("test-model"): every text gets `vector`; questions in
/// another language lie on the `foreign` scale, the rest on MiniLM's.
#[cfg(test)]
pub(crate) struct TwoScales {
    pub vector: Vec<f32>,
    pub foreign: SimilarityScale,
}

#[cfg(test)]
#[async_trait]
impl Embedder for TwoScales {
    fn model_id(&self) -> &str {
        "test-model"
    }

    fn scale(&self) -> SimilarityScale {
        SimilarityScale::MINILM
    }

    fn scale_for(&self, kind: TextKind) -> SimilarityScale {
        match kind {
            TextKind::ForeignQuery => self.foreign,
            _ => self.scale(),
        }
    }

    async fn embed(&self, texts: Vec<String>, _: TextKind) -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|_| self.vector.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOWER: SimilarityScale = SimilarityScale {
        unrelated: 0.6,
        related: 0.7,
    };

    /// `embedding.similarity_scale` replaces the model's own scale, for its catalog entries
    /// and the questions it reads as its own; the questions it reads on another scale keep it.
    #[test]
    fn a_configured_scale_is_the_models_own_and_leaves_its_other_scales() {
        let mut settings = Settings::default();
        settings.embedding.similarity_scale = Some([0.5, 0.9]);
        let configured = SimilarityScale {
            unrelated: 0.5,
            related: 0.9,
        };
        let model = || {
            Arc::new(TwoScales {
                vector: vec![1.0],
                foreign: LOWER,
            })
        };
        let embedder = rescaled(model(), &settings);
        assert_eq!(embedder.scale(), configured);
        for kind in [TextKind::Query, TextKind::FullQuery, TextKind::Passage] {
            assert_eq!(embedder.scale_for(kind), configured, "{kind:?}");
        }
        assert_eq!(embedder.scale_for(TextKind::ForeignQuery), LOWER);
        // Unset, nothing is wrapped.
        let plain = rescaled(model(), &Settings::default());
        assert_eq!(plain.scale_for(TextKind::Query), SimilarityScale::MINILM);
        assert_eq!(plain.scale_for(TextKind::ForeignQuery), LOWER);
    }

    #[tokio::test]
    async fn the_memo_computes_only_what_it_misses_and_keeps_the_order() {
        let memo = Memo::new(100);
        let metrics = crate::metrics::Metrics::new().unwrap();
        let counted = Some(&metrics.question_embedding);

        let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let vector = |k: &str| vec![k.len() as f32];
        let asked = std::sync::Mutex::new(Vec::new());
        let compute = |all: Vec<String>| {
            let asked = &asked;
            move |missing: Vec<usize>| {
                let texts: Vec<String> = missing.iter().map(|&i| all[i].clone()).collect();
                asked.lock().unwrap().push(texts.clone());
                async move { Ok(texts.iter().map(|t| vector(t)).collect()) }
            }
        };
        let first = keys(&["a", "bb"]);
        let got = through_memo(&memo, first.clone(), counted, compute(first))
            .await
            .unwrap();
        assert_eq!(got, [vector("a"), vector("bb")]);
        let second = keys(&["ccc", "bb", "a", "dddd"]);
        let got = through_memo(&memo, second.clone(), counted, compute(second))
            .await
            .unwrap();
        assert_eq!(
            got,
            [vector("ccc"), vector("bb"), vector("a"), vector("dddd")]
        );
        assert_eq!(
            *asked.lock().unwrap(),
            [keys(&["a", "bb"]), keys(&["ccc", "dddd"])]
        );
        // All remembered: nothing computed.
        let third = keys(&["dddd", "a"]);
        through_memo(&memo, third.clone(), counted, compute(third))
            .await
            .unwrap();
        assert_eq!(asked.lock().unwrap().len(), 2);
        let counted_by = &metrics.question_embedding;
        assert_eq!(
            (counted_by.from_memo.get(), counted_by.from_model.get()),
            (4, 4)
        );
        // A model that returns a wrong count is an error, and nothing is remembered.
        let short = through_memo(&memo, keys(&["eeeee", "ffffff"]), None, |_| async {
            Ok(vec![vec![1.0]])
        })
        .await;
        assert!(short.is_err());
        assert!(memo.get("eeeee").is_none());
    }

    /// Deterministic unit vectors of `dim` (a small LCG: the tests need no entropy).
    fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let mut v: Vec<f32> = (0..dim)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                })
                .collect();
            normalize(&mut v);
            out.extend(v);
        }
        out
    }

    #[test]
    fn dot_matches_a_plain_sum_at_every_length() {
        for len in [0, 1, 7, 15, 16, 17, 33, 384, 385] {
            let a = unit_vectors(1, len.max(1), len as u64);
            let b = unit_vectors(1, len.max(1), len as u64 + 1000);
            let plain: f64 = a[..len]
                .iter()
                .zip(&b[..len])
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let fast = f64::from(dot(&a[..len], &b[..len]));
            assert!(
                (fast - plain).abs() < 1e-6,
                "length {len}: {fast} vs {plain}"
            );
        }
        // Unequal lengths: the shorter one decides, as with `zip`.
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0, 1.0]), 3.0);
    }

    #[test]
    fn one_pass_over_every_vector_agrees_with_each_similarity() {
        let dim = 384;
        let vectors = unit_vectors(200, dim, 11);
        let index = SemanticIndex::new("m".into(), SimilarityScale::MINILM, dim, vectors.clone());
        assert_eq!(index.len(), 200);
        let query = unit_vectors(1, dim, 99);
        let all = index.score_all(&query);
        for (i, v) in vectors.chunks_exact(dim).enumerate() {
            let exact = |widen: &dyn Fn(f32) -> f32| -> f64 {
                v.iter()
                    .zip(&query)
                    .map(|(x, y)| f64::from(widen(*x)) * f64::from(*y))
                    .sum()
            };
            let got = f64::from(all.get(i as u32));
            // Exact arithmetic on the stored (half-precision) components...
            let stored = exact(&|x| f16::from_f32(x).to_f32());
            assert!(
                (got - stored).abs() < 1e-6,
                "dataset {i}: {got} vs {stored}"
            );
            // ...within the rounding bound of the f32 vectors given (2⁻¹¹ of a unit cosine).
            let given = exact(&|x| x);
            assert!(
                (got - given).abs() < 4.9e-4,
                "dataset {i}: {got} vs {given}"
            );
            assert_ne!(got, 0.0);
            // The scan (AVX2 and F16C when present) and the one-dataset path agree to the bit.
            assert_eq!(all.get(i as u32), index.similarity(i as u32, &query));
        }
        let best = index.top(&query, |_| true, 3);
        let mut sorted: Vec<f32> = (0..200).map(|i| all.get(i)).collect();
        sorted.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(best.iter().map(|b| b.1).collect::<Vec<_>>(), sorted[..3]);
        // A query of another dimension matches nothing.
        assert_eq!(index.similarity(0, &query[..10]), 0.0);
        assert!(index.top(&query[..10], |_| true, 5).is_empty());
        assert_eq!(all.get(500), 0.0);
    }

    #[test]
    fn the_f16c_scan_gives_the_portable_scans_bits_at_every_dimension() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            for dim in [1, 8, 15, 16, 17, 33, 384, 385] {
                let mut vectors = vec![f16::ZERO; 50 * dim];
                vectors.convert_from_f32_slice(&unit_vectors(50, dim, dim as u64));
                let query = unit_vectors(1, dim, 7 + dim as u64);
                let portable = scan(&vectors, dim, &query);
                // SAFETY: both features are present; the query has `dim` components.
                let fast = unsafe { scan_f16c(&vectors, dim, &query) };
                assert_eq!(portable.len(), 50);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&portable), bits(&fast), "dimension {dim}");
            }
            return;
        }
        eprintln!("no AVX2 and F16C here: only the portable scan runs");
    }

    /// A question in the catalog's language has zeros across the cross-lingual half: the scan
    /// skips them, and must give the bits of the product over the whole row.
    #[test]
    fn a_query_with_trailing_zeros_scores_the_bits_of_the_whole_row() {
        for (dim, nonzero) in [(896, 384), (385, 100), (64, 1), (40, 33), (32, 0)] {
            let vectors = unit_vectors(60, dim, dim as u64);
            let index = SemanticIndex::new("m".into(), SimilarityScale::MINILM, dim, vectors);
            let mut query = unit_vectors(1, dim, 5 + dim as u64);
            query[nonzero..].iter_mut().for_each(|x| *x = 0.0);
            let skipped = index.score_all(&query);
            // The whole row, through the portable scan (no prefix cut).
            let whole = scan(&index.vectors, dim, &query);
            for (i, w) in whole.iter().enumerate() {
                let got = skipped.get(i as u32);
                assert_eq!(got.to_bits(), w.to_bits(), "dimension {dim}, dataset {i}");
                assert_eq!(index.similarity(i as u32, &query).to_bits(), w.to_bits());
            }
            let ranked = |s: &Similarities| s.top(|_| true, 60).into_iter().map(|t| t.0);
            assert!(ranked(&skipped).eq(ranked(&Similarities(whole))));
            assert_eq!(
                active_len(&query),
                nonzero.next_multiple_of(DOT_LANES).min(dim)
            );
        }
    }

    /// Vectors as a sentence model's are: all near one direction (cosines of 0.7-0.9), in
    /// clusters, some of them repeated.
    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let center = unit_vectors(1, dim, seed);
        let clusters = unit_vectors(8, dim, seed + 1);
        let noise = unit_vectors(n, dim, seed + 2);
        let mut out = Vec::with_capacity(n * dim);
        for i in 0..n {
            // Every tenth row repeats the one before it (the same text, the same vector).
            let r = if i % 10 == 9 { i - 1 } else { i };
            let c = &clusters[(r % 8) * dim..(r % 8 + 1) * dim];
            let mut v: Vec<f32> = (0..dim)
                .map(|j| 2.0 * center[j] + 0.8 * c[j] + 0.5 * noise[r * dim + j])
                .collect();
            normalize(&mut v);
            out.extend(v);
        }
        out
    }

    /// The nearest from the codes are the nearest of the full scan: the same datasets, in the
    /// same order, with the same bits, whatever the dimension, the zero tail of the query,
    /// the datasets allowed and `k`; and the codes leave few rows to compute exactly.
    #[test]
    fn the_nearest_from_the_codes_are_the_full_scans_to_the_bit() {
        for (dim, nonzero) in [(384, 384), (896, 384), (896, 896), (100, 100), (17, 17)] {
            let n = 2000;
            let index = SemanticIndex::new(
                "m".into(),
                SimilarityScale::MINILM,
                dim,
                clustered(n, dim, dim as u64),
            );
            let queries = clustered(12, dim, 1000 + dim as u64);
            for (qi, query) in queries.chunks_exact(dim).enumerate() {
                let mut query = query.to_vec();
                query[nonzero..].fill(0.0);
                let all = index.score_all(&query);
                let allows: [&dyn Fn(u32) -> bool; 3] = [&|_| true, &|i| i % 3 != 0, &|i| i < 50];
                for allow in allows {
                    for k in [1, 10, 100, 2000, 2500] {
                        let expected = all.top(allow, k);
                        let got = index.top(&query, allow, k);
                        let bits = |v: &[(u32, f32)]| {
                            v.iter().map(|(i, s)| (*i, s.to_bits())).collect::<Vec<_>>()
                        };
                        assert_eq!(bits(&got), bits(&expected), "dim {dim}, query {qi}, k {k}");
                    }
                }
                // Most rows are settled by their codes alone.
                let (estimate, bound) = index.codes.estimate(&query, active_len(&query));
                let exact = nearest::candidates(&estimate, &bound, |_| true, 100).len();
                if dim >= 100 {
                    assert!(exact < n / 4, "dim {dim}: {exact} of {n} computed exactly");
                }
            }
        }
    }

    #[test]
    fn top_respects_visibility_and_order() {
        let index = SemanticIndex::new(
            "m".into(),
            SimilarityScale::MINILM,
            2,
            vec![1.0, 0.0, 0.0, 1.0, 0.8, 0.6],
        );
        let top = index.top(&[1.0, 0.0], |_| true, 2);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![0, 2]);
        let top = index.top(&[1.0, 0.0], |i| i != 0, 2);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![2, 1]);
    }
}
