//! The plain-f32 forward pass: weights dequantized from Q4_0 to f32, no activation
//! quantization, no SIMD, exact erf and std `exp`. It is the yardstick for the fast path.

use super::format::{Config, Q4Matrix, RawLayer};
use super::model::Weights;

/// `erf(x)` to ~1e-15: `2/√π · e^{-x²} · Σ 2ⁿ x^{2n+1} / (1·3·…·(2n+1))` (all terms positive).
pub(crate) fn erf(x: f64) -> f64 {
    let ax = x.abs();
    if ax == 0.0 {
        return 0.0;
    }
    if ax >= 6.0 || ax.is_nan() {
        return if ax.is_nan() { x } else { x.signum() };
    }
    let x2 = ax * ax;
    let mut term = ax;
    let mut sum = ax;
    let mut n = 0u32;
    while n < 1000 {
        n += 1;
        term *= 2.0 * x2 / (2 * n + 1) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    let r = (std::f64::consts::FRAC_2_SQRT_PI * (-x2).exp() * sum).min(1.0);
    if x < 0.0 { -r } else { r }
}

fn gelu(x: f32) -> f32 {
    let x = x as f64;
    (0.5 * x * (1.0 + erf(x * std::f64::consts::FRAC_1_SQRT_2))) as f32
}

/// Dot product with 8 independent f32 accumulators.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `out[t][r] = x[t] · W[r] + b[r]`, dequantizing one weight row at a time.
fn linear(x: &[f32], t: usize, m: &Q4Matrix, b: &[f32], out: &mut [f32], row: &mut Vec<f32>) {
    let (n, k) = (m.rows, m.cols);
    row.resize(k, 0.0);
    for r in 0..n {
        m.dequant_row(r, row);
        for i in 0..t {
            out[i * n + r] = dot(&x[i * k..(i + 1) * k], row) + b[r];
        }
    }
}

fn layer_norm(x: &mut [f32], w: &[f32], b: &[f32], h: usize, eps: f32) {
    for row in x.chunks_exact_mut(h) {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / h as f64;
        let var = row
            .iter()
            .map(|&v| (v as f64 - mean) * (v as f64 - mean))
            .sum::<f64>()
            / h as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for ((v, &ww), &bb) in row.iter_mut().zip(w).zip(b) {
            *v = ((*v as f64 - mean) * inv) as f32 * ww + bb;
        }
    }
}

fn attention(q: &[f32], k: &[f32], v: &[f32], t: usize, cfg: &Config, ctx: &mut [f32]) {
    let h = cfg.hidden;
    let hd = h / cfg.heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut p = vec![0f32; t];
    for head in 0..cfg.heads {
        let o = head * hd;
        for i in 0..t {
            let qi = &q[i * h + o..i * h + o + hd];
            let mut mx = f32::NEG_INFINITY;
            for (j, pj) in p.iter_mut().enumerate() {
                *pj = dot(qi, &k[j * h + o..j * h + o + hd]) * scale;
                mx = mx.max(*pj);
            }
            let mut sum = 0f32;
            for pj in p.iter_mut() {
                *pj = (*pj - mx).exp();
                sum += *pj;
            }
            let c = &mut ctx[i * h + o..i * h + o + hd];
            c.fill(0.0);
            for (j, &pj) in p.iter().enumerate() {
                let w = pj / sum;
                for (cc, &vv) in c.iter_mut().zip(&v[j * h + o..j * h + o + hd]) {
                    *cc += w * vv;
                }
            }
        }
    }
}

fn layer(x: &mut [f32], t: usize, l: &RawLayer, cfg: &Config, row: &mut Vec<f32>) {
    let h = cfg.hidden;
    let mut q = vec![0f32; t * h];
    let mut k = vec![0f32; t * h];
    let mut v = vec![0f32; t * h];
    linear(x, t, &l.q, &l.q_b, &mut q, row);
    linear(x, t, &l.k, &l.k_b, &mut k, row);
    linear(x, t, &l.v, &l.v_b, &mut v, row);
    let mut ctx = vec![0f32; t * h];
    attention(&q, &k, &v, t, cfg, &mut ctx);
    let mut ao = vec![0f32; t * h];
    linear(&ctx, t, &l.attn_out, &l.attn_out_b, &mut ao, row);
    for (a, b) in x.iter_mut().zip(&ao) {
        *a += b;
    }
    layer_norm(x, &l.attn_ln_w, &l.attn_ln_b, h, cfg.eps);
    let mut mid = vec![0f32; t * cfg.ffn];
    linear(x, t, &l.ffn_in, &l.ffn_in_b, &mut mid, row);
    for m in mid.iter_mut() {
        *m = gelu(*m);
    }
    let mut fo = vec![0f32; t * h];
    linear(&mid, t, &l.ffn_out, &l.ffn_out_b, &mut fo, row);
    for (a, b) in x.iter_mut().zip(&fo) {
        *a += b;
    }
    layer_norm(x, &l.out_ln_w, &l.out_ln_b, h, cfg.eps);
}

/// Mean-pooled, L2-normalized embedding of one token sequence (with specials).
pub(crate) fn embed_ids(w: &Weights, ids: &[u32]) -> Vec<f32> {
    let cfg = &w.cfg;
    let h = cfg.hidden;
    let t = ids.len();
    let mut x = vec![0f32; t * h];
    w.embed_tokens(ids, &mut x);
    layer_norm(&mut x, &w.emb_ln_w, &w.emb_ln_b, h, cfg.eps);
    let mut row = Vec::new();
    for l in &w.raw_layers {
        layer(&mut x, t, l, cfg, &mut row);
    }
    let mut e = vec![0f64; h];
    for r in x.chunks_exact(h) {
        for (a, &b) in e.iter_mut().zip(r) {
            *a += b as f64;
        }
    }
    let norm = e.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    let mut e: Vec<f32> = e.iter().map(|v| (v / norm) as f32).collect();
    w.apply_head(&mut e);
    e
}

#[cfg(test)]
mod tests {
    #[test]
    fn erf_values() {
        let cases = [
            (0.0, 0.0),
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.5, 0.999_999_256_901_627_7),
            (-1.5, -0.966_105_146_475_310_7),
        ];
        for (x, want) in cases {
            assert!((super::erf(x) - want).abs() < 1e-14, "erf({x})");
        }
    }
}
