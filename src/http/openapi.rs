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
        super::datasets::get_related,
        super::datasets::join_path,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::admin::upload_catalog,
        super::admin::reload,
        super::admin::versions,
        super::admin::activate,
        super::admin::audit,
        super::admin::gaps,
        super::admin::create_key,
        super::admin::list_keys,
        super::admin::revoke_key,
        super::sources::register,
        super::sources::list,
        super::sources::get,
        super::sources::delete,
        super::sources::sync,
        super::sources::history,
        super::feedback::feedback,
        super::glossary::glossary,
        super::glossary::replace,
        super::glossary::put_term,
        super::glossary::delete_term,
        super::stewardship::proposals,
        super::stewardship::accept,
        super::stewardship::reject,
        super::stewardship::enrich,
        super::stewardship::insights,
    ),
    modifiers(&SecurityAddon),
    components(schemas(super::error::ErrorBody, super::error::ErrorPayload))
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
