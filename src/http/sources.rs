//! The admin source API: register metadata sources (crawled databases, dbt artifacts, YAML
//! dictionaries), list them with their last sync, sync one now, read its sync history.
//!
//! Connection strings are never accepted, stored or shown: a database source names the
//! environment variable that holds its connection string (`connection_env`).

use std::path::PathBuf;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::admin::Admin;
use super::error::ApiError;
use super::input::{self, Origin};
use super::views::{DiffView, ProblemView, SourceView, SyncView};
use crate::versions::{SourceConfig, SourceKind, SourceSpec, SyncOptions, parse_every};

/// A source to register. Unknown fields are refused (a connection string has no field).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSourceRequest {
    /// Names the source everywhere (errors, the audit log, each dataset's `synced_from`):
    /// 1 to 64 letters, digits, `_`, `-` or `.`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    )]
    pub id: String,
    /// `postgres`, `sqlite`, `dbt` or `yaml`.
    #[schema(pattern = "^(postgres|sqlite|dbt|yaml)$")]
    pub kind: String,
    /// postgres, sqlite: the environment variable holding the connection string.
    pub connection_env: Option<String>,
    /// sqlite: the database file (instead of `connection_env`).
    pub path: Option<String>,
    /// postgres: the schemas to crawl (default: every schema the crawl user may use).
    #[serde(default)]
    pub schemas: Vec<String>,
    /// postgres, sqlite: tables to leave out, by name or qualified name (`tmp_*`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// dbt: `target/manifest.json`.
    pub manifest: Option<String>,
    /// dbt: `target/catalog.json` (optional; column types and order).
    pub catalog: Option<String>,
    /// yaml: the dictionary files.
    #[serde(default)]
    pub files: Vec<String>,
    /// Curated CSV files whose rows override what the source says (see the README's merge
    /// rule).
    #[serde(default)]
    pub curated: Vec<String>,
    /// postgres, sqlite: longest a catalog query may run (100..=600000, default 30000).
    pub statement_timeout_ms: Option<u64>,
    /// Sync periodically: `30s`, `15m`, `6h`, `1d`. Absent: only on request.
    pub every: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourcesResponse {
    pub sources: Vec<SourceView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// Read the source and return the diff without changing anything.
    pub dry_run: Option<bool>,
    /// Allow a sync that makes a dataset visible to more callers (refused otherwise with 422
    /// `declassification_refused`).
    pub allow_declassify: Option<bool>,
}

/// The result of a sync.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncResponse {
    pub source: String,
    /// The version live after the sync (`null` for a dry run).
    pub version: Option<i64>,
    /// `false` when the source had nothing new: no version was created.
    pub changed: bool,
    pub dry_run: bool,
    pub datasets: usize,
    pub columns: usize,
    pub diff: DiffView,
    /// Curated rows that did not apply (a column the source no longer has, a type that
    /// differs); they do not stop the sync.
    pub warnings: Vec<ProblemView>,
    /// The version served after this request.
    pub catalog_version: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Syncs to return (1..=1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncsResponse {
    pub syncs: Vec<SyncView>,
}

fn paths(values: &[String]) -> Vec<PathBuf> {
    values.iter().map(PathBuf::from).collect()
}

/// Registers a source. Nothing is read yet: sync it, or let its schedule do it.
#[utoipa::path(
    post,
    path = "/v1/admin/sources",
    request_body = NewSourceRequest,
    responses(
        (status = 201, description = "Registered", body = SourceView),
        (status = 400, description = "Invalid settings (a connection string instead of an environment variable name, a setting the kind does not take, ...)", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 409, description = "A source with this id exists", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn register(
    state: web::Data<AppState>,
    admin: Admin,
    request: web::Json<NewSourceRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = request.into_inner();
    let kind = SourceKind::parse(&request.kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown kind `{}` (postgres, sqlite, dbt or yaml)",
            request.kind
        ))
    })?;
    let every = match request.every.as_deref() {
        Some(every) => Some(parse_every(every).map_err(ApiError::bad_request)?),
        None => None,
    };
    let spec = SourceSpec {
        id: request.id.trim().to_string(),
        kind,
        config: SourceConfig {
            connection_env: request.connection_env,
            path: request.path.map(PathBuf::from),
            schemas: request.schemas,
            exclude: request.exclude,
            manifest: request.manifest.map(PathBuf::from),
            catalog: request.catalog.map(PathBuf::from),
            files: paths(&request.files),
            curated: paths(&request.curated),
            statement_timeout_ms: request.statement_timeout_ms,
        },
    };
    let info = state
        .versions
        .register_source(&admin.id, spec, every)
        .await?;
    Ok(HttpResponse::Created().json(SourceView::from(info)))
}

/// Every registered source with its last sync (when, outcome, counts, the diff summary).
#[utoipa::path(
    get,
    path = "/v1/admin/sources",
    responses(
        (status = 200, description = "Sources", body = SourcesResponse),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn list(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let sources = state.versions.sources().await?;
    Ok(HttpResponse::Ok().json(SourcesResponse {
        sources: sources.into_iter().map(Into::into).collect(),
    }))
}

/// One source with its last sync.
#[utoipa::path(
    get,
    path = "/v1/admin/sources/{id}",
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 200, description = "The source", body = SourceView),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 404, description = "No such source", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn get(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match state.versions.source(&id).await? {
        Some(info) => Ok(HttpResponse::Ok().json(SourceView::from(info))),
        None => Err(ApiError::not_found(format!(
            "no source `{id}` is registered"
        ))),
    }
}

/// Removes a source and its sync history. The datasets it produced stay in the catalog
/// until a load replaces them.
#[utoipa::path(
    delete,
    path = "/v1/admin/sources/{id}",
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 404, description = "No such source", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !state.versions.delete_source(&admin.id, &id).await? {
        return Err(ApiError::not_found(format!(
            "no source `{id}` is registered"
        )));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Syncs a source now: reads it, combines it with its curated rows and the live catalog, and
/// loads the result as a new version when something changed. A failure changes nothing and
/// is recorded in the source's history and the audit log.
#[utoipa::path(
    post,
    path = "/v1/admin/sources/{id}/sync",
    params(("id" = String, Path, description = "Source id"), SyncParams),
    responses(
        (status = 200, description = "Synced (or unchanged, or a dry run)", body = SyncResponse),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 404, description = "No such source", body = super::error::ErrorBody),
        (status = 409, description = "Another load is running", body = super::error::ErrorBody),
        (status = 422, description = "The source gave an invalid catalog (a malformed manifest or YAML file), or the sync would declassify datasets", body = super::error::ErrorBody),
        (status = 424, description = "The source could not be read (unreachable, bad credentials, permission denied, missing file); nothing changed", body = super::error::ErrorBody),
        (status = 507, description = "No space left to store the catalog; nothing changed", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn sync(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    params: web::Query<SyncParams>,
) -> Result<HttpResponse, ApiError> {
    let dry_run = params.dry_run.unwrap_or(false);
    let options = SyncOptions {
        dry_run,
        allow_declassify: params.allow_declassify.unwrap_or(false),
    };
    let outcome = state.versions.sync_source(&admin.id, &id, options).await?;
    Ok(HttpResponse::Ok().json(SyncResponse {
        source: id.into_inner(),
        version: outcome.version.map(|v| v.version),
        changed: outcome.changed,
        dry_run,
        datasets: outcome.datasets,
        columns: outcome.columns,
        diff: outcome.diff.into(),
        warnings: outcome.warnings.into_iter().map(Into::into).collect(),
        catalog_version: state.versions.snapshot().map(|s| s.version),
    }))
}

/// A source's syncs, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/sources/{id}/syncs",
    params(("id" = String, Path, description = "Source id"), HistoryParams),
    responses(
        (status = 200, description = "Sync history", body = SyncsResponse),
        (status = 400, description = "Invalid limit", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 404, description = "No such source", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn history(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<String>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = input::limit(Origin::Query, params.limit, 50, 1_000)?;
    let syncs = state.versions.sync_history(&id, limit).await?;
    Ok(HttpResponse::Ok().json(SyncsResponse {
        syncs: syncs.into_iter().map(Into::into).collect(),
    }))
}
