//! The exact nearest datasets without reading every vector in full.
//!
//! A search needs the `k` datasets most similar to its question (the fusion rescales over
//! them, and every other dataset's semantic share is 0). Reading all 20,000 half-precision
//! rows for that was a third of a search's CPU at 1M columns under 16 clients (`perf`,
//! 2026-12-06). Here each row also has an 8-bit copy, one byte a component, laid out by
//! blocks of [`BLOCK`] components so that a question in the catalog's language reads only
//! its blocks, contiguously. A search:
//!
//! 1. quantizes the query per block to 7 bits (the integer products are then the same on
//!    every kernel: scalar, AVX2, AVX-512 VNNI);
//! 2. scores every allowed row from its codes, with a bound on the error each block's
//!    rounding can make (Cauchy–Schwarz on both roundings, from norms kept per row and
//!    block);
//! 3. rescores exactly, from the half-precision rows, only the rows whose upper bound
//!    reaches the `k`-th best lower bound: a superset of the true top `k` (a few hundred
//!    of 20,000 on the 1M-column catalog), so the result is the same datasets with the same
//!    similarities, to the bit, as a full scan.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Components per block of codes.
pub const BLOCK: usize = 128;

/// Codes are stored as `code + 128` (unsigned), so the products are unsigned × signed, as
/// the VNNI instruction and `vpmaddubsw` take them.
const OFFSET: i32 = 128;

/// The query's 7-bit range: with unsigned codes up to 255, two adjacent products of
/// `vpmaddubsw` sum to at most 2 · 255 · 63 < 2¹⁵, so the AVX2 kernel never saturates.
const QUERY_MAX: f32 = 63.0;

/// Slack added to every bound: the f32 arithmetic of the estimates, of the norms and of the
/// exact products each round at the 10⁻⁶ level of a unit cosine.
const SLACK: f32 = 1e-4;

/// Rows interleaved in a block's codes (one 512-bit register of 32-bit sums).
pub const GROUP: usize = 16;

/// One block of components of every row.
struct Block {
    /// Components in the block (the last one may be narrower than [`BLOCK`]).
    width: usize,
    /// Groups of four components (`width` rounded up, padded with the code of 0).
    chunks: usize,
    /// The codes, by group of [`GROUP`] rows, then by chunk, then by row, four bytes each:
    /// row `r`'s components `4c..4c + 4` are at `((r / 16 · chunks + c) · 16 + r % 16) · 4`.
    /// Rows are padded to whole groups.
    codes: Vec<u8>,
    /// Per row: the scale of its codes (component ≈ scale · code).
    scale: Vec<f32>,
    /// Per row: the norm of what the codes miss (component − scale · code).
    residual: Vec<f32>,
    /// Per row: the norm of what the codes hold (scale · code).
    held: Vec<f32>,
}

/// The 8-bit copy of a vector index (`rows × dim`).
pub struct Codes {
    rows: usize,
    dim: usize,
    blocks: Vec<Block>,
}

impl Codes {
    /// Codes of `rows` vectors of `dim` components (row-major), as stored: the estimates are
    /// bounded against these values.
    pub fn new(vectors: &[f32], dim: usize) -> Codes {
        let rows = vectors.len().checked_div(dim).unwrap_or(0);
        let groups = rows.div_ceil(GROUP);
        let mut blocks = Vec::new();
        let mut start = 0;
        while start < dim {
            let width = BLOCK.min(dim - start);
            let chunks = width.div_ceil(4);
            let mut block = Block {
                width,
                chunks,
                codes: vec![OFFSET as u8; groups * chunks * GROUP * 4],
                scale: Vec::with_capacity(rows),
                residual: Vec::with_capacity(rows),
                held: Vec::with_capacity(rows),
            };
            for (r, row) in vectors.chunks_exact(dim).enumerate() {
                let part = &row[start..start + width];
                let max = part.iter().fold(0f32, |m, x| m.max(x.abs()));
                let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                let (mut missed, mut held) = (0f64, 0f64);
                for (j, x) in part.iter().enumerate() {
                    let q = (x / scale).round().clamp(-127.0, 127.0);
                    let at = ((r / GROUP * chunks + j / 4) * GROUP + r % GROUP) * 4 + j % 4;
                    block.codes[at] = (q as i32 + OFFSET) as u8;
                    let kept = scale * q;
                    held += f64::from(kept) * f64::from(kept);
                    missed += f64::from(x - kept) * f64::from(x - kept);
                }
                block.scale.push(scale);
                block.residual.push(missed.sqrt() as f32);
                block.held.push(held.sqrt() as f32);
            }
            blocks.push(block);
            start += width;
        }
        Codes { rows, dim, blocks }
    }

    /// Every row's estimated product with `query` and its error bound, over the blocks that
    /// hold its first `active` components (the rest of the query is zero).
    pub fn estimate(&self, query: &[f32], active: usize) -> (Vec<f32>, Vec<f32>) {
        let mut estimate = vec![0f32; self.rows];
        let mut bound = vec![SLACK; self.rows];
        if query.len() != self.dim {
            return (estimate, bound);
        }
        let kernel = Kernel::detect();
        let padded = self.rows.next_multiple_of(GROUP);
        let (mut high_dots, mut low_dots) = (vec![0i32; padded], vec![0i32; padded]);
        let mut start = 0;
        for block in &self.blocks {
            if start >= active {
                break;
            }
            let part = &query[start..start + block.width];
            start += block.width;
            let Some(q) = QueryBlock::new(part, block.chunks) else {
                continue;
            };
            kernel.dots(
                &block.codes,
                block.chunks,
                [&q.high, &q.low],
                [&mut high_dots, &mut low_dots],
            );
            let rows = estimate
                .iter_mut()
                .zip(bound.iter_mut())
                .zip(high_dots.iter().zip(&low_dots))
                .zip(block.scale.iter().zip(&block.residual).zip(&block.held));
            for (((estimate, bound), (high, low)), ((scale, residual), held)) in rows {
                let high = (high - q.high_correction) as f32;
                let low = (low - q.low_correction) as f32;
                *estimate += scale * (q.high_step * high + q.low_step * low);
                *bound += q.norm * residual + q.missed * held;
            }
        }
        (estimate, bound)
    }
}

/// One block of the query in two 7-bit parts, `high_step · high + low_step · low`: the
/// second quantizes what the first misses, so the pair misses about 1/16,000 of the
/// block's largest component (one 8-bit part missed 1/254 of it, and that error's bound
/// tripled the rows left to compute exactly on the 1M-column catalog).
struct QueryBlock {
    /// The parts, four components to a 32-bit word (little-endian), as the kernels
    /// broadcast them.
    high: Vec<u32>,
    low: Vec<u32>,
    high_step: f32,
    low_step: f32,
    /// `OFFSET · Σ part`: what the unsigned codes add to the products.
    high_correction: i32,
    low_correction: i32,
    /// The norm of the block, and of what the two parts miss.
    norm: f32,
    missed: f32,
}

impl QueryBlock {
    /// `None` when the block is zero (it adds nothing).
    fn new(part: &[f32], chunks: usize) -> Option<QueryBlock> {
        let max = part.iter().fold(0f32, |m, x| m.max(x.abs()));
        if max == 0.0 {
            return None;
        }
        let high_step = max / QUERY_MAX;
        // What the high part misses is within half its step: 2·QUERY_MAX low steps.
        let low_step = high_step / (2.0 * QUERY_MAX);
        let (mut high, mut low) = (vec![0i8; chunks * 4], vec![0i8; chunks * 4]);
        let (mut norm, mut missed) = (0f64, 0f64);
        for (j, &x) in part.iter().enumerate() {
            let h = (x / high_step).round().clamp(-QUERY_MAX, QUERY_MAX);
            let rest = x - high_step * h;
            let l = (rest / low_step).round().clamp(-QUERY_MAX, QUERY_MAX);
            high[j] = h as i8;
            low[j] = l as i8;
            let error = f64::from(rest) - f64::from(low_step) * f64::from(l);
            norm += f64::from(x) * f64::from(x);
            missed += error * error;
        }
        let correction = |v: &[i8]| OFFSET * v.iter().map(|&x| i32::from(x)).sum::<i32>();
        let words = |v: &[i8]| -> Vec<u32> {
            v.chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]))
                .collect()
        };
        Some(QueryBlock {
            high_correction: correction(&high),
            low_correction: correction(&low),
            high: words(&high),
            low: words(&low),
            high_step,
            low_step,
            norm: norm.sqrt() as f32,
            missed: missed.sqrt() as f32,
        })
    }
}

/// The rows worth an exact product: every allowed row whose estimate plus its bound reaches
/// the `k`-th highest estimate minus its bound among the allowed rows. When `k` covers all
/// allowed rows, all of them.
pub fn candidates(
    estimate: &[f32],
    bound: &[f32],
    allow: impl Fn(u32) -> bool,
    k: usize,
) -> Vec<u32> {
    let allowed: Vec<u32> = (0..estimate.len() as u32).filter(|&i| allow(i)).collect();
    if k == 0 {
        return Vec::new();
    }
    if k >= allowed.len() {
        return allowed;
    }
    // The k-th highest lower bound: a heap of the k highest so far, which nearly every row
    // leaves at one comparison (a selection over all of them was 4% of a search's CPU at
    // 1M columns).
    let low = |i: u32| Low(estimate[i as usize] - bound[i as usize]);
    let mut best: BinaryHeap<Reverse<Low>> =
        allowed[..k].iter().map(|&i| Reverse(low(i))).collect();
    for &i in &allowed[k..] {
        let l = low(i);
        if best.peek().is_some_and(|Reverse(min)| l > *min) {
            best.pop();
            best.push(Reverse(l));
        }
    }
    let Some(Reverse(Low(threshold))) = best.peek().copied() else {
        return allowed;
    };
    allowed
        .into_iter()
        .filter(|&i| estimate[i as usize] + bound[i as usize] >= threshold)
        .collect()
}

/// A lower bound, totally ordered.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Low(f32);

impl Eq for Low {}

impl PartialOrd for Low {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Low {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Which instructions compute the integer products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
}

impl Kernel {
    /// The fastest this CPU has.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                return Kernel::Avx512Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Scalar
    }

    /// Every kernel this CPU can run (for the tests).
    #[cfg(test)]
    pub fn available() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                kernels.push(Kernel::Avx2);
            }
            if Kernel::detect() == Kernel::Avx512Vnni {
                kernels.push(Kernel::Avx512Vnni);
            }
        }
        kernels
    }

    /// `out[p][r] = Σ code(r, j) · query[p][j]` for every row `r` of every group, for both
    /// parts `p` of the query (`chunks` words of four values within ±63 each; unsigned
    /// codes in [`Block::codes`]' layout): every kernel gives the same integers.
    pub fn dots(self, codes: &[u8], chunks: usize, query: [&[u32]; 2], out: [&mut [i32]; 2]) {
        let group_bytes = chunks * GROUP * 4;
        let groups = (out[0].len().min(out[1].len()) / GROUP)
            .min(codes.len().checked_div(group_bytes).unwrap_or(0));
        debug_assert!(query.iter().all(|q| q.len() == chunks));
        // The kernels read one chunk of codes per query word: never more than a group has.
        let query = query.map(|q| &q[..q.len().min(chunks)]);
        let [high, low] = out;
        let out = [&mut high[..groups * GROUP], &mut low[..groups * GROUP]];
        let codes = &codes[..groups * group_bytes];
        match self {
            Kernel::Scalar => dots_scalar(codes, chunks, query, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: detected on this CPU; `codes` holds `groups` whole groups of `chunks`
            // chunks, `out` `groups` × 16 values and each query part `chunks` words.
            Kernel::Avx2 => unsafe { dots_avx2(codes, chunks, query, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Kernel::Avx512Vnni => unsafe { dots_avx512vnni(codes, chunks, query, out) },
        }
    }
}

fn dots_scalar(codes: &[u8], chunks: usize, query: [&[u32]; 2], out: [&mut [i32]; 2]) {
    let [high, low] = out;
    let groups = codes.chunks_exact(chunks * GROUP * 4);
    let sums = high
        .chunks_exact_mut(GROUP)
        .zip(low.chunks_exact_mut(GROUP));
    for (group, (high, low)) in groups.zip(sums) {
        high.fill(0);
        low.fill(0);
        for (c, chunk) in group.chunks_exact(GROUP * 4).enumerate() {
            let (qh, ql) = (query[0][c].to_le_bytes(), query[1][c].to_le_bytes());
            for (i, row) in chunk.chunks_exact(4).enumerate() {
                for b in 0..4 {
                    high[i] += i32::from(row[b]) * i32::from(qh[b] as i8);
                    low[i] += i32::from(row[b]) * i32::from(ql[b] as i8);
                }
            }
        }
    }
}

/// # Safety
/// The CPU has AVX2; `codes` holds `out[0].len() / 16` groups of `chunks` chunks, `out`
/// two equal lengths (a multiple of 16), each query part `chunks` words of values within ±63.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_avx2(codes: &[u8], chunks: usize, query: [&[u32]; 2], out: [&mut [i32]; 2]) {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_maddubs_epi16,
        _mm256_set1_epi16, _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256,
    };
    let ones = _mm256_set1_epi16(1);
    // Four u8 × i8 products into each 32-bit lane: pairs summed into i16 (at most
    // 2 · 255 · 63: no saturation), then pairs of those into i32.
    let products = |c: __m256i, q: __m256i| _mm256_madd_epi16(_mm256_maddubs_epi16(c, q), ones);
    let [high, low] = out;
    let groups = high.len() / GROUP;
    for g in 0..groups {
        let mut acc = [_mm256_setzero_si256(); 4];
        for (c, (&high_word, &low_word)) in query[0].iter().zip(query[1]).enumerate() {
            let at = (g * chunks + c) * GROUP * 4;
            // SAFETY: `at + 64 <= codes.len()` (the caller's contract).
            let (first, second) = unsafe {
                (
                    _mm256_loadu_si256(codes.as_ptr().add(at).cast::<__m256i>()),
                    _mm256_loadu_si256(codes.as_ptr().add(at + 32).cast::<__m256i>()),
                )
            };
            let qh = _mm256_set1_epi32(high_word as i32);
            let ql = _mm256_set1_epi32(low_word as i32);
            acc[0] = _mm256_add_epi32(acc[0], products(first, qh));
            acc[1] = _mm256_add_epi32(acc[1], products(second, qh));
            acc[2] = _mm256_add_epi32(acc[2], products(first, ql));
            acc[3] = _mm256_add_epi32(acc[3], products(second, ql));
        }
        // SAFETY: each output holds 16 values from g · 16.
        unsafe {
            let (h, l) = (
                high.as_mut_ptr().add(g * GROUP),
                low.as_mut_ptr().add(g * GROUP),
            );
            _mm256_storeu_si256(h.cast::<__m256i>(), acc[0]);
            _mm256_storeu_si256(h.add(8).cast::<__m256i>(), acc[1]);
            _mm256_storeu_si256(l.cast::<__m256i>(), acc[2]);
            _mm256_storeu_si256(l.add(8).cast::<__m256i>(), acc[3]);
        }
    }
}

/// # Safety
/// The CPU has AVX-512 F, BW and VNNI; the rest as for [`dots_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dots_avx512vnni(codes: &[u8], chunks: usize, query: [&[u32]; 2], out: [&mut [i32]; 2]) {
    use std::arch::x86_64::{
        __m512i, _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_setzero_si512,
        _mm512_storeu_si512,
    };
    let [high, low] = out;
    let groups = high.len() / GROUP;
    for g in 0..groups {
        let (mut acc_high, mut acc_low) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for (c, (&high_word, &low_word)) in query[0].iter().zip(query[1]).enumerate() {
            let at = (g * chunks + c) * GROUP * 4;
            // SAFETY: `at + 64 <= codes.len()` (the caller's contract).
            let codes = unsafe { _mm512_loadu_si512(codes.as_ptr().add(at).cast::<__m512i>()) };
            acc_high = _mm512_dpbusd_epi32(acc_high, codes, _mm512_set1_epi32(high_word as i32));
            acc_low = _mm512_dpbusd_epi32(acc_low, codes, _mm512_set1_epi32(low_word as i32));
        }
        // SAFETY: each output holds 16 values from g · 16.
        unsafe {
            _mm512_storeu_si512(high.as_mut_ptr().add(g * GROUP).cast::<__m512i>(), acc_high);
            _mm512_storeu_si512(low.as_mut_ptr().add(g * GROUP).cast::<__m512i>(), acc_low);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (the tests need no entropy).
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed)
        }

        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            self.next() as f64 / (1u64 << 31) as f64
        }
    }

    #[test]
    fn every_kernel_gives_the_scalar_integers() {
        let mut rng = Rng::new(3);
        for chunks in [1, 25, 32] {
            let groups = 3;
            let rows = groups * GROUP;
            let mut codes: Vec<u8> = (0..rows * chunks * 4)
                .map(|_| rng.below(256) as u8)
                .collect();
            // The extremes: the first group's codes all 255, against a query of +63.
            codes[..chunks * GROUP * 4].fill(255);
            let part = |rng: &mut Rng| -> Vec<i8> {
                (0..chunks * 4).map(|_| rng.below(127) as i8 - 63).collect()
            };
            let mut high = part(&mut rng);
            high[..chunks * 2].fill(63);
            let low = part(&mut rng);
            let words = |v: &[i8]| -> Vec<u32> {
                v.chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]))
                    .collect()
            };
            let (high_words, low_words) = (words(&high), words(&low));
            let run = |kernel: Kernel| {
                let (mut h, mut l) = (vec![7i32; rows], vec![7i32; rows]);
                kernel.dots(&codes, chunks, [&high_words, &low_words], [&mut h, &mut l]);
                (h, l)
            };
            let scalar = run(Kernel::Scalar);
            // Row r's component j, where the layout puts it.
            let code = |r: usize, j: usize| {
                codes[((r / GROUP * chunks + j / 4) * GROUP + r % GROUP) * 4 + j % 4]
            };
            let plain = |q: &[i8], r: usize| -> i32 {
                (0..chunks * 4)
                    .map(|j| i32::from(code(r, j)) * i32::from(q[j]))
                    .sum()
            };
            for r in 0..rows {
                assert_eq!(scalar.0[r], plain(&high, r), "row {r}");
                assert_eq!(scalar.1[r], plain(&low, r), "row {r}");
            }
            for kernel in Kernel::available() {
                assert_eq!(run(kernel), scalar, "{kernel:?}, {chunks} chunks");
            }
        }
    }

    /// The bound holds: every row's exact product lies within its estimate ± bound, for
    /// queries and rows of any scale, with blocks of every width.
    #[test]
    fn every_exact_product_lies_within_its_estimate_and_bound() {
        let mut rng = Rng::new(11);
        for dim in [1, 16, 100, 128, 129, 384, 896] {
            let rows = 60;
            let gauss = |rng: &mut Rng| (rng.unit() - 0.5) * 2.0 * rng.unit();
            let vectors: Vec<f32> = (0..rows * dim).map(|_| gauss(&mut rng) as f32).collect();
            let codes = Codes::new(&vectors, dim);
            for active in [dim, dim.min(16), dim / 2] {
                let mut query: Vec<f32> = (0..dim).map(|_| gauss(&mut rng) as f32 * 3.0).collect();
                query[active..].fill(0.0);
                let (estimate, bound) = codes.estimate(&query, active);
                for (r, row) in vectors.chunks_exact(dim).enumerate() {
                    let exact: f64 = row
                        .iter()
                        .zip(&query)
                        .map(|(x, q)| f64::from(*x) * f64::from(*q))
                        .sum();
                    let gap = (exact - f64::from(estimate[r])).abs();
                    assert!(
                        gap <= f64::from(bound[r]),
                        "dim {dim}, active {active}, row {r}: off by {gap}, bound {}",
                        bound[r]
                    );
                }
            }
        }
    }

    #[test]
    fn candidates_keep_every_row_that_may_be_in_the_top() {
        // Row i is estimated at i/10 ± 0.12: the 3 best lower bounds are 0.78, 0.68, 0.58,
        // so every row whose upper bound reaches 0.58 (estimate >= 0.5) is a candidate.
        let estimate: Vec<f32> = (0..10).map(|i| i as f32 / 10.0).collect();
        let bound = vec![0.12; 10];
        assert_eq!(
            candidates(&estimate, &bound, |_| true, 3),
            vec![5, 6, 7, 8, 9]
        );
        // Disallowed rows neither count towards the threshold (here 0.38) nor come back.
        assert_eq!(
            candidates(&estimate, &bound, |i| i < 8, 3),
            vec![3, 4, 5, 6, 7]
        );
        // k covers every allowed row: all of them.
        assert_eq!(
            candidates(&estimate, &bound, |i| i % 3 == 0, 5),
            vec![0, 3, 6, 9]
        );
        assert!(candidates(&estimate, &bound, |_| true, 0).is_empty());
    }
}
