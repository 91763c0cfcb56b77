//! The BERT encoder of multilingual-e5-small on quantized weights.
//!
//! A batch is the concatenation of several texts' tokens (no padding): the token-wise
//! matrix products see one `[T, k]` matrix, so each weight panel is loaded once per batch,
//! and attention runs per text on its own rows. Post-LN BERT:
//! `x = LN(word + pos + type)`, then per layer
//! `x = LN(x + Wo·Attn(x))`, `x = LN(x + W2·GELU(W1·x))`; mean pooling over all tokens
//! (`<s>` and `</s>` included, as with an all-ones attention mask), then L2 normalization.

use std::sync::Arc;

use super::format::{Config, Head, Q4_BLOCK, Q4Matrix, RawEncoder, RawLayer};
use super::kernels::Kernel;
use super::ops::{self, AttnScratch};
use super::quant::{PackedMatrix, QuantActs};

/// One encoder layer, repacked.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    /// Q, K and V stacked: `[3h, h]`.
    pub qkv: PackedMatrix,
    pub attn_out: PackedMatrix,
    pub ffn_in: PackedMatrix,
    pub ffn_out: PackedMatrix,
    pub ln1_w: Vec<f32>,
    pub ln1_b: Vec<f32>,
    pub ln2_w: Vec<f32>,
    pub ln2_b: Vec<f32>,
}

/// All weights: the packed ones for the fast path, the file's Q4 ones for the reference.
#[derive(Debug, Clone)]
pub(crate) struct Weights {
    pub cfg: Config,
    /// Shared with the question encoders distilled from the model.
    pub word: Arc<Q4Matrix>,
    pub pos: Vec<f32>,
    /// Token type 0 row.
    pub typ: Vec<f32>,
    pub emb_ln_w: Vec<f32>,
    pub emb_ln_b: Vec<f32>,
    pub layers: Vec<Layer>,
    pub raw_layers: Vec<RawLayer>,
    /// A distilled question encoder's map on the pooled vector.
    pub head: Option<Head>,
}

impl Weights {
    /// `word` is `[vocab rows, hidden]`; `head` maps the pooled vector (question encoders).
    pub fn new(cfg: Config, word: Arc<Q4Matrix>, raw: RawEncoder, head: Option<Head>) -> Weights {
        let h = cfg.hidden;
        let layers = raw
            .layers
            .iter()
            .map(|l| Layer {
                qkv: PackedMatrix::from_q4(&[(&l.q, &l.q_b), (&l.k, &l.k_b), (&l.v, &l.v_b)]),
                attn_out: PackedMatrix::from_q4(&[(&l.attn_out, &l.attn_out_b)]),
                ffn_in: PackedMatrix::from_q4(&[(&l.ffn_in, &l.ffn_in_b)]),
                ffn_out: PackedMatrix::from_q4(&[(&l.ffn_out, &l.ffn_out_b)]),
                ln1_w: l.attn_ln_w.clone(),
                ln1_b: l.attn_ln_b.clone(),
                ln2_w: l.out_ln_w.clone(),
                ln2_b: l.out_ln_b.clone(),
            })
            .collect();
        Weights {
            typ: raw.token_type[..h].to_vec(),
            cfg,
            word,
            pos: raw.pos,
            emb_ln_w: raw.emb_ln_w,
            emb_ln_b: raw.emb_ln_b,
            layers,
            raw_layers: raw.layers,
            head,
        }
    }

    /// The question encoder's head on a pooled, normalized vector, normalized again
    /// (nothing without a head).
    pub fn apply_head(&self, e: &mut Vec<f32>) {
        let Some(head) = &self.head else {
            return;
        };
        let h = e.len();
        let mut y: Vec<f32> = head
            .w
            .chunks_exact(h)
            .zip(&head.b)
            .map(|(row, b)| {
                // Sixteen partial sums, so that the compiler vectorizes the loop.
                let mut lanes = [0f32; 16];
                for (wc, xc) in row.chunks_exact(16).zip(e.chunks_exact(16)) {
                    for ((l, w), x) in lanes.iter_mut().zip(wc).zip(xc) {
                        *l += w * x;
                    }
                }
                lanes.iter().sum::<f32>() + b
            })
            .collect();
        normalize(&mut y);
        *e = y;
    }

    /// `x[i] = word[ids[i]] + pos[i] + type[0]` (positions restart at 0 for each text).
    pub fn embed_tokens(&self, ids: &[u32], x: &mut [f32]) {
        let h = self.cfg.hidden;
        debug_assert!(h.is_multiple_of(Q4_BLOCK));
        for (p, (&id, row)) in ids.iter().zip(x.chunks_exact_mut(h)).enumerate() {
            self.word.dequant_row(id as usize, row);
            ops::add_rows(row, &self.pos[p * h..(p + 1) * h], &self.typ);
        }
    }
}

/// Reusable buffers for one worker.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    mid: Vec<f32>,
    q: QuantActs,
    attn: AttnScratch,
}

/// Embeds a batch of token sequences (each with specials, each ≤ max positions).
/// Returns one L2-normalized vector per sequence.
pub(crate) fn forward(
    w: &Weights,
    k: Kernel,
    seqs: &[&[u32]],
    ws: &mut Workspace,
) -> Vec<Vec<f32>> {
    let cfg = &w.cfg;
    let (h, ff) = (cfg.hidden, cfg.ffn);
    let t: usize = seqs.iter().map(|s| s.len()).sum();
    if t == 0 {
        return seqs.iter().map(|_| vec![0.0; h]).collect();
    }
    ws.x.resize(t * h, 0.0);
    ws.qkv.resize(t * 3 * h, 0.0);
    ws.ctx.resize(t * h, 0.0);
    ws.tmp.resize(t * h, 0.0);
    ws.mid.resize(t * ff, 0.0);

    let mut off = 0;
    for s in seqs {
        w.embed_tokens(s, &mut ws.x[off * h..(off + s.len()) * h]);
        off += s.len();
    }
    k.add_layer_norm(&mut ws.x, None, &w.emb_ln_w, &w.emb_ln_b, h, cfg.eps);

    for l in &w.layers {
        k.quantize(&mut ws.q, &ws.x, t, h);
        k.gemm(&ws.q, &l.qkv, &mut ws.qkv);
        let mut s0 = 0;
        for s in seqs {
            k.attention(
                &ws.qkv,
                &mut ws.ctx,
                s0,
                s0 + s.len(),
                h,
                cfg.heads,
                &mut ws.attn,
            );
            s0 += s.len();
        }
        k.quantize(&mut ws.q, &ws.ctx, t, h);
        k.gemm(&ws.q, &l.attn_out, &mut ws.tmp);
        k.add_layer_norm(&mut ws.x, Some(&ws.tmp), &l.ln1_w, &l.ln1_b, h, cfg.eps);

        k.quantize(&mut ws.q, &ws.x, t, h);
        k.gemm(&ws.q, &l.ffn_in, &mut ws.mid);
        k.gelu(&mut ws.mid[..t * ff]);
        k.quantize(&mut ws.q, &ws.mid, t, ff);
        k.gemm(&ws.q, &l.ffn_out, &mut ws.tmp);
        k.add_layer_norm(&mut ws.x, Some(&ws.tmp), &l.ln2_w, &l.ln2_b, h, cfg.eps);
    }

    let mut out = Vec::with_capacity(seqs.len());
    let mut s0 = 0;
    for s in seqs {
        let mut e = vec![0f32; h];
        for r in ws.x[s0 * h..(s0 + s.len()) * h].chunks_exact(h) {
            for (a, &b) in e.iter_mut().zip(r) {
                *a += b;
            }
        }
        s0 += s.len();
        normalize(&mut e);
        w.apply_head(&mut e);
        out.push(e);
    }
    out
}

/// L2-normalizes in place (a zero vector stays zero).
pub(crate) fn normalize(e: &mut [f32]) {
    let n = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    for v in e {
        *v /= n;
    }
}
