//! Typeahead: an in-memory sorted table of names, searched by prefix.
//!
//! Keys are lowercased dataset names and column names, and every suffix of them that starts
//! at a word (`customer_churn_scores` → `churn_scores`, `scores`), so "chur" finds
//! `crm.customer_churn_scores`. Column names shared by many datasets are one entry that knows
//! its datasets. Typos are handled by the index's fuzzy fallback (see `LexicalIndex`).

use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::text::split_identifiers;

/// What a key points at.
enum Target {
    Dataset(u32),
    /// A column name, with every (dataset, column) that has it.
    Column(Vec<(u32, u32)>),
}

pub struct SuggestIndex {
    /// (key, target, whether the key is the whole name), sorted by key.
    keys: Vec<(Box<str>, u32, bool)>,
    targets: Vec<Target>,
}

/// One suggestion: a dataset, or a column (with how many visible datasets have it).
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestHit {
    pub dataset: u32,
    pub column: Option<u32>,
    /// For a column: the visible datasets that have a column of that name.
    pub shared_by: usize,
}

/// Visible keys visited at most per query (short prefixes match a lot).
const SCAN_LIMIT: usize = 4_000;

fn word_suffixes(name: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    split_identifiers(name, &mut spans);
    let mut out: Vec<&str> = spans.iter().map(|&(start, _)| &name[start..]).collect();
    out.dedup();
    out
}

impl SuggestIndex {
    pub fn build(catalog: &Catalog) -> SuggestIndex {
        let mut keys: Vec<(Box<str>, u32, bool)> = Vec::new();
        let mut targets = Vec::new();
        for (ds, dataset) in catalog.datasets.iter().enumerate() {
            let target = targets.len() as u32;
            targets.push(Target::Dataset(ds as u32));
            let lower = dataset.name.to_lowercase();
            let short = lower.rsplit_once('.').map(|(_, s)| s.to_string());
            for suffix in word_suffixes(&lower) {
                let whole = suffix == lower || Some(suffix) == short.as_deref();
                keys.push((suffix.into(), target, whole));
            }
        }
        let mut columns: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        for (ds, dataset) in catalog.datasets.iter().enumerate() {
            for (col, column) in dataset.columns.iter().enumerate() {
                columns
                    .entry(column.name.to_lowercase())
                    .or_default()
                    .push((ds as u32, col as u32));
            }
        }
        for (name, places) in columns {
            let target = targets.len() as u32;
            targets.push(Target::Column(places));
            for suffix in word_suffixes(&name) {
                keys.push((suffix.into(), target, suffix == name));
            }
        }
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        SuggestIndex { keys, targets }
    }

    /// Names starting with `prefix` (or with a word of them starting so), best first:
    /// whole-name matches, datasets before columns, shorter names first.
    pub fn suggest(
        &self,
        prefix: &str,
        visible: impl Fn(u32) -> bool,
        limit: usize,
    ) -> Vec<SuggestHit> {
        let prefix = prefix.trim().to_lowercase();
        if prefix.is_empty() {
            return Vec::new();
        }
        let mut queries = vec![prefix.clone()];
        let joined = prefix.split_whitespace().collect::<Vec<_>>().join("_");
        if joined != prefix {
            queries.push(joined);
        }
        // (rank key, hit)
        let mut found: HashMap<u32, ((bool, bool, usize), SuggestHit)> = HashMap::new();
        for query in &queries {
            let start = self
                .keys
                .partition_point(|(k, _, _)| k.as_ref() < query.as_str());
            // The limit counts visible keys only: hidden names must not crowd out the
            // caller's (nor tell, by an empty answer, that they exist).
            let mut visible_keys = 0;
            for (key, target, whole) in self.keys[start..]
                .iter()
                .take_while(|(k, _, _)| k.starts_with(query.as_str()))
            {
                if visible_keys >= SCAN_LIMIT {
                    break;
                }
                let hit = match &self.targets[*target as usize] {
                    Target::Dataset(ds) if visible(*ds) => SuggestHit {
                        dataset: *ds,
                        column: None,
                        shared_by: 0,
                    },
                    Target::Dataset(_) => continue,
                    Target::Column(places) => {
                        let mut seen = places.iter().filter(|(ds, _)| visible(*ds));
                        let Some(&(ds, col)) = seen.next() else {
                            continue;
                        };
                        SuggestHit {
                            dataset: ds,
                            column: Some(col),
                            shared_by: 1 + seen.count(),
                        }
                    }
                };
                visible_keys += 1;
                // Lower is better: not whole, is a column, longer key.
                let rank = (!whole, hit.column.is_some(), key.len());
                let entry = found.entry(*target).or_insert((rank, hit.clone()));
                if rank < entry.0 {
                    *entry = (rank, hit);
                }
            }
        }
        let mut hits: Vec<((bool, bool, usize), SuggestHit)> = found.into_values().collect();
        hits.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.shared_by.cmp(&a.1.shared_by))
                .then(a.1.dataset.cmp(&b.1.dataset))
        });
        hits.into_iter().take(limit).map(|(_, h)| h).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Dataset};

    fn catalog() -> Catalog {
        let mut churn = Dataset::new("crm.customer_churn_scores");
        let mut orders = Dataset::new("sales.orders");
        let mut hr = Dataset::new("hr.churn_of_staff");
        for (d, cols) in [
            (&mut churn, vec!["customer_id", "churn_probability"]),
            (&mut orders, vec!["customer_id", "order_total"]),
            (&mut hr, vec!["employee_id"]),
        ] {
            d.columns = cols
                .into_iter()
                .map(|c| Column {
                    name: c.into(),
                    description: None,
                    data_type: None,
                    tags: vec![],
                    properties: Default::default(),
                    references: Vec::new(),
                })
                .collect();
        }
        Catalog::new(vec![churn, orders, hr])
    }

    #[test]
    fn prefixes_of_names_and_of_their_words() {
        let index = SuggestIndex::build(&catalog());
        let hits = index.suggest("chur", |_| true, 10);
        assert_eq!(
            hits[0].dataset, 2,
            "whole-name match first: hr.churn_of_staff short name"
        );
        assert!(hits.iter().any(|h| h.dataset == 0 && h.column.is_none()));
        assert!(hits.iter().any(|h| h.column.is_some()), "churn_probability");
        let hits = index.suggest("sales.ord", |_| true, 10);
        assert_eq!(
            hits[0],
            SuggestHit {
                dataset: 1,
                column: None,
                shared_by: 0
            }
        );
    }

    #[test]
    fn shared_columns_count_visible_datasets_only() {
        let index = SuggestIndex::build(&catalog());
        let hits = index.suggest("customer id", |_| true, 10);
        let shared = hits.iter().find(|h| h.column.is_some()).unwrap();
        assert_eq!(shared.shared_by, 2);
        let hits = index.suggest("customer_i", |ds| ds != 0, 10);
        let shared = hits.iter().find(|h| h.column.is_some()).unwrap();
        assert_eq!((shared.dataset, shared.shared_by), (1, 1));
    }

    #[test]
    fn hidden_datasets_are_never_suggested() {
        let index = SuggestIndex::build(&catalog());
        let hits = index.suggest("churn", |ds| ds != 2, 10);
        assert!(hits.iter().all(|h| h.dataset != 2));
        assert!(index.suggest("employee", |ds| ds != 2, 10).is_empty());
    }

    #[test]
    fn hidden_keys_do_not_use_up_the_scan() {
        // A hidden dataset with more `zz…` columns than the scan visits, and one visible
        // dataset whose name starts the same: the visible one is still suggested.
        let mut hidden = Dataset::new("hr.zz_hidden");
        hidden.columns = (0..SCAN_LIMIT + 100)
            .map(|i| Column {
                name: format!("zz_c{i:05}"),
                description: None,
                data_type: None,
                tags: vec![],
                properties: Default::default(),
                references: Vec::new(),
            })
            .collect();
        let visible = Dataset::new("pub.zz_visible");
        let index = SuggestIndex::build(&Catalog::new(vec![hidden, visible]));
        let hits = index.suggest("zz", |ds| ds == 1, 8);
        assert_eq!(
            hits.first().map(|h| (h.dataset, h.column)),
            Some((1, None)),
            "{hits:?}"
        );
    }
}
