//! Crawling a database's own catalog: PostgreSQL (`pg_catalog`) and SQLite (`sqlite_master`
//! and its pragmas). A crawl is read-only: catalog queries only, in a read-only transaction
//! (PostgreSQL) or on a read-only connection (SQLite), with a statement timeout. It reads
//! metadata, never rows, so the crawl user needs no `SELECT` on any table.
//!
//! Connection strings are secrets: they are never logged, never part of an error, and
//! every message a crawl produces goes through [`redact`] before it leaves.

mod postgres;
mod sqlite;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::glob::Glob;
use super::{FailureKind, SourceError, SourceFailure};
use crate::catalog::Catalog;

/// What to crawl.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// PostgreSQL schemas to read; empty: every schema the user may use (system schemas
    /// aside). Not used for SQLite.
    pub schemas: Vec<String>,
    /// Tables (and views) to leave out, by name or qualified name.
    pub exclude: Vec<Glob>,
    /// Longest a catalog query may run.
    pub statement_timeout: Duration,
    /// Longest connecting may take.
    pub connect_timeout: Duration,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        CrawlOptions {
            schemas: Vec::new(),
            exclude: Vec::new(),
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Postgres,
    Sqlite,
}

/// The kind of database a connection string names, if it is one we crawl.
pub fn database_kind(url: &str) -> Option<DatabaseKind> {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        Some(DatabaseKind::Postgres)
    } else if lower.starts_with("sqlite:") {
        Some(DatabaseKind::Sqlite)
    } else {
        None
    }
}

/// Crawls the database `url` names. `name` names the source in failures (a registered
/// source's id; for the command line, [`display_name`] of the URL).
pub async fn crawl(
    url: &SecretString,
    name: &str,
    options: &CrawlOptions,
) -> Result<Catalog, SourceError> {
    let raw = url.expose_secret();
    let result = match database_kind(raw) {
        Some(DatabaseKind::Postgres) => postgres::crawl(raw, options).await,
        Some(DatabaseKind::Sqlite) => sqlite::crawl(raw, options).await,
        None => Err(Failure::new(
            FailureKind::Configuration,
            "unsupported connection string (expected postgres://, postgresql:// or sqlite:)",
        )),
    };
    result.map_err(|failure| {
        SourceError::Failed(SourceFailure::new(
            name,
            failure.kind,
            redact(&failure.message, raw),
        ))
    })
}

/// A connector's failure before it is named and redacted.
#[derive(Debug)]
struct Failure {
    kind: FailureKind,
    message: String,
}

impl Failure {
    fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// A URL without what may be secret: no user, password, query or fragment. For PostgreSQL
/// `postgres://host:port/database`, for SQLite `sqlite://path`.
pub fn display_name(url: &str) -> String {
    match database_kind(url) {
        Some(DatabaseKind::Sqlite) => format!("sqlite://{}", sqlite::path_of(url).display()),
        _ => match url::Url::parse(url) {
            Ok(parsed) => {
                let host = parsed.host_str().unwrap_or("localhost");
                let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{host}{port}{}", parsed.scheme(), parsed.path())
            }
            Err(_) => "database".to_string(),
        },
    }
}

/// `text` with the connection string, its password and its user-info part removed, however
/// they were encoded. Every message of a crawl goes through here.
pub fn redact(text: &str, url: &str) -> String {
    let mut out = text.replace(url, "[connection string]");
    if let Ok(parsed) = url::Url::parse(url) {
        let mut secrets: Vec<String> = Vec::new();
        if let Some(password) = parsed.password() {
            secrets.push(password.to_string());
            if let Ok(decoded) = percent_decode(password) {
                secrets.push(decoded);
            }
        }
        for (key, value) in parsed.query_pairs() {
            if key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword") {
                secrets.push(value.to_string());
            }
        }
        for secret in secrets.iter().filter(|s| s.chars().count() >= 3) {
            out = out.replace(secret.as_str(), "[redacted]");
        }
    }
    out
}

fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) if bytes[i] == b'%' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

/// The failure an sqlx error means, told in our words: the driver's own text can carry the
/// connection string, so only a database's error message (which names objects, never
/// credentials) is passed on, and even that is redacted by the caller.
fn classify(error: &sqlx::Error, target: &str) -> Failure {
    match error {
        sqlx::Error::Database(db) => {
            let mut code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // SQLite reports extended result codes; their low byte is the primary code.
            // (PostgreSQL's SQLSTATEs have five characters.)
            if code.len() < 5
                && let Ok(n) = code.parse::<u32>()
            {
                code = (n & 0xff).to_string();
            }
            let message = db.message();
            match code.as_str() {
                "28P01" | "28000" => Failure::new(
                    FailureKind::Authentication,
                    format!("authentication failed at {target}: {message}"),
                ),
                "42501" => Failure::new(
                    FailureKind::PermissionDenied,
                    format!("permission denied: {message}"),
                ),
                "3D000" => Failure::new(
                    FailureKind::NotFound,
                    format!("the database does not exist: {message}"),
                ),
                "57014" => Failure::new(
                    FailureKind::Timeout,
                    "a catalog query ran past the statement timeout",
                ),
                "53300" | "57P03" => Failure::new(
                    FailureKind::Unreachable,
                    format!("{target} is not accepting connections: {message}"),
                ),
                // SQLite: SQLITE_NOTADB, SQLITE_CORRUPT.
                "26" | "11" => Failure::new(
                    FailureKind::InvalidSource,
                    format!("{target} is not a readable SQLite database: {message}"),
                ),
                // SQLite: SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_AUTH.
                "14" | "3" | "23" => Failure::new(
                    FailureKind::PermissionDenied,
                    format!("cannot open {target}: {message}"),
                ),
                _ => Failure::new(
                    FailureKind::Failed,
                    format!("the database refused a catalog query ({code}): {message}"),
                ),
            }
        }
        sqlx::Error::Io(io) => Failure::new(
            FailureKind::Unreachable,
            format!("could not connect to {target}: {}", io.kind()),
        ),
        sqlx::Error::Tls(_) => Failure::new(
            FailureKind::Unreachable,
            format!("the TLS handshake with {target} failed"),
        ),
        sqlx::Error::Configuration(_) => Failure::new(
            FailureKind::Configuration,
            "the connection string is not valid",
        ),
        sqlx::Error::PoolTimedOut => Failure::new(
            FailureKind::Timeout,
            format!("connecting to {target} took too long"),
        ),
        sqlx::Error::Protocol(_) => Failure::new(
            FailureKind::Failed,
            format!("{target} answered with a protocol error"),
        ),
        _ => Failure::new(
            FailureKind::Failed,
            format!("reading the catalog of {target} failed"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_carry_no_credentials() {
        assert_eq!(
            display_name("postgres://reader:hunter2@db.internal:6543/warehouse?sslmode=require"),
            "postgres://db.internal:6543/warehouse"
        );
        assert_eq!(display_name("postgresql://u@db/w"), "postgresql://db/w");
        assert_eq!(
            display_name("sqlite:///tmp/shop.db"),
            "sqlite:///tmp/shop.db"
        );
        assert_eq!(display_name("not a url"), "database");
    }

    #[test]
    fn redaction_removes_the_url_and_the_password_however_encoded() {
        let url = "postgres://reader:p%40ss-word@db/w?password=other-secret";
        let text = format!("failed {url} with p@ss-word and p%40ss-word and other-secret");
        let clean = redact(&text, url);
        assert!(!clean.contains("p@ss-word"), "{clean}");
        assert!(!clean.contains("p%40ss-word"), "{clean}");
        assert!(!clean.contains("other-secret"), "{clean}");
        assert!(clean.contains("[connection string]"), "{clean}");
    }

    #[test]
    fn database_kinds_by_scheme() {
        assert_eq!(database_kind("postgres://x"), Some(DatabaseKind::Postgres));
        assert_eq!(
            database_kind("POSTGRESQL://x"),
            Some(DatabaseKind::Postgres)
        );
        assert_eq!(database_kind("sqlite:///x.db"), Some(DatabaseKind::Sqlite));
        assert_eq!(database_kind("mysql://x"), None);
    }
}
