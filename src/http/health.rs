//! `/healthz`, `/readyz`, `/metrics`.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)), tag = "ops")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub catalog_version: Option<i64>,
    pub store: Check,
    pub index: Check,
    /// Degradations that do not stop serving (e.g. no embedding model: lexical search only).
    pub warnings: Vec<String>,
}

/// Readiness: the store answers and a catalog version is being served.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness),
    ),
    tag = "ops"
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = match state.versions.ping_store().await {
        Ok(()) => Check {
            ok: true,
            detail: state.versions.backend().to_string(),
        },
        Err(e) => {
            tracing::warn!(error = ?e, "store ping failed");
            Check {
                ok: false,
                detail: "store unreachable".into(),
            }
        }
    };
    let snapshot = state.versions.snapshot();
    let index = match &snapshot {
        Some(s) => Check {
            ok: true,
            detail: format!(
                "catalog version {} ({} datasets, {} columns)",
                s.version,
                s.catalog.datasets.len(),
                s.catalog.column_count()
            ),
        },
        None => Check {
            ok: false,
            detail: "no catalog loaded".into(),
        },
    };
    let ready = store.ok && index.ok;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" }.into(),
        catalog_version: snapshot.map(|s| s.version),
        store,
        index,
        warnings: state.warnings(),
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")),
    tag = "ops"
)]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state.metrics.render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
