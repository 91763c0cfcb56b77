//! A static (model2vec-style) embedder distilled from the BERT model: every vocabulary token
//! gets one vector (the model's output for that token alone), and a text's embedding is the
//! normalized mean of its tokens' vectors. No transformer runs at query time, so it embeds
//! hundreds of thousands of short texts per second; `descoberta eval` measures what that
//! costs in quality.
//!
//! The table is computed once from the model directory and cached next to it
//! (`static-<hash>.bin`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use candle_core::{DType, Tensor};
use tokenizers::Tokenizer;

use super::bert::BertEmbedder;
use super::{Embedder, SimilarityScale, TextKind, normalize};

/// Tokens per forward pass while distilling.
const DISTILL_BATCH: usize = 512;

pub struct DistilledEmbedder {
    tokenizer: Arc<Tokenizer>,
    dim: usize,
    /// `vocab × dim`, row-major.
    table: Arc<Vec<f32>>,
    model_id: String,
}

impl DistilledEmbedder {
    /// Loads the distilled table of the model in `dir`, distilling it first when missing.
    pub fn load(dir: &Path) -> anyhow::Result<DistilledEmbedder> {
        let bert = BertEmbedder::load(dir)?;
        let cache = dir.join("static-v1.bin");
        let (dim, table) = match read_table(&cache) {
            Some(t) => t,
            None => {
                let started = std::time::Instant::now();
                let (dim, table) = distill(&bert)?;
                tracing::info!(
                    took_ms = started.elapsed().as_millis() as u64,
                    "distilled static embeddings"
                );
                if let Err(e) = write_table(&cache, dim, &table) {
                    tracing::warn!(error = %e, "could not cache the distilled table");
                }
                (dim, table)
            }
        };
        Ok(DistilledEmbedder {
            tokenizer: Arc::new(bert.tokenizer().clone()),
            dim,
            table: Arc::new(table),
            model_id: format!("static:{}", bert.model_id()),
        })
    }

    fn embed_one(&self, text: &str) -> anyhow::Result<Vec<f32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let mut out = vec![0f32; self.dim];
        let mut n = 0;
        for &id in encoding.get_ids() {
            let start = id as usize * self.dim;
            if let Some(row) = self.table.get(start..start + self.dim) {
                for (o, v) in out.iter_mut().zip(row) {
                    *o += v;
                }
                n += 1;
            }
        }
        if n > 0 {
            normalize(&mut out);
        }
        Ok(out)
    }
}

/// One vector per vocabulary token: BERT's output at the token's position in `[CLS] t [SEP]`.
fn distill(bert: &BertEmbedder) -> anyhow::Result<(usize, Vec<f32>)> {
    let vocab = bert.tokenizer().get_vocab_size(true);
    let model = bert.model();
    let device = &model.device;
    let cls = bert
        .tokenizer()
        .token_to_id("[CLS]")
        .context("no [CLS] token")?;
    let sep = bert
        .tokenizer()
        .token_to_id("[SEP]")
        .context("no [SEP] token")?;
    let mut table = Vec::new();
    let mut dim = 0;
    for start in (0..vocab).step_by(DISTILL_BATCH) {
        let end = (start + DISTILL_BATCH).min(vocab);
        let n = end - start;
        let mut ids = Vec::with_capacity(n * 3);
        for t in start..end {
            ids.extend([cls, t as u32, sep]);
        }
        let ids = Tensor::from_vec(ids, (n, 3), device)?;
        let types = ids.zeros_like()?;
        let mask = ids.ones_like()?;
        let hidden = model.forward(&ids, &types, Some(&mask))?; // (n, 3, dim)
        let token = hidden.narrow(1, 1, 1)?.squeeze(1)?.to_dtype(DType::F32)?; // (n, dim)
        let rows: Vec<Vec<f32>> = token.to_vec2()?;
        dim = rows.first().map_or(0, Vec::len);
        for row in rows {
            table.extend(row);
        }
    }
    Ok((dim, table))
}

fn read_table(path: &Path) -> Option<(usize, Vec<f32>)> {
    let bytes = std::fs::read(path).ok()?;
    let dim = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let table = decode_f32(bytes.get(4..)?)?;
    (dim > 0 && table.len().is_multiple_of(dim)).then_some((dim, table))
}

fn write_table(path: &Path, dim: usize, table: &[f32]) -> anyhow::Result<()> {
    let mut bytes = (dim as u32).to_le_bytes().to_vec();
    bytes.extend(encode_f32(table));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).context("writing distilled table")?;
    std::fs::rename(&tmp, path).context("moving distilled table")?;
    Ok(())
}

#[async_trait]
impl Embedder for DistilledEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn scale(&self) -> SimilarityScale {
        SimilarityScale::MINILM
    }

    async fn embed(&self, texts: Vec<String>, _kind: TextKind) -> anyhow::Result<Vec<Vec<f32>>> {
        texts.iter().map(|t| self.embed_one(t)).collect()
    }
}

/// The table's bytes: little-endian `f32`s.
fn encode_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode_f32(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let values = bytes.chunks_exact(4);
    Some(
        values
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}
