//! The public view of ranked datasets: what `/v1/search` returns for each hit, and what
//! `/v1/ask` builds its answers from.

use std::collections::HashSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::highlight::Highlighter;
use super::{Language, QueryPlan, RankedDataset, Snapshot, Visibility};
use crate::catalog::{LinkKind, Sensitivity};

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
