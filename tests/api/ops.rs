//! Health, readiness, metrics and the OpenAPI document. Readiness reports the store, so it
//! runs on both backends; the rest once, on SQLite.

use crate::helpers::{Backend, sample, spawn_app};
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
async fn metrics_tell_questions_embedded_by_the_model_from_those_the_cache_answered() {
    let app = spawn_app(Backend::Sqlite).await;
    let memo = "descoberta_question_embeddings_total{source=\"memo\"}";
    let model = "descoberta_question_embeddings_total{source=\"model\"}";
    let batched = "descoberta_question_embedding_batch_size_sum";
    let read = || async { app.get("/metrics").await.text().await.unwrap() };
    let before = read().await;
    // The model memo is shared by every service in this process: a question nobody asked.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let path = format!("/v1/search?q=orders+placed+by+customer+{nonce}");
    assert_eq!(app.get(&path).await.status(), 200);
    let first = read().await;
    let computed = sample(&first, model) - sample(&before, model);
    assert!(computed >= 1.0, "{first}");
    // Every question the model embedded went through a batch.
    assert_eq!(sample(&first, batched) - sample(&before, batched), computed);
    assert_eq!(app.get(&path).await.status(), 200);
    let second = read().await;
    assert_eq!(sample(&second, model), sample(&first, model), "{second}");
    assert_eq!(sample(&second, memo) - sample(&first, memo), computed);
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
