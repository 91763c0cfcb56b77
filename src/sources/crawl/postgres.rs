//! The PostgreSQL crawler: tables, partitioned tables, views, materialized views and foreign
//! tables of the chosen schemas, with their columns (types, nullability), comments, primary
//! and foreign keys, row estimates and last-analyzed times, all from `pg_catalog`.
//!
//! One connection; `SET statement_timeout`; every query inside one `READ ONLY` transaction
//! that is rolled back. `pg_catalog` is readable by every role, so the crawl user needs only
//! `CONNECT` on the database and `USAGE` on the schemas.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::{CrawlOptions, Failure, classify};
use crate::catalog::{Catalog, Column, Dataset};
use crate::sources::FailureKind;
use crate::sources::glob::excluded;

#[derive(sqlx::FromRow)]
struct SchemaRow {
    name: String,
    usable: bool,
}

#[derive(sqlx::FromRow)]
struct RelationRow {
    oid: i64,
    schema: String,
    name: String,
    kind: String,
    description: Option<String>,
    reltuples: f64,
    last_analyzed: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ColumnRow {
    oid: i64,
    name: String,
    data_type: String,
    not_null: bool,
    description: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ConstraintRow {
    kind: String,
    oid: i64,
    columns: Vec<String>,
    ref_schema: Option<String>,
    ref_table: Option<String>,
    ref_columns: Vec<String>,
}

const SCHEMAS: &str = "SELECT n.nspname::text AS name, \
     has_schema_privilege(n.oid, 'USAGE') AS usable \
     FROM pg_namespace n \
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
     AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%' \
     ORDER BY n.nspname";

const RELATIONS: &str = "SELECT c.oid::bigint AS oid, n.nspname::text AS schema, \
     c.relname::text AS name, c.relkind::text AS kind, d.description, \
     c.reltuples::float8 AS reltuples, \
     to_char(GREATEST(pg_stat_get_last_analyze_time(c.oid), \
                      pg_stat_get_last_autoanalyze_time(c.oid)) AT TIME ZONE 'UTC', \
             'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS last_analyzed \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass \
          AND d.objsubid = 0 \
     WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
     AND NOT c.relispartition \
     ORDER BY n.nspname, c.relname";

const COLUMNS: &str = "SELECT a.attrelid::bigint AS oid, a.attname::text AS name, \
     format_type(a.atttypid, a.atttypmod) AS data_type, a.attnotnull AS not_null, \
     d.description \
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_description d ON d.objoid = a.attrelid \
          AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum \
     WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
     AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attrelid, a.attnum";

const CONSTRAINTS: &str = "SELECT con.contype::text AS kind, con.conrelid::bigint AS oid, \
     ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, i) \
           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num \
           ORDER BY k.i) AS columns, \
     fn.nspname::text AS ref_schema, fc.relname::text AS ref_table, \
     ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(num, i) \
           JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num \
           ORDER BY k.i) AS ref_columns \
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_class fc ON fc.oid = con.confrelid \
     LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
     WHERE n.nspname = ANY($1) AND con.contype IN ('p', 'f') \
     ORDER BY con.conrelid, con.conname";

fn kind_name(relkind: &str) -> &'static str {
    match relkind {
        "p" => "partitioned_table",
        "v" => "view",
        "m" => "materialized_view",
        "f" => "foreign_table",
        _ => "table",
    }
}

pub(super) async fn crawl(url: &str, options: &CrawlOptions) -> Result<Catalog, Failure> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|_| {
            Failure::new(
                FailureKind::Configuration,
                "the connection string is not valid",
            )
        })?
        .application_name("descoberta-crawl");
    let database = connect.get_database().unwrap_or("postgres").to_string();
    let target = format!("{}:{}/{database}", connect.get_host(), connect.get_port());
    let location_prefix = format!("postgres://{target}");
    let mut conn = match tokio::time::timeout(
        options.connect_timeout,
        PgConnection::connect_with(&connect),
    )
    .await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(classify(&e, &target)),
        Err(_) => {
            return Err(Failure::new(
                FailureKind::Timeout,
                format!("connecting to {target} took too long"),
            ));
        }
    };
    let result = read(&mut conn, &target, &location_prefix, options).await;
    // Best effort: the transaction is rolled back and the connection closed either way.
    let _ = conn.close().await;
    result
}

async fn read(
    conn: &mut PgConnection,
    target: &str,
    location_prefix: &str,
    options: &CrawlOptions,
) -> Result<Catalog, Failure> {
    let timeout_ms = options.statement_timeout.as_millis().max(1);
    let setup = format!(
        "SET statement_timeout = {timeout_ms}; SET lock_timeout = {timeout_ms}; \
         SET default_transaction_read_only = on; START TRANSACTION READ ONLY"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut *conn)
        .await
        .map_err(|e| classify(&e, target))?;

    let schemas: Vec<SchemaRow> = sqlx::query_as(SCHEMAS)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| classify(&e, target))?;
    let chosen = choose_schemas(&schemas, &options.schemas)?;

    let relations: Vec<RelationRow> = sqlx::query_as(RELATIONS)
        .bind(chosen.clone())
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| classify(&e, target))?;
    let columns: Vec<ColumnRow> = sqlx::query_as(COLUMNS)
        .bind(chosen.clone())
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| classify(&e, target))?;
    let constraints: Vec<ConstraintRow> = sqlx::query_as(CONSTRAINTS)
        .bind(chosen.clone())
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| classify(&e, target))?;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut *conn)
        .await
        .map_err(|e| classify(&e, target))?;

    Ok(assemble(
        relations,
        columns,
        constraints,
        location_prefix,
        options,
    ))
}

/// The schemas to crawl: those asked for (each must exist and be usable), or every usable
/// one.
fn choose_schemas(available: &[SchemaRow], asked: &[String]) -> Result<Vec<String>, Failure> {
    if asked.is_empty() {
        return Ok(available
            .iter()
            .filter(|s| s.usable)
            .map(|s| s.name.clone())
            .collect());
    }
    let mut chosen = Vec::with_capacity(asked.len());
    for name in asked {
        match available.iter().find(|s| &s.name == name) {
            None => {
                return Err(Failure::new(
                    FailureKind::NotFound,
                    format!("schema `{name}` does not exist"),
                ));
            }
            Some(schema) if !schema.usable => {
                return Err(Failure::new(
                    FailureKind::PermissionDenied,
                    format!(
                        "permission denied for schema `{name}`: the crawl user needs USAGE on it"
                    ),
                ));
            }
            Some(schema) => chosen.push(schema.name.clone()),
        }
    }
    Ok(chosen)
}

fn assemble(
    relations: Vec<RelationRow>,
    columns: Vec<ColumnRow>,
    constraints: Vec<ConstraintRow>,
    location_prefix: &str,
    options: &CrawlOptions,
) -> Catalog {
    let mut by_oid: HashMap<i64, usize> = HashMap::with_capacity(relations.len());
    let mut datasets: Vec<Dataset> = Vec::with_capacity(relations.len());
    let mut is_view: Vec<bool> = Vec::with_capacity(relations.len());
    for relation in relations {
        let qualified = format!("{}.{}", relation.schema, relation.name);
        if excluded(&options.exclude, &relation.name, &qualified) {
            continue;
        }
        let kind = kind_name(&relation.kind);
        let mut dataset = Dataset::new(qualified.clone());
        dataset.description = relation.description.filter(|d| !d.trim().is_empty());
        dataset.domain = Some(relation.schema.clone());
        dataset.location = Some(format!("{location_prefix}/{qualified}"));
        dataset.properties.insert("kind".into(), kind.into());
        if kind != "view" && relation.reltuples >= 0.0 {
            dataset.properties.insert(
                "row_estimate".into(),
                format!("{}", relation.reltuples.round() as i64),
            );
        }
        if let Some(at) = relation.last_analyzed {
            dataset.properties.insert("last_analyzed".into(), at);
        }
        by_oid.insert(relation.oid, datasets.len());
        is_view.push(kind == "view");
        datasets.push(dataset);
    }
    for column in columns {
        let Some(&at) = by_oid.get(&column.oid) else {
            continue;
        };
        let mut properties = BTreeMap::new();
        if !is_view[at] {
            properties.insert("nullable".to_string(), (!column.not_null).to_string());
        }
        datasets[at].columns.push(Column {
            name: column.name,
            description: column.description.filter(|d| !d.trim().is_empty()),
            data_type: Some(column.data_type),
            tags: Vec::new(),
            properties,
            references: Vec::new(),
        });
    }
    for constraint in constraints {
        let Some(&at) = by_oid.get(&constraint.oid) else {
            continue;
        };
        let dataset = &mut datasets[at];
        if constraint.kind == "p" {
            dataset
                .properties
                .insert("primary_key".into(), constraint.columns.join(";"));
            for name in &constraint.columns {
                if let Some(column) = dataset.columns.iter_mut().find(|c| &c.name == name) {
                    column
                        .properties
                        .insert("primary_key".into(), "true".into());
                }
            }
            continue;
        }
        let (Some(schema), Some(table)) = (&constraint.ref_schema, &constraint.ref_table) else {
            continue;
        };
        for (from, to) in constraint.columns.iter().zip(&constraint.ref_columns) {
            let target = format!("{schema}.{table}.{to}");
            if let Some(column) = dataset.columns.iter_mut().find(|c| &c.name == from) {
                add_reference(&mut column.properties, &target);
            }
        }
    }
    Catalog::new(datasets)
}

/// Adds `target` to a column's `references` (`;`-separated, each once).
pub(super) fn add_reference(properties: &mut BTreeMap<String, String>, target: &str) {
    let entry = properties.entry("references".into()).or_default();
    if entry.split(';').any(|t| t.eq_ignore_ascii_case(target)) {
        return;
    }
    if !entry.is_empty() {
        entry.push(';');
    }
    entry.push_str(target);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(name: &str, usable: bool) -> SchemaRow {
        SchemaRow {
            name: name.into(),
            usable,
        }
    }

    #[test]
    fn asked_schemas_must_exist_and_be_usable() {
        let available = [schema("sales", true), schema("secret", false)];
        assert_eq!(
            choose_schemas(&available, &[]).unwrap(),
            vec!["sales".to_string()]
        );
        let denied = choose_schemas(&available, &["secret".into()]).unwrap_err();
        assert_eq!(denied.kind, FailureKind::PermissionDenied);
        assert!(denied.message.contains("secret"), "{}", denied.message);
        let missing = choose_schemas(&available, &["nope".into()]).unwrap_err();
        assert_eq!(missing.kind, FailureKind::NotFound);
    }

    #[test]
    fn references_are_listed_once() {
        let mut properties = BTreeMap::new();
        add_reference(&mut properties, "crm.customers.id");
        add_reference(&mut properties, "crm.customers.id");
        add_reference(&mut properties, "crm.accounts.id");
        assert_eq!(properties["references"], "crm.customers.id;crm.accounts.id");
    }
}
