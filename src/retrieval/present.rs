//! The public view of ranked datasets: what `/v1/search` returns for each hit, and what
//! `/v1/ask` builds its answers from.

use std::collections::HashSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::highlight::Highlighter;
use super::{RankedDataset, Snapshot, Visibility};
use crate::catalog::Sensitivity;

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
