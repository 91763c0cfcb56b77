//! Abuse limits (rate limits, URI length, request timeouts), feedback, the question log and
//! the gaps report.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Backend, error_code, result_names, spawn_custom};
use crate::llm_server::spawn_fake_llm;
use crate::on_both_backends;

on_both_backends!(feedback_lifts_a_matching_dataset_and_gaps_list_bad_questions);

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
async fn overlong_uris_and_slow_requests_get_clear_errors() {
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
        .get_json(&format!("/v1/search?q={}", "a".repeat(5_000)))
        .await;
    assert_eq!(error_code(status, &body, 414), "uri_too_long");
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

async fn feedback_lifts_a_matching_dataset_and_gaps_list_bad_questions(backend: Backend) {
    let app = spawn_custom(backend, Some(TWINS), |s| s.embedding.enabled = false).await;
    let vote = |dataset: &str, helpful: bool| {
        app.client
            .post(app.url("/v1/feedback"))
            .json(&json!({"question": "Customer orders?", "dataset": dataset, "helpful": helpful}))
            .send()
    };
    let (_, before) = app.get_json("/v1/search?q=customer+orders").await;
    assert_eq!(
        result_names(&before),
        ["sales.orders_eu", "sales.orders_us"]
    );

    // Helpful votes lift the twin that scores nearly the same (within a few per cent).
    for _ in 0..3 {
        let res = vote("sales.orders_us", true).await.unwrap();
        assert_eq!(res.status().as_u16(), 201);
    }
    let (_, after) = app.get_json("/v1/search?q=orders+customer").await;
    assert_eq!(result_names(&after), ["sales.orders_us", "sales.orders_eu"]);

    // However many votes, a dataset that does not match never enters the results.
    for _ in 0..20 {
        vote("ops.holidays", true).await.unwrap();
    }
    let (_, after) = app.get_json("/v1/search?q=customer+orders").await;
    assert!(!result_names(&after).contains(&"ops.holidays".to_string()));

    // Unknown datasets are refused.
    assert_eq!(vote("no.such", true).await.unwrap().status().as_u16(), 404);

    // Bad questions reach the gaps report: nothing found, and "not helpful" votes.
    for q in ["where is the drone warranty data?", "drone warranties"] {
        let (status, _) = app.post_json("/v1/ask", json!({ "question": q })).await;
        assert_eq!(status, 200);
    }
    vote("sales.orders_eu", false).await.unwrap();
    let mut report = Value::Null;
    for _ in 0..50 {
        let (status, body) = app.get_as_admin("/v1/admin/gaps").await;
        assert_eq!(status, 200, "{body}");
        let groups = body["groups"].as_array().unwrap();
        let drones = groups.iter().any(|g| {
            // Questions are logged in the background: wait until both drone questions are in.
            g["asked"].as_u64() >= Some(2) && g["key"].as_str().unwrap().contains("drone")
        });
        let orders = groups.iter().any(|g| g["not_helpful"].as_i64() >= Some(1));
        if drones && orders {
            report = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let groups = report["groups"]
        .as_array()
        .expect("the gaps report lists both problems");
    let drones = groups
        .iter()
        .find(|g| g["key"].as_str().unwrap().contains("drone"))
        .unwrap();
    assert_eq!(
        drones["asked"], 2,
        "similar questions are grouped: {drones}"
    );
    assert!(drones["top_datasets"].as_array().unwrap().is_empty());
}
