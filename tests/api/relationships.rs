//! Relationships: foreign keys and lineage in the catalog, join-aware retrieval, answers that
//! say how to join, and hidden datasets never surfacing through a relationship.

use serde_json::{Value, json};

use crate::admin::upload;
use crate::helpers::{
    ADMIN_TOKEN, Backend, TestApp, error_code, result_names, spawn_app, spawn_custom, spawn_with,
};
use crate::on_both_backends;

on_both_backends!(
    relationships_are_stored_with_their_version,
    an_unknown_reference_target_is_a_problem_with_its_line,
);

/// Purchases refer to a lookup table whose name and description share no word with the
/// questions below; payroll (restricted) refers to the customers.
const CATALOG: &str = "dataset,column,description,sensitivity,allowed_groups,references,lineage\n\
shop.purchases,,Purchases made by shoppers in the stores,internal,,,\n\
shop.purchases,purchase_id,Purchase key,,,,\n\
shop.purchases,zq_code,Code of the purchase channel,,,ref.zq_lookup.zq_code,\n\
shop.purchases,shopper_id,Who bought,,,crm.shoppers.shopper_id,\n\
ref.zq_lookup,,Quokka-free legend of codes,internal,,,\n\
ref.zq_lookup,zq_code,Code,,,,\n\
ref.zq_lookup,zq_label,Label,,,,\n\
crm.shoppers,,Shoppers and their contact preferences,internal,,,\n\
crm.shoppers,shopper_id,Shopper key,,,,\n\
hr.payroll_zebra,,Monthly payroll of the staff,restricted,hr,,crm.shoppers\n\
hr.payroll_zebra,shopper_id,Staff member as a shopper,,,crm.shoppers.shopper_id,\n\
hr.payroll_zebra,salary,Salary,,,,\n";

async fn app() -> TestApp {
    spawn_custom(Backend::Sqlite, Some(CATALOG), |s| {
        s.embedding.enabled = false
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_dataset_sharing_no_word_with_the_question_is_found_through_its_key() {
    let app = app().await;
    let (status, body) = app
        .get_json("/v1/search?q=purchases+made+by+shoppers")
        .await;
    assert_eq!(status, 200, "{body}");
    let names = result_names(&body);
    assert_eq!(names[0], "shop.purchases", "{body}");
    let lookup = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dataset"] == "ref.zq_lookup")
        .unwrap_or_else(|| panic!("the lookup is found through its foreign key: {body}"));
    assert_eq!(lookup["related"], "joins shop.purchases on zq_code");
    // A dataset the question does not touch never outranks one it matches.
    let position = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(
        position("ref.zq_lookup") > position("crm.shoppers"),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relationship_to_a_hidden_dataset_never_surfaces() {
    let app = app().await;
    let leaks = |what: &str, body: &str| {
        assert!(
            !body.to_lowercase().contains("payroll_zebra"),
            "{what} shows the hidden dataset: {body}"
        );
    };
    for path in [
        "/v1/search?q=shoppers",
        "/v1/search?q=shoppers+contact+preferences",
        "/v1/datasets/crm.shoppers",
        "/v1/datasets/crm.shoppers/related",
        "/v1/suggest?q=shop",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status().as_u16(), 200, "{path}");
        leaks(path, &res.text().await.unwrap());
    }
    let (status, body) = app
        .post_json(
            "/v1/ask",
            json!({"question": "how do I join shoppers to payroll?"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    leaks("ask", &body.to_string());
    // The join path to a hidden dataset reads exactly like one to a missing dataset.
    let hidden = app
        .get_json("/v1/join-path?from=crm.shoppers&to=hr.payroll_zebra")
        .await;
    let missing = app
        .get_json("/v1/join-path?from=crm.shoppers&to=hr.nothing")
        .await;
    assert_eq!(error_code(hidden.0, &hidden.1, 404), "not_found");
    assert_eq!(error_code(missing.0, &missing.1, 404), "not_found");
    let strip = |b: &Value, n: &str| b["error"]["message"].as_str().unwrap().replace(n, "X");
    assert_eq!(
        strip(&hidden.1, "hr.payroll_zebra"),
        strip(&missing.1, "hr.nothing")
    );
    // An admin sees the relationship.
    let res = app
        .client
        .get(app.url("/v1/join-path?from=crm.shoppers&to=hr.payroll_zebra"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_path_goes_through_visible_datasets_with_its_columns() {
    let app = app().await;
    let (status, body) = app
        .get_json("/v1/join-path?from=ref.zq_lookup&to=crm.shoppers")
        .await;
    assert_eq!(status, 200, "{body}");
    let hops = body["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 2, "{body}");
    assert_eq!(hops[0]["from"], "ref.zq_lookup");
    assert_eq!(hops[0]["to"], "shop.purchases");
    assert_eq!(
        hops[0]["condition"],
        "zq_lookup.zq_code = purchases.zq_code"
    );
    assert_eq!(hops[1]["on"][0]["column"], "shopper_id");
    let (_, page) = app.get_json("/v1/datasets/shop.purchases").await;
    let mut related: Vec<&str> = page["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dataset"].as_str().unwrap())
        .collect();
    related.sort();
    assert_eq!(related, ["crm.shoppers", "ref.zq_lookup"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extractive_answer_says_how_to_join_orders_to_customers() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, body) = app
        .post_json(
            "/v1/ask",
            json!({"question": "how do I join orders to customers?"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer = body["answer"].as_str().unwrap();
    assert!(
        answer.contains("orders.customer_id = customers.customer_id")
            || answer.contains("customers.customer_id = orders.customer_id"),
        "{answer}"
    );
    let names: Vec<&str> = body["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dataset"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"sales.orders") && names.contains(&"crm.customers"),
        "{names:?}"
    );
}

async fn relationships_are_stored_with_their_version(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG), |s| s.embedding.enabled = false).await;
    let mut changed = CATALOG.replace(",ref.zq_lookup.zq_code,", ",,");
    changed.push_str("ref.zq_lookup,,,,,,shop.purchases\n");
    let changed = changed.replacen(
        "ref.zq_lookup,,Quokka-free legend of codes,internal,,,\n",
        "",
        1,
    );
    let (status, body) = upload(&app, &changed, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["diff"]["relationships_removed"],
        json!(["shop.purchases.zq_code → ref.zq_lookup.zq_code"])
    );
    assert_eq!(
        body["diff"]["relationships_added"],
        json!(["ref.zq_lookup ⇐ shop.purchases"])
    );
    // After a restart (the catalog read back from the store) and a rollback, each version
    // has its own relationships.
    let (settings, tmp) = app.stop().await;
    let app = spawn_with(settings, tmp).await;
    let (_, page) = app.get_json("/v1/datasets/ref.zq_lookup").await;
    assert_eq!(page["relationships"][0]["kind"], "lineage", "{page}");
    let res = app
        .client
        .post(app.url("/v1/admin/versions/1/activate"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let (_, page) = app.get_json("/v1/datasets/ref.zq_lookup").await;
    assert_eq!(page["relationships"][0]["kind"], "foreign_key", "{page}");
}

async fn an_unknown_reference_target_is_a_problem_with_its_line(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG), |s| s.embedding.enabled = false).await;
    let bad = "dataset,column,references\na.t,,\na.t,x,b.nowhere.y\na.t,y,a.t.nope\n";
    let (status, body) = upload(&app, bad, "").await;
    assert_eq!(error_code(status, &body, 422), "invalid_catalog");
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    let lines: Vec<i64> = problems
        .iter()
        .map(|p| p["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{body}");
    assert_eq!(problems[0]["field"], "references");
    // A merge may refer to datasets of the catalog it merges into.
    let merge = "dataset,column,references\nshop.returns,,\nshop.returns,purchase_id,shop.purchases.purchase_id\n";
    let (status, body) = upload(&app, merge, "?mode=merge").await;
    assert_eq!(status, 200, "{body}");
}
