//! The access matrix: every endpoint, every kind of caller. A dataset a caller may not see
//! never shows in its response bytes (names of the dataset and its columns), nor in any prompt
//! sent to the LLM for it; the callers allowed to see it do see it.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, spawn_custom};
use crate::llm_server::{FakeLlm, spawn_fake_llm};
use crate::on_both_backends;

on_both_backends!(no_path_shows_a_caller_what_it_may_not_see);

const CATALOG: &str = "dataset,column,description,owner,sensitivity,allowed_groups\n\
pub.holidays,,Public holidays calendar,ops,public,\n\
pub.holidays,holiday_date,Date of the holiday,,,\n\
crm.customers,,Customer master data,crm-team,internal,\n\
crm.customers,customer_id,Customer key,,,\n\
crm.customers,customer_name,Name of the customer,,,\n\
crm.notes,,Account notes written by sales; salaries and bonuses are in hr.salaries,crm-team,internal,\n\
crm.notes,note_text,Free text of the note,,,\n\
hr.salaries,,Employee salaries and bonuses (payroll),hr-team,restricted,hr\n\
hr.salaries,salary_amount,Monthly salary of the employee,,,\n\
hr.salaries,bonus_amount,Yearly bonus of the employee,,,\n\
fin.ledger,,General ledger entries of the company,finance-team,confidential,finance\n\
fin.ledger,ledger_amount,Amount posted to the ledger,,,\n";

const HR_NAMES: &[&str] = &["hr.salaries", "salary_amount", "bonus_amount"];
const FIN_NAMES: &[&str] = &["fin.ledger", "ledger_amount"];

#[derive(Clone)]
enum Who {
    Anonymous,
    Key(String),
    Proxy(&'static str),
    Admin,
}

fn auth(request: reqwest::RequestBuilder, who: &Who) -> reqwest::RequestBuilder {
    match who {
        Who::Anonymous => request,
        Who::Key(key) => request.header("X-Api-Key", key),
        Who::Proxy(groups) => request.header("X-Forwarded-Groups", *groups),
        Who::Admin => request.bearer_auth(ADMIN_TOKEN),
    }
}

/// Every request the matrix makes, as (description, response text with the caller's own
/// input removed).
async fn exercise(app: &TestApp, who: &Who) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let c = &app.client;
    let queries = [
        "salary",
        "employee salaries and bonuses",
        "hr.salaries",
        "salary_amount",
        "ledger amount",
        "fin.ledger",
        "notes",
        "amount",
    ];
    for q in queries {
        for path in ["/v1/search", "/v1/suggest"] {
            let res = auth(
                c.get(app.url(path)).query(&[("q", q), ("limit", "50")]),
                who,
            )
            .send()
            .await
            .unwrap();
            let text = res.text().await.unwrap().replace(q, "");
            out.push((format!("GET {path}?q={q}"), text));
        }
        for path in ["/v1/ask", "/v1/ask/stream"] {
            let question = format!("where is the data about {q}?");
            let res = auth(
                c.post(app.url(path)).json(&json!({ "question": question })),
                who,
            )
            .send()
            .await
            .unwrap();
            let body = res.text().await.unwrap();
            let text = if path.ends_with("stream") {
                without_echo_in_stream(&body, &question)
            } else {
                body.replace(&question, "")
            };
            out.push((format!("POST {path} {question}"), text));
        }
    }
    for name in ["hr.salaries", "fin.ledger", "crm.notes"] {
        let res = auth(c.get(app.url(&format!("/v1/datasets/{name}"))), who)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap().replace(name, "");
        out.push((format!("GET /v1/datasets/{name} ({status})"), text));
        let res = auth(
            c.post(app.url("/v1/feedback"))
                .json(&json!({"question": "payroll", "dataset": name, "helpful": true})),
            who,
        )
        .send()
        .await
        .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap().replace(name, "");
        out.push((format!("POST /v1/feedback {name} ({status})"), text));
    }
    for path in [
        "/metrics",
        "/v1/admin/gaps",
        "/v1/admin/versions",
        "/readyz",
    ] {
        let res = auth(c.get(app.url(path)), who).send().await.unwrap();
        let status = res.status().as_u16();
        out.push((format!("GET {path} ({status})"), res.text().await.unwrap()));
    }
    out
}

/// A stream with the caller's question removed from its text: token events are joined first
/// (the abstention quotes the question, split across tokens), other events kept as sent.
fn without_echo_in_stream(body: &str, question: &str) -> String {
    let mut answer = String::new();
    let mut rest = String::new();
    for event in body.split("\n\n") {
        let data = event
            .lines()
            .find_map(|line| line.strip_prefix("data: "))
            .unwrap_or("");
        if event.starts_with("event: token") {
            let value: Value = serde_json::from_str(data).unwrap();
            answer.push_str(value["text"].as_str().unwrap());
        } else {
            rest.push_str(event);
            rest.push_str("\n\n");
        }
    }
    format!(
        "{}\n{}",
        rest.replace(question, ""),
        answer.replace(question, "")
    )
}

fn assert_hidden(responses: &[(String, String)], names: &[&str], who: &str) {
    for (what, text) in responses {
        for name in names {
            assert!(!text.contains(name), "{who}: {what} reveals {name}: {text}");
        }
    }
}

fn assert_shown(responses: &[(String, String)], name: &str, who: &str) {
    assert!(
        responses.iter().any(|(_, text)| text.contains(name)),
        "{who} may see {name} but never got it"
    );
}

fn catalog_part(prompt: &str) -> &str {
    prompt.rsplit("<catalog>").next().unwrap_or_default()
}

async fn create_key(app: &TestApp, groups: &[&str]) -> (String, String) {
    let res = app
        .client
        .post(app.url("/v1/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": format!("key for {groups:?}"), "groups": groups}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

async fn app_with(backend: Backend, fake: &FakeLlm, proxies: &[&str]) -> TestApp {
    let base = fake.base_url.clone();
    let proxies: Vec<String> = proxies.iter().map(|p| p.to_string()).collect();
    spawn_custom(backend, Some(CATALOG), move |s| {
        s.llm.base_url = Some(base);
        s.llm.model = Some("normal".into());
        s.access.trusted_proxy_header = Some("X-Forwarded-Groups".into());
        s.access.trusted_proxies = proxies;
    })
    .await
}

async fn no_path_shows_a_caller_what_it_may_not_see(backend: Backend) {
    let fake = spawn_fake_llm().await;
    let app = app_with(backend, &fake, &["127.0.0.1", "::1"]).await;
    let (_, hr_key) = create_key(&app, &["hr"]).await;
    let (sales_id, sales_key) = create_key(&app, &["sales"]).await;

    let callers: Vec<(&str, Who, Vec<&str>, Vec<&str>)> = vec![
        (
            "anonymous",
            Who::Anonymous,
            [HR_NAMES, FIN_NAMES].concat(),
            vec![],
        ),
        (
            "wrong group",
            Who::Key(sales_key.clone()),
            [HR_NAMES, FIN_NAMES].concat(),
            vec![],
        ),
        (
            "right group (key)",
            Who::Key(hr_key.clone()),
            FIN_NAMES.to_vec(),
            vec!["hr.salaries", "salary_amount"],
        ),
        (
            "right group (proxy)",
            Who::Proxy("sales, hr"),
            FIN_NAMES.to_vec(),
            vec!["hr.salaries"],
        ),
        (
            "admin",
            Who::Admin,
            vec![],
            vec!["hr.salaries", "fin.ledger", "ledger_amount"],
        ),
    ];
    for (label, who, hidden, shown) in &callers {
        let before = fake.prompts().len();
        let responses = exercise(&app, who).await;
        assert_hidden(&responses, hidden, label);
        for name in shown {
            assert_shown(&responses, name, label);
        }
        let prompts = fake.prompts();
        assert!(prompts.len() > before, "{label}: the LLM was asked");
        for prompt in &prompts[before..] {
            for name in hidden {
                assert!(
                    !catalog_part(prompt).contains(name),
                    "{label}: a prompt revealed {name}"
                );
            }
        }
    }

    // A visible description naming a hidden dataset is redacted for those who may not see it.
    let (_, notes) = app.get_json("/v1/datasets/crm.notes").await;
    assert!(
        notes["description"]
            .as_str()
            .unwrap()
            .contains("[restricted dataset]"),
        "{notes}"
    );
    let (_, notes) = app.get_as_admin("/v1/datasets/crm.notes").await;
    assert!(
        notes["description"]
            .as_str()
            .unwrap()
            .contains("hr.salaries")
    );

    // A revoked key stops working; an unknown key is refused, not treated as anonymous.
    let res = app
        .client
        .delete(app.url(&format!("/v1/admin/keys/{sales_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    for key in [sales_key.as_str(), "dk_not_a_key"] {
        let res = app
            .client
            .get(app.url("/v1/search?q=customers"))
            .header("X-Api-Key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401);
    }
    let (_, keys) = app.get_as_admin("/v1/admin/keys").await;
    let listed = keys.to_string();
    assert!(!listed.contains(&hr_key), "keys are never listed");
    assert!(listed.contains("revoked_at_ms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_groups_header_counts_only_from_trusted_proxies() {
    let fake = spawn_fake_llm().await;
    let app = app_with(Backend::Sqlite, &fake, &["10.1.2.3"]).await;
    let responses = exercise(&app, &Who::Proxy("hr")).await;
    assert_hidden(&responses, HR_NAMES, "untrusted proxy header");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_only_deployment_hides_internal_datasets_from_anonymous_callers() {
    let app = spawn_custom(Backend::Sqlite, Some(CATALOG), |s| {
        s.access.anonymous_level = descoberta::catalog::Sensitivity::Public;
    })
    .await;
    let (_, body) = app.get_json("/v1/search?q=customer+holidays+notes").await;
    let names = crate::helpers::result_names(&body);
    assert_eq!(names, ["pub.holidays"], "{body}");
    let (status, _) = app.get_json("/v1/datasets/crm.customers").await;
    assert_eq!(status, 404);
}
