//! A collector that aggregates matching documents to their datasets in one pass, so ranking,
//! totals and matched columns all come from every match (not from a truncated top-k).

use std::collections::HashMap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::docs::{DocMap, SegmentDocs};

/// Best-scoring columns kept per dataset.
pub const COLUMNS_KEPT: usize = 5;

/// One dataset's lexical evidence.
#[derive(Debug, Clone, Default)]
pub struct DatasetMatch {
    pub dataset: u32,
    /// Score of the dataset's own document (0 when it did not match).
    pub dataset_score: f32,
    /// Best (column ordinal, score) pairs, highest first.
    pub columns: Vec<(u32, f32)>,
}

impl DatasetMatch {
    /// Keeps `(column, score)` among the best [`COLUMNS_KEPT`] (after those of equal score).
    pub(super) fn add_column(&mut self, column: u32, score: f32) {
        let pos = self
            .columns
            .iter()
            .position(|&(_, s)| s < score)
            .unwrap_or(self.columns.len());
        if pos < COLUMNS_KEPT {
            self.columns.insert(pos, (column, score));
            self.columns.truncate(COLUMNS_KEPT);
        }
    }

    fn merge(&mut self, other: DatasetMatch) {
        self.dataset_score = self.dataset_score.max(other.dataset_score);
        for (c, s) in other.columns {
            self.add_column(c, s);
        }
    }
}

/// Aggregates matches to their datasets, reading which dataset and column each document is
/// from the index's [`DocMap`].
pub struct DatasetCollector<'a> {
    pub docs: &'a DocMap,
}

pub struct DatasetSegmentCollector {
    docs: Arc<SegmentDocs>,
    /// Dataset documents: one per dataset, so no map is needed.
    datasets: Vec<(u32, f32)>,
    /// Column documents, grouped by dataset.
    matches: HashMap<u32, DatasetMatch>,
}

impl Collector for DatasetCollector<'_> {
    type Fruit = Vec<DatasetMatch>;
    type Child = DatasetSegmentCollector;

    fn for_segment(
        &self,
        _segment_local_id: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<DatasetSegmentCollector> {
        let docs = self.docs.segment(segment.segment_id()).ok_or_else(|| {
            tantivy::TantivyError::InternalError("a segment the index did not open with".into())
        })?;
        Ok(DatasetSegmentCollector {
            docs,
            datasets: Vec::new(),
            matches: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<DatasetMatch>>) -> tantivy::Result<Vec<DatasetMatch>> {
        if fruits.len() == 1 {
            return Ok(fruits.into_iter().next().unwrap_or_default());
        }
        // Dataset documents only: each dataset is in exactly one segment.
        if fruits.iter().flatten().all(|m| m.columns.is_empty()) {
            return Ok(fruits.into_iter().flatten().collect());
        }
        let mut merged: HashMap<u32, DatasetMatch> = HashMap::new();
        for fruit in fruits {
            for m in fruit {
                match merged.get_mut(&m.dataset) {
                    Some(existing) => existing.merge(m),
                    None => {
                        merged.insert(m.dataset, m);
                    }
                }
            }
        }
        Ok(merged.into_values().collect())
    }
}

impl SegmentCollector for DatasetSegmentCollector {
    type Fruit = Vec<DatasetMatch>;

    fn collect(&mut self, doc: DocId, score: Score) {
        let (ds, col) = self.docs.get(doc);
        if col == 0 {
            self.datasets.push((ds, score));
        } else {
            self.matches
                .entry(ds)
                .or_insert_with(|| DatasetMatch {
                    dataset: ds,
                    ..DatasetMatch::default()
                })
                .add_column(col - 1, score);
        }
    }

    fn harvest(mut self) -> Vec<DatasetMatch> {
        if self.matches.is_empty() {
            return self
                .datasets
                .into_iter()
                .map(|(dataset, dataset_score)| DatasetMatch {
                    dataset,
                    dataset_score,
                    columns: Vec::new(),
                })
                .collect();
        }
        for (ds, score) in self.datasets {
            let entry = self.matches.entry(ds).or_insert_with(|| DatasetMatch {
                dataset: ds,
                ..DatasetMatch::default()
            });
            entry.dataset_score = entry.dataset_score.max(score);
        }
        self.matches.into_values().collect()
    }
}
