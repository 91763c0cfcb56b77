//! The command line: `descoberta [serve] | load <file>... [--dbt manifest.json] | crawl <url>
//! | mcp | eval ... | bench ...`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::catalog::CatalogPatch;
use crate::settings::{LogFormat, Overrides, Settings};
use crate::sources::crawl::{self, CrawlOptions};
use crate::sources::glob::Glob;
use crate::sources::spec::SourceRead;
use crate::sources::{DbtArtifacts, FileInput, SourceError};
use crate::startup::Application;
use crate::versions::{LoadError, LoadMode, LoadOptions, SyncOptions};
use crate::{bench, eval, mcp, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "descoberta",
    version,
    about = "Natural-language metadata discovery: ask where data lives, get datasets and columns."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Settings file (default: ./descoberta.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Listen address (port 0: any free port).
    #[arg(long, global = true)]
    pub bind: Option<String>,
    /// postgres://... or sqlite://...
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Directory for index files, models and the SQLite file.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Directory of the catalog CSVs.
    #[arg(long, global = true)]
    pub metadata_dir: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, value_parser = parse_log_format)]
    pub log_format: Option<LogFormat>,
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("unknown log format `{other}` (text or json)")),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Load metadata CSV files, YAML dictionaries or dbt artifacts into the configured store
    /// as a new active catalog version.
    Load {
        /// CSV files and YAML dictionaries (`.yaml`, `.yml`), loaded together as one catalog.
        #[arg(required_unless_present = "dbt")]
        files: Vec<PathBuf>,
        /// dbt's `target/manifest.json`: models, sources, seeds and snapshots.
        #[arg(long, value_name = "MANIFEST")]
        dbt: Option<PathBuf>,
        /// dbt's `target/catalog.json` (column types and order), with `--dbt`.
        #[arg(long, requires = "dbt", value_name = "CATALOG")]
        catalog: Option<PathBuf>,
        /// Upsert these datasets into the active catalog instead of replacing it.
        #[arg(long)]
        merge: bool,
        /// Validate and print the diff without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Allow changes that make a dataset visible to more callers (refused otherwise).
        #[arg(long)]
        allow_declassify: bool,
    },
    /// Crawl a PostgreSQL or SQLite database's catalog and load it (or write it as CSV).
    Crawl(CrawlArgs),
    /// Ask the configured LLM to draft descriptions for datasets and columns that have none;
    /// the drafts wait in the review queue (`/admin/review`) for a steward. Nothing is
    /// published.
    Enrich {
        /// Datasets to draft for (default: every dataset but the restricted ones).
        #[arg(long = "dataset", value_name = "NAME")]
        datasets: Vec<String>,
        /// At most this many datasets.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Serve MCP on stdin/stdout for desktop agents (same settings and store; acts as
    /// DESCOBERTA_MCP_API_KEY, anonymous without it).
    Mcp,
    /// Measure retrieval quality on a catalog and a question set (see shared/eval).
    Eval(eval::EvalArgs),
    /// Benchmarks (latency over real HTTP; use a release build).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// `postgres://user@host/db` or `sqlite:///path/file.db`. Prefer `--connection-env` (or
    /// `PGPASSWORD`) for a password: a command line is visible to other users.
    #[arg(required_unless_present = "connection_env", value_name = "URL")]
    pub url: Option<String>,
    /// The environment variable holding the connection string.
    #[arg(long, value_name = "VAR")]
    pub connection_env: Option<String>,
    /// PostgreSQL schema to crawl (repeat for several; default: every schema the user may
    /// use).
    #[arg(long = "schema", value_name = "SCHEMA")]
    pub schemas: Vec<String>,
    /// Tables to leave out, by name or qualified name (`tmp_*`, `staging.*`); repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Curated CSV files whose rows override what the crawl found (see the README).
    #[arg(long, value_name = "CSV")]
    pub curated: Vec<PathBuf>,
    /// The source's name: the crawled datasets' `synced_from`, replaced by the next crawl of
    /// the same name (default: the database name, or the SQLite file's stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Longest a catalog query may run, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub statement_timeout_ms: u64,
    /// Crawl and print the diff without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the crawled catalog as metadata CSV to this file (`-`: standard output) instead
    /// of loading it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Allow changes that make a dataset visible to more callers (refused otherwise).
    #[arg(long)]
    pub allow_declassify: bool,
}

impl GlobalArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            bind: self.bind.clone(),
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.clone(),
            metadata_dir: self.metadata_dir.clone(),
            log_format: self.log_format,
        }
    }
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.global.config.as_deref(), &cli.global.overrides()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Load {
            files,
            dbt,
            catalog,
            merge,
            dry_run,
            allow_declassify,
        } => {
            let options = LoadOptions {
                mode: if merge {
                    LoadMode::Merge
                } else {
                    LoadMode::Replace
                },
                dry_run,
                allow_declassify,
            };
            let input = FileInput {
                files: files
                    .iter()
                    .map(|f| (f.display().to_string(), f.clone()))
                    .collect(),
                dbt: dbt.map(|manifest| DbtArtifacts { manifest, catalog }),
            };
            load(settings, input, options).await
        }
        Command::Crawl(args) => crawl(settings, args).await,
        Command::Enrich { datasets, limit } => enrich(settings, &datasets, limit).await,
        Command::Mcp => mcp::stdio::run(settings).await,
        Command::Eval(args) => eval::run(settings, args).await,
        Command::Bench(command) => bench::run(settings, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until_stopped().await
}

/// The app on the configured store, serving its active version. The store is shared with a
/// running service; the index built here is not needed, so it goes to a temporary data
/// directory (a running service holds the real one).
async fn offline_app(settings: Settings) -> anyhow::Result<(App, tempfile::TempDir)> {
    let scratch = tempfile::tempdir()?;
    let mut settings = settings;
    settings.database_url = Some(settings.database_url());
    settings.embedding.model_dir = Some(settings.model_dir());
    settings.data_dir = scratch.path().to_path_buf();
    let app = App::build(settings).await?;
    if let Some(active) = app.versions.active_in_store().await? {
        app.versions.switch_to(active).await?;
    }
    Ok((app, scratch))
}

fn load_failed(e: LoadError) -> anyhow::Error {
    match e {
        LoadError::Invalid(invalid) => anyhow::anyhow!("{invalid}no changes were made"),
        other => anyhow::anyhow!("{other}; no changes were made"),
    }
}

async fn load(settings: Settings, input: FileInput, options: LoadOptions) -> anyhow::Result<()> {
    let (app, _scratch) = offline_app(settings).await?;
    let versions = Arc::clone(&app.versions);
    let outcome = versions
        .load_input("cli", input, None, options)
        .await
        .map_err(load_failed)?;
    let report = serde_json::json!({
        "version": outcome.version.as_ref().map(|v| v.version),
        "dry_run": options.dry_run,
        "datasets": outcome.datasets,
        "columns": outcome.columns,
        "diff": outcome.diff,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn enrich(settings: Settings, datasets: &[String], limit: usize) -> anyhow::Result<()> {
    let (app, _scratch) = offline_app(settings).await?;
    let report = app
        .stewardship
        .enrich(
            datasets,
            limit.clamp(1, crate::stewardship::MAX_ENRICH_DATASETS),
        )
        .await?;
    let summary = serde_json::json!({
        "requested": report.requested,
        "drafted": report.drafted,
        "discarded": report.discarded,
        "failed": report.failed,
        "review": "accept or reject them at /admin/review (GET /v1/admin/proposals)",
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

async fn crawl(settings: Settings, args: CrawlArgs) -> anyhow::Result<()> {
    let url = match (&args.url, &args.connection_env) {
        (Some(url), None) => SecretString::from(url.clone()),
        (None, Some(var)) => SecretString::from(
            std::env::var(var)
                .map_err(|_| anyhow::anyhow!("the environment variable `{var}` is not set"))?,
        ),
        _ => anyhow::bail!("give the database as a URL or with --connection-env, not both"),
    };
    let raw = url.expose_secret();
    let label = crawl::display_name(raw);
    let name = match &args.name {
        Some(name) => name.clone(),
        None => default_source_name(raw),
    };
    let options = CrawlOptions {
        schemas: args.schemas.clone(),
        exclude: args.exclude.iter().map(|p| Glob::new(p)).collect(),
        statement_timeout: std::time::Duration::from_millis(args.statement_timeout_ms.max(1)),
        ..CrawlOptions::default()
    };
    let started = std::time::Instant::now();
    let catalog = crawl::crawl(&url, &label, &options)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!(
        "crawled {label}: {} datasets, {} columns in {:.1} s",
        catalog.datasets.len(),
        catalog.column_count(),
        started.elapsed().as_secs_f64()
    );
    let declared = vec![false; catalog.datasets.len()];
    let found = CatalogPatch {
        catalog,
        sensitivity_declared: declared,
        reference_sites: Vec::new(),
        term_sites: Vec::new(),
    };
    let max = settings.limits.max_upload_bytes;
    let read = if args.curated.is_empty() {
        SourceRead {
            patch: found,
            warnings: Vec::new(),
        }
    } else {
        let (steward, positions) =
            crate::sources::files::parse_with_positions_files(&args.curated, max).map_err(|e| {
                match e {
                    SourceError::Invalid(invalid) => anyhow::anyhow!("{invalid}"),
                    other => anyhow::anyhow!("{other}"),
                }
            })?;
        let (patch, warnings) =
            crate::sources::combine::overlay_curated(found, &steward, &positions);
        SourceRead { patch, warnings }
    };
    for warning in &read.warnings {
        eprintln!(
            "warning: {}:{} [{}]: {}",
            warning.file,
            warning.line,
            warning.field.as_deref().unwrap_or(""),
            warning.message
        );
    }
    if let Some(out) = &args.out {
        let catalog = &read.patch.catalog;
        if out.as_os_str() == "-" {
            crate::sources::export::write_catalog(catalog, std::io::stdout().lock())?;
        } else {
            let file = std::fs::File::create(out)
                .with_context(|| format!("creating {}", out.display()))?;
            crate::sources::export::write_catalog(catalog, std::io::BufWriter::new(file))?;
            eprintln!("wrote {}", out.display());
        }
        return Ok(());
    }
    let (app, _scratch) = offline_app(settings).await?;
    let versions = Arc::clone(&app.versions);
    let options = SyncOptions {
        dry_run: args.dry_run,
        allow_declassify: args.allow_declassify,
    };
    let outcome = versions
        .sync_found("cli", &name, read, options)
        .await
        .map_err(load_failed)?;
    let report = serde_json::json!({
        "source": name,
        "version": outcome.version.as_ref().map(|v| v.version),
        "changed": outcome.changed,
        "dry_run": args.dry_run,
        "datasets": outcome.datasets,
        "columns": outcome.columns,
        "diff": outcome.diff,
        "warnings": outcome.warnings,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The database name of a PostgreSQL URL, or a SQLite file's stem.
fn default_source_name(url: &str) -> String {
    let label = crawl::display_name(url);
    let tail = label.rsplit('/').next().unwrap_or("");
    let stem = tail.split('.').next().unwrap_or("");
    if stem.is_empty() {
        "database".to_string()
    } else {
        stem.to_string()
    }
}
