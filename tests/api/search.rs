use crate::helpers::{Backend, result_names, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    churn_dataset_ranks_first_with_matching_columns,
    paging_and_totals_are_consistent,
    exact_names_rank_first,
    portuguese_questions_find_the_churn_dataset,
    suggest_completes_prefixes_and_tolerates_typos,
    dataset_page_shows_every_column,
    restricted_dataset_is_invisible_to_anonymous_callers,
);

async fn churn_dataset_ranks_first_with_matching_columns(backend: Backend) {
    let app = spawn_app(backend).await;
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

async fn paging_and_totals_are_consistent(backend: Backend) {
    let app = spawn_app(backend).await;
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

async fn exact_names_rank_first(backend: Backend) {
    let app = spawn_app(backend).await;
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

async fn portuguese_questions_find_the_churn_dataset(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, body) = app
        .get_json("/v1/search?q=onde%20est%C3%A3o%20os%20dados%20de%20churn%20de%20clientes%3F")
        .await;
    assert_eq!(
        result_names(&body)[0],
        "crm.customer_churn_scores",
        "{body}"
    );
}

async fn suggest_completes_prefixes_and_tolerates_typos(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.get_json("/v1/suggest?q=chur").await;
    assert_eq!(status, 200, "{body}");
    let texts: Vec<&str> = body["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("churn")),
        "suggestions for 'chur': {texts:?}"
    );
    let (_, body) = app.get_json("/v1/suggest?q=custmer").await;
    let texts: Vec<&str> = body["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("customer")),
        "typo-tolerant suggestions for 'custmer': {texts:?}"
    );
    let (_, body) = app.get_json("/v1/suggest?q=sales.ord&limit=3").await;
    assert_eq!(body["suggestions"][0]["text"], "sales.orders", "{body}");
    assert!(body["suggestions"].as_array().unwrap().len() <= 3);
}

async fn dataset_page_shows_every_column(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.get_json("/v1/datasets/crm.customer_churn_scores").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dataset"], "crm.customer_churn_scores");
    assert!(body["columns"].as_array().unwrap().len() >= 5);
    assert!(body["owner"].is_string());
    // Names are case-insensitive.
    let (status, _) = app.get_json("/v1/datasets/CRM.Customer_Churn_Scores").await;
    assert_eq!(status, 200);
}

async fn restricted_dataset_is_invisible_to_anonymous_callers(backend: Backend) {
    let app = spawn_app(backend).await;
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
    let (status, body) = app.get_json("/v1/datasets/hr.employee_compensation").await;
    assert_eq!(status, 404, "{body}");
    let (_, unknown) = app.get_json("/v1/datasets/hr.does_not_exist").await;
    assert_eq!(
        body["error"]["code"], unknown["error"]["code"],
        "hidden and missing datasets must look the same"
    );
    // The admin sees it.
    let (status, _) = app
        .get_as_admin("/v1/datasets/hr.employee_compensation")
        .await;
    assert_eq!(status, 200);
    let (_, body) = app.get_as_admin("/v1/search?q=employee+compensation").await;
    assert_eq!(result_names(&body)[0], "hr.employee_compensation");
}
