//! Which dataset and column each document of the index is, read once when the index opens.
//!
//! Every search needs it, for every matching document: the collector aggregates matches to
//! their dataset, the first stage keeps dataset documents only, the second the column
//! documents of the datasets it looks at. Read per search from Tantivy's fast fields, it
//! cost the opening of both columns per segment (their block metadata decoded each time)
//! and a decode per document, and the second stage found its columns through a term-set
//! query over the dataset ids (a walk of the term dictionary and a bitset over every
//! document); at 1M columns that was about a quarter of a search's CPU (`perf`,
//! 2026-12-06). Here they are plain arrays; stage 1 reads the dataset documents (the first
//! of each segment), stage 2 the column documents of the datasets it looks at.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use tantivy::index::SegmentId;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

/// One segment's documents.
#[derive(Clone)]
pub struct SegmentDocs {
    /// Per document: its dataset's ordinal.
    dataset: Vec<u32>,
    /// Per document: 0 for a dataset's own document, else the column's ordinal + 1.
    column: Vec<u32>,
    /// The dataset documents, ascending.
    dataset_docs: Arc<[DocId]>,
    /// Whether they are the segment's first documents (the index adds them first): then
    /// stage 1 reads its matches up to the last of them, and no list.
    datasets_first: bool,
    /// The column documents of dataset `d`: `column_docs[starts[d]..starts[d + 1]]`,
    /// ascending.
    starts: Vec<u32>,
    column_docs: Vec<DocId>,
}

/// Every segment's documents, by segment.
pub struct DocMap {
    segments: HashMap<SegmentId, Arc<SegmentDocs>>,
}

impl DocMap {
    /// Reads the `ds` and `col` fast fields of every live document of every segment.
    pub fn read(searcher: &tantivy::Searcher) -> anyhow::Result<DocMap> {
        let mut segments = HashMap::new();
        for reader in searcher.segment_readers() {
            let fast = reader.fast_fields();
            let ds = fast.u64("ds").context("the ds fast field")?;
            let col = fast.u64("col").context("the col fast field")?;
            let (ds, col) = (ds.first_or_default_col(0), col.first_or_default_col(0));
            let max = reader.max_doc();
            let alive = |doc: DocId| reader.alive_bitset().is_none_or(|a| a.is_alive(doc));
            let dataset: Vec<u32> = (0..max).map(|d| ds.get_val(d) as u32).collect();
            let column: Vec<u32> = (0..max).map(|d| col.get_val(d) as u32).collect();
            let datasets = dataset.iter().max().map_or(0, |m| *m as usize + 1);
            let mut counts = vec![0u32; datasets + 1];
            let mut dataset_docs = Vec::new();
            for doc in (0..max).filter(|&d| alive(d)) {
                if column[doc as usize] == 0 {
                    dataset_docs.push(doc);
                } else {
                    counts[dataset[doc as usize] as usize + 1] += 1;
                }
            }
            let mut starts = counts;
            for d in 1..starts.len() {
                starts[d] += starts[d - 1];
            }
            let mut next = starts.clone();
            let mut column_docs = vec![0; starts.last().map_or(0, |n| *n as usize)];
            for doc in (0..max).filter(|&d| alive(d) && column[d as usize] != 0) {
                let slot = &mut next[dataset[doc as usize] as usize];
                column_docs[*slot as usize] = doc;
                *slot += 1;
            }
            let datasets_first = dataset_docs
                .iter()
                .enumerate()
                .all(|(i, &d)| d == i as DocId);
            segments.insert(
                reader.segment_id(),
                Arc::new(SegmentDocs {
                    dataset,
                    column,
                    datasets_first,
                    dataset_docs: dataset_docs.into(),
                    starts,
                    column_docs,
                }),
            );
        }
        Ok(DocMap { segments })
    }

    /// Whether every segment holds its dataset documents first.
    #[cfg(test)]
    pub fn datasets_first(&self) -> bool {
        self.segments.values().all(|s| s.datasets_first)
    }

    /// The same map, with the dataset documents' lists always used (for the tests: the
    /// index's own segments hold them first).
    #[cfg(test)]
    pub fn without_shortcut(&self) -> DocMap {
        let segments = self
            .segments
            .iter()
            .map(|(id, s)| {
                let mut s = SegmentDocs::clone(s);
                s.datasets_first = false;
                (*id, Arc::new(s))
            })
            .collect();
        DocMap { segments }
    }

    /// One segment's documents (`None` for a segment the index did not have when it
    /// opened).
    pub fn segment(&self, segment: SegmentId) -> Option<Arc<SegmentDocs>> {
        self.segments.get(&segment).cloned()
    }
}

impl SegmentDocs {
    /// The column documents of `datasets` (ordinals), ascending.
    pub fn columns_of(&self, datasets: &[u32]) -> Vec<DocId> {
        let mut datasets = datasets.to_vec();
        datasets.sort_unstable();
        datasets.dedup();
        let mut docs = Vec::new();
        for d in datasets {
            let d = d as usize;
            if let (Some(&a), Some(&b)) = (self.starts.get(d), self.starts.get(d + 1)) {
                docs.extend_from_slice(&self.column_docs[a as usize..b as usize]);
            }
        }
        // The index adds each dataset's columns together, in catalog order: in order already
        // (a merge of segments may interleave them).
        if !docs.is_sorted() {
            docs.sort_unstable();
        }
        docs
    }

    /// The dataset ordinal and the column (0 for the dataset's own document, else the
    /// column's ordinal + 1) of `doc`.
    #[inline]
    pub fn get(&self, doc: DocId) -> (u32, u32) {
        (
            self.dataset.get(doc as usize).copied().unwrap_or(0),
            self.column.get(doc as usize).copied().unwrap_or(0),
        )
    }
}

/// `inner`'s matches among the dataset documents, with `inner`'s scores (stage 1).
pub struct DatasetDocsQuery {
    map: Arc<DocMap>,
    inner: Box<dyn Query>,
}

impl std::fmt::Debug for DatasetDocsQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetDocsQuery")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Clone for DatasetDocsQuery {
    fn clone(&self) -> Self {
        DatasetDocsQuery {
            map: self.map.clone(),
            inner: self.inner.box_clone(),
        }
    }
}

impl DatasetDocsQuery {
    pub fn new(map: Arc<DocMap>, inner: Box<dyn Query>) -> DatasetDocsQuery {
        DatasetDocsQuery { map, inner }
    }
}

impl Query for DatasetDocsQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(DatasetDocsWeight {
            map: self.map.clone(),
            inner: self.inner.weight(scoring)?,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

struct DatasetDocsWeight {
    map: Arc<DocMap>,
    inner: Box<dyn Weight>,
}

impl Weight for DatasetDocsWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inner = self.inner.scorer(reader, boost)?;
        Ok(match self.map.segments.get(&reader.segment_id()) {
            None => Box::new(DocList {
                docs: Arc::from(Vec::new()),
                cursor: 0,
            }),
            // The dataset documents come first: the matches before the first column.
            Some(segment) if segment.datasets_first => {
                Box::new(Below::new(inner, segment.dataset_docs.len() as DocId))
            }
            Some(segment) => tantivy::query::intersect_scorers(
                vec![
                    inner,
                    Box::new(DocList {
                        docs: segment.dataset_docs.clone(),
                        cursor: 0,
                    }),
                ],
                reader.max_doc(),
            ),
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

/// A scorer's documents below `end`.
struct Below {
    inner: Box<dyn Scorer>,
    end: DocId,
    /// Past `end`: the scorer is done (whatever `inner` is on).
    done: bool,
}

impl Below {
    fn new(inner: Box<dyn Scorer>, end: DocId) -> Below {
        let done = inner.doc() >= end;
        Below { inner, end, done }
    }

    fn check(&mut self, doc: DocId) -> DocId {
        if doc >= self.end {
            self.done = true;
            TERMINATED
        } else {
            doc
        }
    }
}

impl DocSet for Below {
    fn advance(&mut self) -> DocId {
        if self.done {
            return TERMINATED;
        }
        let doc = self.inner.advance();
        self.check(doc)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.done || target >= self.end {
            self.done = true;
            return TERMINATED;
        }
        let doc = self.inner.seek(target);
        self.check(doc)
    }

    fn doc(&self) -> DocId {
        if self.done {
            TERMINATED
        } else {
            self.inner.doc()
        }
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint().min(self.end)
    }
}

impl Scorer for Below {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}

/// A sorted list of documents as a scorer (each scores 0).
struct DocList {
    docs: Arc<[DocId]>,
    cursor: usize,
}

impl DocSet for DocList {
    fn advance(&mut self) -> DocId {
        self.cursor = (self.cursor + 1).min(self.docs.len());
        self.doc()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        // Targets only move forward, mostly to the next few documents (an intersection
        // advances by seeking one past the current one): gallop from the cursor, then
        // search the last stride.
        let docs = &self.docs[self.cursor..];
        if docs.first().is_none_or(|&d| d >= target) {
            return self.doc();
        }
        let mut below = 0;
        let mut step = 1;
        while below + step < docs.len() && docs[below + step] < target {
            below += step;
            step *= 2;
        }
        let end = (below + step + 1).min(docs.len());
        self.cursor += below + 1 + docs[below + 1..end].partition_point(|&d| d < target);
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.cursor).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        (self.docs.len() - self.cursor) as u32
    }
}

impl Scorer for DocList {
    fn score(&mut self) -> Score {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_ends_where_its_bound_is_and_stays_ended() {
        let list = |docs: &[DocId]| -> Box<dyn Scorer> {
            Box::new(DocList {
                docs: docs.to_vec().into(),
                cursor: 0,
            })
        };
        let mut below = Below::new(list(&[1, 3, 5, 7, 9]), 6);
        assert_eq!(below.doc(), 1);
        assert_eq!(below.advance(), 3);
        assert_eq!(below.seek(4), 5);
        assert_eq!(below.advance(), TERMINATED);
        assert_eq!(below.doc(), TERMINATED);
        assert_eq!(below.seek(8), TERMINATED);

        // A seek to the bound or past it ends it, and `doc` agrees.
        let mut below = Below::new(list(&[1, 3, 5, 7, 9]), 6);
        assert_eq!(below.seek(6), TERMINATED);
        assert_eq!(below.doc(), TERMINATED);
        assert_eq!(below.advance(), TERMINATED);
        // Nothing below the bound: ended from the start.
        assert_eq!(Below::new(list(&[7, 9]), 6).doc(), TERMINATED);
        assert_eq!(Below::new(list(&[]), 6).doc(), TERMINATED);
    }

    #[test]
    fn seeking_a_list_lands_on_the_first_document_at_or_after_the_target() {
        let docs: Vec<DocId> = (0..300).map(|i| i * 3 + (i % 7)).collect();
        for start in [0, 1, 5, 100, 299] {
            for gap in [0, 1, 2, 3, 10, 64, 500, 2000] {
                let mut list = DocList {
                    docs: docs.clone().into(),
                    cursor: start,
                };
                let mut target = list.doc();
                while target != TERMINATED {
                    target = (target + gap).min(TERMINATED);
                    let expected = docs[start..]
                        .iter()
                        .copied()
                        .find(|&d| d >= target)
                        .unwrap_or(TERMINATED);
                    assert_eq!(list.seek(target), expected, "start {start}, gap {gap}");
                    target = expected;
                    if target != TERMINATED {
                        target += 1;
                    }
                }
                assert_eq!(list.advance(), TERMINATED);
                assert_eq!(list.seek(TERMINATED), TERMINATED);
            }
        }
        let mut empty = DocList {
            docs: Vec::new().into(),
            cursor: 0,
        };
        assert_eq!(empty.doc(), TERMINATED);
        assert_eq!(empty.seek(5), TERMINATED);
    }
}
