//! The admin API: authentication, uploads (replace, merge, dry run, multipart), rejections,
//! versions and rollback, reload, conflicts, pruning, the audit log.

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, error_code, result_names, spawn_custom};
use crate::on_both_backends;

on_both_backends!(
    upload_replace_merge_dry_run_and_rollback,
    bad_uploads_change_nothing,
    reload_reads_the_metadata_directory,
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
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn admin_post(app: &TestApp, path: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn versions(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get_as_admin("/v1/admin/versions").await;
    assert_eq!(status, 200, "{body}");
    body["versions"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_right_token() {
    let app = spawn_custom(Backend::Sqlite, Some(CATALOG_A), |s| {
        s.admin_tokens = Some(
            "alice=alice-token-123456;bob=bob-token-123456"
                .to_string()
                .into(),
        );
    })
    .await;
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
    let res = app
        .client
        .post(app.url("/v1/admin/catalog"))
        .bearer_auth("alice-token-123456")
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

    // Without any token configured, the admin API does not exist.
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
        assert_eq!(error_code(status, &body, 404), "route_not_found");
    }
}

async fn upload_replace_merge_dry_run_and_rollback(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG_A), |_| {}).await;
    let v1 = app.app.versions.snapshot().unwrap().version;

    // Dry run: the diff, no new version.
    let (status, body) = upload(&app, CATALOG_B, "?dry_run=true").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], Value::Null);
    assert_eq!(body["diff"]["counts"]["datasets_added"], 2);
    assert_eq!(body["diff"]["counts"]["datasets_removed"], 2);
    assert_eq!(body["catalog_version"], v1);
    assert_eq!(versions(&app).await.len(), 1);

    // Replace.
    let (status, body) = upload(&app, CATALOG_B, "").await;
    assert_eq!(status, 200, "{body}");
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
    let (_, search) = app.get_json("/v1/search?q=orders").await;
    assert_eq!(search["catalog_version"], v2);
    assert_eq!(result_names(&search)[0], "beta.orders");

    // Merge: one dataset upserted, the others kept.
    let (status, body) = upload(
        &app,
        "dataset,column,description\nbeta.refunds,,Refunds\nbeta.refunds,amount,Refund amount\n\
         gamma.sessions,,Web sessions\n",
        "?mode=merge",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["datasets"], 3);
    assert_eq!(body["diff"]["datasets_changed"][0], "beta.refunds");
    assert_eq!(body["diff"]["datasets_added"][0], "gamma.sessions");
    assert_eq!(body["diff"]["columns_removed"].as_array().unwrap().len(), 2);

    // Multipart: several files in one load.
    let form = Form::new()
        .part("a", Part::text(CATALOG_A).file_name("a.csv"))
        .part("b", Part::text(CATALOG_B).file_name("b.csv"));
    let res = app
        .client
        .post(app.url("/v1/admin/catalog"))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["datasets"], 4);

    // Versions, then rollback to the first and forward again.
    let list = versions(&app).await;
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["active"], true);
    assert_eq!(list[0]["created_by"], "admin");
    assert_eq!(list[3]["version"], v1);
    assert_eq!(list[3]["source"], "directory");
    let (status, body) = admin_post(&app, &format!("/v1/admin/versions/{v1}/activate")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["catalog_version"], v1);
    let (_, search) = app.get_json("/v1/search?q=orders").await;
    assert_eq!(search["catalog_version"], v1);
    assert_eq!(result_names(&search)[0], "alpha.orders");
    assert_eq!(app.app.versions.active_in_store().await.unwrap(), Some(v1));
    let (status, body) = admin_post(&app, &format!("/v1/admin/versions/{v2}/activate")).await;
    assert_eq!(status, 200, "{body}");
    let (_, search) = app.get_json("/v1/search?q=orders").await;
    assert_eq!(result_names(&search)[0], "beta.orders");
    let (status, body) = admin_post(&app, "/v1/admin/versions/999999/activate").await;
    assert_eq!(error_code(status, &body, 404), "not_found");
}

async fn bad_uploads_change_nothing(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG_A), |s| {
        s.limits.max_upload_bytes = 20_000;
    })
    .await;
    let v1 = app.app.versions.snapshot().unwrap().version;

    // Every problem, with line and field, capped at 100 with the total.
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

    // A duplicate dataset across the files of one multipart load.
    let form = Form::new()
        .part("a", Part::text(CATALOG_A).file_name("a.csv"))
        .part("b", Part::text(CATALOG_A).file_name("again.csv"));
    let res = app
        .client
        .post(app.url("/v1/admin/catalog"))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(status, &body, 422), "invalid_catalog");
    assert_eq!(body["error"]["details"]["problems"][0]["file"], "again.csv");

    // Too large, streamed (no Content-Length).
    let big = "dataset,column\n".to_string()
        + &"x.big,col\n".repeat(0)
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

    // Not CSV.
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
    let (status, body) = upload(&app, CATALOG_B, "?mode=upsert").await;
    assert_eq!(error_code(status, &body, 400), "invalid_query");

    // A load while another holds the lock: 409 at once.
    let guard = app.app.versions.try_begin_load().unwrap();
    let (status, body) = upload(&app, CATALOG_B, "").await;
    assert_eq!(error_code(status, &body, 409), "conflict");
    drop(guard);

    // Nothing changed.
    assert_eq!(app.app.versions.snapshot().unwrap().version, v1);
    assert_eq!(versions(&app).await.len(), 1);
    let (_, search) = app.get_json("/v1/search?q=orders").await;
    assert_eq!(result_names(&search)[0], "alpha.orders");
    let (_, audit) = app.get_as_admin("/v1/admin/audit?limit=10").await;
    let outcomes: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"invalid") && outcomes.contains(&"busy"),
        "{outcomes:?}"
    );
}

async fn reload_reads_the_metadata_directory(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG_A), |_| {}).await;
    let v1 = app.app.versions.snapshot().unwrap().version;
    let (status, body) = admin_post(&app, "/v1/admin/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], false);
    assert_eq!(body["version"], v1);
    std::fs::write(app.settings.metadata_dir.join("catalog.csv"), CATALOG_B).unwrap();
    let (status, body) = admin_post(&app, "/v1/admin/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], true);
    assert!(body["version"].as_i64().unwrap() > v1);
    let (_, search) = app.get_json("/v1/search?q=refunds").await;
    assert_eq!(result_names(&search)[0], "beta.refunds");
    // An API upload survives a restart: the directory did not change since its last load.
    let (_, uploaded) = upload(&app, CATALOG_A, "").await;
    let (settings, tmp) = app.stop();
    let app = crate::helpers::spawn_with(settings, tmp).await;
    assert_eq!(
        app.app.versions.snapshot().unwrap().version,
        uploaded["version"].as_i64().unwrap()
    );
    // A broken directory is refused and the active version stays.
    std::fs::write(
        app.settings.metadata_dir.join("catalog.csv"),
        "dataset\n,\n",
    )
    .unwrap();
    let (status, body) = admin_post(&app, "/v1/admin/reload").await;
    assert_eq!(error_code(status, &body, 422), "invalid_catalog");
    assert_eq!(
        app.app.versions.snapshot().unwrap().version,
        uploaded["version"].as_i64().unwrap()
    );
}

async fn old_versions_are_pruned(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG_A), |s| {
        s.keep_versions = 3;
        s.keep_index_versions = 2;
    })
    .await;
    for i in 0..5 {
        let csv = if i % 2 == 0 { CATALOG_B } else { CATALOG_A };
        let (status, body) = upload(&app, csv, "").await;
        assert_eq!(status, 200, "{body}");
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
