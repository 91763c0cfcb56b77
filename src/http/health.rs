//! `/healthz`, `/readyz`, `/metrics`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::identity;

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
pub async fn readyz(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    // Counts (which include datasets a caller may not see) are for operators only.
    let operator = identity::is_operator(&req, &state);
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
        Some(s) if s.is_unhealthy() => Check {
            ok: false,
            detail: "the index is damaged; it is being rebuilt from the store".into(),
        },
        Some(s) if operator => Check {
            ok: true,
            detail: format!(
                "catalog version {} ({} datasets, {} columns)",
                s.version,
                s.catalog.datasets.len(),
                s.catalog.column_count()
            ),
        },
        Some(s) => Check {
            ok: true,
            detail: format!("catalog version {}", s.version),
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
        warnings: state.warnings(operator),
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
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "An ops token is configured and was not sent", body = super::error::ErrorBody),
    ),
    tag = "ops"
)]
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if state.settings.access.ops_token.is_some() && !identity::is_operator(&req, &state) {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "this route needs `Authorization: Bearer <ops or admin token>`",
        ));
    }
    let text = state.metrics.render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
