//! `GET /v1/datasets/{name}`.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::retrieval::present::SensitivityLevel;

#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnView {
    pub name: String,
    pub description: Option<String>,
    pub data_type: Option<String>,
    pub tags: Vec<String>,
    pub properties: BTreeMap<String, String>,
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
    let Some(d) = snapshot
        .visible_dataset(&name, visibility)
        .and_then(|(ordinal, _)| snapshot.view(ordinal, visibility))
    else {
        return Err(ApiError::not_found(format!("no dataset named `{name}`")));
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
            })
            .collect(),
        catalog_version: snapshot.version,
    }))
}
