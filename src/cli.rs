//! The command line: `descoberta [serve] | load <csv>... | mcp | eval ...`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::settings::{LogFormat, Overrides, Settings};
use crate::startup::Application;
use crate::versions::{LoadError, LoadMode, LoadOptions};
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
    /// Load metadata CSV files into the configured store as a new active catalog version.
    Load {
        /// CSV files, loaded together as one catalog.
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
    /// Serve MCP on stdin/stdout for desktop agents (same settings and store; acts as
    /// DESCOBERTA_MCP_API_KEY, anonymous without it).
    Mcp,
    /// Measure retrieval quality on a catalog and a question set (see shared/eval).
    Eval(eval::EvalArgs),
    /// Benchmarks (latency over real HTTP; use a release build).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
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
            load(settings, files, options).await
        }
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

async fn load(settings: Settings, files: Vec<PathBuf>, options: LoadOptions) -> anyhow::Result<()> {
    // The store is shared with a running service; the index built here is not needed, so it
    // goes to a temporary data directory (a running service holds the real one).
    let scratch = tempfile::tempdir()?;
    let mut settings = settings;
    settings.database_url = Some(settings.database_url());
    settings.embedding.model_dir = Some(settings.model_dir());
    settings.data_dir = scratch.path().to_path_buf();
    let app = App::build(settings).await?;
    let versions = Arc::clone(&app.versions);
    if let Some(active) = versions.active_in_store().await? {
        versions.switch_to(active).await?;
    }
    let named: Vec<(String, PathBuf)> = files
        .iter()
        .map(|f| (f.display().to_string(), f.clone()))
        .collect();
    let outcome = versions
        .load_files("cli", named, None, options)
        .await
        .map_err(|e| match e {
            LoadError::Invalid(invalid) => anyhow::anyhow!("{invalid}no changes were made"),
            other => anyhow::Error::new(other),
        })?;
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
