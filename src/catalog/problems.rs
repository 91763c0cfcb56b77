//! Validation results: what is wrong with an input, with its file, line and field. Every
//! source (CSV files, crawled databases, dbt artifacts, YAML dictionaries) reports through
//! [`Problems`], so a rejected load always looks the same.

use serde::Serialize;

/// Problems kept in detail; the total is always counted.
pub const MAX_PROBLEMS: usize = 100;

/// One thing wrong with an input file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogProblem {
    pub file: String,
    /// 1-based line of the record (the header is line 1).
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// A rejected load: the problems found (at most [`MAX_PROBLEMS`]) and how many there were.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvalidCatalog {
    pub problems: Vec<CatalogProblem>,
    pub total_problems: usize,
}

impl std::fmt::Display for InvalidCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "invalid catalog: {} problem(s)", self.total_problems)?;
        for p in &self.problems {
            write!(f, "  {}:{}", p.file, p.line)?;
            if let Some(field) = &p.field {
                write!(f, " [{field}]")?;
            }
            writeln!(f, ": {}", p.message)?;
        }
        if self.total_problems > self.problems.len() {
            writeln!(
                f,
                "  ... and {} more",
                self.total_problems - self.problems.len()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidCatalog {}

impl InvalidCatalog {
    /// A rejection for one problem.
    pub fn one(file: &str, line: u64, field: Option<&str>, message: impl Into<String>) -> Self {
        let mut problems = Problems::default();
        problems.add(file, line, field, message);
        problems.into_invalid()
    }
}

/// Collects problems: the first [`MAX_PROBLEMS`] in detail, all of them counted.
#[derive(Debug, Default)]
pub struct Problems {
    kept: Vec<CatalogProblem>,
    total: usize,
}

impl Problems {
    pub fn add(&mut self, file: &str, line: u64, field: Option<&str>, message: impl Into<String>) {
        self.total += 1;
        if self.kept.len() < MAX_PROBLEMS {
            self.kept.push(CatalogProblem {
                file: file.to_string(),
                line,
                field: field.map(str::to_string),
                message: message.into(),
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The rejection, whatever was found (for a caller that already knows something was).
    pub fn into_invalid(self) -> InvalidCatalog {
        InvalidCatalog {
            problems: self.kept,
            total_problems: self.total,
        }
    }

    /// `Ok` when nothing was found, otherwise the rejection.
    pub fn into_result(self) -> Result<(), InvalidCatalog> {
        if self.total == 0 {
            return Ok(());
        }
        Err(InvalidCatalog {
            problems: self.kept,
            total_problems: self.total,
        })
    }
}
