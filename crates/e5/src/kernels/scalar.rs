//! Portable matrix product: the definition the SIMD kernels must match bit for bit.
//!
//! Each weight panel is unpacked to row-major i16 once, and activations are widened to i16
//! once per call, so the inner loops are plain contiguous i16 dot products that the
//! compiler vectorizes on any target (`pmaddwd` on baseline x86-64, `smlal` on NEON).

use super::super::quant::{PANEL, PackedMatrix, QuantActs};

/// Shared epilogue: integer sum → f32 with scales and bias.
#[inline(always)]
pub(crate) fn epilogue(acc: i32, zero: i32, wsum: i32, s: f32, d: f32, bias: f32) -> f32 {
    let v = acc.wrapping_sub(zero.wrapping_mul(wsum));
    (v as f32) * (s * d) + bias
}

/// Exact integer dot product of two i16 slices (products fit i32; sums of ≤ 16384 terms of
/// |127 · 63| fit too), with 8 lanes so it vectorizes.
#[inline(always)]
fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    let mut acc = [0i32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] as i32 * y[j] as i32;
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += *x as i32 * *y as i32;
    }
    s
}

pub(super) fn gemm(a: &QuantActs, w: &PackedMatrix, out: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    let groups = k / 4;
    let acts: Vec<i16> = a.data[..a.t * k].iter().map(|&v| v as i16).collect();
    let mut rows = vec![0i16; PANEL * k];
    for p in 0..n / PANEL {
        let panel = &w.data[p * groups * PANEL * 4..(p + 1) * groups * PANEL * 4];
        for (g, wg) in panel.chunks_exact(PANEL * 4).enumerate() {
            for r in 0..PANEL {
                for j in 0..4 {
                    rows[r * k + g * 4 + j] = wg[r * 4 + j] as i16;
                }
            }
        }
        let col = p * PANEL;
        for t in 0..a.t {
            let row = &acts[t * k..(t + 1) * k];
            let o = &mut out[t * n + col..t * n + col + PANEL];
            for r in 0..PANEL {
                let acc = dot_i16(&rows[r * k..(r + 1) * k], row);
                o[r] = epilogue(
                    acc,
                    a.zero[t],
                    w.wsum[col + r],
                    a.scale[t],
                    w.scale[col + r],
                    w.bias[col + r],
                );
            }
        }
    }
}
