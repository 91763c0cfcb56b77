//! The admin API: authentication, uploads (replace, merge, dry run, multipart), rejections,
//! versions and rollback, reload, conflicts, pruning, the audit log.

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::helpers::{
    ADMIN_TOKEN, Backend, TestApp, error_code, json_of, result_names, spawn_custom, spawn_with,
};
use crate::on_both_backends;

// Loads, versions, rollback, reload, restart and the audit log depend on the store: both
// backends. The rejections that never reach the store run once, on SQLite (below).
on_both_backends!(
    named_admin_tokens_are_the_actor_in_the_audit_log,
    dry_run_changes_nothing,
    replace_serves_the_new_catalog,
    merge_upserts_into_the_active_catalog,
    multipart_loads_several_files_as_one_catalog,
    versions_are_listed_newest_first_with_their_origin,
    rollback_serves_the_old_version_again,
    activating_an_unknown_version_gets_404,
    an_invalid_upload_changes_nothing_and_is_audited,
    a_load_during_another_gets_409_and_is_audited,
    a_load_waits_out_a_brief_hold_of_the_lock,
    reload_of_an_unchanged_directory_changes_nothing,
    reload_of_a_changed_directory_serves_a_new_version,
    an_upload_survives_a_restart,
    reload_of_a_broken_directory_keeps_the_active_version,
    old_versions_are_pruned,
);

pub const CATALOG_A: &str = "dataset,column,description\n\
    alpha.orders,,Orders of the alpha catalog\n\
    alpha.orders,order_id,Order key\n\
    alpha.orders,amount,Order amount\n\
    alpha.customers,,Customers of the alpha catalog\n\
    alpha.customers,customer_id,Customer key\n";

pub const CATALOG_B: &str = "dataset,column,description\n\
    beta.orders,,Orders of the beta catalog\n\
    beta.orders,order_id,Order key\n\
    beta.refunds,,Refunds of orders in the beta catalog\n\
    beta.refunds,refund_id,Refund key\n\
    beta.refunds,order_id,Refunded order\n";

/// Patches `beta.refunds` (a new description and a new column) and adds `gamma.sessions`.
const MERGE: &str = "dataset,column,description\nbeta.refunds,,Refunds\n\
    beta.refunds,amount,Refund amount\ngamma.sessions,,Web sessions\n";

pub async fn upload(app: &TestApp, csv: &str, query: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(&format!("/v1/admin/catalog{query}")))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    json_of(res).await
}

/// Uploads `csv` and checks it was accepted; returns the response.
async fn upload_ok(app: &TestApp, csv: &str, query: &str) -> Value {
    let (status, body) = upload(app, csv, query).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A multipart upload of (part name, file name, content) parts.
pub async fn upload_files(app: &TestApp, files: &[(&str, &str, &str)]) -> (u16, Value) {
    let mut form = Form::new();
    for (part, file, content) in files {
        form = form.part(
            part.to_string(),
            Part::text(content.to_string()).file_name(file.to_string()),
        );
    }
    let res = app
        .client
        .post(app.url("/v1/admin/catalog"))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    json_of(res).await
}

async fn admin_post(app: &TestApp, path: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    json_of(res).await
}

async fn versions(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get_as_admin("/v1/admin/versions").await;
    assert_eq!(status, 200, "{body}");
    body["versions"].as_array().unwrap().clone()
}

async fn first_result(app: &TestApp, q: &str) -> (Value, String) {
    let (_, search) = app.get_json(&format!("/v1/search?q={q}")).await;
    let first = result_names(&search)[0].clone();
    (search["catalog_version"].clone(), first)
}

async fn audit_outcomes(app: &TestApp) -> Vec<String> {
    let (_, audit) = app.get_as_admin("/v1/admin/audit?limit=10").await;
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap().to_string())
        .collect()
}

/// The service on catalog A (loaded from its metadata directory), and that version.
async fn app_on_a(backend: Backend) -> (TestApp, i64) {
    let app = spawn_custom(backend, Some(CATALOG_A), |_| {}).await;
    let v1 = app.app.versions.snapshot().unwrap().version;
    (app, v1)
}

/// `app_on_a`, then catalog B uploaded in its place: (app, version of A, version of B).
async fn app_on_b_after_a(backend: Backend) -> (TestApp, i64, i64) {
    let (app, v1) = app_on_a(backend).await;
    let body = upload_ok(&app, CATALOG_B, "").await;
    let v2 = body["version"].as_i64().unwrap();
    (app, v1, v2)
}

/// The service still serves catalog A as `version`, its only version.
async fn assert_still_on_a(app: &TestApp, version: i64) {
    assert_eq!(app.app.versions.snapshot().unwrap().version, version);
    assert_eq!(versions(app).await.len(), 1);
    let (served, first) = first_result(app, "orders").await;
    assert_eq!(served, version);
    assert_eq!(first, "alpha.orders");
}

// ---- Authentication ----

async fn spawn_with_named_tokens(backend: Backend) -> TestApp {
    spawn_custom(backend, Some(CATALOG_A), |s| {
        s.admin_tokens = Some(
            "alice=alice-token-0123456789abcdef0123456;bob=bob-token-0123456789abcdef012345678"
                .to_string()
                .into(),
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_gets_401_with_a_bearer_challenge() {
    let app = spawn_with_named_tokens(Backend::Sqlite).await;
    let res = app.get("/v1/admin/versions").await;
    let status = res.status().as_u16();
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(status, &body, 401), "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_gets_403() {
    let app = spawn_with_named_tokens(Backend::Sqlite).await;
    let res = app
        .client
        .get(app.url("/v1/admin/versions"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(status, &body, 403), "forbidden");
}

async fn named_admin_tokens_are_the_actor_in_the_audit_log(backend: Backend) {
    let app = spawn_with_named_tokens(backend).await;
    let res = app
        .client
        .post(app.url("/v1/admin/catalog"))
        .bearer_auth("alice-token-0123456789abcdef0123456")
        .header("content-type", "text/csv")
        .body(CATALOG_B)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let (_, audit) = app.get_as_admin("/v1/admin/audit").await;
    assert_eq!(audit["entries"][0]["actor"], "alice", "{audit}");
    assert_eq!(audit["entries"][0]["action"], "load");
    assert_eq!(audit["entries"][0]["outcome"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_configured_tokens_the_admin_api_does_not_exist() {
    let closed = spawn_custom(Backend::Sqlite, Some(CATALOG_A), |s| {
        s.admin_token = None;
    })
    .await;
    for path in ["/v1/admin/versions", "/v1/admin/audit"] {
        let res = closed
            .client
            .get(closed.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_eq!(error_code(status, &body, 404), "route_not_found", "{path}");
    }
}

// ---- Uploads ----

async fn dry_run_changes_nothing(backend: Backend) {
    let (app, v1) = app_on_a(backend).await;
    let body = upload_ok(&app, CATALOG_B, "?dry_run=true").await;
    assert_eq!(body["version"], Value::Null);
    assert_eq!(body["diff"]["counts"]["datasets_added"], 2);
    assert_eq!(body["diff"]["counts"]["datasets_removed"], 2);
    assert_eq!(body["catalog_version"], v1);
    assert_still_on_a(&app, v1).await;
}

async fn replace_serves_the_new_catalog(backend: Backend) {
    let (app, v1) = app_on_a(backend).await;
    let body = upload_ok(&app, CATALOG_B, "").await;
    let v2 = body["version"].as_i64().unwrap();
    assert!(v2 > v1);
    assert_eq!(body["datasets"], 2);
    assert_eq!(body["columns"], 3);
    let mut added: Vec<&str> = body["diff"]["datasets_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    added.sort();
    assert_eq!(added, ["beta.orders", "beta.refunds"]);
    let (served, first) = first_result(&app, "orders").await;
    assert_eq!(served, v2);
    assert_eq!(first, "beta.orders");
}

async fn merge_upserts_into_the_active_catalog(backend: Backend) {
    let (app, _, _) = app_on_b_after_a(backend).await;
    let body = upload_ok(&app, MERGE, "?mode=merge").await;
    assert_eq!(body["datasets"], 3);
    assert_eq!(body["diff"]["datasets_changed"][0], "beta.refunds");
    assert_eq!(body["diff"]["datasets_added"][0], "gamma.sessions");
    // A merge patches a dataset: the columns it does not name are kept.
    assert_eq!(
        body["diff"]["columns_added"],
        serde_json::json!([{"dataset": "beta.refunds", "column": "amount"}])
    );
    assert_eq!(body["diff"]["columns_removed"].as_array().unwrap().len(), 0);
    let (status, refunds) = app.get_json("/v1/datasets/beta.refunds").await;
    assert_eq!(status, 200, "{refunds}");
    assert_eq!(refunds["description"], "Refunds");
    let mut columns: Vec<&str> = refunds["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    columns.sort();
    assert_eq!(columns, ["amount", "order_id", "refund_id"]);
    // The dataset the merge did not name is kept.
    let (served, first) = first_result(&app, "beta+orders+catalog").await;
    assert_eq!(served, body["version"]);
    assert_eq!(first, "beta.orders");
}

async fn multipart_loads_several_files_as_one_catalog(backend: Backend) {
    let (app, _) = app_on_a(backend).await;
    let (status, body) = upload_files(
        &app,
        &[("a", "a.csv", CATALOG_A), ("b", "b.csv", CATALOG_B)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["datasets"], 4);
}

async fn versions_are_listed_newest_first_with_their_origin(backend: Backend) {
    let (app, v1, _) = app_on_b_after_a(backend).await;
    upload_ok(&app, MERGE, "?mode=merge").await;
    let (status, body) = upload_files(
        &app,
        &[("a", "a.csv", CATALOG_A), ("b", "b.csv", CATALOG_B)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let list = versions(&app).await;
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["active"], true);
    assert_eq!(list[0]["created_by"], "admin");
    assert_eq!(list[3]["version"], v1);
    assert_eq!(list[3]["source"], "directory");
}

async fn rollback_serves_the_old_version_again(backend: Backend) {
    let (app, v1, v2) = app_on_b_after_a(backend).await;
    let (status, body) = admin_post(&app, &format!("/v1/admin/versions/{v1}/activate")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["catalog_version"], v1);
    let (served, first) = first_result(&app, "orders").await;
    assert_eq!(served, v1);
    assert_eq!(first, "alpha.orders");
    assert_eq!(app.app.versions.active_in_store().await.unwrap(), Some(v1));
    // And forward again.
    let (status, body) = admin_post(&app, &format!("/v1/admin/versions/{v2}/activate")).await;
    assert_eq!(status, 200, "{body}");
    let (_, first) = first_result(&app, "orders").await;
    assert_eq!(first, "beta.orders");
}

async fn activating_an_unknown_version_gets_404(backend: Backend) {
    let (app, v1) = app_on_a(backend).await;
    let (status, body) = admin_post(&app, "/v1/admin/versions/999999/activate").await;
    assert_eq!(error_code(status, &body, 404), "not_found");
    assert_still_on_a(&app, v1).await;
}

// ---- Rejections: a bad upload changes nothing ----

async fn an_invalid_upload_changes_nothing_and_is_audited(backend: Backend) {
    let (app, v1) = app_on_a(backend).await;
    let (status, body) = upload(&app, "dataset,column\n,orphan\n", "").await;
    assert_eq!(error_code(status, &body, 422), "invalid_catalog");
    assert_still_on_a(&app, v1).await;
    assert!(
        audit_outcomes(&app).await.contains(&"invalid".to_string()),
        "the rejection is in the audit log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_upload_lists_every_problem_with_line_and_field() {
    let (app, v1) = app_on_a(Backend::Sqlite).await;
    // 151 problems: capped at 100, with the total.
    let mut bad = String::from("dataset,column,sensitivity\n");
    for i in 0..150 {
        bad.push_str(&format!("x.t,c{i},bogus\n"));
    }
    bad.push_str(",orphan,\n");
    let (status, body) = upload(&app, &bad, "").await;
    assert_eq!(error_code(status, &body, 422), "invalid_catalog");
    let details = &body["error"]["details"];
    assert_eq!(details["total_problems"], 151);
    let problems = details["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 100);
    assert_eq!(problems[0]["line"], 2);
    assert_eq!(problems[0]["field"], "sensitivity");
    assert_eq!(problems[0]["file"], "upload.csv");
    assert_still_on_a(&app, v1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_in_two_files_of_one_load_names_the_second_file() {
    let (app, v1) = app_on_a(Backend::Sqlite).await;
    let (status, body) = upload_files(
        &app,
        &[("a", "a.csv", CATALOG_A), ("b", "again.csv", CATALOG_A)],
    )
    .await;
    assert_eq!(error_code(status, &body, 422), "invalid_catalog");
    assert_eq!(body["error"]["details"]["problems"][0]["file"], "again.csv");
    assert_still_on_a(&app, v1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_streamed_upload_gets_413() {
    let app = spawn_custom(Backend::Sqlite, Some(CATALOG_A), |s| {
        s.limits.max_upload_bytes = 20_000;
    })
    .await;
    let v1 = app.app.versions.snapshot().unwrap().version;
    // Streamed: no Content-Length to refuse it by.
    let big = "dataset,column\n".to_string()
        + &(0..3000)
            .map(|i| format!("x.big,c{i}\n"))
            .collect::<String>();
    let stream = futures::stream::iter(
        big.into_bytes()
            .chunks(1000)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let res = app
        .client
        .post(app.url("/v1/admin/catalog"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(status, &body, 413), "payload_too_large");
    assert_still_on_a(&app, v1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_is_not_csv_gets_415() {
    let (app, v1) = app_on_a(Backend::Sqlite).await;
    let res = app
        .client
        .post(app.url("/v1/admin/catalog"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(status, &body, 415), "unsupported_media_type");
    assert_still_on_a(&app, v1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_upload_mode_gets_400() {
    let (app, v1) = app_on_a(Backend::Sqlite).await;
    let (status, body) = upload(&app, CATALOG_B, "?mode=upsert").await;
    assert_eq!(error_code(status, &body, 400), "invalid_query");
    assert_still_on_a(&app, v1).await;
}

async fn a_load_during_another_gets_409_and_is_audited(backend: Backend) {
    let (app, v1) = app_on_a(backend).await;
    // Another load holds the lock: 409 once the short wait for it (LOAD_LOCK_WAIT) is over,
    // no queueing.
    let guard = app.app.versions.try_begin_load().unwrap();
    let (status, body) = upload(&app, CATALOG_B, "").await;
    assert_eq!(error_code(status, &body, 409), "conflict");
    drop(guard);
    assert_still_on_a(&app, v1).await;
    assert!(
        audit_outcomes(&app).await.contains(&"busy".to_string()),
        "the conflict is in the audit log"
    );
}

async fn a_load_waits_out_a_brief_hold_of_the_lock(backend: Backend) {
    // The follower takes the lock for a store query when a load's own activation wakes it:
    // the next load, sent at once, waits for it instead of failing. The lock is held for half
    // the wait, so that the upload reaches it while it is held.
    let (app, v1) = app_on_a(backend).await;
    let guard = app.app.versions.try_begin_load().unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(descoberta::versions::LOAD_LOCK_WAIT / 2).await;
        drop(guard);
    });
    let (status, body) = upload(&app, CATALOG_B, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["version"].as_i64().unwrap() > v1);
    release.await.unwrap();
}

// ---- Reload and restart ----

async fn reload_of_an_unchanged_directory_changes_nothing(backend: Backend) {
    let (app, v1) = app_on_a(backend).await;
    let (status, body) = admin_post(&app, "/v1/admin/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], false);
    assert_eq!(body["version"], v1);
    assert_still_on_a(&app, v1).await;
}

async fn reload_of_a_changed_directory_serves_a_new_version(backend: Backend) {
    let (app, v1) = app_on_a(backend).await;
    std::fs::write(app.settings.metadata_dir.join("catalog.csv"), CATALOG_B).unwrap();
    let (status, body) = admin_post(&app, "/v1/admin/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], true);
    assert!(body["version"].as_i64().unwrap() > v1);
    let (served, first) = first_result(&app, "refunds").await;
    assert_eq!(served, body["version"]);
    assert_eq!(first, "beta.refunds");
}

async fn an_upload_survives_a_restart(backend: Backend) {
    let (app, _, uploaded) = app_on_b_after_a(backend).await;
    // The directory did not change since its last load, so the restart keeps the upload.
    let (settings, tmp) = app.stop().await;
    let app = spawn_with(settings, tmp).await;
    assert_eq!(app.app.versions.snapshot().unwrap().version, uploaded);
    let (_, first) = first_result(&app, "refunds").await;
    assert_eq!(first, "beta.refunds");
}

async fn reload_of_a_broken_directory_keeps_the_active_version(backend: Backend) {
    let (app, v1) = app_on_a(backend).await;
    std::fs::write(
        app.settings.metadata_dir.join("catalog.csv"),
        "dataset\n,\n",
    )
    .unwrap();
    let (status, body) = admin_post(&app, "/v1/admin/reload").await;
    assert_eq!(error_code(status, &body, 422), "invalid_catalog");
    assert_still_on_a(&app, v1).await;
}

// ---- Retention ----

async fn old_versions_are_pruned(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG_A), |s| {
        s.keep_versions = 3;
        s.keep_index_versions = 2;
    })
    .await;
    for i in 0..5 {
        let csv = if i % 2 == 0 { CATALOG_B } else { CATALOG_A };
        upload_ok(&app, csv, "").await;
    }
    let list = versions(&app).await;
    assert_eq!(list.len(), 4, "the active version plus 3 others: {list:?}");
    let index_root = app
        .app
        .versions
        .snapshot()
        .unwrap()
        .lexical
        .dir()
        .parent()
        .unwrap()
        .to_path_buf();
    let dirs = std::fs::read_dir(index_root).unwrap().count();
    assert!(dirs <= 2, "{dirs} index directories kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_longer_than_the_request_timeout_completes_and_is_audited() {
    // A timeout no load can meet: search answers 503 `timeout`, admin loads are exempt.
    let app = spawn_custom(Backend::Sqlite, None, |s| {
        s.limits.request_timeout_ms = 1;
        s.embedding.enabled = false;
    })
    .await;
    let mut csv = String::from("dataset,column,description\n");
    for d in 0..300 {
        csv.push_str(&format!("slow.table_{d},,Table {d}\n"));
        for c in 0..20 {
            csv.push_str(&format!("slow.table_{d},col_{c},Column {c} of table {d}\n"));
        }
    }
    let (status, body) = upload(&app, &csv, "").await;
    assert_eq!(status, 200, "{body}");
    let version = body["version"].as_i64().unwrap();
    let (_, audit) = app.get_as_admin("/v1/admin/audit?limit=1").await;
    assert_eq!(audit["entries"][0]["outcome"], "ok", "{audit}");
    assert_eq!(audit["entries"][0]["version"], version);
    assert_eq!(app.app.versions.snapshot().unwrap().version, version);
}
