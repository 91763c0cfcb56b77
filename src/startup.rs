//! Wires the layers and the HTTP server (the REST API and, beside it on the same port, the MCP
//! endpoint): `main` and the tests both start here.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App as ActixApp, HttpServer, web};
use anyhow::Context;

use crate::app::App;
use crate::http;
use crate::mcp;
use crate::settings::Settings;

pub struct Application {
    port: u16,
    server: Server,
    app: Arc<App>,
    limiter: http::RateLimiter,
}

impl Application {
    /// Connects the store, loads or opens the catalog, and binds the listener (port 0 picks a
    /// free port; see [`Application::port`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let app = Arc::new(App::build(settings).await?);
        app.start().await?;
        let settings = app.settings.clone();
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let addr = listener.local_addr().context("reading bound address")?;
        let state = web::Data::from(app.clone());
        let limiter = http::rate_limiter(&settings.rate_limit)?;
        let limited = settings.rate_limit.enabled;
        let governor = limiter.clone();
        let mcp_http = if settings.mcp.enabled {
            Some(web::Data::new(mcp::transport::McpHttp::new(app.clone())?))
        } else {
            None
        };
        let server = HttpServer::new(move || {
            let state = state.clone();
            let mcp_http = mcp_http.clone();
            ActixApp::new()
                .wrap(actix_web::middleware::Condition::new(
                    limited,
                    actix_governor::Governor::new(&governor),
                ))
                .wrap(http::cors(&state.settings.cors))
                .wrap(http::json_errors())
                .wrap_fn(http::observe)
                .configure(|cfg| {
                    if let Some(mcp_http) = mcp_http {
                        mcp::transport::configure(cfg, mcp_http);
                    }
                    http::configure(cfg, state)
                })
        })
        .listen(listener)
        .context("starting HTTP server")?
        .run();
        tracing::info!(
            address = %format!("http://{addr}"),
            catalog_version = app.versions.snapshot().map(|s| s.version),
            "descoberta ready"
        );
        Ok(Application {
            port: addr.port(),
            server,
            app,
            limiter,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Stops the server (in-flight requests are dropped) and waits for its workers to end.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops. Meanwhile follows the active version in the store
    /// (other replicas' loads), reloads the metadata directory on SIGHUP, syncs the
    /// scheduled sources, and warms the query-embedding cache once.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let follower = self.app.clone().follow();
        let hangups = self.app.clone().reload_on_sighup();
        let sweeper =
            http::maintain_rate_limiter(self.limiter, self.app.settings.rate_limit.clone());
        // Scheduled syncs run on their own task (each sync on its own, too), stopped with the
        // server.
        let schedule = crate::telemetry::spawn(self.app.versions.clone().run_schedule());
        let _stop_schedule = AbortOnDrop(schedule.abort_handle());
        let warm = crate::telemetry::spawn(self.app.clone().warm_query_cache());
        let _stop_warm = AbortOnDrop(warm.abort_handle());
        let stopped = tokio::select! {
            result = self.server => result.context("HTTP server failed"),
            () = follower => Ok(()),
            () = hangups => Ok(()),
            () = sweeper => Ok(()),
            _ = schedule => Ok(()),
        };
        self.app
            .governance
            .flush_question_log(QUESTION_LOG_FLUSH)
            .await;
        stopped
    }
}

/// How long a stopping server waits for the question log's last entries to be written.
const QUESTION_LOG_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// Aborts a task when dropped (the server stopped, or the task serving it was aborted).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
