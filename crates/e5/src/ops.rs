//! Element-wise and attention operations in plain f32 Rust.
//!
//! Written so LLVM can vectorize them (fixed-lane reductions, branch-free math); the kernel
//! dispatcher instantiates them for the baseline target, under
//! `#[target_feature(enable = "avx2")]`, and under `avx512f` for the AVX-512 kernel. No
//! floating-point contraction or reassociation is allowed in Rust, so every instantiation
//! returns identical bits.

use super::quant::round_even;

/// `e^x` for f32 (Cephes-style range reduction + degree-6 polynomial, ~2 ulp).
#[inline(always)]
pub(crate) fn exp_fast(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = round_even(x * std::f32::consts::LOG2_E);
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let z = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5e-1;
    let y = p * z + r + 1.0;
    let bits = ((n as i32 + 127) as u32) << 23;
    y * f32::from_bits(bits)
}

/// `erf(x)` for f32: odd/even rational approximation on [-4, 4] (|error| < 5e-7).
#[inline(always)]
pub(crate) fn erf_fast(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.954_600_1e-3;
    p = p * x2 + -1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5f32;
    q = q * x2 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329e-3;
    q = q * x2 + -1.426_473_9e-2;
    p / q
}

/// Exact-erf GELU, in place.
#[inline(always)]
pub(crate) fn gelu(x: &mut [f32]) {
    for v in x {
        let u = *v;
        *v = 0.5 * u * (1.0 + erf_fast(u * std::f32::consts::FRAC_1_SQRT_2));
    }
}

#[inline(always)]
fn sum16(x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..16 {
            acc[j] += c[j];
        }
    }
    let mut s = 0f32;
    for a in acc {
        s += a;
    }
    for &v in rest {
        s += v;
    }
    s
}

#[inline(always)]
fn sq_dev16(x: &[f32], mean: f32) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..16 {
            let d = c[j] - mean;
            acc[j] += d * d;
        }
    }
    let mut s = 0f32;
    for a in acc {
        s += a;
    }
    for &v in rest {
        s += (v - mean) * (v - mean);
    }
    s
}

/// `x = LayerNorm(x + y)` row-wise over rows of `h` (`y` optional).
#[inline(always)]
pub(crate) fn add_layer_norm(
    x: &mut [f32],
    y: Option<&[f32]>,
    w: &[f32],
    b: &[f32],
    h: usize,
    eps: f32,
) {
    let rows = x.len() / h;
    for r in 0..rows {
        let row = &mut x[r * h..(r + 1) * h];
        if let Some(y) = y {
            for (a, &c) in row.iter_mut().zip(&y[r * h..(r + 1) * h]) {
                *a += c;
            }
        }
        let mean = sum16(row) / h as f32;
        let var = sq_dev16(row, mean) / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((a, &ww), &bb) in row.iter_mut().zip(w).zip(b) {
            *a = (*a - mean) * inv * ww + bb;
        }
    }
}

/// Scratch for [`attention`].
#[derive(Debug, Default, Clone)]
pub(crate) struct AttnScratch {
    kt: Vec<f32>,
    scores: Vec<f32>,
    acc: Vec<f32>,
    qs: Vec<f32>,
}

impl AttnScratch {
    /// Buffers for the SIMD attention: K^T, scores, scaled queries, inverse sums.
    pub fn simd_buffers(
        &mut self,
        kt: usize,
        scores: usize,
        qs: usize,
        inv: usize,
    ) -> (&mut [f32], &mut [f32], &mut [f32], &mut [f32]) {
        self.kt.resize(kt, 0.0);
        self.scores.resize(scores, 0.0);
        self.qs.resize(qs, 0.0);
        self.acc.resize(inv, 0.0);
        (
            &mut self.kt[..kt],
            &mut self.scores[..scores],
            &mut self.qs[..qs],
            &mut self.acc[..inv],
        )
    }
}

/// Multi-head self-attention over one text whose token rows are `qkv[s0..s1]`
/// (`[q | k | v]`, each `h` wide); writes `ctx[s0..s1]` (`h` wide).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    qkv: &[f32],
    ctx: &mut [f32],
    s0: usize,
    s1: usize,
    h: usize,
    heads: usize,
    scratch: &mut AttnScratch,
) {
    let hd = h / heads;
    let len = s1 - s0;
    let w3 = 3 * h;
    let scale = 1.0 / (hd as f32).sqrt();
    scratch.kt.resize(hd * len, 0.0);
    scratch.scores.resize(len, 0.0);
    scratch.acc.resize(hd, 0.0);
    for head in 0..heads {
        let qo = head * hd;
        let ko = h + head * hd;
        let vo = 2 * h + head * hd;
        // K^T for this head: kt[d][j].
        for j in 0..len {
            let krow = &qkv[(s0 + j) * w3 + ko..(s0 + j) * w3 + ko + hd];
            for (d, &kv) in krow.iter().enumerate() {
                scratch.kt[d * len + j] = kv;
            }
        }
        for i in s0..s1 {
            let qrow = &qkv[i * w3 + qo..i * w3 + qo + hd];
            let scores = &mut scratch.scores[..len];
            scores.fill(0.0);
            for (d, &qv) in qrow.iter().enumerate() {
                let qd = qv * scale;
                let kd = &scratch.kt[d * len..(d + 1) * len];
                for (s, &kv) in scores.iter_mut().zip(kd) {
                    *s += qd * kv;
                }
            }
            let mut mx = f32::NEG_INFINITY;
            for &s in scores.iter() {
                mx = if s > mx { s } else { mx };
            }
            // 8 partial sums (lane j % 8), added in lane order: the AVX2 version matches it.
            let mut lanes = [0f32; 8];
            for (j, s) in scores.iter_mut().enumerate() {
                *s = exp_fast(*s - mx);
                lanes[j % 8] += *s;
            }
            let mut sum = 0f32;
            for l in lanes {
                sum += l;
            }
            let inv = 1.0 / sum;
            let acc = &mut scratch.acc[..hd];
            acc.fill(0.0);
            for (j, &p) in scores.iter().enumerate() {
                let vrow = &qkv[(s0 + j) * w3 + vo..(s0 + j) * w3 + vo + hd];
                for (a, &v) in acc.iter_mut().zip(vrow) {
                    *a += p * v;
                }
            }
            let out = &mut ctx[i * h + qo..i * h + qo + hd];
            for (o, &a) in out.iter_mut().zip(acc.iter()) {
                *o = a * inv;
            }
        }
    }
}

/// Embedding rows for `ids`: dequantized word row + position row + token-type-0 row.
#[inline(always)]
pub(crate) fn add_rows(dst: &mut [f32], pos: &[f32], typ: &[f32]) {
    for ((d, &p), &t) in dst.iter_mut().zip(pos).zip(typ) {
        *d += p + t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let a = exp_fast(x);
            let b = x.exp();
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 4e-7, "relative error {worst}");
    }

    #[test]
    fn erf_matches_reference() {
        let mut worst = 0f64;
        let mut x = -6.0f64;
        while x < 6.0 {
            let a = erf_fast(x as f32) as f64;
            worst = worst.max((a - super::super::reference::erf(x)).abs());
            x += 0.001;
        }
        assert!(worst < 6e-7, "abs error {worst}");
    }
}
