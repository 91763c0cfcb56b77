use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(health_readiness_metrics_and_openapi);

async fn health_readiness_metrics_and_openapi(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    let expected_backend = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["store"]["detail"], expected_backend);
    assert!(body["catalog_version"].as_i64().is_some());

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
