//! Reading CSV files and directories of them: one catalog from several files, and a hash of a
//! directory's contents (a reload of unchanged files does nothing).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::SourceError;
use super::csv::parse_patch;
use crate::catalog::{Catalog, CatalogPatch};

/// The CSV files of a directory, in file-name order.
pub fn csv_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
        .collect();
    files.sort();
    Ok(files)
}

/// A hash of the names and contents of the directory's CSV files (`None` when there are none).
pub fn directory_hash(dir: &Path) -> anyhow::Result<Option<String>> {
    let files = csv_files(dir)?;
    if files.is_empty() {
        return Ok(None);
    }
    let mut hasher = Sha256::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        hasher.update(name.as_bytes());
        hasher.update([0]);
        let mut reader =
            std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .with_context(|| format!("reading {}", file.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        hasher.update([0]);
    }
    Ok(Some(hex::encode(hasher.finalize())))
}

/// Parses every CSV of `dir`; returns the catalog and the directory hash.
pub fn read_directory(dir: &Path, max_bytes: u64) -> Result<(Catalog, String), SourceError> {
    let files = csv_files(dir)?;
    let hash = directory_hash(dir)?.unwrap_or_default();
    parse_files(&files, max_bytes).map(|c| (c, hash))
}

/// Parses CSV files as one catalog; errors name each file by its file name.
pub fn parse_files(files: &[PathBuf], max_bytes: u64) -> Result<Catalog, SourceError> {
    let named: Vec<(String, PathBuf)> = files
        .iter()
        .map(|file| {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| file.display().to_string());
            (name, file.clone())
        })
        .collect();
    parse_named_files(&named, max_bytes).map(|patch| patch.catalog)
}

/// Parses CSV files as one catalog; errors name each file as given.
pub fn parse_named_files(
    files: &[(String, PathBuf)],
    max_bytes: u64,
) -> Result<CatalogPatch, SourceError> {
    let mut sources = Vec::with_capacity(files.len());
    for (name, file) in files {
        let reader =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        sources.push((name.clone(), std::io::BufReader::new(reader)));
    }
    parse_patch(sources, max_bytes).map_err(SourceError::Invalid)
}
