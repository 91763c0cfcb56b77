//! The one place that sets up logging. `RUST_LOG` overrides the default filter.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

const DEFAULT_FILTER: &str = "info,sqlx=warn,tantivy=warn,actix_server=warn";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A degradation the service runs with (no embedding model, no word tables...), found at
/// start and reported in `/readyz`: `summary` for anyone, and `detail` (paths, file errors:
/// internals) for operators only. Made with [`Degradation::report`], which also logs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Degradation {
    pub summary: String,
    pub detail: String,
}

impl Degradation {
    /// Logs the degradation (summary and detail) and pushes it to `found`.
    pub fn report(found: &mut Vec<Degradation>, summary: impl Into<String>, detail: String) {
        let warning = Degradation {
            summary: summary.into(),
            detail,
        };
        tracing::warn!(detail = %warning.detail, "{}", warning.summary);
        found.push(warning);
    }

    /// The text `/readyz` shows: the summary, and for an operator the detail too.
    pub fn text(&self, operator: bool) -> String {
        if operator {
            format!("{} ({})", self.summary, self.detail)
        } else {
            self.summary.clone()
        }
    }
}

/// Runs blocking or CPU-heavy work on the blocking pool, inside the caller's span (its log
/// lines keep the request id).
pub fn blocking<T, F>(work: F) -> tokio::task::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
}

/// Spawns a task that carries the caller's span.
pub fn spawn<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::Instrument;
    tokio::spawn(task.instrument(tracing::Span::current()))
}
