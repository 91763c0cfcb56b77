//! Relationships between datasets: foreign keys (a column's `references`, each
//! `dataset.column`) and lineage (a dataset's `lineage`, the datasets it is derived from).
//! Resolved against the catalog by name, case-insensitively; a reference to nothing is a
//! validation problem.

use std::collections::HashMap;

use super::{Catalog, InvalidCatalog, Problems};

/// What links two datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKind {
    /// `from.from_column` refers to `to.to_column`.
    ForeignKey,
    /// `from` is derived from `to`.
    Lineage,
}

/// One resolved relationship, by ordinals.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Relationship {
    pub from: u32,
    pub from_column: Option<u32>,
    pub to: u32,
    pub to_column: Option<u32>,
    pub kind: LinkKind,
}

/// A reference whose target does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangling {
    pub dataset: u32,
    /// The referencing column; `None` for lineage.
    pub column: Option<u32>,
    pub target: String,
    pub reason: String,
}

/// Where a source stated references or lineage, to report a dangling one at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceSite {
    pub dataset: String,
    /// The column row; `None` for a dataset's lineage.
    pub column: Option<String>,
    pub file: String,
    pub line: u64,
}

/// Checks that every reference and lineage entry a file stated (`sites`: file and line)
/// names something that exists. References without a site (from connectors: a crawled
/// foreign key to a table outside the crawl) are not problems; see
/// [`Catalog::drop_dangling_references`].
pub fn check_references(catalog: &Catalog, sites: &[ReferenceSite]) -> Result<(), InvalidCatalog> {
    let mut problems = Problems::default();
    for d in catalog.dangling_references() {
        let Some(dataset) = catalog.datasets.get(d.dataset as usize) else {
            continue;
        };
        let column = d
            .column
            .and_then(|c| dataset.columns.get(c as usize))
            .map(|c| c.name.as_str());
        let site = sites.iter().find(|s| {
            s.dataset.eq_ignore_ascii_case(&dataset.name)
                && match (&s.column, column) {
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    (None, None) => true,
                    _ => false,
                }
        });
        let Some(site) = site else {
            continue;
        };
        let (file, line) = (site.file.as_str(), site.line);
        let field = if d.column.is_some() {
            "references"
        } else {
            "lineage"
        };
        let at = match column {
            Some(c) => format!("{}.{c}", dataset.name),
            None => dataset.name.clone(),
        };
        problems.add(
            file,
            line,
            Some(field),
            format!("`{}` (on {at}): {}", d.target, d.reason),
        );
    }
    problems.into_result()
}

/// `db.table.column` → (`db.table`, `column`): the column is after the last dot.
pub fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let (dataset, column) = reference.trim().rsplit_once('.')?;
    (!dataset.is_empty() && !column.is_empty()).then_some((dataset, column))
}

/// Looks datasets and their columns up by name, case-insensitively (by a name index built
/// once: relationships and glossary links resolve through it).
pub(super) struct Names<'a> {
    catalog: &'a Catalog,
    datasets: HashMap<String, u32>,
}

impl<'a> Names<'a> {
    pub(super) fn new(catalog: &'a Catalog) -> Names<'a> {
        Names {
            catalog,
            datasets: catalog.name_index(),
        }
    }

    pub(super) fn dataset(&self, name: &str) -> Option<u32> {
        self.datasets.get(&name.trim().to_lowercase()).copied()
    }

    pub(super) fn column(&self, dataset: u32, name: &str) -> Option<u32> {
        let d = self.catalog.datasets.get(dataset as usize)?;
        d.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name.trim()))
            .map(|c| c as u32)
    }
}

/// The property names connectors use for relationships they cannot express otherwise.
const REFERENCES_PROPERTY: &str = "references";
const LINEAGE_PROPERTY: &str = "lineage";

impl Catalog {
    /// Moves `references` (column) and `lineage` (dataset) properties, `;`-separated, into
    /// the relationship fields: connectors may emit them as properties.
    pub fn lift_relationship_properties(&mut self) {
        let split = |v: String| -> Vec<String> {
            v.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        for dataset in &mut self.datasets {
            if let Some(value) = dataset.properties.remove(LINEAGE_PROPERTY) {
                for upstream in split(value) {
                    if !dataset
                        .lineage
                        .iter()
                        .any(|u| u.eq_ignore_ascii_case(&upstream))
                    {
                        dataset.lineage.push(upstream);
                    }
                }
            }
            for column in &mut dataset.columns {
                if let Some(value) = column.properties.remove(REFERENCES_PROPERTY) {
                    for target in split(value) {
                        if !column
                            .references
                            .iter()
                            .any(|r| r.eq_ignore_ascii_case(&target))
                        {
                            column.references.push(target);
                        }
                    }
                }
            }
        }
    }

    /// Removes references and lineage entries that name nothing in the catalog; returns how
    /// many.
    pub fn drop_dangling_references(&mut self) -> usize {
        let dangling = self.dangling_references();
        for d in &dangling {
            let Some(dataset) = self.datasets.get_mut(d.dataset as usize) else {
                continue;
            };
            match d.column.and_then(|c| dataset.columns.get_mut(c as usize)) {
                Some(column) => column.references.retain(|r| r != &d.target),
                None => dataset.lineage.retain(|u| u != &d.target),
            }
        }
        dangling.len()
    }

    /// Every relationship whose target exists, sorted, without duplicates.
    pub fn relationships(&self) -> Vec<Relationship> {
        self.resolve().0
    }

    /// Every reference whose target does not exist.
    pub fn dangling_references(&self) -> Vec<Dangling> {
        self.resolve().1
    }

    fn resolve(&self) -> (Vec<Relationship>, Vec<Dangling>) {
        let names = Names::new(self);
        let mut found = Vec::new();
        let mut dangling = Vec::new();
        for (ds, dataset) in self.datasets.iter().enumerate() {
            let ds = ds as u32;
            for (col, column) in dataset.columns.iter().enumerate() {
                for reference in &column.references {
                    let target = split_reference(reference).and_then(|(d, c)| {
                        let to = names.dataset(d)?;
                        Some((to, names.column(to, c)))
                    });
                    match target {
                        Some((to, Some(to_column))) => found.push(Relationship {
                            from: ds,
                            from_column: Some(col as u32),
                            to,
                            to_column: Some(to_column),
                            kind: LinkKind::ForeignKey,
                        }),
                        Some((_, None)) => dangling.push(Dangling {
                            dataset: ds,
                            column: Some(col as u32),
                            target: reference.clone(),
                            reason: "the referenced dataset has no such column".into(),
                        }),
                        None => dangling.push(Dangling {
                            dataset: ds,
                            column: Some(col as u32),
                            target: reference.clone(),
                            reason: if split_reference(reference).is_none() {
                                "a reference must be `dataset.column`".into()
                            } else {
                                "no such dataset".into()
                            },
                        }),
                    }
                }
            }
            for upstream in &dataset.lineage {
                match names.dataset(upstream) {
                    Some(to) if to != ds => found.push(Relationship {
                        from: ds,
                        from_column: None,
                        to,
                        to_column: None,
                        kind: LinkKind::Lineage,
                    }),
                    Some(_) => {}
                    None => dangling.push(Dangling {
                        dataset: ds,
                        column: None,
                        target: upstream.clone(),
                        reason: "no such dataset".into(),
                    }),
                }
            }
        }
        found.sort();
        found.dedup();
        (found, dangling)
    }

    /// A relationship as people read it: `sales.orders.customer_id → crm.customers.id`, or
    /// `mart.churn ⇐ crm.customers` for lineage.
    pub fn describe(&self, r: &Relationship) -> String {
        let name = |d: u32| {
            self.datasets
                .get(d as usize)
                .map_or("?", |d| d.name.as_str())
        };
        let column = |d: u32, c: Option<u32>| {
            c.and_then(|c| self.datasets.get(d as usize)?.columns.get(c as usize))
                .map_or("?", |c| c.name.as_str())
        };
        match r.kind {
            LinkKind::ForeignKey => format!(
                "{}.{} → {}.{}",
                name(r.from),
                column(r.from, r.from_column),
                name(r.to),
                column(r.to, r.to_column)
            ),
            LinkKind::Lineage => format!("{} ⇐ {}", name(r.from), name(r.to)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Dataset};

    fn catalog() -> Catalog {
        let mut customers = Dataset::new("crm.customers");
        customers.columns = vec![Column {
            name: "customer_id".into(),
            ..Column::default()
        }];
        let mut orders = Dataset::new("sales.orders");
        orders.columns = vec![Column {
            name: "customer_id".into(),
            references: vec!["CRM.Customers.Customer_ID".into(), "crm.nope.x".into()],
            ..Column::default()
        }];
        orders.lineage = vec!["crm.customers".into(), "raw.missing".into()];
        Catalog::new(vec![customers, orders])
    }

    #[test]
    fn references_resolve_case_insensitively() {
        let c = catalog();
        let mut found: Vec<String> = c.relationships().iter().map(|r| c.describe(r)).collect();
        found.sort();
        assert_eq!(
            found,
            [
                "sales.orders ⇐ crm.customers",
                "sales.orders.customer_id → crm.customers.customer_id",
            ]
        );
    }

    #[test]
    fn unknown_targets_are_dangling() {
        let dangling = catalog().dangling_references();
        let targets: Vec<&str> = dangling.iter().map(|d| d.target.as_str()).collect();
        assert_eq!(targets, ["crm.nope.x", "raw.missing"]);
        assert_eq!(split_reference("a.b.c"), Some(("a.b", "c")));
        assert_eq!(split_reference("nodot"), None);
    }
}
