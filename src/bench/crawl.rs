//! `descoberta bench crawl`: generates a large schema in a PostgreSQL database (2,000 tables,
//! 60,000 columns by default, with comments, primary and foreign keys), crawls it the way a
//! registered source is crawled, and loads the result through the load pipeline into a
//! temporary store (embeddings off). Prints the crawl and load times.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};

use crate::app::App;
use crate::catalog::CatalogPatch;
use crate::settings::Settings;
use crate::sources::crawl::{self, CrawlOptions};
use crate::sources::spec::SourceRead;
use crate::versions::SyncOptions;

#[derive(Debug, Args)]
pub struct CrawlBenchArgs {
    /// A PostgreSQL URL whose user may create databases (default:
    /// $DESCOBERTA_TEST_POSTGRES_URL, the throwaway cluster of the tests).
    #[arg(long, env = "DESCOBERTA_TEST_POSTGRES_URL", hide_env_values = true)]
    pub postgres_url: Option<String>,
    /// Tables to generate.
    #[arg(long, default_value_t = 2_000)]
    pub tables: usize,
    /// Columns per table (2,000 × 30 = 60,000).
    #[arg(long, default_value_t = 30)]
    pub columns_per_table: usize,
    /// Crawls to time (the median and the best are reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Keep the generated database.
    #[arg(long)]
    pub keep: bool,
}

const TYPES: [&str; 6] = [
    "text",
    "integer",
    "numeric(12,2)",
    "timestamptz",
    "boolean",
    "date",
];
const WORDS: [&str; 12] = [
    "customer", "order", "amount", "status", "created", "region", "product", "invoice", "payment",
    "channel", "score", "segment",
];

/// The DDL of tables `from..to`: each with a key, a foreign key to the previous table,
/// comments on the table and on every other column.
fn ddl(from: usize, to: usize, columns: usize) -> String {
    let mut sql = String::new();
    for t in from..to {
        let name = format!("bench.t_{t:05}");
        sql.push_str(&format!("CREATE TABLE {name} (id bigint PRIMARY KEY"));
        let mut used = 1;
        if t > 0 && columns > 1 {
            sql.push_str(&format!(
                ", parent_id bigint REFERENCES bench.t_{:05} (id)",
                t - 1
            ));
            used += 1;
        }
        for c in used..columns {
            let word = WORDS[(t + c) % WORDS.len()];
            let kind = TYPES[(t * 7 + c) % TYPES.len()];
            sql.push_str(&format!(", {word}_{c:02} {kind}"));
        }
        sql.push_str(");\n");
        sql.push_str(&format!(
            "COMMENT ON TABLE {name} IS 'Generated table {t} about {} data';\n",
            WORDS[t % WORDS.len()]
        ));
        for c in (2..columns).step_by(2) {
            let word = WORDS[(t + c) % WORDS.len()];
            sql.push_str(&format!(
                "COMMENT ON COLUMN {name}.{word}_{c:02} IS 'The {word} of row {c}';\n"
            ));
        }
    }
    sql
}

fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).context("parsing the PostgreSQL URL")?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.to_string())
}

pub async fn run(settings: Settings, args: CrawlBenchArgs) -> anyhow::Result<()> {
    let url = args.postgres_url.clone().context(
        "give --postgres-url (or set DESCOBERTA_TEST_POSTGRES_URL, e.g. with \
         `source scripts/lib/postgres.sh && start_throwaway_postgres`)",
    )?;
    let database = format!("bench_crawl_{:08x}", rand::random::<u32>());
    let mut admin = PgConnection::connect(&url)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to {}: {e}", crawl::display_name(&url)))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .context("creating the bench database")?;
    let bench_url = with_database(&url, &database)?;
    let result = measure(&settings, &args, &bench_url).await;
    if !args.keep {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await;
    } else {
        eprintln!("kept database {database}");
    }
    let _ = admin.close().await;
    result
}

async fn measure(settings: &Settings, args: &CrawlBenchArgs, url: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut conn = PgConnection::connect(url)
        .await
        .context("connecting to the bench database")?;
    sqlx::raw_sql("CREATE SCHEMA bench")
        .execute(&mut conn)
        .await
        .context("creating the bench schema")?;
    for from in (0..args.tables).step_by(100) {
        let to = (from + 100).min(args.tables);
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl(from, to, args.columns_per_table)))
            .execute(&mut conn)
            .await
            .context("creating tables")?;
    }
    sqlx::raw_sql("ANALYZE")
        .execute(&mut conn)
        .await
        .context("analyzing")?;
    let _ = conn.close().await;
    let generated = started.elapsed();
    eprintln!(
        "generated {} tables in {:.1} s",
        args.tables,
        generated.as_secs_f64()
    );

    let secret = SecretString::from(url.to_string());
    let options = CrawlOptions {
        schemas: vec!["bench".into()],
        statement_timeout: Duration::from_secs(120),
        ..CrawlOptions::default()
    };
    let mut times = Vec::new();
    let mut catalog = None;
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let found = crawl::crawl(&secret, "bench", &options)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        times.push(t.elapsed());
        catalog = Some(found);
    }
    let catalog = catalog.context("no crawl ran")?;
    times.sort();
    let (datasets, columns) = (catalog.datasets.len(), catalog.column_count());
    let references: usize = catalog
        .datasets
        .iter()
        .flat_map(|d| &d.columns)
        .filter(|c| c.properties.contains_key("references"))
        .count();

    // Load through the pipeline into a temporary store, as a sync would.
    let scratch = tempfile::tempdir().context("temporary directory")?;
    let mut settings = settings.clone();
    settings.data_dir = scratch.path().to_path_buf();
    settings.database_url = Some(SecretString::from(format!(
        "sqlite://{}?mode=rwc",
        scratch.path().join("catalog.db").display()
    )));
    settings.embedding.enabled = false;
    let app = App::build(settings).await?;
    let declared = vec![false; datasets];
    let read = SourceRead {
        patch: CatalogPatch {
            catalog: catalog.clone(),
            sensitivity_declared: declared.clone(),
            reference_sites: Vec::new(),
            term_sites: Vec::new(),
        },
        warnings: Vec::new(),
    };
    let t = Instant::now();
    let outcome = app
        .versions
        .sync_found("bench", "bench", read, SyncOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("loading the crawl: {e}"))?;
    let load = t.elapsed();
    anyhow::ensure!(outcome.changed, "the first load changed nothing");
    // The same schema again: crawl, combine, diff; no version.
    let t = Instant::now();
    let again = crawl::crawl(&secret, "bench", &options)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let read = SourceRead {
        patch: CatalogPatch {
            catalog: again,
            sensitivity_declared: declared,
            reference_sites: Vec::new(),
            term_sites: Vec::new(),
        },
        warnings: Vec::new(),
    };
    let resync = app
        .versions
        .sync_found("bench", "bench", read, SyncOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("syncing again: {e}"))?;
    let unchanged = t.elapsed();
    anyhow::ensure!(!resync.changed, "an unchanged schema made a new version");

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let build = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!(
        "descoberta bench crawl: {datasets} tables, {columns} columns, {references} foreign-key \
         columns; {cpus} CPU(s); {build}; PostgreSQL on the same machine"
    );
    println!();
    println!("| step | time |");
    println!("|---|---|");
    println!(
        "| generate the schema (DDL, comments, ANALYZE) | {} |",
        secs(generated)
    );
    println!(
        "| crawl (median of {}) | {} |",
        times.len(),
        secs(times[times.len() / 2])
    );
    println!("| crawl (best) | {} |", secs(times[0]));
    println!(
        "| load (combine, diff, store transaction, index) | {} |",
        secs(load)
    );
    println!(
        "| sync again, unchanged (crawl, combine, diff; no version) | {} |",
        secs(unchanged)
    );
    println!();
    println!(
        "crawl target under 30 s: {}",
        if times[times.len() / 2] < Duration::from_secs(30) {
            "met"
        } else {
            "missed"
        }
    );
    Ok(())
}
