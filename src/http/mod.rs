//! The HTTP front door (actix-web): routes, caller identity, the JSON error contract and its
//! safety net, SSE, rate limits, request spans and metrics, pages and the widget. Handlers
//! translate between HTTP and the layers of the [`App`]; they hold no retrieval logic.

mod admin;
mod ask;
mod datasets;
pub mod error;
mod feedback;
mod glossary;
mod health;
pub mod identity;
mod input;
mod limits;
mod openapi;
mod pages;
pub(crate) mod search;
mod sources;
mod sse;
mod stewardship;
pub mod views;

use std::time::Instant;

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpRequest, HttpResponse, web};
use tracing::Instrument;

pub use identity::Caller;
pub use limits::{RateLimiter, maintain as maintain_rate_limiter, rate_limiter};
pub use openapi::ApiDoc;

use crate::app::App;
use error::{ApiError, ErrorBody, ErrorCode};

/// Shared state of every handler: the application.
pub type AppState = App;

/// Registers every route and the extractor configuration.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    let limits = state.settings.limits.clone();
    cfg.app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(limits.max_json_bytes)
                .error_handler(|err, _req| json_error(err).into()),
        )
        .app_data(web::QueryConfig::default().error_handler(|err, _req| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("invalid query string: {err}"),
            )
            .into()
        }))
        .app_data(web::PathConfig::default().error_handler(|err, _req| {
            ApiError::new(ErrorCode::BadRequest, format!("invalid path: {err}")).into()
        }))
        .service(resource("/", web::get().to(pages::index)))
        .service(resource("/widget.js", web::get().to(pages::widget_js)))
        .service(resource(
            "/datasets/{name}",
            web::get().to(pages::dataset_page),
        ))
        .service(resource("/healthz", web::get().to(health::healthz)))
        .service(resource("/readyz", web::get().to(health::readyz)))
        .service(resource("/metrics", web::get().to(health::metrics)))
        .service(resource(
            "/openapi.json",
            web::get().to(openapi::openapi_json),
        ))
        .service(resource("/v1/search", web::get().to(search::search)))
        .service(resource("/v1/suggest", web::get().to(search::suggest)))
        .service(resource("/v1/ask", web::post().to(ask::ask)))
        .service(resource("/v1/ask/stream", web::post().to(ask::ask_stream)))
        .service(resource(
            "/v1/admin/catalog",
            web::post().to(admin::upload_catalog),
        ))
        .service(resource("/v1/admin/reload", web::post().to(admin::reload)))
        .service(resource(
            "/v1/admin/versions",
            web::get().to(admin::versions),
        ))
        .service(resource(
            "/v1/admin/versions/{version}/activate",
            web::post().to(admin::activate),
        ))
        .service(resource("/v1/admin/audit", web::get().to(admin::audit)))
        .service(resource("/v1/admin/gaps", web::get().to(admin::gaps)))
        .service(
            web::resource("/v1/admin/keys")
                .route(web::post().to(admin::create_key))
                .route(web::get().to(admin::list_keys))
                .default_service(web::to(method_not_allowed)),
        )
        .service(resource(
            "/v1/admin/keys/{id}",
            web::delete().to(admin::revoke_key),
        ))
        .service(
            web::resource("/v1/admin/sources")
                .route(web::post().to(sources::register))
                .route(web::get().to(sources::list))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/admin/sources/{id}")
                .route(web::get().to(sources::get))
                .route(web::delete().to(sources::delete))
                .default_service(web::to(method_not_allowed)),
        )
        .service(resource(
            "/v1/admin/sources/{id}/sync",
            web::post().to(sources::sync),
        ))
        .service(resource(
            "/v1/admin/sources/{id}/syncs",
            web::get().to(sources::history),
        ))
        .service(resource("/v1/glossary", web::get().to(glossary::glossary)))
        .service(resource(
            "/v1/admin/glossary",
            web::put().to(glossary::replace),
        ))
        .service(
            web::resource("/v1/admin/glossary/terms/{name}")
                .route(web::put().to(glossary::put_term))
                .route(web::delete().to(glossary::delete_term))
                .default_service(web::to(method_not_allowed)),
        )
        .service(resource(
            "/v1/admin/proposals",
            web::get().to(stewardship::proposals),
        ))
        .service(resource(
            "/v1/admin/proposals/{id}/accept",
            web::post().to(stewardship::accept),
        ))
        .service(resource(
            "/v1/admin/proposals/{id}/reject",
            web::post().to(stewardship::reject),
        ))
        .service(resource(
            "/v1/admin/enrich",
            web::post().to(stewardship::enrich),
        ))
        .service(resource(
            "/v1/admin/insights",
            web::get().to(stewardship::insights),
        ))
        .service(resource("/admin/insights", web::get().to(pages::insights)))
        .service(resource("/admin/review", web::get().to(pages::review)))
        .service(resource(
            "/vendor/uPlot.iife.min.js",
            web::get().to(pages::uplot_js),
        ))
        .service(resource(
            "/vendor/uPlot.min.css",
            web::get().to(pages::uplot_css),
        ))
        .service(resource("/v1/feedback", web::post().to(feedback::feedback)))
        .service(resource(
            "/v1/datasets/{name}",
            web::get().to(datasets::get_dataset),
        ))
        .service(resource(
            "/v1/datasets/{name}/related",
            web::get().to(datasets::get_related),
        ))
        .service(resource(
            "/v1/join-path",
            web::get().to(datasets::join_path),
        ))
        .default_service(web::to(route_not_found));
}

/// A resource with one route; other methods get a JSON 405.
fn resource(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(method_not_allowed))
}

async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::RouteNotFound,
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("method {} is not allowed on {}", req.method(), req.path()),
    ))
}

fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type: application/json",
        ),
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        ),
        E::Deserialize(e) => {
            ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON body: {e}"))
        }
        other => ApiError::new(
            ErrorCode::InvalidJson,
            format!("invalid JSON body: {other}"),
        ),
    }
}

/// Safety net: any error response that is not already JSON (from actix internals) is
/// rewritten into the JSON error contract.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let code = match status.as_u16() {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::RouteNotFound,
            405 => ErrorCode::MethodNotAllowed,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::Unavailable,
            s if s < 500 => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        };
        let message = status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string();
        let body = ErrorBody::new(code, message, None);
        let (req, _) = res.into_parts();
        let mut response = HttpResponse::build(status).json(body);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let res = ServiceResponse::new(req, response).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(res))
    })
}

/// Wraps the app: one span per request (named by route template), request metrics, and a
/// request id header.
pub fn observe<S, B>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>
+ use<S, B>
where
    S: Service<
            actix_web::dev::ServiceRequest,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: MessageBody,
{
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let request_id = format!("{:016x}", rand::random::<u64>());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let quiet = matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics");
    let span = tracing::info_span!(
        "http_request",
        otel.name = %format!("{method} {route}"),
        http.route = %route,
        http.method = %method,
        http.status = tracing::field::Empty,
        request_id = %request_id,
    );
    let started = Instant::now();
    let (max_uri_bytes, timeout_ms) = state.as_ref().map_or((usize::MAX, 60_000), |s| {
        let limits = &s.settings.limits;
        (limits.max_uri_bytes, limits.request_timeout_ms)
    });
    // Admin routes are exempt from the request timeout: a load runs to its end (it is
    // detached from the request anyway) and the admin gets its outcome.
    let timed = !route.starts_with("/v1/admin/");
    // Path and query as sent (without building the URI string per request).
    let uri_bytes = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let too_long = uri_bytes > max_uri_bytes;
    let timeout = std::time::Duration::from_millis(timeout_ms);
    // The request is not cloned here: routing needs it unshared. An over-long URI is
    // answered at once; a timeout becomes an error that actix renders with its JSON body.
    let call = if too_long {
        Err(req.into_response(
            ApiError::new(ErrorCode::UriTooLong, "the request URI is too long").error_response(),
        ))
    } else {
        Ok(srv.call(req))
    };
    async move {
        let mut res = match call {
            Err(rejected) => rejected.map_into_right_body(),
            Ok(fut) if !timed => fut.await?.map_into_left_body(),
            Ok(fut) => match tokio::time::timeout(timeout, fut).await {
                Ok(res) => res?.map_into_left_body(),
                Err(_) => {
                    if let Some(state) = &state {
                        state
                            .metrics
                            .http_requests
                            .with_label_values(&[route.as_str(), method.as_str(), "503"])
                            .inc();
                    }
                    tracing::warn!(
                        latency_ms = started.elapsed().as_secs_f64() * 1e3,
                        "request timed out"
                    );
                    return Err(ApiError::new(
                        ErrorCode::Timeout,
                        "the request took too long; try again",
                    )
                    .into());
                }
            },
        };
        let status = res.status().as_u16();
        let elapsed = started.elapsed();
        tracing::Span::current().record("http.status", status);
        if quiet {
            tracing::debug!(status, latency_ms = elapsed.as_secs_f64() * 1e3, "request");
        } else {
            tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1e3, "request");
        }
        if let Some(state) = state {
            let metrics = &state.metrics;
            metrics
                .http_requests
                .with_label_values(&[route.as_str(), method.as_str(), &status.to_string()])
                .inc();
            metrics
                .http_duration
                .with_label_values(&[route.as_str()])
                .observe(elapsed.as_secs_f64());
        }
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            res.headers_mut()
                .insert(header::HeaderName::from_static("x-request-id"), value);
        }
        Ok(res)
    }
    .instrument(span)
}

/// CORS for portals embedding the widget: configured origins only; preflight handled; no
/// wildcard with credentials (refused by the settings).
pub fn cors(settings: &crate::settings::CorsSettings) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "OPTIONS"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            header::HeaderName::from_static("x-api-key"),
        ])
        .expose_headers([header::HeaderName::from_static("x-request-id")])
        .max_age(600);
    for origin in &settings.allowed_origins {
        cors = if origin == "*" {
            cors.allow_any_origin().send_wildcard()
        } else {
            cors.allowed_origin(origin)
        };
    }
    if settings.allow_credentials {
        cors = cors.supports_credentials();
    }
    cors
}

/// Elapsed milliseconds, rounded to 0.01 ms.
pub fn took_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e5).round() / 100.0
}
