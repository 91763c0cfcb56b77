//! The OpenAPI document, generated from the handlers and types.

use actix_web::HttpResponse;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "descoberta",
        description = "Natural-language metadata discovery: find the datasets and columns that hold the data you need."
    ),
    paths(
        super::search::search,
        super::ask::ask,
        super::ask::ask_stream,
        super::search::suggest,
        super::datasets::get_dataset,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorPayload))
)]
pub struct ApiDoc;

/// This document.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
