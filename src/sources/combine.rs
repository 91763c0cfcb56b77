//! Combining sources: what a connector found, a steward's curated CSV rows, and the catalog
//! already live. The rule (also in the README, "Sources"):
//!
//! 1. **Structure comes from the source.** Which datasets (in the source's scope) and which
//!    columns exist, column types, nullability, keys, foreign keys (`references`), row
//!    estimates, freshness and lineage are what the connector found. A curated row for a
//!    dataset or column the source does not have is stale: it is ignored and reported; a
//!    curated type that differs from the source's is reported and the source's type kept.
//! 2. **Curated fields win.** Description, owner, domain, location, tags, sensitivity,
//!    allowed groups and extra properties given by a curated row replace what the source
//!    says.
//! 3. **Then the source's own text** (comments, dbt docs, dictionary descriptions).
//! 4. **Then the live catalog.** A field that neither gives keeps its live value, so a sync
//!    never erases what a steward wrote through an upload; a sensitivity that neither states
//!    stays as it is live. A change of who may see a dataset still goes through the load
//!    pipeline's declassification rule.
//!
//! A source owns the datasets it produced (property [`SYNCED_FROM`]): a sync replaces them,
//! removes those the source no longer has, and leaves every other dataset alone.

use std::collections::HashMap;

use super::csv::Positions;
use crate::catalog::{Catalog, CatalogPatch, CatalogProblem, Column, Dataset};

/// The dataset property naming the registered source (or crawl) that produced a dataset.
pub const SYNCED_FROM: &str = "synced_from";

fn problem(file: &str, line: u64, field: Option<&str>, message: String) -> CatalogProblem {
    CatalogProblem {
        file: file.to_string(),
        line,
        field: field.map(str::to_string),
        message,
    }
}

/// Rules 1 and 2: `curated` laid over `found`. Returns the combined patch and a problem for
/// every curated row that did not apply (these do not stop a load; they are reported).
pub fn overlay_curated(
    found: CatalogPatch,
    curated: &CatalogPatch,
    positions: &Positions,
) -> (CatalogPatch, Vec<CatalogProblem>) {
    let mut warnings = Vec::new();
    let curated_by_name: HashMap<String, usize> = curated
        .catalog
        .datasets
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.to_lowercase(), i))
        .collect();
    let mut used = vec![false; curated.catalog.datasets.len()];
    let CatalogPatch {
        catalog,
        mut sensitivity_declared,
        ..
    } = found;
    sensitivity_declared.resize(catalog.datasets.len(), false);
    let mut datasets = Vec::with_capacity(catalog.datasets.len());
    for (i, mut dataset) in catalog.datasets.into_iter().enumerate() {
        if let Some(&at) = curated_by_name.get(&dataset.name.to_lowercase()) {
            used[at] = true;
            let steward = &curated.catalog.datasets[at];
            let stated = curated
                .sensitivity_declared
                .get(at)
                .copied()
                .unwrap_or(true);
            apply_curated(&mut dataset, steward, stated, positions, &mut warnings);
            sensitivity_declared[i] |= stated;
        }
        datasets.push(dataset);
    }
    for (at, steward) in curated.catalog.datasets.iter().enumerate() {
        if !used[at] {
            let (file, line) = positions.dataset(&steward.name);
            warnings.push(problem(
                file,
                line,
                Some("dataset"),
                format!(
                    "dataset `{}` is not in the source; its curated rows are ignored",
                    steward.name
                ),
            ));
        }
    }
    let patch = CatalogPatch {
        catalog: Catalog::new(datasets),
        sensitivity_declared,
        reference_sites: Vec::new(),
        term_sites: Vec::new(),
    };
    (patch, warnings)
}

fn apply_curated(
    dataset: &mut Dataset,
    steward: &Dataset,
    sensitivity_stated: bool,
    positions: &Positions,
    warnings: &mut Vec<CatalogProblem>,
) {
    fn text(slot: &mut Option<String>, value: &Option<String>) {
        if value.is_some() {
            slot.clone_from(value);
        }
    }
    fn list(slot: &mut Vec<String>, value: &[String]) {
        if !value.is_empty() {
            *slot = value.to_vec();
        }
    }
    text(&mut dataset.description, &steward.description);
    text(&mut dataset.owner, &steward.owner);
    text(&mut dataset.domain, &steward.domain);
    text(&mut dataset.location, &steward.location);
    list(&mut dataset.tags, &steward.tags);
    list(&mut dataset.allowed_groups, &steward.allowed_groups);
    if sensitivity_stated {
        dataset.sensitivity = steward.sensitivity;
    }
    dataset.properties.extend(
        steward
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    for curated in &steward.columns {
        let (file, line) = positions.column(&steward.name, &curated.name);
        let Some(column) = dataset
            .columns
            .iter_mut()
            .find(|c| c.name.eq_ignore_ascii_case(&curated.name))
        else {
            warnings.push(problem(
                file,
                line,
                Some("column"),
                format!(
                    "column `{}` of `{}` is not in the source; the curated row is ignored",
                    curated.name, steward.name
                ),
            ));
            continue;
        };
        text(&mut column.description, &curated.description);
        list(&mut column.tags, &curated.tags);
        column.properties.extend(
            curated
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        match (&column.data_type, &curated.data_type) {
            (None, Some(t)) => column.data_type = Some(t.clone()),
            (Some(found), Some(t)) if !found.eq_ignore_ascii_case(t) => {
                warnings.push(problem(
                    file,
                    line,
                    Some("data_type"),
                    format!(
                        "the curated type `{t}` of `{}.{}` differs from the source's `{found}`; \
                         the source's type is kept",
                        steward.name, curated.name
                    ),
                ));
            }
            _ => {}
        }
    }
}

/// Rules 3 and 4, and the source's scope: `live` with the datasets of `source` replaced by
/// `found`. Found datasets take, for each field they leave empty, the live value; their
/// sensitivity and groups stay live unless stated. Datasets the source produced before and
/// no longer has are removed; other datasets stay as they are, in place.
pub fn replace_scope(live: &Catalog, found: CatalogPatch, source: &str) -> Catalog {
    let CatalogPatch {
        catalog,
        sensitivity_declared,
        ..
    } = found;
    let mut fresh: HashMap<String, (Dataset, bool)> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for (i, mut dataset) in catalog.datasets.into_iter().enumerate() {
        dataset
            .properties
            .insert(SYNCED_FROM.to_string(), source.to_string());
        let key = dataset.name.to_lowercase();
        let stated = sensitivity_declared.get(i).copied().unwrap_or(false);
        if fresh.insert(key.clone(), (dataset, stated)).is_none() {
            order.push(key);
        }
    }
    let mut out = Vec::with_capacity(live.datasets.len() + fresh.len());
    for current in &live.datasets {
        let key = current.name.to_lowercase();
        match fresh.remove(&key) {
            Some((mut dataset, stated)) => {
                fill_from_live(&mut dataset, current, stated);
                out.push(dataset);
            }
            None if current.properties.get(SYNCED_FROM).map(String::as_str) == Some(source) => {}
            None => out.push(current.clone()),
        }
    }
    for key in order {
        if let Some((dataset, _)) = fresh.remove(&key) {
            out.push(dataset);
        }
    }
    Catalog::new(out)
}

fn fill_from_live(dataset: &mut Dataset, live: &Dataset, sensitivity_stated: bool) {
    fn text(slot: &mut Option<String>, value: &Option<String>) {
        if slot.is_none() {
            slot.clone_from(value);
        }
    }
    text(&mut dataset.description, &live.description);
    text(&mut dataset.owner, &live.owner);
    text(&mut dataset.domain, &live.domain);
    text(&mut dataset.location, &live.location);
    if dataset.tags.is_empty() {
        dataset.tags.clone_from(&live.tags);
    }
    if !sensitivity_stated {
        dataset.sensitivity = live.sensitivity;
    }
    if dataset.allowed_groups.is_empty() {
        dataset.allowed_groups.clone_from(&live.allowed_groups);
    }
    for column in &mut dataset.columns {
        if let Some(previous) = live.column(&column.name) {
            fill_column(column, previous);
        }
    }
}

fn fill_column(column: &mut Column, live: &Column) {
    if column.description.is_none() {
        column.description.clone_from(&live.description);
    }
    if column.tags.is_empty() {
        column.tags.clone_from(&live.tags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Sensitivity;
    use crate::sources::csv::parse_with_positions;

    fn column(name: &str, data_type: &str) -> Column {
        Column {
            name: name.into(),
            description: None,
            data_type: Some(data_type.into()),
            tags: vec![],
            properties: Default::default(),
            references: Vec::new(),
        }
    }

    fn crawled() -> CatalogPatch {
        let mut orders = Dataset::new("sales.orders");
        orders.description = Some("from the comment".into());
        orders.columns = vec![column("id", "bigint"), column("total", "numeric")];
        let mut items = Dataset::new("sales.items");
        items.columns = vec![column("id", "bigint")];
        CatalogPatch {
            catalog: Catalog::new(vec![orders, items]),
            sensitivity_declared: vec![false, false],
            reference_sites: Vec::new(),
            term_sites: Vec::new(),
        }
    }

    fn curated(csv: &str) -> (CatalogPatch, Positions) {
        parse_with_positions([("curated.csv".to_string(), csv.as_bytes())], 1 << 20).unwrap()
    }

    #[test]
    fn curated_fields_win_and_structure_comes_from_the_source() {
        let (steward, positions) = curated(
            "dataset,column,description,data_type,owner,sensitivity,allowed_groups\n\
             sales.orders,,Curated orders,,sales-team,restricted,finance\n\
             sales.orders,total,Order total in BRL,text,,,\n\
             sales.orders,legacy_flag,Gone long ago,,,,\n\
             sales.gone,,A table that was dropped,,,,\n",
        );
        let (patch, warnings) = overlay_curated(crawled(), &steward, &positions);
        let orders = &patch.catalog.datasets[0];
        assert_eq!(orders.description.as_deref(), Some("Curated orders"));
        assert_eq!(orders.owner.as_deref(), Some("sales-team"));
        assert_eq!(orders.sensitivity, Sensitivity::Restricted);
        assert_eq!(orders.allowed_groups, vec!["finance".to_string()]);
        assert!(patch.sensitivity_declared[0]);
        assert!(!patch.sensitivity_declared[1]);
        let names: Vec<&str> = orders.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["id", "total"],
            "stale curated columns are not added"
        );
        assert_eq!(orders.columns[1].data_type.as_deref(), Some("numeric"));
        assert_eq!(
            orders.columns[1].description.as_deref(),
            Some("Order total in BRL")
        );
        let lines: Vec<(u64, Option<&str>)> = warnings
            .iter()
            .map(|w| (w.line, w.field.as_deref()))
            .collect();
        assert_eq!(
            lines,
            [
                (3, Some("data_type")),
                (4, Some("column")),
                (5, Some("dataset"))
            ],
            "{warnings:?}"
        );
        assert!(warnings.iter().all(|w| w.file == "curated.csv"));
    }

    #[test]
    fn a_sync_replaces_its_own_datasets_and_keeps_the_rest() {
        let mut live_orders = Dataset::new("sales.orders");
        live_orders.sensitivity = Sensitivity::Restricted;
        live_orders.allowed_groups = vec!["hr".into()];
        live_orders.owner = Some("uploaded owner".into());
        live_orders
            .properties
            .insert(SYNCED_FROM.into(), "warehouse".into());
        let mut dropped = Dataset::new("sales.dropped");
        dropped
            .properties
            .insert(SYNCED_FROM.into(), "warehouse".into());
        let mut other = Dataset::new("crm.from_csv");
        other.description = Some("curated by hand".into());
        let mut elsewhere = Dataset::new("lake.events");
        elsewhere
            .properties
            .insert(SYNCED_FROM.into(), "lake".into());
        let live = Catalog::new(vec![live_orders, dropped, other.clone(), elsewhere]);

        let next = replace_scope(&live, crawled(), "warehouse");
        let names: Vec<&str> = next.datasets.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["sales.orders", "crm.from_csv", "lake.events", "sales.items"]
        );
        let orders = &next.datasets[0];
        assert_eq!(
            orders.sensitivity,
            Sensitivity::Restricted,
            "never weakened"
        );
        assert_eq!(orders.allowed_groups, vec!["hr".to_string()]);
        assert_eq!(orders.owner.as_deref(), Some("uploaded owner"));
        assert_eq!(orders.description.as_deref(), Some("from the comment"));
        assert_eq!(orders.properties[SYNCED_FROM], "warehouse");
        assert_eq!(next.datasets[1], other);
        assert_eq!(next.datasets[3].sensitivity, Sensitivity::Internal);
    }

    #[test]
    fn a_stated_sensitivity_replaces_the_live_one() {
        let mut live_orders = Dataset::new("sales.orders");
        live_orders.sensitivity = Sensitivity::Internal;
        let live = Catalog::new(vec![live_orders]);
        let mut found = crawled();
        found.catalog.datasets[0].sensitivity = Sensitivity::Restricted;
        found.sensitivity_declared[0] = true;
        let next = replace_scope(&live, found, "warehouse");
        assert_eq!(next.datasets[0].sensitivity, Sensitivity::Restricted);
    }
}
