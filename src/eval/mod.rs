//! `descoberta eval`: retrieval quality on a catalog and a question set, through the same
//! retrieval path as `GET /v1/search`. The catalog is indexed in memory (and a temporary
//! index directory): no store is involved. With `--peers`, the same questions also go through
//! SQLite FTS5 and our lexical-only ranking in the same run.

mod fts5;

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arc_swap::ArcSwap;
use clap::Args;
use serde::Deserialize;

use crate::answer::enrich;
use crate::catalog::Catalog;
use crate::embed::{self, Embedder};
use crate::index::LexicalIndex;
use crate::metrics::Metrics;
use crate::retrieval::semantic::{SemanticPlan, embed_batch};
use crate::retrieval::{
    IndexRedaction, Live, RetrievalConfig, Searcher, Snapshot, Visibility, Votes,
};
use crate::settings::{E5Questions, EmbeddingKind, Settings};
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
    /// Write each question's top 15 (JSON lines: question, gold, ranked) to this file.
    #[arg(long, value_name = "FILE")]
    pub rankings: Option<PathBuf>,
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
    /// Fuse without scaling the lexical side by the question's word coverage (questions in
    /// another language than the catalog's).
    #[arg(long)]
    pub no_coverage_fusion: bool,
    /// Override the lift of a dataset a seed refers to (share of the seed's score).
    #[arg(long)]
    pub link_lift: Option<f32>,
    /// Override the lift of a dataset that refers to a seed.
    #[arg(long)]
    pub link_lift_referencing: Option<f32>,
    /// Override the calibrated similarity at which a linked dataset the question's words miss
    /// still matches it by meaning (`inf`: never).
    #[arg(long)]
    pub link_min_similarity: Option<f32>,
    /// Override how many top results are seeds of the expansion.
    #[arg(long)]
    pub link_seeds: Option<usize>,
    /// Questions the catalog does not answer (e.g. another catalog's): reports how well the
    /// confidence tells them from the catalog's own questions (the gaps report's signal),
    /// with the similarity quantiles a model's scale is set from.
    #[arg(long)]
    pub negatives: Option<PathBuf>,
    /// Also rank every question with the peers, in the same run: SQLite FTS5 `bm25()` with
    /// porter stemming over one document per dataset, and our lexical-only ranking.
    #[arg(long)]
    pub peers: bool,
    /// The stripped-description experiment: strip the descriptions of this fraction of the
    /// columns (chosen at random, `--strip-seed`) and compare the full catalog with the
    /// stripped one (and, with `--enrich`, the stripped one with LLM-drafted descriptions).
    #[arg(long, value_name = "FRACTION")]
    pub strip_descriptions: Option<f64>,
    #[arg(long, default_value_t = 7)]
    pub strip_seed: u64,
    /// With `--strip-descriptions`: draft the missing descriptions with the configured LLM
    /// (`llm.base_url`, `llm.model`), as `descoberta enrich` does, and measure again.
    #[arg(long, requires = "strip_descriptions")]
    pub enrich: bool,
}

/// What ranks the questions of one row.
enum Retriever<'a> {
    Ours(&'a Searcher),
    Fts5(&'a fts5::Fts5Peer),
}

impl Retriever<'_> {
    /// The top 15 dataset names for `text`, best first.
    async fn rank(&self, text: &str, visibility: &Visibility) -> anyhow::Result<Vec<String>> {
        match self {
            Retriever::Ours(searcher) => {
                let (snapshot, ranked) = searcher
                    .search(text, visibility, 15)
                    .await
                    .map_err(|e| anyhow::anyhow!("search failed: {e}"))?;
                Ok(ranked
                    .datasets
                    .iter()
                    .take(15)
                    .filter_map(|r| snapshot.dataset(r.dataset).map(|d| d.name.clone()))
                    .collect())
            }
            Retriever::Fts5(peer) => peer.rank(text, 15).await,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Question {
    question: String,
    #[serde(default)]
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
            let mut plan = SemanticPlan::new(&catalog.datasets, embedder, &redaction);
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
    let metrics = Arc::new(Metrics::new()?);
    // What is missing is logged (the warnings are for `/readyz`).
    let embedder = embed::from_settings(&settings, &metrics.question_embedding, &mut Vec::new());
    let fts5 = if args.peers {
        Some(fts5::Fts5Peer::build(&catalog).await?)
    } else {
        None
    };
    // v1's model, all-MiniLM-L6-v2, as a peer of the default e5 (when it is set up).
    let minilm = if args.peers && settings.embedding.kind == EmbeddingKind::E5 {
        let dir = settings.data_dir.join("models").join("all-MiniLM-L6-v2");
        match embed::BertEmbedder::load(&dir) {
            Ok(bert) => {
                let bert: Arc<dyn Embedder> = Arc::new(bert);
                let snapshot = snapshot_in_memory(
                    catalog.clone(),
                    Some(bert.as_ref()),
                    &tmp.path().join("minilm"),
                )
                .await?;
                Some((bert, Arc::new(Live::from_pointee(snapshot))))
            }
            Err(e) => {
                eprintln!("no all-MiniLM-L6-v2 peer: {e:#}");
                None
            }
        }
    } else {
        None
    };
    if let Some(fraction) = args.strip_descriptions {
        return strip_experiment(&settings, &args, catalog, embedder, fraction, tmp.path()).await;
    }
    let started = Instant::now();
    let snapshot = snapshot_in_memory(catalog, embedder.as_deref(), tmp.path()).await?;
    let load_secs = started.elapsed().as_secs_f64();
    let live = Arc::new(Live::from_pointee(snapshot));
    let votes: Arc<ArcSwap<Votes>> = Arc::default();
    let mut config = RetrievalConfig::from_settings(&settings);
    config.coverage_fusion = !args.no_coverage_fusion;
    if let Some(lift) = args.link_lift {
        config.link_lift = lift;
    }
    if let Some(lift) = args.link_lift_referencing {
        config.link_lift_referencing = lift;
    }
    if let Some(similarity) = args.link_min_similarity {
        config.link_min_similarity = similarity;
    }
    if let Some(seeds) = args.link_seeds {
        config.link_seeds = seeds;
    }
    if args.no_relationships {
        config.link_lift = 0.0;
    }
    let dictionary = crate::retrieval::Dictionary::for_settings(&settings, &mut Vec::new());
    let dictionary = Arc::new(dictionary);
    let lexical = Searcher::new(
        live.clone(),
        None,
        config.clone(),
        2,
        votes.clone(),
        dictionary.clone(),
        metrics.clone(),
    );
    let minilm = minilm.map(|(bert, live)| {
        Searcher::new(
            live,
            Some(bert),
            config.clone(),
            2,
            votes.clone(),
            dictionary.clone(),
            metrics.clone(),
        )
    });
    // The other ways to read questions in the catalog's language (full, fast, the cascade),
    // over the same index (catalog entries are the full model's either way).
    let mut others = Vec::new();
    match &embedder {
        Some(_)
            if args.peers
                && settings.embedding.kind == EmbeddingKind::E5
                && settings.embedding.base_url.is_none() =>
        {
            for (questions, label) in [
                (
                    E5Questions::Full,
                    "descoberta, hybrid with full questions (e5_questions = full)",
                ),
                (
                    E5Questions::Fast,
                    "descoberta, hybrid with fast questions (e5_questions = fast)",
                ),
                (
                    E5Questions::Cascade,
                    "descoberta, hybrid, fast then the least sure in full (e5_questions = cascade)",
                ),
            ] {
                if questions == settings.embedding.e5_questions {
                    continue;
                }
                let mut other = settings.clone();
                other.embedding.e5_questions = questions;
                let mut refused = Vec::new();
                let other = embed::from_settings(&other, &metrics.question_embedding, &mut refused);
                if !refused.is_empty() {
                    let refused: Vec<String> = refused.iter().map(|w| w.text(true)).collect();
                    eprintln!(
                        "no peer reading questions {questions:?}: {}",
                        refused.join("; ")
                    );
                }
                if let Some(other) = other.filter(|_| refused.is_empty()) {
                    let searcher = Searcher::new(
                        live.clone(),
                        Some(other),
                        config.clone(),
                        2,
                        votes.clone(),
                        dictionary.clone(),
                        metrics.clone(),
                    );
                    others.push((searcher, label));
                }
            }
        }
        _ => {}
    }
    let searcher = Searcher::new(
        live,
        embedder.clone(),
        config,
        2,
        votes.clone(),
        dictionary,
        metrics,
    );

    let questions = read_questions(&args.questions)?;

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
    let ours = Retriever::Ours(&searcher);
    let (report, rankings) = measure(&ours, &questions, &visibility, &args).await?;
    if let Some(path) = &args.rankings {
        write_rankings(path, &questions, &rankings)?;
    }
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
    if let Some(peer) = &fts5 {
        let (fts5, _) = measure(&Retriever::Fts5(peer), &questions, &visibility, &args).await?;
        print_row("SQLite FTS5 bm25, porter (peer)", &fts5);
        if searcher.has_embedder() {
            let lexical = Retriever::Ours(&lexical);
            let (lexical, _) = measure(&lexical, &questions, &visibility, &args).await?;
            print_row("descoberta, lexical only", &lexical);
        }
        if let Some(minilm) = &minilm {
            let (old, _) =
                measure(&Retriever::Ours(minilm), &questions, &visibility, &args).await?;
            print_row(
                "descoberta, hybrid with all-MiniLM-L6-v2 (v1's model)",
                &old,
            );
        }
        for (other, label) in &others {
            let (other, _) =
                measure(&Retriever::Ours(other), &questions, &visibility, &args).await?;
            print_row(label, &other);
        }
    }
    print_row(&label, &report);
    if let Some(path) = &args.negatives {
        let negatives = read_questions(path)?;
        gap_report(
            &searcher,
            &questions,
            &negatives,
            &visibility,
            f64::from(settings.low_confidence),
        )
        .await?;
    }
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
        let (with_feedback, _) = measure(&ours, &questions, &visibility, &args).await?;
        print_row(
            &format!("{label}, {voted} questions voted (random top-10 dataset)"),
            &with_feedback,
        );
    }
    Ok(())
}

/// The catalog with the descriptions of a random `fraction` of its columns removed; returns
/// it and how many were removed.
fn strip_descriptions(catalog: &Catalog, fraction: f64, seed: u64) -> (Catalog, usize) {
    let mut rng = crate::random::Rng::new(seed);
    let mut stripped = catalog.clone();
    let mut removed = 0;
    for dataset in &mut stripped.datasets {
        for column in &mut dataset.columns {
            if column.description.is_some() && rng.chance(fraction) {
                column.description = None;
                removed += 1;
            }
        }
    }
    (stripped, removed)
}

/// Full catalog, stripped catalog and (with `--enrich`) stripped catalog with drafts, ranked
/// by the default retrieval in one run.
async fn strip_experiment(
    settings: &Settings,
    args: &EvalArgs,
    full: Catalog,
    embedder: Option<Arc<dyn Embedder>>,
    fraction: f64,
    tmp: &std::path::Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&fraction),
        "--strip-descriptions is a fraction between 0 and 1"
    );
    let questions = read_questions(&args.questions)?;
    let visibility = Visibility::anonymous(settings.access.anonymous_level);
    let with_descriptions = full
        .datasets
        .iter()
        .flat_map(|d| &d.columns)
        .filter(|c| c.description.is_some())
        .count();
    let (stripped, removed) = strip_descriptions(&full, fraction, args.strip_seed);
    let mut rows: Vec<(String, Catalog)> = vec![
        ("full catalog".into(), full),
        (
            format!(
                "{removed} of {with_descriptions} column descriptions stripped (seed {})",
                args.strip_seed
            ),
            stripped.clone(),
        ),
    ];
    if args.enrich {
        let llm = crate::answer::llm::LlmClient::from_settings(&settings.llm)?
            .context("--enrich needs an LLM: set llm.base_url and llm.model")?;
        let skip = Default::default();
        let datasets = enrich::candidates(&stripped, &[], usize::MAX, &skip);
        let started = Instant::now();
        let drafted = enrich::draft(
            &llm,
            &stripped,
            &datasets,
            &settings.catalog_language,
            &skip,
        )
        .await;
        eprintln!(
            "drafted {} of {} entries with {} in {:.1} s ({} discarded, {} requests failed)",
            drafted.drafts.len(),
            drafted.requested,
            llm.model(),
            started.elapsed().as_secs_f64(),
            drafted.discarded,
            drafted.failed
        );
        let mut enriched = stripped;
        let index = enriched.name_index();
        for draft in &drafted.drafts {
            let Some(&d) = index.get(&draft.dataset.to_lowercase()) else {
                continue;
            };
            let dataset = &mut enriched.datasets[d as usize];
            match &draft.column {
                None => dataset.description = Some(draft.text.clone()),
                Some(name) => {
                    if let Some(c) = dataset
                        .columns
                        .iter_mut()
                        .find(|c| c.name.eq_ignore_ascii_case(name))
                    {
                        c.description = Some(draft.text.clone());
                    }
                }
            }
        }
        rows.push((
            format!(
                "stripped, with {} drafts by {}",
                drafted.drafts.len(),
                llm.model()
            ),
            enriched,
        ));
    }
    println!(
        "questions: {}; retrieval: {}",
        questions.len(),
        if embedder.is_some() {
            "hybrid"
        } else {
            "lexical"
        }
    );
    println!();
    println!(
        "| catalog | R@1 | R@5 | R@10 | R@15 | complete@5 | complete@15 | MRR | p50 ms | p95 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let dictionary = Arc::new(crate::retrieval::Dictionary::for_settings(
        settings,
        &mut Vec::new(),
    ));
    let metrics = Arc::new(Metrics::new()?);
    for (i, (label, catalog)) in rows.into_iter().enumerate() {
        let snapshot =
            snapshot_in_memory(catalog, embedder.as_deref(), &tmp.join(format!("strip{i}")))
                .await?;
        let searcher = Searcher::new(
            Arc::new(Live::from_pointee(snapshot)),
            embedder.clone(),
            RetrievalConfig::from_settings(settings),
            2,
            Arc::default(),
            dictionary.clone(),
            metrics.clone(),
        );
        let (report, _) =
            measure(&Retriever::Ours(&searcher), &questions, &visibility, args).await?;
        print_row(&label, &report);
    }
    Ok(())
}

fn read_questions(path: &std::path::Path) -> anyhow::Result<Vec<Question>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut questions = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: invalid question", path.display(), n + 1))?;
        questions.push(q);
    }
    anyhow::ensure!(!questions.is_empty(), "no questions in {}", path.display());
    Ok(questions)
}

/// The confidence of each question, and the similarity of its query vector to its best
/// dataset (`gold`: the best gold dataset; otherwise the best of all).
async fn confidences(
    searcher: &Searcher,
    questions: &[Question],
    visibility: &Visibility,
    gold: bool,
) -> anyhow::Result<Confidences> {
    let mut empty = 0usize;
    let mut spread = Vec::with_capacity(questions.len());
    let mut confidence = Vec::with_capacity(questions.len());
    let mut similarity = Vec::with_capacity(questions.len());
    let mut unrelated = Vec::with_capacity(questions.len());
    let mut foreign = 0usize;
    for q in questions {
        let (snapshot, ranked) = searcher
            .search(&q.question, visibility, 15)
            .await
            .map_err(|e| anyhow::anyhow!("search failed: {e}"))?;
        confidence.push(f64::from(ranked.confidence));
        if ranked.datasets.is_empty() {
            empty += 1;
        }
        let Some(semantic) = snapshot.semantic() else {
            continue;
        };
        // As the search embeds it: its meaningful words, and through the cross-lingual
        // companion when it is in another language than the catalog's.
        let Some((query, kind)) = searcher.embed_question(&snapshot, &q.question).await else {
            continue;
        };
        if kind == crate::embed::TextKind::ForeignQuery {
            foreign += 1;
        }
        let query = &query;
        // One pass over the vectors serves every measure below.
        let all = semantic.score_all(query);
        // How far the nearest stands out from the 50th (calibrated), as the fusion sees it.
        let nearest = all.top(|_| true, 50);
        let scale = searcher.question_scale(kind).unwrap_or(semantic.scale);
        if let (Some(first), Some(last)) = (nearest.first(), nearest.last()) {
            spread.push(f64::from(
                scale.calibrate(first.1) - scale.calibrate(last.1),
            ));
        }
        // What an unrelated dataset scores: the mean similarity to every dataset.
        let n = semantic.len() as u32;
        if n > 0 {
            let sum: f64 = (0..n).map(|o| f64::from(all.get(o))).sum();
            unrelated.push(sum / f64::from(n));
        }
        let best = if gold {
            q.gold
                .iter()
                .filter_map(|g| snapshot.ordinal(g))
                .map(|o| all.get(o))
                .fold(f32::MIN, f32::max)
        } else {
            nearest.first().map_or(f32::MIN, |t| t.1)
        };
        if best > f32::MIN {
            similarity.push(f64::from(best));
        }
    }
    confidence.sort_by(f64::total_cmp);
    similarity.sort_by(f64::total_cmp);
    unrelated.sort_by(f64::total_cmp);
    spread.sort_by(f64::total_cmp);
    Ok(Confidences {
        confidence,
        similarity,
        unrelated,
        spread,
        empty: 100.0 * empty as f64 / questions.len().max(1) as f64,
        foreign,
    })
}

/// What [`confidences`] measures over a question set (each list sorted).
struct Confidences {
    confidence: Vec<f64>,
    similarity: Vec<f64>,
    unrelated: Vec<f64>,
    /// The nearest dataset's lead over the 50th, calibrated.
    spread: Vec<f64>,
    /// Share of the questions with no result, in %.
    empty: f64,
    /// Questions embedded as another language's (through the cross-lingual companion).
    foreign: usize,
}

/// How the confidence separates the catalog's questions from `negatives`.
async fn gap_report(
    searcher: &Searcher,
    questions: &[Question],
    negatives: &[Question],
    visibility: &Visibility,
    threshold: f64,
) -> anyhow::Result<()> {
    let pos = confidences(searcher, questions, visibility, true).await?;
    let neg = confidences(searcher, negatives, visibility, false).await?;
    let below = |v: &[f64]| {
        100.0 * v.iter().filter(|c| **c < threshold).count() as f64 / v.len().max(1) as f64
    };
    let q = |v: &[f64]| {
        format!(
            "{:.3} / {:.3} / {:.3}",
            percentile(v, 0.1),
            percentile(v, 0.5),
            percentile(v, 0.9)
        )
    };
    println!();
    println!(
        "| questions | n | embedded as another language | confidence p10 / p50 / p90 | below low_confidence {threshold:.2} (gaps) | no result | similarity p10 / p50 / p90 | nearest's lead over the 50th, calibrated |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, c) in [
        ("the catalog's own (similarity to the gold dataset)", &pos),
        ("negatives (similarity to the best dataset)", &neg),
    ] {
        println!(
            "| {label} | {} | {} | {} | {:.1} % | {:.1} % | {} | {} |",
            c.confidence.len(),
            c.foreign,
            q(&c.confidence),
            below(&c.confidence),
            c.empty,
            q(&c.similarity),
            q(&c.spread)
        );
    }
    println!(
        "| the catalog's own (mean similarity to every dataset) | {} | {} | | | | {} | |",
        pos.unrelated.len(),
        pos.foreign,
        q(&pos.unrelated)
    );
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

/// One JSON line per question: its text, its gold datasets and our top 15.
fn write_rankings(
    path: &std::path::Path,
    questions: &[Question],
    rankings: &[Vec<String>],
) -> anyhow::Result<()> {
    let mut out = String::new();
    for (q, ranked) in questions.iter().zip(rankings) {
        let line = serde_json::json!({"question": q.question, "gold": q.gold, "ranked": ranked});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// Runs every question through the `/v1/search` retrieval; the figures and each ranking.
async fn measure(
    retriever: &Retriever<'_>,
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
        let names = retriever.rank(&text, visibility).await?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
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
