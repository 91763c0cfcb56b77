//! `descoberta mcp`: the MCP server on stdin/stdout, for desktop clients that start it as a
//! child process. It reads the same settings and the same store as the service, and acts as
//! `mcp.api_key` (`DESCOBERTA_MCP_API_KEY`: an API key or an admin token; none: anonymous; an
//! invalid one stops it at start). A running service holds the exclusive lock of its data
//! directory, so this process builds its index in a scratch directory, as `descoberta load`
//! does, and follows the store's active version (and its keys) from there. Logs go to stderr;
//! stdout carries only the protocol.

use std::sync::Arc;

use anyhow::Context;
use rmcp::ServiceExt;
use secrecy::ExposeSecret;

use super::{Server, Tools};
use crate::app::App;
use crate::http::identity;
use crate::settings::Settings;

/// Serves MCP on stdio until the client closes it.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("creating a scratch data directory")?;
    let mut settings = settings;
    settings.database_url = Some(settings.database_url());
    settings.embedding.model_dir = Some(settings.model_dir());
    settings.data_dir = scratch.path().to_path_buf();
    let key = settings.mcp.api_key.clone();
    let app = Arc::new(App::build(settings).await?);
    app.governance
        .refresh()
        .await
        .context("reading the API keys")?;
    let caller = match key {
        None => identity::anonymous(&app),
        Some(key) => identity::caller_for_credential(&app, key.expose_secret()).context(
            "DESCOBERTA_MCP_API_KEY is not a valid API key or admin token (or it was revoked); \
             unset it to run as an anonymous caller",
        )?,
    };
    match app.versions.active_in_store().await? {
        Some(active) => app
            .versions
            .switch_to(active)
            .await
            .with_context(|| format!("opening catalog version {active}"))?,
        None => tracing::warn!("the store has no active catalog version yet"),
    }
    tracing::info!(
        admin = caller.is_admin,
        key_id = caller.key_id.as_deref().unwrap_or("-"),
        catalog_version = app.versions.snapshot().map(|s| s.version),
        "descoberta MCP server on stdio"
    );
    let tools = Arc::new(Tools::new(&app)?);
    let server = Server::new(app.clone(), tools, Some(caller));
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the MCP session on stdio")?;
    let follower = app.clone().follow();
    tokio::select! {
        quit = running.waiting() => {
            let reason = quit.context("the MCP session failed")?;
            tracing::info!(?reason, "MCP client closed the session");
        }
        () = follower => {}
    }
    drop(scratch);
    Ok(())
}
