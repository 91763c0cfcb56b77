//! `GET /v1/datasets/{name}`.

use actix_web::{HttpResponse, web};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::retrieval::present::DatasetView;

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
