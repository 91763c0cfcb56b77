//! The metadata catalog: datasets and their columns, their sensitivity, the rules a load is
//! validated against, and diffs between versions. Pure data: no storage, no index, no web.

mod access;
mod diff;
mod glossary;
mod problems;
mod relationships;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use self::access::{Sensitivity, dataset_acl_terms};
pub use self::diff::{Access, CatalogDiff, ColumnRef, DiffCounts, SecurityChange, widens};
pub use self::glossary::{MAX_PHRASE_WORDS, Term, TermLink, TermSite, check_glossary};
pub use self::problems::{CatalogProblem, InvalidCatalog, MAX_PROBLEMS, Problems};
pub use self::relationships::{
    Dangling, LinkKind, ReferenceSite, Relationship, check_references, split_reference,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub description: Option<String>,
    pub data_type: Option<String>,
    pub tags: Vec<String>,
    pub properties: BTreeMap<String, String>,
    /// The columns this one refers to (foreign keys, documented join keys), each as
    /// `dataset.column`.
    #[serde(default)]
    pub references: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub location: Option<String>,
    pub sensitivity: Sensitivity,
    pub tags: Vec<String>,
    pub allowed_groups: Vec<String>,
    pub properties: BTreeMap<String, String>,
    pub columns: Vec<Column>,
    /// The datasets this one is derived from (lineage, e.g. dbt `depends_on`).
    #[serde(default)]
    pub lineage: Vec<String>,
}

impl Dataset {
    pub fn new(name: impl Into<String>) -> Dataset {
        Dataset {
            name: name.into(),
            description: None,
            owner: None,
            domain: None,
            location: None,
            sensitivity: Sensitivity::Internal,
            tags: Vec::new(),
            allowed_groups: Vec::new(),
            properties: BTreeMap::new(),
            columns: Vec::new(),
            lineage: Vec::new(),
        }
    }

    /// The access-control terms of this dataset (see [`dataset_acl_terms`]).
    pub fn acl_terms(&self) -> Vec<String> {
        dataset_acl_terms(self.sensitivity, &self.allowed_groups)
    }

    /// A hash of everything about the dataset, to tell what changed between versions.
    pub fn content_hash(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// Every free-text field of the dataset and its columns: descriptions, owner, domain,
    /// location, tags, property keys and values, column types. Not the names (they are the
    /// entries' identities) nor the allowed groups.
    pub fn texts(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let own = [&self.description, &self.owner, &self.domain, &self.location];
        out.extend(own.into_iter().flatten().map(String::as_str));
        out.extend(self.tags.iter().map(String::as_str));
        for (key, value) in &self.properties {
            out.push(key);
            out.push(value);
        }
        for column in &self.columns {
            let own = [&column.description, &column.data_type];
            out.extend(own.into_iter().flatten().map(String::as_str));
            out.extend(column.tags.iter().map(String::as_str));
            for (key, value) in &column.properties {
                out.push(key);
                out.push(value);
            }
        }
        out
    }

    /// A copy with `f` applied to every field [`Dataset::texts`] lists.
    pub fn map_texts(&self, f: impl Fn(&str) -> String) -> Dataset {
        let opt = |v: &Option<String>| v.as_deref().map(&f);
        let map = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| (f(k), f(v))).collect();
        Dataset {
            name: self.name.clone(),
            description: opt(&self.description),
            owner: opt(&self.owner),
            domain: opt(&self.domain),
            location: opt(&self.location),
            sensitivity: self.sensitivity,
            tags: self.tags.iter().map(|t| f(t)).collect(),
            allowed_groups: self.allowed_groups.clone(),
            properties: map(&self.properties),
            columns: self
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    description: opt(&c.description),
                    data_type: opt(&c.data_type),
                    tags: c.tags.iter().map(|t| f(t)).collect(),
                    properties: map(&c.properties),
                    references: c.references.clone(),
                })
                .collect(),
            lineage: self.lineage.clone(),
        }
    }

    /// Applies the non-empty fields of `patch` (same dataset); the sensitivity only when
    /// `sensitivity_stated`.
    fn patch(&mut self, patch: Dataset, sensitivity_stated: bool) {
        fn keep_or<T>(slot: &mut Option<T>, value: Option<T>) {
            if value.is_some() {
                *slot = value;
            }
        }
        fn list_or(slot: &mut Vec<String>, value: Vec<String>) {
            if !value.is_empty() {
                *slot = value;
            }
        }
        keep_or(&mut self.description, patch.description);
        keep_or(&mut self.owner, patch.owner);
        keep_or(&mut self.domain, patch.domain);
        keep_or(&mut self.location, patch.location);
        list_or(&mut self.tags, patch.tags);
        list_or(&mut self.allowed_groups, patch.allowed_groups);
        if sensitivity_stated {
            self.sensitivity = patch.sensitivity;
        }
        self.properties.extend(patch.properties);
        list_or(&mut self.lineage, patch.lineage);
        for column in patch.columns {
            match self
                .columns
                .iter_mut()
                .find(|c| c.name.eq_ignore_ascii_case(&column.name))
            {
                Some(existing) => {
                    keep_or(&mut existing.description, column.description);
                    keep_or(&mut existing.data_type, column.data_type);
                    list_or(&mut existing.tags, column.tags);
                    list_or(&mut existing.references, column.references);
                    existing.properties.extend(column.properties);
                }
                None => self.columns.push(column),
            }
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// A partial catalog to merge into another: its datasets, and for each whether its source
/// stated a sensitivity (otherwise the current one stays; see [`Catalog::merged_with`]).
#[derive(Debug, Clone, Default)]
pub struct CatalogPatch {
    pub catalog: Catalog,
    pub sensitivity_declared: Vec<bool>,
    /// Where references and lineage were stated (to report dangling ones at their line).
    pub reference_sites: Vec<ReferenceSite>,
    /// Where glossary terms were stated (to report a bad one at its line).
    pub term_sites: Vec<TermSite>,
}

impl From<Catalog> for CatalogPatch {
    /// A whole catalog as a patch: every sensitivity stated.
    fn from(catalog: Catalog) -> CatalogPatch {
        let sensitivity_declared = vec![true; catalog.datasets.len()];
        CatalogPatch {
            catalog,
            sensitivity_declared,
            reference_sites: Vec::new(),
            term_sites: Vec::new(),
        }
    }
}

/// A whole catalog: its datasets in load order, and its business glossary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub datasets: Vec<Dataset>,
    #[serde(default)]
    pub terms: Vec<Term>,
}

impl Catalog {
    pub fn new(datasets: Vec<Dataset>) -> Catalog {
        Catalog {
            datasets,
            terms: Vec::new(),
        }
    }

    pub fn column_count(&self) -> usize {
        self.datasets.iter().map(|d| d.columns.len()).sum()
    }

    /// Index of datasets by lowercased name.
    pub fn name_index(&self) -> HashMap<String, u32> {
        self.datasets
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.to_lowercase(), i as u32))
            .collect()
    }

    /// `mode=merge`: `patch` applied to `self`. A dataset of the patch that is new is added;
    /// one that exists keeps every field the patch leaves empty (a merge never resets a field,
    /// least of all the sensitivity: it changes only where the patch states one). Its columns
    /// are patched the same way, and columns the patch does not mention stay. A glossary term
    /// of the patch replaces the one of the same name; the others stay.
    pub fn merged_with(&self, patch: CatalogPatch) -> Catalog {
        let mut datasets = self.datasets.clone();
        let mut positions: HashMap<String, usize> = datasets
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.to_lowercase(), i))
            .collect();
        let declared = patch.sensitivity_declared;
        for (i, dataset) in patch.catalog.datasets.into_iter().enumerate() {
            let key = dataset.name.to_lowercase();
            match positions.get(&key) {
                Some(&at) => {
                    let stated = declared.get(i).copied().unwrap_or(true);
                    datasets[at].patch(dataset, stated);
                }
                None => {
                    positions.insert(key, datasets.len());
                    datasets.push(dataset);
                }
            }
        }
        let mut terms = self.terms.clone();
        for term in patch.catalog.terms {
            match terms
                .iter_mut()
                .find(|t| t.name.trim().eq_ignore_ascii_case(term.name.trim()))
            {
                Some(existing) => *existing = term,
                None => terms.push(term),
            }
        }
        Catalog { datasets, terms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restricted(name: &str) -> Dataset {
        let mut d = Dataset::new(name);
        d.sensitivity = Sensitivity::Restricted;
        d.allowed_groups = vec!["hr".into()];
        d.description = Some("salary bands".into());
        d.columns = vec![Column {
            name: "band".into(),
            description: Some("the band".into()),
            data_type: Some("text".into()),
            tags: vec![],
            properties: BTreeMap::new(),
            references: Vec::new(),
        }];
        d
    }

    #[test]
    fn a_merge_keeps_what_the_patch_leaves_empty() {
        let current = Catalog::new(vec![restricted("hr.zebra_salary_bands")]);
        let mut fix = Dataset::new("hr.zebra_salary_bands");
        fix.description = Some("fixed typo".into());
        let merged = current.merged_with(CatalogPatch {
            catalog: Catalog::new(vec![fix]),
            sensitivity_declared: vec![false],
            ..CatalogPatch::default()
        });
        let d = &merged.datasets[0];
        assert_eq!(d.description.as_deref(), Some("fixed typo"));
        assert_eq!(d.sensitivity, Sensitivity::Restricted);
        assert_eq!(d.allowed_groups, vec!["hr".to_string()]);
        assert_eq!(d.columns.len(), 1, "columns the patch does not name stay");
    }

    #[test]
    fn a_merge_changes_the_sensitivity_only_where_the_patch_states_it() {
        let current = Catalog::new(vec![restricted("hr.pay")]);
        let mut open = Dataset::new("hr.pay");
        open.sensitivity = Sensitivity::Public;
        let merged = current.merged_with(CatalogPatch {
            catalog: Catalog::new(vec![open]),
            sensitivity_declared: vec![true],
            ..CatalogPatch::default()
        });
        assert_eq!(merged.datasets[0].sensitivity, Sensitivity::Public);
    }
}
