//! The browser side: `/widget.js` (the embeddable search box), `/` (a demo portal page that
//! embeds it, `?q=` runs a search on load) and `/datasets/{name}` (a readable dataset page).
//! The files live in `web/` and are compiled into the binary.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

const WIDGET_JS: &str = include_str!("../../web/widget.js");
const INDEX_HTML: &str = include_str!("../../web/index.html");
const DATASET_HTML: &str = include_str!("../../web/dataset.html");
const INSIGHTS_HTML: &str = include_str!("../../web/insights.html");
const REVIEW_HTML: &str = include_str!("../../web/review.html");
/// uPlot (MIT, `web/vendor/uPlot.LICENSE`), the insights page's charts.
const UPLOT_JS: &str = include_str!("../../web/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../web/vendor/uPlot.min.css");

/// A static asset with an ETag; `If-None-Match` gets 304.
fn asset(req: &HttpRequest, body: &'static str, content_type: &str, cache: &str) -> HttpResponse {
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..16]
    );
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache.to_string()))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if matches {
        response.finish()
    } else {
        response.content_type(content_type).body(body)
    }
}

/// The embeddable search box (a web component, no dependencies). It is public code, so any
/// page may load it as a module script (which browsers fetch with CORS); the API calls it
/// makes are what the CORS settings govern.
pub async fn widget_js(req: HttpRequest) -> HttpResponse {
    let mut response = asset(
        &req,
        WIDGET_JS,
        "application/javascript; charset=utf-8",
        "public, max-age=300, must-revalidate",
    );
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    headers.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        header::HeaderValue::from_static("cross-origin"),
    );
    response
}

/// An HTML page of ours: not to be framed by other sites.
fn page(req: &HttpRequest, body: &'static str) -> HttpResponse {
    let mut response = asset(req, body, "text/html; charset=utf-8", "no-cache");
    let headers = response.headers_mut();
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("frame-ancestors 'self'"),
    );
    response
}

/// The demo portal page.
pub async fn index(req: HttpRequest) -> HttpResponse {
    page(&req, INDEX_HTML)
}

/// The dataset page (it reads the dataset through the API, with the caller's rights).
pub async fn dataset_page(req: HttpRequest) -> HttpResponse {
    page(&req, DATASET_HTML)
}

/// The admin insights page (`/admin/insights`). It holds no data: it asks for the admin token
/// and reads `/v1/admin/insights` with it.
pub async fn insights(req: HttpRequest) -> HttpResponse {
    page(&req, INSIGHTS_HTML)
}

/// The review queue page (`/admin/review`); like the insights page, data only with the token.
pub async fn review(req: HttpRequest) -> HttpResponse {
    page(&req, REVIEW_HTML)
}

/// The charting library of the insights page.
pub async fn uplot_js(req: HttpRequest) -> HttpResponse {
    asset(
        &req,
        UPLOT_JS,
        "application/javascript; charset=utf-8",
        "public, max-age=86400",
    )
}

pub async fn uplot_css(req: HttpRequest) -> HttpResponse {
    asset(
        &req,
        UPLOT_CSS,
        "text/css; charset=utf-8",
        "public, max-age=86400",
    )
}
