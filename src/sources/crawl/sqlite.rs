//! The SQLite crawler: tables and views from `sqlite_master`, columns from
//! `pragma_table_info`, foreign keys from `pragma_foreign_key_list`, row estimates from
//! `sqlite_stat1` when `ANALYZE` has run. The file is opened read-only (and `query_only`),
//! never created. Datasets are named `<file stem>.<table>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::postgres::add_reference;
use super::{CrawlOptions, Failure, classify};
use crate::catalog::{Catalog, Column, Dataset};
use crate::sources::FailureKind;
use crate::sources::glob::excluded;

#[derive(sqlx::FromRow)]
struct ObjectRow {
    kind: String,
    name: String,
}

#[derive(sqlx::FromRow)]
struct ColumnRow {
    name: String,
    data_type: String,
    not_null: i64,
    pk: i64,
}

#[derive(sqlx::FromRow)]
struct ForeignKeyRow {
    table: String,
    from: String,
    to: Option<String>,
}

/// The file a `sqlite:` URL names (`sqlite:///abs/file.db`, `sqlite://rel.db`,
/// `sqlite:rel.db`), without its query.
pub(super) fn path_of(url: &str) -> PathBuf {
    let rest = url.trim();
    let rest = rest
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sqlite:"))
        .map_or(rest, |_| &rest[7..]);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    PathBuf::from(rest)
}

pub(super) async fn crawl(url: &str, options: &CrawlOptions) -> Result<Catalog, Failure> {
    if !options.schemas.is_empty() {
        return Err(Failure::new(
            FailureKind::Configuration,
            "schemas do not apply to SQLite (a file is one schema)",
        ));
    }
    let path = path_of(url);
    let target = path.display().to_string();
    if !path.is_file() {
        return Err(Failure::new(
            FailureKind::NotFound,
            format!("no SQLite database at {target}"),
        ));
    }
    let prefix = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sqlite".into());
    let connect = SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .create_if_missing(false);
    let mut conn = match tokio::time::timeout(
        options.connect_timeout,
        SqliteConnection::connect_with(&connect),
    )
    .await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(classify(&e, &target)),
        Err(_) => {
            return Err(Failure::new(
                FailureKind::Timeout,
                format!("opening {target} took too long"),
            ));
        }
    };
    let result = tokio::time::timeout(
        options.statement_timeout,
        read(&mut conn, &path, &prefix, options),
    )
    .await
    .unwrap_or_else(|_| {
        Err(Failure::new(
            FailureKind::Timeout,
            "reading the catalog ran past the statement timeout",
        ))
    });
    let _ = conn.close().await;
    result
}

async fn read(
    conn: &mut SqliteConnection,
    path: &Path,
    prefix: &str,
    options: &CrawlOptions,
) -> Result<Catalog, Failure> {
    let target = path.display().to_string();
    let fail = |e: sqlx::Error| classify(&e, &target);
    sqlx::raw_sql("PRAGMA query_only = ON")
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    let objects: Vec<ObjectRow> = sqlx::query_as(
        "SELECT type AS kind, name FROM sqlite_master \
         WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(fail)?;
    let has_stats: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(fail)?;
    let mut estimates: BTreeMap<String, i64> = BTreeMap::new();
    if has_stats.is_some() {
        let stats: Vec<(String, String)> = sqlx::query_as("SELECT tbl, stat FROM sqlite_stat1")
            .fetch_all(&mut *conn)
            .await
            .map_err(fail)?;
        for (table, stat) in stats {
            if let Some(rows) = stat.split_whitespace().next().and_then(|n| n.parse().ok()) {
                estimates.entry(table.to_lowercase()).or_insert(rows);
            }
        }
    }
    let location = format!("sqlite://{}", path.display());
    let mut datasets = Vec::new();
    let mut primary_keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut foreign_keys: Vec<(usize, Vec<ForeignKeyRow>)> = Vec::new();
    for object in objects {
        let qualified = format!("{prefix}.{}", object.name);
        if excluded(&options.exclude, &object.name, &qualified) {
            continue;
        }
        let is_view = object.kind == "view";
        let columns: Vec<ColumnRow> = sqlx::query_as(
            "SELECT name, type AS data_type, \"notnull\" AS not_null, pk \
             FROM pragma_table_info(?1) ORDER BY cid",
        )
        .bind(&object.name)
        .fetch_all(&mut *conn)
        .await
        .map_err(fail)?;
        let mut dataset = Dataset::new(qualified);
        dataset.location = Some(format!("{location}#{}", object.name));
        dataset
            .properties
            .insert("kind".into(), if is_view { "view" } else { "table" }.into());
        if let Some(rows) = estimates.get(&object.name.to_lowercase()) {
            dataset
                .properties
                .insert("row_estimate".into(), rows.to_string());
        }
        let mut pk: Vec<(i64, String)> = Vec::new();
        for column in columns {
            let mut properties = BTreeMap::new();
            if !is_view {
                let nullable = column.not_null == 0 && column.pk == 0;
                properties.insert("nullable".to_string(), nullable.to_string());
            }
            if column.pk > 0 {
                properties.insert("primary_key".to_string(), "true".to_string());
                pk.push((column.pk, column.name.clone()));
            }
            let data_type = column.data_type.trim().to_string();
            dataset.columns.push(Column {
                name: column.name,
                description: None,
                data_type: (!data_type.is_empty()).then_some(data_type),
                tags: Vec::new(),
                properties,
                references: Vec::new(),
            });
        }
        pk.sort();
        let pk: Vec<String> = pk.into_iter().map(|(_, name)| name).collect();
        if !pk.is_empty() {
            dataset
                .properties
                .insert("primary_key".into(), pk.join(";"));
        }
        primary_keys.insert(object.name.to_lowercase(), pk);
        if !is_view {
            let keys: Vec<ForeignKeyRow> = sqlx::query_as(
                "SELECT \"table\" AS \"table\", \"from\" AS \"from\", \"to\" AS \"to\" \
                 FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
            )
            .bind(&object.name)
            .fetch_all(&mut *conn)
            .await
            .map_err(fail)?;
            foreign_keys.push((datasets.len(), keys));
        }
        datasets.push(dataset);
    }
    // A foreign key without target columns refers to the target's primary key.
    for (at, keys) in foreign_keys {
        let mut implicit: BTreeMap<String, usize> = BTreeMap::new();
        for key in keys {
            let to = match key.to {
                Some(to) if !to.is_empty() => Some(to),
                _ => {
                    let n = implicit.entry(key.table.to_lowercase()).or_insert(0);
                    let target = primary_keys
                        .get(&key.table.to_lowercase())
                        .and_then(|pk| pk.get(*n))
                        .cloned();
                    *n += 1;
                    target
                }
            };
            let Some(to) = to else { continue };
            let target = format!("{prefix}.{}.{to}", key.table);
            if let Some(column) = datasets[at]
                .columns
                .iter_mut()
                .find(|c| c.name.eq_ignore_ascii_case(&key.from))
            {
                add_reference(&mut column.properties, &target);
            }
        }
    }
    Ok(Catalog::new(datasets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_sqlite_urls() {
        assert_eq!(path_of("sqlite:///tmp/a.db"), PathBuf::from("/tmp/a.db"));
        assert_eq!(
            path_of("sqlite://rel/a.db?mode=ro"),
            PathBuf::from("rel/a.db")
        );
        assert_eq!(path_of("sqlite:a.db"), PathBuf::from("a.db"));
        assert_eq!(path_of("SQLITE:///x.db"), PathBuf::from("/x.db"));
    }
}
