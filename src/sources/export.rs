//! A catalog written as our metadata CSV (`descoberta crawl --out`), for review: the standard
//! headers, `references` and `lineage`, then every property as a column of its own. Reading
//! the file back gives the same catalog (relationships given as properties become the
//! relationship fields).

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::Context;

use crate::catalog::Catalog;

const STANDARD: [&str; 10] = [
    "dataset",
    "column",
    "description",
    "data_type",
    "tags",
    "owner",
    "domain",
    "location",
    "sensitivity",
    "allowed_groups",
];

/// Writes `catalog` as CSV: one dataset row (empty `column`) per dataset, then one row per
/// column.
pub fn write_catalog<W: Write>(catalog: &Catalog, out: W) -> anyhow::Result<()> {
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for dataset in &catalog.datasets {
        keys.extend(dataset.properties.keys().map(String::as_str));
        for column in &dataset.columns {
            keys.extend(column.properties.keys().map(String::as_str));
        }
    }
    // `references` and `lineage` right after the standard headers, then the other properties
    // by name.
    keys.remove("references");
    keys.remove("lineage");
    let extra: Vec<&str> = keys.into_iter().collect();
    let joined = |field: &[String], property: Option<&String>| -> String {
        let mut all: Vec<&str> = field.iter().map(String::as_str).collect();
        for item in property.map(|p| p.split(';')).into_iter().flatten() {
            let item = item.trim();
            if !item.is_empty() && !all.iter().any(|a| a.eq_ignore_ascii_case(item)) {
                all.push(item);
            }
        }
        all.join(";")
    };
    let mut writer = ::csv::Writer::from_writer(out);
    let header: Vec<&str> = STANDARD
        .iter()
        .copied()
        .chain(["references", "lineage"])
        .chain(extra.iter().copied())
        .collect();
    writer
        .write_record(&header)
        .context("writing the CSV header")?;
    for dataset in &catalog.datasets {
        let mut row: Vec<String> = vec![
            dataset.name.clone(),
            String::new(),
            dataset.description.clone().unwrap_or_default(),
            String::new(),
            dataset.tags.join(";"),
            dataset.owner.clone().unwrap_or_default(),
            dataset.domain.clone().unwrap_or_default(),
            dataset.location.clone().unwrap_or_default(),
            dataset.sensitivity.as_str().to_string(),
            dataset.allowed_groups.join(";"),
            String::new(),
            joined(&dataset.lineage, dataset.properties.get("lineage")),
        ];
        row.extend(
            extra
                .iter()
                .map(|k| dataset.properties.get(*k).cloned().unwrap_or_default()),
        );
        writer.write_record(&row).context("writing a CSV row")?;
        for column in &dataset.columns {
            let mut row: Vec<String> = vec![
                dataset.name.clone(),
                column.name.clone(),
                column.description.clone().unwrap_or_default(),
                column.data_type.clone().unwrap_or_default(),
                column.tags.join(";"),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                joined(&column.references, column.properties.get("references")),
                String::new(),
            ];
            row.extend(
                extra
                    .iter()
                    .map(|k| column.properties.get(*k).cloned().unwrap_or_default()),
            );
            writer.write_record(&row).context("writing a CSV row")?;
        }
    }
    writer.flush().context("writing the CSV")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Dataset, Sensitivity};
    use crate::sources::parse_catalog;

    #[test]
    fn a_written_catalog_reads_back_the_same() {
        let mut orders = Dataset::new("sales.orders");
        orders.description = Some("Orders, \"quoted\"\nand a second line".into());
        orders.tags = vec!["gold".into(), "sales".into()];
        orders.owner = Some("sales-team".into());
        orders.domain = Some("sales".into());
        orders.sensitivity = Sensitivity::Confidential;
        orders.allowed_groups = vec!["sales".into()];
        orders.properties.insert("kind".into(), "table".into());
        orders.properties.insert("row_estimate".into(), "42".into());
        let mut customer_id = Column {
            name: "customer_id".into(),
            description: Some("Who ordered".into()),
            data_type: Some("numeric(12,2)".into()),
            tags: vec!["fk".into()],
            properties: Default::default(),
            references: Vec::new(),
        };
        customer_id
            .properties
            .insert("references".into(), "crm.customers.id".into());
        customer_id
            .properties
            .insert("nullable".into(), "false".into());
        orders.columns.push(customer_id);
        let mut empty = Dataset::new("crm.empty");
        empty.sensitivity = Sensitivity::Internal;
        let catalog = Catalog::new(vec![orders, empty]);

        let mut bytes = Vec::new();
        write_catalog(&catalog, &mut bytes).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(
                "dataset,column,description,data_type,tags,owner,domain,location,sensitivity,allowed_groups,references,lineage,"
            ),
            "{text}"
        );
        // The reference's target is not in this catalog: it is reported, at its line.
        let err = parse_catalog([("out.csv".to_string(), &bytes[..])], 1 << 20).unwrap_err();
        assert_eq!(err.total_problems, 1, "{err}");
        assert_eq!(err.problems[0].field.as_deref(), Some("references"));
        let patch =
            crate::sources::parse_patch([("out.csv".to_string(), &bytes[..])], 1 << 20).unwrap();
        let mut expected = catalog.clone();
        expected.lift_relationship_properties();
        assert_eq!(patch.catalog, expected);
    }
}
