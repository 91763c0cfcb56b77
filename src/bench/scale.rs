//! `descoberta bench scale`: the service at catalog scale, side by side with PostgreSQL
//! full-text search over the same catalog.
//!
//! One run: (generates the catalog if needed) → starts the service as a child process on an
//! empty SQLite store → uploads the catalog (load time, peak RSS), uploads it again (reload
//! time) → restarts it (cold start with the index present) → drives `/v1/search` and
//! `/v1/suggest` with 1, 4 and 16 clients for a fixed duration → loads the same catalog into
//! PostgreSQL (`tsvector` + GIN over identifier-split text, `ts_rank_cd`, OR of terms) and
//! sends it the same queries at the same concurrency → recall@5 of both sides on the
//! generated questions → one table.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use sqlx::{ConnectOptions, Connection, PgPool};

use super::generate::GenArgs;
use super::service::Service;
use super::{Row, drive_with};
use crate::catalog::Catalog;
use crate::eval::score_ranking;
use crate::index::analyzer::EN_STOP_WORDS;
use crate::random::Rng;
use crate::settings::Settings;
use crate::sources::parse_files;
use crate::text::split_identifiers;

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Directory of a generated catalog (catalog.csv, questions.jsonl); generated if missing.
    #[arg(long, default_value = "data/bench/scale")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 20_000)]
    pub datasets: usize,
    #[arg(long, default_value_t = 1_000_000)]
    pub columns: usize,
    /// PostgreSQL for the full-text-search peer (a throwaway cluster: `scripts/bench` starts
    /// one). Default: $DESCOBERTA_TEST_POSTGRES_URL.
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// Seconds per measured (endpoint, clients) cell.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub clients: Vec<usize>,
    /// `e5` (the default model), `off` (lexical only), or v1's `transformer`
    /// (all-MiniLM-L6-v2, about 5 datasets/s on 2 cores: an hour for 20k datasets) or
    /// `static`.
    #[arg(long, default_value = "e5", value_parser = ["e5", "off", "transformer", "static"])]
    pub embeddings: String,
}

/// Size of the newest version's index directory (`index/<store>/v<N>`).
fn newest_index_size(root: &Path) -> u64 {
    let mut newest: Option<(i64, PathBuf)> = None;
    for store in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for entry in std::fs::read_dir(store.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(v) = name.strip_prefix('v').and_then(|v| v.parse::<i64>().ok())
                && newest.as_ref().is_none_or(|(n, _)| v > *n)
            {
                newest = Some((v, entry.path()));
            }
        }
    }
    newest.map_or(0, |(_, path)| crate::index::dir_size(&path))
}

fn identifier_words(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    split_identifiers(text, &mut spans);
    spans
        .iter()
        .map(|&(a, b)| text[a..b].to_lowercase())
        .filter(|w| w.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect()
}

/// The OR-of-terms tsquery text of a question (stop words dropped, identifiers split).
fn or_query(question: &str) -> String {
    let mut terms: Vec<String> = identifier_words(question)
        .into_iter()
        .filter(|w| !EN_STOP_WORDS.contains(&w.as_str()))
        .collect();
    terms.dedup();
    terms.join(" | ")
}

/// The question client `k` asks `i`-th in a search cell: the set's, in an order of its
/// own; in the "new questions" cell with a number appended that no other request carries
/// (at least 1,000,000; the one-client new-query phase uses 100,000 to 100,199).
fn asked(endpoint: &str, questions: &[String], k: usize, i: usize) -> String {
    let question = &questions[(k * 7919 + i) % questions.len()];
    if endpoint == "search, new questions" {
        format!("{question} ({})", 1_000_000 * (k + 1) + i)
    } else {
        question.clone()
    }
}

struct Peer {
    pool: PgPool,
    database: String,
    admin_url: String,
}

impl Peer {
    async fn create(admin_url: &str, catalog: &Catalog) -> anyhow::Result<(Peer, Duration, u64)> {
        let database = format!("bench_fts_{:x}", rand::random::<u32>());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .context("connecting to the peer Postgres")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await?;
        let (prefix, _) = admin_url
            .rsplit_once('/')
            .context("postgres URL has no path")?;
        // The peer's queries take seconds at 16 clients: sqlx would warn of each one as a
        // slow statement, hundreds of lines through the bench's table.
        let options = sqlx::postgres::PgConnectOptions::from_str(&format!("{prefix}/{database}"))
            .context("parsing the peer's URL")?
            .disable_statement_logging();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(20)
            .connect_with(options)
            .await?;
        let started = Instant::now();
        // One document per dataset with weighted parts, as a careful FTS set-up would have it:
        // A = the dataset name's words, B = its description and domain, C = column names,
        // D = column descriptions; ranked by ts_rank_cd with length normalization.
        sqlx::query(
            "CREATE TABLE docs (dataset text NOT NULL, name_words text NOT NULL, \
             about text NOT NULL, column_names text NOT NULL, column_text text NOT NULL, \
             tsv tsvector)",
        )
        .execute(&pool)
        .await?;
        sqlx::query("CREATE TABLE names (dataset text NOT NULL, name text NOT NULL, tsv tsvector)")
            .execute(&pool)
            .await?;
        let mut docs: Vec<[String; 5]> = Vec::new();
        let mut names: Vec<(String, String)> = Vec::new();
        for d in &catalog.datasets {
            let name_words = identifier_words(&d.name).join(" ");
            let about = [d.description.as_deref(), d.domain.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            names.push((d.name.clone(), name_words.clone()));
            let mut column_names = String::new();
            let mut column_text = String::new();
            for c in &d.columns {
                let words = identifier_words(&c.name).join(" ");
                column_names.push_str(&words);
                column_names.push(' ');
                if let Some(desc) = &c.description {
                    column_text.push_str(desc);
                    column_text.push(' ');
                }
                names.push((d.name.clone(), words));
            }
            docs.push([d.name.clone(), name_words, about, column_names, column_text]);
        }
        for chunk in docs.chunks(2_000) {
            let mut parts: [Vec<String>; 5] = Default::default();
            for doc in chunk {
                for (part, value) in parts.iter_mut().zip(doc) {
                    part.push(value.clone());
                }
            }
            let [a, b, c, d, e] = parts;
            sqlx::query(
                "INSERT INTO docs (dataset, name_words, about, column_names, column_text) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])",
            )
            .bind(a)
            .bind(b)
            .bind(c)
            .bind(d)
            .bind(e)
            .execute(&pool)
            .await?;
        }
        for chunk in names.chunks(20_000) {
            let (a, b): (Vec<String>, Vec<String>) = chunk.iter().cloned().unzip();
            sqlx::query(
                "INSERT INTO names (dataset, name) SELECT * FROM UNNEST($1::text[], $2::text[])",
            )
            .bind(a)
            .bind(b)
            .execute(&pool)
            .await?;
        }
        for statement in [
            "UPDATE docs SET tsv = setweight(to_tsvector('english', name_words), 'A') \
             || setweight(to_tsvector('english', about), 'B') \
             || setweight(to_tsvector('english', column_names), 'C') \
             || setweight(to_tsvector('english', column_text), 'D')",
            "UPDATE names SET tsv = to_tsvector('simple', name)",
            "CREATE INDEX docs_tsv ON docs USING GIN (tsv)",
            "CREATE INDEX names_tsv ON names USING GIN (tsv)",
            "ANALYZE docs",
            "ANALYZE names",
        ] {
            sqlx::query(statement).execute(&pool).await?;
        }
        let load = started.elapsed();
        let (size,): (i64,) = sqlx::query_as(
            "SELECT pg_total_relation_size('docs') + pg_total_relation_size('names')",
        )
        .fetch_one(&pool)
        .await?;
        Ok((
            Peer {
                pool,
                database,
                admin_url: admin_url.to_string(),
            },
            load,
            size as u64,
        ))
    }

    async fn search(pool: &PgPool, question: &str, limit: i64) -> anyhow::Result<Vec<String>> {
        let q = or_query(question);
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT dataset FROM docs, to_tsquery('english', $1) q WHERE tsv @@ q \
             ORDER BY ts_rank_cd(tsv, q, 1) DESC LIMIT $2",
        )
        .bind(q)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    async fn suggest(pool: &PgPool, prefix: &str) -> anyhow::Result<Vec<String>> {
        let words = identifier_words(prefix);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let q = words
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & ");
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM names WHERE tsv @@ to_tsquery('simple', $1) LIMIT 8")
                .bind(q)
                .fetch_all(pool)
                .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    async fn drop_database(self) {
        self.pool.close().await;
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {}",
                self.database
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

fn read_questions(path: &Path) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            let q = v["question"].as_str().context("question")?.to_string();
            let gold = v["gold"]
                .as_array()
                .context("gold")?
                .iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect();
            Ok((q, gold))
        })
        .collect()
}

async fn recall_at_5<F, Fut>(questions: &[(String, Vec<String>)], search: F) -> f64
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let mut total = 0.0;
    for (q, gold) in questions {
        let ranked = search(q.clone()).await;
        total += score_ranking(&ranked, gold).0[1];
    }
    100.0 * total / questions.len().max(1) as f64
}

pub async fn run(settings: Settings, args: ScaleArgs) -> anyhow::Result<()> {
    let catalog_path = args.dir.join("catalog.csv");
    let questions_path = args.dir.join("questions.jsonl");
    if !catalog_path.exists() || !questions_path.exists() {
        eprintln!(
            "generating {} datasets / {} columns into {}",
            args.datasets,
            args.columns,
            args.dir.display()
        );
        super::generate::run(GenArgs {
            datasets: args.datasets,
            columns: args.columns,
            questions: 400,
            out: args.dir.clone(),
            source: Vec::new(),
            seed: 42,
        })?;
    }
    let postgres_url = args
        .postgres_url
        .clone()
        .or_else(|| std::env::var("DESCOBERTA_TEST_POSTGRES_URL").ok())
        .context("--postgres-url (or DESCOBERTA_TEST_POSTGRES_URL) is needed for the peer")?;
    let catalog_bytes = std::fs::read(&catalog_path)?;
    let catalog = parse_files(std::slice::from_ref(&catalog_path), u64::MAX)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let questions = read_questions(&questions_path)?;
    let (n_datasets, n_columns) = (catalog.datasets.len(), catalog.column_count());
    eprintln!(
        "catalog: {n_datasets} datasets, {n_columns} columns, {} questions",
        questions.len()
    );

    let work = tempfile::tempdir()?;
    let data_dir = work.path().join("data");
    std::fs::create_dir_all(&data_dir)?;
    let model_dir = match args.embeddings.as_str() {
        "transformer" | "static" => settings.data_dir.join("models").join("all-MiniLM-L6-v2"),
        _ => settings.model_dir(),
    };
    let model_dir = model_dir.canonicalize().unwrap_or(model_dir);
    crate::tls::init();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;

    // Load, then reload the same catalog.
    let (service, _) = Service::start(&data_dir, &service_env(&model_dir, &args.embeddings))?;
    let admin = service.admin.clone();
    let upload = |base: String| {
        let client = client.clone();
        let body = catalog_bytes.clone();
        let admin = admin.clone();
        async move {
            let started = Instant::now();
            let res = client
                .post(format!("{base}/v1/admin/catalog"))
                .bearer_auth(admin)
                .header("content-type", "text/csv")
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(
                res.status().is_success(),
                "upload failed: {}",
                res.text().await?
            );
            anyhow::Ok(started.elapsed())
        }
    };
    eprintln!("loading the catalog into the service...");
    let load = upload(service.base.clone()).await?;
    // Large loads go live with lexical search and embed in the background: wait for that.
    let started = Instant::now();
    loop {
        let ready: serde_json::Value = client
            .get(format!("{}/readyz", service.base))
            .bearer_auth(&service.admin)
            .send()
            .await?
            .json()
            .await?;
        let embedding = ready["warnings"].as_array().is_some_and(|w| {
            w.iter()
                .any(|w| w.as_str().is_some_and(|w| w.contains("being built")))
        });
        if !embedding {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let semantic_after = started.elapsed();
    let (peak_load, _) = service.rss_mib();
    eprintln!("reloading it...");
    let reload = upload(service.base.clone()).await?;
    let index_bytes = newest_index_size(&data_dir.join("index"));
    drop(service);

    // Cold start with the index present.
    let (service, cold_start) =
        Service::start(&data_dir, &service_env(&model_dir, &args.embeddings))?;
    let base = Arc::new(service.base.clone());
    let (_, rss_idle) = service.rss_mib();

    // Suggest prefixes: the starts of real dataset and column names.
    let mut rng = Rng::new(7);
    let prefixes: Arc<Vec<String>> = Arc::new(
        (0..500)
            .map(|_| {
                let d = &catalog.datasets[rng.below(catalog.datasets.len())];
                let name = if rng.chance(0.5) || d.columns.is_empty() {
                    d.name
                        .rsplit_once('.')
                        .map_or(d.name.clone(), |(_, t)| t.to_string())
                } else {
                    d.columns[rng.below(d.columns.len())].name.clone()
                };
                name.chars().take(3 + rng.below(4)).collect()
            })
            .collect(),
    );
    let question_texts: Arc<Vec<String>> =
        Arc::new(questions.iter().map(|(q, _)| q.clone()).collect());
    let duration = Some(Duration::from_secs(args.duration_secs));

    eprintln!("peer: loading PostgreSQL FTS...");
    let (peer, peer_load, peer_bytes) = Peer::create(&postgres_url, &catalog).await?;
    let pool = peer.pool.clone();

    let mut cells: Vec<(String, usize, Row, Row)> = Vec::new();
    for &clients in &args.clients {
        // "new questions": each question with a number appended that no other request
        // carries, so every one is embedded (the plain cells repeat the question set, whose
        // embeddings the service caches after the first pass).
        for endpoint in ["search", "search, new questions", "suggest"] {
            eprintln!("measuring {endpoint} with {clients} client(s)...");
            let (c, b, q, p) = (
                client.clone(),
                base.clone(),
                question_texts.clone(),
                prefixes.clone(),
            );
            let ours = drive_with(
                &format!("/v1/{endpoint}"),
                clients,
                move |k, i| {
                    let (c, b, q, p) = (c.clone(), b.clone(), q.clone(), p.clone());
                    async move {
                        let request = if endpoint != "suggest" {
                            let question = asked(endpoint, &q, k, i);
                            c.get(format!("{b}/v1/search"))
                                .query(&[("q", question.as_str()), ("limit", "10")])
                        } else {
                            c.get(format!("{b}/v1/suggest"))
                                .query(&[("q", p[(k * 7919 + i) % p.len()].as_str())])
                        };
                        Some(match request.send().await {
                            Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
                            _ => false,
                        })
                    }
                },
                duration,
            )
            .await;
            let (pl, q, p) = (pool.clone(), question_texts.clone(), prefixes.clone());
            let theirs = drive_with(
                &format!("pg {endpoint}"),
                clients,
                move |k, i| {
                    let (pl, q, p) = (pl.clone(), q.clone(), p.clone());
                    async move {
                        let ok = if endpoint != "suggest" {
                            Peer::search(&pl, &asked(endpoint, &q, k, i), 10)
                                .await
                                .is_ok()
                        } else {
                            Peer::suggest(&pl, &p[(k * 7919 + i) % p.len()])
                                .await
                                .is_ok()
                        };
                        Some(ok)
                    }
                },
                duration,
            )
            .await;
            cells.push((endpoint.to_string(), clients, ours, theirs));
        }
    }
    let (peak_serving, rss_serving) = service.rss_mib();

    eprintln!("recall on the generated questions...");
    let recall_ours = recall_at_5(&questions, |q| {
        let (c, b) = (client.clone(), base.clone());
        async move {
            let res = c
                .get(format!("{b}/v1/search"))
                .query(&[("q", q.as_str()), ("limit", "5")])
                .send()
                .await;
            match res {
                Ok(res) => res
                    .json::<serde_json::Value>()
                    .await
                    .map(|b| {
                        b["results"]
                            .as_array()
                            .map(|r| {
                                r.iter()
                                    .filter_map(|x| x["dataset"].as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            }
        }
    })
    .await;
    let recall_peer = recall_at_5(&questions, |q| {
        let pl = pool.clone();
        async move { Peer::search(&pl, &q, 5).await.unwrap_or_default() }
    })
    .await;

    eprintln!("ask (extractive) overhead...");
    let (c, b, q) = (client.clone(), base.clone(), question_texts.clone());
    let ask = drive_with(
        "/v1/ask",
        1,
        move |_, i| {
            let (c, b, q) = (c.clone(), b.clone(), q.clone());
            async move {
                if i >= 200 {
                    return None;
                }
                let res = c
                    .post(format!("{b}/v1/ask"))
                    .json(&serde_json::json!({ "question": format!("{} ({i})", q[i % q.len()]) }))
                    .send()
                    .await;
                Some(matches!(res, Ok(r) if r.status().is_success()))
            }
        },
        None,
    )
    .await;
    let (c, b, q) = (client.clone(), base.clone(), question_texts.clone());
    let search_one = drive_with(
        "/v1/search",
        1,
        move |_, i| {
            let (c, b, q) = (c.clone(), b.clone(), q.clone());
            async move {
                if i >= 200 {
                    return None;
                }
                // A number no other phase appends (the service embeds a question's
                // meaningful words, so "(5)" and "(5.)" would be the same query).
                let res = c
                    .get(format!("{b}/v1/search"))
                    .query(&[("q", format!("{} ({})", q[i % q.len()], 100_000 + i))])
                    .send()
                    .await;
                Some(matches!(res, Ok(r) if r.status().is_success()))
            }
        },
        None,
    )
    .await;
    peer.drop_database().await;
    drop(service);

    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "descoberta bench scale: {n_datasets} datasets, {n_columns} columns, {} questions; embeddings: {}; {} s per cell; {} CPU(s) ({machine}); {}",
        questions.len(),
        args.embeddings,
        args.duration_secs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "DEBUG BUILD: not representative"
        } else {
            "release build"
        }
    );
    println!();
    println!(
        "| endpoint | clients | descoberta req/s | p50 ms | p99 ms | PostgreSQL FTS req/s | p50 ms | p99 ms | throughput ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (endpoint, clients, ours, theirs) in &cells {
        println!(
            "| {endpoint} | {clients} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.1}× |",
            ours.throughput(),
            ours.p(0.5),
            ours.p(0.99),
            theirs.throughput(),
            theirs.p(0.5),
            theirs.p(0.99),
            ours.throughput() / theirs.throughput().max(1e-9)
        );
        if ours.errors + theirs.errors > 0 {
            println!(
                "|   errors | | {} | | | {} | | | |",
                ours.errors, theirs.errors
            );
        }
    }
    println!();
    println!("| measure | descoberta | PostgreSQL FTS |");
    println!("|---|---|---|");
    println!("| recall@5 on the generated questions | {recall_ours:.1} | {recall_peer:.1} |");
    println!(
        "| load (first upload, parse → store → index → embeddings) | {:.1} s | {:.1} s (insert, tsvector, GIN) |",
        load.as_secs_f64(),
        peer_load.as_secs_f64()
    );
    if args.embeddings == "off" {
        println!("| semantic index | off (lexical only) | |");
    } else {
        println!(
            "| semantic index complete, after the load returned (background) | {:.1} s | |",
            semantic_after.as_secs_f64()
        );
    }
    println!(
        "| reload (same catalog again) | {:.1} s | |",
        reload.as_secs_f64()
    );
    println!(
        "| index size | {:.0} MiB | {:.0} MiB (tables + GIN) |",
        index_bytes as f64 / 1048576.0,
        peer_bytes as f64 / 1048576.0
    );
    println!("| peak RSS during load | {peak_load:.0} MiB | |");
    println!(
        "| RSS after cold start / after the load test (peak) | {rss_idle:.0} / {rss_serving:.0} ({peak_serving:.0}) MiB | |"
    );
    println!(
        "| cold start with the index present | {:.2} s | |",
        cold_start.as_secs_f64()
    );
    println!(
        "| /v1/search p50, 1 client, new queries | {:.2} ms | |",
        search_one.p(0.5)
    );
    println!(
        "| /v1/ask (extractive) p50, 1 client, new questions | {:.2} ms | |",
        ask.p(0.5)
    );
    Ok(())
}

/// The service's environment for the scale runs.
fn service_env(model_dir: &Path, embeddings: &str) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "DESCOBERTA_EMBEDDING_MODEL_DIR".to_string(),
            model_dir.display().to_string(),
        ),
        (
            "DESCOBERTA_LIMITS_MAX_CONCURRENT_SEARCHES".into(),
            "64".into(),
        ),
        // The load generator is one address: measure capacity, not the rate limiter.
        ("DESCOBERTA_RATE_LIMIT_ENABLED".into(), "false".into()),
    ];
    match embeddings {
        "off" => env.push(("DESCOBERTA_EMBEDDING_ENABLED".into(), "false".into())),
        "static" => env.push(("DESCOBERTA_EMBEDDING_KIND".into(), "static".into())),
        "transformer" => env.push(("DESCOBERTA_EMBEDDING_KIND".into(), "transformer".into())),
        _ => env.push(("DESCOBERTA_EMBEDDING_KIND".into(), "e5".into())),
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_new_questions_cell_never_asks_a_question_twice_and_the_plain_one_repeats() {
        let questions = vec![
            "where are orders?".to_string(),
            "onde estão os clientes?".into(),
        ];
        let mut seen = HashSet::new();
        for k in 0..16 {
            for i in 0..5_000 {
                let question = asked("search, new questions", &questions, k, i);
                assert!(seen.insert(question.clone()), "asked twice: {question}");
            }
        }
        assert_eq!(
            asked("search", &questions, 0, 3),
            asked("search", &questions, 1, 0)
        );
        assert!(questions.contains(&asked("search", &questions, 5, 7)));
    }
}
