//! Reading CSV files and directories of them: one catalog from several files, and a hash of a
//! directory's contents (a reload of unchanged files does nothing).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use std::collections::HashMap;

use super::SourceError;
use super::csv::parse_patch;
use crate::catalog::{Catalog, CatalogPatch, InvalidCatalog, Problems};

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
pub fn read_directory(dir: &Path, max_bytes: u64) -> Result<(CatalogPatch, String), SourceError> {
    let files = csv_files(dir)?;
    let hash = directory_hash(dir)?.unwrap_or_default();
    parse_named_files(&named(&files), max_bytes).map(|c| (c, hash))
}

/// Files named by their file names.
fn named(files: &[PathBuf]) -> Vec<(String, PathBuf)> {
    files
        .iter()
        .map(|file| {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| file.display().to_string());
            (name, file.clone())
        })
        .collect()
}

/// Parses CSV files as one catalog; errors name each file by its file name.
pub fn parse_files(files: &[PathBuf], max_bytes: u64) -> Result<Catalog, SourceError> {
    parse_named_files(&named(files), max_bytes).map(|patch| patch.catalog)
}

/// Parses files as one catalog (CSVs, and YAML dictionaries by their `.yaml`/`.yml` name);
/// errors name each file as given.
pub fn parse_named_files(
    files: &[(String, PathBuf)],
    max_bytes: u64,
) -> Result<CatalogPatch, SourceError> {
    read_input(
        &FileInput {
            files: files.to_vec(),
            dbt: None,
        },
        max_bytes,
    )
}

/// dbt's artifacts: `manifest.json`, and optionally `catalog.json`.
#[derive(Debug, Clone)]
pub struct DbtArtifacts {
    pub manifest: PathBuf,
    pub catalog: Option<PathBuf>,
}

/// What a file load reads: metadata CSVs and YAML dictionaries (told apart by the file
/// name's extension), and dbt artifacts. Each file is named in errors as given.
#[derive(Debug, Clone, Default)]
pub struct FileInput {
    pub files: Vec<(String, PathBuf)>,
    pub dbt: Option<DbtArtifacts>,
}

fn is_yaml(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml")
}

/// Reads every input as one catalog, all or nothing. `max_bytes` bounds each kind's total.
pub fn read_input(input: &FileInput, max_bytes: u64) -> Result<CatalogPatch, SourceError> {
    let (glossary, files): (Vec<_>, Vec<_>) = input
        .files
        .iter()
        .partition(|(name, _)| super::glossary::is_glossary(name));
    let (yaml, csv): (Vec<_>, Vec<_>) = files.into_iter().partition(|(name, _)| is_yaml(name));
    let mut parts: Vec<(String, CatalogPatch)> = Vec::new();
    let only_glossary = !glossary.is_empty() && yaml.is_empty() && csv.is_empty();
    if !csv.is_empty() || (yaml.is_empty() && input.dbt.is_none() && !only_glossary) {
        let mut sources = Vec::with_capacity(csv.len());
        for (name, file) in &csv {
            let reader =
                std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            sources.push((name.clone(), std::io::BufReader::new(reader)));
        }
        let patch = parse_patch(sources, max_bytes).map_err(SourceError::Invalid)?;
        parts.push(("the CSV files".into(), patch));
    }
    if !yaml.is_empty() {
        let mut texts = Vec::with_capacity(yaml.len());
        let mut total = 0u64;
        for (name, file) in &yaml {
            let size = std::fs::metadata(file)
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            total += size;
            if total > max_bytes {
                let mut problems = Problems::default();
                problems.add(
                    name,
                    0,
                    None,
                    format!("input exceeds the size limit of {max_bytes} bytes"),
                );
                return Err(SourceError::Invalid(invalid(problems)));
            }
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let Ok(text) = String::from_utf8(bytes) else {
                let mut problems = Problems::default();
                problems.add(name, 0, None, "invalid UTF-8 (files must be UTF-8 encoded)");
                return Err(SourceError::Invalid(invalid(problems)));
            };
            texts.push((name.clone(), Path::new(name.as_str()), text));
        }
        let patch = super::yaml::parse(&texts).map_err(SourceError::Invalid)?;
        parts.push(("the YAML files".into(), patch));
    }
    if let Some(dbt) = &input.dbt {
        let patch = super::dbt::read(&dbt.manifest, dbt.catalog.as_deref(), max_bytes)?;
        parts.push((dbt.manifest.display().to_string(), patch));
    }
    let mut out = concat(parts)?;
    let (terms, sites) = read_glossaries(&glossary, max_bytes)?;
    out.catalog.terms = terms;
    out.term_sites = sites;
    Ok(out)
}

/// The terms of the glossary files, in file order.
fn read_glossaries(
    files: &[&(String, PathBuf)],
    max_bytes: u64,
) -> Result<super::glossary::ParsedTerms, SourceError> {
    let mut terms = Vec::new();
    let mut sites = Vec::new();
    let mut total = 0u64;
    for (name, file) in files {
        total += std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len();
        let mut problems = Problems::default();
        if total > max_bytes {
            problems.add(
                name,
                0,
                None,
                format!("input exceeds the size limit of {max_bytes} bytes"),
            );
            return Err(SourceError::Invalid(invalid(problems)));
        }
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let Ok(text) = String::from_utf8(bytes) else {
            problems.add(name, 0, None, "invalid UTF-8 (files must be UTF-8 encoded)");
            return Err(SourceError::Invalid(invalid(problems)));
        };
        let parsed = if is_yaml(name) {
            super::glossary::parse_yaml(name, &text)
        } else {
            super::glossary::parse_csv(name, text.as_bytes())
        };
        let (mut found, mut at) = parsed.map_err(SourceError::Invalid)?;
        terms.append(&mut found);
        sites.append(&mut at);
    }
    Ok((terms, sites))
}

fn invalid(problems: Problems) -> InvalidCatalog {
    problems.into_invalid()
}

/// Patches of different inputs as one; a dataset in two of them is a problem.
fn concat(parts: Vec<(String, CatalogPatch)>) -> Result<CatalogPatch, SourceError> {
    let mut out = CatalogPatch::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut problems = Problems::default();
    for (origin, patch) in parts {
        out.reference_sites.extend(patch.reference_sites);
        let declared = patch.sensitivity_declared;
        for (i, dataset) in patch.catalog.datasets.into_iter().enumerate() {
            let key = dataset.name.to_lowercase();
            if let Some(first) = seen.get(&key) {
                problems.add(
                    &origin,
                    0,
                    Some("dataset"),
                    format!("dataset `{}` is also described in {first}", dataset.name),
                );
                continue;
            }
            seen.insert(key, origin.clone());
            out.sensitivity_declared
                .push(declared.get(i).copied().unwrap_or(true));
            out.catalog.datasets.push(dataset);
        }
    }
    problems.into_result().map_err(SourceError::Invalid)?;
    Ok(out)
}

/// Curated CSV files, parsed with where each row is (to point at rows that do not apply).
pub fn parse_with_positions_files(
    files: &[PathBuf],
    max_bytes: u64,
) -> Result<(CatalogPatch, super::csv::Positions), SourceError> {
    let mut sources = Vec::with_capacity(files.len());
    for file in files {
        let reader =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        sources.push((file.display().to_string(), std::io::BufReader::new(reader)));
    }
    super::csv::parse_with_positions(sources, max_bytes).map_err(SourceError::Invalid)
}
