//! The public views of the catalog, shared by both front doors (REST and MCP: one struct per
//! shape, which carries its schema for `/openapi.json` and for the MCP tools): search hits and
//! pages, suggestions, the dataset page, domains. `/v1/ask` builds its answers from the hits.
//! Every view is built from [`Snapshot::view`], the one redacted view of a dataset.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::highlight::Highlighter;
use super::{Language, QueryPlan, Ranked, RankedDataset, Snapshot, SuggestHit, Visibility};
use crate::catalog::{LinkKind, Sensitivity, split_reference};

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
    /// Why a dataset found through a relationship is here: `joins sales.orders on
    /// customer_id`, `derived from raw.orders_dump`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<String>,
    /// The glossary terms of the query that a steward linked to this dataset.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub glossary: Vec<GlossaryMatch>,
}

/// A glossary term the query used: the term, and the words that matched it (its name or a
/// synonym, as the glossary spells it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GlossaryMatch {
    pub term: String,
    pub matched: String,
}

fn glossary_matches(
    snapshot: &Snapshot,
    r: &RankedDataset,
    visibility: &Visibility,
) -> Vec<GlossaryMatch> {
    r.terms
        .iter()
        .filter_map(|m| {
            let term = snapshot.catalog.terms.get(m.term as usize)?;
            let matched = term.phrases().nth(m.phrase as usize)?;
            Some(GlossaryMatch {
                term: snapshot.redact(&term.name, visibility),
                matched: snapshot.redact(matched, visibility),
            })
        })
        .collect()
}

/// Builds the public view of ranked datasets (also used by ask).
pub fn present_hits(
    snapshot: &Snapshot,
    ranked: &[RankedDataset],
    plan: &QueryPlan,
    visibility: &Visibility,
) -> Vec<SearchHit> {
    let en = [plan.lexical.en.as_slice(), &plan.lexical.translated_en].concat();
    let pt = [plan.lexical.pt.as_slice(), &plan.lexical.translated_pt].concat();
    let mut highlighter = Highlighter::new(&en, &pt);
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
                related: r
                    .via
                    .and_then(|seed| relation(snapshot, r.dataset, seed, plan.language)),
                glossary: glossary_matches(snapshot, r, visibility),
            })
        })
        .collect()
}

/// How `dataset` relates to `seed` (a visible dataset it was found through), in words.
pub fn relation(
    snapshot: &Snapshot,
    dataset: u32,
    seed: u32,
    language: Language,
) -> Option<String> {
    let link = snapshot
        .links
        .of(dataset)
        .iter()
        .find(|l| l.other == seed)?;
    let seed_name = &snapshot.dataset(seed)?.name;
    let columns: Vec<&str> = link.on.iter().map(|(a, _)| a.as_str()).collect();
    let columns = columns.join(", ");
    Some(match (link.kind, link.outgoing, language) {
        (LinkKind::ForeignKey, _, Language::English) => {
            format!("joins {seed_name} on {columns}")
        }
        (LinkKind::ForeignKey, _, Language::Portuguese) => {
            format!("liga-se a {seed_name} por {columns}")
        }
        (LinkKind::Lineage, true, Language::English) => format!("derived from {seed_name}"),
        (LinkKind::Lineage, true, Language::Portuguese) => format!("derivado de {seed_name}"),
        (LinkKind::Lineage, false, Language::English) => {
            format!("{seed_name} is derived from it")
        }
        (LinkKind::Lineage, false, Language::Portuguese) => {
            format!("{seed_name} deriva dele")
        }
    })
}

fn round(score: f32) -> f32 {
    (score * 1000.0).round() / 1000.0
}

/// One pair of joining columns.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JoinColumns {
    /// The column of the dataset shown.
    pub column: String,
    /// The column of the related dataset.
    pub other_column: String,
}

/// A dataset related to the one shown (only datasets the caller may see are listed).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RelatedDataset {
    pub dataset: String,
    /// `foreign_key` or `lineage`.
    #[schema(pattern = "^(foreign_key|lineage)$")]
    pub kind: String,
    /// `outgoing`: the shown dataset refers to (or is derived from) this one; `incoming`: the
    /// other way round.
    #[schema(pattern = "^(outgoing|incoming)$")]
    pub direction: String,
    /// The joining columns (foreign keys).
    pub on: Vec<JoinColumns>,
    pub description: Option<String>,
}

fn kind_name(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::ForeignKey => "foreign_key",
        LinkKind::Lineage => "lineage",
    }
}

/// The datasets related to `ordinal` that `visibility` may see.
pub fn related(snapshot: &Snapshot, ordinal: u32, visibility: &Visibility) -> Vec<RelatedDataset> {
    snapshot
        .links
        .of(ordinal)
        .iter()
        .filter_map(|link| {
            let other = snapshot.view(link.other, visibility)?;
            Some(RelatedDataset {
                dataset: other.name.clone(),
                kind: kind_name(link.kind).into(),
                direction: if link.outgoing {
                    "outgoing"
                } else {
                    "incoming"
                }
                .into(),
                on: link
                    .on
                    .iter()
                    .map(|(a, b)| JoinColumns {
                        column: a.clone(),
                        other_column: b.clone(),
                    })
                    .collect(),
                description: other.description.clone(),
            })
        })
        .collect()
}

/// One hop of a join path.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JoinHop {
    pub from: String,
    pub to: String,
    /// `foreign_key` or `lineage`.
    #[schema(pattern = "^(foreign_key|lineage)$")]
    pub kind: String,
    pub on: Vec<JoinColumns>,
    /// The join condition as written in SQL terms: `orders.customer_id = customers.customer_id`.
    pub condition: String,
}

/// The shortest join path (at most `max_hops`) from `from` to `to` through datasets the
/// caller may see; `None` when either is hidden or missing, or nothing links them.
pub fn join_path(
    snapshot: &Snapshot,
    from: &str,
    to: &str,
    visibility: &Visibility,
    max_hops: usize,
) -> Option<Vec<JoinHop>> {
    let (a, _) = snapshot.visible_dataset(from, visibility)?;
    let (b, _) = snapshot.visible_dataset(to, visibility)?;
    let allow = |d: u32| snapshot.is_visible(d, visibility);
    let path = snapshot.links.path(a, b, allow, max_hops)?;
    path.into_iter()
        .map(|(start, link)| {
            let from = snapshot.dataset(start)?.name.clone();
            let to = snapshot.dataset(link.other)?.name.clone();
            Some(JoinHop {
                kind: kind_name(link.kind).into(),
                on: link
                    .on
                    .iter()
                    .map(|(x, y)| JoinColumns {
                        column: x.clone(),
                        other_column: y.clone(),
                    })
                    .collect(),
                condition: link.join_condition(&from, &to),
                from,
                to,
            })
        })
        .collect()
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
        let results = present_hits(snapshot, &page, &ranked.plan, visibility);
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
    /// The columns this one refers to (`dataset.column`), among datasets the caller may see.
    pub references: Vec<String>,
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
    /// Datasets linked by foreign keys or lineage, either way (those the caller may see).
    pub relationships: Vec<RelatedDataset>,
    /// The glossary terms linked to this dataset or one of its columns.
    pub glossary: Vec<DatasetTerm>,
    pub catalog_version: i64,
}

/// A glossary term linked to a dataset shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetTerm {
    pub term: String,
    pub definition: Option<String>,
    /// The linked column; `None` when the term links to the whole dataset.
    pub column: Option<String>,
}

/// One glossary term as the caller may see it: only its links to visible datasets.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermView {
    pub name: String,
    pub definition: Option<String>,
    pub synonyms: Vec<String>,
    pub owner: Option<String>,
    pub links: Vec<TermLinkView>,
}

/// What a term links to.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermLinkView {
    pub dataset: String,
    pub column: Option<String>,
}

/// `GET /v1/glossary`: every term, with the links the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct GlossaryView {
    pub terms: Vec<TermView>,
    pub catalog_version: i64,
}

impl GlossaryView {
    pub fn new(snapshot: &Snapshot, visibility: &Visibility) -> GlossaryView {
        let redact = |t: &str| snapshot.redact(t, visibility);
        let terms = snapshot
            .catalog
            .terms
            .iter()
            .enumerate()
            .map(|(t, term)| TermView {
                name: redact(&term.name),
                definition: term.definition.as_deref().map(redact),
                synonyms: term.synonyms.iter().map(|s| redact(s)).collect(),
                owner: term.owner.as_deref().map(redact),
                links: snapshot
                    .glossary
                    .links(t as u32)
                    .iter()
                    .filter(|l| snapshot.is_visible(l.dataset, visibility))
                    .filter_map(|l| {
                        let d = snapshot.dataset(l.dataset)?;
                        let column = match l.column {
                            Some(c) => Some(d.columns.get(c as usize)?.name.clone()),
                            None => None,
                        };
                        Some(TermLinkView {
                            dataset: d.name.clone(),
                            column,
                        })
                    })
                    .collect(),
            })
            .collect();
        GlossaryView {
            terms,
            catalog_version: snapshot.version,
        }
    }
}

/// The terms linked to `ordinal` (a dataset the caller may see), as it may see them.
fn dataset_terms(snapshot: &Snapshot, ordinal: u32, visibility: &Visibility) -> Vec<DatasetTerm> {
    let Some(dataset) = snapshot.dataset(ordinal) else {
        return Vec::new();
    };
    snapshot
        .glossary
        .of_dataset(ordinal)
        .into_iter()
        .filter_map(|(t, column)| {
            let term = snapshot.catalog.terms.get(t as usize)?;
            Some(DatasetTerm {
                term: snapshot.redact(&term.name, visibility),
                definition: term
                    .definition
                    .as_deref()
                    .map(|d| snapshot.redact(d, visibility)),
                column: column
                    .and_then(|c| dataset.columns.get(c as usize))
                    .map(|c| c.name.clone()),
            })
        })
        .collect()
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
        let visible_target = |reference: &String| {
            split_reference(reference)
                .is_some_and(|(dataset, _)| snapshot.visible_dataset(dataset, visibility).is_some())
        };
        Some(DatasetView {
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
                    references: c
                        .references
                        .iter()
                        .filter(|r| visible_target(r))
                        .cloned()
                        .collect(),
                })
                .collect(),
            relationships: related(snapshot, ordinal, visibility),
            glossary: dataset_terms(snapshot, ordinal, visibility),
            catalog_version: snapshot.version,
        })
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
