//! What changed between two catalogs, as reported by loads and dry runs.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{Catalog, Dataset, Sensitivity, dataset_acl_terms};

/// A column, named with its dataset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ColumnRef {
    pub dataset: String,
    pub column: String,
}

/// Items listed per kind of change; the counts are always complete.
pub const MAX_DIFF_ITEMS: usize = 1_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DiffCounts {
    pub datasets_added: usize,
    pub datasets_removed: usize,
    pub datasets_changed: usize,
    pub columns_added: usize,
    pub columns_removed: usize,
    pub relationships_added: usize,
    pub relationships_removed: usize,
    pub terms_added: usize,
    pub terms_removed: usize,
    pub terms_changed: usize,
}

/// Who may see a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    pub sensitivity: Sensitivity,
    pub allowed_groups: Vec<String>,
}

impl Access {
    fn of(dataset: &Dataset) -> Access {
        Access {
            sensitivity: dataset.sensitivity,
            allowed_groups: dataset.allowed_groups.clone(),
        }
    }
}

/// A change of who may see a dataset (sensitivity or allowed groups).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityChange {
    pub dataset: String,
    pub before: Access,
    pub after: Access,
    /// Someone who could not see the dataset before can see it after: a declassification.
    pub widens: bool,
}

/// Whether a dataset with `after` is visible to some caller who could not see it with
/// `before`. Callers hold `level:public`, `level:internal` when identified (or anonymous at
/// that level), and their groups; the candidates are checked one by one.
pub fn widens(before: &Access, after: &Access) -> bool {
    let old = dataset_acl_terms(before.sensitivity, &before.allowed_groups);
    let new = dataset_acl_terms(after.sensitivity, &after.allowed_groups);
    let public = vec!["level:public".to_string()];
    let internal = vec!["level:public".to_string(), "level:internal".to_string()];
    let mut callers = vec![public, internal.clone()];
    for term in new.iter().filter(|t| t.starts_with("group:")) {
        let mut caller = internal.clone();
        caller.push(term.clone());
        callers.push(caller);
    }
    let sees = |caller: &[String], acl: &[String]| acl.iter().any(|t| caller.contains(t));
    callers.iter().any(|c| sees(c, &new) && !sees(c, &old))
}

/// What changed; each list holds at most [`MAX_DIFF_ITEMS`] names (`truncated` says so).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CatalogDiff {
    pub counts: DiffCounts,
    pub truncated: bool,
    /// Every change of sensitivity or allowed groups (never truncated).
    pub security_changes: Vec<SecurityChange>,
    pub datasets_added: Vec<String>,
    pub datasets_removed: Vec<String>,
    /// Datasets present in both whose metadata or columns differ.
    pub datasets_changed: Vec<String>,
    pub columns_added: Vec<ColumnRef>,
    pub columns_removed: Vec<ColumnRef>,
    /// Relationships (foreign keys, lineage) that appear or disappear, as
    /// `a.t.col → b.u.col` or `a.t ⇐ b.u`.
    pub relationships_added: Vec<String>,
    pub relationships_removed: Vec<String>,
    /// Glossary terms, by name.
    pub terms_added: Vec<String>,
    pub terms_removed: Vec<String>,
    pub terms_changed: Vec<String>,
}

/// Glossary terms added, removed and changed from `old` to `new`, by name.
fn term_changes(old: &Catalog, new: &Catalog) -> (Vec<String>, Vec<String>, Vec<String>) {
    let key = |name: &str| name.trim().to_lowercase();
    let before: HashMap<String, &super::Term> =
        old.terms.iter().map(|t| (key(&t.name), t)).collect();
    let after: HashSet<String> = new.terms.iter().map(|t| key(&t.name)).collect();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for term in &new.terms {
        match before.get(&key(&term.name)) {
            None => added.push(term.name.clone()),
            Some(previous) if *previous != term => changed.push(term.name.clone()),
            Some(_) => {}
        }
    }
    let removed = old
        .terms
        .iter()
        .filter(|t| !after.contains(&key(&t.name)))
        .map(|t| t.name.clone())
        .collect();
    (added, removed, changed)
}

impl CatalogDiff {
    pub fn between(old: &Catalog, new: &Catalog) -> CatalogDiff {
        let old_by_name: HashMap<String, &super::Dataset> = old
            .datasets
            .iter()
            .map(|d| (d.name.to_lowercase(), d))
            .collect();
        let new_names: HashSet<String> =
            new.datasets.iter().map(|d| d.name.to_lowercase()).collect();
        let mut diff = CatalogDiff::default();
        for dataset in &new.datasets {
            match old_by_name.get(&dataset.name.to_lowercase()) {
                None => {
                    diff.datasets_added.push(dataset.name.clone());
                    diff.columns_added
                        .extend(dataset.columns.iter().map(|c| ColumnRef {
                            dataset: dataset.name.clone(),
                            column: c.name.clone(),
                        }));
                }
                Some(previous) => {
                    if *previous != dataset {
                        diff.datasets_changed.push(dataset.name.clone());
                    }
                    let (before, after) = (Access::of(previous), Access::of(dataset));
                    if before != after {
                        diff.security_changes.push(SecurityChange {
                            dataset: dataset.name.clone(),
                            widens: widens(&before, &after),
                            before,
                            after,
                        });
                    }
                    let before: HashSet<String> = previous
                        .columns
                        .iter()
                        .map(|c| c.name.to_lowercase())
                        .collect();
                    let after: HashSet<String> = dataset
                        .columns
                        .iter()
                        .map(|c| c.name.to_lowercase())
                        .collect();
                    diff.columns_added.extend(
                        dataset
                            .columns
                            .iter()
                            .filter(|c| !before.contains(&c.name.to_lowercase()))
                            .map(|c| ColumnRef {
                                dataset: dataset.name.clone(),
                                column: c.name.clone(),
                            }),
                    );
                    diff.columns_removed.extend(
                        previous
                            .columns
                            .iter()
                            .filter(|c| !after.contains(&c.name.to_lowercase()))
                            .map(|c| ColumnRef {
                                dataset: dataset.name.clone(),
                                column: c.name.clone(),
                            }),
                    );
                }
            }
        }
        for dataset in &old.datasets {
            if !new_names.contains(&dataset.name.to_lowercase()) {
                diff.datasets_removed.push(dataset.name.clone());
                diff.columns_removed
                    .extend(dataset.columns.iter().map(|c| ColumnRef {
                        dataset: dataset.name.clone(),
                        column: c.name.clone(),
                    }));
            }
        }
        let links = |c: &Catalog| -> HashSet<String> {
            c.relationships().iter().map(|r| c.describe(r)).collect()
        };
        let (before, after) = (links(old), links(new));
        diff.relationships_added = after.difference(&before).cloned().collect();
        diff.relationships_removed = before.difference(&after).cloned().collect();
        diff.relationships_added.sort();
        diff.relationships_removed.sort();
        (diff.terms_added, diff.terms_removed, diff.terms_changed) = term_changes(old, new);
        diff.counts = DiffCounts {
            datasets_added: diff.datasets_added.len(),
            datasets_removed: diff.datasets_removed.len(),
            datasets_changed: diff.datasets_changed.len(),
            columns_added: diff.columns_added.len(),
            columns_removed: diff.columns_removed.len(),
            relationships_added: diff.relationships_added.len(),
            relationships_removed: diff.relationships_removed.len(),
            terms_added: diff.terms_added.len(),
            terms_removed: diff.terms_removed.len(),
            terms_changed: diff.terms_changed.len(),
        };
        let c = diff.counts;
        diff.truncated = [
            c.datasets_added,
            c.datasets_removed,
            c.datasets_changed,
            c.columns_added,
            c.columns_removed,
            c.relationships_added,
            c.relationships_removed,
        ]
        .iter()
        .any(|&n| n > MAX_DIFF_ITEMS);
        diff.datasets_added.truncate(MAX_DIFF_ITEMS);
        diff.datasets_removed.truncate(MAX_DIFF_ITEMS);
        diff.datasets_changed.truncate(MAX_DIFF_ITEMS);
        diff.columns_added.truncate(MAX_DIFF_ITEMS);
        diff.columns_removed.truncate(MAX_DIFF_ITEMS);
        diff.relationships_added.truncate(MAX_DIFF_ITEMS);
        diff.relationships_removed.truncate(MAX_DIFF_ITEMS);
        diff
    }

    /// The datasets this change makes visible to someone who could not see them.
    pub fn declassified(&self) -> Vec<String> {
        self.security_changes
            .iter()
            .filter(|c| c.widens)
            .map(|c| c.dataset.clone())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.relationships_added.is_empty()
            && self.relationships_removed.is_empty()
            && self.datasets_added.is_empty()
            && self.datasets_removed.is_empty()
            && self.datasets_changed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Dataset};

    fn dataset(name: &str, columns: &[&str]) -> Dataset {
        let mut d = Dataset::new(name);
        d.columns = columns
            .iter()
            .map(|c| Column {
                name: c.to_string(),
                description: None,
                data_type: None,
                tags: vec![],
                properties: Default::default(),
                references: Vec::new(),
            })
            .collect();
        d
    }

    #[test]
    fn reports_added_removed_changed() {
        let old = Catalog::new(vec![dataset("a", &["x"]), dataset("b", &["y", "z"])]);
        let new = Catalog::new(vec![dataset("b", &["y", "w"]), dataset("c", &["q"])]);
        let diff = CatalogDiff::between(&old, &new);
        assert_eq!(diff.datasets_added, vec!["c"]);
        assert_eq!(diff.datasets_removed, vec!["a"]);
        assert_eq!(diff.datasets_changed, vec!["b"]);
        assert_eq!(diff.columns_added.len(), 2); // b.w, c.q
        assert_eq!(diff.columns_removed.len(), 2); // a.x, b.z
        assert_eq!(diff.counts.datasets_changed, 1);
        assert!(!diff.truncated);
    }

    fn access(sensitivity: Sensitivity, groups: &[&str]) -> Access {
        Access {
            sensitivity,
            allowed_groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn widening_is_any_caller_gaining_sight() {
        use Sensitivity::*;
        let hr = access(Restricted, &["hr"]);
        assert!(widens(&hr, &access(Internal, &[])), "restricted → internal");
        assert!(
            widens(&hr, &access(Restricted, &["hr", "sales"])),
            "a group added"
        );
        assert!(widens(&access(Internal, &[]), &access(Public, &[])));
        assert!(
            !widens(&access(Public, &[]), &access(Internal, &[])),
            "tightening"
        );
        assert!(
            !widens(&hr, &access(Confidential, &["hr"])),
            "same audience"
        );
        assert!(
            !widens(&access(Restricted, &["hr", "x"]), &hr),
            "a group removed"
        );
    }

    #[test]
    fn sensitivity_and_group_changes_are_security_changes() {
        let mut before = dataset("hr.pay", &["amount"]);
        before.sensitivity = Sensitivity::Restricted;
        before.allowed_groups = vec!["hr".into()];
        let after = dataset("hr.pay", &["amount"]);
        let diff = CatalogDiff::between(&Catalog::new(vec![before]), &Catalog::new(vec![after]));
        assert_eq!(diff.security_changes.len(), 1);
        assert!(diff.security_changes[0].widens);
        assert_eq!(diff.declassified(), vec!["hr.pay".to_string()]);
    }
}
