//! Sources: connectors that produce a catalog. Metadata CSV files (uploads or a directory),
//! crawled databases (PostgreSQL, SQLite), dbt artifacts and YAML data dictionaries. Each
//! source yields a whole [`CatalogPatch`] or says why not: every problem of a bad input (with
//! file and line), or a [`SourceFailure`] naming the source and what failed. The load pipeline
//! (`versions`) takes it from there. Also here: the rule that combines what a connector found
//! with a steward's curated CSV rows ([`combine`]), and the catalog written back as CSV
//! ([`export`]).

pub mod combine;
pub mod crawl;
pub mod csv;
pub mod dbt;
pub mod export;
pub mod files;
pub mod glob;
pub mod glossary;
pub mod spec;
pub mod yaml;

use serde::Serialize;

use crate::catalog::InvalidCatalog;

pub use csv::{parse_catalog, parse_patch};
pub use files::{
    DbtArtifacts, FileInput, csv_files, directory_hash, parse_files, parse_named_files,
    read_directory, read_input,
};
pub use spec::{SourceConfig, SourceKind, SourceSpec};

/// Why a source produced no catalog.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The input is wrong: every problem, with file and line.
    #[error("{0}")]
    Invalid(InvalidCatalog),
    /// A connector could not read its source (unreachable, refused, not found, ...).
    #[error(transparent)]
    Failed(SourceFailure),
    /// The input could not be read.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

/// What kind of failure stopped a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The database could not be reached (connection refused, no route, TLS).
    Unreachable,
    /// The database refused the credentials.
    Authentication,
    /// The crawl user may not read something it was asked to (a schema without `USAGE`).
    PermissionDenied,
    /// The database, schema, file or environment variable does not exist.
    NotFound,
    /// A catalog query ran past the statement timeout, or connecting took too long.
    Timeout,
    /// The source's settings are wrong (a connection string that does not parse).
    Configuration,
    /// The source is not what it claims to be (a file that is not a SQLite database).
    InvalidSource,
    /// Anything else the source answered.
    Failed,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Authentication => "authentication",
            FailureKind::PermissionDenied => "permission_denied",
            FailureKind::NotFound => "not_found",
            FailureKind::Timeout => "timeout",
            FailureKind::Configuration => "configuration",
            FailureKind::InvalidSource => "invalid_source",
            FailureKind::Failed => "failed",
        }
    }
}

/// A connector's failure: which source, what kind, and a message that names what failed.
/// Messages never hold a connection string or a password (they are built by the connectors
/// and passed through [`crawl::redact`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("source `{name}`: {message}")]
pub struct SourceFailure {
    /// The source's id, or for an unregistered crawl its URL without credentials.
    pub name: String,
    pub kind: FailureKind,
    pub message: String,
}

impl SourceFailure {
    pub fn new(name: &str, kind: FailureKind, message: impl Into<String>) -> SourceFailure {
        SourceFailure {
            name: name.to_string(),
            kind,
            message: message.into(),
        }
    }

    /// The same failure under another source name (a registered source's id).
    pub fn named(mut self, name: &str) -> SourceFailure {
        self.name = name.to_string();
        self
    }
}

impl SourceError {
    /// Names the source in a failure (invalid inputs already name their files).
    pub fn named(self, name: &str) -> SourceError {
        match self {
            SourceError::Failed(failure) => SourceError::Failed(failure.named(name)),
            other => other,
        }
    }
}
