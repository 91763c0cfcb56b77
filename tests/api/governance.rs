//! Abuse limits (rate limits, URI length, request timeouts), feedback, the question log and
//! the gaps report.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, error_code, result_names, spawn_custom};
use crate::llm_server::spawn_fake_llm;
use crate::on_both_backends;

// Votes and the question log live in the store: both backends.
on_both_backends!(
    helpful_votes_lift_a_near_twin_for_similar_questions,
    votes_never_bring_in_a_dataset_that_does_not_match,
    questions_that_found_nothing_are_grouped_in_the_gaps_report,
    not_helpful_votes_show_in_the_gaps_report,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_per_key_and_ip() {
    let app = spawn_custom(Backend::Sqlite, None, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.per_second = 1;
        s.rate_limit.burst = 3;
    })
    .await;
    let mut limited = None;
    for _ in 0..10 {
        let res = app.get("/v1/search?q=orders").await;
        if res.status().as_u16() == 429 {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("the fourth quick request is limited");
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(429, &body, 429), "rate_limited");
    // Health and pages are not limited.
    for _ in 0..5 {
        assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
    }
    // A key has its own budget: the admin token is not limited by the address's.
    let res = app
        .client
        .get(app.url("/v1/admin/versions"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_uri_gets_414() {
    let app = spawn_custom(Backend::Sqlite, None, |_| {}).await;
    let (status, body) = app
        .get_json(&format!("/v1/search?q={}", "a".repeat(5_000)))
        .await;
    assert_eq!(error_code(status, &body, 414), "uri_too_long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_slower_than_the_timeout_gets_503() {
    let fake = spawn_fake_llm().await;
    let base = fake.base_url.clone();
    let app = spawn_custom(Backend::Sqlite, None, move |s| {
        s.llm.base_url = Some(base);
        s.llm.model = Some("slow".into());
        s.llm.timeout_ms = 10_000;
        s.limits.request_timeout_ms = 400;
    })
    .await;
    let (status, body) = app
        .post_json(
            "/v1/ask",
            json!({"question": "where is customer churn data?"}),
        )
        .await;
    assert_eq!(error_code(status, &body, 503), "timeout");
}

const TWINS: &str = "dataset,column,description\n\
    sales.orders_eu,,Customer orders\nsales.orders_eu,order_id,Order key\n\
    sales.orders_us,,Customer orders\nsales.orders_us,order_id,Order key\n\
    ops.holidays,,Public holidays\nops.holidays,day,Holiday date\n";

/// The service on the twin catalog, lexical only (so that scores are exact ties).
async fn twins(backend: Backend) -> TestApp {
    spawn_custom(backend, Some(TWINS), |s| s.embedding.enabled = false).await
}

/// A vote on `dataset` for the question "Customer orders?"; returns the status.
async fn vote(app: &TestApp, dataset: &str, helpful: bool) -> u16 {
    app.client
        .post(app.url("/v1/feedback"))
        .json(&json!({"question": "Customer orders?", "dataset": dataset, "helpful": helpful}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn helpful_votes_lift_a_near_twin_for_similar_questions(backend: Backend) {
    let app = twins(backend).await;
    let (_, before) = app.get_json("/v1/search?q=customer+orders").await;
    assert_eq!(
        result_names(&before),
        ["sales.orders_eu", "sales.orders_us"]
    );
    for _ in 0..3 {
        assert_eq!(vote(&app, "sales.orders_us", true).await, 201);
    }
    // The votes were for "Customer orders?": they count for the same words in another order.
    let (_, after) = app.get_json("/v1/search?q=orders+customer").await;
    assert_eq!(result_names(&after), ["sales.orders_us", "sales.orders_eu"]);
}

async fn votes_never_bring_in_a_dataset_that_does_not_match(backend: Backend) {
    let app = twins(backend).await;
    for _ in 0..20 {
        assert_eq!(vote(&app, "ops.holidays", true).await, 201);
    }
    let (_, after) = app.get_json("/v1/search?q=customer+orders").await;
    assert!(!result_names(&after).contains(&"ops.holidays".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_on_an_unknown_dataset_gets_404() {
    let app = twins(Backend::Sqlite).await;
    assert_eq!(vote(&app, "no.such", true).await, 404);
}

/// The groups of the gaps report once one satisfies `ready` (questions are logged in the
/// background, so the report may lag the requests a little).
async fn gaps_once(app: &TestApp, ready: impl Fn(&Value) -> bool) -> Vec<Value> {
    for _ in 0..50 {
        let (status, body) = app.get_as_admin("/v1/admin/gaps").await;
        assert_eq!(status, 200, "{body}");
        let groups = body["groups"].as_array().unwrap();
        if groups.iter().any(&ready) {
            return groups.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gaps report never listed the expected group");
}

async fn questions_that_found_nothing_are_grouped_in_the_gaps_report(backend: Backend) {
    let app = twins(backend).await;
    for q in ["where is the drone warranty data?", "drone warranties"] {
        let (status, _) = app.post_json("/v1/ask", json!({ "question": q })).await;
        assert_eq!(status, 200);
    }
    let is_drones = |g: &Value| g["key"].as_str().unwrap().contains("drone");
    // Wait until both drone questions are in.
    let groups = gaps_once(&app, |g| is_drones(g) && g["asked"].as_u64() >= Some(2)).await;
    let drones = groups.iter().find(|g| is_drones(g)).unwrap();
    assert_eq!(
        drones["asked"], 2,
        "similar questions are grouped: {drones}"
    );
    assert!(drones["top_datasets"].as_array().unwrap().is_empty());
}

async fn not_helpful_votes_show_in_the_gaps_report(backend: Backend) {
    let app = twins(backend).await;
    assert_eq!(vote(&app, "sales.orders_eu", false).await, 201);
    gaps_once(&app, |g| g["not_helpful"].as_i64() >= Some(1)).await;
}
