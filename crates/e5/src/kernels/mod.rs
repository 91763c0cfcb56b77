//! Compute kernels, chosen at run time.
//!
//! The matrix product (`u8` activations × 7-bit weights, see [`super::quant`]) has four
//! implementations: portable scalar, AVX2 (`vpmaddubsw` + `vpmaddwd`), AVX-VNNI (`vpdpbusd`
//! on ymm) and AVX-512 VNNI (`vpdpbusd` on zmm). All compute the same exact integer sums and
//! the same f32 epilogue, so they return identical bits. The element-wise operations and
//! attention ([`super::ops`]) are plain Rust, compiled baseline and with AVX2 enabled (attention
//! and activation quantizing also hand-written on 8 lanes); with the AVX-512 kernel, GELU and
//! layer norm are compiled once more with AVX-512F, and quantizing and attention's two
//! products run on 16 lanes, again bit-identical (`simd_ops_match_scalar`).
//!
//! [`Kernel::detect`] picks the best kernel the CPU has and checks it against the scalar one on
//! a small product before trusting it; `E5_KERNEL=scalar|avx2|avxvnni|avx512vnni` overrides.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::ops::{self, AttnScratch};
use super::quant::{PANEL, PackedMatrix, QuantActs};

/// A matrix-product implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kernel {
    /// Portable Rust, no SIMD.
    Scalar,
    /// AVX2 (`vpmaddubsw`/`vpmaddwd`, 16 rows × 4 tokens per tile).
    Avx2,
    /// AVX-VNNI (`vpdpbusd` on 256-bit registers).
    AvxVnni,
    /// AVX-512 VNNI (`vpdpbusd` on 512-bit registers).
    Avx512Vnni,
}

impl Kernel {
    /// Short name (`scalar`, `avx2`, `avxvnni`, `avx512vnni`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::AvxVnni => "avxvnni",
            Kernel::Avx512Vnni => "avx512vnni",
        }
    }

    /// Parses a [`Kernel::name`].
    pub fn from_name(s: &str) -> Option<Kernel> {
        [
            Kernel::Scalar,
            Kernel::Avx2,
            Kernel::AvxVnni,
            Kernel::Avx512Vnni,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => x86::has_avxvnni(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => x86::has_avx512vnni(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Kernels this CPU can run, slowest first.
    pub fn available() -> Vec<Kernel> {
        [
            Kernel::Scalar,
            Kernel::Avx2,
            Kernel::AvxVnni,
            Kernel::Avx512Vnni,
        ]
        .into_iter()
        .filter(|k| k.is_available())
        .collect()
    }

    /// The kernel to use: `E5_KERNEL` if set and available, else the fastest available one
    /// that agrees with the scalar kernel on a self-test product.
    pub fn detect() -> Kernel {
        if let Ok(name) = std::env::var("E5_KERNEL")
            && let Some(k) = Kernel::from_name(name.trim())
            && k.is_available()
        {
            return k;
        }
        let mut avail = Kernel::available();
        avail.reverse();
        avail
            .into_iter()
            .find(|&k| k == Kernel::Scalar || self_test(k))
            .unwrap_or(Kernel::Scalar)
    }

    fn simd_ops(self) -> bool {
        self != Kernel::Scalar && {
            #[cfg(target_arch = "x86_64")]
            {
                x86::has_avx2()
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                false
            }
        }
    }

    /// Whether the element-wise ops run on 16 lanes (the AVX-512 kernel, where present).
    fn wide_ops(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            self == Kernel::Avx512Vnni && x86::has_avx512vnni()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// `out[t][n] = dequantized (a · wᵀ) + bias`, `out` row-major `a.t × w.n`.
    pub(crate) fn gemm(self, a: &QuantActs, w: &PackedMatrix, out: &mut [f32]) {
        assert!(a.k == w.k && w.n.is_multiple_of(PANEL) && w.k.is_multiple_of(4));
        assert!(a.data.len() >= a.t * a.k && out.len() >= a.t * w.n);
        assert!(w.data.len() == w.n * w.k && w.scale.len() == w.n);
        assert!(w.wsum.len() == w.n && w.bias.len() == w.n);
        assert!(a.scale.len() >= a.t && a.zero.len() >= a.t);
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 if x86::has_avx2() => x86::gemm_avx2(a, w, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni if x86::has_avxvnni() => x86::gemm_avxvnni(a, w, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni if x86::has_avx512vnni() => x86::gemm_avx512vnni(a, w, out),
            _ => scalar::gemm(a, w, out),
        }
    }

    /// Quantizes activations (vectorized when possible).
    pub(crate) fn quantize(self, q: &mut QuantActs, x: &[f32], t: usize, k: usize) {
        #[cfg(target_arch = "x86_64")]
        if self.wide_ops() {
            return x86::quantize_wide(q, x, t, k);
        }
        #[cfg(target_arch = "x86_64")]
        if self.simd_ops() {
            return x86::quantize(q, x, t, k);
        }
        q.quantize(x, t, k)
    }

    /// `x = LayerNorm(x + y)`.
    pub(crate) fn add_layer_norm(
        self,
        x: &mut [f32],
        y: Option<&[f32]>,
        w: &[f32],
        b: &[f32],
        h: usize,
        eps: f32,
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.wide_ops() {
            return x86::add_layer_norm_wide(x, y, w, b, h, eps);
        }
        #[cfg(target_arch = "x86_64")]
        if self.simd_ops() {
            return x86::add_layer_norm(x, y, w, b, h, eps);
        }
        ops::add_layer_norm(x, y, w, b, h, eps)
    }

    /// GELU in place.
    pub(crate) fn gelu(self, x: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.wide_ops() {
            return x86::gelu_wide(x);
        }
        #[cfg(target_arch = "x86_64")]
        if self.simd_ops() {
            return x86::gelu(x);
        }
        ops::gelu(x)
    }

    /// Self-attention of one text (rows `s0..s1`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn attention(
        self,
        qkv: &[f32],
        ctx: &mut [f32],
        s0: usize,
        s1: usize,
        h: usize,
        heads: usize,
        scratch: &mut AttnScratch,
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.wide_ops() {
            return x86::attention_wide(qkv, ctx, s0, s1, h, heads, scratch);
        }
        #[cfg(target_arch = "x86_64")]
        if self.simd_ops() {
            return x86::attention(qkv, ctx, s0, s1, h, heads, scratch);
        }
        ops::attention(qkv, ctx, s0, s1, h, heads, scratch)
    }
}

/// Deterministic pseudo-random generator for self-tests and tests.
pub(crate) struct Lcg(pub u64);

impl Lcg {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() as f32 / (1u64 << 31) as f32) - 1.0
    }
}

/// A random packed matrix and activations for kernel checks.
pub(crate) fn random_problem(t: usize, n: usize, k: usize, seed: u64) -> (QuantActs, PackedMatrix) {
    let mut rng = Lcg(seed);
    let q: Vec<i8> = (0..n * k)
        .map(|_| ((rng.next_u32() % 127) as i32 - 63) as i8)
        .collect();
    let wsum = (0..n)
        .map(|r| q[r * k..(r + 1) * k].iter().map(|&v| v as i32).sum())
        .collect();
    let scale = (0..n).map(|_| 0.01 + rng.next_f32().abs() * 0.02).collect();
    let bias = (0..n).map(|_| rng.next_f32()).collect();
    let w = PackedMatrix::pack(n, k, &q, scale, wsum, bias);
    // Activations with an outlier column, like real hidden states.
    let x: Vec<f32> = (0..t * k)
        .map(|i| {
            let v = rng.next_f32() * 2.0;
            if i % k == 7 { v * 20.0 } else { v }
        })
        .collect();
    let mut a = QuantActs::default();
    a.quantize(&x, t, k);
    (a, w)
}

fn self_test(k: Kernel) -> bool {
    // Token counts that exercise every tile remainder.
    for (t, seed) in [(1usize, 1u64), (7, 2), (13, 3)] {
        let (a, w) = random_problem(t, 32, 64, seed);
        let mut want = vec![0f32; t * w.n];
        let mut got = vec![0f32; t * w.n];
        Kernel::Scalar.gemm(&a, &w, &mut want);
        k.gemm(&a, &w, &mut got);
        if want != got {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_available_kernel_matches_scalar() {
        let kernels = Kernel::available();
        eprintln!(
            "kernels available here: {:?}",
            kernels.iter().map(|k| k.name()).collect::<Vec<_>>()
        );
        for &(t, n, k) in &[
            (1, 16, 4),
            (3, 32, 64),
            (5, 48, 384),
            (17, 1152, 384),
            (40, 384, 1536),
            (9, 64, 1536),
        ] {
            let (a, w) = random_problem(t, n, k, (t * 31 + n + k) as u64);
            let mut want = vec![0f32; t * n];
            Kernel::Scalar.gemm(&a, &w, &mut want);
            // The scalar kernel against a direct dequantized sum.
            for ti in 0..t {
                for r in 0..n {
                    let mut acc = 0i64;
                    for c in 0..k {
                        let g = c / 4;
                        let p = r / PANEL;
                        let wv = w.data[((p * (k / 4) + g) * PANEL + r % PANEL) * 4 + c % 4];
                        acc += wv as i64 * (a.data[ti * k + c] as i64 - a.zero[ti] as i64);
                    }
                    let direct =
                        acc as f64 * a.scale[ti] as f64 * w.scale[r] as f64 + w.bias[r] as f64;
                    let got = want[ti * n + r] as f64;
                    assert!(
                        (direct - got).abs() <= 1e-5 * (1.0 + direct.abs()),
                        "scalar t={ti} r={r}: {got} vs {direct}"
                    );
                }
            }
            for &kern in &kernels {
                let mut got = vec![0f32; t * n];
                kern.gemm(&a, &w, &mut got);
                assert_eq!(
                    got,
                    want,
                    "{} differs from scalar at t={t} n={n} k={k}",
                    kern.name()
                );
            }
        }
    }

    #[test]
    fn simd_ops_match_scalar() {
        // (hidden, heads, segment lengths): head widths 16, 32 (the model's), 64 and 24 (generic),
        // texts shorter and longer than one block of 8 and of 16 keys.
        for (h, heads, segs) in [
            (64usize, 4usize, vec![5usize, 6, 16, 35]),
            (96, 3, vec![17, 9, 1, 30, 16, 47, 8]),
            (72, 3, vec![7, 4]),
            (128, 2, vec![3, 21, 33]),
        ] {
            let t: usize = segs.iter().sum();
            let mut rng = Lcg(99 + h as u64);
            let x0: Vec<f32> = (0..t * h).map(|_| rng.next_f32() * 3.0).collect();
            let y: Vec<f32> = (0..t * h).map(|_| rng.next_f32()).collect();
            let w: Vec<f32> = (0..h).map(|_| 1.0 + rng.next_f32() * 0.1).collect();
            let b: Vec<f32> = (0..h).map(|_| rng.next_f32() * 0.1).collect();
            let qkv: Vec<f32> = (0..t * 3 * h).map(|_| rng.next_f32() * 2.0).collect();
            let mut odd: Vec<f32> = (0..3 * 70).map(|_| rng.next_f32() * 5.0).collect();
            // A NaN quantizes to 0 and is left out of its row's range; zeros of both signs
            // (the first row's, among its values and as its smallest) change nothing.
            odd[3] = f32::NAN;
            odd[70 + 17] = f32::NAN;
            odd[69] = f32::NAN;
            odd[5] = -0.0;
            odd[21] = 0.0;
            for v in &mut odd[140..210] {
                *v = v.abs();
            }
            odd[150] = -0.0;
            let run = |k: Kernel| {
                let mut x = x0.clone();
                k.add_layer_norm(&mut x, Some(&y), &w, &b, h, 1e-12);
                let mut g = x0.clone();
                k.gelu(&mut g);
                let mut ctx = vec![0f32; t * h];
                let mut s = AttnScratch::default();
                let mut s0 = 0;
                for &l in &segs {
                    k.attention(&qkv, &mut ctx, s0, s0 + l, h, heads, &mut s);
                    s0 += l;
                }
                let mut q = QuantActs::default();
                k.quantize(&mut q, &x0, t, h);
                let mut q2 = QuantActs::default();
                k.quantize(&mut q2, &odd, 3, 70);
                (
                    x, g, ctx, q.data, q.scale, q.zero, q2.data, q2.scale, q2.zero,
                )
            };
            let want = run(Kernel::Scalar);
            for k in Kernel::available() {
                let got = run(k);
                assert!(
                    got == want,
                    "{} element-wise ops differ from scalar (h={h})",
                    k.name()
                );
            }
        }
    }

    #[test]
    fn detect_passes_self_test() {
        let k = Kernel::detect();
        assert!(k.is_available());
        assert!(self_test(k));
    }
}

#[cfg(test)]
mod perf {
    use super::*;

    /// `cargo test --release -- --ignored --nocapture kernel_throughput`
    #[test]
    #[ignore]
    fn kernel_throughput() {
        for &(t, n, k) in &[
            (17, 1152, 384),
            (17, 1536, 384),
            (17, 384, 1536),
            (320, 1536, 384),
            (320, 384, 1536),
        ] {
            let (a, w) = random_problem(t, n, k, 5);
            let mut out = vec![0f32; t * n];
            for kern in Kernel::available() {
                let reps = if kern == Kernel::Scalar { 3 } else { 50 };
                kern.gemm(&a, &w, &mut out);
                let st = std::time::Instant::now();
                for _ in 0..reps {
                    kern.gemm(&a, &w, &mut out);
                }
                let s = st.elapsed().as_secs_f64() / reps as f64;
                eprintln!(
                    "{:>10} t={t:4} n={n:5} k={k:5}: {:8.1} us  {:6.1} GMAC/s",
                    kern.name(),
                    s * 1e6,
                    (t * n * k) as f64 / s / 1e9
                );
            }
        }
    }
}

#[cfg(test)]
mod perf_attention {
    use super::*;

    /// Self-attention of one text of e5-small's shape (384 wide, 12 heads) at a few lengths,
    /// each kernel in turn: `cargo test --release -p descoberta-e5 -- --ignored --nocapture
    /// attention_throughput`.
    #[test]
    #[ignore]
    fn attention_throughput() {
        let (h, heads) = (384, 12);
        for len in [16usize, 48, 128, 320] {
            let mut rng = Lcg(len as u64);
            let qkv: Vec<f32> = (0..len * 3 * h).map(|_| rng.next_f32()).collect();
            let mut ctx = vec![0f32; len * h];
            let mut s = AttnScratch::default();
            for kern in Kernel::available() {
                let reps = if kern == Kernel::Scalar { 5 } else { 200 };
                kern.attention(&qkv, &mut ctx, 0, len, h, heads, &mut s);
                let mut best = f64::INFINITY;
                for _ in 0..reps {
                    let st = std::time::Instant::now();
                    kern.attention(&qkv, &mut ctx, 0, len, h, heads, &mut s);
                    best = best.min(st.elapsed().as_secs_f64());
                }
                eprintln!(
                    "{:>10} len={len:4}: best {:8.1} us",
                    kern.name(),
                    best * 1e6
                );
            }
        }
    }
}

#[cfg(test)]
mod perf_cold {
    use super::*;

    /// Streams 12 layers' worth of weights (21 MB) per pass, like a real query.
    #[test]
    #[ignore]
    fn kernel_throughput_cold() {
        let t = 17;
        let shapes = [(1152usize, 384usize), (384, 384), (1536, 384), (384, 1536)];
        let mut probs = Vec::new();
        for l in 0..12 {
            for (i, &(n, k)) in shapes.iter().enumerate() {
                probs.push(random_problem(t, n, k, (l * 4 + i) as u64));
            }
        }
        let macs: usize = probs.iter().map(|(a, w)| a.t * w.n * w.k).sum();
        let mut out = vec![0f32; t * 1536];
        for kern in Kernel::available()
            .into_iter()
            .filter(|&k| k != Kernel::Scalar)
        {
            let mut best = f64::INFINITY;
            for _ in 0..30 {
                let st = std::time::Instant::now();
                for (a, w) in &probs {
                    kern.gemm(a, w, &mut out);
                }
                best = best.min(st.elapsed().as_secs_f64());
            }
            eprintln!(
                "{}: 48 GEMMs (T={t}) best {:.3} ms = {:.1} GMAC/s",
                kern.name(),
                best * 1e3,
                macs as f64 / best / 1e9
            );
        }
    }
}
