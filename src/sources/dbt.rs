//! dbt artifacts: `target/manifest.json` (models, sources, seeds and snapshots with their
//! descriptions, column docs, tags, `meta`, tests and `depends_on`) and, optionally,
//! `target/catalog.json` (what `dbt docs generate` read from the warehouse: column types and
//! order, comments, row counts where the adapter gives them).
//!
//! - A dataset is named `<schema>.<alias>` (sources: `<schema>.<identifier>`), the name the
//!   warehouse knows it by, so a crawl of the same warehouse names it the same.
//! - `meta.owner` is the owner; `meta.sensitivity` and `meta.allowed_groups`, when given,
//!   state who may see it; `meta.domain` the domain.
//! - `depends_on` becomes the dataset property `lineage`: the upstream datasets' names,
//!   `;`-separated.
//! - A `relationships` test becomes the column's `references` (`dataset.column`); the names
//!   of the generic tests on a column are its `tests` property.
//! - Ephemeral models are not in the warehouse and are left out.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

use crate::catalog::{
    Catalog, CatalogPatch, Column, Dataset, InvalidCatalog, Problems, Sensitivity,
};

#[derive(Debug, Deserialize)]
struct Manifest {
    metadata: ManifestMetadata,
    nodes: BTreeMap<String, Node>,
    #[serde(default)]
    sources: BTreeMap<String, Node>,
}

#[derive(Debug, Deserialize)]
struct ManifestMetadata {
    #[serde(default)]
    dbt_schema_version: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Node {
    resource_type: String,
    name: String,
    schema: Option<String>,
    alias: Option<String>,
    identifier: Option<String>,
    description: Option<String>,
    columns: BTreeMap<String, NodeColumn>,
    meta: serde_json::Map<String, Value>,
    source_meta: serde_json::Map<String, Value>,
    tags: Vec<String>,
    config: NodeConfig,
    depends_on: DependsOn,
    relation_name: Option<String>,
    // Tests.
    test_metadata: Option<TestMetadata>,
    attached_node: Option<String>,
    column_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodeColumn {
    name: String,
    description: Option<String>,
    data_type: Option<String>,
    tags: Vec<String>,
    meta: serde_json::Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodeConfig {
    materialized: Option<String>,
    meta: serde_json::Map<String, Value>,
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DependsOn {
    nodes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TestMetadata {
    name: String,
    kwargs: serde_json::Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WarehouseCatalog {
    nodes: BTreeMap<String, WarehouseTable>,
    sources: BTreeMap<String, WarehouseTable>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WarehouseTable {
    metadata: WarehouseMetadata,
    columns: BTreeMap<String, WarehouseColumn>,
    stats: BTreeMap<String, WarehouseStat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WarehouseMetadata {
    #[serde(rename = "type")]
    kind: Option<String>,
    comment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WarehouseColumn {
    name: String,
    #[serde(rename = "type")]
    data_type: Option<String>,
    index: i64,
    comment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WarehouseStat {
    value: Value,
}

/// Reads dbt artifacts (at most `max_bytes` each) as a catalog. `manifest_name` and
/// `catalog_name` name the files in problems.
pub fn read(
    manifest: &Path,
    catalog: Option<&Path>,
    max_bytes: u64,
) -> Result<CatalogPatch, super::SourceError> {
    let manifest_name = manifest.display().to_string();
    let manifest_bytes = read_limited(manifest, max_bytes)?;
    let catalog_input = match catalog {
        Some(path) => Some((path.display().to_string(), read_limited(path, max_bytes)?)),
        None => None,
    };
    parse(
        &manifest_name,
        &manifest_bytes,
        catalog_input
            .as_ref()
            .map(|(n, b)| (n.as_str(), b.as_slice())),
    )
    .map_err(super::SourceError::Invalid)
}

fn read_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>, super::SourceError> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > max_bytes {
        let mut problems = Problems::default();
        problems.add(
            &path.display().to_string(),
            0,
            None,
            format!("the file is larger than the limit of {max_bytes} bytes"),
        );
        return Err(super::SourceError::Invalid(invalid(problems)));
    }
    Ok(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
}

fn json_problem(file: &str, error: &serde_json::Error, what: &str) -> InvalidCatalog {
    let mut problems = Problems::default();
    problems.add(
        file,
        error.line() as u64,
        None,
        format!("not a readable dbt {what}: {error}"),
    );
    invalid(problems)
}

fn invalid(problems: Problems) -> InvalidCatalog {
    problems.into_invalid()
}

/// Parses a manifest (and optionally the warehouse catalog `dbt docs generate` wrote).
pub fn parse(
    manifest_name: &str,
    manifest: &[u8],
    catalog: Option<(&str, &[u8])>,
) -> Result<CatalogPatch, InvalidCatalog> {
    let manifest: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| json_problem(manifest_name, &e, "manifest"))?;
    if !manifest.metadata.dbt_schema_version.contains("/manifest/") {
        let mut problems = Problems::default();
        problems.add(
            manifest_name,
            0,
            Some("metadata.dbt_schema_version"),
            format!(
                "not a dbt manifest (schema version `{}`)",
                manifest.metadata.dbt_schema_version
            ),
        );
        return Err(invalid(problems));
    }
    let warehouse: WarehouseCatalog = match catalog {
        Some((name, bytes)) => {
            serde_json::from_slice(bytes).map_err(|e| json_problem(name, &e, "catalog"))?
        }
        None => WarehouseCatalog::default(),
    };

    // Which unique ids become datasets, and their names.
    let mut names: HashMap<&str, String> = HashMap::new();
    let mut chosen: Vec<(&str, &Node)> = Vec::new();
    for (id, node) in manifest.nodes.iter().chain(manifest.sources.iter()) {
        let relation = match node.resource_type.as_str() {
            "model" | "seed" | "snapshot" => node.alias.as_deref().unwrap_or(&node.name),
            "source" => node.identifier.as_deref().unwrap_or(&node.name),
            _ => continue,
        };
        if node.config.enabled == Some(false)
            || node.config.materialized.as_deref() == Some("ephemeral")
        {
            continue;
        }
        let name = match node.schema.as_deref().filter(|s| !s.is_empty()) {
            Some(schema) => format!("{schema}.{relation}"),
            None => relation.to_string(),
        };
        names.insert(id.as_str(), name);
        chosen.push((id.as_str(), node));
    }

    // What the tests say about columns: (dataset id, column) → tests, references.
    let mut tests: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut references: HashMap<(String, String), Vec<String>> = HashMap::new();
    for node in manifest.nodes.values() {
        // Tests on sources have no attached node: their one dependency is the source.
        let attached = node
            .attached_node
            .as_ref()
            .or(match node.depends_on.nodes.as_slice() {
                [only] => Some(only),
                _ => None,
            });
        let (Some(meta), Some(attached)) = (&node.test_metadata, attached) else {
            continue;
        };
        let column = node
            .column_name
            .clone()
            .or_else(|| text(meta.kwargs.get("column_name")))
            .unwrap_or_default();
        if column.is_empty() {
            continue;
        }
        let key = (attached.clone(), column.to_lowercase());
        let list = tests.entry(key.clone()).or_default();
        if !list.contains(&meta.name) {
            list.push(meta.name.clone());
        }
        if meta.name == "relationships"
            && let Some(field) = text(meta.kwargs.get("field"))
        {
            let target = node
                .depends_on
                .nodes
                .iter()
                .find(|n| *n != attached)
                .unwrap_or(attached);
            if let Some(dataset) = names.get(target.as_str()) {
                references
                    .entry(key)
                    .or_default()
                    .push(format!("{dataset}.{field}"));
            }
        }
    }

    let mut datasets = Vec::with_capacity(chosen.len());
    let mut declared = Vec::with_capacity(chosen.len());
    for (id, node) in chosen {
        let table = warehouse
            .nodes
            .get(id)
            .or_else(|| warehouse.sources.get(id));
        let mut dataset = Dataset::new(names[id].clone());
        dataset.description = non_empty(node.description.as_deref())
            .or_else(|| table.and_then(|t| non_empty(t.metadata.comment.as_deref())));
        let meta = |key: &str| {
            node.meta
                .get(key)
                .or_else(|| node.config.meta.get(key))
                .or_else(|| node.source_meta.get(key))
        };
        dataset.owner = text(meta("owner"));
        dataset.domain = text(meta("domain"));
        dataset.location = node
            .relation_name
            .as_deref()
            .map(|r| r.replace(['"', '`'], ""));
        dataset.tags = dedup(&node.tags);
        let mut stated = false;
        if let Some(s) = text(meta("sensitivity")).and_then(|s| Sensitivity::parse(&s)) {
            dataset.sensitivity = s;
            stated = true;
        }
        dataset.allowed_groups = list(meta("allowed_groups"));
        dataset
            .properties
            .insert("dbt_resource_type".into(), node.resource_type.clone());
        dataset
            .properties
            .insert("dbt_unique_id".into(), id.to_string());
        if let Some(materialized) = &node.config.materialized {
            dataset
                .properties
                .insert("materialized".into(), materialized.clone());
        }
        if let Some(kind) = table.and_then(|t| t.metadata.kind.as_deref()) {
            let kind = if kind.to_ascii_lowercase().contains("view") {
                "view"
            } else {
                "table"
            };
            dataset.properties.insert("kind".into(), kind.into());
        }
        if let Some(rows) = table
            .and_then(|t| t.stats.get("row_count"))
            .and_then(|s| s.value.as_f64())
        {
            dataset
                .properties
                .insert("row_estimate".into(), format!("{}", rows.round() as i64));
        }
        let mut upstream: Vec<String> = Vec::new();
        for parent in &node.depends_on.nodes {
            if let Some(name) = names.get(parent.as_str())
                && !upstream.contains(name)
            {
                upstream.push(name.clone());
            }
        }
        if !upstream.is_empty() {
            dataset
                .properties
                .insert("lineage".into(), upstream.join(";"));
        }

        // Columns: the warehouse's, in its order, then documented ones it does not have.
        let mut columns: Vec<Column> = Vec::new();
        if let Some(table) = table {
            let mut found: Vec<&WarehouseColumn> = table.columns.values().collect();
            found.sort_by_key(|c| c.index);
            for c in found {
                columns.push(Column {
                    name: c.name.clone(),
                    description: non_empty(c.comment.as_deref()),
                    data_type: non_empty(c.data_type.as_deref()),
                    tags: Vec::new(),
                    properties: BTreeMap::new(),
                    references: Vec::new(),
                });
            }
        }
        for (key, documented) in &node.columns {
            let name = if documented.name.is_empty() {
                key
            } else {
                &documented.name
            };
            let at = match columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(name))
            {
                Some(at) => at,
                None => {
                    columns.push(Column {
                        name: name.clone(),
                        description: None,
                        data_type: None,
                        tags: Vec::new(),
                        properties: BTreeMap::new(),
                        references: Vec::new(),
                    });
                    columns.len() - 1
                }
            };
            let column = &mut columns[at];
            if let Some(d) = non_empty(documented.description.as_deref()) {
                column.description = Some(d);
            }
            if column.data_type.is_none() {
                column.data_type = non_empty(documented.data_type.as_deref());
            }
            column.tags = dedup(&documented.tags);
            for (k, v) in &documented.meta {
                if let Some(v) = text(Some(v)) {
                    column.properties.insert(property_key(k), v);
                }
            }
        }
        for column in &mut columns {
            let key = (id.to_string(), column.name.to_lowercase());
            if let Some(list) = tests.get(&key) {
                column.properties.insert("tests".into(), list.join(";"));
            }
            if let Some(list) = references.get(&key) {
                column
                    .properties
                    .insert("references".into(), list.join(";"));
            }
        }
        dataset.columns = columns;
        datasets.push(dataset);
        declared.push(stated);
    }
    if datasets.is_empty() {
        let mut problems = Problems::default();
        problems.add(
            manifest_name,
            0,
            Some("nodes"),
            "the manifest has no models, sources, seeds or snapshots",
        );
        return Err(invalid(problems));
    }
    Ok(CatalogPatch {
        catalog: Catalog::new(datasets),
        sensitivity_declared: declared,
        reference_sites: Vec::new(),
        term_sites: Vec::new(),
    })
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A scalar as text (strings, numbers, booleans); `None` for anything else or empty.
pub(super) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => non_empty(Some(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list given as a JSON list or a `;`/`,`-separated string.
fn list(value: Option<&Value>) -> Vec<String> {
    let items: Vec<String> = match value {
        Some(Value::Array(items)) => items.iter().filter_map(|v| text(Some(v))).collect(),
        Some(Value::String(s)) => s.split([';', ',']).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    dedup(&items)
}

fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(item)) {
            out.push(item.to_string());
        }
    }
    out
}

/// A property key as the CSV would name it: lowercase, spaces and dashes as `_`.
pub(super) fn property_key(key: &str) -> String {
    key.trim().to_lowercase().replace([' ', '-'], "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{
      "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
      "nodes": {
        "model.shop.orders": {
          "resource_type": "model", "name": "orders", "schema": "analytics", "alias": "orders",
          "description": "One row per order",
          "columns": {"customer_id": {"name": "customer_id", "description": "Who ordered"}},
          "meta": {"owner": "analytics-team"}, "tags": ["finance"],
          "config": {"materialized": "table", "meta": {}},
          "depends_on": {"nodes": ["source.shop.raw.orders", "model.shop.customers"]},
          "relation_name": "\"db\".\"analytics\".\"orders\""
        },
        "model.shop.customers": {
          "resource_type": "model", "name": "customers", "schema": "analytics",
          "config": {"materialized": "view", "meta": {"sensitivity": "confidential", "allowed_groups": ["crm"]}}
        },
        "model.shop.helper": {
          "resource_type": "model", "name": "helper", "schema": "analytics",
          "config": {"materialized": "ephemeral"}
        },
        "test.shop.relationships_orders_customer_id": {
          "resource_type": "test", "name": "relationships_orders_customer_id",
          "test_metadata": {"name": "relationships", "kwargs": {"to": "ref('customers')", "field": "id", "column_name": "customer_id"}},
          "attached_node": "model.shop.orders", "column_name": "customer_id",
          "depends_on": {"nodes": ["model.shop.customers", "model.shop.orders"]}
        },
        "test.shop.not_null_orders_customer_id": {
          "resource_type": "test", "name": "not_null_orders_customer_id",
          "test_metadata": {"name": "not_null", "kwargs": {"column_name": "customer_id"}},
          "attached_node": "model.shop.orders", "column_name": "customer_id",
          "depends_on": {"nodes": ["model.shop.orders"]}
        }
      },
      "sources": {
        "source.shop.raw.orders": {
          "resource_type": "source", "name": "orders", "schema": "raw", "identifier": "orders_v2",
          "description": "Raw orders", "source_meta": {"owner": "platform"}
        }
      }
    }"#;

    const CATALOG: &str = r#"{
      "nodes": {"model.shop.orders": {
        "metadata": {"type": "BASE TABLE"},
        "columns": {
          "order_id": {"name": "order_id", "type": "integer", "index": 1},
          "customer_id": {"name": "customer_id", "type": "integer", "index": 2}
        }}},
      "sources": {}
    }"#;

    #[test]
    fn models_sources_lineage_tests_and_types() {
        let patch = parse(
            "manifest.json",
            MANIFEST.as_bytes(),
            Some(("catalog.json", CATALOG.as_bytes())),
        )
        .unwrap();
        let names: Vec<&str> = patch
            .catalog
            .datasets
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["analytics.customers", "analytics.orders", "raw.orders_v2"]
        );
        let orders = &patch.catalog.datasets[1];
        assert_eq!(orders.owner.as_deref(), Some("analytics-team"));
        assert_eq!(orders.tags, vec!["finance".to_string()]);
        assert_eq!(orders.location.as_deref(), Some("db.analytics.orders"));
        assert_eq!(
            orders.properties["lineage"],
            "raw.orders_v2;analytics.customers"
        );
        assert_eq!(orders.properties["kind"], "table");
        let columns: Vec<&str> = orders.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(columns, ["order_id", "customer_id"]);
        let customer_id = &orders.columns[1];
        assert_eq!(customer_id.data_type.as_deref(), Some("integer"));
        assert_eq!(customer_id.description.as_deref(), Some("Who ordered"));
        assert_eq!(
            customer_id.properties["references"],
            "analytics.customers.id"
        );
        assert_eq!(customer_id.properties["tests"], "not_null;relationships");
        let customers = &patch.catalog.datasets[0];
        assert_eq!(customers.sensitivity, Sensitivity::Confidential);
        assert_eq!(customers.allowed_groups, vec!["crm".to_string()]);
        assert_eq!(patch.sensitivity_declared, vec![true, false, false]);
        assert_eq!(patch.catalog.datasets[2].owner.as_deref(), Some("platform"));
    }

    #[test]
    fn a_malformed_manifest_is_a_problem_with_its_line() {
        let broken = &MANIFEST[..MANIFEST.len() / 2];
        let err = parse("target/manifest.json", broken.as_bytes(), None).unwrap_err();
        assert_eq!(err.problems[0].file, "target/manifest.json");
        assert!(err.problems[0].line > 1, "{err}");
        let err = parse(
            "m.json",
            br#"{"metadata": {"dbt_schema_version": "x/catalog/v1"}, "nodes": {}}"#,
            None,
        )
        .unwrap_err();
        assert!(
            err.problems[0].message.contains("not a dbt manifest"),
            "{err}"
        );
    }
}
