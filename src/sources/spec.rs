//! A registered source: its kind and settings, checked when it is registered, and reading it
//! (the connector, then the steward's curated CSV rows laid over what it found).
//!
//! Settings never hold a secret: a database is named by the environment variable that holds
//! its connection string (`connection_env`), read at each sync and never stored or shown.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::combine::overlay_curated;
use super::crawl::{self, CrawlOptions, DatabaseKind};
use super::glob::Glob;
use super::{FailureKind, FileInput, SourceError, SourceFailure};
use crate::catalog::{CatalogPatch, CatalogProblem};

/// What kind of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Postgres,
    Sqlite,
    Dbt,
    Yaml,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Postgres => "postgres",
            SourceKind::Sqlite => "sqlite",
            SourceKind::Dbt => "dbt",
            SourceKind::Yaml => "yaml",
        }
    }

    pub fn parse(value: &str) -> Option<SourceKind> {
        match value {
            "postgres" => Some(SourceKind::Postgres),
            "sqlite" => Some(SourceKind::Sqlite),
            "dbt" => Some(SourceKind::Dbt),
            "yaml" => Some(SourceKind::Yaml),
            _ => None,
        }
    }
}

/// A source's settings (what is stored, as JSON; no secret ever).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// Environment variable holding the connection string (postgres, sqlite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_env: Option<String>,
    /// The SQLite file (instead of `connection_env`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// PostgreSQL schemas to crawl (empty: every schema the user may use).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// Tables to leave out (`tmp_*`, `staging.*`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// dbt `manifest.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<PathBuf>,
    /// dbt `catalog.json` (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<PathBuf>,
    /// YAML dictionary files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
    /// Curated CSV files laid over what the source finds (see `combine`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub curated: Vec<PathBuf>,
    /// Longest a catalog query may run (default 30 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_timeout_ms: Option<u64>,
}

/// A source: its id (which names it everywhere: errors, the audit log, the datasets'
/// `synced_from`), kind and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub id: String,
    pub kind: SourceKind,
    pub config: SourceConfig,
}

/// What reading a source gave: the catalog, and the curated rows that did not apply.
#[derive(Debug, Clone, Default)]
pub struct SourceRead {
    pub patch: CatalogPatch,
    pub warnings: Vec<CatalogProblem>,
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && id.len() <= 64
}

fn looks_like_url(value: &str) -> bool {
    value.contains("://") || value.to_ascii_lowercase().starts_with("sqlite:")
}

impl SourceSpec {
    /// Checks the settings for the kind; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let c = &self.config;
        if !valid_id(&self.id) {
            return Err(
                "`id` must be 1 to 64 letters, digits, `_`, `-` or `.`, starting with a letter or digit"
                    .into(),
            );
        }
        if let Some(env) = &c.connection_env
            && !valid_env_name(env)
        {
            return Err(
                "`connection_env` must name an environment variable (letters, digits, `_`); \
                 the connection string itself is never accepted"
                    .into(),
            );
        }
        let paths = c
            .path
            .iter()
            .chain(c.manifest.iter())
            .chain(c.catalog.iter())
            .chain(c.files.iter())
            .chain(c.curated.iter());
        for path in paths {
            let text = path.to_string_lossy();
            if text.trim().is_empty() || looks_like_url(&text) {
                return Err(format!(
                    "`{text}` is not a file path (connection strings go in an environment \
                     variable named by `connection_env`)"
                ));
            }
        }
        if c.schemas
            .iter()
            .chain(c.exclude.iter())
            .any(|s| s.trim().is_empty())
        {
            return Err("`schemas` and `exclude` may not hold empty names".into());
        }
        if let Some(ms) = c.statement_timeout_ms
            && !(100..=600_000).contains(&ms)
        {
            return Err("`statement_timeout_ms` must be between 100 and 600000".into());
        }
        let unexpected = |what: &str| {
            Err(format!(
                "`{what}` does not apply to a {} source",
                self.kind.as_str()
            ))
        };
        match self.kind {
            SourceKind::Postgres => {
                if c.connection_env.is_none() {
                    return Err("a postgres source needs `connection_env`".into());
                }
                if c.path.is_some() {
                    return unexpected("path");
                }
                if c.manifest.is_some() || c.catalog.is_some() {
                    return unexpected("manifest");
                }
                if !c.files.is_empty() {
                    return unexpected("files");
                }
            }
            SourceKind::Sqlite => {
                if c.connection_env.is_some() == c.path.is_some() {
                    return Err(
                        "a sqlite source needs `path` or `connection_env` (one of them)".into(),
                    );
                }
                if !c.schemas.is_empty() {
                    return unexpected("schemas");
                }
                if c.manifest.is_some() || c.catalog.is_some() {
                    return unexpected("manifest");
                }
                if !c.files.is_empty() {
                    return unexpected("files");
                }
            }
            SourceKind::Dbt => {
                if c.manifest.is_none() {
                    return Err("a dbt source needs `manifest` (target/manifest.json)".into());
                }
                if c.connection_env.is_some() || c.path.is_some() {
                    return unexpected("connection_env");
                }
                if !c.schemas.is_empty() || !c.exclude.is_empty() {
                    return unexpected("schemas");
                }
                if !c.files.is_empty() {
                    return unexpected("files");
                }
            }
            SourceKind::Yaml => {
                if c.files.is_empty() {
                    return Err("a yaml source needs `files`".into());
                }
                if c.connection_env.is_some() || c.path.is_some() {
                    return unexpected("connection_env");
                }
                if c.manifest.is_some() || c.catalog.is_some() {
                    return unexpected("manifest");
                }
                if !c.schemas.is_empty() || !c.exclude.is_empty() {
                    return unexpected("schemas");
                }
            }
        }
        Ok(())
    }

    fn failure(&self, kind: FailureKind, message: impl Into<String>) -> SourceError {
        SourceError::Failed(SourceFailure::new(&self.id, kind, message))
    }

    /// The connection string of a database source, from its environment variable (or the
    /// SQLite path).
    fn connection(&self) -> Result<SecretString, SourceError> {
        if let Some(path) = &self.config.path {
            return Ok(SecretString::from(format!("sqlite://{}", path.display())));
        }
        let Some(env) = &self.config.connection_env else {
            return Err(self.failure(FailureKind::Configuration, "no `connection_env` is set"));
        };
        let value = std::env::var(env).map_err(|_| {
            self.failure(
                FailureKind::Configuration,
                format!("the environment variable `{env}` is not set"),
            )
        })?;
        let expected = match self.kind {
            SourceKind::Postgres => Some(DatabaseKind::Postgres),
            _ => Some(DatabaseKind::Sqlite),
        };
        if crawl::database_kind(&value) != expected {
            return Err(self.failure(
                FailureKind::Configuration,
                format!(
                    "the environment variable `{env}` does not hold a {} connection string",
                    self.kind.as_str()
                ),
            ));
        }
        Ok(SecretString::from(value))
    }

    /// The crawl settings of a database source.
    pub fn crawl_options(&self) -> CrawlOptions {
        let mut options = CrawlOptions {
            schemas: self.config.schemas.clone(),
            exclude: self.config.exclude.iter().map(|p| Glob::new(p)).collect(),
            ..CrawlOptions::default()
        };
        if let Some(ms) = self.config.statement_timeout_ms {
            options.statement_timeout = Duration::from_millis(ms);
        }
        options
    }

    /// Reads the source, then lays its curated CSV rows over what it found. Files are read
    /// up to `max_bytes` each kind.
    pub async fn read(&self, max_bytes: u64) -> Result<SourceRead, SourceError> {
        let found = match self.kind {
            SourceKind::Postgres | SourceKind::Sqlite => {
                let url = self.connection()?;
                let catalog = crawl::crawl(&url, &self.id, &self.crawl_options()).await?;
                let declared = vec![false; catalog.datasets.len()];
                CatalogPatch {
                    catalog,
                    sensitivity_declared: declared,
                    reference_sites: Vec::new(),
                    term_sites: Vec::new(),
                }
            }
            SourceKind::Dbt => {
                let input = FileInput {
                    files: Vec::new(),
                    dbt: self
                        .config
                        .manifest
                        .clone()
                        .map(|manifest| super::DbtArtifacts {
                            manifest,
                            catalog: self.config.catalog.clone(),
                        }),
                };
                self.read_files(input, max_bytes).await?
            }
            SourceKind::Yaml => {
                let files = self
                    .config
                    .files
                    .iter()
                    .map(|f| (f.display().to_string(), f.clone()))
                    .collect();
                let input = FileInput { files, dbt: None };
                self.read_files(input, max_bytes).await?
            }
        };
        if self.config.curated.is_empty() {
            return Ok(SourceRead {
                patch: found,
                warnings: Vec::new(),
            });
        }
        let missing: Vec<String> = self
            .config
            .curated
            .iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(self.failure(
                FailureKind::NotFound,
                format!("no such curated file: {}", missing.join(", ")),
            ));
        }
        let curated = self.config.curated.clone();
        let (steward, positions) = crate::telemetry::blocking(move || {
            super::files::parse_with_positions_files(&curated, max_bytes)
        })
        .await
        .map_err(|e| SourceError::Io(anyhow::anyhow!("reading curated files failed: {e}")))??;
        let (patch, warnings) = overlay_curated(found, &steward, &positions);
        Ok(SourceRead { patch, warnings })
    }

    async fn read_files(
        &self,
        input: FileInput,
        max_bytes: u64,
    ) -> Result<CatalogPatch, SourceError> {
        let missing: Vec<String> = input
            .files
            .iter()
            .map(|(_, p)| p.clone())
            .chain(
                input
                    .dbt
                    .iter()
                    .flat_map(|d| std::iter::once(d.manifest.clone()).chain(d.catalog.clone())),
            )
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(self.failure(
                FailureKind::NotFound,
                format!("no such file: {}", missing.join(", ")),
            ));
        }
        crate::telemetry::blocking(move || super::read_input(&input, max_bytes))
            .await
            .map_err(|e| SourceError::Io(anyhow::anyhow!("reading the source failed: {e}")))?
    }
}

/// A schedule like `30s`, `15m`, `6h` or `1d` (at least one second, at most a year).
pub fn parse_every(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{value}` is not a schedule like 30s, 15m, 6h or 1d"))?;
    let secs = match unit.trim() {
        "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n.saturating_mul(60),
        "h" | "hour" | "hours" => n.saturating_mul(3_600),
        "d" | "day" | "days" => n.saturating_mul(86_400),
        _ => {
            return Err(format!(
                "`{value}` is not a schedule like 30s, 15m, 6h or 1d"
            ));
        }
    };
    if !(1..=365 * 86_400).contains(&secs) {
        return Err("a schedule must be between 1s and 365d".into());
    }
    Ok(Duration::from_secs(secs))
}

/// A schedule in the largest unit that divides it (`21600` s is `6h`).
pub fn format_every(secs: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: SourceKind, config: SourceConfig) -> SourceSpec {
        SourceSpec {
            id: "warehouse".into(),
            kind,
            config,
        }
    }

    #[test]
    fn schedules_parse_and_print() {
        assert_eq!(parse_every("6h").unwrap(), Duration::from_secs(21_600));
        assert_eq!(parse_every("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_every("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_every("0s").is_err());
        assert!(parse_every("6 weeks").is_err());
        assert!(parse_every("h").is_err());
        assert_eq!(format_every(21_600), "6h");
        assert_eq!(format_every(90), "90s");
        assert_eq!(format_every(120), "2m");
    }

    #[test]
    fn connection_strings_are_never_accepted_as_settings() {
        let ok = spec(
            SourceKind::Postgres,
            SourceConfig {
                connection_env: Some("WAREHOUSE_URL".into()),
                ..SourceConfig::default()
            },
        );
        assert!(ok.validate().is_ok());
        let url_in_env = spec(
            SourceKind::Postgres,
            SourceConfig {
                connection_env: Some("postgres://u:p@h/d".into()),
                ..SourceConfig::default()
            },
        );
        assert!(url_in_env.validate().is_err());
        let url_as_path = spec(
            SourceKind::Sqlite,
            SourceConfig {
                path: Some("sqlite:///x.db".into()),
                ..SourceConfig::default()
            },
        );
        assert!(url_as_path.validate().is_err());
        let unknown: Result<SourceConfig, _> =
            serde_json::from_str(r#"{"connection": "postgres://u:p@h/d"}"#);
        assert!(unknown.is_err(), "unknown settings are refused");
    }

    #[test]
    fn each_kind_needs_its_own_settings() {
        assert!(
            spec(SourceKind::Postgres, SourceConfig::default())
                .validate()
                .is_err()
        );
        assert!(
            spec(SourceKind::Dbt, SourceConfig::default())
                .validate()
                .is_err()
        );
        assert!(
            spec(SourceKind::Yaml, SourceConfig::default())
                .validate()
                .is_err()
        );
        let sqlite = spec(
            SourceKind::Sqlite,
            SourceConfig {
                path: Some("shop.db".into()),
                schemas: vec!["main".into()],
                ..SourceConfig::default()
            },
        );
        assert!(sqlite.validate().is_err(), "schemas do not apply to SQLite");
        let bad_id = SourceSpec {
            id: "no spaces".into(),
            kind: SourceKind::Yaml,
            config: SourceConfig {
                files: vec!["d.yaml".into()],
                ..SourceConfig::default()
            },
        };
        assert!(bad_id.validate().is_err());
    }
}
