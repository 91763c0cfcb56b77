//! `GET /v1/datasets/{name}`.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::input::{self, Origin};
use super::{AppState, Caller};
use crate::catalog::split_reference;
use crate::retrieval::present::{self, JoinHop, RelatedDataset, SensitivityLevel, related};

#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnView {
    pub name: String,
    pub description: Option<String>,
    pub data_type: Option<String>,
    pub tags: Vec<String>,
    pub properties: BTreeMap<String, String>,
    /// The columns this one refers to (`dataset.column`), among datasets the caller may see.
    pub references: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetView {
    pub dataset: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub location: Option<String>,
    pub sensitivity: SensitivityLevel,
    pub tags: Vec<String>,
    pub allowed_groups: Vec<String>,
    pub properties: BTreeMap<String, String>,
    pub columns: Vec<ColumnView>,
    /// Datasets linked by foreign keys or lineage, either way (those the caller may see).
    pub relationships: Vec<RelatedDataset>,
    pub catalog_version: i64,
}

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
    let visibility = &caller.visibility;
    let Some((ordinal, d)) = snapshot
        .visible_dataset(&name, visibility)
        .and_then(|(ordinal, _)| Some((ordinal, snapshot.view(ordinal, visibility)?)))
    else {
        return Err(ApiError::not_found(format!("no dataset named `{name}`")));
    };
    let visible_target = |reference: &String| {
        split_reference(reference)
            .is_some_and(|(dataset, _)| snapshot.visible_dataset(dataset, visibility).is_some())
    };
    Ok(HttpResponse::Ok().json(DatasetView {
        dataset: d.name.clone(),
        description: d.description.clone(),
        owner: d.owner.clone(),
        domain: d.domain.clone(),
        location: d.location.clone(),
        sensitivity: d.sensitivity.into(),
        tags: d.tags.clone(),
        allowed_groups: d.allowed_groups.clone(),
        properties: d.properties.clone(),
        columns: d
            .columns
            .iter()
            .map(|c| ColumnView {
                name: c.name.clone(),
                description: c.description.clone(),
                data_type: c.data_type.clone(),
                tags: c.tags.clone(),
                properties: c.properties.clone(),
                references: c
                    .references
                    .iter()
                    .filter(|r| visible_target(r))
                    .cloned()
                    .collect(),
            })
            .collect(),
        relationships: related(&snapshot, ordinal, visibility),
        catalog_version: snapshot.version,
    }))
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
