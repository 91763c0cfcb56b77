//! The admin API: catalog uploads, reloads, versions and rollback, the audit log.
//!
//! Every admin route needs `Authorization: Bearer <admin token>`. Without any token
//! configured the admin API does not exist (404); without a token in the request: 401; with
//! a wrong one: 403. Tokens are compared in constant time.
//!
//! Loads never interleave: a load (or activation) while another runs gets 409 `conflict`
//! at once; retry when it is done.

use std::future::{Ready, ready};
use std::path::PathBuf;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::identity::{admin_id, bearer_token, hash_api_key, new_api_key};
use super::input::{self, Origin};
use super::views::{AuditView, DiffView, GapGroupView, KeyView, VersionView};
use crate::clock::now_ms;
use crate::governance::ApiKeyRecord;
use crate::versions::{LoadMode, LoadOptions, LoadOutcome};

/// An authenticated admin, by token id.
pub struct Admin {
    pub id: String,
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Admin, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::internal(anyhow::anyhow!("app state missing")));
    };
    let tokens = state.settings.admin_tokens().unwrap_or_default();
    if tokens.is_empty() {
        return Err(ApiError::new(
            ErrorCode::RouteNotFound,
            format!("no route for {} {}", req.method(), req.path()),
        ));
    }
    if bearer_token(req)?.is_none() {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "this route needs `Authorization: Bearer <admin token>`",
        ));
    }
    admin_id(req, state)
        .map(|id| Admin { id })
        .ok_or_else(|| ApiError::new(ErrorCode::Forbidden, "the admin token is not valid"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoadParams {
    /// `replace` (default): the upload becomes the whole catalog. `merge`: its datasets
    /// replace or add to those of the active catalog.
    #[param(pattern = "^(replace|merge)$")]
    pub mode: Option<String>,
    /// Validate and return the diff without changing anything.
    pub dry_run: Option<bool>,
    /// Allow changes that make a dataset visible to more callers (a lower sensitivity, more
    /// groups). Without it such a load is refused with 422 `declassification_refused`.
    pub allow_declassify: Option<bool>,
}

/// The result of a load, reload or activation.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoadResponse {
    /// The version now live (`null` for a dry run).
    pub version: Option<i64>,
    /// `false` when nothing had to change.
    pub changed: bool,
    pub dry_run: bool,
    pub datasets: usize,
    pub columns: usize,
    pub diff: DiffView,
    /// The version served after this request.
    pub catalog_version: Option<i64>,
}

impl LoadResponse {
    pub(super) fn new(
        outcome: LoadOutcome,
        dry_run: bool,
        catalog_version: Option<i64>,
    ) -> LoadResponse {
        LoadResponse {
            version: outcome.version.map(|v| v.version),
            changed: outcome.changed,
            dry_run,
            datasets: outcome.datasets,
            columns: outcome.columns,
            diff: outcome.diff.into(),
            catalog_version,
        }
    }
}

/// Writes the request body to a temporary file, refusing more than `max` bytes.
async fn spool(
    mut stream: impl futures::Stream<Item = Result<bytes::Bytes, ApiError>> + Unpin,
    dir: &tempfile::TempDir,
    name: &str,
    max: u64,
    used: &mut u64,
) -> Result<PathBuf, ApiError> {
    let path = dir.path().join(format!("{}.csv", dir_entry_count(dir)));
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("spooling upload")))?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        *used += chunk.len() as u64;
        if *used > max {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the upload is larger than the limit of {max} bytes ({name})"),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("spooling upload")))?;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("spooling upload")))?;
    Ok(path)
}

fn dir_entry_count(dir: &tempfile::TempDir) -> usize {
    std::fs::read_dir(dir.path())
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Uploads a catalog: `text/csv` (one file) or `multipart/form-data` (several files, each
/// part a CSV). Replaces the active catalog, or merges into it with `?mode=merge`;
/// `?dry_run=true` only validates and diffs.
#[utoipa::path(
    post,
    path = "/v1/admin/catalog",
    params(LoadParams),
    request_body(content = String, content_type = "text/csv", description = "Metadata CSV (or multipart/form-data with several CSV files)"),
    responses(
        (status = 200, description = "Loaded (or validated)", body = LoadResponse),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 409, description = "Another load is running", body = super::error::ErrorBody),
        (status = 413, description = "Upload too large", body = super::error::ErrorBody),
        (status = 415, description = "Not CSV or multipart", body = super::error::ErrorBody),
        (status = 422, description = "Invalid catalog (every problem, with line and field), or a declassification not allowed", body = super::error::ErrorBody),
        (status = 507, description = "No space left to store the catalog; nothing changed", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn upload_catalog(
    state: web::Data<AppState>,
    admin: Admin,
    req: HttpRequest,
    params: web::Query<LoadParams>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mode = match params.mode.as_deref() {
        None | Some("replace") => LoadMode::Replace,
        Some("merge") => LoadMode::Merge,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("unknown mode `{other}` (replace or merge)"),
            ));
        }
    };
    let dry_run = params.dry_run.unwrap_or(false);
    let max = state.settings.limits.max_upload_bytes;
    if let Some(length) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > max
    {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the upload is larger than the limit of {max} bytes"),
        ));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let dir = tempfile::tempdir()
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("temporary directory")))?;
    let mut used = 0u64;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    if content_type.starts_with("text/csv")
        || content_type.starts_with("application/csv")
        || content_type.starts_with("text/plain")
    {
        let stream = payload.map(|c| {
            c.map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("reading the body: {e}")))
        });
        let path = spool(Box::pin(stream), &dir, "upload.csv", max, &mut used).await?;
        files.push(("upload.csv".into(), path));
    } else if content_type.starts_with("multipart/form-data") {
        let mut multipart = actix_multipart::Multipart::new(req.headers(), payload);
        while let Some(field) = multipart.next().await {
            let field = field.map_err(|e| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("malformed multipart body: {e}"),
                )
            })?;
            let name = field
                .content_disposition()
                .and_then(|d| d.get_filename().or_else(|| d.get_name()))
                .map(str::to_string)
                .unwrap_or_else(|| format!("part{}.csv", files.len() + 1));
            let stream = field.map(|c| {
                c.map_err(|e| {
                    ApiError::new(
                        ErrorCode::BadRequest,
                        format!("malformed multipart body: {e}"),
                    )
                })
            });
            let path = spool(Box::pin(stream), &dir, &name, max, &mut used).await?;
            files.push((name, path));
        }
        if files.is_empty() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "the multipart body has no files",
            ));
        }
    } else {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the catalog as `text/csv`, or several CSV files as `multipart/form-data`",
        ));
    }
    let outcome = state
        .versions
        .load_files(
            &admin.id,
            files,
            Some(dir),
            LoadOptions {
                mode,
                dry_run,
                allow_declassify: params.allow_declassify.unwrap_or(false),
            },
        )
        .await?;
    let current = state.versions.snapshot().map(|s| s.version);
    Ok(HttpResponse::Ok().json(LoadResponse::new(outcome, dry_run, current)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReloadParams {
    /// Load a new version even when the files did not change.
    pub force: Option<bool>,
    /// Allow changes that make a dataset visible to more callers.
    pub allow_declassify: Option<bool>,
}

/// Re-reads the metadata directory (as SIGHUP does). Unchanged files: nothing happens.
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    params(ReloadParams),
    responses(
        (status = 200, description = "Reloaded (or unchanged)", body = LoadResponse),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 409, description = "Another load is running", body = super::error::ErrorBody),
        (status = 422, description = "Invalid catalog, or a declassification not allowed", body = super::error::ErrorBody),
        (status = 507, description = "No space left to store the catalog; nothing changed", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn reload(
    state: web::Data<AppState>,
    admin: Admin,
    params: web::Query<ReloadParams>,
) -> Result<HttpResponse, ApiError> {
    let outcome = state
        .versions
        .reload_directory(
            &admin.id,
            params.force.unwrap_or(false),
            params.allow_declassify.unwrap_or(false),
        )
        .await?;
    let current = state.versions.snapshot().map(|s| s.version);
    Ok(HttpResponse::Ok().json(LoadResponse::new(outcome, false, current)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionsResponse {
    pub versions: Vec<VersionView>,
    pub catalog_version: Option<i64>,
}

/// Catalog versions, newest first: when, by whom, from what, sizes, which is active.
#[utoipa::path(
    get,
    path = "/v1/admin/versions",
    responses(
        (status = 200, description = "Versions", body = VersionsResponse),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn versions(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let versions = state.versions.list().await?;
    Ok(HttpResponse::Ok().json(VersionsResponse {
        versions: versions.into_iter().map(Into::into).collect(),
        catalog_version: state.versions.snapshot().map(|s| s.version),
    }))
}

/// Makes a stored version live again (rollback or roll-forward).
#[utoipa::path(
    post,
    path = "/v1/admin/versions/{version}/activate",
    params(("version" = i64, Path, description = "Catalog version")),
    responses(
        (status = 200, description = "Activated", body = LoadResponse),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 404, description = "No such version", body = super::error::ErrorBody),
        (status = 409, description = "A load is running", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn activate(
    state: web::Data<AppState>,
    admin: Admin,
    version: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let outcome = state
        .versions
        .activate_version(&admin.id, version.into_inner())
        .await?;
    let current = state.versions.snapshot().map(|s| s.version);
    Ok(HttpResponse::Ok().json(LoadResponse::new(outcome, false, current)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries to return (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResponse {
    pub entries: Vec<AuditView>,
}

/// The audit log of catalog changes, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    params(AuditParams),
    responses(
        (status = 200, description = "Audit entries", body = AuditResponse),
        (status = 400, description = "Invalid limit", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn audit(
    state: web::Data<AppState>,
    _admin: Admin,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = input::limit(Origin::Query, params.limit, 100, 1_000)?;
    let entries = state.versions.audit_log(limit).await?;
    Ok(HttpResponse::Ok().json(AuditResponse {
        entries: entries.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewKeyRequest {
    /// What the key is for (shown in listings).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Groups whose confidential and restricted datasets the key may see.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewKeyResponse {
    #[serde(flatten)]
    pub key: KeyView,
    /// The key itself: shown once, stored only as a hash.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeysResponse {
    pub keys: Vec<KeyView>,
}

/// Creates an API key with its groups. The response is the only time the key is shown.
#[utoipa::path(
    post,
    path = "/v1/admin/keys",
    request_body = NewKeyRequest,
    responses(
        (status = 201, description = "Created", body = NewKeyResponse),
        (status = 400, description = "Invalid request", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn create_key(
    state: web::Data<AppState>,
    admin: Admin,
    request: web::Json<NewKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "`name` must have 1 to 200 characters",
        ));
    }
    let groups: Vec<String> = request
        .groups
        .iter()
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    if groups.len() > 100 || groups.iter().any(|g| g.chars().count() > 100) {
        return Err(ApiError::bad_request(
            "at most 100 groups of at most 100 characters",
        ));
    }
    let (id, secret) = new_api_key();
    let record = ApiKeyRecord {
        id,
        name: name.to_string(),
        groups,
        created_at_ms: now_ms(),
        created_by: admin.id,
        revoked_at_ms: None,
    };
    state
        .governance
        .create_key(&record, &hash_api_key(&secret))
        .await?;
    Ok(HttpResponse::Created().json(NewKeyResponse {
        key: record.into(),
        secret,
    }))
}

/// Lists API keys (never the keys themselves).
#[utoipa::path(
    get,
    path = "/v1/admin/keys",
    responses(
        (status = 200, description = "Keys", body = KeysResponse),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn list_keys(
    state: web::Data<AppState>,
    _admin: Admin,
) -> Result<HttpResponse, ApiError> {
    let keys = state.governance.keys().await?;
    Ok(HttpResponse::Ok().json(KeysResponse {
        keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// Revokes an API key at once.
#[utoipa::path(
    delete,
    path = "/v1/admin/keys/{id}",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 404, description = "No such active key", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn revoke_key(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !state.governance.revoke_key(&id).await? {
        return Err(ApiError::not_found(format!("no active key `{id}`")));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GapsParams {
    /// Look back this many days (1..=3650, default 30).
    #[param(minimum = 1, maximum = 3650)]
    pub days: Option<u64>,
    /// Groups to return (1..=500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GapsResponse {
    pub groups: Vec<GapGroupView>,
    /// Questions examined.
    pub questions: usize,
    /// Synonyms the failed questions and the votes that followed suggest, waiting for a
    /// steward in the review queue (`/v1/admin/proposals`).
    pub suggestions: Vec<super::stewardship::ProposalView>,
}

/// Questions the catalog answered badly (no visible result, low confidence, "not helpful"
/// votes), grouped by similar question, worst first: what data stewards should fix.
#[utoipa::path(
    get,
    path = "/v1/admin/gaps",
    params(GapsParams),
    responses(
        (status = 200, description = "Gap groups", body = GapsResponse),
        (status = 400, description = "Invalid parameters", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn gaps(
    state: web::Data<AppState>,
    _admin: Admin,
    params: web::Query<GapsParams>,
) -> Result<HttpResponse, ApiError> {
    let days = input::within(Origin::Query, "days", params.days.unwrap_or(30), 1..=3650)?;
    let limit = input::limit(Origin::Query, params.limit, 50, 500)?;
    let report = state
        .governance
        .gaps(days, state.settings.low_confidence, limit)
        .await?;
    let suggestions = state
        .stewardship
        .proposals(
            Some(crate::stewardship::PENDING),
            Some(crate::stewardship::SYNONYM),
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(GapsResponse {
        groups: report.groups.into_iter().map(Into::into).collect(),
        questions: report.questions,
        suggestions: suggestions.into_iter().map(Into::into).collect(),
    }))
}
