//! `GET /v1/datasets/{name}`, `GET /v1/datasets/{name}/related` and `GET /v1/join-path`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::input::{self, Origin};
use super::{AppState, Caller};
use crate::retrieval::present::{self, DatasetView, JoinHop, RelatedDataset, related};

/// One dataset with all its columns and properties.
#[utoipa::path(
    get,
    path = "/v1/datasets/{name}",
    params(("name" = String, Path, description = "Dataset name, e.g. `crm.customer_churn_scores`", example = "crm.customer_churn_scores")),
    responses(
        (status = 200, description = "The dataset", body = DatasetView),
        (status = 404, description = "No such dataset (or not visible to the caller)", body = super::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = super::error::ErrorBody),
    ),
    tag = "catalog"
)]
pub async fn get_dataset(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = state
        .search
        .snapshot()
        .ok_or_else(|| ApiError::unavailable("no catalog is loaded yet"))?;
    // A dataset the caller may not see is answered exactly like one that does not exist.
    let Some(view) = DatasetView::visible(&snapshot, &name, &caller.visibility) else {
        return Err(ApiError::not_found(format!("no dataset named `{name}`")));
    };
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RelatedResponse {
    pub dataset: String,
    pub related: Vec<RelatedDataset>,
    pub catalog_version: i64,
}

/// The datasets linked to one (foreign keys and lineage, either way), among those the
/// caller may see.
#[utoipa::path(
    get,
    path = "/v1/datasets/{name}/related",
    params(("name" = String, Path, description = "Dataset name", example = "sales.orders")),
    responses(
        (status = 200, description = "Related datasets", body = RelatedResponse),
        (status = 404, description = "No such dataset (or not visible to the caller)", body = super::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = super::error::ErrorBody),
    ),
    tag = "catalog"
)]
pub async fn get_related(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = state
        .search
        .snapshot()
        .ok_or_else(|| ApiError::unavailable("no catalog is loaded yet"))?;
    let Some((ordinal, d)) = snapshot.visible_dataset(&name, &caller.visibility) else {
        return Err(ApiError::not_found(format!("no dataset named `{name}`")));
    };
    Ok(HttpResponse::Ok().json(RelatedResponse {
        dataset: d.name.clone(),
        related: related(&snapshot, ordinal, &caller.visibility),
        catalog_version: snapshot.version,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JoinPathParams {
    /// A dataset name.
    #[param(min_length = 1, max_length = 512, pattern = r"\S")]
    pub from: String,
    /// Another dataset name.
    #[param(min_length = 1, max_length = 512, pattern = r"\S")]
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JoinPathResponse {
    pub from: String,
    pub to: String,
    /// The hops, in order: each with its join columns and condition.
    pub hops: Vec<JoinHop>,
    pub catalog_version: i64,
}

/// Longest join path looked for, in hops.
const MAX_JOIN_HOPS: usize = 4;

/// The shortest join path between two datasets, through datasets the caller may see.
#[utoipa::path(
    get,
    path = "/v1/join-path",
    params(JoinPathParams),
    responses(
        (status = 200, description = "The path", body = JoinPathResponse),
        (status = 400, description = "Invalid parameters", body = super::error::ErrorBody),
        (status = 404, description = "No path (or a dataset missing or not visible)", body = super::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = super::error::ErrorBody),
    ),
    tag = "catalog"
)]
pub async fn join_path(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<JoinPathParams>,
) -> Result<HttpResponse, ApiError> {
    let max = state.settings.limits.max_query_chars;
    let from = input::text(Origin::Query, "from", &params.from, max)?;
    let to = input::text(Origin::Query, "to", &params.to, max)?;
    let snapshot = state
        .search
        .snapshot()
        .ok_or_else(|| ApiError::unavailable("no catalog is loaded yet"))?;
    // Missing, hidden and unlinked read the same.
    let Some(hops) = present::join_path(&snapshot, from, to, &caller.visibility, MAX_JOIN_HOPS)
    else {
        return Err(ApiError::not_found(format!(
            "no join path between `{from}` and `{to}`"
        )));
    };
    let name = |n: &str| {
        snapshot
            .visible_dataset(n, &caller.visibility)
            .map_or_else(|| n.to_string(), |(_, d)| d.name.clone())
    };
    Ok(HttpResponse::Ok().json(JoinPathResponse {
        from: name(from),
        to: name(to),
        hops,
        catalog_version: snapshot.version,
    }))
}
