//! `descoberta bench`: benchmarks over real HTTP (use a release build).
//!
//! - `bench ask`: latency of ask/search/suggest on the demo catalog.
//! - `bench gen`: a realistic synthetic catalog (up to 20k datasets, 1M columns) and a
//!   question set with gold datasets, recombined from real catalogs.
//! - `bench scale`: loads a generated catalog into the service (a child process), measures
//!   load time, RSS, index size and cold start, drives search and suggest at 1, 4 and 16
//!   clients, and runs the same queries against PostgreSQL full-text search; prints a table.
//! - `bench flood`: RSS of the service while distinct callers flood the rate limiter.
//! - `bench crawl`: crawl and load a generated 2,000-table, 60,000-column PostgreSQL schema.
//! - `bench embed`: every embedding model side by side: query latency, bulk throughput and
//!   fidelity against a reference.

mod ask;
mod crawl;
mod embed;
mod flood;
mod generate;
mod scale;
mod service;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Subcommand;

use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Latency of /v1/ask (extractive), /v1/search and /v1/suggest on the demo catalog.
    Ask(ask::AskBenchArgs),
    /// Generate a large realistic catalog and its question set.
    Gen(generate::GenArgs),
    /// The scale benchmark, side by side with PostgreSQL full-text search.
    Scale(scale::ScaleArgs),
    /// RSS of the service while a flood of distinct callers hits the rate limiter.
    Flood(flood::FloodArgs),
    /// Crawl and load a generated 2,000-table, 60,000-column PostgreSQL schema.
    Crawl(crawl::CrawlBenchArgs),
    /// Embedding models side by side: query p50/p99, bulk throughput, fidelity.
    Embed(embed::EmbedBenchArgs),
}

pub async fn run(settings: Settings, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ask(args) => ask::run(settings, args).await,
        BenchCommand::Gen(args) => generate::run(args),
        BenchCommand::Scale(args) => scale::run(settings, args).await,
        BenchCommand::Flood(args) => flood::run(args).await,
        BenchCommand::Crawl(args) => crawl::run(settings, args).await,
        BenchCommand::Embed(args) => embed::run(settings, args).await,
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Latencies of one measured run.
pub(crate) struct Row {
    pub name: String,
    pub latencies_ms: Vec<f64>,
    pub wall: Duration,
    pub errors: usize,
}

impl Row {
    pub fn throughput(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn p(&self, q: f64) -> f64 {
        percentile(&self.latencies_ms, q)
    }
}

/// Sends `requests` requests built by `make` from `concurrency` concurrent clients.
pub(crate) async fn drive(
    name: &str,
    requests: usize,
    concurrency: usize,
    make: Arc<dyn Fn(usize) -> reqwest::RequestBuilder + Send + Sync>,
) -> Row {
    let per_client = requests.div_ceil(concurrency.max(1));
    drive_with(
        name,
        concurrency,
        move |c, i| {
            let make = make.clone();
            let index = c * per_client + i;
            async move {
                if i >= per_client {
                    return None;
                }
                let ok = match make(index).send().await {
                    Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
                    _ => false,
                };
                Some(ok)
            }
        },
        None,
    )
    .await
}

/// Runs `concurrency` clients; client `c` calls `step(c, i)` for i = 0, 1, ... until it
/// returns `None` or `duration` is over. `Some(ok)` records one request.
pub(crate) async fn drive_with<F, Fut>(
    name: &str,
    concurrency: usize,
    step: F,
    duration: Option<Duration>,
) -> Row
where
    F: Fn(usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Option<bool>> + Send,
{
    let started = Instant::now();
    let mut handles = Vec::new();
    for c in 0..concurrency.max(1) {
        let step = step.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            for i in 0.. {
                if duration.is_some_and(|d| started.elapsed() >= d) {
                    break;
                }
                let t = Instant::now();
                match step(c, i).await {
                    None => break,
                    Some(true) => latencies.push(t.elapsed().as_secs_f64() * 1e3),
                    Some(false) => errors += 1,
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

pub(crate) fn print_rows(rows: &[Row]) {
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
            row.p(0.50),
            row.p(0.95),
            row.p(0.99),
            mean,
            row.throughput()
        );
    }
}
