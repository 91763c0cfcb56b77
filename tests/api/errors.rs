//! Every error goes through the JSON contract. None of this depends on the store: it runs
//! once, on SQLite.

use crate::helpers::{Backend, TestApp, error_code, spawn_app};

/// GETs `path` and checks the JSON error contract, the status and the code.
async fn assert_error(app: &TestApp, path: &str, status: u16, code: &str) {
    let res = app.get(path).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_search_parameters_get_400_invalid_query() {
    let app = spawn_app(Backend::Sqlite).await;
    let long = format!("/v1/search?q={}", "a".repeat(600));
    for path in [
        "/v1/search",
        "/v1/search?q=",
        "/v1/search?q=%20%20",
        "/v1/search?q=x&limit=0",
        "/v1/search?q=x&limit=1000",
        "/v1/search?q=x&limit=abc",
        "/v1/search?q=x&offset=-1",
        "/v1/search?q=x&offset=99999999",
        long.as_str(),
    ] {
        assert_error(&app, path, 400, "invalid_query").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_suggest_parameters_get_400_invalid_query() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/v1/suggest", "/v1/suggest?q=x&limit=-3"] {
        assert_error(&app, path, 400, "invalid_query").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dataset_gets_404_not_found() {
    let app = spawn_app(Backend::Sqlite).await;
    assert_error(&app, "/v1/datasets/no.such_dataset", 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_route_gets_404_route_not_found() {
    let app = spawn_app(Backend::Sqlite).await;
    assert_error(&app, "/v1/nothing-here", 404, "route_not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_on_a_known_route_gets_405() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .client
        .post(app.url("/v1/search?q=x"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(error_code(status, &body, 405), "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_characters_in_queries_are_just_text() {
    let app = spawn_app(Backend::Sqlite).await;
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
