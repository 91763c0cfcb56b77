//! `descoberta eval`: retrieval quality on a catalog and a question set, through the same
//! retrieval path as `GET /v1/search`. The catalog is indexed in memory (and a temporary
//! index directory): no store is involved.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arc_swap::ArcSwap;
use clap::Args;
use serde::Deserialize;

use crate::catalog::Catalog;
use crate::embed::{self, Embedder};
use crate::index::LexicalIndex;
use crate::metrics::Metrics;
use crate::retrieval::semantic::{SemanticPlan, embed_batch};
use crate::retrieval::{
    IndexRedaction, Live, RetrievalConfig, Searcher, Snapshot, Visibility, Votes,
};
use crate::settings::Settings;
use crate::sources::{self, SourceError};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Catalog CSV file(s).
    #[arg(long, required = true)]
    pub catalog: Vec<PathBuf>,
    /// Questions, JSON lines: {"question": "...", "gold": ["db.table", ...]}.
    #[arg(long)]
    pub questions: PathBuf,
    /// Append the `evidence` hint (BIRD) to each question.
    #[arg(long)]
    pub evidence: bool,
    /// Name of this run in the printed table.
    #[arg(long)]
    pub label: Option<String>,
    /// Print each question whose gold datasets are not all in the top 15.
    #[arg(long)]
    pub show_misses: bool,
    /// Lexical retrieval only (no embedding model).
    #[arg(long)]
    pub lexical_only: bool,
    /// Override the fusion weight of the semantic side (0..1).
    #[arg(long)]
    pub semantic_weight: Option<f32>,
    /// Record helpful votes on this fraction of the questions (each for a random dataset of
    /// its top 10), then measure again.
    #[arg(long, default_value_t = 0.0)]
    pub feedback_fraction: f64,
    #[arg(long, default_value_t = 11)]
    pub feedback_seed: u64,
    /// Use the static (distilled) embeddings instead of running the transformer.
    #[arg(long)]
    pub static_embeddings: bool,
    /// Rank without relationship expansion (foreign keys, lineage).
    #[arg(long)]
    pub no_relationships: bool,
    /// Override the lift of linked datasets (share of their seed's score).
    #[arg(long)]
    pub link_lift: Option<f32>,
    /// Override how many top results are seeds of the expansion.
    #[arg(long)]
    pub link_seeds: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct Question {
    question: String,
    gold: Vec<String>,
    #[serde(default)]
    evidence: Option<String>,
}

/// Quality figures of one run.
#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    pub questions: usize,
    pub recall: [f64; 4],
    pub complete5: f64,
    pub complete15: f64,
    pub mrr: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

pub const KS: [usize; 4] = [1, 5, 10, 15];

/// Scores one ranking against its gold set: (recall at each k, complete@15, reciprocal rank).
pub fn score_ranking(ranked: &[String], gold: &[String]) -> ([f64; 4], bool, f64) {
    let gold: HashSet<String> = gold.iter().map(|g| g.to_lowercase()).collect();
    let mut recall = [0.0; 4];
    for (i, k) in KS.iter().enumerate() {
        let hits = ranked
            .iter()
            .take(*k)
            .filter(|r| gold.contains(&r.to_lowercase()))
            .count();
        recall[i] = hits as f64 / gold.len().max(1) as f64;
    }
    let complete = recall[3] >= 1.0 - 1e-9;
    let rr = ranked
        .iter()
        .position(|r| gold.contains(&r.to_lowercase()))
        .map(|p| 1.0 / (p as f64 + 1.0))
        .unwrap_or(0.0);
    (recall, complete, rr)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// A snapshot of `catalog` built in memory: its lexical index in `dir`, its semantic index
/// from `embedder` (when there is one).
pub async fn snapshot_in_memory(
    catalog: Catalog,
    embedder: Option<&dyn Embedder>,
    dir: &std::path::Path,
) -> anyhow::Result<Snapshot> {
    let redaction = IndexRedaction::new(&catalog);
    let semantic = match embedder {
        Some(embedder) => {
            let mut plan = SemanticPlan::new(&catalog.datasets, embedder.model_id(), &redaction);
            for batch in plan.missing_batches() {
                let rows = embed_batch(embedder, batch).await?;
                plan.add(rows);
            }
            Some(plan.finish()?)
        }
        None => None,
    };
    let dir = dir.join("v1");
    crate::telemetry::blocking(move || {
        let lexical = LexicalIndex::build(&dir, 1, &catalog, &redaction)?;
        Ok(Snapshot::new(1, catalog, lexical, semantic))
    })
    .await
    .context("index task panicked")?
}

pub async fn run(settings: Settings, args: EvalArgs) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir().context("creating temporary directory")?;
    let mut settings = settings;
    if args.lexical_only {
        settings.embedding.enabled = false;
    }
    if args.static_embeddings {
        settings.embedding.kind = crate::settings::EmbeddingKind::Static;
    }
    if let Some(w) = args.semantic_weight {
        settings.retrieval.semantic_weight = w;
    }
    let files = args.catalog.clone();
    let max = settings.limits.max_upload_bytes;
    let catalog =
        match tokio::task::spawn_blocking(move || sources::parse_files(&files, max)).await? {
            Ok(c) => c,
            Err(SourceError::Invalid(invalid)) => anyhow::bail!("{invalid}"),
            Err(e) => return Err(anyhow::Error::new(e)),
        };
    let (datasets, columns) = (catalog.datasets.len(), catalog.column_count());
    let embedder = match embed::from_settings(&settings) {
        Ok(embedder) => embedder,
        Err(warning) => {
            eprintln!("warning: {warning}");
            None
        }
    };
    let started = Instant::now();
    let snapshot = snapshot_in_memory(catalog, embedder.as_deref(), tmp.path()).await?;
    let load_secs = started.elapsed().as_secs_f64();
    let live = Arc::new(Live::from_pointee(snapshot));
    let votes: Arc<ArcSwap<Votes>> = Arc::default();
    let mut config = RetrievalConfig {
        semantic_weight: settings.retrieval.semantic_weight,
        ..RetrievalConfig::default()
    };
    if let Some(lift) = args.link_lift {
        config.link_lift = lift;
    }
    if let Some(seeds) = args.link_seeds {
        config.link_seeds = seeds;
    }
    if args.no_relationships {
        config.link_lift = 0.0;
    }
    let dictionary = crate::retrieval::Dictionary::for_settings(&settings, &mut Vec::new());
    let searcher = Searcher::new(
        live,
        embedder.clone(),
        config,
        2,
        votes.clone(),
        Arc::new(dictionary),
        Arc::new(Metrics::new()?),
    );

    let file = std::fs::File::open(&args.questions)
        .with_context(|| format!("opening {}", args.questions.display()))?;
    let mut questions = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: invalid question", args.questions.display(), n + 1))?;
        questions.push(q);
    }
    anyhow::ensure!(
        !questions.is_empty(),
        "no questions in {}",
        args.questions.display()
    );

    let visibility = Visibility::anonymous(settings.access.anonymous_level);
    let retriever = if searcher.has_embedder() {
        "hybrid"
    } else {
        "lexical"
    };
    let label = args
        .label
        .clone()
        .unwrap_or_else(|| format!("descoberta, {retriever}"));
    let (report, rankings) = measure(&searcher, &questions, &visibility, &args).await?;
    println!(
        "catalog: {} datasets, {} columns (loaded and indexed in {load_secs:.1} s); questions: {}{}",
        datasets,
        columns,
        report.questions,
        if args.evidence {
            " (with evidence)"
        } else {
            ""
        }
    );
    println!();
    println!(
        "| retriever | R@1 | R@5 | R@10 | R@15 | complete@5 | complete@15 | MRR | p50 ms | p95 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    print_row(&label, &report);
    if args.feedback_fraction > 0.0 {
        // Helpful votes on a random fraction of the questions, each for a random dataset of
        // its top 10 (right or wrong, as real votes are): quality must not drop.
        let mut rng = crate::random::Rng::new(args.feedback_seed);
        let mut voted = 0;
        for (q, ranked) in questions.iter().zip(&rankings) {
            if ranked.is_empty() || !rng.chance(args.feedback_fraction) {
                continue;
            }
            let dataset = ranked[rng.below(ranked.len().min(10))].to_lowercase();
            let key = crate::retrieval::understand(&q.question).key();
            votes.rcu(|all| {
                let mut all = Votes::clone(all);
                *all.entry(key.clone())
                    .or_default()
                    .entry(dataset.clone())
                    .or_default() += 1;
                all
            });
            voted += 1;
        }
        let (with_feedback, _) = measure(&searcher, &questions, &visibility, &args).await?;
        print_row(
            &format!("{label}, {voted} questions voted (random top-10 dataset)"),
            &with_feedback,
        );
    }
    Ok(())
}

fn print_row(label: &str, report: &EvalReport) {
    println!(
        "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.3} | {:.2} | {:.2} |",
        report.recall[0],
        report.recall[1],
        report.recall[2],
        report.recall[3],
        report.complete5,
        report.complete15,
        report.mrr,
        report.p50_ms,
        report.p95_ms
    );
}

/// Runs every question through the `/v1/search` retrieval; the figures and each ranking.
async fn measure(
    searcher: &Searcher,
    questions: &[Question],
    visibility: &Visibility,
    args: &EvalArgs,
) -> anyhow::Result<(EvalReport, Vec<Vec<String>>)> {
    let mut report = EvalReport {
        questions: questions.len(),
        ..EvalReport::default()
    };
    let mut latencies = Vec::with_capacity(questions.len());
    let mut rankings = Vec::with_capacity(questions.len());
    for q in questions {
        let text = match (&q.evidence, args.evidence) {
            (Some(e), true) => format!("{} {}", q.question, e),
            _ => q.question.clone(),
        };
        let t = Instant::now();
        let (snapshot, ranked) = searcher
            .search(&text, visibility, 15)
            .await
            .map_err(|e| anyhow::anyhow!("search failed: {e}"))?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        let names: Vec<String> = ranked
            .datasets
            .iter()
            .take(15)
            .filter_map(|r| snapshot.dataset(r.dataset).map(|d| d.name.clone()))
            .collect();
        let (recall, complete, rr) = score_ranking(&names, &q.gold);
        for (total, r) in report.recall.iter_mut().zip(recall) {
            *total += r;
        }
        if recall[1] >= 1.0 - 1e-9 {
            report.complete5 += 1.0;
        }
        if complete {
            report.complete15 += 1.0;
        } else if args.show_misses {
            println!(
                "MISS {:?} gold={:?} top5={:?}",
                q.question,
                q.gold,
                names.iter().take(5).collect::<Vec<_>>()
            );
        }
        report.mrr += rr;
        rankings.push(names);
    }
    let n = questions.len().max(1) as f64;
    for r in &mut report.recall {
        *r = 100.0 * *r / n;
    }
    report.complete5 = 100.0 * report.complete5 / n;
    report.complete15 = 100.0 * report.complete15 / n;
    report.mrr /= n;
    latencies.sort_by(f64::total_cmp);
    report.p50_ms = percentile(&latencies, 0.5);
    report.p95_ms = percentile(&latencies, 0.95);
    Ok((report, rankings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_a_ranking() {
        let ranked: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let (recall, complete, rr) = score_ranking(&ranked, &["B".into(), "z".into()]);
        assert_eq!(recall[0], 0.0);
        assert_eq!(recall[1], 0.5);
        assert!(!complete);
        assert_eq!(rr, 0.5);
    }
}
