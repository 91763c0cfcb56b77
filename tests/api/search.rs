//! `/v1/search`, `/v1/suggest` and `/v1/datasets/{name}` on the demo catalog. Retrieval serves
//! from the in-memory snapshot, never the store: these run once, on SQLite.

use serde_json::Value;

use crate::helpers::{Backend, TestApp, result_names, spawn_app};

async fn demo() -> TestApp {
    spawn_app(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_dataset_ranks_first_with_matching_columns() {
    let app = demo().await;
    let (status, body) = app.get_json("/v1/search?q=customer+churn").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        result_names(&body)[0],
        "crm.customer_churn_scores",
        "{body}"
    );
    let first = &body["results"][0];
    let columns: Vec<&str> = first["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        columns.iter().any(|c| c.contains("churn")),
        "matched columns: {columns:?}"
    );
    let snippet = first["highlights"].to_string();
    assert!(snippet.contains("<mark>"), "highlights: {snippet}");
    assert!(body["total"].as_u64().unwrap() >= 1);
    assert!(body["took_ms"].as_f64().is_some());
    assert!(body["catalog_version"].as_i64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_and_totals_are_consistent() {
    let app = demo().await;
    let (_, all) = app.get_json("/v1/search?q=customer+order&limit=100").await;
    let total = all["total"].as_u64().unwrap() as usize;
    let names = result_names(&all);
    assert_eq!(names.len(), total.min(100));
    assert!(total > 5, "expected several matches, got {total}");
    let (_, page) = app
        .get_json("/v1/search?q=customer+order&limit=3&offset=2")
        .await;
    assert_eq!(page["total"].as_u64().unwrap() as usize, total);
    assert_eq!(result_names(&page), names[2..5].to_vec());
    let (_, past_end) = app
        .get_json(&format!("/v1/search?q=customer+order&offset={}", total))
        .await;
    assert!(result_names(&past_end).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_names_rank_first() {
    let app = demo().await;
    for (q, expected) in [
        ("sales.orders", "sales.orders"),
        ("order_items", "sales.order_items"),
        (
            "chatbot_daily_aggregates",
            "support.chatbot_daily_aggregates",
        ),
    ] {
        let (_, body) = app.get_json(&format!("/v1/search?q={q}")).await;
        assert_eq!(result_names(&body)[0], expected, "query {q}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portuguese_questions_find_the_churn_dataset() {
    let app = demo().await;
    let (_, body) = app
        .get_json("/v1/search?q=onde%20est%C3%A3o%20os%20dados%20de%20churn%20de%20clientes%3F")
        .await;
    assert_eq!(
        result_names(&body)[0],
        "crm.customer_churn_scores",
        "{body}"
    );
}

/// The texts of a suggest response, checking its status.
async fn suggestions(app: &TestApp, path: &str) -> Vec<String> {
    let (status, body) = app.get_json(path).await;
    assert_eq!(status, 200, "{body}");
    body["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggest_completes_prefixes() {
    let app = demo().await;
    let texts = suggestions(&app, "/v1/suggest?q=chur").await;
    assert!(
        texts.iter().any(|t| t.contains("churn")),
        "suggestions for 'chur': {texts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggest_tolerates_typos() {
    let app = demo().await;
    let texts = suggestions(&app, "/v1/suggest?q=custmer").await;
    assert!(
        texts.iter().any(|t| t.contains("customer")),
        "typo-tolerant suggestions for 'custmer': {texts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggest_puts_the_exact_prefix_first_within_the_limit() {
    let app = demo().await;
    let texts = suggestions(&app, "/v1/suggest?q=sales.ord&limit=3").await;
    assert_eq!(texts[0], "sales.orders", "{texts:?}");
    assert!(texts.len() <= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_page_shows_every_column() {
    let app = demo().await;
    let (status, body) = app.get_json("/v1/datasets/crm.customer_churn_scores").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dataset"], "crm.customer_churn_scores");
    assert!(body["columns"].as_array().unwrap().len() >= 5);
    assert!(body["owner"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_names_are_case_insensitive() {
    let app = demo().await;
    let (status, body) = app.get_json("/v1/datasets/CRM.Customer_Churn_Scores").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dataset"], "crm.customer_churn_scores");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_dataset_never_shows_in_anonymous_search_or_suggest() {
    let app = demo().await;
    for path in [
        "/v1/search?q=employee+salary+compensation&limit=100",
        "/v1/search?q=hr.employee_compensation",
        "/v1/suggest?q=employee",
        "/v1/suggest?q=hr.",
    ] {
        let (_, mut body) = app.get_json(path).await;
        // The echo of the caller's own query is not a leak.
        body.as_object_mut().unwrap().remove("query");
        let text = body.to_string();
        assert!(
            !text.contains("employee_compensation") && !text.contains("salary_brl"),
            "{path} leaked: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_dataset_page_looks_exactly_like_a_missing_one() {
    let app = demo().await;
    let (status, body) = app.get_json("/v1/datasets/hr.employee_compensation").await;
    assert_eq!(status, 404, "{body}");
    let (status, unknown): (u16, Value) = app.get_json("/v1/datasets/hr.does_not_exist").await;
    assert_eq!(status, 404, "{unknown}");
    assert_eq!(
        body["error"]["code"], unknown["error"]["code"],
        "hidden and missing datasets must look the same"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_sees_a_restricted_dataset() {
    let app = demo().await;
    let (status, _) = app
        .get_as_admin("/v1/datasets/hr.employee_compensation")
        .await;
    assert_eq!(status, 200);
    let (_, body) = app.get_as_admin("/v1/search?q=employee+compensation").await;
    assert_eq!(result_names(&body)[0], "hr.employee_compensation");
}
