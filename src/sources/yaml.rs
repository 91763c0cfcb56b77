//! YAML data dictionaries, in the shapes data teams already keep (`metadata/README.md` has the
//! full description and examples):
//!
//! - a dictionary: `datasets:` (or `tables:`, or a data package's `resources:`), each with a
//!   `name`, `description`, `owner`, `tags`, ..., and `fields:` (or `columns:`);
//! - one dataset per document: top-level `fields:` (a Table Schema), named by `name:` or
//!   after its file (a file called `data_dict`, `schema` or `dictionary` is named after its
//!   directory);
//! - dbt-style `schema.yml`: `models:`, `seeds:`, `snapshots:` and `sources:` with `tables:`.
//!
//! `fields` is a list of `{name, description, type, ...}` or a mapping from field name to a
//! description (or to such an object). Several files describing the same dataset (a
//! `data_dict.yaml` with descriptions and a `schema.yaml` with types) are merged: each fills
//! what the others left empty, and two different values for one field are a problem. Keys we
//! do not know are kept as properties, as in the CSV.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_yaml_ng::Value;

use super::dbt::property_key;
use crate::catalog::{
    Catalog, CatalogPatch, Column, Dataset, InvalidCatalog, Problems, Sensitivity,
};

/// Parses YAML files (display name, path to name the dataset after, text) as one catalog.
pub fn parse(files: &[(String, &Path, String)]) -> Result<CatalogPatch, InvalidCatalog> {
    let mut problems = Problems::default();
    let mut datasets: Vec<Dataset> = Vec::new();
    let mut declared: Vec<bool> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (file, path, text) in files {
        let mut found: Vec<(Dataset, bool, u64)> = Vec::new();
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let value = match serde::Deserialize::deserialize(document) {
                Ok(value) => value,
                Err(e) => {
                    let e: serde_yaml_ng::Error = e;
                    let line = e.location().map_or(0, |l| l.line() as u64);
                    problems.add(file, line, None, format!("malformed YAML: {e}"));
                    break;
                }
            };
            let mut reader = Reader {
                file,
                text,
                problems: &mut problems,
                out: &mut found,
            };
            reader.document(&value, path);
        }
        let mut seen_here: HashMap<String, u64> = HashMap::new();
        for (dataset, stated, line) in found {
            let key = dataset.name.to_lowercase();
            if let Some(first) = seen_here.insert(key.clone(), line) {
                problems.add(
                    file,
                    line,
                    Some("name"),
                    format!(
                        "dataset `{}` is described twice in this file (first at line {first})",
                        dataset.name
                    ),
                );
                continue;
            }
            match by_name.get(&key) {
                Some(&at) => {
                    let sensitivity = match (declared[at], stated) {
                        (true, true) => datasets[at].sensitivity.max(dataset.sensitivity),
                        (false, true) => dataset.sensitivity,
                        _ => datasets[at].sensitivity,
                    };
                    merge_into(&mut datasets[at], dataset, file, line, text, &mut problems);
                    datasets[at].sensitivity = sensitivity;
                    declared[at] |= stated;
                }
                None => {
                    by_name.insert(key, datasets.len());
                    datasets.push(dataset);
                    declared.push(stated);
                }
            }
        }
    }
    if files.is_empty() {
        problems.add("", 0, None, "no YAML files to load");
    } else if datasets.is_empty() && problems.is_empty() {
        problems.add(
            &files[0].0,
            0,
            None,
            "no datasets found (expected `datasets:`, `fields:`, `models:` or `sources:`)",
        );
    }
    problems.into_result()?;
    Ok(CatalogPatch {
        catalog: Catalog::new(datasets),
        sensitivity_declared: declared,
        reference_sites: Vec::new(),
        term_sites: Vec::new(),
    })
}

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
    problems: &'a mut Problems,
    out: &'a mut Vec<(Dataset, bool, u64)>,
}

/// Keys of a dataset that are not properties.
const DATASET_KEYS: &[&str] = &[
    "name",
    "dataset",
    "table",
    "description",
    "desc",
    "owner",
    "domain",
    "location",
    "sensitivity",
    "classification",
    "allowed_groups",
    "groups",
    "tags",
    "fields",
    "columns",
    "schema",
    "meta",
    "config",
    "identifier",
    "tests",
    "data_tests",
    "title",
];

/// Keys of a field that are not properties.
const FIELD_KEYS: &[&str] = &[
    "name",
    "column",
    "field",
    "description",
    "desc",
    "type",
    "data_type",
    "tags",
    "meta",
    "tests",
    "data_tests",
    "constraints",
    "title",
];

fn get<'v>(map: &'v serde_yaml_ng::Mapping, keys: &[&str]) -> Option<&'v Value> {
    keys.iter().find_map(|k| map.get(*k))
}

fn scalar(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Tagged(t) => return scalar(Some(&t.value)),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

fn list(value: Option<&Value>) -> Vec<String> {
    let raw: Vec<String> = match value {
        Some(Value::Sequence(items)) => items.iter().filter_map(|v| scalar(Some(v))).collect(),
        Some(v) => scalar(Some(v))
            .map(|s| s.split([';', ',']).map(str::to_string).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for item in raw.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(item)) {
            out.push(item.to_string());
        }
    }
    out
}

/// First line (1-based) at or after `from` whose key or value is `needle` (`name: x`,
/// `- name: "x"`, `x:`); `from` when none is.
fn line_of(text: &str, needle: &str, from: u64) -> u64 {
    let unquote = |v: &str| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find(|(_, line)| {
            let line = line.trim_start();
            let line = line.strip_prefix("- ").unwrap_or(line);
            match line.split_once(':') {
                Some((key, value)) => unquote(key) == needle || unquote(value) == needle,
                None => unquote(line) == needle,
            }
        })
        .map_or(from, |(i, _)| i as u64 + 1)
}

/// The name a document without `name:` gets: its file's stem, or its directory's for the
/// conventional file names of a dictionary pair.
fn name_from_path(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_string_lossy().to_string();
    let conventional = [
        "data_dict",
        "data_dictionary",
        "dictionary",
        "schema",
        "datapackage",
    ];
    if conventional.contains(&stem.to_lowercase().as_str()) {
        let dir = path.parent()?.file_name()?.to_string_lossy().to_string();
        return (!dir.is_empty()).then_some(dir);
    }
    Some(stem)
}

impl Reader<'_> {
    fn document(&mut self, value: &Value, path: &Path) {
        let Value::Mapping(map) = value else {
            if !matches!(value, Value::Null) {
                self.problems.add(
                    self.file,
                    1,
                    None,
                    "expected a mapping (`datasets:`, `fields:`, `models:` or `sources:`)",
                );
            }
            return;
        };
        let mut any = false;
        for key in [
            "datasets",
            "tables",
            "resources",
            "models",
            "seeds",
            "snapshots",
        ] {
            if let Some(items) = map.get(key) {
                any = true;
                self.datasets(items, key, None);
            }
        }
        if let Some(sources) = map.get("sources") {
            any = true;
            match sources {
                Value::Sequence(sources) => {
                    for source in sources {
                        let Value::Mapping(source) = source else {
                            continue;
                        };
                        let prefix = scalar(get(source, &["schema"]))
                            .or_else(|| scalar(get(source, &["name"])));
                        if let Some(tables) = source.get("tables") {
                            self.datasets(tables, "sources.tables", prefix.as_deref());
                        }
                    }
                }
                _ => self
                    .problems
                    .add(self.file, 1, Some("sources"), "expected a list"),
            }
        }
        if !any && get(map, &["fields", "columns"]).is_some() {
            let name =
                scalar(get(map, &["name", "dataset", "table"])).or_else(|| name_from_path(path));
            self.dataset(map, name, "fields");
        }
    }

    fn datasets(&mut self, items: &Value, key: &str, prefix: Option<&str>) {
        match items {
            Value::Sequence(items) => {
                for item in items {
                    match item {
                        Value::Mapping(map) => {
                            let name = scalar(get(map, &["identifier"]))
                                .or_else(|| scalar(get(map, &["name", "dataset", "table"])))
                                .map(|n| match prefix {
                                    Some(p) => format!("{p}.{n}"),
                                    None => n,
                                });
                            self.dataset(map, name, key);
                        }
                        _ => self.problems.add(
                            self.file,
                            1,
                            Some(key),
                            "each dataset must be a mapping with a `name`",
                        ),
                    }
                }
            }
            Value::Mapping(map) => {
                // `datasets: {sales.orders: {...}}`: a mapping from name to dataset.
                for (name, body) in map {
                    let name = scalar(Some(name));
                    match body {
                        Value::Mapping(body) => self.dataset(body, name, key),
                        _ => self.problems.add(
                            self.file,
                            1,
                            Some(key),
                            "each dataset must be a mapping",
                        ),
                    }
                }
            }
            _ => self
                .problems
                .add(self.file, 1, Some(key), "expected a list of datasets"),
        }
    }

    fn dataset(&mut self, map: &serde_yaml_ng::Mapping, name: Option<String>, key: &str) {
        let Some(name) = name else {
            self.problems
                .add(self.file, 1, Some(key), "a dataset has no `name`");
            return;
        };
        let line = line_of(self.text, &name, 1);
        if name.chars().any(char::is_control) || name.chars().count() > 512 {
            self.problems
                .add(self.file, line, Some("name"), "invalid dataset name");
            return;
        }
        let meta = match map.get("meta") {
            Some(Value::Mapping(m)) => Some(m),
            _ => None,
        };
        let config_meta = match map.get("config") {
            Some(Value::Mapping(c)) => match c.get("meta") {
                Some(Value::Mapping(m)) => Some(m),
                _ => None,
            },
            _ => None,
        };
        let field = |keys: &[&str]| {
            get(map, keys)
                .or_else(|| meta.and_then(|m| get(m, keys)))
                .or_else(|| config_meta.and_then(|m| get(m, keys)))
        };
        let mut dataset = Dataset::new(name.clone());
        dataset.description = scalar(field(&["description", "desc"]));
        dataset.owner = scalar(field(&["owner"]));
        dataset.domain = scalar(field(&["domain"]));
        dataset.location = scalar(field(&["location"]));
        dataset.tags = list(field(&["tags"]));
        dataset.allowed_groups = list(field(&["allowed_groups", "groups"]));
        let mut stated = false;
        if let Some(value) = scalar(field(&["sensitivity", "classification"])) {
            match Sensitivity::parse(&value) {
                Some(s) => {
                    dataset.sensitivity = s;
                    stated = true;
                }
                None => {
                    self.problems.add(
                        self.file,
                        line_of(self.text, &value, line),
                        Some("sensitivity"),
                        format!(
                            "unknown sensitivity `{value}` (expected public, internal, confidential or restricted)"
                        ),
                    );
                    return;
                }
            }
        }
        for (k, v) in map {
            let Some(k) = scalar(Some(k)) else { continue };
            if DATASET_KEYS.contains(&k.to_lowercase().as_str()) {
                continue;
            }
            if let Some(v) = scalar(Some(v)) {
                dataset.properties.insert(property_key(&k), v);
            }
        }
        // A data package resource keeps its fields under `schema:`.
        let fields = get(map, &["fields", "columns"]).or_else(|| match map.get("schema") {
            Some(Value::Mapping(schema)) => schema.get("fields"),
            _ => None,
        });
        let mut seen: HashMap<String, u64> = HashMap::new();
        // Fields come in file order: each is looked for after the one before.
        let mut cursor = line;
        let mut add = |reader: &mut Self, column: Option<Column>, hint: &str| {
            let Some(column) = column else { return };
            let at = line_of(reader.text, hint, cursor);
            cursor = at + 1;
            if let Some(first) = seen.insert(column.name.to_lowercase(), at) {
                reader.problems.add(
                    reader.file,
                    at,
                    Some("fields"),
                    format!(
                        "duplicate field `{}` in dataset `{name}` (first at line {first})",
                        column.name
                    ),
                );
                return;
            }
            dataset.columns.push(column);
        };
        match fields {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(items)) => {
                for item in items {
                    let column = self.column(item, None, &name, line);
                    let hint = column.as_ref().map(|c| c.name.clone()).unwrap_or_default();
                    add(self, column, &hint);
                }
            }
            Some(Value::Mapping(items)) => {
                for (field_name, body) in items {
                    let field_name = scalar(Some(field_name));
                    let column = self.column(body, field_name, &name, line);
                    let hint = column.as_ref().map(|c| c.name.clone()).unwrap_or_default();
                    add(self, column, &hint);
                }
            }
            Some(_) => self.problems.add(
                self.file,
                line,
                Some("fields"),
                "expected a list of fields or a mapping from field name to description",
            ),
        }
        self.out.push((dataset, stated, line));
    }

    fn column(
        &mut self,
        value: &Value,
        name: Option<String>,
        dataset: &str,
        dataset_line: u64,
    ) -> Option<Column> {
        let mut column = Column {
            name: String::new(),
            description: None,
            data_type: None,
            tags: Vec::new(),
            properties: BTreeMap::new(),
            references: Vec::new(),
        };
        match value {
            Value::Mapping(map) => {
                let name = name.or_else(|| scalar(get(map, &["name", "column", "field"])));
                let Some(name) = name else {
                    self.problems.add(
                        self.file,
                        dataset_line,
                        Some("fields"),
                        format!("a field of `{dataset}` has no `name`"),
                    );
                    return None;
                };
                column.name = name;
                column.description = scalar(get(map, &["description", "desc", "title"]));
                column.data_type = scalar(get(map, &["type", "data_type"]));
                column.tags = list(get(map, &["tags"]));
                let references = list(get(map, &["references"]));
                for (k, v) in map {
                    let Some(k) = scalar(Some(k)) else { continue };
                    let lower = k.to_lowercase();
                    if FIELD_KEYS.contains(&lower.as_str()) || lower == "references" {
                        continue;
                    }
                    if let Some(v) = scalar(Some(v)) {
                        column.properties.insert(property_key(&k), v);
                    }
                }
                if !references.is_empty() {
                    column
                        .properties
                        .insert("references".into(), references.join(";"));
                }
                let tests: Vec<String> = match get(map, &["tests", "data_tests"]) {
                    Some(Value::Sequence(tests)) => tests
                        .iter()
                        .filter_map(|t| match t {
                            Value::Mapping(m) => m.keys().next().and_then(|k| scalar(Some(k))),
                            other => scalar(Some(other)),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if !tests.is_empty() {
                    column.properties.insert("tests".into(), tests.join(";"));
                }
            }
            other => {
                // `fields: {customer_id: Unique customer key}`.
                let Some(name) = name else {
                    self.problems.add(
                        self.file,
                        dataset_line,
                        Some("fields"),
                        format!("a field of `{dataset}` has no `name`"),
                    );
                    return None;
                };
                column.name = name;
                column.description = scalar(Some(other));
            }
        }
        if column.name.chars().any(char::is_control) || column.name.chars().count() > 512 {
            self.problems.add(
                self.file,
                dataset_line,
                Some("fields"),
                format!("invalid field name in `{dataset}`"),
            );
            return None;
        }
        Some(column)
    }
}

/// The second description of a dataset (another file of a dictionary pair) filled into the
/// first; two different values for one field are a problem.
fn merge_into(
    into: &mut Dataset,
    from: Dataset,
    file: &str,
    line: u64,
    text: &str,
    problems: &mut Problems,
) {
    let name = into.name.clone();
    for (slot, value, field) in [
        (&mut into.description, from.description, "description"),
        (&mut into.owner, from.owner, "owner"),
        (&mut into.domain, from.domain, "domain"),
        (&mut into.location, from.location, "location"),
    ] {
        match (slot.as_deref(), value) {
            (None, value) => *slot = value,
            (Some(a), Some(b)) if a != b => problems.add(
                file,
                line,
                Some(field),
                format!("`{field}` of `{name}` is `{b}` here but `{a}` in another file"),
            ),
            _ => {}
        }
    }
    if into.tags.is_empty() {
        into.tags = from.tags;
    }
    if into.allowed_groups.is_empty() {
        into.allowed_groups = from.allowed_groups;
    }
    for (k, v) in from.properties {
        into.properties.entry(k).or_insert(v);
    }
    for column in from.columns {
        let at = line_of(text, &column.name, line);
        match into
            .columns
            .iter_mut()
            .find(|c| c.name.eq_ignore_ascii_case(&column.name))
        {
            None => into.columns.push(column),
            Some(existing) => {
                for (slot, value, field) in [
                    (&mut existing.description, column.description, "description"),
                    (&mut existing.data_type, column.data_type, "type"),
                ] {
                    match (slot.as_deref(), value) {
                        (None, value) => *slot = value,
                        (Some(a), Some(b)) if a != b => problems.add(
                            file,
                            at,
                            Some(field),
                            format!(
                                "`{field}` of field `{}` is `{b}` here but `{a}` in another file",
                                existing.name
                            ),
                        ),
                        _ => {}
                    }
                }
                if existing.tags.is_empty() {
                    existing.tags = column.tags;
                }
                for (k, v) in column.properties {
                    existing.properties.entry(k).or_insert(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(file: &str, text: &str) -> Result<CatalogPatch, InvalidCatalog> {
        parse(&[(file.to_string(), Path::new(file), text.to_string())])
    }

    #[test]
    fn a_dictionary_of_datasets_and_fields() {
        let patch = one(
            "dictionary.yaml",
            "datasets:\n\
             \x20 - name: sales.orders\n\
             \x20   description: Customer orders\n\
             \x20   owner: sales-team\n\
             \x20   tags: [orders, gold]\n\
             \x20   sensitivity: confidential\n\
             \x20   allowed_groups: sales;finance\n\
             \x20   refresh: daily\n\
             \x20   fields:\n\
             \x20     - name: order_id\n\
             \x20       description: Order key\n\
             \x20       type: bigint\n\
             \x20     - name: customer_id\n\
             \x20       type: bigint\n\
             \x20       references: crm.customers.customer_id\n\
             \x20       unit: none\n",
        )
        .unwrap();
        let d = &patch.catalog.datasets[0];
        assert_eq!(d.name, "sales.orders");
        assert_eq!(d.owner.as_deref(), Some("sales-team"));
        assert_eq!(d.tags, vec!["orders", "gold"]);
        assert_eq!(d.sensitivity, Sensitivity::Confidential);
        assert_eq!(d.allowed_groups, vec!["sales", "finance"]);
        assert_eq!(d.properties["refresh"], "daily");
        assert_eq!(patch.sensitivity_declared, vec![true]);
        assert_eq!(d.columns[0].data_type.as_deref(), Some("bigint"));
        assert_eq!(
            d.columns[1].properties["references"],
            "crm.customers.customer_id"
        );
        assert_eq!(d.columns[1].properties["unit"], "none");
    }

    #[test]
    fn a_dictionary_pair_merges_descriptions_and_types() {
        let dict = "description: Customers of the shop\nfields:\n  customer_id: Unique customer key\n  email: Customer e-mail\n";
        let schema = "fields:\n  - name: customer_id\n    type: integer\n  - name: email\n    type: string\n  - name: created_at\n    type: timestamp\n";
        let files = [
            (
                "seeds/customers/data_dict.yaml".to_string(),
                Path::new("seeds/customers/data_dict.yaml"),
                dict.to_string(),
            ),
            (
                "seeds/customers/schema.yaml".to_string(),
                Path::new("seeds/customers/schema.yaml"),
                schema.to_string(),
            ),
        ];
        let patch = parse(&files).unwrap();
        assert_eq!(patch.catalog.datasets.len(), 1);
        let d = &patch.catalog.datasets[0];
        assert_eq!(d.name, "customers");
        assert_eq!(d.description.as_deref(), Some("Customers of the shop"));
        let cols: Vec<(&str, Option<&str>, Option<&str>)> = d
            .columns
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.description.as_deref(),
                    c.data_type.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            cols,
            [
                ("customer_id", Some("Unique customer key"), Some("integer")),
                ("email", Some("Customer e-mail"), Some("string")),
                ("created_at", None, Some("timestamp")),
            ]
        );
    }

    #[test]
    fn dbt_style_schema_files() {
        let patch = one(
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: customers\n    description: One row per customer\n    meta:\n      owner: analytics\n    columns:\n      - name: customer_id\n        tests: [unique, not_null]\nsources:\n  - name: raw\n    tables:\n      - name: orders\n        description: Raw orders\n",
        )
        .unwrap();
        let names: Vec<&str> = patch
            .catalog
            .datasets
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["customers", "raw.orders"]);
        assert_eq!(
            patch.catalog.datasets[0].owner.as_deref(),
            Some("analytics")
        );
        assert_eq!(
            patch.catalog.datasets[0].columns[0].properties["tests"],
            "unique;not_null"
        );
    }

    #[test]
    fn malformed_yaml_and_bad_values_are_problems_with_lines() {
        let err = one("d.yaml", "datasets:\n  - name: a\n    fields: [\n").unwrap_err();
        assert_eq!(err.problems[0].file, "d.yaml");
        assert!(err.problems[0].line >= 3, "{err}");
        assert!(err.problems[0].message.contains("malformed YAML"), "{err}");
        let err = one(
            "d.yaml",
            "datasets:\n  - name: a\n    sensitivity: secret\n  - name: b\n    fields:\n      - name: x\n      - name: x\n",
        )
        .unwrap_err();
        let found: Vec<(u64, Option<&str>)> = err
            .problems
            .iter()
            .map(|p| (p.line, p.field.as_deref()))
            .collect();
        assert_eq!(
            found,
            [(3, Some("sensitivity")), (7, Some("fields"))],
            "{err}"
        );
        let err = one("d.yaml", "just: words\n").unwrap_err();
        assert!(err.problems[0].message.contains("no datasets"), "{err}");
    }

    #[test]
    fn two_values_for_one_field_across_files_are_a_problem() {
        let a = "name: x\nfields:\n  - name: id\n    type: integer\n";
        let b = "name: x\nfields:\n  - name: id\n    type: text\n";
        let files = [
            ("a.yaml".to_string(), Path::new("a.yaml"), a.to_string()),
            ("b.yaml".to_string(), Path::new("b.yaml"), b.to_string()),
        ];
        let err = parse(&files).unwrap_err();
        assert_eq!(err.problems[0].file, "b.yaml");
        assert_eq!(err.problems[0].line, 3);
        assert_eq!(err.problems[0].field.as_deref(), Some("type"));
    }
}
