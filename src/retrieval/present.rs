//! The public views of the catalog, shared by both front doors (REST and MCP: one struct per
//! shape, which carries its schema for `/openapi.json` and for the MCP tools): search hits and
//! pages, suggestions, the dataset page, domains. `/v1/ask` builds its answers from the hits.
//! Every view is built from [`Snapshot::view`], the one redacted view of a dataset.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::highlight::Highlighter;
use super::{Ranked, RankedDataset, Snapshot, SuggestHit, Visibility};
use crate::catalog::{Dataset, Sensitivity};

/// How sensitive a dataset is, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SensitivityLevel {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl From<Sensitivity> for SensitivityLevel {
    fn from(s: Sensitivity) -> SensitivityLevel {
        match s {
            Sensitivity::Public => SensitivityLevel::Public,
            Sensitivity::Internal => SensitivityLevel::Internal,
            Sensitivity::Confidential => SensitivityLevel::Confidential,
            Sensitivity::Restricted => SensitivityLevel::Restricted,
        }
    }
}

/// A field of a dataset or column that matched, with the matching words in `<mark>`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Highlight {
    /// `name`, `description`, `tags`, ...
    pub field: String,
    /// HTML-escaped text in which only `<mark>` and `</mark>` are markup.
    pub snippet: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatchedColumn {
    pub name: String,
    pub description: Option<String>,
    pub data_type: Option<String>,
    pub score: f32,
    pub highlights: Vec<Highlight>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub dataset: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub location: Option<String>,
    pub sensitivity: SensitivityLevel,
    pub tags: Vec<String>,
    pub score: f32,
    /// Dataset fields that matched.
    pub highlights: Vec<Highlight>,
    /// The dataset's best-matching columns.
    pub columns: Vec<MatchedColumn>,
}

/// Builds the public view of ranked datasets (also used by ask).
pub fn present_hits(
    snapshot: &Snapshot,
    ranked: &[RankedDataset],
    en_terms: &[String],
    pt_terms: &[String],
    visibility: &Visibility,
) -> Vec<SearchHit> {
    let mut highlighter = Highlighter::new(en_terms, pt_terms);
    ranked
        .iter()
        .filter_map(|r| {
            // Every text field as the caller may see it (hidden names redacted).
            let dataset = snapshot.view(r.dataset, visibility)?;
            let mut highlights = Vec::new();
            let mut mark = |field: &str, text: Option<&str>| {
                if let Some(snippet) = text.and_then(|t| highlighter.highlight(t)) {
                    highlights.push(Highlight {
                        field: field.into(),
                        snippet,
                    });
                }
            };
            mark("name", Some(&dataset.name));
            let description = dataset.description.clone();
            mark("description", description.as_deref());
            let tags = dataset.tags.join("; ");
            mark("tags", (!tags.is_empty()).then_some(tags.as_str()));
            mark("domain", dataset.domain.as_deref());
            let mut seen = HashSet::new();
            let columns = r
                .columns
                .iter()
                .filter(|(c, _)| seen.insert(*c))
                .filter_map(|&(c, score)| {
                    let column = dataset.columns.get(c as usize)?;
                    let column_description = column.description.clone();
                    let mut highlights = Vec::new();
                    for (field, text) in [
                        ("name", Some(column.name.as_str())),
                        ("description", column_description.as_deref()),
                    ] {
                        if let Some(snippet) = text.and_then(|t| highlighter.highlight(t)) {
                            highlights.push(Highlight {
                                field: field.into(),
                                snippet,
                            });
                        }
                    }
                    Some(MatchedColumn {
                        name: column.name.clone(),
                        description: column_description,
                        data_type: column.data_type.clone(),
                        score: round(score),
                        highlights,
                    })
                })
                .collect();
            Some(SearchHit {
                dataset: dataset.name.clone(),
                description,
                owner: dataset.owner.clone(),
                domain: dataset.domain.clone(),
                location: dataset.location.clone(),
                sensitivity: dataset.sensitivity.into(),
                tags: dataset.tags.clone(),
                score: round(r.score),
                highlights,
                columns,
            })
        })
        .collect()
}

fn round(score: f32) -> f32 {
    (score * 1000.0).round() / 1000.0
}

/// One page of search results (`GET /v1/search`, the MCP tool `search_datasets`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub query: String,
    /// Visible datasets matching the query.
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub results: Vec<SearchHit>,
    pub catalog_version: i64,
    pub took_ms: f64,
}

impl SearchResponse {
    /// The page `offset..offset + limit` of a ranking made with `visibility`.
    pub fn page(
        query: &str,
        snapshot: &Snapshot,
        ranked: &Ranked,
        limit: usize,
        offset: usize,
        visibility: &Visibility,
    ) -> SearchResponse {
        let page: Vec<RankedDataset> = ranked
            .datasets
            .iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        let results = present_hits(
            snapshot,
            &page,
            &ranked.plan.lexical.en,
            &ranked.plan.lexical.pt,
            visibility,
        );
        SearchResponse {
            query: query.to_string(),
            total: ranked.total,
            limit,
            offset,
            results,
            catalog_version: snapshot.version,
            took_ms: 0.0,
        }
    }
}

/// Typeahead suggestions for `text`, as `visibility` may see them (blocking: run it through
/// [`super::Searcher::with_snapshot`]).
pub fn suggestions(
    snapshot: &Snapshot,
    text: &str,
    visibility: &Visibility,
    limit: usize,
) -> anyhow::Result<Vec<Suggestion>> {
    let hits = super::suggest(snapshot, text, visibility, limit)?;
    Ok(hits
        .iter()
        .filter_map(|h| present_suggestion(snapshot, h, visibility))
        .collect())
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SuggestionKind {
    Dataset,
    Column,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestion {
    /// What to show and complete to: a dataset name, or `dataset.column`.
    pub text: String,
    pub kind: SuggestionKind,
    pub dataset: String,
    pub column: Option<String>,
    pub description: Option<String>,
    /// Datasets (visible to the caller) that have this name: 1 for a dataset; for a column
    /// name shared by several datasets, how many (then `dataset` is one of them).
    pub datasets: usize,
}

/// Typeahead (`GET /v1/suggest`, the MCP tool `suggest`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestResponse {
    pub query: String,
    pub suggestions: Vec<Suggestion>,
    pub catalog_version: i64,
    pub took_ms: f64,
}

/// A suggestion as the client sees it. A column name shared by several datasets is one
/// suggestion (`text` is the column name, `datasets` how many have it); a name unique to one
/// dataset reads `dataset.column`.
fn present_suggestion(
    snapshot: &Snapshot,
    hit: &SuggestHit,
    visibility: &Visibility,
) -> Option<Suggestion> {
    let dataset = snapshot.view(hit.dataset, visibility)?;
    Some(match hit.column {
        None => Suggestion {
            text: dataset.name.clone(),
            kind: SuggestionKind::Dataset,
            dataset: dataset.name.clone(),
            column: None,
            description: dataset.description.clone(),
            datasets: 1,
        },
        Some(c) => {
            let column = dataset.columns.get(c as usize)?;
            Suggestion {
                text: if hit.shared_by > 1 {
                    column.name.clone()
                } else {
                    format!("{}.{}", dataset.name, column.name)
                },
                kind: SuggestionKind::Column,
                dataset: dataset.name.clone(),
                column: Some(column.name.clone()),
                description: column.description.clone(),
                datasets: hit.shared_by.max(1),
            }
        }
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnView {
    pub name: String,
    pub description: Option<String>,
    pub data_type: Option<String>,
    pub tags: Vec<String>,
    pub properties: BTreeMap<String, String>,
}

/// One dataset with all its columns and properties (`GET /v1/datasets/{name}`, the MCP tool
/// `get_dataset` and the resource `descoberta://dataset/{name}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetView {
    pub dataset: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub location: Option<String>,
    pub sensitivity: SensitivityLevel,
    pub tags: Vec<String>,
    pub allowed_groups: Vec<String>,
    pub properties: BTreeMap<String, String>,
    pub columns: Vec<ColumnView>,
    pub catalog_version: i64,
}

impl DatasetView {
    /// The dataset called `name` as `visibility` may see it; `None` when it does not exist
    /// *or* may not be seen (the two look the same).
    pub fn visible(
        snapshot: &Snapshot,
        name: &str,
        visibility: &Visibility,
    ) -> Option<DatasetView> {
        let (ordinal, _) = snapshot.visible_dataset(name, visibility)?;
        let d = snapshot.view(ordinal, visibility)?;
        Some(DatasetView::new(&d, snapshot.version))
    }

    /// `d` must come from [`Snapshot::view`].
    fn new(d: &Dataset, catalog_version: i64) -> DatasetView {
        DatasetView {
            dataset: d.name.clone(),
            description: d.description.clone(),
            owner: d.owner.clone(),
            domain: d.domain.clone(),
            location: d.location.clone(),
            sensitivity: d.sensitivity.into(),
            tags: d.tags.clone(),
            allowed_groups: d.allowed_groups.clone(),
            properties: d.properties.clone(),
            columns: d
                .columns
                .iter()
                .map(|c| ColumnView {
                    name: c.name.clone(),
                    description: c.description.clone(),
                    data_type: c.data_type.clone(),
                    tags: c.tags.clone(),
                    properties: c.properties.clone(),
                })
                .collect(),
            catalog_version,
        }
    }
}

/// A domain and how many datasets the caller may see in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainView {
    pub domain: String,
    pub datasets: usize,
}

/// The domains of the datasets the caller may see (the MCP tool `list_domains`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainsView {
    pub domains: Vec<DomainView>,
    pub catalog_version: i64,
}

impl DomainsView {
    pub fn new(snapshot: &Snapshot, visibility: &Visibility) -> DomainsView {
        DomainsView {
            domains: snapshot
                .domains(visibility)
                .into_iter()
                .map(|(domain, datasets)| DomainView { domain, datasets })
                .collect(),
            catalog_version: snapshot.version,
        }
    }
}

/// A dataset in a listing: what tells it apart, without its columns.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetSummary {
    pub dataset: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub sensitivity: SensitivityLevel,
    pub tags: Vec<String>,
    /// How many columns it has.
    pub columns: usize,
}

/// The datasets of one domain the caller may see (the MCP tool `browse`).
#[derive(Debug, Serialize, ToSchema)]
pub struct BrowseView {
    pub domain: String,
    /// Visible datasets in the domain.
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub datasets: Vec<DatasetSummary>,
    pub catalog_version: i64,
}

impl BrowseView {
    /// A page of the visible datasets of `domain`, in catalog order; `None` when the caller
    /// sees no dataset in it (a domain of hidden datasets only looks like no domain at all).
    pub fn new(
        snapshot: &Snapshot,
        domain: &str,
        visibility: &Visibility,
        limit: usize,
        offset: usize,
    ) -> Option<BrowseView> {
        let ordinals = snapshot.in_domain(domain, visibility);
        let first = snapshot.view(*ordinals.first()?, visibility)?;
        let domain = first.domain.clone().unwrap_or_else(|| domain.to_string());
        let datasets = ordinals
            .iter()
            .skip(offset)
            .take(limit)
            .filter_map(|&ordinal| {
                let d = snapshot.view(ordinal, visibility)?;
                Some(DatasetSummary {
                    dataset: d.name.clone(),
                    description: d.description.clone(),
                    owner: d.owner.clone(),
                    sensitivity: d.sensitivity.into(),
                    tags: d.tags.clone(),
                    columns: d.columns.len(),
                })
            })
            .collect();
        Some(BrowseView {
            domain,
            total: ordinals.len(),
            limit,
            offset,
            datasets,
            catalog_version: snapshot.version,
        })
    }
}
