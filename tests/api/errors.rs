//! Every error goes through the JSON contract.

use crate::helpers::{Backend, error_code, spawn_app};
use crate::on_both_backends;

on_both_backends!(bad_requests_get_json_errors);

async fn bad_requests_get_json_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases: Vec<(String, u16, &str)> = vec![
        ("/v1/search".into(), 400, "invalid_query"),
        ("/v1/search?q=".into(), 400, "invalid_query"),
        ("/v1/search?q=%20%20".into(), 400, "invalid_query"),
        ("/v1/search?q=x&limit=0".into(), 400, "invalid_query"),
        ("/v1/search?q=x&limit=1000".into(), 400, "invalid_query"),
        ("/v1/search?q=x&limit=abc".into(), 400, "invalid_query"),
        ("/v1/search?q=x&offset=-1".into(), 400, "invalid_query"),
        (
            "/v1/search?q=x&offset=99999999".into(),
            400,
            "invalid_query",
        ),
        (
            format!("/v1/search?q={}", "a".repeat(600)),
            400,
            "invalid_query",
        ),
        ("/v1/suggest".into(), 400, "invalid_query"),
        ("/v1/suggest?q=x&limit=-3".into(), 400, "invalid_query"),
        ("/v1/datasets/no.such_dataset".into(), 404, "not_found"),
        ("/v1/nothing-here".into(), 404, "route_not_found"),
    ];
    for (path, status, code) in cases {
        let res = app.get(&path).await;
        let got_status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let body: serde_json::Value = res.json().await.unwrap_or_else(|e| {
            panic!("{path}: body is not JSON ({e}); content-type {content_type:?}")
        });
        assert_eq!(
            error_code(got_status, &body, status),
            code,
            "{path}: {body}"
        );
    }

    // Wrong method on a known route.
    let res = app
        .client
        .post(app.url("/v1/search?q=x"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(error_code(status, &body, 405), "method_not_allowed");

    // Special characters in queries are just text.
    for q in [
        "%22%28%29%5B%5D",
        "a%3Ab",
        "AND%20OR%20NOT",
        "*",
        "%E2%9C%93",
    ] {
        let res = app.get(&format!("/v1/search?q={q}")).await;
        assert_eq!(res.status().as_u16(), 200, "q={q}");
    }
}
