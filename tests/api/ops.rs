//! Health, readiness, metrics and the OpenAPI document. Readiness reports the store, so it
//! runs on both backends; the rest once, on SQLite.

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(readiness_reports_the_store_and_the_catalog_version);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_is_ok() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}

async fn readiness_reports_the_store_and_the_catalog_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    let expected_backend = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["store"]["detail"], expected_backend);
    assert!(body["catalog_version"].as_i64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_describe_the_catalog() {
    let app = spawn_app(Backend::Sqlite).await;
    app.get("/v1/search?q=orders").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "descoberta_http_requests_total{method=\"GET\",route=\"/v1/search\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("descoberta_catalog_datasets"));
    assert!(metrics.contains("descoberta_retrieval_duration_seconds_bucket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_routes() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/v1/search",
        "/v1/suggest",
        "/v1/datasets/{name}",
        "/readyz",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    assert!(doc["components"]["schemas"]["SearchResponse"].is_object());
}
