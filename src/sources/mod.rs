//! Sources: connectors that produce a catalog. Today: metadata CSV files, as uploads or a
//! directory. Each source yields a whole [`Catalog`] or every problem found; the load pipeline
//! (`versions`) takes it from there.

pub mod csv;
pub mod files;

use crate::catalog::InvalidCatalog;

pub use csv::{parse_catalog, parse_patch};
pub use files::{csv_files, directory_hash, parse_files, parse_named_files, read_directory};

/// Why a source produced no catalog.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The input is wrong: every problem, with file and line.
    #[error("{0}")]
    Invalid(InvalidCatalog),
    /// The input could not be read.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}
