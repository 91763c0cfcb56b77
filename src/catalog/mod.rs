//! The metadata catalog: datasets and their columns, their sensitivity, the rules a load is
//! validated against, and diffs between versions. Pure data: no storage, no index, no web.

mod access;
mod diff;
mod problems;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use self::access::{Sensitivity, dataset_acl_terms};
pub use self::diff::{CatalogDiff, ColumnRef, DiffCounts};
pub use self::problems::{CatalogProblem, InvalidCatalog, MAX_PROBLEMS, Problems};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub description: Option<String>,
    pub data_type: Option<String>,
    pub tags: Vec<String>,
    pub properties: BTreeMap<String, String>,
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

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// A whole catalog: its datasets in load order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub datasets: Vec<Dataset>,
}

impl Catalog {
    pub fn new(datasets: Vec<Dataset>) -> Catalog {
        Catalog { datasets }
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

    /// `mode=merge`: the datasets of `other` replace or add to those of `self`.
    pub fn merged_with(&self, other: Catalog) -> Catalog {
        let mut datasets = self.datasets.clone();
        let mut positions: HashMap<String, usize> = datasets
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.to_lowercase(), i))
            .collect();
        for dataset in other.datasets {
            match positions.get(&dataset.name.to_lowercase()) {
                Some(&i) => datasets[i] = dataset,
                None => {
                    positions.insert(dataset.name.to_lowercase(), datasets.len());
                    datasets.push(dataset);
                }
            }
        }
        Catalog { datasets }
    }
}
