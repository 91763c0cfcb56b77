//! `descoberta bench`: latency of the running service, measured over real HTTP.
//!
//! `bench ask` starts the service in-process on a free port with the demo catalog (a fresh
//! SQLite store in a temporary directory, the configured embedding model, no LLM), warms it
//! up, then drives `/v1/ask` (extractive), `/v1/search` and `/v1/suggest` with a fixed set of
//! questions and prints latency percentiles as a table.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use secrecy::SecretString;

use crate::settings::Settings;
use crate::startup::Application;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Latency of /v1/ask (extractive), /v1/search and /v1/suggest on a catalog.
    Ask(AskBenchArgs),
}

#[derive(Debug, Args)]
pub struct AskBenchArgs {
    /// Requests per endpoint (after warm-up).
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Catalog directory (default: the configured metadata directory).
    #[arg(long)]
    pub metadata_dir: Option<PathBuf>,
}

/// Questions asked of the demo catalog, English and Portuguese.
const QUESTIONS: &[&str] = &[
    "where is customer churn data?",
    "onde estão os dados de churn de clientes?",
    "which table has order payments?",
    "daily revenue by category",
    "chatbot conversations and resolution rate",
    "pedidos faturados por dia",
    "product categories predicted by the LLM",
    "marketing messages sent to each customer",
    "shipment delivery delays by carrier",
    "customer reviews and ratings",
    "web sessions and page views",
    "coupons redeemed in campaigns",
    "seller payouts",
    "notas fiscais emitidas",
    "fraud score of payments",
    "stock levels per warehouse",
    "NPS survey answers",
    "site search queries with no results",
    "where are refunds?",
    "zip code geolocation",
];

const PREFIXES: &[&str] = &[
    "chur", "orde", "custmer", "pay", "chat", "ship", "prod", "rev", "sess", "cup",
];

pub async fn run(settings: Settings, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ask(args) => ask(settings, args).await,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Row {
    name: String,
    latencies_ms: Vec<f64>,
    wall: Duration,
    errors: usize,
}

/// Sends `requests` requests built by `make` from `concurrency` concurrent clients.
async fn drive(
    name: &str,
    requests: usize,
    concurrency: usize,
    make: Arc<dyn Fn(usize) -> reqwest::RequestBuilder + Send + Sync>,
) -> Row {
    let started = Instant::now();
    let mut handles = Vec::new();
    let per_client = requests.div_ceil(concurrency.max(1));
    for c in 0..concurrency.max(1) {
        let make = make.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            let mut errors = 0;
            for i in 0..per_client {
                let t = Instant::now();
                match make(c * per_client + i).send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies_ms = Vec::new();
    let mut errors = 0;
    for h in handles {
        if let Ok((l, e)) = h.await {
            latencies_ms.extend(l);
            errors += e;
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    Row {
        name: name.to_string(),
        latencies_ms,
        wall: started.elapsed(),
        errors,
    }
}

async fn ask(settings: Settings, args: AskBenchArgs) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let mut settings = settings;
    settings.embedding.model_dir = Some(settings.model_dir());
    if let Some(dir) = args.metadata_dir {
        settings.metadata_dir = dir;
    }
    settings.data_dir = tmp.path().to_path_buf();
    settings.database_url = Some(SecretString::from(format!(
        "sqlite://{}?mode=rwc",
        tmp.path().join("bench.db").display()
    )));
    settings.bind = "127.0.0.1:0".into();
    settings.llm.base_url = None;
    settings.llm.model = None;
    // Measure the work, not the cache.
    settings.cache.max_entries = 0;
    let app = Application::build(settings).await?;
    let semantic = app.engine().has_embedder();
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    // Warm-up: every question and prefix once.
    for q in QUESTIONS {
        client
            .post(format!("{base}/v1/ask"))
            .json(&serde_json::json!({ "question": q }))
            .send()
            .await?
            .error_for_status()?;
    }

    let mut rows = Vec::new();
    // Every request a new question text, so the query embedding is really computed (the
    // embedder remembers texts it has seen).
    let c = client.clone();
    let b = base.clone();
    rows.push(
        drive(
            "POST /v1/ask (extractive, new question each time)",
            args.requests,
            args.concurrency,
            Arc::new(move |i| {
                let q = format!("{} (request {i})", QUESTIONS[i % QUESTIONS.len()]);
                c.post(format!("{b}/v1/ask"))
                    .json(&serde_json::json!({ "question": q }))
            }),
        )
        .await,
    );
    let c = client.clone();
    let b = base.clone();
    rows.push(
        drive(
            "POST /v1/ask (extractive, repeated questions)",
            args.requests,
            args.concurrency,
            Arc::new(move |i| {
                c.post(format!("{b}/v1/ask"))
                    .json(&serde_json::json!({ "question": QUESTIONS[i % QUESTIONS.len()] }))
            }),
        )
        .await,
    );
    let c = client.clone();
    let b = base.clone();
    rows.push(
        drive(
            "GET /v1/search (new query each time)",
            args.requests,
            args.concurrency,
            Arc::new(move |i| {
                let q = format!("{} (search {i})", QUESTIONS[i % QUESTIONS.len()]);
                c.get(format!("{b}/v1/search")).query(&[("q", q)])
            }),
        )
        .await,
    );
    let c = client.clone();
    let b = base.clone();
    rows.push(
        drive(
            "GET /v1/suggest",
            args.requests,
            args.concurrency,
            Arc::new(move |i| {
                c.get(format!("{b}/v1/suggest"))
                    .query(&[("q", PREFIXES[i % PREFIXES.len()])])
            }),
        )
        .await,
    );
    server.abort();

    println!(
        "descoberta bench ask: {} requests per endpoint, {} client(s), retrieval: {}, build: {}",
        args.requests,
        args.concurrency,
        if semantic {
            "hybrid (lexical + embeddings)"
        } else {
            "lexical"
        },
        if cfg!(debug_assertions) {
            "debug (numbers not representative)"
        } else {
            "release"
        }
    );
    println!();
    println!("| endpoint | requests | errors | p50 ms | p95 ms | p99 ms | mean ms | req/s |");
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        let n = row.latencies_ms.len();
        let mean = row.latencies_ms.iter().sum::<f64>() / n.max(1) as f64;
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
            row.name,
            n,
            row.errors,
            percentile(&row.latencies_ms, 0.50),
            percentile(&row.latencies_ms, 0.95),
            percentile(&row.latencies_ms, 0.99),
            mean,
            n as f64 / row.wall.as_secs_f64()
        );
    }
    Ok(())
}
