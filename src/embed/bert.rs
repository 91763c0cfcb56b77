//! all-MiniLM-L6-v2 (or any BERT sentence-embedding model) run in-process with candle:
//! mean pooling over the attention mask, then L2 normalization, as sentence-transformers does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{Embedder, SimilarityScale, TextKind, normalize};

/// Longest input, in tokens.
const MAX_TOKENS: usize = 128;
/// Texts per forward pass.
const BATCH: usize = 16;

struct Inner {
    model: BertModel,
    tokenizer: Tokenizer,
    /// Recently embedded texts (repeated queries, reloads of unchanged entries).
    memo: moka::sync::Cache<String, Arc<Vec<f32>>>,
}

/// Models already loaded in this process, by directory: several engines (replicas in one
/// process, tests) share one copy of the weights and of the memo.
static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Inner>>>> = OnceLock::new();

/// Texts remembered by the memo.
const MEMO_ENTRIES: u64 = 20_000;

pub struct BertEmbedder {
    inner: Arc<Inner>,
    model_id: String,
}

impl BertEmbedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<BertEmbedder> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("model directory {}", dir.display()))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "local".into());
        let model_id = format!("candle:{name}:{MAX_TOKENS}");
        let loaded = LOADED.get_or_init(Mutex::default);
        let mut loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(inner) = loaded.get(&dir) {
            return Ok(BertEmbedder {
                inner: inner.clone(),
                model_id,
            });
        }
        let inner = Arc::new(Self::load_inner(&dir)?);
        loaded.insert(dir, inner.clone());
        Ok(BertEmbedder { inner, model_id })
    }

    fn load_inner(dir: &Path) -> anyhow::Result<Inner> {
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .with_context(|| format!("reading {}/config.json", dir.display()))?;
        let config: Config = serde_json::from_str(&config_text).context("parsing config.json")?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| anyhow::anyhow!("loading tokenizer.json: {e}"))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| anyhow::anyhow!("tokenizer truncation: {e}"))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        let weights = dir.join("model.safetensors");
        anyhow::ensure!(weights.exists(), "{} not found", weights.display());
        // SAFETY: the weights file is memory-mapped read-only and not modified while mapped.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu)
                .context("mapping model.safetensors")?
        };
        let model = BertModel::load(vb, &config).context("loading BERT weights")?;
        Ok(Inner {
            model,
            tokenizer,
            memo: moka::sync::Cache::new(MEMO_ENTRIES),
        })
    }
}

impl BertEmbedder {
    pub(super) fn tokenizer(&self) -> &Tokenizer {
        &self.inner.tokenizer
    }

    pub(super) fn model(&self) -> &BertModel {
        &self.inner.model
    }
}

impl Inner {
    fn embed_batch(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let n = encodings.len();
        let len = encodings.first().map(|e| e.get_ids().len()).unwrap_or(0);
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encodings {
            ids.extend(e.get_ids().iter().copied());
            mask.extend(e.get_attention_mask().iter().copied());
        }
        let device = &self.model.device;
        let ids = Tensor::from_vec(ids, (n, len), device)?;
        let mask = Tensor::from_vec(mask, (n, len), device)?;
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?; // (n, len, dim)
        let mask_f = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
        let summed = hidden.broadcast_mul(&mask_f)?.sum(1)?; // (n, dim)
        let counts = mask_f.sum(1)?.clamp(1e-9, f64::MAX)?; // (n, 1)
        let pooled = summed.broadcast_div(&counts)?;
        let mut out: Vec<Vec<f32>> = pooled.to_vec2()?;
        for v in &mut out {
            normalize(v);
        }
        Ok(out)
    }

    fn embed_all(&self, texts: Vec<String>) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        let mut missing: Vec<usize> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            match self.memo.get(text) {
                Some(v) => out[i] = v.as_ref().clone(),
                None => missing.push(i),
            }
        }
        // Batch texts of similar length together: less padding, faster.
        missing.sort_by_key(|&i| texts[i].len());
        for chunk in missing.chunks(BATCH) {
            let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
            for (&i, v) in chunk.iter().zip(self.embed_batch(&batch)?) {
                self.memo.insert(texts[i].clone(), Arc::new(v.clone()));
                out[i] = v;
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for BertEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn scale(&self) -> SimilarityScale {
        SimilarityScale::MINILM
    }

    async fn embed(&self, texts: Vec<String>, _kind: TextKind) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inner = self.inner.clone();
        crate::telemetry::blocking(move || inner.embed_all(texts))
            .await
            .context("embedding task panicked")?
    }
}
