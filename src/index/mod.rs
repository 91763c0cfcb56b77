//! The lexical index (Tantivy): one document per dataset and one per column, built from a
//! catalog version, kept on disk per version and opened read-only with one long-lived reader.
//!
//! Ranking is aggregated to datasets by [`collector::DatasetCollector`]: a dataset's score
//! combines its own document's score with those of its best-matching columns.

pub mod analyzer;
mod collector;
mod docs;
pub mod suggest;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, FuzzyTermQuery, Occur, Query,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{
    DocSet, Index, IndexReader, ReloadPolicy, Searcher, TERMINATED, TantivyDocument, Term,
};

use crate::catalog::Catalog;
pub use collector::{DatasetCollector, DatasetMatch};
use docs::{DatasetDocsQuery, DocMap};

/// Bump when the schema or analyzers change: indexes of another format are rebuilt.
pub const INDEX_FORMAT: u32 = 6;
const MARKER: &str = "descoberta-index.json";
/// The catalog of the version, saved with its index.
const CATALOG_FILE: &str = "catalog.bin";
const KIND_DATASET: &str = "dataset";
const KIND_COLUMN: &str = "column";

#[derive(Clone, Copy)]
pub struct Fields {
    /// `dataset` or `column`.
    pub kind: Field,
    pub ds: Field,
    pub col: Field,
    pub acl: Field,
    pub name_en: Field,
    pub name_pt: Field,
    pub desc_en: Field,
    pub desc_pt: Field,
    pub ctx_en: Field,
    pub ctx_pt: Field,
    pub exact: Field,
    pub words: Field,
}

fn text_field(schema: &mut tantivy::schema::SchemaBuilder, name: &str, analyzer: &str) -> Field {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(analyzer)
        .set_index_option(IndexRecordOption::WithFreqs);
    schema.add_text_field(name, TextOptions::default().set_indexing_options(indexing))
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        kind: b.add_text_field("kind", STRING),
        ds: b.add_u64_field("ds", FAST | INDEXED),
        col: b.add_u64_field("col", FAST),
        acl: b.add_text_field("acl", STRING),
        name_en: text_field(&mut b, "name_en", analyzer::EN),
        name_pt: text_field(&mut b, "name_pt", analyzer::PT),
        desc_en: text_field(&mut b, "desc_en", analyzer::EN),
        desc_pt: text_field(&mut b, "desc_pt", analyzer::PT),
        ctx_en: text_field(&mut b, "ctx_en", analyzer::EN),
        ctx_pt: text_field(&mut b, "ctx_pt", analyzer::PT),
        exact: text_field(&mut b, "exact", analyzer::EXACT),
        words: text_field(&mut b, "words", analyzer::WORDS),
    };
    (b.build(), fields)
}

/// Written last into a finished index directory; an index without it is incomplete.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Marker {
    format: u32,
    version: i64,
    datasets: usize,
    columns: usize,
}

/// Field weights of the lexical query (names > descriptions > context).
#[derive(Debug, Clone, Copy)]
pub struct Boosts {
    pub name: f32,
    pub desc: f32,
    pub ctx: f32,
    pub pt: f32,
    pub exact: f32,
    /// Weight of translated words relative to the words as typed.
    pub translated: f32,
}

impl Default for Boosts {
    fn default() -> Self {
        Boosts {
            name: 3.0,
            desc: 1.5,
            ctx: 0.6,
            pt: 0.35,
            exact: 12.0,
            translated: 0.5,
        }
    }
}

/// The analyzed form of a query, as the index needs it.
#[derive(Debug, Clone, Default)]
pub struct LexicalQuery {
    /// English-analyzed terms (deduplicated).
    pub en: Vec<String>,
    /// Portuguese-analyzed terms (deduplicated).
    pub pt: Vec<String>,
    /// Lowercased whole names to match exactly.
    pub exact: Vec<String>,
    /// English-analyzed translations of the query's Portuguese words (weighted below).
    pub translated_en: Vec<String>,
    /// Portuguese-analyzed translations of the query's English words (weighted below).
    pub translated_pt: Vec<String>,
}

impl LexicalQuery {
    pub fn is_empty(&self) -> bool {
        self.en.is_empty()
            && self.pt.is_empty()
            && self.exact.is_empty()
            && self.translated_en.is_empty()
            && self.translated_pt.is_empty()
    }
}

/// One candidate of typeahead.
#[derive(Debug, Clone)]
pub struct SuggestMatch {
    pub dataset: u32,
    /// `None` for the dataset itself.
    pub column: Option<u32>,
    pub score: f32,
}

/// Rewrites a dataset's text (by dataset ordinal) before it is indexed.
pub trait TextFilter: Sync {
    fn filter<'t>(&self, dataset: u32, text: &'t str) -> std::borrow::Cow<'t, str>;
}

/// The filter that changes nothing.
pub struct Unfiltered;

impl TextFilter for Unfiltered {
    fn filter<'t>(&self, _: u32, text: &'t str) -> std::borrow::Cow<'t, str> {
        std::borrow::Cow::Borrowed(text)
    }
}

pub struct LexicalIndex {
    reader: IndexReader,
    fields: Fields,
    dir: PathBuf,
    /// Which dataset and column each document is.
    docs: Arc<DocMap>,
}

impl LexicalIndex {
    /// Opens the finished index of `version` in `dir`, if it is there and of this format;
    /// an error when it is there but damaged (a file missing, truncated or failing its
    /// checksum).
    pub fn open(
        dir: &Path,
        version: i64,
        catalog: &Catalog,
    ) -> anyhow::Result<Option<LexicalIndex>> {
        let expected = Marker {
            format: INDEX_FORMAT,
            version,
            datasets: catalog.datasets.len(),
            columns: catalog.column_count(),
        };
        let Ok(bytes) = std::fs::read(dir.join(MARKER)) else {
            return Ok(None);
        };
        match serde_json::from_slice::<Marker>(&bytes) {
            Ok(marker) if marker == expected => {}
            _ => return Ok(None),
        }
        let index =
            Index::open_in_dir(dir).with_context(|| format!("opening index {}", dir.display()))?;
        // Every file's checksum (in Tantivy's footers): a damaged index is rebuilt, never
        // served.
        let damaged = index
            .validate_checksum()
            .with_context(|| format!("verifying index {}", dir.display()))?;
        anyhow::ensure!(
            damaged.is_empty(),
            "index {} is damaged: {} file(s) fail their checksum",
            dir.display(),
            damaged.len()
        );
        Ok(Some(Self::from_index(index, dir)?))
    }

    /// The catalog saved with a finished index of `version` (a cache of the store's rows, so a
    /// restart need not read a large catalog back from the database).
    pub fn cached_catalog(dir: &Path, version: i64) -> Option<Catalog> {
        let marker: Marker = serde_json::from_slice(&std::fs::read(dir.join(MARKER)).ok()?).ok()?;
        if marker.format != INDEX_FORMAT || marker.version != version {
            return None;
        }
        let bytes = std::fs::read(dir.join(CATALOG_FILE)).ok()?;
        let catalog: Catalog = postcard::from_bytes(&bytes).ok()?;
        (catalog.datasets.len() == marker.datasets && catalog.column_count() == marker.columns)
            .then_some(catalog)
    }

    /// Builds the index of `catalog` into `dir` (created; must not exist), atomically: it is
    /// built in a sibling temporary directory and renamed into place when complete.
    ///
    /// `filter` rewrites each dataset's free text (descriptions and context, not names) before
    /// it is indexed: the caller uses it to keep hidden names out of visible documents.
    pub fn build(
        dir: &Path,
        version: i64,
        catalog: &Catalog,
        filter: &dyn TextFilter,
    ) -> anyhow::Result<LexicalIndex> {
        let parent = dir.parent().context("index directory has no parent")?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".building-")
            .tempdir_in(parent)
            .context("creating temporary index directory")?;
        let (schema, fields) = schema();
        let index = Index::builder()
            .schema(schema)
            .create_in_dir(tmp.path())
            .context("creating index")?;
        analyzer::register(index.tokenizers());
        let mut writer = index
            .writer_with_num_threads::<TantivyDocument>(1, 256 * 1024 * 1024)
            .context("index writer")?;
        for (ds_ord, dataset) in catalog.datasets.iter().enumerate() {
            let acl = dataset.acl_terms();
            let mut doc = TantivyDocument::new();
            doc.add_text(fields.kind, KIND_DATASET);
            doc.add_u64(fields.ds, ds_ord as u64);
            doc.add_u64(fields.col, 0);
            for term in &acl {
                doc.add_text(fields.acl, term);
            }
            add_both(&mut doc, fields.name_en, fields.name_pt, &dataset.name);
            if let Some(desc) = &dataset.description {
                add_both(
                    &mut doc,
                    fields.desc_en,
                    fields.desc_pt,
                    &filter.filter(ds_ord as u32, desc),
                );
            }
            let mut ctx = String::new();
            for value in dataset
                .tags
                .iter()
                .chain(dataset.domain.iter())
                .chain(dataset.owner.iter())
                .chain(dataset.properties.values())
            {
                ctx.push_str(value);
                ctx.push('\n');
            }
            // Every column's text too, so a dataset document matches whatever any of its
            // columns matches (search ranks dataset documents first, then their columns).
            for column in &dataset.columns {
                ctx.push_str(&column.name);
                ctx.push('\n');
                for value in column
                    .description
                    .iter()
                    .chain(column.tags.iter())
                    .chain(column.properties.values())
                {
                    ctx.push_str(value);
                    ctx.push('\n');
                }
            }
            add_both(
                &mut doc,
                fields.ctx_en,
                fields.ctx_pt,
                &filter.filter(ds_ord as u32, &ctx),
            );
            let lower = dataset.name.to_lowercase();
            if let Some((_, short)) = lower.rsplit_once('.') {
                doc.add_text(fields.exact, short);
            }
            doc.add_text(fields.exact, &lower);
            doc.add_text(fields.words, &dataset.name);
            writer.add_document(doc).context("indexing dataset")?;
        }
        // Column documents after all dataset documents: searches over dataset documents then
        // stay within a dense range of document ids.
        for (ds_ord, dataset) in catalog.datasets.iter().enumerate() {
            let acl = dataset.acl_terms();
            for (col_ord, column) in dataset.columns.iter().enumerate() {
                let mut doc = TantivyDocument::new();
                doc.add_text(fields.kind, KIND_COLUMN);
                doc.add_u64(fields.ds, ds_ord as u64);
                doc.add_u64(fields.col, col_ord as u64 + 1);
                for term in &acl {
                    doc.add_text(fields.acl, term);
                }
                add_both(&mut doc, fields.name_en, fields.name_pt, &column.name);
                if let Some(desc) = &column.description {
                    add_both(
                        &mut doc,
                        fields.desc_en,
                        fields.desc_pt,
                        &filter.filter(ds_ord as u32, desc),
                    );
                }
                let mut ctx = String::new();
                for value in column.tags.iter().chain(column.properties.values()) {
                    ctx.push_str(value);
                    ctx.push('\n');
                }
                if !ctx.is_empty() {
                    add_both(
                        &mut doc,
                        fields.ctx_en,
                        fields.ctx_pt,
                        &filter.filter(ds_ord as u32, &ctx),
                    );
                }
                doc.add_text(fields.exact, column.name.to_lowercase());
                doc.add_text(fields.words, &column.name);
                writer.add_document(doc).context("indexing column")?;
            }
        }
        writer.commit().context("committing index")?;
        writer
            .wait_merging_threads()
            .context("waiting for index merges")?;
        let marker = Marker {
            format: INDEX_FORMAT,
            version,
            datasets: catalog.datasets.len(),
            columns: catalog.column_count(),
        };
        std::fs::write(
            tmp.path().join(CATALOG_FILE),
            postcard::to_allocvec(catalog).context("encoding the catalog")?,
        )
        .context("writing the catalog next to the index")?;
        std::fs::write(
            tmp.path().join(MARKER),
            serde_json::to_vec(&marker).context("marker")?,
        )
        .context("writing index marker")?;
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("removing stale {}", dir.display()))?;
        }
        let tmp = tmp.keep();
        std::fs::rename(&tmp, dir)
            .with_context(|| format!("moving index into {}", dir.display()))?;
        let index = Index::open_in_dir(dir).context("reopening built index")?;
        Self::from_index(index, dir)
    }

    fn from_index(index: Index, dir: &Path) -> anyhow::Result<LexicalIndex> {
        analyzer::register(index.tokenizers());
        let (_, fields) = schema();
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .context("index reader")?;
        let docs = Arc::new(DocMap::read(&reader.searcher()).context("reading the documents")?);
        Ok(LexicalIndex {
            reader,
            fields,
            dir: dir.to_path_buf(),
            docs,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes the index takes on disk.
    pub fn size_bytes(&self) -> u64 {
        dir_size(&self.dir)
    }

    /// `query`, restricted to documents carrying one of the `acl` terms (`None`: no filter).
    fn with_filter(&self, query: Box<dyn Query>, acl: Option<&[String]>) -> Box<dyn Query> {
        let Some(terms) = acl else {
            return query;
        };
        let terms = terms
            .iter()
            .map(|t| Term::from_field_text(self.fields.acl, t));
        let filter = Box::new(ConstScoreQuery::new(
            Box::new(TermSetQuery::new(terms)),
            0.0,
        ));
        Box::new(BooleanQuery::new(vec![
            (Occur::Must, query),
            (Occur::Must, filter),
        ]))
    }

    /// The query's terms as weighted clauses: (term, boost). A translation that no document
    /// holds in its field is left out (an English question's Portuguese translations on an
    /// English catalog, mostly): it could not match, and each clause costs a scorer per
    /// segment.
    fn text_clauses(
        &self,
        searcher: &Searcher,
        query: &LexicalQuery,
        boosts: &Boosts,
    ) -> Vec<(Term, f32)> {
        let f = &self.fields;
        let mut clauses: Vec<(Term, f32)> = Vec::new();
        let mut term_clause = |field: Field, text: &str, boost: f32| {
            clauses.push((Term::from_field_text(field, text), boost));
        };
        for t in &query.en {
            term_clause(f.name_en, t, boosts.name);
            term_clause(f.desc_en, t, boosts.desc);
            term_clause(f.ctx_en, t, boosts.ctx);
        }
        for t in &query.pt {
            term_clause(f.name_pt, t, boosts.name * boosts.pt);
            term_clause(f.desc_pt, t, boosts.desc * boosts.pt);
            term_clause(f.ctx_pt, t, boosts.ctx * boosts.pt);
        }
        for t in &query.exact {
            term_clause(f.exact, t, boosts.exact);
        }
        // A failed frequency lookup keeps the clause (the search itself then reports it).
        let held = |field: Field, text: &str| {
            searcher
                .doc_freq(&Term::from_field_text(field, text))
                .map_or(true, |n| n > 0)
        };
        let mut translated_clause = |field: Field, text: &str, boost: f32| {
            if held(field, text) {
                term_clause(field, text, boost);
            }
        };
        for t in &query.translated_en {
            translated_clause(f.name_en, t, boosts.name * boosts.translated);
            translated_clause(f.desc_en, t, boosts.desc * boosts.translated);
            translated_clause(f.ctx_en, t, boosts.ctx * boosts.translated);
        }
        for t in &query.translated_pt {
            translated_clause(f.name_pt, t, boosts.name * boosts.translated * boosts.pt);
            translated_clause(f.desc_pt, t, boosts.desc * boosts.translated * boosts.pt);
            translated_clause(f.ctx_pt, t, boosts.ctx * boosts.translated * boosts.pt);
        }
        clauses
    }

    /// The query's terms as one query: any of the weighted clauses, scores summed.
    fn text_query(
        &self,
        searcher: &Searcher,
        query: &LexicalQuery,
        boosts: &Boosts,
    ) -> Box<dyn Query> {
        let clauses = self
            .text_clauses(searcher, query, boosts)
            .into_iter()
            .map(|(term, boost)| {
                let term = TermQuery::new(term, IndexRecordOption::WithFreqs);
                let clause: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(term), boost));
                (Occur::Should, clause)
            })
            .collect();
        Box::new(BooleanQuery::new(clauses))
    }

    /// How many of `words` reach the catalog: a word does when one of its terms is in the
    /// vocabulary of the names, descriptions or column text (in either language).
    pub fn known_words(&self, words: &[LexicalQuery]) -> anyhow::Result<usize> {
        let f = &self.fields;
        let searcher = self.reader.searcher();
        let en = [f.name_en, f.desc_en, f.ctx_en];
        let pt = [f.name_pt, f.desc_pt, f.ctx_pt];
        let mut known = 0;
        'words: for terms in words {
            let groups = [
                (&terms.en, en),
                (&terms.translated_en, en),
                (&terms.pt, pt),
                (&terms.translated_pt, pt),
            ];
            for (texts, fields) in groups {
                for text in texts {
                    for field in fields {
                        let term = Term::from_field_text(field, text);
                        if searcher.doc_freq(&term).context("term frequency")? > 0 {
                            known += 1;
                            continue 'words;
                        }
                    }
                }
            }
        }
        Ok(known)
    }

    /// Every dataset whose own document matches `query` among those the `acl` terms allow
    /// (filtered inside the query, before any ranking), with that document's score. The
    /// dataset document holds its columns' text as context, so this finds every dataset that
    /// matches anywhere.
    pub fn search_datasets(
        &self,
        query: &LexicalQuery,
        acl: Option<&[String]>,
        boosts: &Boosts,
    ) -> anyhow::Result<Vec<DatasetMatch>> {
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let datasets_only: Box<dyn Query> = Box::new(DatasetDocsQuery::new(
            self.docs.clone(),
            self.text_query(&searcher, query, boosts),
        ));
        let query = self.with_filter(datasets_only, acl);
        searcher
            .search(query.as_ref(), &DatasetCollector { docs: &self.docs })
            .context("lexical search")
    }

    /// The best-matching columns of the given datasets.
    ///
    /// Each clause's postings are read only at these datasets' column documents (a few
    /// thousand of the index's million at 1M columns): the clauses as one query, filtered,
    /// scored every posting near each of them (a union scores windows of 4,096 documents),
    /// a fifth of a search's CPU. A column's score is the sum of its clauses' scores, in
    /// clause order, as the query's.
    pub fn column_matches(
        &self,
        query: &LexicalQuery,
        datasets: &[u32],
        boosts: &Boosts,
    ) -> anyhow::Result<Vec<DatasetMatch>> {
        if query.is_empty() || datasets.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let scoring = EnableScoring::enabled_from_searcher(&searcher);
        let clauses = self
            .text_clauses(&searcher, query, boosts)
            .into_iter()
            .map(|(term, boost)| {
                let weight = TermQuery::new(term, IndexRecordOption::WithFreqs).weight(scoring)?;
                Ok((weight, boost))
            })
            .collect::<tantivy::Result<Vec<_>>>()
            .context("column search")?;
        let mut found: HashMap<u32, DatasetMatch> = HashMap::new();
        for reader in searcher.segment_readers() {
            let Some(segment) = self.docs.segment(reader.segment_id()) else {
                continue;
            };
            let docs = segment.columns_of(datasets);
            if docs.is_empty() {
                continue;
            }
            let mut scores = vec![0f32; docs.len()];
            let mut matched = vec![false; docs.len()];
            for (weight, boost) in &clauses {
                let mut scorer = weight.scorer(reader, *boost).context("column search")?;
                let mut i = 0;
                while let Some(&target) = docs.get(i) {
                    let doc = match scorer.doc() {
                        current if current >= target => current,
                        _ => scorer.seek(target),
                    };
                    if doc == TERMINATED {
                        break;
                    }
                    if doc == target {
                        scores[i] += scorer.score();
                        matched[i] = true;
                        i += 1;
                    } else {
                        // Past `target`: on to the first listed document at or after `doc`.
                        i += docs[i..].partition_point(|&d| d < doc);
                    }
                }
            }
            for (i, &doc) in docs.iter().enumerate().filter(|(i, _)| matched[*i]) {
                let (dataset, column) = segment.get(doc);
                if column == 0 {
                    continue;
                }
                found
                    .entry(dataset)
                    .or_insert_with(|| DatasetMatch {
                        dataset,
                        ..DatasetMatch::default()
                    })
                    .add_column(column - 1, scores[i]);
            }
        }
        Ok(found.into_values().collect())
    }

    /// Typo-tolerant typeahead candidates (the prefix table in [`suggest`] comes first):
    /// words within edit distance 1 (2 for long words), the last one as a prefix.
    pub fn fuzzy_suggest(
        &self,
        text: &str,
        acl: Option<&[String]>,
        candidates: usize,
    ) -> anyhow::Result<Vec<SuggestMatch>> {
        let f = &self.fields;
        let lower = text.trim().to_lowercase();
        let mut words_analyzer = analyzer::words();
        let words = analyzer::terms(&mut words_analyzer, &lower);
        let ends_complete = lower.ends_with(|c: char| !c.is_alphanumeric());
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut seen = HashSet::new();
        for (i, word) in words.iter().enumerate() {
            if !seen.insert(word.clone()) {
                continue;
            }
            let distance = match word.chars().count() {
                0..=3 => continue,
                4..=7 => 1,
                _ => 2,
            };
            let term = Term::from_field_text(f.words, word);
            let query = if i + 1 == words.len() && !ends_complete {
                FuzzyTermQuery::new_prefix(term, distance, true)
            } else {
                FuzzyTermQuery::new(term, distance, true)
            };
            clauses.push((Occur::Should, Box::new(query)));
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let query = self.with_filter(Box::new(BooleanQuery::new(clauses)), acl);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                query.as_ref(),
                &tantivy::collector::TopDocs::with_limit(candidates).order_by_score(),
            )
            .context("suggest search")?;
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let segment = searcher.segment_reader(address.segment_ord);
            let ff = segment.fast_fields();
            let ds = ff.u64("ds").context("ds fast field")?.first(address.doc_id);
            let col = ff
                .u64("col")
                .context("col fast field")?
                .first(address.doc_id);
            if let (Some(ds), Some(col)) = (ds, col) {
                out.push(SuggestMatch {
                    dataset: ds as u32,
                    column: col.checked_sub(1).map(|c| c as u32),
                    score,
                });
            }
        }
        Ok(out)
    }
}

fn add_both(doc: &mut TantivyDocument, en: Field, pt: Field, text: &str) {
    doc.add_text(en, text);
    doc.add_text(pt, text);
}

/// Bytes a directory takes on disk (its files, recursively).
pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Dataset};

    fn index() -> (tempfile::TempDir, LexicalIndex) {
        let mut orders = Dataset::new("sales.orders");
        orders.description = Some("Orders placed by customers".into());
        orders.columns = vec![Column {
            name: "amount".into(),
            description: Some("Total paid".into()),
            data_type: None,
            tags: Vec::new(),
            properties: Default::default(),
            references: Vec::new(),
        }];
        let tmp = tempfile::tempdir().unwrap();
        let index = LexicalIndex::build(
            &tmp.path().join("v1"),
            1,
            &Catalog::new(vec![orders]),
            &Unfiltered,
        )
        .unwrap();
        (tmp, index)
    }

    /// Stage 1 sees dataset documents only; stage 2 the columns of the datasets asked for,
    /// each with its own ordinal.
    #[test]
    fn each_stage_reads_its_own_documents() {
        let column = |name: &str| Column {
            name: name.into(),
            description: Some("the payment amount".into()),
            data_type: None,
            tags: Vec::new(),
            properties: Default::default(),
            references: Vec::new(),
        };
        let datasets: Vec<Dataset> = (0..6)
            .map(|i| {
                let mut d = Dataset::new(format!("s.table_{i}"));
                d.description = Some(format!("table {i} with payment columns"));
                d.columns = (0..=i).map(|c| column(&format!("col_{c}"))).collect();
                d
            })
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        let index = LexicalIndex::build(
            &tmp.path().join("v1"),
            1,
            &Catalog::new(datasets),
            &Unfiltered,
        )
        .unwrap();
        let query = LexicalQuery {
            en: vec!["payment".into()],
            ..Default::default()
        };
        let boosts = Boosts::default();
        let mut found = index.search_datasets(&query, None, &boosts).unwrap();
        found.sort_by_key(|m| m.dataset);
        assert_eq!(
            found.iter().map(|m| m.dataset).collect::<Vec<_>>(),
            (0..6).collect::<Vec<_>>()
        );
        assert!(
            found
                .iter()
                .all(|m| m.columns.is_empty() && m.dataset_score > 0.0)
        );

        // The same through the dataset documents' list as through the shortcut (they are
        // the segment's first documents here).
        assert!(index.docs.datasets_first());
        let mut listed = LexicalIndex {
            reader: index.reader.clone(),
            fields: index.fields,
            dir: index.dir.clone(),
            docs: Arc::new(index.docs.without_shortcut()),
        }
        .search_datasets(&query, None, &boosts)
        .unwrap();
        listed.sort_by_key(|m| m.dataset);
        let bits = |v: &[DatasetMatch]| {
            v.iter()
                .map(|m| (m.dataset, m.dataset_score.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&listed), bits(&found));

        let mut columns = index.column_matches(&query, &[4, 1, 5], &boosts).unwrap();
        columns.sort_by_key(|m| m.dataset);
        assert_eq!(
            columns.iter().map(|m| m.dataset).collect::<Vec<_>>(),
            vec![1, 4, 5]
        );
        for m in &columns {
            let mut ordinals: Vec<u32> = m.columns.iter().map(|c| c.0).collect();
            ordinals.sort_unstable();
            // Every column of the dataset matches (at most the best COLUMNS_KEPT are kept).
            let kept = (m.dataset as usize + 1).min(collector::COLUMNS_KEPT) as u32;
            assert_eq!(ordinals.len() as u32, kept, "dataset {}", m.dataset);
            assert!(
                ordinals.iter().all(|&c| c <= m.dataset),
                "dataset {}",
                m.dataset
            );
            assert_eq!(m.dataset_score, 0.0);
        }
        assert!(
            index
                .column_matches(&query, &[99], &boosts)
                .unwrap()
                .is_empty()
        );

        // The same columns and scores, to the bit, as the clauses run as one query over the
        // column documents of these datasets (what stage 2 was).
        for words in [
            vec!["payment"],
            vec!["col", "amount", "table"],
            vec!["3", "payment"],
        ] {
            let query = LexicalQuery {
                en: words.iter().map(|w| w.to_string()).collect(),
                ..Default::default()
            };
            let chosen = [5, 0, 3];
            let searcher = index.reader.searcher();
            let ids = chosen
                .iter()
                .map(|&d| Term::from_field_u64(index.fields.ds, d as u64));
            let kind = Term::from_field_text(index.fields.kind, KIND_COLUMN);
            let as_one_query = BooleanQuery::new(vec![
                (Occur::Must, index.text_query(&searcher, &query, &boosts)),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(
                        Box::new(TermQuery::new(kind, IndexRecordOption::Basic)),
                        0.0,
                    )),
                ),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(Box::new(TermSetQuery::new(ids)), 0.0)),
                ),
            ]);
            let columns = |mut v: Vec<DatasetMatch>| {
                v.sort_by_key(|m| m.dataset);
                v.into_iter()
                    .map(|m| {
                        let c: Vec<(u32, u32)> =
                            m.columns.iter().map(|(c, s)| (*c, s.to_bits())).collect();
                        (m.dataset, c)
                    })
                    .collect::<Vec<_>>()
            };
            let expected = searcher
                .search(&as_one_query, &DatasetCollector { docs: &index.docs })
                .unwrap();
            let got = index.column_matches(&query, &chosen, &boosts).unwrap();
            assert!(!got.is_empty(), "{words:?}");
            assert_eq!(columns(got), columns(expected), "{words:?}");
        }
    }

    fn clauses(index: &LexicalIndex, query: &LexicalQuery) -> usize {
        let built = index.text_query(&index.reader.searcher(), query, &Boosts::default());
        built
            .downcast_ref::<BooleanQuery>()
            .unwrap()
            .clauses()
            .len()
    }

    #[test]
    fn translations_no_document_holds_are_left_out_and_change_no_score() {
        let (_tmp, index) = index();
        let boosts = Boosts::default();
        let held = LexicalQuery {
            translated_en: vec!["order".into()],
            ..Default::default()
        };
        let mixed = LexicalQuery {
            translated_en: vec!["order".into(), "zzqx".into()],
            translated_pt: vec!["pedid".into()],
            ..Default::default()
        };
        let absent = LexicalQuery {
            translated_en: vec!["zzqx".into()],
            ..Default::default()
        };
        // "order" is in the name and the description, not in the column context.
        assert_eq!(clauses(&index, &held), 2);
        assert_eq!(clauses(&index, &mixed), 2);
        assert_eq!(clauses(&index, &absent), 0);
        // The words as typed are never left out, held or not.
        let typed = LexicalQuery {
            en: vec!["zzqx".into()],
            ..Default::default()
        };
        assert_eq!(clauses(&index, &typed), 3);

        let score = |q: &LexicalQuery| {
            let found = index.search_datasets(q, None, &boosts).unwrap();
            found.first().map(|m| m.dataset_score)
        };
        assert!(score(&held).is_some_and(|s| s > 0.0));
        assert_eq!(score(&mixed), score(&held));
        assert_eq!(score(&absent), None);
    }
}
