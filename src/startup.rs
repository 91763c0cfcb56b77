//! Builds the application: store, engine, HTTP server. `main` and the tests both start here.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::answer::Answerer;
use crate::engine::Engine;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::store;

pub struct Application {
    port: u16,
    server: Server,
    engine: Arc<Engine>,
}

impl Application {
    /// Connects the store, loads or opens the catalog, and binds the listener (port 0 picks a
    /// free port; see [`Application::port`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let settings = Arc::new(settings);
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
        let store = store::connect(&settings.database_url()).await?;
        tracing::info!(backend = store.backend(), "store ready");
        let metrics = Arc::new(Metrics::new()?);
        let engine = Arc::new(Engine::new(settings.clone(), store, metrics).await?);
        engine.start().await?;
        engine.refresh_governance().await?;

        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let addr = listener.local_addr().context("reading bound address")?;
        let answerer = Arc::new(Answerer::new(&settings, engine.metrics.clone())?);
        let state = web::Data::new(AppState {
            engine: engine.clone(),
            answerer,
        });
        let limiter = http::rate_limiter(&settings.rate_limit)?;
        let limited = settings.rate_limit.enabled;
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new()
                .wrap(actix_web::middleware::Condition::new(
                    limited,
                    actix_governor::Governor::new(&limiter),
                ))
                .wrap(http::cors(&state.engine.settings().cors))
                .wrap(http::json_errors())
                .wrap_fn(http::observe)
                .configure(|cfg| http::configure(cfg, state))
        })
        .listen(listener)
        .context("starting HTTP server")?
        .run();
        tracing::info!(
            address = %format!("http://{addr}"),
            catalog_version = engine.snapshot().map(|s| s.version),
            "descoberta ready"
        );
        Ok(Application {
            port: addr.port(),
            server,
            engine,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Serves until the server stops. Meanwhile follows the active version in the store
    /// (other replicas' loads) and reloads the metadata directory on SIGHUP.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let follower = self.engine.clone().follow_active_version();
        let hangups = reload_on_sighup(self.engine.clone());
        tokio::select! {
            result = self.server => result.context("HTTP server failed"),
            () = follower => Ok(()),
            () = hangups => Ok(()),
        }
    }
}

/// SIGHUP re-reads the metadata directory (when its files changed).
async fn reload_on_sighup(engine: Arc<Engine>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP");
            return std::future::pending().await;
        };
        while hangups.recv().await.is_some() {
            match engine.reload_directory("sighup", false).await {
                Ok(outcome) => tracing::info!(
                    version = outcome.version.map(|v| v.version),
                    changed = outcome.changed,
                    "SIGHUP: metadata directory reloaded"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: reload failed; the active version stays")
                }
            }
        }
    }
    std::future::pending().await
}
