//! SentencePiece's `nmt_nfkc` normalizer over a precompiled character map, as
//! SentencePiece's `Normalizer::Normalize` applies it: at each position the longest key of
//! the map's darts-clone double-array trie that prefixes the input is replaced by its
//! NUL-terminated replacement (a position no key covers keeps one UTF-8 character); leading,
//! trailing and repeated spaces are removed, and a space is put in front (the dummy prefix).
//! The result uses plain spaces; the tokenizer turns them into `▁`.

use anyhow::{Context, Result, ensure};

#[derive(Debug, Clone, Default)]
pub(crate) struct Normalizer {
    units: Vec<u32>,
    replacements: Vec<u8>,
}

fn offset(unit: u32) -> usize {
    ((unit >> 10) << ((unit & 0x200) >> 6)) as usize
}

/// Length of the UTF-8 character that starts `b` (1 for a malformed one).
fn char_len(b: &[u8]) -> usize {
    let n = match b[0] {
        x if x < 0x80 => 1,
        x if x >> 5 == 0x6 => 2,
        x if x >> 4 == 0xE => 3,
        x if x >> 3 == 0x1E => 4,
        _ => 1,
    };
    if n > b.len() || b[1..n].iter().any(|&c| c & 0xC0 != 0x80) {
        1
    } else {
        n
    }
}

impl Normalizer {
    /// From the map's bytes: a u32 trie size, the trie's units, the replacements.
    pub fn new(charsmap: &[u8]) -> Result<Normalizer> {
        if charsmap.is_empty() {
            return Ok(Normalizer::default());
        }
        let size = u32::from_le_bytes(
            charsmap
                .get(..4)
                .context("truncated character map")?
                .try_into()
                .context("truncated character map")?,
        ) as usize;
        let trie = charsmap
            .get(4..4 + size)
            .context("truncated character map trie")?;
        ensure!(
            size.is_multiple_of(4) && size > 0,
            "bad character map trie size {size}"
        );
        let units = trie
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Normalizer {
            units,
            replacements: charsmap[4 + size..].to_vec(),
        })
    }

    /// The replacement for the longest key prefixing `b`, and the bytes it consumes.
    fn prefix<'a>(&'a self, b: &'a [u8]) -> (&'a [u8], usize) {
        let (mut best_len, mut best_value) = (0, 0usize);
        if let Some(&root) = self.units.first() {
            let mut node = offset(root);
            for (i, &c) in b.iter().enumerate() {
                node ^= c as usize;
                let Some(&unit) = self.units.get(node) else {
                    break;
                };
                if unit & 0x8000_00FF != c as u32 {
                    break;
                }
                node ^= offset(unit);
                if unit & 0x100 != 0 {
                    let Some(&leaf) = self.units.get(node) else {
                        break;
                    };
                    best_len = i + 1;
                    best_value = (leaf & 0x7FFF_FFFF) as usize;
                }
            }
        }
        if best_len > 0 && best_value < self.replacements.len() {
            let rest = &self.replacements[best_value..];
            let end = rest.iter().position(|&x| x == 0).unwrap_or(rest.len());
            return (&rest[..end], best_len);
        }
        let n = char_len(b);
        (&b[..n], n)
    }

    /// The normalized text, with a leading space unless it is empty.
    pub fn normalize(&self, text: &str) -> String {
        let raw = text.as_bytes();
        let mut pos = 0;
        // Leading whitespace (after normalization) goes.
        while pos < raw.len() {
            let (p, n) = self.prefix(&raw[pos..]);
            if p != b" " {
                break;
            }
            pos += n;
        }
        if pos >= raw.len() {
            return String::new();
        }
        let mut out: Vec<u8> = vec![b' '];
        let mut prev_space = true;
        while pos < raw.len() {
            let (mut p, n) = self.prefix(&raw[pos..]);
            pos += n;
            if prev_space {
                while let [b' ', rest @ ..] = p {
                    p = rest;
                }
            }
            if let Some(&last) = p.last() {
                out.extend_from_slice(p);
                prev_space = last == b' ';
            }
        }
        while out.last() == Some(&b' ') {
            out.pop();
        }
        // Replacements are whole UTF-8 sequences; a malformed table cannot make this panic.
        String::from_utf8_lossy(&out).into_owned()
    }
}
