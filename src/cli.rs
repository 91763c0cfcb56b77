//! The command line: `descoberta [serve] | load <csv>... | eval ...`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::settings::{LogFormat, Overrides, Settings};
use crate::startup::Application;
use crate::versions::{LoadError, LoadMode};
use crate::{bench, eval, telemetry};

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
    },
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
        } => load(settings, files, merge, dry_run).await,
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

async fn load(
    settings: Settings,
    files: Vec<PathBuf>,
    merge: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    let app = App::build(settings).await?;
    let versions = Arc::clone(&app.versions);
    if let Some(active) = versions.active_in_store().await? {
        versions.switch_to(active).await?;
    }
    let mode = if merge {
        LoadMode::Merge
    } else {
        LoadMode::Replace
    };
    let named: Vec<(String, PathBuf)> = files
        .iter()
        .map(|f| (f.display().to_string(), f.clone()))
        .collect();
    let outcome = versions
        .load_files("cli", named, None, mode, dry_run)
        .await
        .map_err(|e| match e {
            LoadError::Invalid(invalid) => anyhow::anyhow!("{invalid}no changes were made"),
            other => anyhow::Error::new(other),
        })?;
    let report = serde_json::json!({
        "version": outcome.version.as_ref().map(|v| v.version),
        "dry_run": dry_run,
        "datasets": outcome.datasets,
        "columns": outcome.columns,
        "diff": outcome.diff,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
