//! `descoberta bench ask`: latency of `/v1/ask` (extractive), `/v1/search` and
//! `/v1/suggest` on the demo catalog, over real HTTP.
//!
//! Starts the service in-process on a free port with the demo catalog (a fresh SQLite store
//! in a temporary directory, the configured embedding model, no LLM), warms it up, then
//! drives the endpoints with a fixed set of questions and prints latency percentiles.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use secrecy::SecretString;

use super::{drive, print_rows};
use crate::settings::Settings;
use crate::startup::Application;

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

pub async fn run(settings: Settings, args: AskBenchArgs) -> anyhow::Result<()> {
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
    // One client address: measure the service, not the rate limiter.
    settings.rate_limit.enabled = false;
    let app = Application::build(settings).await?;
    let semantic = app.app().search.has_embedder();
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until_stopped());
    crate::tls::init();
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
    print_rows(&rows);
    Ok(())
}
