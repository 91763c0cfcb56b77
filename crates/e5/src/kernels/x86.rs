//! x86-64 SIMD kernels (AVX2, AVX-VNNI, AVX-512 VNNI), selected at run time.
//!
//! Weight panels are `[k / 4][16 rows][4 bytes]` (see `quant.rs`): for each group of 4 inputs
//! a tile loads the panel's 64 bytes once and broadcasts each token's 4 activation bytes, so
//! every lane of an accumulator is one output row and no horizontal sums are needed.

use std::arch::x86_64::*;

use super::super::ops::{self, AttnScratch};
use super::super::quant::{PANEL, PackedMatrix, QuantActs};

pub(super) fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2")
}

pub(super) fn has_avxvnni() -> bool {
    has_avx2() && is_x86_feature_detected!("avxvnni")
}

pub(super) fn has_avx512vnni() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
}

/// Checks the shapes every kernel relies on (so the unsafe code below stays in bounds).
fn check(a: &QuantActs, w: &PackedMatrix, out: &[f32]) {
    assert!(a.k == w.k && w.n.is_multiple_of(PANEL) && w.k.is_multiple_of(4));
    assert!(a.data.len() >= a.t * a.k && out.len() >= a.t * w.n);
    assert!(w.data.len() == w.n * w.k && w.scale.len() == w.n);
    assert!(w.wsum.len() == w.n && w.bias.len() == w.n);
    assert!(a.scale.len() >= a.t && a.zero.len() >= a.t);
}

/// Tokens per AVX2 tile (8 accumulators, 4 weight registers, 2 partial sums, broadcast, ones).
const MR_AVX2: usize = 4;
/// Input groups whose `vpmaddubsw` pair sums are added in i16 before `vpmaddwd`: with
/// activations ≤ 127 and weights ≤ 63, two groups stay ≤ 2 · 2 · 127 · 63 = 32004 < 32767.
const PAIR_AVX2: usize = 2;
/// Tokens per AVX-VNNI tile.
const MR_VNNI: usize = 6;
/// Tokens per AVX-512 tile.
const MR_512: usize = 8;

/// Where a tile reads and writes.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    a: &'a QuantActs,
    w: &'a PackedMatrix,
    out: *mut f32,
    groups: usize,
}

/// Every token tile of panel `$p` through `$tile::<MR, PF>`: full tiles of `$mr` tokens, then
/// the rest (one of `$rest`). The panel's first tile also prefetches panel `$p + 1`, one cache
/// line per input group, so that the next panel's weights arrive while this one is computed:
/// a question's products read each weight once, and a model's weights (21 MB for e5-small's
/// 12 layers) do not stay in a 2-core share of cache between questions. Once only in the AVX2
/// kernel; measured on a Zen 5 (2026-12-08, `kernel_throughput_cold`, two runs each), the 48
/// products of a 17-token question took 2.67–2.95 ms → 1.67–1.81 with AVX-512 VNNI, and
/// 2.68–3.08 → 1.88–2.05 with AVX-VNNI, once they prefetched too.
macro_rules! panel_tiles {
    ($tile:ident, $mr:expr, $c:expr, $p:expr, $panels:expr, $t:expr, [$($rest:literal),*]) => {{
        let mut next = ($p + 1 < $panels).then(|| $p + 1);
        let mut t0 = 0;
        while t0 + $mr <= $t {
            match next.take() {
                Some(q) => $tile::<{ $mr }, true>($c, $p, t0, q),
                None => $tile::<{ $mr }, false>($c, $p, t0, 0),
            }
            t0 += $mr;
        }
        match ($t - t0, next) {
            $(
                ($rest, Some(q)) => $tile::<$rest, true>($c, $p, t0, q),
                ($rest, None) => $tile::<$rest, false>($c, $p, t0, 0),
            )*
            _ => {}
        }
    }};
}

// ------------------------------------------------------------------ AVX2

pub(super) fn gemm_avx2(a: &QuantActs, w: &PackedMatrix, out: &mut [f32]) {
    assert!(has_avx2());
    check(a, w, out);
    // SAFETY: AVX2 is present and `check` validated every shape the kernel indexes with.
    unsafe { gemm_avx2_impl(a, w, out) }
}

#[target_feature(enable = "avx2")]
unsafe fn gemm_avx2_impl(a: &QuantActs, w: &PackedMatrix, out: &mut [f32]) {
    let c = Ctx {
        a,
        w,
        out: out.as_mut_ptr(),
        groups: w.k / 4,
    };
    let panels = w.n / PANEL;
    for p in 0..panels {
        // SAFETY (all calls): t0 + MR <= a.t and p < n / 16, within the checked shapes;
        // prefetches are hints and never fault.
        unsafe { panel_tiles!(tile_avx2, MR_AVX2, c, p, panels, a.t, [1, 2, 3]) }
    }
}

#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile_avx2<const MR: usize, const PF: bool>(
    c: Ctx<'_>,
    p: usize,
    t0: usize,
    pf_panel: usize,
) {
    const P: usize = PAIR_AVX2;
    let k = c.w.k;
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_si256(); 2]; MR];
        let wp = c.w.data.as_ptr().add(p * c.groups * 64);
        let pf = c.w.data.as_ptr().wrapping_add(pf_panel * c.groups * 64);
        let ap = c.a.data.as_ptr().add(t0 * k);
        let full = c.groups / P * P;
        let mut g = 0;
        while g < full {
            if PF {
                for q in 0..P {
                    _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add((g + q) * 64));
                }
            }
            let mut wv = [[_mm256_setzero_si256(); 2]; P];
            for (q, wq) in wv.iter_mut().enumerate() {
                wq[0] = _mm256_loadu_si256(wp.add((g + q) * 64) as *const __m256i);
                wq[1] = _mm256_loadu_si256(wp.add((g + q) * 64 + 32) as *const __m256i);
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let mut s0 = _mm256_setzero_si256();
                let mut s1 = _mm256_setzero_si256();
                for (q, wq) in wv.iter().enumerate() {
                    let v = (ap.add(i * k + (g + q) * 4) as *const i32).read_unaligned();
                    let b = _mm256_set1_epi32(v);
                    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(b, wq[0]));
                    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(b, wq[1]));
                }
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(s0, ones));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(s1, ones));
            }
            g += P;
        }
        while g < c.groups {
            if PF {
                _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(g * 64));
            }
            let w0 = _mm256_loadu_si256(wp.add(g * 64) as *const __m256i);
            let w1 = _mm256_loadu_si256(wp.add(g * 64 + 32) as *const __m256i);
            for (i, acc) in acc.iter_mut().enumerate() {
                let v = (ap.add(i * k + g * 4) as *const i32).read_unaligned();
                let b = _mm256_set1_epi32(v);
                acc[0] =
                    _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_maddubs_epi16(b, w0), ones));
                acc[1] =
                    _mm256_add_epi32(acc[1], _mm256_madd_epi16(_mm256_maddubs_epi16(b, w1), ones));
            }
            g += 1;
        }
        epilogue_256::<MR>(&acc, c, p, t0);
    }
}

/// `out = (acc - z·wsum) · (s·d) + bias` for a 16-row × MR tile (same ops as scalar).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn epilogue_256<const MR: usize>(acc: &[[__m256i; 2]; MR], c: Ctx<'_>, p: usize, t0: usize) {
    let col = p * PANEL;
    let n = c.w.n;
    unsafe {
        for h in 0..2 {
            let off = col + 8 * h;
            let ws = _mm256_loadu_si256(c.w.wsum.as_ptr().add(off) as *const __m256i);
            let d = _mm256_loadu_ps(c.w.scale.as_ptr().add(off));
            let b = _mm256_loadu_ps(c.w.bias.as_ptr().add(off));
            for (i, acc) in acc.iter().enumerate() {
                let t = t0 + i;
                let zv = _mm256_set1_epi32(*c.a.zero.as_ptr().add(t));
                let sv = _mm256_set1_ps(*c.a.scale.as_ptr().add(t));
                let v = _mm256_sub_epi32(acc[h], _mm256_mullo_epi32(zv, ws));
                let y = _mm256_add_ps(
                    _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_mul_ps(sv, d)),
                    b,
                );
                _mm256_storeu_ps(c.out.add(t * n + off), y);
            }
        }
    }
}

// ------------------------------------------------------------------ AVX-VNNI

pub(super) fn gemm_avxvnni(a: &QuantActs, w: &PackedMatrix, out: &mut [f32]) {
    assert!(has_avxvnni());
    check(a, w, out);
    // SAFETY: AVX2 + AVX-VNNI are present and `check` validated the shapes.
    unsafe { gemm_avxvnni_impl(a, w, out) }
}

#[target_feature(enable = "avx2,avxvnni")]
unsafe fn gemm_avxvnni_impl(a: &QuantActs, w: &PackedMatrix, out: &mut [f32]) {
    let c = Ctx {
        a,
        w,
        out: out.as_mut_ptr(),
        groups: w.k / 4,
    };
    let panels = w.n / PANEL;
    for p in 0..panels {
        // SAFETY: as in the AVX2 kernel.
        unsafe { panel_tiles!(tile_avxvnni, MR_VNNI, c, p, panels, a.t, [1, 2, 3, 4, 5]) }
    }
}

#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn tile_avxvnni<const MR: usize, const PF: bool>(
    c: Ctx<'_>,
    p: usize,
    t0: usize,
    pf_panel: usize,
) {
    let k = c.w.k;
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); 2]; MR];
        let wp = c.w.data.as_ptr().add(p * c.groups * 64);
        let pf = c.w.data.as_ptr().wrapping_add(pf_panel * c.groups * 64);
        let ap = c.a.data.as_ptr().add(t0 * k);
        for g in 0..c.groups {
            if PF {
                _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(g * 64));
            }
            let w0 = _mm256_loadu_si256(wp.add(g * 64) as *const __m256i);
            let w1 = _mm256_loadu_si256(wp.add(g * 64 + 32) as *const __m256i);
            for (i, acc) in acc.iter_mut().enumerate() {
                let v = (ap.add(i * k + g * 4) as *const i32).read_unaligned();
                let b = _mm256_set1_epi32(v);
                acc[0] = _mm256_dpbusd_avx_epi32(acc[0], b, w0);
                acc[1] = _mm256_dpbusd_avx_epi32(acc[1], b, w1);
            }
        }
        epilogue_256::<MR>(&acc, c, p, t0);
    }
}

// ------------------------------------------------------------------ AVX-512 VNNI

pub(super) fn gemm_avx512vnni(a: &QuantActs, w: &PackedMatrix, out: &mut [f32]) {
    assert!(has_avx512vnni());
    check(a, w, out);
    // SAFETY: AVX-512 F/BW/VNNI are present and `check` validated the shapes.
    unsafe { gemm_avx512vnni_impl(a, w, out) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn gemm_avx512vnni_impl(a: &QuantActs, w: &PackedMatrix, out: &mut [f32]) {
    let c = Ctx {
        a,
        w,
        out: out.as_mut_ptr(),
        groups: w.k / 4,
    };
    let panels = w.n / PANEL;
    for p in 0..panels {
        // SAFETY: as in the AVX2 kernel.
        unsafe { panel_tiles!(tile_512, MR_512, c, p, panels, a.t, [1, 2, 3, 4, 5, 6, 7]) }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn tile_512<const MR: usize, const PF: bool>(
    c: Ctx<'_>,
    p: usize,
    t0: usize,
    pf_panel: usize,
) {
    let k = c.w.k;
    let col = p * PANEL;
    let n = c.w.n;
    unsafe {
        let mut acc = [_mm512_setzero_si512(); MR];
        let wp = c.w.data.as_ptr().add(p * c.groups * 64);
        let pf = c.w.data.as_ptr().wrapping_add(pf_panel * c.groups * 64);
        let ap = c.a.data.as_ptr().add(t0 * k);
        for g in 0..c.groups {
            if PF {
                _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(g * 64));
            }
            let wv = _mm512_loadu_si512(wp.add(g * 64) as *const __m512i);
            for (i, acc) in acc.iter_mut().enumerate() {
                let v = (ap.add(i * k + g * 4) as *const i32).read_unaligned();
                *acc = _mm512_dpbusd_epi32(*acc, _mm512_set1_epi32(v), wv);
            }
        }
        let ws = _mm512_loadu_si512(c.w.wsum.as_ptr().add(col) as *const __m512i);
        let d = _mm512_loadu_ps(c.w.scale.as_ptr().add(col));
        let b = _mm512_loadu_ps(c.w.bias.as_ptr().add(col));
        for (i, acc) in acc.iter().enumerate() {
            let t = t0 + i;
            let zv = _mm512_set1_epi32(*c.a.zero.as_ptr().add(t));
            let sv = _mm512_set1_ps(*c.a.scale.as_ptr().add(t));
            let v = _mm512_sub_epi32(*acc, _mm512_mullo_epi32(zv, ws));
            let y = _mm512_add_ps(
                _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(sv, d)),
                b,
            );
            _mm512_storeu_ps(c.out.add(t * n + col), y);
        }
    }
}

// ------------------------------------------------------------------ element-wise (AVX2 builds)

/// Same lanes and the same reduction order as `quant::min_max`.
#[target_feature(enable = "avx2")]
fn min_max_avx2(x: &[f32]) -> (f32, f32) {
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    let mut lo = _mm256_set1_ps(f32::INFINITY);
    let mut hi = _mm256_set1_ps(f32::NEG_INFINITY);
    for c in chunks {
        // SAFETY: `c` holds 8 floats.
        let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
        lo = _mm256_min_ps(v, lo);
        hi = _mm256_max_ps(v, hi);
    }
    let mut lo8 = [0f32; 8];
    let mut hi8 = [0f32; 8];
    // SAFETY: both arrays hold 8 floats.
    unsafe {
        _mm256_storeu_ps(lo8.as_mut_ptr(), lo);
        _mm256_storeu_ps(hi8.as_mut_ptr(), hi);
    }
    let mut l = f32::INFINITY;
    let mut h = f32::NEG_INFINITY;
    for j in 0..8 {
        l = l.min(lo8[j]);
        h = h.max(hi8[j]);
    }
    for &v in rest {
        l = l.min(v);
        h = h.max(v);
    }
    (l, h)
}

/// `quant::quantize_one` on 32 values at once.
#[target_feature(enable = "avx2")]
fn quantize32(src: &[f32], dst: &mut [u8], inv: f32, z: f32) {
    assert!(src.len() >= 32 && dst.len() >= 32);
    let magic = _mm256_set1_ps(12_582_912.0);
    let invv = _mm256_set1_ps(inv);
    let zv = _mm256_set1_ps(z);
    let zero = _mm256_setzero_ps();
    let top = _mm256_set1_ps(super::super::quant::ACT_MAX);
    let one = |off: usize| {
        // SAFETY: off + 8 <= 32 <= src.len().
        let v = unsafe { _mm256_loadu_ps(src.as_ptr().add(off)) };
        let r = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(v, invv), magic), magic);
        let q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, zv), zero), top);
        _mm256_cvtps_epi32(q)
    };
    let (a, b, c, d) = (one(0), one(8), one(16), one(24));
    let packed = _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    // SAFETY: dst holds at least 32 bytes.
    unsafe { _mm256_storeu_si256(dst.as_mut_ptr() as *mut __m256i, ordered) };
}

#[target_feature(enable = "avx2")]
fn quantize_avx2(q: &mut QuantActs, x: &[f32], t: usize, k: usize) {
    use super::super::quant::quantize_one;
    q.quantize_rows(
        x,
        t,
        k,
        |r| min_max_avx2(r),
        |row, dst, inv, z| {
            let full = row.len() / 32 * 32;
            for (sc, dc) in row[..full]
                .chunks_exact(32)
                .zip(dst[..full].chunks_exact_mut(32))
            {
                quantize32(sc, dc, inv, z);
            }
            for (d, &v) in dst[full..].iter_mut().zip(&row[full..]) {
                *d = quantize_one(v, inv, z);
            }
        },
    )
}

/// Min and max on 16 lanes. Min and max are exact, and a NaN input is skipped in every
/// lane as in `quant::min_max` (the kept value is the second operand), so the pair is the
/// same whatever the lane count.
#[target_feature(enable = "avx512f")]
fn min_max_avx512(x: &[f32]) -> (f32, f32) {
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    let mut lo = _mm512_set1_ps(f32::INFINITY);
    let mut hi = _mm512_set1_ps(f32::NEG_INFINITY);
    for c in chunks {
        // SAFETY: `c` holds 16 floats.
        let v = unsafe { _mm512_loadu_ps(c.as_ptr()) };
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
    }
    let mut lo16 = [0f32; 16];
    let mut hi16 = [0f32; 16];
    // SAFETY: both arrays hold 16 floats.
    unsafe {
        _mm512_storeu_ps(lo16.as_mut_ptr(), lo);
        _mm512_storeu_ps(hi16.as_mut_ptr(), hi);
    }
    let mut l = f32::INFINITY;
    let mut h = f32::NEG_INFINITY;
    for j in 0..16 {
        l = l.min(lo16[j]);
        h = h.max(hi16[j]);
    }
    for &v in rest {
        l = l.min(v);
        h = h.max(v);
    }
    (l, h)
}

/// `quant::quantize_one` on 16 values at once (the same operations in the same order).
#[target_feature(enable = "avx512f")]
fn quantize16(src: &[f32], dst: &mut [u8], inv: f32, z: f32) {
    assert!(src.len() >= 16 && dst.len() >= 16);
    let magic = _mm512_set1_ps(12_582_912.0);
    // SAFETY: src holds at least 16 floats.
    let v = unsafe { _mm512_loadu_ps(src.as_ptr()) };
    let r = _mm512_sub_ps(
        _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(inv)), magic),
        magic,
    );
    // max(NaN, 0) is 0: the second operand.
    let q = _mm512_max_ps(_mm512_add_ps(r, _mm512_set1_ps(z)), _mm512_setzero_ps());
    let q = _mm512_min_ps(q, _mm512_set1_ps(super::super::quant::ACT_MAX));
    let bytes = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q));
    // SAFETY: dst holds at least 16 bytes.
    unsafe { _mm_storeu_si128(dst.as_mut_ptr() as *mut __m128i, bytes) };
}

#[target_feature(enable = "avx512f")]
fn quantize_avx512(q: &mut QuantActs, x: &[f32], t: usize, k: usize) {
    use super::super::quant::quantize_one;
    q.quantize_rows(
        x,
        t,
        k,
        |r| min_max_avx512(r),
        |row, dst, inv, z| {
            let full = row.len() / 16 * 16;
            for (sc, dc) in row[..full]
                .chunks_exact(16)
                .zip(dst[..full].chunks_exact_mut(16))
            {
                quantize16(sc, dc, inv, z);
            }
            for (d, &v) in dst[full..].iter_mut().zip(&row[full..]) {
                *d = quantize_one(v, inv, z);
            }
        },
    )
}

pub(super) fn quantize_wide(q: &mut QuantActs, x: &[f32], t: usize, k: usize) {
    assert!(has_avx512vnni());
    // SAFETY: AVX-512F is present.
    unsafe { quantize_avx512(q, x, t, k) }
}

pub(super) fn quantize(q: &mut QuantActs, x: &[f32], t: usize, k: usize) {
    assert!(has_avx2());
    // SAFETY: AVX2 is present.
    unsafe { quantize_avx2(q, x, t, k) }
}

#[target_feature(enable = "avx2")]
fn add_layer_norm_avx2(x: &mut [f32], y: Option<&[f32]>, w: &[f32], b: &[f32], h: usize, eps: f32) {
    ops::add_layer_norm(x, y, w, b, h, eps)
}

pub(super) fn add_layer_norm(
    x: &mut [f32],
    y: Option<&[f32]>,
    w: &[f32],
    b: &[f32],
    h: usize,
    eps: f32,
) {
    assert!(has_avx2());
    // SAFETY: AVX2 is present.
    unsafe { add_layer_norm_avx2(x, y, w, b, h, eps) }
}

#[target_feature(enable = "avx2")]
fn gelu_avx2(x: &mut [f32]) {
    ops::gelu(x)
}

pub(super) fn gelu(x: &mut [f32]) {
    assert!(has_avx2());
    // SAFETY: AVX2 is present.
    unsafe { gelu_avx2(x) }
}

// The same element-wise code on 16 lanes, for the AVX-512 kernel: no contraction or
// reassociation either, so the bits are those of the scalar and AVX2 instantiations.
#[target_feature(enable = "avx512f")]
fn gelu_avx512(x: &mut [f32]) {
    ops::gelu(x)
}

pub(super) fn gelu_wide(x: &mut [f32]) {
    assert!(has_avx512vnni());
    // SAFETY: AVX-512F is present.
    unsafe { gelu_avx512(x) }
}

#[target_feature(enable = "avx512f")]
fn add_layer_norm_avx512(
    x: &mut [f32],
    y: Option<&[f32]>,
    w: &[f32],
    b: &[f32],
    h: usize,
    eps: f32,
) {
    ops::add_layer_norm(x, y, w, b, h, eps)
}

pub(super) fn add_layer_norm_wide(
    x: &mut [f32],
    y: Option<&[f32]>,
    w: &[f32],
    b: &[f32],
    h: usize,
    eps: f32,
) {
    assert!(has_avx512vnni());
    // SAFETY: AVX-512F is present.
    unsafe { add_layer_norm_avx512(x, y, w, b, h, eps) }
}

/// `ops::exp_fast` on 8 lanes (same operations, same order).
#[target_feature(enable = "avx2")]
fn exp8(x: __m256) -> __m256 {
    let x = _mm256_max_ps(
        _mm256_min_ps(x, _mm256_set1_ps(88.0)),
        _mm256_set1_ps(-87.0),
    );
    let magic = _mm256_set1_ps(12_582_912.0);
    let n = _mm256_sub_ps(
        _mm256_add_ps(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
            magic,
        ),
        magic,
    );
    let r = _mm256_sub_ps(
        _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693_359_4))),
        _mm256_mul_ps(n, _mm256_set1_ps(-2.121_944_4e-4)),
    );
    let z = _mm256_mul_ps(r, r);
    let c = |v: f32| _mm256_set1_ps(v);
    let mut p = _mm256_add_ps(_mm256_mul_ps(c(1.987_569_1e-4), r), c(1.398_199_9e-3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), c(8.333_452e-3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), c(4.166_579_6e-2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), c(1.666_666_5e-1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), c(5e-1));
    let y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, z), r), c(1.0));
    let e = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)),
        23,
    );
    _mm256_mul_ps(y, _mm256_castsi256_ps(e))
}

/// `kt[d][j] = k[j][d]` for `j < lp` (zero past `len`), `d < 8 * NC`, by 8×8 blocks.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn transpose_keys<const NC: usize>(
    k: *const f32,
    stride: usize,
    len: usize,
    kt: &mut [f32],
    lp: usize,
) {
    assert!(kt.len() >= 8 * NC * lp && lp >= len && lp.is_multiple_of(8));
    unsafe {
        for j0 in (0..lp).step_by(8) {
            for c in 0..NC {
                let mut r = [_mm256_setzero_ps(); 8];
                for (i, ri) in r.iter_mut().enumerate() {
                    if j0 + i < len {
                        *ri = _mm256_loadu_ps(k.add((j0 + i) * stride + 8 * c));
                    }
                }
                let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                let t4 = _mm256_unpacklo_ps(r[4], r[5]);
                let t5 = _mm256_unpackhi_ps(r[4], r[5]);
                let t6 = _mm256_unpacklo_ps(r[6], r[7]);
                let t7 = _mm256_unpackhi_ps(r[6], r[7]);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let cols = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                for (dd, col) in cols.iter().enumerate() {
                    _mm256_storeu_ps(kt.as_mut_ptr().add((8 * c + dd) * lp + j0), *col);
                }
            }
        }
    }
}

/// Each score row `i < inv.len()` of `s` (rows `lp` apart, `len` scores each) becomes
/// `exp(s - max)` in place, zero past `len` within its last block of 8, and `inv[i]` one over
/// its sum: the sum on 8 lanes (lane `j % 8`), added in lane order, as `ops::attention` does.
///
/// # Safety
/// `s` holds `inv.len()` rows of `lp >= len.div_ceil(8) * 8` floats.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn softmax_rows(s: *mut f32, lp: usize, len: usize, inv: &mut [f32]) {
    unsafe {
        for (i, inv_i) in inv.iter_mut().enumerate() {
            let row = s.add(i * lp);
            let mut mx = f32::NEG_INFINITY;
            for j in 0..len {
                let sc = *row.add(j);
                mx = if sc > mx { sc } else { mx };
            }
            let mxv = _mm256_set1_ps(mx);
            let mut sum8 = _mm256_setzero_ps();
            for b in 0..len.div_ceil(8) {
                let p = row.add(b * 8);
                let mut e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p), mxv));
                let valid = len - b * 8;
                if valid < 8 {
                    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                    let keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid as i32), idx);
                    e = _mm256_and_ps(e, _mm256_castsi256_ps(keep));
                }
                _mm256_storeu_ps(p, e);
                sum8 = _mm256_add_ps(sum8, e);
            }
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), sum8);
            let mut sum = 0f32;
            for l in lanes {
                sum += l;
            }
            *inv_i = 1.0 / sum;
        }
    }
}

/// Attention's two products on one register width, and the function that runs a text's
/// heads through them (`$attn`, for heads of 16, 32 or 64 dims; others take `ops::attention`):
/// - `$score::<QI, KB>`: `s[i][j] = Σ_d qs[i][d] · kt[d][j]` for queries `i0..i0+QI` against
///   key blocks `jb0..jb0+KB` of `$w` keys, summed over `d` in order as the scalar code does;
/// - `$ctx::<QI, NR>`: `ctx[i] = (Σ_j p[i][j] · v[j]) · inv[i]`, `j` in order, `NR` registers
///   a head.
///
/// Between them, [`softmax_rows`] on 8 lanes whatever the width, so every width gives the bits
/// of `ops::attention`.
macro_rules! attention_width {
    (
        $feature:literal, $w:literal, $attn:ident, $simd:ident, $score:ident, $ctx:ident,
        ctx tiles of $cq:literal then [$($rest:literal),*],
        $zero:ident, $load:ident, $store:ident, $set1:ident, $add:ident, $mul:ident
    ) => {
        #[target_feature(enable = $feature)]
        #[inline]
        unsafe fn $score<const QI: usize, const KB: usize>(
            qs: *const f32,
            hd: usize,
            kt: *const f32,
            lp: usize,
            i0: usize,
            jb0: usize,
            s: *mut f32,
        ) {
            unsafe {
                let mut acc = [[$zero(); KB]; QI];
                for d in 0..hd {
                    let mut kv = [$zero(); KB];
                    for (b, k) in kv.iter_mut().enumerate() {
                        *k = $load(kt.add(d * lp + (jb0 + b) * $w));
                    }
                    for (q, aq) in acc.iter_mut().enumerate() {
                        let qv = $set1(*qs.add((i0 + q) * hd + d));
                        for (a, k) in aq.iter_mut().zip(&kv) {
                            *a = $add(*a, $mul(qv, *k));
                        }
                    }
                }
                for (q, aq) in acc.iter().enumerate() {
                    for (b, a) in aq.iter().enumerate() {
                        $store(s.add((i0 + q) * lp + (jb0 + b) * $w), *a);
                    }
                }
            }
        }

        #[target_feature(enable = $feature)]
        #[inline]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $ctx<const QI: usize, const NR: usize>(
            p: *const f32,
            lp: usize,
            v: *const f32,
            w3: usize,
            len: usize,
            i0: usize,
            inv: &[f32],
            out: *mut f32,
            h: usize,
        ) {
            unsafe {
                let mut acc = [[$zero(); NR]; QI];
                for j in 0..len {
                    let mut vv = [$zero(); NR];
                    for (c, x) in vv.iter_mut().enumerate() {
                        *x = $load(v.add(j * w3 + $w * c));
                    }
                    for (q, aq) in acc.iter_mut().enumerate() {
                        let pv = $set1(*p.add((i0 + q) * lp + j));
                        for (a, x) in aq.iter_mut().zip(&vv) {
                            *a = $add(*a, $mul(pv, *x));
                        }
                    }
                }
                for (q, aq) in acc.iter().enumerate() {
                    let iv = $set1(inv[i0 + q]);
                    for (c, a) in aq.iter().enumerate() {
                        $store(out.add((i0 + q) * h + $w * c), $mul(*a, iv));
                    }
                }
            }
        }

        /// Attention of one text, heads of `8 * NC` dims (`NR` registers of `$w`); the bits
        /// of `ops::attention`.
        #[target_feature(enable = $feature)]
        #[allow(clippy::too_many_arguments)]
        fn $simd<const NC: usize, const NR: usize>(
            qkv: &[f32],
            ctx: &mut [f32],
            s0: usize,
            s1: usize,
            h: usize,
            heads: usize,
            scratch: &mut AttnScratch,
        ) {
            let hd = 8 * NC;
            let len = s1 - s0;
            let lp = len.div_ceil($w) * $w;
            let nb = lp / $w;
            let w3 = 3 * h;
            assert!(NR * $w == hd && heads * hd == h && s0 < s1);
            assert!(s1 <= qkv.len() / w3 && s1 * h <= ctx.len());
            let scale = 1.0 / (hd as f32).sqrt();
            let (kt, sbuf, qs, inv) = scratch.simd_buffers(hd * lp, len * lp, len * hd, len);
            for head in 0..heads {
                let (qo, ko, vo) = (head * hd, h + head * hd, 2 * h + head * hd);
                for j in 0..len {
                    let row = (s0 + j) * w3 + qo;
                    for (q, &v) in qs[j * hd..(j + 1) * hd].iter_mut().zip(&qkv[row..row + hd]) {
                        *q = v * scale;
                    }
                }
                // SAFETY: rows s0 + j < s1 (zeros past `len`), dims ko + d < ko + hd <= 3h.
                unsafe { transpose_keys::<NC>(qkv.as_ptr().add(s0 * w3 + ko), w3, len, kt, lp) };
                // SAFETY (this block): every tile stays within rows < len and key blocks < nb,
                // so all reads/writes are inside kt (hd·lp), sbuf (len·lp), qs (len·hd), and
                // the asserted qkv / ctx rows.
                unsafe {
                    let (qp, kp, sp) = (qs.as_ptr(), kt.as_ptr(), sbuf.as_mut_ptr());
                    let mut i = 0;
                    while i < len {
                        let qi = (len - i).min(4);
                        let mut jb = 0;
                        while jb < nb {
                            let kb = (nb - jb).min(2);
                            match (qi, kb) {
                                (4, 2) => $score::<4, 2>(qp, hd, kp, lp, i, jb, sp),
                                (4, _) => $score::<4, 1>(qp, hd, kp, lp, i, jb, sp),
                                (3, 2) => $score::<3, 2>(qp, hd, kp, lp, i, jb, sp),
                                (3, _) => $score::<3, 1>(qp, hd, kp, lp, i, jb, sp),
                                (2, 2) => $score::<2, 2>(qp, hd, kp, lp, i, jb, sp),
                                (2, _) => $score::<2, 1>(qp, hd, kp, lp, i, jb, sp),
                                (_, 2) => $score::<1, 2>(qp, hd, kp, lp, i, jb, sp),
                                _ => $score::<1, 1>(qp, hd, kp, lp, i, jb, sp),
                            }
                            jb += kb;
                        }
                        i += qi;
                    }
                    softmax_rows(sp, lp, len, inv);
                    let vp = qkv.as_ptr().add(s0 * w3 + vo);
                    let op = ctx.as_mut_ptr().add(s0 * h + qo);
                    let mut i = 0;
                    while i + $cq <= len {
                        $ctx::<$cq, NR>(sp, lp, vp, w3, len, i, inv, op, h);
                        i += $cq;
                    }
                    match len - i {
                        $($rest => $ctx::<$rest, NR>(sp, lp, vp, w3, len, i, inv, op, h),)*
                        _ => {}
                    }
                }
            }
        }

        #[target_feature(enable = $feature)]
        fn $attn(
            qkv: &[f32],
            ctx: &mut [f32],
            s0: usize,
            s1: usize,
            h: usize,
            heads: usize,
            scratch: &mut AttnScratch,
        ) {
            if s0 >= s1 {
                return;
            }
            match h / heads {
                32 => $simd::<4, { 32 / $w }>(qkv, ctx, s0, s1, h, heads, scratch),
                64 => $simd::<8, { 64 / $w }>(qkv, ctx, s0, s1, h, heads, scratch),
                16 => $simd::<2, { 16 / $w }>(qkv, ctx, s0, s1, h, heads, scratch),
                _ => ops::attention(qkv, ctx, s0, s1, h, heads, scratch),
            }
        }
    };
}

attention_width!(
    "avx2", 8, attention_avx2, attention_simd, score_tile, ctx_tile,
    ctx tiles of 2 then [1],
    _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_add_ps, _mm256_mul_ps
);

attention_width!(
    "avx512f", 16, attention_avx512, attention_simd_512, score_tile_512, ctx_tile_512,
    ctx tiles of 4 then [3, 2, 1],
    _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_add_ps, _mm512_mul_ps
);

pub(super) fn attention(
    qkv: &[f32],
    ctx: &mut [f32],
    s0: usize,
    s1: usize,
    h: usize,
    heads: usize,
    scratch: &mut AttnScratch,
) {
    assert!(has_avx2());
    // SAFETY: AVX2 is present.
    unsafe { attention_avx2(qkv, ctx, s0, s1, h, heads, scratch) }
}

pub(super) fn attention_wide(
    qkv: &[f32],
    ctx: &mut [f32],
    s0: usize,
    s1: usize,
    h: usize,
    heads: usize,
    scratch: &mut AttnScratch,
) {
    assert!(has_avx512vnni());
    // SAFETY: AVX-512F is present.
    unsafe { attention_avx512(qkv, ctx, s0, s1, h, heads, scratch) }
}
