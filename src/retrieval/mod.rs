//! Retrieval: from a query to a ranked list of the datasets the caller may see, each with its
//! best-matching columns. `GET /v1/search`, `/v1/suggest`, `/v1/ask` and `descoberta eval` all go
//! through here.

pub mod highlight;
pub mod query;

use std::collections::HashSet;

use crate::access::Visibility;
use crate::engine::Snapshot;
use crate::index::{Boosts, DatasetMatch};
pub use query::{Language, QueryPlan, understand};

/// Tunable ranking parameters.
#[derive(Debug, Clone)]
pub struct RetrievalConfig {
    pub boosts: Boosts,
    /// Weight of a dataset's best, second-best, ... matching column relative to its own score.
    pub column_weights: Vec<f32>,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig {
            boosts: Boosts::default(),
            column_weights: vec![0.5, 0.25, 0.12, 0.06, 0.03],
        }
    }
}

/// One dataset in a ranking.
#[derive(Debug, Clone)]
pub struct RankedDataset {
    pub dataset: u32,
    pub score: f32,
    /// Matching columns (ordinal, score), best first.
    pub columns: Vec<(u32, f32)>,
}

/// A whole ranking: every visible matching dataset, best first.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub plan: QueryPlan,
    pub total: usize,
    pub datasets: Vec<RankedDataset>,
}

/// Ranks the datasets of `snapshot` that `visibility` allows for `plan`.
pub fn rank(
    snapshot: &Snapshot,
    plan: QueryPlan,
    visibility: &Visibility,
    config: &RetrievalConfig,
) -> anyhow::Result<Ranked> {
    let matches = snapshot
        .lexical
        .search(&plan.lexical, visibility, &config.boosts)?;
    let mut datasets: Vec<RankedDataset> = matches
        .into_iter()
        .map(|m| lexical_score(m, &config.column_weights))
        .collect();
    sort_ranked(&mut datasets, snapshot);
    debug_assert!(
        datasets
            .iter()
            .map(|d| d.dataset)
            .collect::<HashSet<_>>()
            .len()
            == datasets.len()
    );
    Ok(Ranked {
        total: datasets.len(),
        plan,
        datasets,
    })
}

fn lexical_score(m: DatasetMatch, column_weights: &[f32]) -> RankedDataset {
    let columns_score: f32 = m
        .columns
        .iter()
        .zip(column_weights)
        .map(|((_, s), w)| s * w)
        .sum();
    RankedDataset {
        dataset: m.dataset,
        score: m.dataset_score + columns_score,
        columns: m.columns,
    }
}

/// Best score first; ties broken by name so rankings are deterministic.
fn sort_ranked(datasets: &mut [RankedDataset], snapshot: &Snapshot) {
    datasets.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then_with(|| {
            let name = |d: &RankedDataset| {
                snapshot
                    .catalog
                    .datasets
                    .get(d.dataset as usize)
                    .map(|d| d.name.as_str())
            };
            name(a).cmp(&name(b))
        })
    });
}
