//! Quantized operands of the matrix products.
//!
//! Weights: every Q4_0 matrix from the file is dequantized and re-quantized per output row
//! to 7-bit signed integers (`w ≈ d_r · q`, `q ∈ [-63, 63]`), packed in panels of 16 rows
//! and groups of 4 columns so one 64-byte load feeds 16 rows × 4 inputs
//! (`vpmaddubsw` on AVX2, `vpdpbusd` on VNNI).
//!
//! Activations: each token row is quantized to unsigned 7 bits with its own scale and zero
//! point (`x ≈ s_t · (a - z_t)`, `a ∈ [0, 127]`). With 7-bit weights, `vpmaddubsw`'s pairwise
//! i16 sums stay ≤ 2 · 127 · 63 = 16002, so two of them can be added in i16 before widening
//! (see the AVX2 kernel) without saturation. Every kernel therefore computes the same exact
//! integer dot product and all kernels give bit-identical results:
//!
//! `y[t][r] = (Σ_k q[r][k] · a[t][k] - z_t · Σ_k q[r][k]) · (s_t · d_r) + bias[r]`.

use super::format::Q4Matrix;

/// Rows per packed panel.
pub(crate) const PANEL: usize = 16;
/// Largest weight magnitude.
const WMAX: f32 = 63.0;
/// Largest activation code.
pub(crate) const ACT_MAX: f32 = 127.0;

/// One weight row to 7 bits: returns its scale and the sum of its codes.
fn quantize_row(row: &[f32], q: &mut [i8]) -> (f32, i32) {
    let amax = row.iter().fold(0f32, |a, &x| a.max(x.abs()));
    let d = if amax > 0.0 { amax / WMAX } else { 1.0 };
    let inv = 1.0 / d;
    let mut s = 0i32;
    for (dst, &x) in q.iter_mut().zip(row) {
        let v = (x * inv).round().clamp(-WMAX, WMAX) as i8;
        *dst = v;
        s += v as i32;
    }
    (d, s)
}

/// A weight matrix `[n, k]` re-quantized to 7-bit rows, panel-packed.
#[derive(Debug, Clone)]
pub(crate) struct PackedMatrix {
    /// Output rows (a multiple of [`PANEL`]).
    pub n: usize,
    /// Inputs (a multiple of 4).
    pub k: usize,
    /// `[n / 16][k / 4][16][4]` signed weights.
    pub data: Vec<i8>,
    /// Per-row scale `d_r`.
    pub scale: Vec<f32>,
    /// Per-row sum of the quantized weights.
    pub wsum: Vec<i32>,
    /// Per-row bias.
    pub bias: Vec<f32>,
}

impl PackedMatrix {
    /// Quantizes stacked Q4 matrices (same column count) into one packed matrix.
    pub fn from_q4(parts: &[(&Q4Matrix, &[f32])]) -> PackedMatrix {
        let k = parts[0].0.cols;
        let n: usize = parts.iter().map(|(m, _)| m.rows).sum();
        let mut rows_f = vec![0f32; k];
        let mut q = vec![0i8; n * k];
        let mut scale = Vec::with_capacity(n);
        let mut wsum = Vec::with_capacity(n);
        let mut bias = Vec::with_capacity(n);
        let mut r = 0;
        for (m, b) in parts {
            for i in 0..m.rows {
                m.dequant_row(i, &mut rows_f);
                let (d, s) = quantize_row(&rows_f, &mut q[r * k..(r + 1) * k]);
                scale.push(d);
                wsum.push(s);
                bias.push(b[i]);
                r += 1;
            }
        }
        Self::pack(n, k, &q, scale, wsum, bias)
    }

    /// Quantizes a row-major `[k, n]` f32 matrix used as `x · W` (output `j` reads column
    /// `j`), with its bias.
    pub fn from_columns(w: &[f32], k: usize, n: usize, bias: &[f32]) -> PackedMatrix {
        assert!(w.len() == k * n && bias.len() == n);
        let mut q = vec![0i8; n * k];
        let mut col = vec![0f32; k];
        let mut scale = Vec::with_capacity(n);
        let mut wsum = Vec::with_capacity(n);
        for j in 0..n {
            for (c, row) in col.iter_mut().zip(w.chunks_exact(n)) {
                *c = row[j];
            }
            let (d, s) = quantize_row(&col, &mut q[j * k..(j + 1) * k]);
            scale.push(d);
            wsum.push(s);
        }
        Self::pack(n, k, &q, scale, wsum, bias.to_vec())
    }

    /// Packs row-major `[n, k]` 7-bit weights (used by tests for random matrices too).
    pub fn pack(
        n: usize,
        k: usize,
        q: &[i8],
        scale: Vec<f32>,
        wsum: Vec<i32>,
        bias: Vec<f32>,
    ) -> PackedMatrix {
        assert!(n.is_multiple_of(PANEL) && k.is_multiple_of(4) && q.len() == n * k);
        assert!(
            q.iter().all(|&v| (-63..=63).contains(&v)),
            "weights must be 7-bit"
        );
        let mut data = vec![0i8; n * k];
        let groups = k / 4;
        for p in 0..n / PANEL {
            for g in 0..groups {
                for r in 0..PANEL {
                    for j in 0..4 {
                        data[((p * groups + g) * PANEL + r) * 4 + j] =
                            q[(p * PANEL + r) * k + g * 4 + j];
                    }
                }
            }
        }
        PackedMatrix {
            n,
            k,
            data,
            scale,
            wsum,
            bias,
        }
    }
}

/// Token rows quantized to u8 with per-row scale and zero point.
#[derive(Debug, Default, Clone)]
pub(crate) struct QuantActs {
    pub t: usize,
    pub k: usize,
    pub data: Vec<u8>,
    pub scale: Vec<f32>,
    pub zero: Vec<i32>,
}

/// Round to nearest, ties to even, for |x| < 2^22 (plain f32 arithmetic that vectorizes).
#[inline(always)]
pub(crate) fn round_even(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    (x + MAGIC) - MAGIC
}

impl QuantActs {
    /// Quantizes `x` (`t` rows of `k`) into `self`, reusing its buffers (portable code; the
    /// SIMD versions in `kernels` give the same bytes).
    #[inline(always)]
    pub fn quantize(&mut self, x: &[f32], t: usize, k: usize) {
        self.quantize_rows(x, t, k, min_max, |row, dst, inv, z| {
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = quantize_one(v, inv, z);
            }
        })
    }

    /// Quantizes `x` row by row: `extremes` gives a row's min and max, `codes` writes its
    /// codes given the inverse scale and the zero point.
    #[inline(always)]
    pub(crate) fn quantize_rows(
        &mut self,
        x: &[f32],
        t: usize,
        k: usize,
        extremes: impl Fn(&[f32]) -> (f32, f32),
        codes: impl Fn(&[f32], &mut [u8], f32, f32),
    ) {
        self.t = t;
        self.k = k;
        self.data.resize(t * k, 0);
        self.scale.resize(t, 0.0);
        self.zero.resize(t, 0);
        for (i, (row, dst)) in x[..t * k]
            .chunks_exact(k)
            .zip(self.data.chunks_exact_mut(k))
            .enumerate()
        {
            let (lo, hi) = extremes(row);
            let (s, inv, z) = act_params(lo, hi);
            codes(row, dst, inv, z);
            self.scale[i] = s;
            self.zero[i] = z as i32;
        }
    }
}

/// Scale, its inverse and the zero point for a row with extremes `lo`, `hi`.
#[inline(always)]
pub(crate) fn act_params(lo: f32, hi: f32) -> (f32, f32, f32) {
    let lo = lo.min(0.0);
    let hi = hi.max(0.0);
    let range = hi - lo;
    let s = if range > 0.0 { range / ACT_MAX } else { 1.0 };
    let inv = 1.0 / s;
    let z = round_even(-lo * inv).clamp(0.0, ACT_MAX);
    (s, inv, z)
}

/// One activation code: `clamp(round(v / s) + z, 0, 127)` (NaN → 0).
#[inline(always)]
pub(crate) fn quantize_one(v: f32, inv: f32, z: f32) -> u8 {
    let q = round_even(v * inv) + z;
    let q = if q > 0.0 { q } else { 0.0 };
    let q = if q < ACT_MAX { q } else { ACT_MAX };
    q as u8
}

/// Min and max of a slice, with 8 independent lanes so it vectorizes.
#[inline(always)]
pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; 8];
    let mut hi = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..8 {
            lo[j] = if c[j] < lo[j] { c[j] } else { lo[j] };
            hi[j] = if c[j] > hi[j] { c[j] } else { hi[j] };
        }
    }
    let mut l = f32::INFINITY;
    let mut h = f32::NEG_INFINITY;
    for j in 0..8 {
        l = l.min(lo[j]);
        h = h.max(hi[j]);
    }
    for &v in rest {
        l = l.min(v);
        h = h.max(v);
    }
    (l, h)
}
